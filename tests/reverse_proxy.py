"""The loopback reverse proxy the test doubles in front of a real registry are built on.

Three doubles sit between the CLI and a ``docker-registry`` and forward what they do not
change: :class:`tests.faults.proxy.FaultProxy` (faults, seeded and bounded),
:class:`tests.cli.referrers_registry.ReferrersRegistry` (the OCI 1.1 referrers API) and
``KillingGateway`` in ``tests/cli/test_copy_resume.py`` (a SIGKILL at a counted request).
What forwarding takes is here, once:

* :class:`ReverseProxy`: the threaded server on loopback, its upstream client, ``host``
  and ``url``, and the context manager that starts and stops it (the handler reaches it
  as ``self.server.proxy``);
* :class:`ProxyHandler`: reading a request's body (``Content-Length`` or chunked), the
  headers sent on (hop-by-hop and framing ones dropped, ``Host`` the proxy's, so the
  registry builds its ``Location`` URLs for the proxy), and relaying the answer
  (``Location`` headers that still name the upstream rewritten to the proxy; to a
  ``HEAD``, the ``Content-Length`` of the body a ``GET`` would get).

A subclass's ``_handle`` answers every method.  A client that goes away (a timeout of
its own) is not an error: there is nothing to answer.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final, Self

import httpx

from tests.registry_fixtures import LOOPBACK

__all__ = ["NOT_FORWARDED", "UPSTREAM_TIMEOUT", "ProxyHandler", "ReverseProxy"]

UPSTREAM_TIMEOUT: Final = 60.0
#: Hop-by-hop and framing headers, which the proxy sets itself.
NOT_FORWARDED: Final = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "date", "server"}
)


class ProxyHandler(BaseHTTPRequestHandler):
    """One client connection to a :class:`ReverseProxy`."""

    protocol_version = "HTTP/1.1"
    timeout = 60

    def log_message(self, format: str, *args: object) -> None:
        pass

    def handle(self) -> None:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError, TimeoutError):
            super().handle()

    def _handle(self) -> None:
        raise NotImplementedError

    def _any_method(self) -> None:
        try:
            self._handle()
        except (BrokenPipeError, ConnectionResetError):  # the client went away mid-answer
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _any_method

    def read_body(self) -> bytes:
        """The request's body, sent with a ``Content-Length`` or chunked."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def forwarded_headers(self, proxy: ReverseProxy) -> dict[str, str]:
        """The request's headers as sent on, with the proxy's ``Host``."""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in NOT_FORWARDED}
        headers["Host"] = proxy.host
        return headers

    def relayed_headers(
        self, proxy: ReverseProxy, upstream: httpx.Response
    ) -> list[tuple[str, str]]:
        """The upstream answer's headers as relayed (a ``Location`` naming the upstream
        rewritten to the proxy)."""
        return [
            (key, value.replace(proxy.upstream, proxy.url) if key.lower() == "location" else value)
            for key, value in upstream.headers.multi_items()
            if key.lower() not in NOT_FORWARDED
        ]

    def start_answer(
        self, status: int, headers: Iterable[tuple[str, str]], length: int | str
    ) -> None:
        """The status line and headers, ``Content-Length: length`` among them."""
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def answer(self, status: int, headers: Iterable[tuple[str, str]], body: bytes) -> None:
        """A whole answer (a ``HEAD`` gets its headers only)."""
        self.start_answer(status, headers, len(body))
        if self.command != "HEAD":
            self.wfile.write(body)

    def relay(
        self, proxy: ReverseProxy, upstream: httpx.Response, extra: Iterable[tuple[str, str]] = ()
    ) -> None:
        """The upstream's answer as it came, with ``extra`` headers."""
        headers = [*self.relayed_headers(proxy, upstream), *extra]
        if self.command == "HEAD":  # no body, but the size of the one a GET would get
            self.start_answer(
                upstream.status_code, headers, upstream.headers.get("Content-Length", "0")
            )
            return
        self.answer(upstream.status_code, headers, upstream.content)


class ReverseProxy:
    """A reverse proxy on loopback to ``upstream`` (``http://127.0.0.1:PORT``), answering
    with ``handler``.  Use as a context manager; ``host`` (``127.0.0.1:PORT``) goes in
    image references, ``url`` is ``http://`` + host."""

    def __init__(self, upstream: str, handler: type[ProxyHandler]) -> None:
        self.upstream = upstream.rstrip("/")
        self.client = httpx.Client(
            trust_env=False, timeout=UPSTREAM_TIMEOUT, follow_redirects=False
        )
        self._server = ThreadingHTTPServer((LOOPBACK, 0), handler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self.host = f"{LOOPBACK}:{self._server.server_address[1]}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> httpx.Response:
        """One request sent on to the upstream, its answer read whole."""
        return self.client.request(method, self.upstream + path, headers=headers, content=body)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self.client.close()
