"""A read-only gateway that adds distribution-spec tag pagination in front of a real registry.

Debian's docker-registry 2.8.2 ignores ``n`` and ``last`` on
``/v2/<name>/tags/list`` and sends no ``Link`` header (and lists tags in
directory order), so the pagination the spec describes cannot be observed
on it.  This gateway asks the real registry for the full list, then answers
as the spec says ("Listing Tags"): tags in lexical order, at most ``n`` of
them, starting after ``last``, with ``Link: <…?n=&last=>; rel="next"`` when
more remain.  ``GET /v2/`` answers 200; everything else is 404.  The tags
themselves always come from the real registry.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from tests.registry_fixtures import LOOPBACK

UPSTREAM_TIMEOUT: Final = 5.0


class _Handler(BaseHTTPRequestHandler):
    timeout = 10

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        gateway: PaginatingGateway = self.server.gateway  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        gateway.record(self.path)
        if parts.path == "/v2/":
            self._reply(200, b"{}")
            return
        if not parts.path.endswith("/tags/list"):
            self._reply(404, b'{"errors":[{"code":"UNSUPPORTED","message":"gateway"}]}')
            return
        upstream = httpx.get(
            gateway.upstream + parts.path, timeout=UPSTREAM_TIMEOUT, trust_env=False
        )
        if upstream.status_code != 200:
            self._reply(upstream.status_code, upstream.content)
            return
        listing = upstream.json()
        tags = sorted(listing.get("tags") or [])
        query = parse_qs(parts.query)
        last = query.get("last", [""])[0]
        if last:
            tags = [tag for tag in tags if tag > last]
        headers: dict[str, str] = {}
        if "n" in query:
            count = int(query["n"][0])
            if len(tags) > count:
                tags = tags[:count]
                following = urlencode({"n": count, "last": tags[-1]})
                headers["Link"] = f'<{parts.path}?{following}>; rel="next"'
        body = json.dumps({"name": listing.get("name"), "tags": tags}).encode()
        self._reply(200, body, headers)


class PaginatingGateway:
    """Use as a context manager; ``host`` is ``127.0.0.1:PORT`` (an image-reference host)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self._server = ThreadingHTTPServer((LOOPBACK, 0), _Handler)
        self._server.daemon_threads = True
        self._server.gateway = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._lock = threading.Lock()
        self.paths: list[str] = []

    @property
    def host(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def record(self, path: str) -> None:
        with self._lock:
            self.paths.append(path)

    def __enter__(self) -> PaginatingGateway:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
