"""``Closing``: the ``with`` block of the registry room's resources, written once.

A client, a URL fetcher, a verified stream and a foreign layer's temporary copy
each hold something to release (connections, a file); leaving their ``with``
block calls their ``close`` (``contextlib.closing``, as a base class).
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["Closing"]


class Closing:
    """A base for resources used in ``with`` blocks: leaving the block calls ``close``."""

    __slots__ = ()

    def close(self) -> None:
        """Release what the resource holds; a subclass defines it (idempotent)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
