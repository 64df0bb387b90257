"""Loopback fakes for the IaaS keychain tests: each one speaks the real protocol.

* :class:`CloudRegistries` stands in for DNS and the clouds' registries.  It is
  an HTTP forward proxy (``HTTP_PROXY``): a request for a name it serves
  (``ghcr.io``, ``foo.gcr.io``, ``<account>.dkr.ecr.<region>.amazonaws.com``,
  ``x.azurecr.io``) must carry that registry's credentials, and is then
  relayed to a real ``docker-registry`` on 127.0.0.1 (with the ``Host`` it was
  sent to).  Without them it answers 401 with the registry's challenge, as
  the cloud registry would: ``Basic`` for the user/password ones, ACR's
  ``Bearer`` realm with ``/oauth2/exchange`` (AD token → refresh token, the
  form fields checked) and ``/oauth2/token`` (the OAuth2 refresh grant).
  ``CONNECT`` is refused, so clients fall back to plain http
  (``--registry-insecure``).  Production host matching stays exact: the
  client really asks for ``foo.gcr.io``, and only the proxy knows where it is.
* :class:`FakeMetadataServer`: the GCE metadata server's token endpoint
  (requires ``Metadata-Flavor: Google`` and answers with it).
* :class:`FakeGoogleOAuth`: Google's token endpoint: the refresh-token grant
  (``authorized_user``) and the JWT-bearer grant (``service_account``), whose
  RS256 signature it verifies with ``openssl dgst -verify``.
* :class:`FakeEcr`: ECR's ``GetAuthorizationToken`` (JSON 1.1) and ECR Public's,
  verifying each SigV4 signature by recomputing it with :func:`sigv4_signature`,
  an implementation independent of ``imgpkg_pure`` (stdlib ``hmac``).
* :class:`FakeAzureAd`: Azure AD's v1 token endpoint (client credentials,
  with a secret or a federated assertion), checking the form fields.

Every server listens on 127.0.0.1 in a daemon thread, every socket has a
timeout, and every request is recorded for the tests' assertions.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import http.client
import json
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, quote, urlsplit

from attrs import define, field, frozen

from tests.registry_fixtures import LOOPBACK, RegistryServer

SOCKET_TIMEOUT: Final = 10.0
CLOUD_PLATFORM: Final = "https://www.googleapis.com/auth/cloud-platform"
METADATA_PATH: Final = "/computeMetadata/v1/instance/service-accounts/default/token"
ECR_TARGET: Final = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
ECR_PUBLIC_TARGET: Final = "SpencerFrontendService.GetAuthorizationToken"
ARM_RESOURCE: Final = "https://management.azure.com/"
_HOP_BY_HOP: Final = frozenset(
    {"connection", "proxy-connection", "keep-alive", "transfer-encoding", "upgrade",
     "proxy-authorization", "te", "trailer"}
)


@frozen
class Seen:
    """One request a fake received."""

    method: str
    host: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k.lower() == name.lower()), "")

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}


class _Handler(BaseHTTPRequestHandler):
    """Reads the request, records it, and hands it to the server's ``answer``."""

    timeout = SOCKET_TIMEOUT
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        del format, args

    def _serve(self) -> None:
        fake: _Fake = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length", "0") or "0")
        body = self.rfile.read(length) if length else b""
        seen = Seen(
            method=self.command,
            host=self.headers.get("Host", ""),
            path=self.path,
            headers=tuple(self.headers.items()),
            body=body,
        )
        fake.record(seen)
        status, headers, payload = fake.answer(seen)
        self.send_response(status)
        sent_length = False
        for name, value in headers:
            sent_length = sent_length or name.lower() == "content-length"
            self.send_header(name, value)
        if not sent_length:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_CONNECT = _serve


Answer = tuple[int, list[tuple[str, str]], bytes]


def json_answer(status: int, document: object, *extra: tuple[str, str]) -> Answer:
    return status, [("Content-Type", "application/json"), *extra], json.dumps(document).encode()


class _Fake:
    """A threaded HTTP server on loopback; a context manager."""

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer((LOOPBACK, 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._lock = threading.Lock()
        self.seen: list[Seen] = []

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self.seen)

    def answer(self, seen: Seen) -> Answer:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# --- the cloud registries (a forward proxy in front of a real docker-registry) ---------------


@frozen
class BasicPolicy:
    username: str
    password: str


@define
class AcrPolicy:
    """ACR: AD token → refresh token (exchange) → access token (refresh grant) → requests."""

    tenant: str
    aad_token: str
    refresh_token: str = field(factory=lambda: "acr-refresh-" + secrets.token_hex(8))
    access_token: str = field(factory=lambda: "acr-access-" + secrets.token_hex(8))


UNAUTHORIZED: Final = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}


class CloudRegistries(_Fake):
    """See the module doc.  ``upstream`` is the plain-http registry holding the content."""

    def __init__(self, upstream: RegistryServer) -> None:
        super().__init__()
        self.upstream = upstream
        self.policies: dict[str, BasicPolicy | AcrPolicy] = {}
        self.relayed: list[Seen] = []

    def add_basic(self, name: str, username: str, password: str) -> None:
        self.policies[name] = BasicPolicy(username, password)

    def add_acr(self, name: str, tenant: str, aad_token: str) -> AcrPolicy:
        policy = AcrPolicy(tenant=tenant, aad_token=aad_token)
        self.policies[name] = policy
        return policy

    def answer(self, seen: Seen) -> Answer:
        if seen.method == "CONNECT":
            return 403, [], b""
        parts = urlsplit(seen.path)
        if parts.scheme != "http" or parts.netloc not in self.policies:
            return 502, [], f"no such host: {parts.netloc}".encode()
        name = parts.netloc
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        policy = self.policies[name]
        if isinstance(policy, AcrPolicy):
            if parts.path == "/oauth2/exchange":
                return self._acr_exchange(seen, name, policy)
            if parts.path == "/oauth2/token":
                return self._acr_token(seen, name, policy)
            allowed = seen.header("Authorization") == f"Bearer {policy.access_token}"
            challenge = f'Bearer realm="http://{name}/oauth2/token",service="{name}"'
        else:
            pair = f"{policy.username}:{policy.password}".encode()
            allowed = seen.header("Authorization") == f"Basic {base64.b64encode(pair).decode()}"
            challenge = f'Basic realm="{name}"'
        if not allowed:
            return json_answer(401, UNAUTHORIZED, ("WWW-Authenticate", challenge))
        with self._lock:
            self.relayed.append(seen)
        return self._relay(seen, name, path)

    def _relay(self, seen: Seen, name: str, path: str) -> Answer:
        headers = {
            k: v for k, v in seen.headers
            if k.lower() not in _HOP_BY_HOP and k.lower() not in ("host", "authorization")
        }
        headers["Host"] = name
        connection = http.client.HTTPConnection(
            LOOPBACK, self.upstream.port, timeout=SOCKET_TIMEOUT
        )
        try:
            connection.request(seen.method, path, body=seen.body or None, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            if seen.method != "HEAD":
                kept = [(k, v) for k, v in kept if k.lower() != "content-length"]
            return response.status, kept, payload
        finally:
            connection.close()

    def _acr_exchange(self, seen: Seen, name: str, policy: AcrPolicy) -> Answer:
        form = seen.form()
        expected = {
            "grant_type": "access_token",
            "service": name,
            "tenant": policy.tenant,
            "access_token": policy.aad_token,
        }
        bearer = seen.header("Authorization") == f"Bearer {policy.aad_token}"
        if seen.method != "POST" or form != expected or not bearer:
            return json_answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad AAD"}]})
        return json_answer(200, {"refresh_token": policy.refresh_token})

    def _acr_token(self, seen: Seen, name: str, policy: AcrPolicy) -> Answer:
        form = seen.form()
        ok = (
            seen.method == "POST"
            and form.get("grant_type") == "refresh_token"
            and form.get("refresh_token") == policy.refresh_token
            and form.get("service") == name
        )
        if not ok:
            return json_answer(401, UNAUTHORIZED)
        return json_answer(200, {"access_token": policy.access_token, "expires_in": 300})


# --- GCE metadata server and Google's token endpoint ----------------------------------------


class FakeMetadataServer(_Fake):
    """``GET /computeMetadata/v1/instance/service-accounts/default/token``."""

    def __init__(self, access_token: str) -> None:
        super().__init__()
        self.access_token = access_token

    def answer(self, seen: Seen) -> Answer:
        flavor = ("Metadata-Flavor", "Google")
        if seen.header("Metadata-Flavor") != "Google":
            return 403, [flavor], b"Missing Metadata-Flavor:Google header."
        if seen.method != "GET" or urlsplit(seen.path).path != METADATA_PATH:
            return 404, [flavor], b"not found"
        token = {"access_token": self.access_token, "expires_in": 3599, "token_type": "Bearer"}
        return json_answer(200, token, flavor)


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def openssl_verify_rs256(public_key: Path, signing_input: bytes, signature: bytes) -> bool:
    """``openssl dgst -sha256 -verify``: an RS256 check independent of imgpkg_pure."""
    openssl = shutil.which("openssl")
    assert openssl is not None, "openssl is needed"
    sig_file = public_key.parent / f"sig-{secrets.token_hex(4)}"
    sig_file.write_bytes(signature)
    try:
        done = subprocess.run(
            [openssl, "dgst", "-sha256", "-verify", str(public_key), "-signature", str(sig_file)],
            input=signing_input, capture_output=True, timeout=20, check=False,
        )
    finally:
        sig_file.unlink()
    return done.returncode == 0


class FakeGoogleOAuth(_Fake):
    """``POST /token``: refresh-token and JWT-bearer grants (see the module doc)."""

    def __init__(self, access_token: str) -> None:
        super().__init__()
        self.access_token = access_token
        self.users: dict[str, tuple[str, str]] = {}  # client_id → (secret, refresh token)
        self.accounts: dict[str, tuple[Path, str]] = {}  # email → (public key PEM, key id)
        self.rejections: list[str] = []

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def answer(self, seen: Seen) -> Answer:
        form = seen.form()
        problem = self._problem(seen, form)
        if problem is not None:
            self.rejections.append(problem)
            return json_answer(400, {"error": "invalid_grant", "error_description": problem})
        token = {"access_token": self.access_token, "expires_in": 3599, "token_type": "Bearer"}
        return json_answer(200, token)

    def _problem(self, seen: Seen, form: Mapping[str, str]) -> str | None:
        if seen.method != "POST" or seen.path != "/token":
            return "not POST /token"
        if seen.header("Content-Type") != "application/x-www-form-urlencoded":
            return "not a form"
        grant = form.get("grant_type")
        if grant == "refresh_token":
            known = self.users.get(form.get("client_id", ""))
            wanted = None if known is None else (known[0], known[1])
            given = (form.get("client_secret"), form.get("refresh_token"))
            return None if wanted == given else "unknown client or refresh token"
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self._jwt_problem(form.get("assertion", ""))
        return f"unsupported grant_type {grant}"

    def _jwt_problem(self, assertion: str) -> str | None:
        parts = assertion.split(".")
        if len(parts) != 3:
            return "not a JWT"
        header = json.loads(_b64url_decode(parts[0]))
        claims = json.loads(_b64url_decode(parts[1]))
        known = self.accounts.get(claims.get("iss", ""))
        if known is None:
            return "unknown service account"
        public_key, key_id = known
        if header != {"alg": "RS256", "typ": "JWT", "kid": key_id}:
            return f"bad JWT header {header}"
        now = time.time()
        if (
            claims.get("aud") != self.token_uri
            or claims.get("scope") != CLOUD_PLATFORM
            or claims["exp"] - claims["iat"] != 3600
            or abs(claims["iat"] - now) > 300
        ):
            return f"bad JWT claims {claims}"
        signing_input = f"{parts[0]}.{parts[1]}".encode()
        if not openssl_verify_rs256(public_key, signing_input, _b64url_decode(parts[2])):
            return "bad JWT signature"
        return None


# --- ECR --------------------------------------------------------------------------------------


def sigv4_signature(
    *,
    secret: str,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: list[str],
    payload: bytes,
    amz_date: str,
    region: str,
    service: str,
) -> str:
    """SigV4 as AWS documents it, written here from the documentation with stdlib ``hmac``."""

    def mac(key: bytes, text: str) -> bytes:
        return hmac.new(key, text.encode(), hashlib.sha256).digest()

    lowered = {k.lower(): v for k, v in headers.items()}
    canonical_headers = "".join(
        f"{name}:{' '.join(lowered[name].split())}\n" for name in sorted(signed_headers)
    )
    pairs = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in query)
    canonical = "\n".join([
        method,
        quote(path, safe="/-_.~"),
        "&".join(f"{k}={v}" for k, v in pairs),
        canonical_headers,
        ";".join(sorted(signed_headers)),
        hashlib.sha256(payload).hexdigest(),
    ])
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join([
        "AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()
    ])
    key = mac(f"AWS4{secret}".encode(), amz_date[:8])
    for part in (region, service, "aws4_request"):
        key = mac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


@frozen
class AwsKey:
    secret: str
    session_token: str | None = None


def encode_ecr_token(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


class FakeEcr(_Fake):
    """``POST /`` with ``X-Amz-Target`` ECR or ECR Public ``GetAuthorizationToken``."""

    def __init__(self, password: str) -> None:
        super().__init__()
        self.password = password
        self.keys: dict[str, AwsKey] = {}
        self.verified: list[tuple[str, str, str]] = []  # (access key, region, service)
        self.rejections: list[str] = []

    def answer(self, seen: Seen) -> Answer:
        problem, scope = self._check(seen)
        if problem is not None:
            self.rejections.append(problem)
            error = {"__type": "InvalidSignatureException", "message": problem}
            return json_answer(403, error)
        _access_key, region, service = scope
        self.verified.append(scope)
        token = encode_ecr_token("AWS", self.password)
        if seen.header("X-Amz-Target") == ECR_PUBLIC_TARGET:
            if service != "ecr-public" or region != "us-east-1" or seen.body != b"{}":
                return json_answer(400, {"__type": "ValidationException", "message": "public"})
            return json_answer(200, {"authorizationData": {
                "authorizationToken": token, "expiresAt": time.time() + 43200}})
        body = json.loads(seen.body)
        ids = body.get("registryIds", [])
        if service != "ecr" or len(ids) != 1:
            return json_answer(400, {"__type": "ValidationException", "message": "registryIds"})
        proxy = f"https://{ids[0]}.dkr.ecr.{region}.amazonaws.com"
        return json_answer(200, {"authorizationData": [{
            "authorizationToken": token, "expiresAt": time.time() + 43200,
            "proxyEndpoint": proxy}]})

    def _check(self, seen: Seen) -> tuple[str | None, tuple[str, str, str]]:
        nothing = ("", "", "")
        if seen.method != "POST" or seen.path != "/":
            return "not POST /", nothing
        if seen.header("Content-Type") != "application/x-amz-json-1.1":
            return "not JSON 1.1", nothing
        if seen.header("X-Amz-Target") not in (ECR_TARGET, ECR_PUBLIC_TARGET):
            return "unknown target", nothing
        authorization = seen.header("Authorization")
        algorithm, _, rest = authorization.partition(" ")
        fields = dict(
            item.strip().split("=", 1) for item in rest.split(",") if "=" in item
        )
        if algorithm != "AWS4-HMAC-SHA256" or set(fields) != {
            "Credential", "SignedHeaders", "Signature"
        }:
            return "bad Authorization header", nothing
        access_key, date, region, service, terminator = fields["Credential"].split("/")
        amz_date = seen.header("X-Amz-Date")
        key = self.keys.get(access_key)
        if key is None:
            return "unknown access key", nothing
        if terminator != "aws4_request" or amz_date[:8] != date:
            return "bad credential scope", nothing
        stamp = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
        if abs(stamp - time.time()) > 900:
            return "request time too skewed", nothing
        signed = fields["SignedHeaders"].split(";")
        required = {"host", "x-amz-date", "x-amz-target", "content-type"}
        if key.session_token is not None:
            if seen.header("X-Amz-Security-Token") != key.session_token:
                return "bad security token", nothing
            required.add("x-amz-security-token")
        if not required <= set(signed):
            return f"unsigned headers: {sorted(required - set(signed))}", nothing
        expected = sigv4_signature(
            secret=key.secret,
            method=seen.method,
            path="/",
            query=[],
            headers={name: seen.header(name) for name in signed},
            signed_headers=signed,
            payload=seen.body,
            amz_date=amz_date,
            region=region,
            service=service,
        )
        if not hmac.compare_digest(expected, fields["Signature"]):
            return "The request signature we calculated does not match", nothing
        return None, (access_key, region, service)


# --- Azure AD ---------------------------------------------------------------------------------


class FakeAzureAd(_Fake):
    """``POST /<tenant>/oauth2/token`` (AD v1): client credentials, secret or assertion."""

    def __init__(self, tenant: str, client_id: str, access_token: str) -> None:
        super().__init__()
        self.tenant = tenant
        self.client_id = client_id
        self.access_token = access_token
        self.client_secret: str | None = None
        self.federated_token: str | None = None
        self.resource = ARM_RESOURCE

    @property
    def authority(self) -> str:
        return f"{self.url}/"

    def answer(self, seen: Seen) -> Answer:
        form = seen.form()
        expected: dict[str, str] = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "resource": self.resource,
        }
        if self.client_secret is not None:
            expected["client_secret"] = self.client_secret
        if self.federated_token is not None:
            expected["client_assertion_type"] = (
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            )
            expected["client_assertion"] = self.federated_token
        right_place = seen.method == "POST" and seen.path == f"/{self.tenant}/oauth2/token"
        if not right_place or form != expected:
            return json_answer(401, {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.",
            })
        return json_answer(200, {
            "token_type": "Bearer", "expires_in": "3599", "resource": self.resource,
            "access_token": self.access_token,
        })


def make_rsa_key(directory: Path) -> tuple[str, Path]:
    """A 2048-bit RSA key made by openssl: its PKCS#8 PEM text and its public key file."""
    openssl = shutil.which("openssl")
    assert openssl is not None, "openssl is needed"
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "sa.key"
    public = directory / "sa.pub"

    def run(args: list[str]) -> None:
        subprocess.run([openssl, *args], capture_output=True, timeout=60, check=True)

    run(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key)])
    run(["pkey", "-in", str(key), "-pubout", "-out", str(public)])
    return key.read_text(), public
