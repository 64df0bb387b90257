"""The local store's policy: sizes and ages as users write them, and what to evict first.

The store (``imgpkg_pure.store.content.mirror``) keeps everything a command
read or wrote; these rules decide, without touching it, what a size bound or
an age limit removes.  Eviction is least recently used first, and what a
root (a reference the store recorded) reaches goes last: a blob nothing names
is the cheapest to lose, a layer of an image the user pulled yesterday the
dearest.  What a running command holds (its lease) is never chosen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final, final

from attrs import frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.digest import Digest
from imgpkg_pure.duration import parse_go_duration
from imgpkg_pure.push import UsageError

__all__ = [
    "DEFAULT_MAX_SIZE",
    "BlobUse",
    "Eviction",
    "evict_older_than",
    "evict_to_size",
    "format_size",
    "parse_age",
    "parse_size",
]

#: The size the store is kept under when nothing else is said (4 GiB).
DEFAULT_MAX_SIZE: Final = 4 << 30

_SIZE = r"(?i)\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)\s*"  # compiled on first use
_POWERS: Final = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
_DAYS = r"(\d+(?:\.\d*)?)([dw])"  # compiled on first use


def parse_size(text: str, flag: str) -> Result[int, UsageError]:
    """Bytes in ``text``: ``4GiB``, ``4Gi``, ``4G`` and ``4g`` (powers of 1024), ``4GB``
    (of 1000), ``512MiB``, ``1.5T``, or a plain number of bytes."""
    match = re.fullmatch(_SIZE, text)
    if match is None:
        return Failure(
            UsageError(
                reason=f'invalid argument "{text}" for "{flag}" flag: expected a size such as '
                "4GiB, 500MB or 1048576"
            )
        )
    number, unit, suffix = match.group(1), match.group(2).lower(), match.group(3).lower()
    base = 1000 if suffix == "b" and unit else 1024
    return Success(int(float(number) * base ** _POWERS[unit]))


def parse_age(text: str, flag: str) -> Result[float, UsageError]:
    """Seconds in ``text``: a Go duration (``36h``, ``90m``) that may also count days
    (``d``) and weeks (``w``): ``30d``, ``1w2d``, ``1d12h``."""
    seconds = 0.0
    for match in re.finditer(_DAYS, text):
        seconds += float(match.group(1)) * (86400.0 if match.group(2) == "d" else 604800.0)
    rest = re.sub(_DAYS, "", text)
    if not rest:
        if seconds:
            return Success(seconds)
        rest = text  # nothing at all: let the duration parser word the error
    parsed = parse_go_duration(rest, flag).map(lambda more: seconds + more)
    if isinstance(parsed, Failure):
        return Failure(
            UsageError(
                reason=f'invalid argument "{text}" for "{flag}" flag: expected a duration such '
                "as 30d, 1w, 12h or 90m"
            )
        )
    return parsed


def format_size(size: int) -> str:
    """``1.5 GiB``, ``320 KiB``, ``17 B``: a size for people."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


@final
@frozen(kw_only=True)
class BlobUse:
    """One stored blob as eviction sees it: its size, when it was last read or written
    (seconds since the epoch), whether a root reaches it, whether a live command holds it."""

    digest: Digest
    size: int
    last_used: float
    rooted: bool
    held: bool = False


@final
@frozen(kw_only=True)
class Eviction:
    """What to delete (in order), and the size the store has afterwards."""

    evict: tuple[Digest, ...]
    size_after: int


def _order(blobs: Iterable[BlobUse]) -> list[BlobUse]:
    """Least recently used first; blobs a root reaches after every other one."""
    return sorted(blobs, key=lambda b: (b.rooted, b.last_used, b.digest))


def evict_to_size(blobs: Iterable[BlobUse], max_size: int) -> Eviction:
    """The blobs to delete so the store holds at most ``max_size`` bytes: least recently
    used first, rooted ones last, held ones never (so the bound may stay exceeded by
    what running commands hold)."""
    every = list(blobs)
    total = sum(b.size for b in every)
    chosen: list[Digest] = []
    for blob in _order(every):
        if total <= max_size:
            break
        if blob.held:
            continue
        chosen.append(blob.digest)
        total -= blob.size
    return Eviction(evict=tuple(chosen), size_after=total)


def evict_older_than(blobs: Iterable[BlobUse], cutoff: float) -> Eviction:
    """The blobs last used before ``cutoff`` (unrooted first, then rooted; never held ones)."""
    every = list(blobs)
    chosen = [b for b in _order(every) if b.last_used < cutoff and not b.held]
    gone = {b.digest for b in chosen}
    return Eviction(
        evict=tuple(b.digest for b in chosen),
        size_after=sum(b.size for b in every if b.digest not in gone),
    )
