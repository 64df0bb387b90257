"""imgpkg-pure as a library: the commands as typed functions.

Each function takes its options as one frozen value, does what the command
does, and returns a result value; a failure raises :class:`ImgpkgPureError`
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
from typing import TextIO, final

from attrs import field, frozen
from returns.result import Success

from imgpkg_pure.store.commands.copy import run_copy
from imgpkg_pure.store.commands.describe import run_describe
from imgpkg_pure.store.commands.pull import run_pull
from imgpkg_pure.store.commands.push import run_push
from imgpkg_pure.store.commands.tag import run_tag_list, run_tag_resolve
from imgpkg_pure.store.registry import RegistryOptions
from imgpkg_pure.store.ui.console import Ui
from imgpkg_pure.tags import Table

__all__ = [
    "CopyOptions",
    "CopyResult",
    "ImgpkgPureError",
    "PullOptions",
    "PullResult",
    "PushOptions",
    "PushResult",
    "RegistryOptions",
    "DescribeOptions",
    "TagListOptions",
    "copy",
    "describe",
    "pull",
    "push",
    "tag_list",
    "tag_resolve",
]

#: A progress callback: receives each progress line (``dir: …``, ``copy | …``).
Progress = Callable[[str], None]


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
    """A UI that prints nothing: log lines go to the progress callback, results are kept."""

    def __init__(self, progress: Progress | None) -> None:
        sink: TextIO = _Null()  # type: ignore[assignment]
        super().__init__(tty=False, json_mode=False, stdout=sink, stderr=sink)
        self._progress = progress
        self.results: list[str] = []
        self.tables: list[Table] = []
        self.error: tuple[str, str] | None = None

    def log(self, text: str) -> None:
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


def _recorder(progress: Progress | None) -> tuple[list[str], Progress]:
    """A progress callback that also keeps the lines (for the result's ``log``)."""
    lines: list[str] = []

    def record(line: str) -> None:
        lines.append(line)
        if progress is not None:
            progress(line)

    return lines, record


def _run(status: int, ui: _Capture) -> None:
    if status != 0 or ui.error is not None:
        code, message = ui.error if ui.error is not None else ("Failed", "command failed")
        raise ImgpkgPureError(code, message)


@final
@frozen(kw_only=True)
class PushOptions:
    """``push``: exactly one of ``image`` and ``bundle`` (a registry reference or
    ``oci:DIR[:TAG]``), the files, and imgpkg's push flags."""

    image: str | None = None
    bundle: str | None = None
    files: tuple[str, ...] = ()
    file_exclusions: tuple[str, ...] | None = None
    preserve_permissions: bool = False
    labels: tuple[tuple[str, str], ...] = ()
    lock_output: str | None = None
    media_types: str | None = None
    registry: RegistryOptions = field(factory=RegistryOptions)


@final
@frozen(kw_only=True)
class PushResult:
    """Where the image or bundle now is, by digest."""

    reference: str


def push(options: PushOptions, progress: Progress | None = None) -> PushResult:
    """Push files as an image or bundle; raises :class:`ImgpkgPureError`."""
    ui = _Capture(progress)
    status = run_push(
        ui,
        registry=Success(options.registry),
        image=options.image,
        bundle=options.bundle,
        files=options.files,
        exclusions=options.file_exclusions,
        preserve_permissions=options.preserve_permissions,
        labels=tuple(f"{k}={v}" for k, v in options.labels),
        lock_output=options.lock_output,
        media_types=options.media_types,
    )
    _run(status, ui)
    pushed = next(line for line in ui.results if line.startswith("Pushed '"))
    return PushResult(reference=pushed.removeprefix("Pushed '").removesuffix("'"))


@final
@frozen(kw_only=True)
class PullOptions:
    """``pull``: one of ``image``, ``bundle``, ``lock``; the output directory."""

    output: str
    image: str | None = None
    bundle: str | None = None
    lock: str | None = None
    recursive: bool = False
    image_is_bundle_check: bool = True
    registry: RegistryOptions = field(factory=RegistryOptions)


@final
@frozen(kw_only=True)
class PullResult:
    """The output directory, and the progress lines the pull printed (for logs)."""

    output: str
    log: tuple[str, ...]


def pull(options: PullOptions, progress: Progress | None = None) -> PullResult:
    """Pull an image or bundle into a directory; raises :class:`ImgpkgPureError`."""
    lines, record = _recorder(progress)
    ui = _Capture(record)
    status = run_pull(
        ui,
        registry=Success(options.registry),
        image=options.image,
        bundle=options.bundle,
        lock=options.lock,
        output=options.output,
        recursive=options.recursive,
        image_is_bundle_check=options.image_is_bundle_check,
    )
    _run(status, ui)
    return PullResult(output=options.output, log=tuple(lines))


@final
@frozen(kw_only=True)
class CopyOptions:
    """``copy``: one source (``bundle``, ``image``, ``lock``, ``tar``) and one
    destination (``to_repo``, ``to_tar``), with imgpkg's copy flags."""

    bundle: str | None = None
    image: str | None = None
    lock: str | None = None
    tar: str | None = None
    to_repo: str | None = None
    to_tar: str | None = None
    lock_output: str | None = None
    concurrency: int = 5
    include_non_distributable_layers: bool = False
    repo_based_tags: bool = False
    cosign_signatures: bool = False
    resume: bool = False
    registry: RegistryOptions = field(factory=RegistryOptions)


@final
@frozen(kw_only=True)
class CopyResult:
    """The progress lines the copy printed (``copy | …``)."""

    log: tuple[str, ...]


def copy(options: CopyOptions, progress: Progress | None = None) -> CopyResult:
    """Copy a bundle, image or lock file's images; raises :class:`ImgpkgPureError`."""
    lines, record = _recorder(progress)
    ui = _Capture(record)
    status = run_copy(
        ui,
        registry=Success(options.registry),
        image=options.image,
        bundle=options.bundle,
        lock=options.lock,
        tar=options.tar,
        to_repo=options.to_repo,
        to_tar=options.to_tar,
        lock_output=options.lock_output,
        concurrency=options.concurrency,
        include_non_distributable=options.include_non_distributable_layers,
        repo_based_tags=options.repo_based_tags,
        resume=options.resume,
        cosign_signatures=options.cosign_signatures,
    )
    _run(status, ui)
    return CopyResult(log=tuple(lines))


@final
@frozen(kw_only=True)
class TagListOptions:
    """``tag list``: a repository (``image``), optionally with the internal tags."""

    image: str
    imgpkg_internal_tags: bool = False
    registry: RegistryOptions = field(factory=RegistryOptions)


def tag_list(options: TagListOptions) -> tuple[tuple[str, str], ...]:
    """(tag, digest) pairs of a repository, sorted by tag; raises :class:`ImgpkgPureError`."""
    ui = _Capture(None)
    status = run_tag_list(
        ui,
        registry=Success(options.registry),
        image=options.image,
        digests=True,
        internal_tags=options.imgpkg_internal_tags,
    )
    _run(status, ui)
    return tuple((row[0], row[1]) for table in ui.tables for row in table.rows)


def tag_resolve(image: str, registry: RegistryOptions | None = None) -> str:
    """The digest reference a tag points at; raises :class:`ImgpkgPureError`."""
    ui = _Capture(None)
    status = run_tag_resolve(ui, registry=Success(registry or RegistryOptions()), image=image)
    _run(status, ui)
    return ui.results[-1].strip()


@final
@frozen(kw_only=True)
class DescribeOptions:
    """``describe``: a bundle; YAML or text; what to include."""

    bundle: str
    output_type: str = "yaml"
    layers: bool = True
    cosign_artifacts: bool = True
    show_annotations: bool = True
    concurrency: int = 5
    registry: RegistryOptions = field(factory=RegistryOptions)


def describe(options: DescribeOptions) -> str:
    """The description of a bundle, as ``describe`` prints it; raises :class:`ImgpkgPureError`."""
    ui = _Capture(None)
    status = run_describe(
        ui,
        registry=Success(options.registry),
        bundle=options.bundle,
        concurrency=options.concurrency,
        output_type=options.output_type,
        layers=options.layers,
        cosign_artifacts=options.cosign_artifacts,
        show_annotations=options.show_annotations,
    )
    _run(status, ui)
    return "".join(ui.results)
