"""A fault-injecting reverse proxy on loopback, in front of a real test registry.

:class:`FaultProxy` forwards every request to ``upstream`` (a ``docker-registry``
from ``tests.registry_fixtures`` or the token registry) and, for a seeded share
of them, misbehaves the way bad networks, overloaded mirrors and middleboxes do
(:class:`Fault`).  It is what the reliability tests and ``bench.soak`` run the
CLI through.

* **Seeded and order-free**: whether the n-th request for a given
  ``METHOD path`` gets a fault, and which, is drawn from
  ``Random(f"{seed}|{method}|{path}|{n}")`` (upload session ids are masked out
  of the path), so the same seed faults the same requests however the client's
  threads interleave.
* **Bounded**: at most ``max_requests`` requests and ``deadline`` seconds;
  past either the proxy answers every request ``503`` without forwarding and
  sets :attr:`FaultProxy.exhausted` (a test asserts it stays False), so a
  client that loops forever fails instead of hanging.  A stall sleeps at most
  ``stall_seconds``; a slow drip at most ``DRIP_PIECES`` pauses of
  ``drip_pause`` seconds.
* **Transparent otherwise**: the registry builds its ``Location`` headers from
  the ``Host`` it is sent, which is the proxy's; any that still name the
  upstream are rewritten to the proxy, so upload sessions come back through it.
  ``Range`` is forwarded (``ignore_range`` strips it, as some servers ignore it).

Counters (:meth:`FaultProxy.stats`): requests, faults injected by kind, and the
blob body bytes the upstream served (``blob_bytes``), which measure how much a
rerun fetched again.
"""

from __future__ import annotations

import email.utils
import enum
import json
import os
import random
import re
import signal
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

import httpx
from attrs import frozen

from tests.reverse_proxy import ProxyHandler, ReverseProxy

__all__ = ["DRIP_PIECES", "Fault", "FaultPlan", "FaultProxy"]

DRIP_PIECES: Final = 8
_UPLOAD_ID = re.compile(r"(/blobs/uploads/)[^/?]+")


class Fault(enum.StrEnum):
    """What the proxy can do to one request."""

    UNAVAILABLE = "503"  # answered 503, not forwarded
    TOO_MANY = "429"  # answered 429 with Retry-After in seconds, not forwarded
    TOO_MANY_DATE = "429-date"  # the same with an HTTP-date Retry-After
    RESET = "reset"  # connection reset before any answer (forwarded or not: drawn)
    TRUNCATE = "truncate"  # the body cut half way, then the connection closed
    STALL = "stall"  # no answer for stall_seconds, then the answer
    DRIP = "drip"  # the body in DRIP_PIECES pieces, drip_pause apart
    PUT_500 = "put-500"  # a manifest PUT answered 500 (forwarded or not: drawn)
    EXPIRED = "401"  # forwarded without its Authorization (a token that expired)
    BAD_LENGTH = "bad-length"  # a Content-Length that is not the body's
    FLIP = "flip"  # one byte of a blob body flipped


ALL_BUT_AUTH: Final = frozenset(Fault) - {Fault.EXPIRED}


@frozen(kw_only=True)
class FaultPlan:
    """Which faults, how often, and the proxy's bounds."""

    seed: int = 0
    rate: float = 0.15
    kinds: frozenset[Fault] = ALL_BUT_AUTH
    stall_seconds: float = 1.5
    retry_after: int = 1
    drip_pause: float = 0.02
    max_requests: int = 20_000
    deadline: float = 600.0


def _eligible(plan: FaultPlan, method: str, path: str, authorized: bool) -> list[Fault]:
    """The faults that make sense for this request."""
    route = urlsplit(path).path
    kinds = [Fault.UNAVAILABLE, Fault.TOO_MANY, Fault.TOO_MANY_DATE, Fault.RESET, Fault.STALL]
    if method == "GET":
        kinds += [Fault.TRUNCATE, Fault.DRIP, Fault.BAD_LENGTH]
        if "/blobs/" in route and "/uploads/" not in route:
            kinds.append(Fault.FLIP)
    if method == "PUT" and "/manifests/" in route:
        kinds.append(Fault.PUT_500)
    if authorized:
        kinds.append(Fault.EXPIRED)
    return [kind for kind in kinds if kind in plan.kinds]


class _Handler(ProxyHandler):
    def _reset(self) -> None:
        """Close with RST: the client sees the connection reset, no answer."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def _answer(self, status: int, code: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        body = json.dumps({"errors": [{"code": code, "message": "fault proxy"}]}).encode()
        self.answer(status, [("Content-Type", "application/json"), *headers], body)

    def _handle(self) -> None:
        proxy: FaultProxy = self.server.proxy  # type: ignore[attr-defined]
        body = self.read_body()
        authorized = "Authorization" in self.headers
        if not proxy.admit():
            self._reset()
            return
        fault, rng = proxy.decide(self.command, self.path, authorized)
        if fault is None and proxy.exhausted:
            self._answer(503, "UNAVAILABLE")
            return
        match fault:
            case Fault.UNAVAILABLE:
                self._answer(503, "UNAVAILABLE")
                return
            case Fault.TOO_MANY:
                self._answer(429, "TOOMANYREQUESTS", [("Retry-After", str(proxy.plan.retry_after))])
                return
            case Fault.TOO_MANY_DATE:
                when = email.utils.formatdate(time.time() + proxy.plan.retry_after, usegmt=True)
                self._answer(429, "TOOMANYREQUESTS", [("Retry-After", when)])
                return
            case Fault.RESET if rng.random() < 0.5:
                self._reset()
                return
            case Fault.PUT_500 if rng.random() < 0.5:
                self._answer(500, "UNKNOWN")
                return
            case Fault.STALL:
                time.sleep(proxy.plan.stall_seconds)
            case _:
                pass
        headers = self.forwarded_headers(proxy)
        if fault is Fault.EXPIRED:
            headers.pop("Authorization", None)
        if proxy.ignore_range:
            headers.pop("Range", None)
        try:
            upstream = proxy.forward(self.command, self.path, headers, body)
        except (httpx.HTTPError, RuntimeError):  # upstream gone, or the proxy shutting down
            self._reset()
            return
        content = upstream.content
        route = urlsplit(self.path).path
        is_blob = self.command == "GET" and "/blobs/" in route
        if (
            is_blob
            and upstream.status_code in (200, 206)
            and not proxy.count_blob_bytes(len(content))
        ):
            self._reset()
            return
        if fault is Fault.RESET:  # forwarded: the registry acted, the client never hears
            self._reset()
            return
        if fault is Fault.PUT_500:
            self._answer(500, "UNKNOWN")
            return
        if fault is Fault.FLIP and content:
            flipped = bytearray(content)
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
            content = bytes(flipped)
        self._relay(proxy, upstream, content, fault, rng)

    def _relay(
        self,
        proxy: FaultProxy,
        upstream: httpx.Response,
        content: bytes,
        fault: Fault | None,
        rng: random.Random,
    ) -> None:
        if self.command == "HEAD":
            self.relay(proxy, upstream)
            return
        headers = self.relayed_headers(proxy, upstream)
        length = len(content)
        shortened = fault is Fault.BAD_LENGTH and rng.random() < 0.5 and length > 1
        declared = length
        if fault is Fault.BAD_LENGTH and not shortened:
            declared = length + 1 + rng.randrange(1024)
        elif shortened:
            declared = length // 2
            headers.append(("Connection", "close"))
        self.start_answer(upstream.status_code, headers, declared)
        match fault:
            case Fault.TRUNCATE if length:
                self.wfile.write(content[: length // 2])
                self.close_connection = True
            case Fault.BAD_LENGTH if shortened:
                self.wfile.write(content[: length // 2])
                self.close_connection = True
            case Fault.BAD_LENGTH:
                self.wfile.write(content)
                self.close_connection = True
            case Fault.DRIP if length:
                piece = max(1, -(-length // DRIP_PIECES))
                for start in range(0, length, piece):
                    self.wfile.write(content[start : start + piece])
                    self.wfile.flush()
                    time.sleep(proxy.plan.drip_pause)
            case _:
                self.wfile.write(content)


class FaultProxy(ReverseProxy):
    """A reverse proxy to ``upstream`` (``http://127.0.0.1:PORT``) that injects faults.

    Use as a context manager; ``host`` (``127.0.0.1:PORT``) goes in image
    references, ``url`` is ``http://`` + host.
    """

    def __init__(self, upstream: str, plan: FaultPlan, *, ignore_range: bool = False) -> None:
        super().__init__(upstream, _Handler)
        self.plan = plan
        self.ignore_range = ignore_range
        self._lock = threading.Lock()
        self._seen: Counter[tuple[str, str]] = Counter()
        self._started = time.monotonic()
        self.requests = 0
        self.faults: Counter[Fault] = Counter()
        self.blob_bytes = 0
        self.exhausted = False
        self.enabled = True
        self._kill: tuple[int, int] | None = None
        self._kill_bytes: tuple[int, int] | None = None
        self._arrived = 0
        self.killed = False
        #: (method, path, fault) of every request, in arrival order.
        self.log: list[tuple[str, str, Fault | None]] = []

    def kill_at(self, pid: int, request: int) -> None:
        """SIGKILL ``pid`` when its ``request``-th request arrives (that one and every later
        one are never forwarded): a crash at a point counted in requests, not seconds."""
        with self._lock:
            self._kill = (pid, request)
            self._arrived = 0

    def admit(self) -> bool:
        """Whether to forward this request (False once the kill happened)."""
        with self._lock:
            if self.killed:
                return False
            if self._kill_bytes is not None and self.blob_bytes >= self._kill_bytes[1]:
                os.kill(self._kill_bytes[0], signal.SIGKILL)
                self.killed = True
                return False
            if self._kill is None:
                return True
            self._arrived += 1
            pid, at = self._kill
            if self._arrived < at:
                return True
            os.kill(pid, signal.SIGKILL)
            self.killed = True
            return False

    def decide(
        self, method: str, path: str, authorized: bool
    ) -> tuple[Fault | None, random.Random]:
        """The fault for this request (None: forward it as it is), and its random source."""
        key = (method, _UPLOAD_ID.sub(r"\1*", urlsplit(path).path))
        with self._lock:
            self.requests += 1
            if (
                self.requests > self.plan.max_requests
                or time.monotonic() - self._started > self.plan.deadline
            ):
                self.exhausted = True
                return None, random.Random(0)
            self._seen[key] += 1
            rng = random.Random(f"{self.plan.seed}|{key[0]}|{key[1]}|{self._seen[key]}")
            kinds = _eligible(self.plan, method, path, authorized)
            fault = None
            if self.enabled and rng.random() < self.plan.rate and kinds:
                fault = rng.choice(kinds)
                self.faults[fault] += 1
            self.log.append((method, key[1], fault))
            return fault, rng

    def kill_after_bytes(self, pid: int, count: int) -> None:
        """SIGKILL ``pid`` at its first request after the upstream served it ``count`` bytes
        of blob bodies (a client reading one blob at a time has then written them all)."""
        with self._lock:
            self._kill_bytes = (pid, count)

    def count_blob_bytes(self, count: int) -> bool:
        """Count served blob bytes; False when this answer must not be relayed (killed)."""
        with self._lock:
            if self.killed:
                return False  # served to nobody: not counted
            self.blob_bytes += count
            return True

    def stats(self) -> dict[str, object]:
        with self._lock:
            return {
                "requests": self.requests,
                "faults": {str(kind): n for kind, n in sorted(self.faults.items())},
                "blob_bytes": self.blob_bytes,
                "exhausted": self.exhausted,
            }
