"""File-system primitives of the local store: the only places its ``OSError`` is caught.

``LocalStore`` (``local``), its writers (``local_ingest``) and the layout
set-up (``local_layout``) build on these: each turns an ``OSError`` into a
``StoreIOFailure`` naming the path, raised as ``StoreAbort`` and returned as
an ``IOFailure`` by the public method (``effect``).  They also own the
locking rules of the module doc of ``local``: ``flock`` on ``.lock`` for root
updates and gc (``exclusive``), an exclusive lock held on each ingest file for
as long as its writer is alive (``new_locked_file``; ``remove_if_stale`` takes
only files nobody holds), and whole-file replacement through a locked
temporary file, ``fsync``, ``rename`` and a directory ``fsync``
(``write_file_atomically``).
"""

from __future__ import annotations

import errno
import fcntl
import functools
import hashlib
import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import ParamSpec, TypeVar

from returns.io import IOFailure, IOResult, IOSuccess

from imgpkg_pure.digest import Algorithm, Digest
from imgpkg_pure.store.content.blobstore import CHUNK_SIZE
from imgpkg_pure.store.content.errors import StoreError, StoreIOFailure

_P = ParamSpec("_P")
_T = TypeVar("_T")


class StoreAbort(Exception):
    """Internal: carries an error value out of nested helpers to the public method."""

    def __init__(self, error: StoreError) -> None:
        super().__init__(error)
        self.error = error


def os_failure(operation: str, path: Path | str, exc: OSError) -> StoreAbort:
    reason = exc.strerror or str(exc)
    return StoreAbort(StoreIOFailure(operation=operation, path=str(path), reason=reason))


@contextmanager
def os_errors(operation: str, path: Path | str) -> Iterator[None]:
    """Turn an ``OSError`` raised inside into a ``StoreIOFailure`` naming ``path``."""
    try:
        yield
    except OSError as exc:
        raise os_failure(operation, path, exc) from exc


def effect(fn: Callable[_P, _T]) -> Callable[_P, IOResult[_T, StoreError]]:
    """Run ``fn``; its value becomes ``IOSuccess``, a ``StoreAbort`` becomes ``IOFailure``."""

    @functools.wraps(fn)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> IOResult[_T, StoreError]:
        try:
            return IOSuccess(fn(*args, **kwargs))
        except StoreAbort as abort:
            return IOFailure(abort.error)

    return run


def fsync_dir(path: Path) -> None:
    with os_errors("sync directory", path):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def ensure_dir(path: Path) -> None:
    """Create ``path`` (and make its entry durable) if it is missing."""
    if path.is_dir():
        return
    with os_errors("create directory", path):
        path.mkdir(parents=True, exist_ok=True)
    fsync_dir(path.parent)


def unlink_quietly(path: Path) -> None:
    """Remove ``path``; already gone is fine, other failures are reported."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise os_failure("remove", path, exc) from exc


def touch_quietly(path: Path) -> None:
    """Refresh a blob's mtime (its gc grace); a blob owned by another user stays as it is."""
    with suppress(OSError):
        os.utime(path)


def write_all(fd: int, data: bytes, path: Path) -> None:
    view = memoryview(data)
    with os_errors("write", path):
        while view:
            written = os.write(fd, view)
            view = view[written:]


def hash_fd(fd: int, algorithm: Algorithm, path: Path) -> tuple[Digest, int]:
    """Hash a file from offset 0 in ``CHUNK_SIZE`` reads; its digest and length."""
    h = hashlib.new(algorithm)
    offset = 0
    with os_errors("read", path):
        while chunk := os.pread(fd, CHUNK_SIZE, offset):
            h.update(chunk)
            offset += len(chunk)
    return Digest(algorithm, h.hexdigest()), offset


@contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (created if missing)."""
    with _locked(lock_path, fcntl.LOCK_EX):
        yield


@contextmanager
def shared(lock_path: Path) -> Iterator[None]:
    """Hold a shared ``flock`` on ``lock_path``: many holders at once, none while an
    :func:`exclusive` holder (gc, prune, a root update) works."""
    with _locked(lock_path, fcntl.LOCK_SH):
        yield


@contextmanager
def shared_on(fd: int, lock_path: Path) -> Iterator[None]:
    """:func:`shared` on a descriptor of ``lock_path`` its caller keeps open (a run's lease
    takes the lock once per digest: no open and close each time).  ``flock`` belongs to the
    open file, not the thread: the caller serialises its own uses of ``fd``."""
    with os_errors("lock", lock_path):
        fcntl.flock(fd, fcntl.LOCK_SH)
    try:
        yield
    finally:
        with suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)


@contextmanager
def _locked(lock_path: Path, how: int) -> Iterator[None]:
    with os_errors("open lock file", lock_path):
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        with os_errors("lock", lock_path):
            fcntl.flock(fd, how)
        yield
    finally:
        os.close(fd)


def new_locked_file(directory: Path, kind: str) -> tuple[int, Path]:
    """Create ``directory/<kind>-<random>`` exclusively and hold its ``flock``.

    gc may take the lock of a file between its creation and our ``flock``
    (it would look stale) and remove it; so after locking we check that the
    name still leads to our file, and start over if it does not.
    """
    while True:
        path = directory / f"{kind}-{secrets.token_hex(16)}"
        with os_errors("create ingest file", path):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            with os_errors("lock ingest file", path):
                fcntl.flock(fd, fcntl.LOCK_EX)
                mine = os.fstat(fd)
            try:
                current = os.stat(path)
            except FileNotFoundError:
                os.close(fd)
                continue
            except OSError as exc:
                raise os_failure("stat ingest file", path, exc) from exc
            if (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
                return fd, path
            os.close(fd)
        except BaseException:
            os.close(fd)
            raise


def remove_if_stale(path: Path) -> bool:
    """Remove an ingest file nobody holds a ``flock`` on; whether it was removed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise os_failure("open ingest file", path, exc) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live writer holds it
        except OSError as exc:
            raise os_failure("lock ingest file", path, exc) from exc
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False  # its writer committed or aborted meanwhile
        except OSError as exc:
            raise os_failure("remove stale ingest file", path, exc) from exc
        return True
    finally:
        os.close(fd)


#: ``open(2)`` flags of a nameless file (Linux ``O_TMPFILE``); 0 where there is none.
_ANONYMOUS = getattr(os, "O_TMPFILE", 0)


def write_anonymous(directory: Path, pieces: Sequence[bytes], *, durable: bool) -> int | None:
    """``pieces`` (in order) in a new read-only file with no name yet, on ``directory``'s
    file system (``O_TMPFILE``): its open descriptor, for :func:`link_anonymous`; None where
    the system or the file system has no such files (the caller writes an ingest instead).

    A process killed before the link leaves nothing behind: the kernel frees the file."""
    if not _ANONYMOUS:
        return None
    try:
        fd = os.open(directory, _ANONYMOUS | os.O_WRONLY | os.O_CLOEXEC, 0o444)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOTSUP):
            return None
        raise os_failure("create blob file", directory, exc) from exc
    try:
        for piece in pieces:
            write_all(fd, piece, directory)
        if durable:
            with os_errors("sync", directory):
                os.fsync(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def link_anonymous(fd: int, target: Path) -> bool | None:
    """Give the file of :func:`write_anonymous` the name ``target`` (closing ``fd``);
    whether ``target`` already existed (the same content: names are digests), or None when
    the file cannot be named this way (no ``/proc``)."""
    try:
        # ``/proc/self/fd/N`` names the open file; linkat(2) must follow that link, which
        # os.link asks for only when given a directory descriptor (the path is absolute,
        # so the descriptor is not used as one).
        os.link(f"/proc/self/fd/{fd}", target, src_dir_fd=fd)
    except FileExistsError:
        touch_quietly(target)
        return True
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            return None
        raise os_failure("store blob", target, exc) from exc
    finally:
        os.close(fd)
    return False


def write_file_atomically(target: Path, data: bytes, scratch: Path) -> None:
    """Replace ``target`` by ``data``: temporary file in ``scratch``, fsync, rename, fsync."""
    ensure_dir(scratch)
    fd, temp = new_locked_file(scratch, target.name)
    try:
        write_all(fd, data, temp)
        with os_errors("sync", temp):
            os.fsync(fd)
        with os_errors("replace", target):
            os.replace(temp, target)
        fsync_dir(target.parent)
    except BaseException:
        unlink_quietly(temp)
        raise
    finally:
        os.close(fd)


def read_file(path: Path, operation: str) -> bytes | None:
    """The bytes of ``path``, or ``None`` when it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise os_failure(operation, path, exc) from exc


__all__ = [
    "StoreAbort",
    "effect",
    "ensure_dir",
    "exclusive",
    "fsync_dir",
    "hash_fd",
    "link_anonymous",
    "new_locked_file",
    "os_errors",
    "os_failure",
    "read_file",
    "remove_if_stale",
    "shared",
    "shared_on",
    "touch_quietly",
    "unlink_quietly",
    "write_all",
    "write_anonymous",
    "write_file_atomically",
]
