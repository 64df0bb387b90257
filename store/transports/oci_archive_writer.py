"""Write an OCI image layout directory as a tar (skopeo's ``oci-archive:`` transport).

``write_oci_archive(layout, path)`` writes the layout directory ``layout``
(``oci-layout``, ``index.json``, every blob) as a deterministic tar: entries
``oci-layout``, ``index.json``, ``blobs/``, then per algorithm ``blobs/<alg>/``
and its blobs, each in sorted order; files 0644 and directories 0755, uid/gid
0, mtime 0, no user or group names (Go ``archive/tar`` headers,
``imgpkg_pure.layer.tar_header``), and two zero blocks at the end.  The same
layout content gives the same bytes.  Blobs are streamed in 1 MiB chunks,
hashed and checked against their names on the way, into a temporary file
beside ``path`` that is synced and renamed over it only when complete
(``tar_output.replacing``); any failure removes the temporary file and leaves
``path`` as it was.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Final, final

from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure

from imgpkg_pure.digest import Digest, hasher, parse_digest
from imgpkg_pure.errors import DigestMismatch, SizeMismatch
from imgpkg_pure.imgpkg_tar import TarIOFailure
from imgpkg_pure.layer.tar_header import (
    BLOCK_SIZE,
    END_OF_ARCHIVE,
    TYPE_DIR,
    TYPE_REG,
    encode_header,
    padded_size,
    padding,
)
from imgpkg_pure.store.content.blobstore import CHUNK_SIZE
from imgpkg_pure.store.content.local_layout import BLOBS_DIR, INDEX_FILE, LAYOUT_FILE
from imgpkg_pure.store.transports.tar_members import CommonTarError, TarAbort, os_errors
from imgpkg_pure.store.transports.tar_output import replacing

FILE_MODE: Final = 0o644
DIR_MODE: Final = 0o755


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
    with os_errors(tar, f"list {blobs_dir}"):
        algorithms = sorted(e.name for e in os.scandir(blobs_dir) if e.is_dir())
    for algorithm in algorithms:
        with os_errors(tar, f"list {blobs_dir / algorithm}"):
            names = sorted(e.name for e in os.scandir(blobs_dir / algorithm) if e.is_file())
        digests: list[Digest] = []
        for name in names:
            parsed = parse_digest(f"{algorithm}:{name}")
            if isinstance(parsed, Failure):
                raise TarAbort(
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


def _write_blob(out: BinaryIO, source: Path, digest: Digest, tar: str) -> int:
    """Stream one blob file into the archive (header, data, padding), checking its digest."""
    name = f"{BLOBS_DIR}/{digest.algorithm}/{digest.hex}"
    with os_errors(tar, f"read {source}"), open(source, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        with os_errors(tar, "write the temporary file"):
            out.write(_file_header(name, size))
        hashed = hasher(digest.algorithm)
        count = 0
        while chunk := handle.read(CHUNK_SIZE):
            count += len(chunk)
            if count > size:
                break
            hashed.update(chunk)
            with os_errors(tar, "write the temporary file"):
                out.write(chunk)
    if count != size:
        raise TarAbort(SizeMismatch(what=f"{source}", expected=size, actual=count))
    actual = Digest(digest.algorithm, hashed.hexdigest())
    if actual != digest:
        raise TarAbort(DigestMismatch(what=str(source), expected=str(digest), actual=str(actual)))
    with os_errors(tar, "write the temporary file"):
        out.write(padding(size))
    return BLOCK_SIZE + padded_size(size)


def write_oci_archive(layout: Path, path: Path) -> IOResult[ArchiveWriteReport, CommonTarError]:
    """Write the OCI layout directory ``layout`` as a tar at ``path`` (see the module doc)."""
    try:
        return IOSuccess(_write(layout, path))
    except TarAbort as abort:
        return IOFailure(abort.error)


def _write(layout: Path, path: Path) -> ArchiveWriteReport:
    tar = str(path)
    small: list[tuple[str, bytes]] = []
    for name in (LAYOUT_FILE, INDEX_FILE):
        with os_errors(tar, f"read {layout / name}"):
            small.append((name, (layout / name).read_bytes()))
    by_algorithm = _layout_blobs(layout, tar)
    size = 0
    with replacing(path, tar) as out:
        with os_errors(tar, "write the temporary file"):
            for name, data in small:
                out.write(_file_header(name, len(data)) + data + padding(len(data)))
                size += BLOCK_SIZE + padded_size(len(data))
            out.write(_dir_header(f"{BLOBS_DIR}/"))
            size += BLOCK_SIZE
        for algorithm, digests in by_algorithm:
            with os_errors(tar, "write the temporary file"):
                out.write(_dir_header(f"{BLOBS_DIR}/{algorithm}/"))
            size += BLOCK_SIZE
            for digest in digests:
                source = layout / BLOBS_DIR / algorithm / digest.hex
                size += _write_blob(out, source, digest, tar)
        with os_errors(tar, "write the temporary file"):
            out.write(END_OF_ARCHIVE)
            out.flush()
        size += len(END_OF_ARCHIVE)
    return ArchiveWriteReport(
        path=tar,
        size=size,
        blobs=tuple(digest for _, digests in by_algorithm for digest in digests),
    )


__all__ = ["ArchiveWriteReport", "write_oci_archive"]
