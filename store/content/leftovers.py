"""What a killed run leaves behind is found and removed by the next run (issue 11).

A run holds each of its work areas (a temporary directory: a staging store, an
extraction beside its output) with an exclusive ``flock`` on the directory
itself for as long as it lives.  The kernel drops the lock when the process
ends, however it ends (SIGKILL included), so a work area whose lock can be
taken belongs to no live run: :func:`sweep` removes those, and two live runs
never touch each other's areas.  :func:`claim` makes an area locked from its
first moment: the directory is created under a name no sweep looks at, locked,
then renamed to its real name (the lock stays with the directory).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path

__all__ = ["abandoned_files", "claim", "hold_file", "release", "sweep"]

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def claim(directory: Path, prefix: str, suffix: str = "") -> tuple[Path, int | None]:
    """A new directory ``prefix…suffix`` in ``directory``, held by this process; with the
    lock's fd (:func:`release` it), None when the file system cannot lock (no guard then).

    Raises ``OSError`` as ``tempfile.mkdtemp`` does.
    """
    fresh = Path(tempfile.mkdtemp(prefix=".claiming-", dir=directory))
    fd: int | None = None
    try:
        fd = os.open(fresh, _DIRECTORY_FLAGS)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        if fd is not None:
            os.close(fd)
        fd = None
    while True:
        named = directory / f"{prefix}{secrets.token_hex(6)}{suffix}"
        if named.exists():
            continue
        try:
            os.rename(fresh, named)
        except OSError:
            release(fd)
            shutil.rmtree(fresh, ignore_errors=True)
            raise
        return named, fd


def release(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def _abandoned(area: Path) -> bool:
    """Whether no live run holds ``area`` (see the module doc)."""
    try:
        fd = os.open(area, _DIRECTORY_FLAGS | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held: a live run's
    finally:
        os.close(fd)
    return True


def sweep(directory: Path, prefix: str, suffix: str = "") -> list[Path]:
    """Remove the work areas :func:`claim` made in ``directory`` with ``prefix`` and
    ``suffix`` that no live run holds; the ones removed.  Only names of :func:`claim`'s
    form are looked at (never a directory some other program, or a version that did not
    lock, made).  Best effort: what cannot be read or removed stays."""
    form = re.compile(re.escape(prefix) + r"[0-9a-f]{12}" + re.escape(suffix))
    removed: list[Path] = []
    with contextlib.suppress(OSError):
        for area in directory.glob(f"{glob.escape(prefix)}*{glob.escape(suffix)}"):
            if not form.fullmatch(area.name):
                continue
            if area.is_dir() and not area.is_symlink() and _abandoned(area):
                shutil.rmtree(area, ignore_errors=True)
                removed.append(area)
    return removed


def hold_file(fd: int) -> None:
    """Hold the work file open as ``fd`` for as long as it stays open (best effort)."""
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def abandoned_files(directory: Path, prefix: str, suffix: str = "") -> list[Path]:
    """The work files ``prefix<12 hex>suffix`` in ``directory`` that no live run holds
    (:func:`hold_file`), the newest first: a killed run's partial output."""
    form = re.compile(re.escape(prefix) + r"[0-9a-f]{12}" + re.escape(suffix))
    found: list[tuple[float, Path]] = []
    with contextlib.suppress(OSError):
        for path in directory.glob(f"{glob.escape(prefix)}*{glob.escape(suffix)}"):
            if not form.fullmatch(path.name):
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                found.append((os.fstat(fd).st_mtime, path))
            except OSError:
                pass  # held: a live run's
            finally:
                os.close(fd)
    return [path for _, path in sorted(found, reverse=True)]
