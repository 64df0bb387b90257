"""Read and write a tar of an OCI image layout (skopeo's ``oci-archive:`` transport).

The archive holds an image layout (image-spec ``image-layout.md``) at its
root: ``oci-layout``, ``index.json`` and ``blobs/<alg>/<encoded>``.  Names may
start with ``./``; directory entries are accepted; other files are allowed
(the spec allows them) and ignored.

**Reading.**  ``OciArchive.at(path)`` indexes the file in one sequential pass
over its headers, seeking over the data: for every entry its name, where its
data starts and how long it is.  Nothing is extracted.  It refuses, with one
line naming the file and the entry:

* a truncated file (a header, an entry's data or padding, or the two zero
  blocks that end the archive missing) and invalid headers;
* hostile names: absolute, with a ``..`` (or empty, or ``.``) component;
* links and every other entry that is neither a regular file nor a directory;
* one name twice with different content (the same content twice is kept once),
  or as both a file and a directory;
* a file under ``blobs/`` whose name is not ``blobs/<alg>/<encoded>`` (a
  known algorithm with a malformed encoding included; blobs of other
  algorithms are ignored, as nothing this project parses can name them);
* a missing ``oci-layout`` or ``index.json``, an ``oci-layout`` that is not
  ``imageLayoutVersion`` 1.0.0, an ``index.json`` that is not an image index.

It then serves what a copy needs: the roots of ``index.json`` (``resolve`` by
``org.opencontainers.image.ref.name``) and blobs by digest (it implements
``imgpkg_pure.store.content.blobstore.BlobReader``), each read by seeking in a fresh handle that
first checks the file is still the one indexed.  Blob streams are verified as
they are read: the read that would deliver a blob's last bytes first checks
the digest and raises ``CorruptEntryError`` (an ``OSError``) instead when the
bytes do not hash to the blob's name; so a consumer that reads to the end has
read verified bytes, and ``read_bytes`` hands out only verified bytes.

**Writing.**  ``write_oci_archive(layout, path)`` writes the layout directory
``layout`` (``oci-layout``, ``index.json``, every blob) as a deterministic tar:
entries ``oci-layout``, ``index.json``, ``blobs/``, then per algorithm
``blobs/<alg>/`` and its blobs, each in sorted order; files 0644 and
directories 0755, uid/gid 0, mtime 0, no user or group names (Go
``archive/tar`` headers, ``imgpkg_pure.layer.tar_header``), and two zero blocks
at the end.  The same layout content gives the same bytes.  Blobs are streamed
in 1 MiB chunks, hashed and checked against their names on the way, into a
temporary file beside ``path`` that is synced and renamed over it only when
complete; any failure removes the temporary file and leaves ``path`` as it was.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Final, final

from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure, Result, Success
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import HEX_LENGTH, Digest, hasher, parse_digest
from imgpkg_pure.errors import DigestMismatch, MalformedDocument, SizeMismatch
from imgpkg_pure.imgpkg_tar import (
    MAX_SPECIAL_SIZE,
    TYPE_GNU_LONG_NAME,
    TYPE_PAX,
    BadTarHeader,
    DuplicateEntry,
    TarChanged,
    TarIOFailure,
    TarTruncated,
    UnexpectedEntry,
    decode_header,
    decode_name,
    is_zero_block,
    parse_pax_records,
    pax_size,
    type_name,
)
from imgpkg_pure.imgpkg_tar.errors import shown
from imgpkg_pure.layer.tar_header import (
    BLOCK_SIZE,
    END_OF_ARCHIVE,
    TYPE_DIR,
    TYPE_REG,
    encode_header,
    padded_size,
    padding,
)
from imgpkg_pure.oci import Descriptor, ImageIndex, parse_index
from imgpkg_pure.store.content.blobstore import CHUNK_SIZE, root_name
from imgpkg_pure.store.content.errors import BlobNotFound, RootNotFound, StoreError, StoreIOFailure
from imgpkg_pure.store.transports.imgpkg_tar import (
    CorruptEntryError,
    FileIdentity,
    VerifiedEntryStream,
)

LAYOUT_FILE: Final = "oci-layout"
INDEX_FILE: Final = "index.json"
BLOBS_DIR: Final = "blobs"
LAYOUT_VERSION: Final = "1.0.0"
#: The largest ``oci-layout`` and ``index.json`` the reader holds in memory.
MAX_LAYOUT_FILE: Final = 64 << 10
MAX_INDEX_JSON: Final = 64 << 20
FILE_MODE: Final = 0o644
DIR_MODE: Final = 0o755

_REGULAR: Final = frozenset({b"0", b"\0"})


# --- errors --------------------------------------------------------------------------


@final
@frozen(kw_only=True)
class NotAnArchive:
    """A tar that is not an OCI image layout: a required file is missing or unreadable."""

    tar: str
    reason: str

    @property
    def message(self) -> str:
        return f"{shown(self.tar)}: not an OCI image layout archive: {self.reason}"


@final
@frozen(kw_only=True)
class EntryTooLarge:
    """``oci-layout`` or ``index.json`` larger than the reader holds in memory."""

    tar: str
    entry: str
    size: int
    limit: int

    @property
    def message(self) -> str:
        return (
            f"{shown(self.tar)}: entry '{self.entry}' is {self.size} bytes, "
            f"more than the {self.limit} bytes this reader accepts"
        )


ArchiveError = (
    TarTruncated
    | BadTarHeader
    | UnexpectedEntry
    | DuplicateEntry
    | NotAnArchive
    | EntryTooLarge
    | TarChanged
    | TarIOFailure
    | MalformedDocument
    | DigestMismatch
    | SizeMismatch
)


class _Abort(Exception):
    """Internal: carries an error value out of nested helpers to the public function."""

    def __init__(self, error: ArchiveError) -> None:
        super().__init__(error)
        self.error = error


@contextlib.contextmanager
def _os(tar: str, operation: str) -> Iterator[None]:
    """Turn an ``OSError`` raised inside into a ``TarIOFailure`` naming the archive."""
    try:
        yield
    except CorruptEntryError:
        raise
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise _Abort(TarIOFailure(tar=tar, operation=operation, reason=reason)) from exc


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


# --- entry names (pure) ----------------------------------------------------------------


def member_name(name: str) -> Result[str, str]:
    """The layout path of a tar entry name (``./`` and a trailing ``/`` dropped; the
    archive root is ``""``), or why the name is refused."""
    if name.startswith("/"):
        return Failure("absolute names are refused")
    trimmed = name
    while trimmed.startswith("./"):
        trimmed = trimmed[2:]
    trimmed = trimmed.removesuffix("/")
    if trimmed in ("", "."):
        return Success("")
    parts = trimmed.split("/")
    if ".." in parts:
        return Failure("names with a '..' component are refused")
    if "" in parts or "." in parts:
        return Failure("names with an empty or '.' component are refused")
    return Success(trimmed)


def blob_digest(path: str) -> Result[Digest | None, str]:
    """The digest a layout path names (``blobs/<alg>/<encoded>``); None outside ``blobs/``
    and for algorithms this project does not read (nothing it parses can name them)."""
    parts = path.split("/")
    if parts[0] != BLOBS_DIR:
        return Success(None)
    if len(parts) != 3:
        return Failure("files under blobs/ must be blobs/<algorithm>/<encoded>")
    if parts[1] not in HEX_LENGTH:
        return Success(None)
    parsed = parse_digest(f"{parts[1]}:{parts[2]}")
    if isinstance(parsed, Failure):
        return Failure(f"not a blob name: {parsed.failure().message}")
    return Success(parsed.unwrap())


# --- the scan ------------------------------------------------------------------------------


@final
@frozen(kw_only=True)
class ArchiveEntry:
    """One entry of the tar: its name as written, type flag, where its data starts, its size."""

    name: str
    typeflag: bytes
    data_offset: int
    size: int


def _entries(fd: int, tar: str, file_size: int) -> Iterator[ArchiveEntry]:
    """Every entry in file order, from one pass over the headers (seeking over data).

    PAX (``x``) and GNU long-name (``L``) headers are folded into the entry they
    describe.  Ends at the two zero blocks; raises ``_Abort`` on a truncated
    file or an invalid header.
    """
    offset = 0
    name: str | None = None
    length: int | None = None

    def truncated(entry: str, at: int, needed: int) -> _Abort:
        return _Abort(
            TarTruncated(tar=tar, entry=entry, offset=at, needed=needed, file_size=file_size)
        )

    def bad(at: int, reason: str) -> _Abort:
        return _Abort(BadTarHeader(tar=tar, entry=name or "", offset=at, reason=reason))

    while True:
        block = _read_at(fd, offset, BLOCK_SIZE)
        if len(block) < BLOCK_SIZE:
            pending = name or ""
            raise truncated(pending, offset, len(END_OF_ARCHIVE) if not block else BLOCK_SIZE)
        if is_zero_block(block):
            second = _read_at(fd, offset + BLOCK_SIZE, BLOCK_SIZE)
            if len(second) < BLOCK_SIZE:
                raise truncated("", offset, len(END_OF_ARCHIVE))
            if not is_zero_block(second):
                raise bad(offset, "a zero block followed by a non-zero block")
            return
        decoded = decode_header(block)
        if isinstance(decoded, Failure):
            raise bad(offset, decoded.failure())
        header = decoded.unwrap()
        data_offset = offset + BLOCK_SIZE
        if header.typeflag in (TYPE_PAX, TYPE_GNU_LONG_NAME):
            if header.size > MAX_SPECIAL_SIZE:
                raise bad(offset, f"extended header of {header.size} bytes is too large")
            if data_offset + padded_size(header.size) > file_size:
                raise truncated(name or "", data_offset, padded_size(header.size))
            data = _read_at(fd, data_offset, header.size)
            if header.typeflag == TYPE_GNU_LONG_NAME:
                name = decode_name(data.split(b"\0", 1)[0])
            else:
                records = parse_pax_records(data)
                if isinstance(records, Failure):
                    raise bad(offset, records.failure())
                for key, value in records.unwrap():
                    if key == "path":
                        name = value
                    elif key == "size":
                        size = pax_size(value)
                        if isinstance(size, Failure):
                            raise bad(offset, size.failure())
                        length = size.unwrap()
            offset = data_offset + padded_size(header.size)
            continue
        entry_name = name or header.name
        entry_size = header.size if length is None else length
        if header.typeflag == TYPE_DIR:
            entry_size = 0
        name = length = None
        if header.typeflag in _REGULAR and data_offset + padded_size(entry_size) > file_size:
            raise truncated(entry_name, data_offset, padded_size(entry_size))
        yield ArchiveEntry(
            name=entry_name, typeflag=header.typeflag, data_offset=data_offset, size=entry_size
        )
        offset = data_offset + padded_size(entry_size)


def _same_content(fd: int, one: ArchiveEntry, other: ArchiveEntry) -> bool:
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


# --- the reader -------------------------------------------------------------------------------


@final
class OciArchive:
    """An indexed tar of an OCI image layout: its roots, and where each blob's bytes are.

    Build it with ``OciArchive.at(path)``.  It holds no open file: each read
    opens the file and checks it is still the file that was indexed.
    """

    def __init__(
        self,
        *,
        path: Path,
        index: ImageIndex,
        index_raw: bytes,
        blobs: dict[Digest, ArchiveEntry],
        identity: FileIdentity,
    ) -> None:
        self._path = path
        self._tar = str(path)
        self._index = index
        self._index_raw = index_raw
        self._blobs = blobs
        self._identity = identity

    @classmethod
    def at(cls, path: Path) -> IOResult[OciArchive, ArchiveError]:
        """Index the archive at ``path`` (see the module doc for what is refused)."""
        try:
            return IOSuccess(_index_archive(path))
        except _Abort as abort:
            return IOFailure(abort.error)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def index_raw(self) -> bytes:
        """The exact bytes of ``index.json``."""
        return self._index_raw

    # --- roots -----------------------------------------------------------------

    def roots(self) -> IOResult[tuple[Descriptor, ...], StoreError]:
        return IOSuccess(self._index.manifests)

    def resolve(self, name: str) -> IOResult[Descriptor, StoreError]:
        """The ``index.json`` entry whose ``org.opencontainers.image.ref.name`` is ``name``."""
        for entry in self._index.manifests:
            if root_name(entry) == name:
                return IOSuccess(entry)
        return IOFailure(RootNotFound(name=name))

    # --- BlobReader ---------------------------------------------------------------

    def exists(self, digest: Digest) -> IOResult[bool, StoreError]:
        return IOSuccess(digest in self._blobs)

    def stat(self, digest: Digest) -> IOResult[int, StoreError]:
        entry = self._blobs.get(digest)
        if entry is None:
            return IOFailure(BlobNotFound(digest=digest))
        return IOSuccess(entry.size)

    def open(self, digest: Digest) -> IOResult[BinaryIO, StoreError]:
        """A stream of a blob, verified as it is read (``CorruptEntryError`` at the end)."""
        entry = self._blobs.get(digest)
        if entry is None:
            return IOFailure(BlobNotFound(digest=digest))
        try:
            fd = self._open_checked(entry)
        except _Abort as abort:
            return IOFailure(self._store_error(abort.error))
        raw = VerifiedEntryStream(fd, entry, digest, self._tar)
        return IOSuccess(io.BufferedReader(raw, buffer_size=CHUNK_SIZE))

    def read_bytes(self, digest: Digest) -> IOResult[bytes, StoreError]:
        """A whole blob, verified (for manifests and configs; layers are better streamed)."""
        opened = self.open(digest)
        if isinstance(opened, IOFailure):
            return opened
        try:
            with unsafe_perform_io(opened.unwrap()) as stream:
                return IOSuccess(stream.read())
        except CorruptEntryError as exc:
            return IOFailure(self._store_error(exc.error))
        except OSError as exc:
            return IOFailure(
                StoreIOFailure(operation="read", path=self._tar, reason=exc.strerror or str(exc))
            )

    def iter_blobs(self) -> IOResult[tuple[Digest, ...], StoreError]:
        return IOSuccess(tuple(sorted(self._blobs, key=str)))

    # --- internals -------------------------------------------------------------------

    def _open_checked(self, entry: ArchiveEntry) -> int:
        with _os(self._tar, f"open entry '{entry.name}'"):
            fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            with _os(self._tar, "stat the archive"):
                now = FileIdentity.of(os.fstat(fd))
            if now != self._identity:
                raise _Abort(TarChanged(tar=self._tar, reason="size, inode or mtime differ"))
        except _Abort:
            os.close(fd)
            raise
        return fd

    def _store_error(self, error: object) -> StoreError:
        match error:
            case DigestMismatch() | SizeMismatch() | MalformedDocument():
                return error
            case TarIOFailure(operation=operation, reason=reason):
                return StoreIOFailure(operation=operation, path=self._tar, reason=reason)
            case _:
                message = getattr(error, "message", str(error))
                return StoreIOFailure(operation="read", path=self._tar, reason=str(message))


def _open_regular(path: Path, tar: str) -> tuple[int, os.stat_result]:
    with _os(tar, "open the archive"):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with _os(tar, "stat the archive"):
            info = os.fstat(fd)
    except _Abort:
        os.close(fd)
        raise
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise _Abort(
            TarIOFailure(tar=tar, operation="read the archive", reason="not a regular file")
        )
    return fd, info


def _small_file(fd: int, tar: str, files: dict[str, ArchiveEntry], name: str, limit: int) -> bytes:
    entry = files.get(name)
    if entry is None:
        raise _Abort(NotAnArchive(tar=tar, reason=f"no {name} entry"))
    if entry.size > limit:
        raise _Abort(EntryTooLarge(tar=tar, entry=name, size=entry.size, limit=limit))
    with _os(tar, f"read {name}"):
        return _read_at(fd, entry.data_offset, entry.size)


def _check_layout_file(raw: bytes, tar: str) -> None:
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise _Abort(NotAnArchive(tar=tar, reason=f"{LAYOUT_FILE} is not a JSON object"))
    version = document.get("imageLayoutVersion")
    if version != LAYOUT_VERSION:
        raise _Abort(
            NotAnArchive(
                tar=tar,
                reason=f"{LAYOUT_FILE}: unsupported imageLayoutVersion {version!r} "
                f"(expected {LAYOUT_VERSION})",
            )
        )


def _index_archive(path: Path) -> OciArchive:
    tar = str(path)
    fd, info = _open_regular(path, tar)
    try:
        files: dict[str, ArchiveEntry] = {}
        directories: set[str] = set()
        with _os(tar, "read the archive"):
            for entry in _entries(fd, tar, info.st_size):
                named = member_name(entry.name)
                if isinstance(named, Failure):
                    raise _Abort(UnexpectedEntry(tar=tar, entry=entry.name, reason=named.failure()))
                name = named.unwrap()
                if entry.typeflag == TYPE_DIR:
                    if name in files:
                        raise _Abort(
                            UnexpectedEntry(
                                tar=tar,
                                entry=entry.name,
                                reason="it is both a file and a directory",
                            )
                        )
                    directories.add(name)
                    continue
                if entry.typeflag not in _REGULAR:
                    raise _Abort(
                        UnexpectedEntry(
                            tar=tar,
                            entry=entry.name,
                            reason=f"type {type_name(entry.typeflag)} is not a regular file "
                            "or a directory",
                        )
                    )
                if name == "":
                    raise _Abort(
                        UnexpectedEntry(tar=tar, entry=entry.name, reason="a file names the root")
                    )
                if name in directories:
                    raise _Abort(
                        UnexpectedEntry(
                            tar=tar, entry=entry.name, reason="it is both a file and a directory"
                        )
                    )
                earlier = files.get(name)
                if earlier is not None:
                    if not _same_content(fd, earlier, entry):
                        raise _Abort(DuplicateEntry(tar=tar, entry=entry.name))
                    continue
                files[name] = entry
        blobs: dict[Digest, ArchiveEntry] = {}
        for name, entry in files.items():
            digest = blob_digest(name)
            if isinstance(digest, Failure):
                raise _Abort(UnexpectedEntry(tar=tar, entry=entry.name, reason=digest.failure()))
            found = digest.unwrap()
            if found is not None:
                blobs[found] = entry
        _check_layout_file(_small_file(fd, tar, files, LAYOUT_FILE, MAX_LAYOUT_FILE), tar)
        index_raw = _small_file(fd, tar, files, INDEX_FILE, MAX_INDEX_JSON)
        index = parse_index(index_raw, f"{tar}: {INDEX_FILE}")
        if isinstance(index, Failure):
            raise _Abort(index.failure())
        return OciArchive(
            path=path,
            index=index.unwrap(),
            index_raw=index_raw,
            blobs=blobs,
            identity=FileIdentity.of(info),
        )
    finally:
        os.close(fd)


# --- the writer ---------------------------------------------------------------------------


@final
@frozen(kw_only=True)
class ArchiveWriteReport:
    """What ``write_oci_archive`` wrote: the file, its size and the blobs in it (file order)."""

    path: str
    size: int
    blobs: tuple[Digest, ...]


def _file_header(name: str, size: int) -> bytes:
    return encode_header(name, mode=FILE_MODE, size=size, typeflag=TYPE_REG)


def _dir_header(name: str) -> bytes:
    return encode_header(name, mode=DIR_MODE, size=0, typeflag=TYPE_DIR)


def _layout_blobs(layout: Path, tar: str) -> tuple[tuple[str, tuple[Digest, ...]], ...]:
    """The blobs of the layout directory, by algorithm, both sorted."""
    blobs_dir = layout / BLOBS_DIR
    out: list[tuple[str, tuple[Digest, ...]]] = []
    with _os(tar, f"list {blobs_dir}"):
        algorithms = sorted(e.name for e in os.scandir(blobs_dir) if e.is_dir())
    for algorithm in algorithms:
        with _os(tar, f"list {blobs_dir / algorithm}"):
            names = sorted(e.name for e in os.scandir(blobs_dir / algorithm) if e.is_file())
        digests: list[Digest] = []
        for name in names:
            parsed = parse_digest(f"{algorithm}:{name}")
            if isinstance(parsed, Failure):
                raise _Abort(
                    TarIOFailure(
                        tar=tar,
                        operation=f"read the layout {layout}",
                        reason=f"blobs/{algorithm}/{name}: {parsed.failure().message}",
                    )
                )
            digests.append(parsed.unwrap())
        if digests:
            out.append((algorithm, tuple(digests)))
    return tuple(out)


def _create_temporary(path: Path, tar: str) -> tuple[Path, BinaryIO]:
    while True:
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise _Abort(
                TarIOFailure(
                    tar=tar,
                    operation="create a temporary file beside it",
                    reason=exc.strerror or str(exc),
                )
            ) from exc
        return temporary, os.fdopen(fd, "wb", buffering=CHUNK_SIZE)


def _write_blob(out: BinaryIO, source: Path, digest: Digest, tar: str) -> int:
    """Stream one blob file into the archive (header, data, padding), checking its digest."""
    name = f"{BLOBS_DIR}/{digest.algorithm}/{digest.hex}"
    with _os(tar, f"read {source}"), open(source, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        with _os(tar, "write the temporary file"):
            out.write(_file_header(name, size))
        hashed = hasher(digest.algorithm)
        count = 0
        while chunk := handle.read(CHUNK_SIZE):
            count += len(chunk)
            if count > size:
                break
            hashed.update(chunk)
            with _os(tar, "write the temporary file"):
                out.write(chunk)
    if count != size:
        raise _Abort(SizeMismatch(what=f"{source}", expected=size, actual=count))
    actual = Digest(digest.algorithm, hashed.hexdigest())
    if actual != digest:
        raise _Abort(DigestMismatch(what=str(source), expected=str(digest), actual=str(actual)))
    with _os(tar, "write the temporary file"):
        out.write(padding(size))
    return BLOCK_SIZE + padded_size(size)


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
                TarIOFailure(
                    tar=tar, operation="sync its directory", reason=exc.strerror or str(exc)
                )
            ) from exc


def write_oci_archive(layout: Path, path: Path) -> IOResult[ArchiveWriteReport, ArchiveError]:
    """Write the OCI layout directory ``layout`` as a tar at ``path`` (see the module doc)."""
    try:
        return IOSuccess(_write(layout, path))
    except _Abort as abort:
        return IOFailure(abort.error)


def _write(layout: Path, path: Path) -> ArchiveWriteReport:
    tar = str(path)
    small: list[tuple[str, bytes]] = []
    for name in (LAYOUT_FILE, INDEX_FILE):
        with _os(tar, f"read {layout / name}"):
            small.append((name, (layout / name).read_bytes()))
    by_algorithm = _layout_blobs(layout, tar)
    temporary: Path | None = None
    try:
        temporary, out = _create_temporary(path, tar)
        size = 0
        with out:
            with _os(tar, "write the temporary file"):
                for name, data in small:
                    out.write(_file_header(name, len(data)) + data + padding(len(data)))
                    size += BLOCK_SIZE + padded_size(len(data))
                out.write(_dir_header(f"{BLOBS_DIR}/"))
                size += BLOCK_SIZE
            for algorithm, digests in by_algorithm:
                with _os(tar, "write the temporary file"):
                    out.write(_dir_header(f"{BLOBS_DIR}/{algorithm}/"))
                size += BLOCK_SIZE
                for digest in digests:
                    source = layout / BLOBS_DIR / algorithm / digest.hex
                    size += _write_blob(out, source, digest, tar)
            with _os(tar, "write the temporary file"):
                out.write(END_OF_ARCHIVE)
                out.flush()
                os.fsync(out.fileno())
            size += len(END_OF_ARCHIVE)
        with _os(tar, "rename the temporary file over it"):
            os.replace(temporary, path)
        temporary = None
        _sync_directory(path.parent, tar)
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
    return ArchiveWriteReport(
        path=tar,
        size=size,
        blobs=tuple(digest for _, digests in by_algorithm for digest in digests),
    )


__all__ = [
    "ArchiveEntry",
    "ArchiveError",
    "ArchiveWriteReport",
    "EntryTooLarge",
    "NotAnArchive",
    "OciArchive",
    "blob_digest",
    "member_name",
    "write_oci_archive",
]
