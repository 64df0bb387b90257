"""The HTTP side of a registry client: one pooled ``httpx.Client`` and unauthenticated exchanges.

Private to ``imgpkg_pure.store.registry``.  :class:`Connection` owns:

* the ``httpx.Client`` made from the registry flags: TLS trust, proxies and
  the debug transport (``imgpkg_pure.store.registry.transport``), HTTP/1.1
  pools, timeouts (``response_header_timeout`` for connecting, capped at 30 s,
  and for each read), the headers every request carries, no redirects
  followed except for ``GET``/``HEAD``;
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
        self._client = httpx.Client(
            transport=build_transport(environ, ssl_context, write),
            timeout=httpx.Timeout(
                connect=min(30.0, timeout),
                read=timeout,
                write=max(timeout, 60.0),
                pool=max(timeout, 60.0) * 10,
            ),
            headers={
                "User-Agent": USER_AGENT,
                "Accept-Encoding": "identity",
                "imgpkg-session-id": str(random.randrange(1 << 31)),
            },
            trust_env=False,
            follow_redirects=False,
            max_redirects=MAX_REDIRECTS,
        )

    def close(self) -> None:
        self._client.close()

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
                response = self._client.request(
                    method,
                    url,
                    headers=headers,
                    params=list(params) if params is not None else None,
                    content=content,
                    follow_redirects=_redirects(method),
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
        request = self._client.build_request(method, url, headers=headers, content=content)
        return self._client.send(request, stream=True, follow_redirects=_redirects(method))
