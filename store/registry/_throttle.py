"""Adaptive concurrency: how many blob transfers a run keeps in flight against busy registries.

Private to ``imgpkg_pure.store.registry``.  Commands run blob steps ``--concurrency``
at a time; a registry that answers ``429 Too Many Requests`` or ``503 Service
Unavailable`` is telling us that is too many.  :class:`Throttle` is the
client-side answer, additive increase / multiplicative decrease as TCP does:

* every blob transfer (an upload, or a download while its body is read) holds
  a slot for its duration; a thread that already holds one (an upload whose
  body is a download from another registry) does not take a second;
* an overload answer halves the limit (from the transfers in flight then, at
  least 1), at most once per ``cool_down`` seconds (one burst of 429s is one
  signal, not many);
* every ``recover_after`` transfers completed since the last change raise it by
  one, until it is back to where it was first cut (then it is lifted);
* a transfer waits at most ``max_wait`` seconds for a slot, then goes anyway:
  the throttle slows a run, it never deadlocks one.

:meth:`Throttle.limit` is shown on the progress line while it is in force.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

__all__ = ["Throttle"]

RECOVER_AFTER: Final = 4
COOL_DOWN_SECONDS: Final = 1.0
MAX_WAIT_SECONDS: Final = 60.0


class Throttle:
    """The limit on blob transfers in flight (thread-safe; see the module doc)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        recover_after: int = RECOVER_AFTER,
        cool_down: float = COOL_DOWN_SECONDS,
        max_wait: float = MAX_WAIT_SECONDS,
    ) -> None:
        self._clock = clock
        self._recover_after = max(1, recover_after)
        self._cool_down = cool_down
        self._max_wait = max_wait
        self._condition = threading.Condition()
        self._depth: dict[int, int] = {}  # thread -> slots it holds (re-entrant)
        self._in_flight = 0
        self._limit: int | None = None
        self._ceiling = 0
        self._completed_since = 0
        self._last_cut: float | None = None
        self.cuts = 0
        self.lowest: int | None = None

    def limit(self) -> int | None:
        """The limit in force, or None when transfers are not limited."""
        with self._condition:
            return self._limit

    @property
    def in_flight(self) -> int:
        with self._condition:
            return self._in_flight

    def overloaded(self) -> None:
        """A registry answered 429 or 503: halve the limit (once per ``cool_down``)."""
        with self._condition:
            now = self._clock()
            if self._last_cut is not None and now - self._last_cut < self._cool_down:
                return
            current = self._limit if self._limit is not None else max(1, self._in_flight)
            if self._limit is None:
                self._ceiling = current
            self._limit = max(1, current // 2)
            self._last_cut = now
            self._completed_since = 0
            self.cuts += 1
            self.lowest = self._limit if self.lowest is None else min(self.lowest, self._limit)

    def _completed(self) -> None:
        """Called with the lock held: one transfer done; maybe raise the limit by one."""
        if self._limit is None:
            return
        self._completed_since += 1
        if self._completed_since < self._recover_after:
            return
        self._completed_since = 0
        self._limit += 1
        if self._limit >= self._ceiling:
            self._limit = None
        self._condition.notify_all()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one transfer slot for the ``with`` block (re-entrant per thread)."""
        owner = threading.get_ident()
        with self._condition:
            depth = self._depth.get(owner, 0)
            if depth == 0:
                give_up = self._clock() + self._max_wait
                while self._limit is not None and self._in_flight >= self._limit:
                    left = give_up - self._clock()
                    if left <= 0:
                        break
                    self._condition.wait(min(left, 0.5))
                self._in_flight += 1
            self._depth[owner] = depth + 1
        try:
            yield
        finally:
            with self._condition:
                left_depth = self._depth.pop(owner, 1) - 1
                if left_depth:
                    self._depth[owner] = left_depth
                else:
                    self._in_flight -= 1
                    self._completed()
                    self._condition.notify_all()
