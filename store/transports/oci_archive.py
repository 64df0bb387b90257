"""Read a tar of an OCI image layout (skopeo's ``oci-archive:`` transport).

The archive holds an image layout (image-spec ``image-layout.md``) at its
root: ``oci-layout``, ``index.json`` and ``blobs/<alg>/<encoded>``.  Names may
start with ``./``; directory entries are accepted; other files are allowed
(the spec allows them) and ignored.

**Reading.**  ``OciArchive.at(path)`` indexes the file in one sequential pass
over its headers, seeking over the data (``tar_members.scan_tar``): for every
entry its name, where its data starts and how long it is.  Nothing is
extracted.  It refuses, with one line naming the file and the entry:

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

**Writing**: ``write_oci_archive`` (``oci_archive_writer``), re-exported here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import BinaryIO, Final, final

from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure, Result, Success
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import HEX_LENGTH, Digest, parse_digest
from imgpkg_pure.errors import DigestMismatch, MalformedDocument, SizeMismatch
from imgpkg_pure.imgpkg_tar import (
    BadTarHeader,
    DuplicateEntry,
    TarChanged,
    TarIOFailure,
    TarTruncated,
    UnexpectedEntry,
    type_name,
)
from imgpkg_pure.imgpkg_tar.errors import shown
from imgpkg_pure.layer.tar_header import TYPE_DIR
from imgpkg_pure.oci import Descriptor, ImageIndex, parse_index
from imgpkg_pure.store.content.blobstore import root_name
from imgpkg_pure.store.content.errors import BlobNotFound, RootNotFound, StoreError, StoreIOFailure
from imgpkg_pure.store.content.local_layout import (
    BLOBS_DIR,
    INDEX_FILE,
    LAYOUT_FILE,
    LAYOUT_VERSION,
)
from imgpkg_pure.store.transports.oci_archive_writer import ArchiveWriteReport, write_oci_archive
from imgpkg_pure.store.transports.tar_members import (
    REGULAR_TYPES,
    CorruptEntryError,
    FileIdentity,
    TarAbort,
    TarEntry,
    check_repeat,
    open_entry,
    open_regular,
    os_errors,
    read_at,
    reason,
    scan_tar,
    store_error,
)

#: The largest ``oci-layout`` and ``index.json`` the reader holds in memory.
MAX_LAYOUT_FILE: Final = 64 << 10
MAX_INDEX_JSON: Final = 64 << 20

ArchiveEntry = TarEntry
"""One entry of the archive (the entry type both tar readers share)."""


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
    """Internal: carries the reader's own error value out of nested helpers."""

    def __init__(self, error: ArchiveError) -> None:
        super().__init__(error)
        self.error = error


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
        blobs: dict[Digest, TarEntry],
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
        except (_Abort, TarAbort) as abort:
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
            return IOSuccess(open_entry(self._path, self._identity, entry, digest, "archive"))
        except TarAbort as abort:
            return IOFailure(store_error(abort.error))

    def read_bytes(self, digest: Digest) -> IOResult[bytes, StoreError]:
        """A whole blob, verified (for manifests and configs; layers are better streamed)."""
        opened = self.open(digest)
        if isinstance(opened, IOFailure):
            return opened
        try:
            with unsafe_perform_io(opened.unwrap()) as stream:
                return IOSuccess(stream.read())
        except CorruptEntryError as exc:
            return IOFailure(store_error(exc.error))
        except OSError as exc:
            return IOFailure(StoreIOFailure(operation="read", path=self._tar, reason=reason(exc)))

    def iter_blobs(self) -> IOResult[tuple[Digest, ...], StoreError]:
        return IOSuccess(tuple(sorted(self._blobs, key=str)))


def _small_file(fd: int, tar: str, files: dict[str, TarEntry], name: str, limit: int) -> bytes:
    entry = files.get(name)
    if entry is None:
        raise _Abort(NotAnArchive(tar=tar, reason=f"no {name} entry"))
    if entry.size > limit:
        raise _Abort(EntryTooLarge(tar=tar, entry=name, size=entry.size, limit=limit))
    with os_errors(tar, f"read {name}"):
        return read_at(fd, entry.data_offset, entry.size)


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
    fd, info = open_regular(path, tar, "archive")
    try:
        files = _layout_files(fd, tar, info.st_size)
        blobs: dict[Digest, TarEntry] = {}
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


def _layout_files(fd: int, tar: str, file_size: int) -> dict[str, TarEntry]:
    """The regular files of the archive by layout path (entries checked in file order)."""
    files: dict[str, TarEntry] = {}
    directories: set[str] = set()
    with os_errors(tar, "read the archive"):
        scan = scan_tar(fd, tar, file_size)
        for entry in scan.entries:
            named = member_name(entry.name)
            if isinstance(named, Failure):
                raise _Abort(UnexpectedEntry(tar=tar, entry=entry.name, reason=named.failure()))
            name = named.unwrap()
            if entry.typeflag == TYPE_DIR:
                if name in files:
                    raise _Abort(
                        UnexpectedEntry(
                            tar=tar, entry=entry.name, reason="it is both a file and a directory"
                        )
                    )
                directories.add(name)
                continue
            if entry.typeflag not in REGULAR_TYPES:
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
            if not check_repeat(fd, tar, files.get(name), entry):
                files[name] = entry
    if scan.problem is not None:
        raise _Abort(scan.problem)
    return files


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
