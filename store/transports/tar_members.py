"""Reading the entries of an uncompressed tar by seeking: what both tar readers share.

The imgpkg tarball reader (``imgpkg_tar``) and the OCI archive reader
(``oci_archive``) index a tar the same way and serve its entries the same way;
this module owns that common work:

* ``scan_tar``: one sequential pass over the headers, seeking over the data.
  PAX (``x``) and GNU long-name (``L``) headers are folded into the entry they
  describe; the scan stops at the two zero blocks that end the archive, or at
  the first problem (a truncated file, an invalid header), and reports every
  entry whose data is present before it (``TarScan``), so a reader may refuse
  the file and ``resume`` may still reuse what it holds.
* the duplicate rule (``same_content``): one name twice is kept once when the
  content is the same, refused (``DuplicateEntry``) otherwise;
* ``FileIdentity``: what says a file is still the one that was indexed, checked
  by ``open_entry`` each time an entry is opened (``TarChanged`` otherwise);
* ``VerifiedEntryStream``: an entry's bytes read with ``pread`` and hashed; the
  read that would deliver the last bytes first checks the digest and raises
  ``CorruptEntryError`` (an ``OSError``) instead when they do not hash to it;
* ``store_error``: tar errors in the vocabulary of ``BlobReader``.

``OSError`` becomes a ``TarIOFailure`` naming the tar in ``os_errors``; the
helpers here raise ``TarAbort`` carrying a ``CommonTarError``, which each
reader's public functions turn into an ``IOFailure``.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Final, final

from attrs import frozen
from returns.result import Failure

from imgpkg_pure.digest import Digest
from imgpkg_pure.errors import DigestMismatch, MalformedDocument, SizeMismatch
from imgpkg_pure.imgpkg_tar import (
    MAX_SPECIAL_SIZE,
    TYPE_GNU_LONG_NAME,
    TYPE_PAX,
    BadTarHeader,
    DuplicateEntry,
    TarChanged,
    TarError,
    TarHeader,
    TarIOFailure,
    TarTruncated,
    UnexpectedEntry,
    decode_header,
    decode_name,
    is_zero_block,
    parse_pax_records,
    pax_size,
)
from imgpkg_pure.layer.tar_header import BLOCK_SIZE, END_OF_ARCHIVE, padded_size
from imgpkg_pure.store.content.blobstore import CHUNK_SIZE
from imgpkg_pure.store.content.errors import StoreError, StoreIOFailure
from imgpkg_pure.store.registry.hashing import streaming_hash

#: Type flags of regular files (``0``, and ``NUL`` from old tars).
REGULAR_TYPES: Final = frozenset({b"0", b"\0"})
#: Type flags whose header carries no data (links, devices, directories, FIFOs).
_HEADER_ONLY_TYPES: Final = frozenset({b"1", b"2", b"3", b"4", b"5", b"6"})

CommonTarError = (
    TarTruncated
    | BadTarHeader
    | UnexpectedEntry
    | DuplicateEntry
    | TarChanged
    | TarIOFailure
    | MalformedDocument
    | DigestMismatch
    | SizeMismatch
)
"""The errors every tar transport can report (both readers' error unions include them)."""

EntryStreamError = DigestMismatch | TarChanged
"""What a ``VerifiedEntryStream`` refuses to deliver bytes for."""


class CorruptEntryError(OSError):
    """Raised by an entry stream instead of delivering bytes that fail verification."""

    def __init__(self, error: EntryStreamError) -> None:
        super().__init__(error.message)
        self.error = error


class TarAbort(Exception):
    """Internal: carries an error value out of nested helpers to the public function."""

    def __init__(self, error: CommonTarError) -> None:
        super().__init__(error)
        self.error = error


def reason(exc: OSError) -> str:
    """An ``OSError`` as the reason of a failure value."""
    return exc.strerror or str(exc)


@contextmanager
def os_errors(tar: str, operation: str) -> Iterator[None]:
    """Turn an ``OSError`` raised inside into a ``TarIOFailure`` naming the tar.

    A ``CorruptEntryError`` (an ``OSError`` too) aborts with the error it carries.
    """
    try:
        yield
    except CorruptEntryError as exc:
        raise TarAbort(exc.error) from exc
    except OSError as exc:
        raise TarAbort(TarIOFailure(tar=tar, operation=operation, reason=reason(exc))) from exc


def read_at(fd: int, offset: int, size: int) -> bytes:
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


# --- the scan ------------------------------------------------------------------------


@final
@frozen(kw_only=True)
class TarEntry:
    """One entry of a tar: its name as written, type flag, where it starts, how long it is.

    ``header_offset`` is the first header of the entry (a PAX or GNU long-name
    header when there is one); ``data_offset`` is where its data starts.
    """

    name: str
    typeflag: bytes
    header_offset: int
    data_offset: int
    size: int

    @property
    def end(self) -> int:
        """The offset just after the entry's data padding: the next header."""
        return self.data_offset + padded_size(self.size)


@final
@frozen(kw_only=True)
class TarScan:
    """What one pass over the headers found: the entries whose data is present, then the problem.

    ``problem`` is None only for a complete archive (its end marker read).
    """

    entries: tuple[TarEntry, ...]
    problem: TarTruncated | BadTarHeader | None


class _Stop(Exception):
    """Internal: the scan ends here, for this reason."""

    def __init__(self, problem: TarTruncated | BadTarHeader) -> None:
        super().__init__(problem)
        self.problem = problem


@final
class _Scanner:
    """One sequential pass over the headers of a tar, seeking over the data."""

    def __init__(self, fd: int, tar: str, file_size: int) -> None:
        self._fd = fd
        self._tar = tar
        self._size = file_size
        self._found: list[TarEntry] = []
        # What PAX and GNU long-name headers say about the next entry.
        self._first: int | None = None
        self._path: str | None = None
        self._length: int | None = None

    def scan(self) -> TarScan:
        try:
            self._walk()
        except _Stop as stop:
            return TarScan(entries=tuple(self._found), problem=stop.problem)
        return TarScan(entries=tuple(self._found), problem=None)

    def _truncated(self, entry: str, offset: int, needed: int) -> _Stop:
        return _Stop(
            TarTruncated(
                tar=self._tar, entry=entry, offset=offset, needed=needed, file_size=self._size
            )
        )

    def _bad(self, offset: int, why: str) -> _Stop:
        return _Stop(BadTarHeader(tar=self._tar, entry=self._path or "", offset=offset, reason=why))

    def _walk(self) -> None:
        offset = 0
        while True:
            block = read_at(self._fd, offset, BLOCK_SIZE)
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
        second = read_at(self._fd, offset + BLOCK_SIZE, BLOCK_SIZE)
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
        data = read_at(self._fd, data_offset, header.size)
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
        entry = TarEntry(
            name=name,
            typeflag=header.typeflag,
            header_offset=start,
            data_offset=data_offset,
            size=size,
        )
        self._found.append(entry)
        if entry.end > self._size:
            raise self._truncated(name, data_offset, padded_size(size))
        return entry.end


def scan_tar(fd: int, tar: str, file_size: int) -> TarScan:
    """Scan a tar: the entries whose data is present, and what stopped the scan (if not the end).

    Raises ``OSError`` when the file cannot be read.
    """
    return _Scanner(fd, tar, file_size).scan()


def same_content(fd: int, one: TarEntry, other: TarEntry) -> bool:
    """Whether two entries hold the same bytes (compared a chunk at a time)."""
    if one.size != other.size:
        return False
    done = 0
    while done < one.size:
        step = min(CHUNK_SIZE, one.size - done)
        if read_at(fd, one.data_offset + done, step) != read_at(fd, other.data_offset + done, step):
            return False
        done += step
    return True


def check_repeat(fd: int, tar: str, earlier: TarEntry | None, entry: TarEntry) -> bool:
    """Whether ``entry`` repeats an ``earlier`` entry of its name (then it is skipped).

    The same name with different content is a ``DuplicateEntry``.
    """
    if earlier is None:
        return False
    if not same_content(fd, earlier, entry):
        raise TarAbort(DuplicateEntry(tar=tar, entry=entry.name))
    return True


# --- the file and its entries -------------------------------------------------------------


@final
@frozen(kw_only=True)
class FileIdentity:
    """What says a file is still the one that was indexed."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @staticmethod
    def of(info: os.stat_result) -> FileIdentity:
        return FileIdentity(
            device=info.st_dev, inode=info.st_ino, size=info.st_size, mtime_ns=info.st_mtime_ns
        )


def open_regular(path: Path, tar: str, noun: str) -> tuple[int, os.stat_result]:
    """Open the tar to index it: its descriptor and status (``noun`` names it in errors)."""
    with os_errors(tar, f"open the {noun}"):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with os_errors(tar, f"stat the {noun}"):
            info = os.fstat(fd)
    except TarAbort:
        os.close(fd)
        raise
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise TarAbort(
            TarIOFailure(tar=tar, operation=f"read the {noun}", reason="not a regular file")
        )
    return fd, info


def open_entry(
    path: Path, identity: FileIdentity, entry: TarEntry, digest: Digest, noun: str
) -> BinaryIO:
    """A verified stream of one entry, from a fresh descriptor of a file still ``identity``."""
    tar = str(path)
    with os_errors(tar, f"open entry '{entry.name}'"):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with os_errors(tar, f"stat the {noun}"):
            now = FileIdentity.of(os.fstat(fd))
        if now != identity:
            raise TarAbort(TarChanged(tar=tar, reason="size, inode or mtime differ"))
    except TarAbort:
        os.close(fd)
        raise
    raw = VerifiedEntryStream(fd, entry, digest, tar)
    return io.BufferedReader(raw, buffer_size=CHUNK_SIZE)


class VerifiedEntryStream(io.RawIOBase):
    """The data of one tar entry, read with ``pread``, hashed; the last read checks the digest.

    It owns ``fd`` and closes it.  A large entry is hashed beside the reads, on a thread
    of its own (:mod:`imgpkg_pure.store.registry.hashing`).
    """

    def __init__(self, fd: int, entry: TarEntry, digest: Digest, tar: str) -> None:
        super().__init__()
        self._fd = fd
        self._entry = entry
        self._digest = digest
        self._tar = tar
        self._hash = streaming_hash(digest.algorithm, entry.size)
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
            self._hash.stop()
            os.close(self._fd)
        super().close()


def store_error(error: TarError) -> StoreError:
    """A tar error in the vocabulary of ``BlobReader``: integrity errors as they are, the
    rest as a ``StoreIOFailure`` naming the tar."""
    match error:
        case DigestMismatch() | SizeMismatch() | MalformedDocument():
            return error
        case TarIOFailure():
            return StoreIOFailure(operation=error.operation, path=error.tar, reason=error.reason)
        case _:
            return StoreIOFailure(operation="read", path=error.tar, reason=error.message)


__all__ = [
    "REGULAR_TYPES",
    "CommonTarError",
    "CorruptEntryError",
    "EntryStreamError",
    "FileIdentity",
    "TarAbort",
    "TarEntry",
    "TarScan",
    "VerifiedEntryStream",
    "check_repeat",
    "open_entry",
    "open_regular",
    "os_errors",
    "read_at",
    "reason",
    "same_content",
    "scan_tar",
    "store_error",
]
