"""A hostile registry on loopback: it speaks just enough HTTP to misbehave on purpose.

:class:`HostileRegistry` answers ``GET /v2/`` like a registry (or with an odd
auth challenge), serves one image (``app:v1``: a manifest, a config, one
layer) and misbehaves as its :class:`Behaviour` says on the request it
targets: never answer, stall mid-body, an endless body or endless headers, a
1 GiB manifest, a manifest whose bytes are not its digest, a redirect loop.
Every stall ends after ``max_stall`` seconds and the server stops with its
``with`` block, so a client bug fails a test instead of hanging it; requests
are counted (:attr:`HostileRegistry.requests`).
"""

from __future__ import annotations

import enum
import hashlib
import json
import socket
import socketserver
import threading
import time
from typing import Final

from tests.registry_fixtures import LOOPBACK

__all__ = ["Behaviour", "HostileRegistry"]

_LAYER: Final = b"layer bytes of the hostile registry's only image\n" * 100
_CONFIG: Final = json.dumps({"architecture": "amd64", "os": "linux"}).encode()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


_MANIFEST: Final = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _digest(_CONFIG), "size": len(_CONFIG)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": _digest(_LAYER), "size": len(_LAYER)}],
    }
).encode()  # fmt: skip
MANIFEST_DIGEST: Final = _digest(_MANIFEST)


class Behaviour(enum.StrEnum):
    NEVER_ANSWERS = "never-answers"  # reads the manifest request, says nothing
    STALLS_MID_BODY = "stalls-mid-body"  # half the layer, then silence
    ENDLESS_BODY = "endless-body"  # a manifest body that never ends (chunked)
    ENDLESS_HEADERS = "endless-headers"  # header lines that never end
    HUGE_MANIFEST = "huge-manifest"  # Content-Length: 1 GiB, and bytes to match
    WRONG_DIGEST = "wrong-digest"  # a manifest whose bytes are not the digest it names
    REDIRECT_LOOP = "redirect-loop"  # 307 to itself, forever
    ODD_REALM = "odd-realm"  # a Bearer challenge whose realm is not a token service


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: HostileRegistry = self.server.hostile  # type: ignore[attr-defined]
        sock: socket.socket = self.request
        sock.settimeout(server.max_stall)
        try:
            while self._one(server, sock):
                pass
        except OSError:
            pass

    def _one(self, server: HostileRegistry, sock: socket.socket) -> bool:
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(65536)
            if not data:
                return False
            head += data
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        method, path = line.split(" ")[0], line.split(" ")[1]
        server.count(method, path)
        behaviour = server.behaviour
        if path == "/v2/":
            if behaviour is Behaviour.ODD_REALM:
                challenge = f'Bearer realm="{server.realm}",service="x",scope="repository:app:pull"'
                self._send(sock, 401, b"{}", [("WWW-Authenticate", challenge)])
            else:
                self._send(sock, 200, b"{}")
            return True
        is_manifest = "/manifests/" in path
        if is_manifest and behaviour is Behaviour.NEVER_ANSWERS:
            server.stall()
            return False
        if is_manifest and behaviour is Behaviour.ENDLESS_HEADERS:
            sock.sendall(b"HTTP/1.1 200 OK\r\n")
            deadline = time.monotonic() + server.max_stall
            while time.monotonic() < deadline and not server.stopping.is_set():
                sock.sendall(b"X-Filler: " + b"a" * 1000 + b"\r\n")
            return False
        if is_manifest and behaviour is Behaviour.ENDLESS_BODY:
            sock.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            piece = b"{" * 65536
            deadline = time.monotonic() + server.max_stall
            while time.monotonic() < deadline and not server.stopping.is_set():
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            return False
        if is_manifest and behaviour is Behaviour.HUGE_MANIFEST:
            sock.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n"
                b"Content-Length: 1073741824\r\n\r\n"
            )
            deadline = time.monotonic() + server.max_stall
            while time.monotonic() < deadline and not server.stopping.is_set():
                sock.sendall(b" " * 65536)
            return False
        if behaviour is Behaviour.REDIRECT_LOOP and method in ("GET", "HEAD"):
            self._send(sock, 307, b"", [("Location", path)])
            return True
        if is_manifest:
            body = _MANIFEST
            if behaviour is Behaviour.WRONG_DIGEST:
                body = _MANIFEST.replace(b'"schemaVersion": 2', b'"schemaVersion":2')
            headers = [("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
                       ("Docker-Content-Digest", MANIFEST_DIGEST)]  # fmt: skip
            self._send(sock, 200, body if method == "GET" else b"", headers, len(body))
            return True
        if path.endswith(_digest(_CONFIG)):
            self._send(sock, 200, _CONFIG if method == "GET" else b"", [], len(_CONFIG))
            return True
        if path.endswith(_digest(_LAYER)):
            if behaviour is Behaviour.STALLS_MID_BODY and method == "GET":
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(_LAYER)}\r\n\r\n".encode()
                sock.sendall(head + _LAYER[: len(_LAYER) // 2])
                server.stall()
                return False
            self._send(sock, 200, _LAYER if method == "GET" else b"", [], len(_LAYER))
            return True
        self._send(sock, 404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"hostile"}]}')
        return True

    @staticmethod
    def _send(
        sock: socket.socket,
        status: int,
        body: bytes,
        headers: list[tuple[str, str]] | None = None,
        length: int | None = None,
    ) -> None:
        lines = [
            f"HTTP/1.1 {status} X",
            f"Content-Length: {len(body) if length is None else length}",
        ]
        lines += [f"{k}: {v}" for k, v in headers or []]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class HostileRegistry:
    """A misbehaving registry on ``host`` (see the module doc)."""

    def __init__(self, behaviour: Behaviour, *, max_stall: float = 5.0, realm: str = "") -> None:
        self.behaviour = behaviour
        self.max_stall = max_stall
        self.realm = realm
        self.stopping = threading.Event()
        self._server = _Server((LOOPBACK, 0), _Handler)
        self._server.hostile = self  # type: ignore[attr-defined]
        self.host = f"{LOOPBACK}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []

    def count(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def stall(self) -> None:
        self.stopping.wait(self.max_stall)

    def __enter__(self) -> HostileRegistry:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
