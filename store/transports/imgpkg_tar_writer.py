"""Write Go imgpkg's ``copy --to-tar`` tarball (imgpkg-reference §2.8, §5.10).

``write_imgpkg_tar`` writes ``manifest.json`` then each layer entry (the
plan, entry names and headers are ``imgpkg_pure.imgpkg_tar``'s), streaming
every blob in chunks and checking its size and digest as it goes, into a
temporary file next to the destination, which is renamed over the destination
only once complete and synced (``tar_output.replacing``).  Any failure
removes the temporary file and leaves the destination as it was.  The output
is byte-identical to imgpkg's (sequential or parallel writer alike).

With ``resume=True`` the layer entries an earlier tar at the destination
already holds intact are copied from it instead of fetched
(``imgpkg_tar_resume``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol, assert_never, final

from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import Digest, hasher
from imgpkg_pure.errors import DigestMismatch, SizeMismatch
from imgpkg_pure.imgpkg_tar import (
    MANIFEST_JSON,
    BlobUnavailable,
    ResumeUnreadable,
    TarError,
    TarLayer,
    TarManifest,
    TarPlan,
    entry_header,
    plan_tar,
)
from imgpkg_pure.layer.tar_header import END_OF_ARCHIVE, padding
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.store.content.blobstore import CHUNK_SIZE, BlobReader
from imgpkg_pure.store.transports.imgpkg_tar_resume import (
    PreviousTar,
    copy_previous,
    open_previous,
)
from imgpkg_pure.store.transports.tar_members import (
    CorruptEntryError,
    TarAbort,
    os_errors,
    reason,
)
from imgpkg_pure.store.transports.tar_output import replacing


class HasMessage(Protocol):
    """Any error value: it can say what went wrong in one line."""

    @property
    def message(self) -> str: ...


BlobSource = Callable[[Descriptor], IOResult[Iterable[bytes], HasMessage]]
"""Where the writer gets layer bytes: a descriptor's content as chunks (at most 1 MiB each
is what the readers here produce; any size is accepted)."""


@final
@frozen(kw_only=True)
class TarWriteReport:
    """What ``write_imgpkg_tar`` wrote.

    ``layers`` lists every layer entry in file order; each was either
    ``fetched`` from the blob source or ``reused`` from the previous tar
    (``resume``).  ``skipped`` lists the non-distributable layers left out.
    """

    path: str
    size: int
    manifest_json_size: int
    layers: tuple[Digest, ...]
    fetched: tuple[Digest, ...]
    reused: tuple[Digest, ...]
    skipped: tuple[Digest, ...]


class _Abort(Exception):
    """Internal: carries a writer's own error value out of nested helpers."""

    def __init__(self, error: TarError) -> None:
        super().__init__(error)
        self.error = error


def _chunks_of(stream: BinaryIO) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(CHUNK_SIZE):
            yield chunk


def blobs_from_reader(reader: BlobReader) -> BlobSource:
    """A ``BlobSource`` reading 1 MiB chunks from a ``BlobReader`` (a store, a tarball)."""

    def fetch(descriptor: Descriptor) -> IOResult[Iterable[bytes], HasMessage]:
        return reader.open(descriptor.digest).map(_chunks_of)

    return fetch


def write_imgpkg_tar(
    path: Path,
    manifest: TarManifest,
    blobs: BlobSource | BlobReader,
    *,
    include_non_distributable: bool = False,
    resume: bool = False,
) -> IOResult[TarWriteReport, TarError]:
    """Write ``manifest`` and its layers as imgpkg's tarball at ``path`` (see the module doc).

    ``blobs`` provides layer bytes: a ``BlobSource`` or any ``BlobReader``.
    """
    source = blobs if callable(blobs) else blobs_from_reader(blobs)
    plan = plan_tar(manifest, include_non_distributable=include_non_distributable)
    try:
        return IOSuccess(_write(path, plan, source, resume=resume))
    except (_Abort, TarAbort) as abort:
        return IOFailure(abort.error)


@final
class _Output:
    """The temporary file being written, with its offset."""

    def __init__(self, handle: BinaryIO, tar: str) -> None:
        self.handle = handle
        self.tar = tar
        self.offset = 0

    def write(self, data: bytes) -> None:
        with os_errors(self.tar, "write the temporary file"):
            self.handle.write(data)
        self.offset += len(data)

    def rewind(self, offset: int) -> None:
        with os_errors(self.tar, "rewind the temporary file"):
            self.handle.seek(offset)
            self.handle.truncate()
        self.offset = offset


def _fetch_into(source: BlobSource, layer: TarLayer, out: _Output) -> None:
    """Stream one layer from the source into the output, checking size and digest."""
    name = layer.entry_name
    what = f"{out.tar}: entry {name}"
    opened = source(layer.descriptor)
    if isinstance(opened, IOFailure):
        why = unsafe_perform_io(opened.failure()).message
        raise _Abort(BlobUnavailable(tar=out.tar, entry=name, reason=why))
    chunks = unsafe_perform_io(opened.unwrap())
    digest = hasher(layer.digest.algorithm)
    count = 0
    try:
        for chunk in chunks:
            if count + len(chunk) > layer.size:
                raise _Abort(
                    SizeMismatch(what=what, expected=layer.size, actual=count + len(chunk))
                )
            digest.update(chunk)
            count += len(chunk)
            out.write(chunk)
    except CorruptEntryError as exc:
        raise _Abort(exc.error) from exc
    except OSError as exc:
        raise _Abort(BlobUnavailable(tar=out.tar, entry=name, reason=reason(exc))) from exc
    finally:
        close = getattr(chunks, "close", None)
        if callable(close):
            close()
    if count != layer.size:
        _refuse_as_the_source_did(chunks, what)
        raise _Abort(SizeMismatch(what=what, expected=layer.size, actual=count))
    actual = Digest(layer.digest.algorithm, digest.hexdigest())
    if actual != layer.digest:
        raise _Abort(DigestMismatch(what=what, expected=str(layer.digest), actual=str(actual)))


def _refuse_as_the_source_did(chunks: Iterable[bytes], what: str) -> None:
    """A verifying source (a registry's ``VerifiedStream``) stops short of a blob whose
    digest is wrong rather than hand out its last bytes: say so, not "size mismatch"."""
    verdict = getattr(chunks, "verdict", None)
    if not callable(verdict):
        return
    judged = verdict()
    if isinstance(judged, IOFailure):
        failure = unsafe_perform_io(judged.failure())
        if isinstance(failure, DigestMismatch):
            raise _Abort(
                DigestMismatch(what=what, expected=failure.expected, actual=failure.actual)
            )


def _previous(path: Path, plan: TarPlan, tar: str, *, resume: bool) -> PreviousTar | None:
    if not resume:
        return None
    found = open_previous(path, plan, tar)
    match found:
        case ResumeUnreadable():
            raise _Abort(found)
        case PreviousTar() | None:
            return found
        case _:
            assert_never(found)


def _write(path: Path, plan: TarPlan, source: BlobSource, *, resume: bool) -> TarWriteReport:
    tar = str(path)
    previous = _previous(path, plan, tar, resume=resume)
    fetched: list[Digest] = []
    reused: list[Digest] = []
    try:
        with replacing(path, tar) as handle:
            out = _Output(handle, tar)
            out.write(entry_header(MANIFEST_JSON, len(plan.manifest_json)))
            out.write(plan.manifest_json)
            out.write(padding(len(plan.manifest_json)))
            for layer in plan.layers:
                out.write(entry_header(layer.entry_name, layer.size))
                start = out.offset
                old = None if previous is None else previous.entry(layer.entry_name)
                if previous is not None and old is not None:
                    if copy_previous(previous.fd, old, layer, out.write):
                        reused.append(layer.digest)
                        out.write(padding(layer.size))
                        continue
                    out.rewind(start)
                _fetch_into(source, layer, out)
                fetched.append(layer.digest)
                out.write(padding(layer.size))
            out.write(END_OF_ARCHIVE)
            if out.offset != plan.size:
                raise AssertionError(f"wrote {out.offset} bytes, planned {plan.size}")
    finally:
        if previous is not None:
            previous.close()
    return TarWriteReport(
        path=tar,
        size=plan.size,
        manifest_json_size=len(plan.manifest_json),
        layers=tuple(layer.digest for layer in plan.layers),
        fetched=tuple(fetched),
        reused=tuple(reused),
        skipped=tuple(layer.digest for layer in plan.skipped),
    )


__all__ = [
    "BlobSource",
    "HasMessage",
    "TarWriteReport",
    "blobs_from_reader",
    "write_imgpkg_tar",
]
