"""Atomic file output: write a temporary sibling, fsync, rename over the target.

An interrupted write leaves either the old file or the new one, never half of
one.  A new file is created 0600 (as imgpkg writes lock files); an existing
file keeps its mode (as imgpkg's pull rewrite of ``images.yml`` does).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess

from imgpkg_pure.errors import Fact


@frozen(kw_only=True)
class WriteFailure(Fact):
    """A file that could not be written."""

    path: str
    reason: str

    template = "writing '{path}': {reason}"


def write_atomically(path: str, data: bytes, new_mode: int = 0o600) -> IOResult[None, WriteFailure]:
    """Replace ``path`` with ``data`` atomically."""
    target = Path(path)
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = new_mode
    except OSError as exc:
        return IOFailure(WriteFailure(path=path, reason=exc.strerror or str(exc)))
    tmp_name = ""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
        tmp_name = ""
    except OSError as exc:
        return IOFailure(WriteFailure(path=path, reason=exc.strerror or str(exc)))
    finally:
        if tmp_name:
            Path(tmp_name).unlink(missing_ok=True)
    return IOSuccess(None)
