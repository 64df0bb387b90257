"""What can go wrong while extracting an image, and how the failure travels.

It owns the error values of extraction (``UnsupportedLayer``,
``CorruptLayer``, ``ExtractIOFailure``; ``ExtractError`` adds the pure core's
entry and output refusals and the blob store's errors) and the plumbing the
extraction modules share: ``os_errors`` turns an ``OSError`` into an
``ExtractIOFailure`` naming the path (and the layer and tar entry, when there
is one), raised as ``ExtractAbort``; ``guarded`` returns it as an ``IOFailure``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TypeVar

from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess

from imgpkg_pure.digest import Digest
from imgpkg_pure.errors import Fact
from imgpkg_pure.extract import EntryError, UnsafeOutput
from imgpkg_pure.extract.errors import shown
from imgpkg_pure.store.content.errors import StoreError

_T = TypeVar("_T")


@frozen(kw_only=True)
class UnsupportedLayer(Fact):
    """A layer that cannot be extracted for what it is, not for its bytes.

    Nothing raises it today: every compression imgpkg reads (gzip, zstd, none)
    is read.  It stays in ``ExtractError`` so callers that match on it keep working.
    """

    layer: Digest
    media_type: str
    reason: str

    template = "layer {layer} ({media_type}) cannot be extracted: {reason}"


@frozen(kw_only=True)
class CorruptLayer:
    """A layer blob that does not decompress, or is not a tar archive."""

    layer: Digest
    entry: str | None
    reason: str

    @property
    def message(self) -> str:
        where = "" if self.entry is None else f" at tar entry {shown(self.entry)}"
        return f"layer {self.layer} is not a readable layer{where}: {self.reason}"


@frozen(kw_only=True)
class ExtractIOFailure:
    """The operating system refused an extraction step on ``path``."""

    operation: str
    path: str
    reason: str
    layer: Digest | None = None
    entry: str | None = None

    @property
    def message(self) -> str:
        context = ""
        if self.layer is not None:
            context = f" (layer {self.layer}"
            context += ")" if self.entry is None else f", tar entry {shown(self.entry)})"
        return f"cannot {self.operation} {shown(self.path)}: {self.reason}{context}"


ExtractError = (
    EntryError | UnsafeOutput | UnsupportedLayer | CorruptLayer | ExtractIOFailure | StoreError
)


class ExtractAbort(Exception):
    """Internal: carries an error value out of nested helpers."""

    def __init__(self, error: ExtractError) -> None:
        super().__init__(error)
        self.error = error


def reason(exc: BaseException) -> str:
    """An exception as a message fragment, on one line."""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return shown(text)[1:-1]


@contextlib.contextmanager
def os_errors(
    operation: str, path: str, layer: Digest | None = None, entry: str | None = None
) -> Iterator[None]:
    """Turn an ``OSError`` raised inside into an ``ExtractIOFailure`` naming ``path``."""
    try:
        yield
    except OSError as exc:
        failure = ExtractIOFailure(
            operation=operation, path=path, reason=reason(exc), layer=layer, entry=entry
        )
        raise ExtractAbort(failure) from exc


def guarded(action: Callable[[], _T]) -> IOResult[_T, ExtractError]:
    """Run ``action``: its value becomes ``IOSuccess``, an ``ExtractAbort`` an ``IOFailure``."""
    try:
        return IOSuccess(action())
    except ExtractAbort as abort:
        return IOFailure(abort.error)


__all__ = [
    "CorruptLayer",
    "ExtractAbort",
    "ExtractError",
    "ExtractIOFailure",
    "UnsupportedLayer",
    "guarded",
    "os_errors",
    "reason",
]
