"""A test double of the OCI 1.1 referrers API, in front of a real ``docker-registry``.

Debian's docker-registry (distribution 2.8) stores manifests with a ``subject``
but has no referrers API: ``GET /v2/<name>/referrers/<digest>`` answers 404 (a
plain-text ``404 page not found``) and a manifest ``PUT`` carries no
``OCI-Subject`` header.  To test the path a registry *with* the API takes, this
loopback reverse proxy adds exactly that API and nothing else, as the
distribution spec 1.1 describes it ("Listing Referrers", "Pushing Manifests
with Subject"):

* every request is forwarded to the real registry, which stores and serves all
  content (``Location`` headers naming the upstream are rewritten to the proxy);
* a manifest ``PUT`` the registry accepted whose body has a ``subject`` is
  recorded (repository, subject digest → descriptor with ``artifactType`` or the
  config's media type, and the manifest's annotations) and answered with
  ``OCI-Subject: <subject digest>``;
* ``GET /v2/<name>/referrers/<digest>`` answers 200 with an OCI image index of
  the recorded referrers of that digest (an empty one when there are none), at
  most ``page_size`` per page with ``Link: <…>; rel="next"``, and with
  ``?artifactType=`` filters them and says so in ``OCI-Filters-Applied``.

Only manifests pushed through the proxy are known to it, as in a registry that
indexes on push.  ``referrer_requests`` counts the referrers API requests.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from tests.registry_fixtures import LOOPBACK

UPSTREAM_TIMEOUT: Final = 60.0
_NOT_FORWARDED: Final = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "date", "server"}
)
_INDEX: Final = "application/vnd.oci.image.index.v1+json"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _body(self) -> bytes:
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

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _referrers(self, proxy: ReferrersRegistry, name: str, subject: str, query: str) -> None:
        params = parse_qs(query)
        wanted = params.get("artifactType", [None])[0]
        start = int(params.get("start", ["0"])[0])
        with proxy.lock:
            proxy.referrer_requests += 1
            listed = list(proxy.recorded[(name, subject)])
        headers = {"Content-Type": _INDEX, "Docker-Distribution-API-Version": "registry/2.0"}
        if wanted is not None:
            listed = [entry for entry in listed if entry.get("artifactType") == wanted]
            headers["OCI-Filters-Applied"] = "artifactType"
        page = listed[start : start + proxy.page_size]
        if start + proxy.page_size < len(listed):
            following: dict[str, str] = {"start": str(start + proxy.page_size)}
            if wanted is not None:
                following["artifactType"] = wanted
            headers["Link"] = f'</v2/{name}/referrers/{subject}?{urlencode(following)}>; rel="next"'
        body = json.dumps({"schemaVersion": 2, "mediaType": _INDEX, "manifests": page}).encode()
        self._send(200, body, headers)

    def _handle(self) -> None:
        proxy: ReferrersRegistry = self.server.proxy  # type: ignore[attr-defined]
        body = self._body()
        parts = urlsplit(self.path)
        route = parts.path
        if self.command in ("GET", "HEAD") and "/referrers/" in route:
            name, _, subject = route.removeprefix("/v2/").rpartition("/referrers/")
            self._referrers(proxy, name, subject, parts.query)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _NOT_FORWARDED}
        headers["Host"] = proxy.host
        upstream = proxy.client.request(
            self.command, proxy.upstream + self.path, headers=headers, content=body
        )
        answer = {
            key: (value.replace(proxy.upstream, proxy.url) if key.lower() == "location" else value)
            for key, value in upstream.headers.items()
            if key.lower() not in _NOT_FORWARDED
        }
        if self.command == "PUT" and "/manifests/" in route and upstream.status_code == 201:
            recorded = proxy.record(route, body, self.headers.get("Content-Type", ""), upstream)
            if recorded is not None:
                answer["OCI-Subject"] = recorded
        if self.command == "HEAD":
            self.send_response(upstream.status_code)
            for key, value in answer.items():
                self.send_header(key, value)
            self.send_header("Content-Length", upstream.headers.get("Content-Length", "0"))
            self.end_headers()
            return
        self._send(upstream.status_code, upstream.content, answer)

    def handle(self) -> None:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError, TimeoutError):
            super().handle()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class ReferrersRegistry:
    """The double; use as a context manager.  ``host`` (``127.0.0.1:PORT``) goes in image
    references, ``url`` is ``http://`` + host."""

    def __init__(self, upstream: str, *, page_size: int = 2) -> None:
        self.upstream = upstream.rstrip("/")
        self.page_size = page_size
        self.client = httpx.Client(trust_env=False, timeout=UPSTREAM_TIMEOUT)
        self._server = ThreadingHTTPServer((LOOPBACK, 0), _Handler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self.host = f"{LOOPBACK}:{self._server.server_address[1]}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self.lock = threading.Lock()
        self.recorded: defaultdict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self.referrer_requests = 0

    def record(
        self, route: str, body: bytes, media_type: str, upstream: httpx.Response
    ) -> str | None:
        """Index a manifest the registry stored, if it has a subject; the subject digest."""
        try:
            document = json.loads(body)
        except ValueError:
            return None
        subject = document.get("subject") if isinstance(document, dict) else None
        if not isinstance(subject, dict):
            return None
        name = route.removeprefix("/v2/").rpartition("/manifests/")[0]
        entry: dict[str, Any] = {
            "mediaType": document.get("mediaType") or media_type,
            "digest": upstream.headers["Docker-Content-Digest"],
            "size": len(body),
        }
        artifact_type = document.get("artifactType") or (document.get("config") or {}).get(
            "mediaType"
        )
        if artifact_type:
            entry["artifactType"] = artifact_type
        if document.get("annotations"):
            entry["annotations"] = document["annotations"]
        with self.lock:
            known = self.recorded[(name, subject["digest"])]
            if all(existing["digest"] != entry["digest"] for existing in known):
                known.append(entry)
        return str(subject["digest"])

    def __enter__(self) -> ReferrersRegistry:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self.client.close()
