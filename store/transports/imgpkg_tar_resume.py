"""Resuming an imgpkg tarball write: what an earlier, perhaps partial, tar can give back (§5.9).

``open_previous`` scans the readable prefix of the destination and keeps every
complete layer entry the new tarball needs (same name, same size); the writer
then copies each through ``copy_previous``, which hashes it on the way and
says whether it is the right blob (if not, the writer fetches it instead).  So
nothing the old tar already holds intact is fetched again, whatever its state
(complete, cut short, or zero-filled by an interrupted parallel imgpkg write).

A destination that does not start with a tar header is refused
(``ResumeUnreadable``, imgpkg's ``Reading previously created tar``); a missing
destination makes ``resume`` a no-op.  Unlike imgpkg, reuse does not depend on
``--concurrency`` and needs no intact ``manifest.json``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import final

from imgpkg_pure.digest import Digest, hasher
from imgpkg_pure.imgpkg_tar import (
    BadTarHeader,
    ResumeUnreadable,
    TarLayer,
    TarPlan,
    entry_header,
)
from imgpkg_pure.store.content.blobstore import CHUNK_SIZE
from imgpkg_pure.store.transports.tar_members import REGULAR_TYPES, TarEntry, reason, scan_tar


@final
class PreviousTar:
    """The old destination, open as ``fd``, and its complete entries the new tar needs, by name.

    The writer closes it when it is done.
    """

    def __init__(self, fd: int, reusable: dict[str, TarEntry]) -> None:
        self.fd = fd
        self._reusable = reusable

    def entry(self, name: str) -> TarEntry | None:
        return self._reusable.get(name)

    def close(self) -> None:
        os.close(self.fd)


def open_previous(path: Path, plan: TarPlan, tar: str) -> PreviousTar | ResumeUnreadable | None:
    """The old file at ``path`` and what it holds for ``plan``; None when there is no file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return ResumeUnreadable(tar=tar, reason=reason(exc))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            return ResumeUnreadable(tar=tar, reason="not a regular file")
        scan = scan_tar(fd, tar, info.st_size)
    except OSError as exc:
        os.close(fd)
        return ResumeUnreadable(tar=tar, reason=reason(exc))
    if not scan.entries and isinstance(scan.problem, BadTarHeader):
        os.close(fd)
        return ResumeUnreadable(tar=tar, reason=scan.problem.message)
    wanted = {layer.entry_name: layer.size for layer in plan.layers}
    reusable: dict[str, TarEntry] = {}
    for entry in scan.entries:
        if entry.typeflag in REGULAR_TYPES and wanted.get(entry.name) == entry.size:
            reusable.setdefault(entry.name, entry)
    return PreviousTar(fd, reusable)


def copy_previous(
    old: int, entry: TarEntry, layer: TarLayer, write: Callable[[bytes], None]
) -> bool:
    """Copy an old entry through ``write``, hashing it; whether it was the right blob."""
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
        write(chunk)
        done += len(chunk)
    return Digest(layer.digest.algorithm, digest.hexdigest()) == layer.digest


def open_partial(path: Path, slots: list[tuple[TarLayer, int, int]]) -> PreviousTar | None:
    """A killed run's partial tarball for the same plan: its layers sit where ``slots`` (the
    new plan's header and data offsets) put them, so each slot whose header is exactly the
    one planned is a candidate (``copy_previous`` still hashes it).  Holes left by writes
    that never happened fail that check; None when there is nothing to reuse."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    reusable: dict[str, TarEntry] = {}
    try:
        size = os.fstat(fd).st_size
        for layer, header_at, data_at in slots:
            header = entry_header(layer.entry_name, layer.size)
            if data_at + layer.size > size or os.pread(fd, len(header), header_at) != header:
                continue
            reusable[layer.entry_name] = TarEntry(
                name=layer.entry_name,
                typeflag=b"0",
                header_offset=header_at,
                data_offset=data_at,
                size=layer.size,
            )
    except OSError:
        reusable = {}
    if not reusable:
        os.close(fd)
        return None
    return PreviousTar(fd, reusable)


__all__ = ["PreviousTar", "copy_previous", "open_partial", "open_previous"]
