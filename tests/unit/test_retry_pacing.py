"""Retry pacing and adaptive concurrency, counted (no clock, no network).

* :class:`Attempts`: full-jitter backoff (the jitter source is injected, so the
  pauses are counted, never timed), ``Retry-After`` in seconds and as an
  HTTP-date, the retry count and the overall deadline, progress giving the
  tries back;
* :class:`Throttle`: halved on overload (once per cool-down), raised by one
  every few completions, lifted back at its first ceiling; shown on the
  progress line while in force.
"""

from __future__ import annotations

import email.utils
import io
import threading

import httpx

from imgpkg_pure.digest import Digest
from imgpkg_pure.oci.values import Descriptor
from imgpkg_pure.plan.steps import Plan, PutBlob, RegistryTarget
from imgpkg_pure.store.registry._http import Attempts, Pacing, backoff, retry_after
from imgpkg_pure.store.registry._throttle import Throttle
from imgpkg_pure.store.ui.progress import Progress

NOW = 1_700_000_000.0


def _answer(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("GET", "http://r/v2/"))


class Pauses:
    """Records pauses; jitter returns a fixed share of each ceiling."""

    def __init__(self, share: float = 0.5) -> None:
        self.slept: list[float] = []
        self.ceilings: list[float] = []
        self.share = share
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def jitter(self, ceiling: float) -> float:
        self.ceilings.append(ceiling)
        return ceiling * self.share

    def pacing(self) -> Pacing:
        return Pacing(
            sleep=self.sleep, jitter=self.jitter, clock=lambda: self.now, wall_clock=lambda: NOW
        )


def test_backoff_doubles_to_its_cap_with_full_jitter() -> None:
    pauses = Pauses(share=0.25)
    attempts = Attempts(9, pauses.pacing())
    while attempts.again(True):
        pass
    assert pauses.ceilings == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    assert pauses.slept == [c * 0.25 for c in pauses.ceilings]  # a random share of each
    assert [backoff(n) for n in (1, 2, 7, 30)] == [0.1, 0.2, 5.0, 5.0]


def test_retry_after_in_seconds_and_as_a_date() -> None:
    assert retry_after(_answer(429, **{"Retry-After": "3"})) == 3.0
    assert retry_after(_answer(429, **{"Retry-After": "86400"})) == 60.0  # capped
    date = email.utils.formatdate(NOW + 7, usegmt=True)
    assert retry_after(_answer(503, **{"Retry-After": date}), NOW) == 7.0
    past = email.utils.formatdate(NOW - 100, usegmt=True)
    assert retry_after(_answer(503, **{"Retry-After": past}), NOW) == 0.0
    assert retry_after(_answer(503, **{"Retry-After": "soon"}), NOW) is None
    assert retry_after(_answer(503, **{"Retry-After": date})) is None  # no wall clock: unknown
    pauses = Pauses()
    attempts = Attempts(5, pauses.pacing())
    assert attempts.again(True, _answer(429, **{"Retry-After": date}))
    assert attempts.again(True, _answer(429, **{"Retry-After": "0"}))
    assert pauses.slept == [7.0, 0.1]  # at least what the server asked, else the backoff


def test_the_retry_count_and_the_deadline_bound_the_tries() -> None:
    pauses = Pauses(share=1.0)
    attempts = Attempts(3, pauses.pacing())
    assert [attempts.again(True) for _ in range(4)] == [True, True, False, False]
    assert not Attempts(5, pauses.pacing(), enabled=False).again(True)
    assert not Attempts(5, pauses.pacing()).again(False)  # a permanent failure: never
    pauses = Pauses(share=1.0)
    attempts = Attempts(50, pauses.pacing(), deadline=1.0)
    while attempts.again(True):
        pass
    assert pauses.slept == [0.1, 0.2, 0.4]  # the next pause (0.8) would end past 1 s
    pauses = Pauses()
    attempts = Attempts(50, pauses.pacing(), deadline=30.0)
    assert not attempts.again(True, _answer(429, **{"Retry-After": "40"}))  # past the deadline
    assert pauses.slept == []


def test_progress_gives_the_tries_back() -> None:
    pauses = Pauses(share=1.0)
    attempts = Attempts(2, pauses.pacing())
    assert attempts.again(True)
    assert not attempts.again(True)
    attempts.progressed()
    assert attempts.again(True)
    assert pauses.slept == [0.1, 0.1]


def test_overload_answers_reach_the_throttle() -> None:
    told: list[int] = []
    attempts = Attempts(5, Pauses().pacing(), on_overload=lambda: told.append(1))
    attempts.again(True, _answer(503))
    attempts.again(True, _answer(500))
    attempts.again(True, _answer(429))
    assert len(told) == 2


def test_the_throttle_halves_then_recovers_slowly() -> None:
    now = [0.0]
    throttle = Throttle(clock=lambda: now[0], recover_after=2, cool_down=1.0)
    assert throttle.limit() is None
    held = [throttle.slot() for _ in range(8)]
    for slot in held:
        slot.__enter__()
    assert throttle.in_flight == 1  # one thread: re-entrant, one slot
    for slot in held[1:]:
        slot.__exit__(None, None, None)

    results: list[int | None] = []
    started = threading.Barrier(9)

    def transfer(release: threading.Event) -> None:
        with throttle.slot():
            started.wait()
            release.wait()

    # Eight transfers in flight from eight threads, then an overload answer.
    releases = [threading.Event() for _ in range(8)]
    held[0].__exit__(None, None, None)
    threads = [threading.Thread(target=transfer, args=(r,)) for r in releases]
    for thread in threads:
        thread.start()
    started.wait()
    assert throttle.in_flight == 8
    throttle.overloaded()
    results.append(throttle.limit())
    throttle.overloaded()  # the same burst: no second cut
    results.append(throttle.limit())
    now[0] = 2.0
    throttle.overloaded()
    results.append(throttle.limit())
    assert results == [4, 4, 2]
    assert throttle.lowest == 2
    for release in releases:  # eight completions: +1 per two
        release.set()
    for thread in threads:
        thread.join()
    assert throttle.limit() == 6  # 2 + 8 / 2: slowly, not at once
    for _ in range(4):
        with throttle.slot():
            pass
    assert throttle.limit() is None  # back at 8, the first ceiling: lifted


def test_a_limited_throttle_makes_transfers_wait_their_turn() -> None:
    throttle = Throttle(recover_after=100)
    throttle.overloaded()  # nothing in flight: the limit is 1... of at least one
    assert throttle.limit() == 1
    inside = []
    most = [0]
    lock = threading.Lock()

    def transfer() -> None:
        with throttle.slot():
            with lock:
                inside.append(1)
                most[0] = max(most[0], len(inside))
            threading.Event().wait(0.01)
            with lock:
                inside.pop()

    threads = [threading.Thread(target=transfer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1


def test_the_progress_line_shows_the_limit_while_it_is_in_force() -> None:
    blob = PutBlob(
        target=RegistryTarget(registry="r.io", repository="a"),
        descriptor=Descriptor(media_type="x", digest=Digest("sha256", "0" * 64), size=1000),
    )
    limit: list[int | None] = [None]
    progress = Progress(
        Plan(command="copy", steps=(blob,)),
        stream=io.StringIO(),
        enabled=True,
        clock=lambda: 1.0,
        limit=lambda: limit[0],
    )
    assert "busy" not in progress.line()
    limit[0] = 2
    assert progress.line().endswith(", registry busy: 2 at a time")
