"""The HTTP side of a registry client: one pooled transport and unauthenticated exchanges.

Private to ``imgpkg_pure.store.registry``.  :class:`Connection` owns:

* the transport made from the registry flags: TLS trust, proxies and the debug
  transport (``imgpkg_pure.store.registry.transport``), HTTP/1.1 pools, timeouts
  (``response_header_timeout`` for connecting, capped at 30 s, and for each read),
  the headers every request carries, no redirects followed except for
  ``GET``/``HEAD``.  Requests are ``httpx`` values sent straight to the transport
  (:meth:`Connection.stream`): what ``httpx.Client.send`` did for this client, the
  same headers in the same order and its redirect rules, without the per-request
  work it did and this client never used (a cookie jar, hooks, an auth flow),
  ~0.2 ms of CPU per request (``docs/benchmarks.md``);
* the debug log (one writer at a time; ``sys.stderr`` unless a stream is given);
* the retry budget of a request (:meth:`Connection.attempts`): the retry count,
  the overall deadline, the injected pacing (sleep, jitter, clocks) and the
  adaptive concurrency limit (``_throttle``) that 429 and 503 answers lower;
* :meth:`Connection.exchange`: one request without registry credentials (the
  ``/v2/`` probe, token requests), tried again on temporary failures.

A CA file that cannot be used does not stop the connection being made: it is
kept as :attr:`Connection.setup_error`, which every operation returns.
"""

from __future__ import annotations

import random
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Final, TextIO

import httpx
from returns.io import IO
from returns.result import Failure, Result, Success
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.store.registry._http import Attempts, Pacing, temporary_status, transport_failure
from imgpkg_pure.store.registry._throttle import Throttle
from imgpkg_pure.store.registry.errors import CaCertFailure, RegistryError
from imgpkg_pure.store.registry.options import RegistryOptions
from imgpkg_pure.store.registry.transport import (
    MAX_REDIRECTS,
    build_ssl_context,
    build_transport,
)

__all__ = ["USER_AGENT", "Connection"]

USER_AGENT: Final = "imgpkg-pure/0.1.0"


_JITTER: Final = random.Random()


def _uniform(ceiling: float) -> float:
    """Full jitter: a pause anywhere in ``[0, ceiling]``."""
    return _JITTER.uniform(0.0, ceiling)


def _redirects(method: str) -> bool:
    return method in ("GET", "HEAD")


class Connection:
    """The pooled HTTP client of one run (thread-safe; see the module doc)."""

    def __init__(
        self,
        options: RegistryOptions,
        environ: Mapping[str, str],
        *,
        sleep: Callable[[float], None],
        debug_stream: TextIO | None,
        jitter: Callable[[float], float] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.options = options
        self._sleep = sleep
        self.pacing = Pacing(
            sleep=sleep,
            jitter=jitter if jitter is not None else _uniform,
            clock=clock,
            wall_clock=wall_clock,
        )
        self.throttle = Throttle(clock=clock)
        self._debug_stream = debug_stream
        self._debug_lock = threading.Lock()
        self.setup_error: CaCertFailure | None = None
        built = unsafe_perform_io(IO.from_ioresult(build_ssl_context(options)))
        if isinstance(built, Success):
            ssl_context: ssl.SSLContext = built.unwrap()
        else:
            self.setup_error = built.failure()
            ssl_context = ssl.create_default_context()  # never used: every operation fails
        write = self.debug if options.debug else None
        timeout = options.response_header_timeout
        self._transport = build_transport(environ, ssl_context, write)
        self._timeout = httpx.Timeout(
            connect=min(30.0, timeout),
            read=timeout,
            write=max(timeout, 60.0),
            pool=max(timeout, 60.0) * 10,
        ).as_dict()
        #: What every request carries, in httpx's order: its client's defaults, ours over them.
        self._headers = httpx.Headers(
            [
                ("Accept", "*/*"),
                ("Accept-Encoding", "gzip, deflate"),
                ("Connection", "keep-alive"),
                ("User-Agent", "python-httpx"),
            ]
        )
        self._headers.update(
            {
                "User-Agent": USER_AGENT,
                "Accept-Encoding": "identity",
                "imgpkg-session-id": str(random.randrange(1 << 31)),
            }
        )

    def close(self) -> None:
        self._transport.close()

    def debug(self, text: str) -> None:
        """One entry of the debug log."""
        stream = self._debug_stream if self._debug_stream is not None else sys.stderr
        with self._debug_lock:
            stream.write(text + "\n")
            stream.flush()

    def attempts(self, retry: bool = True) -> Attempts:
        """The tries a request gets (one when ``retry`` is False), within the deadline."""
        return Attempts(
            self.options.tries,
            self.pacing,
            enabled=retry,
            deadline=self.options.retry_deadline,
            on_overload=self.throttle.overloaded,
        )

    def exchange(
        self,
        method: str,
        url: str,
        *,
        retry: bool,
        headers: Mapping[str, str] | None = None,
        params: Iterable[tuple[str, str]] | None = None,
        content: bytes | None = None,
    ) -> Result[httpx.Response, RegistryError]:
        """One unauthenticated request (ping, token), with retries; the body is read."""
        attempts = self.attempts(retry)
        while True:
            try:
                response = self._send(
                    method, url, headers or {}, content, params=params, stream=False
                )
            except (httpx.TransportError, httpx.TooManyRedirects) as error:
                failure = transport_failure(method, url, error)
                if attempts.again(failure.temporary):
                    continue
                return Failure(failure)
            if attempts.again(temporary_status(response.status_code), response):
                continue
            return Success(response)

    def stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | Iterable[bytes] | None,
    ) -> httpx.Response:
        """Send one request, once; the response is open (streamed).  Raises as httpx does."""
        return self._send(method, url, headers, content, params=None, stream=True)

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | Iterable[bytes] | None,
        *,
        params: Iterable[tuple[str, str]] | None,
        stream: bool,
    ) -> httpx.Response:
        """One exchange straight through the transport, as ``httpx.Client.send`` would make
        it (the same headers in the same order, its redirect rules for ``GET`` and
        ``HEAD``), less its per-request work this client never uses: no cookie jar (as
        imgpkg's Go client keeps none), no event hooks, no auth flow."""
        merged = httpx.Headers(self._headers)
        merged.update(headers)
        request = httpx.Request(
            method,
            url,
            headers=merged,
            content=content,
            params=list(params) if params is not None else None,
            extensions={"timeout": self._timeout},
        )
        redirects = 0
        while True:
            response = self._transport.handle_request(request)
            response.request = request
            if not (_redirects(method) and response.has_redirect_location):
                if not stream:
                    try:
                        response.read()
                    finally:
                        response.close()
                return response
            try:
                if redirects >= MAX_REDIRECTS:
                    raise httpx.TooManyRedirects(
                        "Exceeded maximum allowed redirects.", request=request
                    )
                redirects += 1
                request = _redirected(request, response)
                response.read()
            finally:
                response.close()


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _redirected(request: httpx.Request, response: httpx.Response) -> httpx.Request:
    """The next request of a ``GET``/``HEAD`` redirect, by httpx's rules: the ``Location``
    against the request URL; ``Authorization`` kept only for the same origin (or its
    https upgrade); the method and everything else unchanged."""
    try:
        url = httpx.URL(response.headers["Location"])
    except httpx.InvalidURL as error:
        raise httpx.RemoteProtocolError(
            f"Invalid URL in location header: {error}.", request=request
        ) from None
    if url.scheme and not url.host:
        url = url.copy_with(host=request.url.host)
    if not url.is_absolute_url:
        url = request.url.join(url)
    if request.url.fragment and not url.fragment:
        url = url.copy_with(fragment=request.url.fragment)
    headers = httpx.Headers(request.headers)
    before = request.url
    same_origin = (
        url.scheme == before.scheme and url.host == before.host and _port(url) == _port(before)
    )
    if not same_origin:
        https_upgrade = (
            url.host == before.host
            and before.scheme == "http"
            and _port(before) == 80
            and url.scheme == "https"
            and _port(url) == 443
        )
        if not https_upgrade:
            headers.pop("Authorization", None)
        headers["Host"] = url.netloc.decode("ascii")
    headers.pop("Cookie", None)
    return httpx.Request(request.method, url, headers=headers, extensions=request.extensions)
