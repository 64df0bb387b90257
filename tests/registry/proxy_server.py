"""A small forward HTTP proxy in the test process (threaded, loopback only, bounded).

It understands what an HTTP client sends to a proxy:

* ``CONNECT host:port`` (https targets): answers ``200`` and relays bytes both
  ways (a TLS tunnel it cannot read);
* absolute-form requests (``GET http://host:port/path HTTP/1.1``, plain http
  targets): rewrites the request line to origin-form, asks the upstream to
  close after the response, and relays.

Every request line is recorded in :attr:`ForwardProxy.seen`.  ``fail_next``
makes the proxy answer the next N absolute-form requests itself with
``fail_status`` and ``Retry-After: retry_after`` (a gateway error, as a real
proxy gives when its upstream hiccups) instead of forwarding them.

Every socket has a timeout, relays stop after ``IDLE_SECONDS`` without
traffic, and the upstream may only be a loopback address (``0.0.0.0`` connects
to the local host).
"""

from __future__ import annotations

import select
import socket
import socketserver
import threading
from typing import Final

from tests.registry_fixtures import LOOPBACK

IDLE_SECONDS: Final = 10.0
_HEAD_LIMIT: Final = 64 << 10
_ALLOWED_UPSTREAMS: Final = frozenset({"127.0.0.1", "0.0.0.0", "localhost"})


def _relay(a: socket.socket, b: socket.socket) -> None:
    sockets = [a, b]
    while True:
        readable, _, _ = select.select(sockets, [], [], IDLE_SECONDS)
        if not readable:
            return
        for source in readable:
            target = b if source is a else a
            try:
                data = source.recv(1 << 16)
            except OSError:
                return
            if not data:
                return
            try:
                target.sendall(data)
            except OSError:
                return


def _split_host(hostport: str) -> tuple[str, int]:
    host, _, port = hostport.rpartition(":")
    return host, int(port)


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        proxy: ForwardProxy = self.server.proxy  # type: ignore[attr-defined]
        client: socket.socket = self.request
        client.settimeout(IDLE_SECONDS)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < _HEAD_LIMIT:
            chunk = client.recv(1 << 16)
            if not chunk:
                return
            head += chunk
        head_text, _, rest = head.partition(b"\r\n\r\n")
        lines = head_text.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        proxy.record(f"{method} {target}")
        if method == "CONNECT":
            host, port = _split_host(target)
            if host not in _ALLOWED_UPSTREAMS:
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            with socket.create_connection((host, port), timeout=IDLE_SECONDS) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
                _relay(client, upstream)
            return
        failure = proxy.take_failure()
        if failure is not None:
            status, retry_after = failure
            body = b"proxy says no"
            client.sendall(
                f"HTTP/1.1 {status} Proxy Failure\r\nContent-Length: {len(body)}\r\n"
                f"Retry-After: {retry_after}\r\nConnection: close\r\n\r\n".encode() + body
            )
            return
        if not target.startswith("http://"):
            client.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        authority, slash, path = target[len("http://") :].partition("/")
        host, port = _split_host(authority if ":" in authority else authority + ":80")
        if host not in _ALLOWED_UPSTREAMS:
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        kept = [
            line
            for line in lines[1:]
            if line.split(":", 1)[0].strip().lower()
            not in ("connection", "proxy-connection", "proxy-authorization", "keep-alive")
        ]
        new_head = "\r\n".join([f"{method} {slash}{path} {version}", *kept, "Connection: close"])
        with socket.create_connection((host, port), timeout=IDLE_SECONDS) as upstream:
            upstream.sendall(new_head.encode("latin-1") + b"\r\n\r\n" + rest)
            _relay(client, upstream)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class ForwardProxy:
    """The proxy; ``url`` is ``http://127.0.0.1:PORT``.  Use as a context manager."""

    def __init__(self) -> None:
        self._server = _Server((LOOPBACK, 0), _Handler)
        self._server.proxy = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._lock = threading.Lock()
        self.seen: list[str] = []
        self.fail_next = 0
        self.fail_status = 503
        self.retry_after = "0"

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def record(self, line: str) -> None:
        with self._lock:
            self.seen.append(line)

    def take_failure(self) -> tuple[int, str] | None:
        with self._lock:
            if self.fail_next <= 0:
                return None
            self.fail_next -= 1
            return self.fail_status, self.retry_after

    def lines(self) -> list[str]:
        with self._lock:
            return list(self.seen)

    def __enter__(self) -> ForwardProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
