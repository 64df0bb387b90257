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

**Early writeback.**  While the block runs, a thread asks the kernel every
:data:`WRITEBACK_EVERY` seconds to write what has reached the file so far
(``fdatasync``), so the disk works while the network does and the one ``fsync``
at the end has little left to wait for (measured in ``docs/benchmarks.md``:
a 256 MiB tarball's final sync fell from ~0.13 s to ~0.03 s).  It changes no
guarantee: the output is still synced once, whole, before it is renamed.
"""

from __future__ import annotations

import errno
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Final

from imgpkg_pure.imgpkg_tar import TarIOFailure
from imgpkg_pure.store.content.blobstore import CHUNK_SIZE
from imgpkg_pure.store.content.leftovers import abandoned_files, hold_file
from imgpkg_pure.store.transports.tar_members import TarAbort, os_errors, reason

#: Seconds between the early writeback's syncs (see the module doc).
WRITEBACK_EVERY: Final = 0.05


class _Writeback:
    """Syncs ``fd`` every :data:`WRITEBACK_EVERY` seconds until stopped (a daemon thread).

    Its syncs are a head start only: an error in one is ignored here, the final
    ``fsync`` (which the caller makes and checks) reports it.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tar-writeback", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(WRITEBACK_EVERY):
            try:
                os.fdatasync(self._fd)
            except OSError:
                return

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


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
            writeback = _Writeback(handle.fileno())
            try:
                yield handle
            finally:
                writeback.stop()  # before the file is closed: its fd is not reused under it
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


__all__ = ["WRITEBACK_EVERY", "abandoned_temporaries", "replacing"]
