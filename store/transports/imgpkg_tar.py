"""Read and write Go imgpkg's ``copy --to-tar`` tarballs (imgpkg-reference §2.8, §5.9, §5.10).

The format itself (``manifest.json``, entry names, order and headers) is
``imgpkg_pure.imgpkg_tar``; this module does the file work.

**Reading.**  ``ImgpkgTarball.open(path)`` (or ``ImgpkgTarball.at(path)``)
indexes the file in one sequential pass over its headers, seeking over the
data: name, header offset, data offset and size of every entry.  It refuses
a truncated file (an entry's data, its padding or the two zero blocks that end
the archive missing), invalid headers, entries imgpkg never writes (absolute
names, ``..``, names other than ``manifest.json`` and
``<algorithm>-<hex>.tar.gz``, links, directories), two entries with one name
and different content, a missing or malformed ``manifest.json``, and a layer
entry whose size differs from the size ``manifest.json`` gives.  It then
serves blobs by seeking (nothing is extracted): layers from their entries,
configs, manifests and indexes from ``manifest.json``.  It implements
``imgpkg_pure.store.content.blobstore.BlobReader``.  Layer streams are verified while read: the
read that would deliver an entry's last bytes first checks the digest, and
raises ``CorruptEntryError`` (an ``OSError``) instead when the bytes do not
hash to the entry's name; so a consumer that has read to EOF has read
verified bytes.  A layer an image needs that has no entry is imgpkg's
``file <name> not found in tar (hint: …)`` (``LayerNotInTar``), reported when
the layer is asked for, or up front by ``check_layers``.

**Writing.**  ``write_imgpkg_tar`` writes ``manifest.json`` then each layer
entry, streaming every blob in chunks and checking its size and digest as it
goes, into a temporary file next to the destination, which is renamed over
the destination only once complete and synced.  Any failure removes the
temporary file and leaves the destination as it was.  The output is
byte-identical to imgpkg's (sequential or parallel writer alike).

**Resume** (``resume=True``, §5.9): when the destination exists, its readable
prefix is scanned; every complete layer entry the new tarball needs (same
name, same size) is copied from the old file into the new one, hashed on the
way; if it verifies it is kept, otherwise it is discarded and fetched from the
blob source.  So nothing the old tar already holds intact is fetched again,
whatever its state (complete, cut short, or zero-filled by an interrupted
parallel imgpkg write).  A destination that does not start with a tar header
is refused (``ResumeUnreadable``, imgpkg's ``Reading previously created
tar``); a missing destination makes ``resume`` a no-op.  Unlike imgpkg, reuse
does not depend on ``--concurrency`` and needs no intact ``manifest.json``.
"""

from __future__ import annotations

import errno
import functools
import io
import os
import secrets
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Final, ParamSpec, Protocol, TypeVar, final, overload

from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure, Result, Success
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import Digest, hasher, parse_digest
from imgpkg_pure.errors import DigestMismatch, MalformedDocument, SizeMismatch
from imgpkg_pure.imgpkg_tar import (
    MANIFEST_JSON,
    MAX_SPECIAL_SIZE,
    TYPE_GNU_LONG_NAME,
    TYPE_PAX,
    BadTarHeader,
    BlobUnavailable,
    DuplicateEntry,
    LayerEntryName,
    LayerNotInTar,
    ManifestJsonMissing,
    ManifestJsonTooLarge,
    ResumeUnreadable,
    TarChanged,
    TarError,
    TarHeader,
    TarIOFailure,
    TarLayer,
    TarManifest,
    TarPlan,
    TarTruncated,
    UnexpectedEntry,
    decode_header,
    decode_name,
    entry_header,
    is_zero_block,
    layer_entry_name,
    missing_layers,
    parse_entry_name,
    parse_pax_records,
    parse_tar_manifest,
    pax_size,
    plan_tar,
    type_name,
)
from imgpkg_pure.layer.tar_header import BLOCK_SIZE, END_OF_ARCHIVE, padded_size, padding
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.store.content.blobstore import CHUNK_SIZE, BlobReader
from imgpkg_pure.store.content.errors import BlobCorrupt, BlobNotFound, StoreError, StoreIOFailure

#: The largest ``manifest.json`` the reader holds in memory.
MAX_MANIFEST_JSON: Final = 256 << 20

_P = ParamSpec("_P")
_T = TypeVar("_T")
_HEADER_ONLY_TYPES: Final = frozenset({b"1", b"2", b"3", b"4", b"5", b"6"})


class HasMessage(Protocol):
    """Any error value: it can say what went wrong in one line."""

    @property
    def message(self) -> str: ...


BlobSource = Callable[[Descriptor], IOResult[Iterable[bytes], HasMessage]]
"""Where the writer gets layer bytes: a descriptor's content as chunks (at most 1 MiB each
is what the readers here produce; any size is accepted)."""


class CorruptEntryError(OSError):
    """Raised by a layer stream instead of delivering bytes that fail verification."""

    def __init__(self, error: TarError) -> None:
        super().__init__(error.message)
        self.error = error


# --- thin primitives: the only places OSError is caught -----------------------


class _Abort(Exception):
    """Internal: carries an error value out of nested helpers to the public function."""

    def __init__(self, error: TarError) -> None:
        super().__init__(error)
        self.error = error


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


@contextmanager
def _os(tar: str, operation: str) -> Iterator[None]:
    """Turn an ``OSError`` raised inside into a ``TarIOFailure`` naming the tar."""
    try:
        yield
    except CorruptEntryError as exc:
        raise _Abort(exc.error) from exc
    except OSError as exc:
        raise _Abort(TarIOFailure(tar=tar, operation=operation, reason=_reason(exc))) from exc


def _effect(fn: Callable[_P, _T]) -> Callable[_P, IOResult[_T, TarError]]:
    """Run ``fn``; its value becomes ``IOSuccess``, an ``_Abort`` becomes ``IOFailure``."""

    @functools.wraps(fn)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> IOResult[_T, TarError]:
        try:
            return IOSuccess(fn(*args, **kwargs))
        except _Abort as abort:
            return IOFailure(abort.error)

    return run


def _read_at(fd: int, offset: int, size: int) -> bytes:
    """Up to ``size`` bytes at ``offset`` (fewer only at the end of the file)."""
    parts: list[bytes] = []
    while size > 0:
        data = os.pread(fd, min(size, CHUNK_SIZE), offset)
        if not data:
            break
        parts.append(data)
        offset += len(data)
        size -= len(data)
    return b"".join(parts)


# --- the index ------------------------------------------------------------------


@final
@frozen(kw_only=True)
class TarEntry:
    """One entry of the tar: where its header starts, where its data starts, how long it is.

    ``header_offset`` is the first header of the entry (a PAX or GNU long-name
    header when there is one).
    """

    name: str
    header_offset: int
    data_offset: int
    size: int

    @property
    def end(self) -> int:
        """The offset just after the entry's data padding: the next header."""
        return self.data_offset + padded_size(self.size)


@final
@frozen(kw_only=True)
class _Found:
    entry: TarEntry
    typeflag: bytes


@final
@frozen(kw_only=True)
class _Scan:
    """What one pass over the headers found: entries whose data is present, then the problem.

    ``problem`` is None only for a complete archive (its end marker read).
    """

    found: tuple[_Found, ...]
    problem: TarError | None


@final
@frozen(kw_only=True)
class FileIdentity:
    """What says a file is still the one that was indexed (shared with the OCI archive reader)."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @staticmethod
    def of(info: os.stat_result) -> FileIdentity:
        return FileIdentity(
            device=info.st_dev, inode=info.st_ino, size=info.st_size, mtime_ns=info.st_mtime_ns
        )


class _Stop(Exception):
    """Internal: the scan ends here, for this reason."""

    def __init__(self, problem: TarError) -> None:
        super().__init__(problem)
        self.problem = problem


@final
class _Scanner:
    """One sequential pass over the headers of a tar, seeking over the data."""

    def __init__(self, fd: int, tar: str, file_size: int) -> None:
        self._fd = fd
        self._tar = tar
        self._size = file_size
        self._found: list[_Found] = []
        # What PAX and GNU long-name headers say about the next entry.
        self._first: int | None = None
        self._path: str | None = None
        self._length: int | None = None

    def scan(self) -> _Scan:
        try:
            self._walk()
        except _Stop as stop:
            return _Scan(found=tuple(self._found), problem=stop.problem)
        return _Scan(found=tuple(self._found), problem=None)

    def _truncated(self, entry: str, offset: int, needed: int) -> _Stop:
        return _Stop(
            TarTruncated(
                tar=self._tar, entry=entry, offset=offset, needed=needed, file_size=self._size
            )
        )

    def _bad(self, offset: int, reason: str) -> _Stop:
        return _Stop(
            BadTarHeader(tar=self._tar, entry=self._path or "", offset=offset, reason=reason)
        )

    def _walk(self) -> None:
        offset = 0
        while True:
            block = _read_at(self._fd, offset, BLOCK_SIZE)
            if len(block) < BLOCK_SIZE:
                pending = self._path or ""
                needed = len(END_OF_ARCHIVE) if not block and not pending else BLOCK_SIZE
                raise self._truncated(pending, offset, needed)
            if is_zero_block(block):
                self._end_marker(offset)
                return
            decoded = decode_header(block)
            if isinstance(decoded, Failure):
                raise self._bad(offset, decoded.failure())
            header = decoded.unwrap()
            if header.typeflag in (TYPE_PAX, TYPE_GNU_LONG_NAME):
                offset = self._extended(header, offset)
            else:
                offset = self._entry(header, offset)

    def _end_marker(self, offset: int) -> None:
        second = _read_at(self._fd, offset + BLOCK_SIZE, BLOCK_SIZE)
        if len(second) < BLOCK_SIZE:
            raise self._truncated("", offset, len(END_OF_ARCHIVE))
        if not is_zero_block(second):
            raise self._bad(offset, "a zero block followed by a non-zero block")

    def _extended(self, header: TarHeader, offset: int) -> int:
        """Read a PAX or GNU long-name header; the offset of the next header."""
        data_offset = offset + BLOCK_SIZE
        if header.size > MAX_SPECIAL_SIZE:
            raise self._bad(offset, f"extended header of {header.size} bytes is too large")
        if data_offset + padded_size(header.size) > self._size:
            raise self._truncated(self._path or "", data_offset, padded_size(header.size))
        if self._first is None:
            self._first = offset
        data = _read_at(self._fd, data_offset, header.size)
        if header.typeflag == TYPE_GNU_LONG_NAME:
            self._path = decode_name(data.split(b"\0", 1)[0])
            return data_offset + padded_size(header.size)
        records = parse_pax_records(data)
        if isinstance(records, Failure):
            raise self._bad(offset, records.failure())
        for key, value in records.unwrap():
            if key == "path":
                self._path = value
            elif key == "size":
                length = pax_size(value)
                if isinstance(length, Failure):
                    raise self._bad(offset, length.failure())
                self._length = length.unwrap()
        return data_offset + padded_size(header.size)

    def _entry(self, header: TarHeader, offset: int) -> int:
        """Record an entry whose data is present; the offset of the next header."""
        data_offset = offset + BLOCK_SIZE
        name = self._path or header.name
        size = header.size if self._length is None else self._length
        if header.typeflag in _HEADER_ONLY_TYPES:
            size = 0
        start = offset if self._first is None else self._first
        self._first = self._path = self._length = None
        if data_offset + size > self._size:
            raise self._truncated(name, data_offset, size)
        entry = TarEntry(name=name, header_offset=start, data_offset=data_offset, size=size)
        self._found.append(_Found(entry=entry, typeflag=header.typeflag))
        if entry.end > self._size:
            raise self._truncated(name, data_offset, padded_size(size))
        return entry.end


def _scan(fd: int, tar: str, file_size: int) -> _Scan:
    """Scan a tar: the entries whose data is present, and what stopped the scan (if not the end)."""
    return _Scanner(fd, tar, file_size).scan()


def _same_content(fd: int, one: TarEntry, other: TarEntry) -> bool:
    if one.size != other.size:
        return False
    done = 0
    while done < one.size:
        step = min(CHUNK_SIZE, one.size - done)
        if _read_at(fd, one.data_offset + done, step) != _read_at(
            fd, other.data_offset + done, step
        ):
            return False
        done += step
    return True


def _open_regular(path: Path, tar: str) -> tuple[int, os.stat_result]:
    with _os(tar, "open the tar"):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with _os(tar, "stat the tar"):
            info = os.fstat(fd)
    except _Abort:
        os.close(fd)
        raise
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise _Abort(TarIOFailure(tar=tar, operation="read the tar", reason="not a regular file"))
    return fd, info


# --- the reader --------------------------------------------------------------


class _OpenTarOrBlob:
    """``ImgpkgTarball.open(path)`` indexes a tarball; ``tarball.open(digest)`` opens a blob.

    The class-level call is the constructor the CLI uses; the instance-level
    call is ``BlobReader.open``.  Both names are wanted, so this descriptor
    dispatches on how it is reached.
    """

    @overload
    def __get__(
        self, obj: None, owner: type[ImgpkgTarball]
    ) -> Callable[[Path], IOResult[ImgpkgTarball, TarError]]: ...

    @overload
    def __get__(
        self, obj: ImgpkgTarball, owner: type[ImgpkgTarball] | None = None
    ) -> Callable[[Digest], IOResult[BinaryIO, StoreError]]: ...

    def __get__(
        self, obj: ImgpkgTarball | None, owner: type[ImgpkgTarball] | None = None
    ) -> (
        Callable[[Path], IOResult[ImgpkgTarball, TarError]]
        | Callable[[Digest], IOResult[BinaryIO, StoreError]]
    ):
        if obj is None:
            return ImgpkgTarball.at
        return obj.open_stored


@final
class ImgpkgTarball:
    """An indexed imgpkg tarball: its ``manifest.json`` and where each entry's bytes are.

    Build it with ``ImgpkgTarball.open(path)`` / ``ImgpkgTarball.at(path)``.
    It holds no open file: each blob stream opens the file and checks it is
    still the file that was indexed (``TarChanged`` otherwise).
    """

    open = _OpenTarOrBlob()

    def __init__(
        self,
        *,
        path: Path,
        manifest: TarManifest,
        manifest_raw: bytes,
        entries: tuple[TarEntry, ...],
        identity: FileIdentity,
    ) -> None:
        self._path = path
        self._tar = str(path)
        self._manifest = manifest
        self._manifest_raw = manifest_raw
        self._entries = entries
        self._identity = identity
        self._layers: dict[Digest, TarEntry] = {}
        for entry in entries:
            name = parse_entry_name(entry.name).value_or(None)
            if isinstance(name, LayerEntryName):
                self._layers[name.digest] = entry
        self._documents = manifest.documents()

    @classmethod
    def at(cls, path: Path) -> IOResult[ImgpkgTarball, TarError]:
        """Index the tarball at ``path`` (see the module doc for what is refused)."""
        return _index_tarball(path)

    # --- what it holds -----------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    @property
    def manifest(self) -> TarManifest:
        return self._manifest

    @property
    def manifest_raw(self) -> bytes:
        """The exact bytes of the ``manifest.json`` entry."""
        return self._manifest_raw

    @property
    def entries(self) -> tuple[TarEntry, ...]:
        """Every entry in file order (a repeated name, with the same content, once)."""
        return self._entries

    def layer_entry(self, digest: Digest) -> TarEntry | None:
        return self._layers.get(digest)

    def missing_layers(self, *, include_non_distributable: bool = False) -> tuple[TarLayer, ...]:
        """The layers a ``copy --tar`` with this flag needs that have no entry."""
        return missing_layers(
            self._manifest, self._layers.keys(), include_non_distributable=include_non_distributable
        )

    def check_layers(
        self, *, include_non_distributable: bool = False
    ) -> Result[ImgpkgTarball, LayerNotInTar]:
        """This tarball, or imgpkg's error for the first needed layer it lacks."""
        missing = self.missing_layers(include_non_distributable=include_non_distributable)
        if missing:
            return Failure(LayerNotInTar(tar=self._tar, entry=missing[0].entry_name))
        return Success(self)

    # --- tar-level access (errors name the tar and the entry) ---------------

    def _open(self, digest: Digest) -> BinaryIO:
        document = self._documents.get(digest)
        if document is not None:
            return io.BytesIO(document)
        entry = self._layers.get(digest)
        if entry is None:
            raise _Abort(LayerNotInTar(tar=self._tar, entry=layer_entry_name(digest)))
        with _os(self._tar, f"open entry '{entry.name}'"):
            fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            with _os(self._tar, "stat the tar"):
                now = FileIdentity.of(os.fstat(fd))
            if now != self._identity:
                raise _Abort(TarChanged(tar=self._tar, reason="size, inode or mtime differ"))
        except _Abort:
            os.close(fd)
            raise
        raw = VerifiedEntryStream(fd, entry, digest, self._tar)
        return io.BufferedReader(raw, buffer_size=CHUNK_SIZE)

    def _consume(self, digest: Digest) -> None:
        with self._open(digest) as stream, _os(self._tar, "read"):
            while stream.read(CHUNK_SIZE):
                pass

    @_effect
    def open_blob(self, digest: Digest) -> BinaryIO:
        """A stream of a blob, verified as it is read (``CorruptEntryError`` at the end)."""
        return self._open(digest)

    @_effect
    def read_blob(self, digest: Digest) -> bytes:
        """A whole blob, verified (for small documents; layers are better streamed)."""
        with self._open(digest) as stream, _os(self._tar, "read"):
            return stream.read()

    @_effect
    def verify_blob(self, digest: Digest) -> Digest:
        """Hash one blob from the tar without handing its bytes out."""
        self._consume(digest)
        return digest

    @_effect
    def verify(self) -> tuple[Digest, ...]:
        """Hash every layer entry; the verified digests (sorted), or the first failure."""
        digests = tuple(sorted(self._layers, key=str))
        for digest in digests:
            self._consume(digest)
        return digests

    # --- BlobReader --------------------------------------------------------

    def exists(self, digest: Digest) -> IOResult[bool, StoreError]:
        return IOSuccess(digest in self._documents or digest in self._layers)

    def stat(self, digest: Digest) -> IOResult[int, StoreError]:
        document = self._documents.get(digest)
        if document is not None:
            return IOSuccess(len(document))
        entry = self._layers.get(digest)
        if entry is None:
            return IOFailure(BlobNotFound(digest=digest))
        return IOSuccess(entry.size)

    def open_stored(self, digest: Digest) -> IOResult[BinaryIO, StoreError]:
        """``BlobReader.open`` (reached as ``tarball.open(digest)``)."""
        return self.open_blob(digest).alt(self._store_error(digest))

    def read_bytes(self, digest: Digest) -> IOResult[bytes, StoreError]:
        return self.read_blob(digest).alt(self._store_error(digest))

    def iter_blobs(self) -> IOResult[tuple[Digest, ...], StoreError]:
        return IOSuccess(tuple(sorted(set(self._documents) | set(self._layers))))

    def _store_error(self, digest: Digest) -> Callable[[TarError], StoreError]:
        """Tar errors in the vocabulary of ``BlobReader``."""

        def convert(error: TarError) -> StoreError:
            match error:
                case LayerNotInTar():
                    return BlobNotFound(digest=digest)
                case DigestMismatch():
                    actual = parse_digest(error.actual).value_or(None)
                    if actual is None:
                        return error
                    return BlobCorrupt(digest=digest, actual=actual)
                case SizeMismatch() | MalformedDocument():
                    return error
                case TarIOFailure():
                    return StoreIOFailure(
                        operation=error.operation, path=error.tar, reason=error.reason
                    )
                case TarChanged():
                    return StoreIOFailure(
                        operation="read",
                        path=error.tar,
                        reason=f"the file changed since it was indexed ({error.reason})",
                    )
                case _:
                    return StoreIOFailure(operation="read", path=self._tar, reason=error.message)

        return convert


class EntryExtent(Protocol):
    """Where an entry's data is in a tar file."""

    @property
    def name(self) -> str: ...

    @property
    def size(self) -> int: ...

    @property
    def data_offset(self) -> int: ...


class VerifiedEntryStream(io.RawIOBase):
    """The data of one tar entry, read with ``pread``, hashed; the last read checks the digest.

    Shared by the imgpkg tarball reader and the OCI archive reader.
    """

    def __init__(self, fd: int, entry: EntryExtent, digest: Digest, tar: str) -> None:
        super().__init__()
        self._fd = fd
        self._entry = entry
        self._digest = digest
        self._tar = tar
        self._hash = hasher(digest.algorithm)
        self._position = 0
        self._checked = False

    def readable(self) -> bool:
        return True

    def _check(self) -> None:
        if self._checked:
            return
        actual = Digest(self._digest.algorithm, self._hash.hexdigest())
        if actual != self._digest:
            raise CorruptEntryError(
                DigestMismatch(
                    what=f"{self._tar}: entry {self._entry.name}",
                    expected=str(self._digest),
                    actual=str(actual),
                )
            )
        self._checked = True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        remaining = self._entry.size - self._position
        if remaining <= 0:
            self._check()
            return 0
        data = os.pread(
            self._fd, min(len(buffer), remaining), self._entry.data_offset + self._position
        )
        if not data:
            raise CorruptEntryError(
                TarChanged(tar=self._tar, reason=f"entry '{self._entry.name}' ends early")
            )
        self._hash.update(data)
        self._position += len(data)
        if self._position == self._entry.size:
            self._check()
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


@_effect
def _index_tarball(path: Path) -> ImgpkgTarball:
    tar = str(path)
    fd, info = _open_regular(path, tar)
    try:
        with _os(tar, "read the tar"):
            scan = _scan(fd, tar, info.st_size)
        if scan.problem is not None:
            raise _Abort(scan.problem)
        by_name: dict[str, TarEntry] = {}
        ordered: list[TarEntry] = []
        for item in scan.found:
            entry = item.entry
            if item.typeflag not in (b"0", b"\0"):
                raise _Abort(
                    UnexpectedEntry(
                        tar=tar,
                        entry=entry.name,
                        reason=f"type {type_name(item.typeflag)} is not a regular file",
                    )
                )
            named = parse_entry_name(entry.name)
            if isinstance(named, Failure):
                raise _Abort(UnexpectedEntry(tar=tar, entry=entry.name, reason=named.failure()))
            earlier = by_name.get(entry.name)
            if earlier is not None:
                with _os(tar, "read the tar"):
                    same = _same_content(fd, earlier, entry)
                if not same:
                    raise _Abort(DuplicateEntry(tar=tar, entry=entry.name))
                continue
            by_name[entry.name] = entry
            ordered.append(entry)
        manifest_entry = by_name.get(MANIFEST_JSON)
        if manifest_entry is None:
            raise _Abort(ManifestJsonMissing(tar=tar))
        if manifest_entry.size > MAX_MANIFEST_JSON:
            raise _Abort(
                ManifestJsonTooLarge(tar=tar, size=manifest_entry.size, limit=MAX_MANIFEST_JSON)
            )
        with _os(tar, "read manifest.json"):
            raw = _read_at(fd, manifest_entry.data_offset, manifest_entry.size)
        parsed = parse_tar_manifest(raw, f"{tar}: {MANIFEST_JSON}")
        if isinstance(parsed, Failure):
            raise _Abort(parsed.failure())
        manifest = parsed.unwrap()
        for layer in manifest.layers():
            entry_found = by_name.get(layer.entry_name)
            if entry_found is not None and entry_found.size != layer.size:
                raise _Abort(
                    SizeMismatch(
                        what=f"{tar}: entry {layer.entry_name}",
                        expected=layer.size,
                        actual=entry_found.size,
                    )
                )
        return ImgpkgTarball(
            path=path,
            manifest=manifest,
            manifest_raw=raw,
            entries=tuple(ordered),
            identity=FileIdentity.of(info),
        )
    finally:
        os.close(fd)


# --- the writer -----------------------------------------------------------------


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
    return _write(path, plan, source, resume=resume)


@final
class _Output:
    """The temporary file being written, with its offset."""

    def __init__(self, handle: BinaryIO, tar: str) -> None:
        self.handle = handle
        self.tar = tar
        self.offset = 0

    def write(self, data: bytes) -> None:
        with _os(self.tar, "write the temporary file"):
            self.handle.write(data)
        self.offset += len(data)

    def rewind(self, offset: int) -> None:
        with _os(self.tar, "rewind the temporary file"):
            self.handle.seek(offset)
            self.handle.truncate()
        self.offset = offset


def _create_temporary(path: Path, tar: str) -> tuple[Path, BinaryIO]:
    while True:
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            # 0666 minus the umask, as imgpkg's os.Create.
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise _Abort(
                TarIOFailure(
                    tar=tar, operation="create a temporary file beside it", reason=_reason(exc)
                )
            ) from exc
        return temporary, os.fdopen(fd, "wb", buffering=CHUNK_SIZE)


def _previous_entries(
    path: Path, plan: TarPlan, tar: str
) -> tuple[int, dict[str, TarEntry]] | None:
    """For ``resume``: the old file and its complete entries the new tar needs, or None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _Abort(ResumeUnreadable(tar=tar, reason=_reason(exc))) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _Abort(ResumeUnreadable(tar=tar, reason="not a regular file"))
        scan = _scan(fd, tar, info.st_size)
    except OSError as exc:
        os.close(fd)
        raise _Abort(ResumeUnreadable(tar=tar, reason=_reason(exc))) from exc
    except _Abort:
        os.close(fd)
        raise
    if not scan.found and isinstance(scan.problem, BadTarHeader):
        os.close(fd)
        raise _Abort(ResumeUnreadable(tar=tar, reason=scan.problem.message))
    wanted = {layer.entry_name: layer.size for layer in plan.layers}
    reusable: dict[str, TarEntry] = {}
    for item in scan.found:
        entry = item.entry
        if item.typeflag in (b"0", b"\0") and wanted.get(entry.name) == entry.size:
            reusable.setdefault(entry.name, entry)
    return fd, reusable


def _copy_previous(old: int, entry: TarEntry, layer: TarLayer, out: _Output) -> bool:
    """Copy an old entry into the output, hashing it; whether it was the right blob."""
    digest = hasher(layer.digest.algorithm)
    done = 0
    while done < entry.size:
        try:
            chunk = os.pread(old, min(CHUNK_SIZE, entry.size - done), entry.data_offset + done)
        except OSError:
            return False
        if not chunk:
            return False
        digest.update(chunk)
        out.write(chunk)
        done += len(chunk)
    return Digest(layer.digest.algorithm, digest.hexdigest()) == layer.digest


def _fetch_into(source: BlobSource, layer: TarLayer, out: _Output) -> None:
    """Stream one layer from the source into the output, checking size and digest."""
    name = layer.entry_name
    what = f"{out.tar}: entry {name}"
    opened = source(layer.descriptor)
    if isinstance(opened, IOFailure):
        reason = unsafe_perform_io(opened.failure()).message
        raise _Abort(BlobUnavailable(tar=out.tar, entry=name, reason=reason))
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
        raise _Abort(BlobUnavailable(tar=out.tar, entry=name, reason=_reason(exc))) from exc
    finally:
        close = getattr(chunks, "close", None)
        if callable(close):
            close()
    if count != layer.size:
        raise _Abort(SizeMismatch(what=what, expected=layer.size, actual=count))
    actual = Digest(layer.digest.algorithm, digest.hexdigest())
    if actual != layer.digest:
        raise _Abort(DigestMismatch(what=what, expected=str(layer.digest), actual=str(actual)))


def _sync_directory(directory: Path, tar: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise _Abort(
                TarIOFailure(tar=tar, operation="sync its directory", reason=_reason(exc))
            ) from exc


@_effect
def _write(path: Path, plan: TarPlan, source: BlobSource, *, resume: bool) -> TarWriteReport:
    tar = str(path)
    previous = _previous_entries(path, plan, tar) if resume else None
    fetched: list[Digest] = []
    reused: list[Digest] = []
    temporary: Path | None = None
    try:
        temporary, handle = _create_temporary(path, tar)
        with handle:
            out = _Output(handle, tar)
            out.write(entry_header(MANIFEST_JSON, len(plan.manifest_json)))
            out.write(plan.manifest_json)
            out.write(padding(len(plan.manifest_json)))
            for layer in plan.layers:
                out.write(entry_header(layer.entry_name, layer.size))
                start = out.offset
                old = None if previous is None else previous[1].get(layer.entry_name)
                if previous is not None and old is not None:
                    if _copy_previous(previous[0], old, layer, out):
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
            with _os(tar, "sync the temporary file"):
                handle.flush()
                os.fsync(handle.fileno())
        with _os(tar, "rename the temporary file over it"):
            os.replace(temporary, path)
        temporary = None
        _sync_directory(path.parent, tar)
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        if previous is not None:
            os.close(previous[0])
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
    "MAX_MANIFEST_JSON",
    "BlobSource",
    "CorruptEntryError",
    "HasMessage",
    "ImgpkgTarball",
    "TarEntry",
    "TarWriteReport",
    "blobs_from_reader",
    "write_imgpkg_tar",
]
