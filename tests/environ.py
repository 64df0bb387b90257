"""Environment variables set for a ``with`` block, then put back as they were."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

__all__ = ["environ"]


@contextmanager
def environ(values: Mapping[str, str | None]) -> Iterator[None]:
    """``os.environ`` with ``values`` (``None``: unset) during the block, as before after it.

    ``os.environ`` itself rather than ``monkeypatch``: hypothesis tests may not use that
    fixture, and the subprocesses a test starts inherit what is set here."""
    before = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
