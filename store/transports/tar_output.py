"""Writing a tar file all or nothing: what both tar writers share.

``replacing(path, tar)`` hands out a temporary file beside ``path`` (created
``O_EXCL``, 0666 minus the umask as Go's ``os.Create``); when the ``with``
block ends normally the file is flushed, synced and renamed over ``path``,
and the directory is synced.  When the block raises, the temporary file is
removed and ``path`` is left as it was.  While the run lives it holds its
temporary (``flock``), so one that a killed run left is told apart
(:func:`abandoned_temporaries`) and reused or removed by the next run.
Failures of the file system are ``TarIOFailure`` values naming the tar
(raised as ``TarAbort``).
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from imgpkg_pure.imgpkg_tar import TarIOFailure
from imgpkg_pure.store.content.blobstore import CHUNK_SIZE
from imgpkg_pure.store.content.leftovers import abandoned_files, hold_file
from imgpkg_pure.store.transports.tar_members import TarAbort, os_errors, reason


def _create_temporary(path: Path, tar: str) -> tuple[Path, BinaryIO]:
    while True:
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            # 0666 minus the umask, as imgpkg's os.Create.
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise TarAbort(
                TarIOFailure(
                    tar=tar, operation="create a temporary file beside it", reason=reason(exc)
                )
            ) from exc
        hold_file(fd)  # held while this run lives: a killed run's is found by the next
        return temporary, os.fdopen(fd, "wb", buffering=CHUNK_SIZE)


def abandoned_temporaries(path: Path) -> list[Path]:
    """The temporaries beside ``path`` that killed runs left (no live run holds them),
    the newest first: partial output whose verified entries a new write may reuse."""
    return abandoned_files(path.parent, f".{path.name}.", ".tmp")


def _sync_directory(directory: Path, tar: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise TarAbort(
                TarIOFailure(tar=tar, operation="sync its directory", reason=reason(exc))
            ) from exc


@contextmanager
def replacing(path: Path, tar: str) -> Iterator[BinaryIO]:
    """A temporary file that replaces ``path`` once the block completes (see the module doc)."""
    temporary: Path | None = None
    try:
        temporary, handle = _create_temporary(path, tar)
        with handle:
            yield handle
            with os_errors(tar, "sync the temporary file"):
                handle.flush()
                os.fsync(handle.fileno())
        with os_errors(tar, "rename the temporary file over it"):
            os.replace(temporary, path)
        temporary = None
        _sync_directory(path.parent, tar)
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)


__all__ = ["abandoned_temporaries", "replacing"]
