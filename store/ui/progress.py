"""A one-line progress display for long transfers, on a terminal only.

It counts blobs and bytes as the interpreter finishes blob steps and redraws
one line on stderr (``\\r``): blobs done, bytes, rate, ETA, and, while a busy
registry (429, 503) has the client move fewer blobs at a time, how many
(``limit``: the registry client's ``transfers_limit``).  When stderr is not a
terminal it prints nothing, so logs and pipes stay clean.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from imgpkg_pure.plan.steps import Plan, PutBlob, Step


def human_bytes(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if count < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def human_seconds(seconds: float) -> str:
    total = int(seconds + 0.5)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Blob and byte counters with a throttled one-line display."""

    def __init__(
        self,
        plan: Plan,
        *,
        prefix: str = "",
        stream: TextIO | None = None,
        enabled: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        limit: Callable[[], int | None] | None = None,
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._limit = limit
        self.enabled = self._stream.isatty() if enabled is None else enabled
        blobs = [s for s in plan.steps if isinstance(s, PutBlob)]
        self.total_blobs = len(blobs)
        self.total_bytes = sum(s.descriptor.size for s in blobs)
        self.done_blobs = 0
        self.done_bytes = 0
        self.moved_bytes = 0
        self._prefix = prefix
        self._clock = clock
        self._start = clock()
        self._last_draw = 0.0
        self._lock = threading.Lock()
        self._drawn = False

    def on_step(self, step: Step, changed: bool) -> None:
        if not isinstance(step, PutBlob):
            return
        with self._lock:
            self.done_blobs += 1
            self.done_bytes += step.descriptor.size
            if changed:
                self.moved_bytes += step.descriptor.size
            now = self._clock()
            if self.enabled and (
                now - self._last_draw >= 0.2 or self.done_blobs == self.total_blobs
            ):
                self._last_draw = now
                self._draw(now)

    def line(self, now: float | None = None) -> str:
        elapsed = max(1e-6, (self._clock() if now is None else now) - self._start)
        rate = self.moved_bytes / elapsed
        remaining = self.total_bytes - self.done_bytes
        eta = human_seconds(remaining / rate) if rate > 0 and remaining > 0 else "0:00"
        limited = self._limit() if self._limit is not None else None
        slowed = "" if limited is None else f", registry busy: {limited} at a time"
        return (
            f"{self._prefix}{self.done_blobs}/{self.total_blobs} blobs, "
            f"{human_bytes(self.done_bytes)} of {human_bytes(self.total_bytes)}, "
            f"{human_bytes(rate)}/s, ETA {eta}{slowed}"
        )

    def _draw(self, now: float) -> None:
        self._stream.write("\r\x1b[K" + self.line(now))
        self._stream.flush()
        self._drawn = True

    def finish(self) -> None:
        """End the progress line (a newline), if one was drawn."""
        with self._lock:
            if self._drawn:
                self._stream.write("\n")
                self._stream.flush()
                self._drawn = False
