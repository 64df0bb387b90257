"""A docker-registry behind token auth, with the token endpoint served by the test process.

distribution's ``auth: token`` access controller trusts JWTs whose ``kid``
is the libtrust key ID of a public key in ``rootcertbundle``.  The test makes
an RSA key and a self-signed certificate with the ``openssl`` CLI, gives the
certificate to the registry, and signs RS256 JWTs with ``openssl dgst -sha256
-sign`` (no Python crypto dependency).

:class:`TokenService` is a small ``http.server`` on 127.0.0.1 implementing the
docker token spec: ``GET /token?service=&scope=`` (anonymous or Basic) and the
OAuth2 ``POST /token`` refresh-token grant.  It records every request, so the
tests can count how many tokens a client fetched.  Policy:

* a known user (Basic) or refresh token gets every action it asks for;
* an anonymous request gets a token with **no** access (the registry then
  answers 401 ``insufficient_scope``);
* a wrong password or unknown refresh token gets 401;
* ``expire_next`` tokens are issued already expired (beyond distribution's
  60 s leeway), to make the registry refuse them;
* ``oauth_enabled = False`` makes ``POST`` answer 404 (a token server without
  OAuth2, as some are).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Final
from urllib.parse import parse_qs, urlsplit

import yaml
from attrs import frozen

from tests.registry_fixtures import (
    ACTIVE_SERVERS,
    LOOPBACK,
    OPENSSL_MISSING,
    RegistryServer,
    RegistryStartError,
    RegistryUnavailableError,
    _registry_env,
    _stop,
    _wait_ready,
    find_registry_binary,
    free_loopback_port,
    registry_config,
)

SERVICE: Final = "imgpkg-pure-token-test"
ISSUER: Final = "imgpkg-pure-token-issuer"
TOKEN_USER: Final = "alice"
TOKEN_PASSWORD: Final = "wonderland-token-password"
REFRESH_TOKEN: Final = "refresh-token-for-alice"
OPENSSL_TIMEOUT: Final = 20.0


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _openssl(args: list[str], cwd: Path, stdin: bytes | None = None) -> bytes:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RegistryUnavailableError(OPENSSL_MISSING)
    done = subprocess.run(
        [openssl, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        timeout=OPENSSL_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {done.stderr.decode()}")
    return done.stdout


def libtrust_key_id(spki_der: bytes) -> str:
    """libtrust's ``KeyID``: base32 of the first 240 bits of sha256(SPKI), in 4-char groups."""
    digest = hashlib.sha256(spki_der).digest()[:30]
    encoded = base64.b32encode(digest).decode("ascii")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


@frozen
class SigningKey:
    directory: Path
    key: Path
    cert: Path
    kid: str

    def sign(self, claims: dict[str, object]) -> str:
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode())
            for part in (header, claims)
        )
        signature = _openssl(
            ["dgst", "-sha256", "-sign", str(self.key)], self.directory, signing_input.encode()
        )
        return f"{signing_input}.{_b64url(signature)}"


def make_signing_key(directory: Path) -> SigningKey:
    directory.mkdir(parents=True, exist_ok=True)
    _openssl(
        [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "token.key",
            "-out", "token.crt", "-days", "2", "-subj", "/CN=imgpkg-pure token issuer",
        ],
        directory,
    )
    spki = _openssl(["pkey", "-in", "token.key", "-pubout", "-outform", "DER"], directory)
    return SigningKey(directory, directory / "token.key", directory / "token.crt",
                      libtrust_key_id(spki))


@frozen
class TokenRequest:
    """One request the token endpoint saw."""

    method: str
    scopes: tuple[str, ...]
    user: str | None
    grant_type: str | None
    granted: bool


class TokenService:
    """The token endpoint (see the module doc); thread-safe counters for the tests."""

    def __init__(self, key: SigningKey) -> None:
        self.key = key
        self.lock = threading.Lock()
        self.requests: list[TokenRequest] = []
        self.issued: list[str] = []
        self.expire_next = 0
        self.expires_in = 300
        self.return_refresh_token = False
        self.oauth_enabled = True
        self._server = ThreadingHTTPServer((LOOPBACK, 0), _Handler)
        self._server.daemon_threads = True
        self._server.service = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def realm(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/token"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.issued.clear()
            self.expire_next = 0
            self.expires_in = 300
            self.return_refresh_token = False
            self.oauth_enabled = True

    def count(self, *, granted: bool | None = None) -> int:
        with self.lock:
            return sum(1 for r in self.requests if granted is None or r.granted == granted)

    def mint(self, scopes: tuple[str, ...], user: str | None, expired: bool = False) -> str:
        """A signed token granting ``scopes`` (nothing when ``user`` is None)."""
        now = int(time.time())
        access = []
        if user is not None:
            for scope in scopes:
                kind, _, rest = scope.partition(":")
                name, _, actions = rest.rpartition(":")
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        claims: dict[str, object] = {
            "iss": ISSUER,
            "sub": user or "",
            "aud": SERVICE,
            "exp": now - 600 if expired else now + 600,
            "nbf": now - 900 if expired else now - 10,
            "iat": now - 900 if expired else now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        return self.key.sign(claims)

    def answer(self, method: str, params: dict[str, list[str]], basic: tuple[str, str] | None
               ) -> tuple[int, dict[str, object]]:
        grant = params.get("grant_type", [None])[0]
        if method == "POST":
            scopes = tuple(s for v in params.get("scope", []) for s in v.split(" ") if s)
        else:
            scopes = tuple(params.get("scope", []))
        user: str | None = None
        ok = True
        if method == "POST":
            ok = grant == "refresh_token" and params.get("refresh_token", [""])[0] == REFRESH_TOKEN
            user = TOKEN_USER if ok else None
        elif basic is not None:
            ok = basic == (TOKEN_USER, TOKEN_PASSWORD)
            user = TOKEN_USER if ok else None
        with self.lock:
            self.requests.append(TokenRequest(method, scopes, user, grant, ok))
            expired = self.expire_next > 0
            if expired:
                self.expire_next -= 1
            expires_in = self.expires_in
            give_refresh = self.return_refresh_token
        if not ok:
            body: dict[str, object] = {
                "errors": [{"code": "UNAUTHORIZED", "message": "incorrect username or password"}]
            }
            return 401, body
        token = self.mint(scopes, user, expired=expired)
        with self.lock:
            self.issued.append(token)
        body = {"token": token, "access_token": token, "expires_in": expires_in}
        if give_refresh:
            body["refresh_token"] = REFRESH_TOKEN
        return 200, body


class _Handler(BaseHTTPRequestHandler):
    timeout = 10

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _basic(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user, password

    def do_GET(self) -> None:
        service: TokenService = self.server.service  # type: ignore[attr-defined]
        params = parse_qs(urlsplit(self.path).query)
        self._reply(*service.answer("GET", params, self._basic()))

    def do_POST(self) -> None:
        service: TokenService = self.server.service  # type: ignore[attr-defined]
        if not service.oauth_enabled:
            with service.lock:
                service.requests.append(TokenRequest("POST", (), None, None, False))
            self._reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no OAuth2 here"}]})
            return
        length = int(self.headers.get("Content-Length", "0"))
        params = parse_qs(self.rfile.read(length).decode())
        self._reply(*service.answer("POST", params, self._basic()))


@frozen
class TokenRegistry:
    server: RegistryServer
    tokens: TokenService


@contextmanager
def running_token_registry(root: Path) -> Iterator[TokenRegistry]:
    """A registry trusting :class:`TokenService` tokens, and that service, both running."""
    key = make_signing_key(root / "signing")
    tokens = TokenService(key)
    tokens.start()
    executable = find_registry_binary()
    storage = root / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    log_path = root / "registry.log"
    config_path = root / "config.yml"
    try:
        for attempt in range(1, 4):
            port = free_loopback_port()
            config = registry_config(port=port, storage=storage)
            config["auth"] = {
                "token": {
                    "realm": tokens.realm,
                    "service": SERVICE,
                    "issuer": ISSUER,
                    "rootcertbundle": str(key.cert),
                }
            }
            config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
            server = RegistryServer(
                host=f"{LOOPBACK}:{port}", url=f"http://{LOOPBACK}:{port}", root=root,
                log_path=log_path,
            )
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    [str(executable), "serve", str(config_path)],
                    cwd=root, env=_registry_env(), stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT,
                )
            try:
                ready = _wait_ready(process, server)
            except BaseException:
                _stop(process)
                raise
            if not ready:
                if attempt < 3:
                    continue
                raise RegistryStartError(f"token registry did not start:\n{server.read_log()}")
            ACTIVE_SERVERS.append(server)
            try:
                yield TokenRegistry(server, tokens)
            finally:
                ACTIVE_SERVERS.remove(server)
                _stop(process)
            return
    finally:
        tokens.stop()
