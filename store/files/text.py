"""Small text files the user names (lock files), read whole."""

from __future__ import annotations

from pathlib import Path

from returns.io import IOFailure, IOResult, IOSuccess

from imgpkg_pure.store.content.atomic import WriteFailure

__all__ = ["read_text_file"]


def read_text_file(path: str) -> IOResult[str, WriteFailure]:
    """A small text file (a lock file), or a failure naming it."""
    try:
        return IOSuccess(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return IOFailure(WriteFailure(path=path, reason=str(exc)))
