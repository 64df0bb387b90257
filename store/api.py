"""imgpkg-pure as a library: the commands as typed functions.

Each function takes its options as one frozen value — the same value the CLI
builds from its flags (``imgpkg_pure.store.commands.options``) — does what the
command does, and returns a result value; a failure raises :class:`ImgpkgPureError`
(with the same ``code`` and ``message`` the CLI prints), never a bare
exception from inside.  Progress is a callback instead of a terminal display.
There is no global state: every call builds its own registry client and
staging store, so calls may run concurrently from several threads.

>>> from imgpkg_pure.store.api import PushOptions, push
>>> push(PushOptions(image="oci:/tmp/out:v1", files=("config/",)))  # doctest: +SKIP
PushResult(reference='oci:/tmp/out@sha256:…')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO, TypeVar, final

from attrs import evolve, frozen

from imgpkg_pure.store.commands.copy import run_copy
from imgpkg_pure.store.commands.describe import run_describe
from imgpkg_pure.store.commands.inventory import run_inventory
from imgpkg_pure.store.commands.options import (
    CacheFlags,
    CopyOptions,
    DescribeOptions,
    InventoryOptions,
    PullOptions,
    PushOptions,
    TagListOptions,
    TagResolveOptions,
)
from imgpkg_pure.store.commands.pull import run_pull
from imgpkg_pure.store.commands.push import run_push
from imgpkg_pure.store.commands.tag import run_tag_list, run_tag_resolve
from imgpkg_pure.store.registry import RegistryOptions
from imgpkg_pure.store.ui.console import Ui
from imgpkg_pure.tags import Table

__all__ = [
    "CacheFlags",
    "CopyOptions",
    "CopyResult",
    "DescribeOptions",
    "ImgpkgPureError",
    "InventoryOptions",
    "PullOptions",
    "PullResult",
    "PushOptions",
    "PushResult",
    "RegistryOptions",
    "TagListOptions",
    "TagResolveOptions",
    "copy",
    "describe",
    "inventory",
    "pull",
    "push",
    "tag_list",
    "tag_resolve",
]

#: A progress callback: receives each progress line (``dir: …``, ``copy | …``).
Progress = Callable[[str], None]

_Options = TypeVar("_Options")


class ImgpkgPureError(Exception):
    """A command failed.  ``code`` is the error value's name (docs/errors.md);
    ``message`` the one line the CLI would print."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Null:
    """A text sink that drops everything (the API never prints)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class _Capture(Ui):
    """A UI that prints nothing: log lines are kept (and passed to the progress
    callback), results and tables are kept, an error is kept."""

    def __init__(self, progress: Progress | None) -> None:
        sink: TextIO = _Null()  # type: ignore[assignment]
        super().__init__(tty=False, json_mode=False, stdout=sink, stderr=sink)
        self._progress = progress
        self.lines: list[str] = []
        self.results: list[str] = []
        self.tables: list[Table] = []
        self.error: tuple[str, str] | None = None

    def log(self, text: str) -> None:
        self.lines.append(text)
        if self._progress is not None:
            self._progress(text)

    def result(self, text: str) -> None:
        self.results.append(text)

    def block(self, text: str) -> None:
        self.results.append(text)

    def table(self, table: Table) -> None:
        self.tables.append(table)

    def succeeded(self) -> None:
        pass

    def failed(self, code: str, message: str) -> None:
        self.error = (code, message)


def _call(
    run: Callable[[_Options, Ui], int], options: _Options, progress: Progress | None = None
) -> _Capture:
    """Run a command with a capturing UI; raise :class:`ImgpkgPureError` if it failed."""
    ui = _Capture(progress)
    status = run(options, ui)
    if status != 0 or ui.error is not None:
        code, message = ui.error if ui.error is not None else ("Failed", "command failed")
        raise ImgpkgPureError(code, message)
    return ui


@final
@frozen(kw_only=True)
class PushResult:
    """Where the image or bundle now is, by digest."""

    reference: str


def push(options: PushOptions, progress: Progress | None = None) -> PushResult:
    """Push files as an image or bundle; raises :class:`ImgpkgPureError`."""
    ui = _call(run_push, options, progress)
    pushed = next(line for line in ui.results if line.startswith("Pushed '"))
    return PushResult(reference=pushed.removeprefix("Pushed '").removesuffix("'"))


@final
@frozen(kw_only=True)
class PullResult:
    """The output directory, and the progress lines the pull printed (for logs)."""

    output: str
    log: tuple[str, ...]


def pull(options: PullOptions, progress: Progress | None = None) -> PullResult:
    """Pull an image or bundle into a directory; raises :class:`ImgpkgPureError`."""
    ui = _call(run_pull, options, progress)
    return PullResult(output=str(options.output), log=tuple(ui.lines))


@final
@frozen(kw_only=True)
class CopyResult:
    """The progress lines the copy printed (``copy | …``)."""

    log: tuple[str, ...]


def copy(options: CopyOptions, progress: Progress | None = None) -> CopyResult:
    """Copy a bundle, image or lock file's images; raises :class:`ImgpkgPureError`."""
    return CopyResult(log=tuple(_call(run_copy, options, progress).lines))


def tag_list(options: TagListOptions) -> tuple[tuple[str, str], ...]:
    """(tag, digest) pairs of a repository, sorted by tag; raises :class:`ImgpkgPureError`."""
    ui = _call(run_tag_list, evolve(options, digests=True))
    return tuple((row[0], row[1]) for table in ui.tables for row in table.rows)


def tag_resolve(image: str, registry: RegistryOptions | None = None) -> str:
    """The digest reference a tag points at; raises :class:`ImgpkgPureError`."""
    options = TagResolveOptions(image=image, registry=registry or RegistryOptions())
    return _call(run_tag_resolve, options).results[-1].strip()


def describe(options: DescribeOptions) -> str:
    """The description of a bundle, as ``describe`` prints it; raises :class:`ImgpkgPureError`."""
    return "".join(_call(run_describe, options).results)


def inventory(options: InventoryOptions) -> str:
    """The inventory document (``docs/formats/inventory.md``) of a repository, tarball,
    layout or lock file, as ``inventory`` prints it (with ``output``, also written there);
    raises :class:`ImgpkgPureError`."""
    if options.output is not None:
        _call(run_inventory, options)
        with open(options.output, encoding="ascii") as written:
            return written.read()
    return "".join(_call(run_inventory, options).results)
