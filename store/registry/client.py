"""A distribution-spec registry client with imgpkg's auth, transport and retry rules.

Spec: the OCI distribution spec (``spec.md``: pulling, pushing monolithically
and in chunks, cross-repository mounting, content discovery, error codes)
and docs/imgpkg-reference.md §6.  One :class:`RegistryClient` per run: it
holds one pooled ``httpx.Client`` (HTTP/1.1) and is safe to share between the
threads of a worker pool.  Every operation returns ``IOResult[T, RegistryError]``.

How a request is made:

1. **Endpoint** (once per registry, cached): ``GET /v2/`` over https; for an
   insecure registry (``--registry-insecure``, or the hosts of reference
   §2.7) over plain http when https gets no answer.  A 401 there names the
   auth scheme (``WWW-Authenticate``).
2. **Credentials** (once per repository, cached): ``imgpkg_pure.store.registry.auth``.
3. **Authorization**: Basic challenge: the registry token as ``Bearer``, else
   ``Basic user:pass`` when both are set.  Bearer challenge: the registry
   token directly, else a token from the realm, cached per (registry,
   credentials, scope set) until it expires (``expires_in``, default 60 s).
   An identity token is exchanged with ``POST`` (OAuth2 ``refresh_token``
   grant, falling back to ``GET`` on 404); otherwise ``GET realm?scope=…&service=…``
   with Basic credentials if any.  A token for a wider scope set is reused
   (a push token serves pulls of the same repository).
4. **Send**: a 401 with a Bearer challenge makes the client fetch a new token
   (adding the challenge's scope) and send again, once.  Temporary failures
   (connection errors, 5xx except 501, 408, 429) are tried again up to
   ``retry_count`` times, 100 ms doubling to 1 s apart (``Retry-After`` is
   honoured up to 5 s); other 4xx are never retried.  Uploads are retried as a
   whole (a new upload session), never by re-sending one request of a session.

Scopes: reads ask ``repository:<name>:pull``, writes ``repository:<name>:pull,push``,
a mount also ``repository:<source>:pull``.

Blobs are streamed both ways in chunks of at most 1 MiB.  Downloads are
verified while they are read (:class:`imgpkg_pure.store.registry.verify.VerifiedStream`);
uploads up to ``monolithic_threshold`` bytes are one ``POST`` + ``PUT``, larger
ones ``POST`` + ``PATCH`` (``Content-Range``) per ``upload_chunk_size`` + ``PUT``.
"""

from __future__ import annotations

import base64
import enum
import json
import os
import random
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Final, Self, TextIO, final
from urllib.parse import urlencode

import httpx
from attrs import field, frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.pipeline import is_successful
from returns.result import Failure, Result, Success
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import Digest, digest_of, parse_digest
from imgpkg_pure.errors import DigestMismatch, MalformedDocument, SizeMismatch
from imgpkg_pure.media_types import MANIFEST_ACCEPT
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.reference import Reference, Repository, is_insecure_by_default
from imgpkg_pure.registry_auth import AuthConfig
from imgpkg_pure.registry_wire import (
    Challenge,
    Scopes,
    TokenResponse,
    parse_error_body,
    parse_link_next,
    parse_token_response,
    parse_upload_range,
    parse_www_authenticate,
    redact_token_body,
    redact_url,
)
from imgpkg_pure.store.registry.auth import Credential, Keychain
from imgpkg_pure.store.registry.errors import (
    AuthFailure,
    ManifestTooLarge,
    RegistryError,
    RegistryFailure,
    TransportFailure,
)
from imgpkg_pure.store.registry.options import RegistryOptions
from imgpkg_pure.store.registry.transport import (
    build_ssl_context,
    build_transport,
    describe_transport_error,
)
from imgpkg_pure.store.registry.verify import VerifiedStream

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_MONOLITHIC_THRESHOLD",
    "DEFAULT_TAG_PAGE_SIZE",
    "DEFAULT_UPLOAD_CHUNK_SIZE",
    "MAX_MANIFEST_SIZE",
    "BlobPushed",
    "Endpoint",
    "ManifestResponse",
    "PushMode",
    "RegistryClient",
]

#: Streaming granularity for uploads and downloads.
CHUNK_SIZE: Final = 1 << 20
#: Manifests larger than this are refused (the distribution spec's suggested limit).
MAX_MANIFEST_SIZE: Final = 4 << 20
#: Blobs up to this size are uploaded with one PUT; larger ones in PATCH chunks.
DEFAULT_MONOLITHIC_THRESHOLD: Final = 128 << 20
#: The size of each PATCH of a chunked upload.
DEFAULT_UPLOAD_CHUNK_SIZE: Final = 64 << 20
#: ``n`` for tag listing (imgpkg asks for 1000).
DEFAULT_TAG_PAGE_SIZE: Final = 1000
#: Token lifetime when the token endpoint does not say (docker token spec).
DEFAULT_TOKEN_SECONDS: Final = 60
CLIENT_ID: Final = "imgpkg-pure"
USER_AGENT: Final = "imgpkg-pure/0.1.0"
RETRY_AFTER_CAP_SECONDS: Final = 5.0
_ERROR_BODY_LIMIT: Final = 64 << 10
_WRITE_SCOPE: Final = "pull,push"
_OCTET: Final = "application/octet-stream"


# --- values ---------------------------------------------------------------------------------


@final
@frozen(kw_only=True)
class Endpoint:
    """How a registry is reached: scheme, and the challenge its ``/v2/`` answered (if any)."""

    registry: str
    scheme: str
    challenge: Challenge | None

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.registry}"


@final
@frozen(kw_only=True)
class ManifestResponse:
    """A manifest or index as served: its exact bytes, media type and (verified) digest."""

    raw: bytes = field(repr=False)
    media_type: str
    digest: Digest

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(media_type=self.media_type, digest=self.digest, size=len(self.raw))


class PushMode(enum.Enum):
    """How a blob got into the destination repository."""

    EXISTED = "existed"
    MOUNTED = "mounted"
    UPLOADED = "uploaded"


@final
@frozen(kw_only=True)
class BlobPushed:
    descriptor: Descriptor
    mode: PushMode


# --- internals ------------------------------------------------------------------------------


@frozen(kw_only=True)
class _Call:
    """One registry request: where, for which repository's credentials, with which scopes."""

    method: str
    target: str  # "/v2/..." (relative to the endpoint) or an absolute URL (upload locations)
    repository: str
    scopes: Scopes
    headers: tuple[tuple[str, str], ...] = ()
    content: bytes | None = None
    stream: Callable[[], Iterable[bytes]] | None = None
    retry: bool = True


@frozen
class _TokenEntry:
    scopes: Scopes
    token: str = field(repr=False)
    expires_at: float


def _temporary_status(status: int) -> bool:
    return status in (408, 429) or (status >= 500 and status != 501)


def _backoff(attempt: int) -> float:
    """ggcr's backoff: 100 ms, doubling, at most 1 s (attempt counts from 1)."""
    return float(min(0.1 * (2 ** (attempt - 1)), 1.0))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_CAP_SECONDS)
    return None


def _is_temporary(error: RegistryError) -> bool:
    match error:
        case RegistryFailure(temporary=temporary) | TransportFailure(temporary=temporary):
            return temporary
        case _:
            return False


def _media_type(response: httpx.Response) -> str:
    return str(response.headers.get("Content-Type", "")).split(";", 1)[0].strip()


class _BodyFailed(Exception):
    """Raised inside a request body generator; ``_send`` turns it back into its error value."""

    def __init__(self, error: RegistryError) -> None:
        super().__init__(error)
        self.error = error


class _Feed:
    """Hands out exactly ``size`` bytes of a chunk source, one request body at a time.

    A source that ends early stops the request being sent (``_BodyFailed``
    carrying a ``SizeMismatch``): the registry never sees a short body.
    """

    def __init__(self, chunks: Iterable[bytes], size: int, what: str) -> None:
        self._source = iter(chunks)
        self._size = size
        self._what = what
        self._pending = b""
        self.sent = 0

    def take(self, count: int) -> Iterator[bytes]:
        """The next ``count`` bytes, in pieces of at most ``CHUNK_SIZE``."""
        remaining = count
        while remaining > 0:
            if not self._pending:
                try:
                    self._pending = next(self._source)
                except StopIteration:
                    raise _BodyFailed(
                        SizeMismatch(what=self._what, expected=self._size, actual=self.sent)
                    ) from None
                continue
            piece = self._pending[: min(remaining, CHUNK_SIZE)]
            self._pending = self._pending[len(piece) :]
            remaining -= len(piece)
            self.sent += len(piece)
            yield piece

    def surplus(self) -> int:
        """Bytes the source still has after ``size`` (reads at most one more chunk)."""
        if self._pending:
            return len(self._pending)
        for chunk in self._source:
            if chunk:
                return len(chunk)
        return 0


# --- the client -----------------------------------------------------------------------------


class RegistryClient:
    """A registry client for one run (see the module doc).

    ``environ`` is the environment the keychain and the proxy rules read
    (default: a copy of ``os.environ``).  ``clock`` and ``sleep`` are
    injectable for tests (token expiry, retry delays); ``debug_stream``
    receives the debug log (default: ``sys.stderr`` at the time of writing).

    Constructing never fails: a problem with ``ca_cert_paths`` or the
    ``IMGPKG_REGISTRY_*`` variables is returned by every operation, and by
    :meth:`open`, which is the preferred way to make a client.
    """

    def __init__(
        self,
        options: RegistryOptions | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        keychain: Keychain | None = None,
        monolithic_threshold: int = DEFAULT_MONOLITHIC_THRESHOLD,
        upload_chunk_size: int = DEFAULT_UPLOAD_CHUNK_SIZE,
        max_manifest_size: int = MAX_MANIFEST_SIZE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        debug_stream: TextIO | None = None,
    ) -> None:
        self._options = options if options is not None else RegistryOptions()
        env = dict(os.environ) if environ is None else dict(environ)
        self._keychain = keychain if keychain is not None else Keychain(self._options, env)
        self._monolithic_threshold = monolithic_threshold
        self._chunk_size = max(1, upload_chunk_size)
        self._max_manifest = max_manifest_size
        self._clock = clock
        self._sleep = sleep
        self._debug_stream = debug_stream
        self._debug_lock = threading.Lock()
        self._endpoints: dict[str, Endpoint] = {}
        self._endpoint_lock = threading.Lock()
        self._tokens: dict[tuple[str, AuthConfig], list[_TokenEntry]] = {}
        self._refresh_tokens: dict[tuple[str, AuthConfig], str] = {}
        self._token_lock = threading.Lock()
        self._setup_error: RegistryError | None = None
        context = build_ssl_context(self._options)
        if is_successful(context):
            ssl_context: ssl.SSLContext = unsafe_perform_io(context.unwrap())
        else:
            self._setup_error = unsafe_perform_io(context.failure())
            ssl_context = ssl.create_default_context()  # never used: every operation fails
        keychain_ok = self._keychain.check()
        if self._setup_error is None and not is_successful(keychain_ok):
            self._setup_error = unsafe_perform_io(keychain_ok.failure())
        write = self._debug if self._options.debug else None
        timeout = self._options.response_header_timeout
        self._http = httpx.Client(
            transport=build_transport(env, ssl_context, write),
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
        )

    @classmethod
    def open(
        cls,
        options: RegistryOptions | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> IOResult[RegistryClient, RegistryError]:
        """A client, or the setup error (CA files, ``IMGPKG_REGISTRY_*`` variables).

        ``kwargs`` are the other keyword arguments of the constructor.
        """
        client = cls(options, environ=environ, **kwargs)
        if client._setup_error is not None:
            client.close()
            return IOFailure(client._setup_error)
        return IOSuccess(client)

    @property
    def options(self) -> RegistryOptions:
        return self._options

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- debug log --

    def _debug(self, text: str) -> None:
        stream = self._debug_stream if self._debug_stream is not None else sys.stderr
        with self._debug_lock:
            stream.write(text + "\n")
            stream.flush()

    # -- public operations ---------------------------------------------------------------

    def ping(self, registry: str) -> IOResult[Endpoint, RegistryError]:
        """Find how ``registry`` is reached and check that its credentials are accepted."""
        return IOResult.from_result(self._ping(registry))

    def get_manifest(self, ref: Reference) -> IOResult[ManifestResponse, RegistryError]:
        """``GET /v2/<name>/manifests/<ref>``: the exact bytes, verified against the digest.

        A digest reference is checked against its digest; a tag against the
        ``Docker-Content-Digest`` header when the registry sends one.
        """
        return IOResult.from_result(self._get_manifest(ref))

    def head_manifest(self, ref: Reference) -> IOResult[Descriptor | None, RegistryError]:
        """``HEAD /v2/<name>/manifests/<ref>``: the descriptor, or None when unknown (404).

        Falls back to GET when the registry's HEAD answer lacks the digest header.
        """
        return IOResult.from_result(self._head_manifest(ref))

    def put_manifest(
        self, repo: Repository, tag_or_digest: str | Digest, raw: bytes, media_type: str
    ) -> IOResult[Digest, RegistryError]:
        """``PUT /v2/<name>/manifests/<tag|digest>``; the manifest's digest."""
        return IOResult.from_result(self._put_manifest(repo, tag_or_digest, raw, media_type))

    def blob_exists(self, repo: Repository, digest: Digest) -> IOResult[int | None, RegistryError]:
        """``HEAD /v2/<name>/blobs/<digest>``: the blob's size, or None when absent."""
        return IOResult.from_result(self._blob_size(repo, digest, repo.scope("pull")))

    def open_blob(
        self, repo: Repository, descriptor: Descriptor
    ) -> IOResult[VerifiedStream, RegistryError]:
        """``GET /v2/<name>/blobs/<digest>`` as a :class:`VerifiedStream`.

        Iterate it (chunks of at most 1 MiB) and then ask ``verdict()``: only a
        successful verdict means the bytes are the descriptor's.  Use it as a
        context manager so the connection is released.
        """
        return IOResult.from_result(self._open_blob(repo, descriptor))

    def fetch_blob_to(
        self, repo: Repository, descriptor: Descriptor, write: Callable[[bytes], object]
    ) -> IOResult[Descriptor, RegistryError]:
        """Stream a blob into ``write``; the descriptor once size and digest are verified.

        ``write`` has seen unverified bytes when this fails: write somewhere
        provisional and commit only on success.
        """
        opened = self._open_blob(repo, descriptor)
        if not isinstance(opened, Success):
            return IOFailure(opened.failure())
        stream: VerifiedStream = opened.unwrap()
        with stream:
            for chunk in stream:
                write(chunk)
        return stream.verdict()

    def push_blob(
        self,
        repo: Repository,
        descriptor: Descriptor,
        open_chunks: Callable[[], Iterable[bytes]],
        mount_from: Repository | None = None,
    ) -> IOResult[BlobPushed, RegistryError]:
        """Make the blob present in ``repo``: HEAD, then mount, then upload.

        ``open_chunks`` opens the content from its start (it is called again
        when an upload is retried).  ``mount_from`` (same registry) is tried
        with ``POST ?mount=&from=``; a 202 answer means the registry did not
        mount, and its upload session is used instead.
        """
        return IOResult.from_result(self._push_blob(repo, descriptor, open_chunks, mount_from))

    def list_tags(
        self, repo: Repository, page_size: int = DEFAULT_TAG_PAGE_SIZE
    ) -> IOResult[tuple[str, ...], RegistryError]:
        """``GET /v2/<name>/tags/list?n=<page_size>``, following ``Link: <…>; rel="next"``."""
        return IOResult.from_result(self._list_tags(repo, page_size))

    # -- endpoint discovery ---------------------------------------------------------------

    def _exchange(
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
        attempt = 1
        while True:
            try:
                response = self._http.request(
                    method,
                    url,
                    headers=headers,
                    params=list(params) if params is not None else None,
                    content=content,
                    follow_redirects=method in ("GET", "HEAD"),
                )
            except httpx.TransportError as error:
                reason, temporary = describe_transport_error(error)
                failure = TransportFailure(
                    method=method, url=redact_url(url), reason=reason, temporary=temporary
                )
                if retry and temporary and attempt < self._options.tries:
                    self._sleep(_backoff(attempt))
                    attempt += 1
                    continue
                return Failure(failure)
            if retry and _temporary_status(response.status_code) and attempt < self._options.tries:
                self._sleep(_retry_after(response) or _backoff(attempt))
                attempt += 1
                continue
            return Success(response)

    def _endpoint(self, registry: str) -> Result[Endpoint, RegistryError]:
        if self._setup_error is not None:
            return Failure(self._setup_error)
        with self._endpoint_lock:
            known = self._endpoints.get(registry)
        if known is not None:
            return Success(known)
        found = self._discover(registry)
        if isinstance(found, Success):
            with self._endpoint_lock:
                self._endpoints.setdefault(registry, found.unwrap())
                return Success(self._endpoints[registry])
        return found

    def _discover(self, registry: str) -> Result[Endpoint, RegistryError]:
        plain_allowed = self._options.insecure or is_insecure_by_default(registry)
        first = self._probe(registry, "https", retry=not plain_allowed)
        if not plain_allowed or isinstance(first, Success):
            return first
        https_error = first.failure()
        if not isinstance(https_error, TransportFailure):
            return first
        second = self._probe(registry, "http", retry=True)
        if isinstance(second, Success):
            return second
        # Both failed: report https first (a TLS problem is the likely one, and has a hint).
        http_error = second.failure()
        temporary = https_error.temporary and _is_temporary(http_error)
        return Failure(
            TransportFailure(
                method="GET",
                url=https_error.url,
                reason=f"{https_error.reason}; plain http also failed: {http_error.message}",
                temporary=temporary,
            )
        )

    def _probe(self, registry: str, scheme: str, *, retry: bool) -> Result[Endpoint, RegistryError]:
        url = f"{scheme}://{registry}/v2/"
        answered = self._exchange("GET", url, retry=retry)
        if not isinstance(answered, Success):
            return Failure(answered.failure())
        response = answered.unwrap()
        if response.status_code == 200:
            return Success(Endpoint(registry=registry, scheme=scheme, challenge=None))
        if response.status_code == 401:
            challenge = _pick_challenge(response) or Challenge(scheme="basic")
            return Success(Endpoint(registry=registry, scheme=scheme, challenge=challenge))
        return Failure(_failure_from(response, "GET", url))

    def _learn_challenge(self, endpoint: Endpoint, challenge: Challenge) -> Endpoint:
        updated = Endpoint(registry=endpoint.registry, scheme=endpoint.scheme, challenge=challenge)
        with self._endpoint_lock:
            self._endpoints[endpoint.registry] = updated
        return updated

    # -- credentials and tokens -----------------------------------------------------------

    def _credential(self, registry: str, repository: str) -> Result[Credential, RegistryError]:
        resolved = self._keychain.resolve(registry, repository)
        if is_successful(resolved):
            return Success(unsafe_perform_io(resolved.unwrap()))
        return Failure(unsafe_perform_io(resolved.failure()))

    def _authorization(
        self, endpoint: Endpoint, credential: Credential, scopes: Scopes, *, refresh: bool
    ) -> Result[str | None, RegistryError]:
        challenge = endpoint.challenge
        config = credential.config
        if challenge is None:
            return Success(None)
        if config.registry_token:
            return Success(f"Bearer {config.registry_token}")
        if challenge.is_bearer:
            return self._bearer(endpoint, credential, scopes, refresh=refresh).map(
                lambda token: f"Bearer {token}"
            )
        if config.username and config.password:
            pair = f"{config.username}:{config.password}".encode()
            return Success(f"Basic {base64.b64encode(pair).decode('ascii')}")
        if config.auth:
            return Success(f"Basic {config.auth}")
        return Success(None)

    def _bearer(
        self, endpoint: Endpoint, credential: Credential, scopes: Scopes, *, refresh: bool
    ) -> Result[str, RegistryError]:
        key = (endpoint.registry, credential.config)
        with self._token_lock:
            now = self._clock()
            entries = self._tokens.setdefault(key, [])
            if refresh:
                entries[:] = [e for e in entries if not scopes.covers(e.scopes)]
            else:
                for entry in entries:
                    if entry.expires_at > now and entry.scopes.covers(scopes):
                        return Success(entry.token)
            fetched = self._fetch_token(endpoint, credential, scopes)
            if not isinstance(fetched, Success):
                return Failure(fetched.failure())
            answer = fetched.unwrap()
            lifetime = float(answer.expires_in or DEFAULT_TOKEN_SECONDS)
            margin = min(5.0, lifetime / 10)
            entries[:] = [e for e in entries if not scopes.covers(e.scopes) and e.expires_at > now]
            entries.append(_TokenEntry(scopes, answer.token, now + lifetime - margin))
            return Success(answer.token)

    def _fetch_token(
        self, endpoint: Endpoint, credential: Credential, scopes: Scopes
    ) -> Result[TokenResponse, RegistryError]:
        challenge = endpoint.challenge
        assert challenge is not None
        registry = endpoint.registry
        realm = challenge.realm
        if not realm:
            return Failure(
                AuthFailure(
                    registry=registry,
                    credentials=credential.label,
                    reason="the registry's Bearer challenge names no token realm",
                )
            )
        service = challenge.service
        config = credential.config
        refresh_token = self._refresh_tokens.get((registry, config)) or config.identity_token
        method = "POST"
        answered: Result[httpx.Response, RegistryError] | None = None
        if refresh_token:
            form = [("grant_type", "refresh_token"), ("refresh_token", refresh_token)]
            form += [("client_id", CLIENT_ID)]
            if service:
                form.append(("service", service))
            if scopes.items:
                form.append(("scope", " ".join(scopes.items)))
            body = urlencode(form)
            answered = self._exchange(
                "POST",
                realm,
                retry=True,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                content=body.encode("ascii"),
            )
            if isinstance(answered, Success) and answered.unwrap().status_code == 404:
                answered = None  # not every token server speaks OAuth2 (ggcr does the same)
        if answered is None:
            method = "GET"
            params = [("scope", scope) for scope in scopes.items]
            if service:
                params.append(("service", service))
            headers: dict[str, str] = {}
            if config.username and config.password:
                pair = f"{config.username}:{config.password}".encode()
                headers["Authorization"] = f"Basic {base64.b64encode(pair).decode('ascii')}"
            elif config.auth:
                headers["Authorization"] = f"Basic {config.auth}"
            answered = self._exchange("GET", realm, retry=True, headers=headers, params=params)
        if not isinstance(answered, Success):
            return Failure(answered.failure())
        response = answered.unwrap()
        raw = response.content
        if response.status_code != 200:
            failure = _failure_from(response, method, str(response.request.url))
            return Failure(
                AuthFailure(
                    registry=registry,
                    credentials=credential.label,
                    reason=f"token request refused: {failure.message}",
                    status=response.status_code,
                    codes=failure.codes,
                )
            )
        if self._options.debug:
            self._debug(f"    token response: {redact_token_body(raw)}")
        parsed = parse_token_response(raw, f"token response from {redact_url(realm)}")
        if isinstance(parsed, Success) and parsed.unwrap().refresh_token:
            refreshed = parsed.unwrap().refresh_token
            assert refreshed is not None
            self._refresh_tokens[(registry, config)] = refreshed
        return parsed.alt(lambda error: error)

    # -- sending --------------------------------------------------------------------------

    def _send(self, registry: str, call: _Call) -> Result[httpx.Response, RegistryError]:
        """Send ``call`` with auth and retries; the response is open (stream) on success."""
        found = self._endpoint(registry)
        if not isinstance(found, Success):
            return Failure(found.failure())
        endpoint = found.unwrap()
        resolved = self._credential(registry, call.repository)
        if not isinstance(resolved, Success):
            return Failure(resolved.failure())
        credential = resolved.unwrap()
        scopes = call.scopes
        refresh = False
        auth_retried = False
        attempt = 1
        while True:
            authorization = self._authorization(endpoint, credential, scopes, refresh=refresh)
            refresh = False  # one new token per 401, however the retry then goes
            if not isinstance(authorization, Success):
                return Failure(authorization.failure())
            url = endpoint.base_url + call.target if call.target.startswith("/") else call.target
            headers = dict(call.headers)
            header = authorization.unwrap()
            if header is not None and httpx.URL(url).netloc.decode("ascii") == registry:
                headers["Authorization"] = header
            content: bytes | Iterable[bytes] | None = call.content
            if call.stream is not None:
                content = call.stream()
            request = self._http.build_request(call.method, url, headers=headers, content=content)
            try:
                response = self._http.send(
                    request, stream=True, follow_redirects=call.method in ("GET", "HEAD")
                )
            except _BodyFailed as failed:
                return Failure(failed.error)
            except httpx.TransportError as error:
                reason, temporary = describe_transport_error(error)
                failure = TransportFailure(
                    method=call.method, url=redact_url(url), reason=reason, temporary=temporary
                )
                if call.retry and temporary and attempt < self._options.tries:
                    self._sleep(_backoff(attempt))
                    attempt += 1
                    continue
                return Failure(failure)
            status = response.status_code
            if status == 401 and not auth_retried:
                challenge = _pick_challenge(response)
                if challenge is not None and _worth_another_try(endpoint, credential, challenge):
                    response.close()
                    auth_retried = True
                    refresh = challenge.is_bearer
                    scopes = scopes.union(challenge.scopes)
                    endpoint = self._learn_challenge(endpoint, challenge)
                    continue
            if status == 401:
                failure_401 = _failure_from(response, call.method, url)
                return Failure(
                    AuthFailure(
                        registry=registry,
                        credentials=credential.label,
                        reason=failure_401.message,
                        status=401,
                        codes=failure_401.codes,
                    )
                )
            if call.retry and _temporary_status(status) and attempt < self._options.tries:
                delay = _retry_after(response) or _backoff(attempt)
                response.close()
                self._sleep(delay)
                attempt += 1
                continue
            return Success(response)

    def _read(self, response: httpx.Response, limit: int) -> Result[bytes, RegistryError]:
        """The whole body (at most ``limit`` bytes; more is ``ManifestTooLarge``); closes it."""
        method, url = response.request.method, redact_url(str(response.request.url))
        data = bytearray()
        try:
            for chunk in response.iter_raw():
                data += chunk
                if len(data) > limit:
                    return Failure(ManifestTooLarge(url=url, limit=limit, size=None))
        except httpx.TransportError as error:
            reason, temporary = describe_transport_error(error)
            return Failure(
                TransportFailure(method=method, url=url, reason=reason, temporary=temporary)
            )
        finally:
            response.close()
        return Success(bytes(data))

    def _call(
        self, registry: str, call: _Call, ok: tuple[int, ...]
    ) -> Result[httpx.Response, RegistryError]:
        """``_send`` plus the status check: an unexpected status becomes an error value."""
        sent = self._send(registry, call)
        if not isinstance(sent, Success):
            return sent
        response = sent.unwrap()
        if response.status_code not in ok:
            return Failure(_failure_from(response, call.method, str(response.request.url)))
        return sent

    # -- operations -----------------------------------------------------------------------

    def _ping(self, registry: str) -> Result[Endpoint, RegistryError]:
        found = self._endpoint(registry)
        if not isinstance(found, Success):
            return found
        if found.unwrap().challenge is None:
            return found
        call = _Call(method="GET", target="/v2/", repository="", scopes=Scopes())
        checked = self._call(registry, call, (200,))
        if not isinstance(checked, Success):
            return Failure(checked.failure())
        checked.unwrap().close()
        return self._endpoint(registry)

    def _get_manifest(self, ref: Reference) -> Result[ManifestResponse, RegistryError]:
        call = _Call(
            method="GET",
            target=f"/v2/{ref.repository}/manifests/{ref.identifier}",
            repository=ref.repository,
            scopes=Scopes((ref.scope("pull"),)),
            headers=(("Accept", ", ".join(MANIFEST_ACCEPT)),),
        )
        sent = self._call(ref.registry, call, (200,))
        if not isinstance(sent, Success):
            return Failure(sent.failure())
        response = sent.unwrap()
        url = redact_url(str(response.request.url))
        told = response.headers.get("Content-Length", "")
        if told.isdigit() and int(told) > self._max_manifest:
            response.close()
            return Failure(ManifestTooLarge(url=url, limit=self._max_manifest, size=int(told)))
        media_type = _media_type(response)
        header_digest = parse_digest(response.headers.get("Docker-Content-Digest", "")).value_or(
            None
        )
        body = self._read(response, self._max_manifest)
        if not isinstance(body, Success):
            return Failure(body.failure())
        raw = body.unwrap()
        expected = ref.digest if ref.digest is not None else header_digest
        actual = digest_of(raw, expected.algorithm if expected is not None else "sha256")
        if expected is not None and actual != expected:
            return Failure(
                DigestMismatch(what=f"manifest {ref}", expected=str(expected), actual=str(actual))
            )
        if media_type in ("", "application/json", "text/plain", _OCTET):
            media_type = _declared_media_type(raw) or media_type
        return Success(ManifestResponse(raw=raw, media_type=media_type, digest=actual))

    def _head_manifest(self, ref: Reference) -> Result[Descriptor | None, RegistryError]:
        call = _Call(
            method="HEAD",
            target=f"/v2/{ref.repository}/manifests/{ref.identifier}",
            repository=ref.repository,
            scopes=Scopes((ref.scope("pull"),)),
            headers=(("Accept", ", ".join(MANIFEST_ACCEPT)),),
        )
        sent = self._call(ref.registry, call, (200, 404))
        if not isinstance(sent, Success):
            return Failure(sent.failure())
        response = sent.unwrap()
        response.close()
        if response.status_code == 404:
            return Success(None)
        digest = parse_digest(response.headers.get("Docker-Content-Digest", "")).value_or(None)
        size = response.headers.get("Content-Length", "")
        media_type = _media_type(response)
        if digest is None or not size.isdigit() or not media_type:
            return self._get_manifest(ref).map(lambda m: m.descriptor)
        if ref.digest is not None and digest != ref.digest:
            return Failure(
                DigestMismatch(what=f"manifest {ref}", expected=str(ref.digest), actual=str(digest))
            )
        return Success(Descriptor(media_type=media_type, digest=digest, size=int(size)))

    def _put_manifest(
        self, repo: Repository, tag_or_digest: str | Digest, raw: bytes, media_type: str
    ) -> Result[Digest, RegistryError]:
        if isinstance(tag_or_digest, Digest):
            computed = digest_of(raw, tag_or_digest.algorithm)
            if computed != tag_or_digest:
                return Failure(
                    DigestMismatch(
                        what=f"manifest for {repo}@{tag_or_digest}",
                        expected=str(tag_or_digest),
                        actual=str(computed),
                    )
                )
        computed = digest_of(raw)
        call = _Call(
            method="PUT",
            target=f"/v2/{repo.repository}/manifests/{tag_or_digest}",
            repository=repo.repository,
            scopes=Scopes((repo.scope(_WRITE_SCOPE),)),
            headers=(("Content-Type", media_type),),
            content=raw,
        )
        sent = self._call(repo.registry, call, (200, 201, 202))
        if not isinstance(sent, Success):
            return Failure(sent.failure())
        response = sent.unwrap()
        response.close()
        told = parse_digest(response.headers.get("Docker-Content-Digest", "")).value_or(None)
        if told is not None and told.algorithm == computed.algorithm and told != computed:
            return Failure(
                DigestMismatch(
                    what=f"manifest pushed to {repo}:{tag_or_digest}",
                    expected=str(computed),
                    actual=str(told),
                )
            )
        return Success(computed)

    def _blob_size(
        self, repo: Repository, digest: Digest, scope: str
    ) -> Result[int | None, RegistryError]:
        call = _Call(
            method="HEAD",
            target=f"/v2/{repo.repository}/blobs/{digest}",
            repository=repo.repository,
            scopes=Scopes((scope,)),
        )
        sent = self._call(repo.registry, call, (200, 404))
        if not isinstance(sent, Success):
            return Failure(sent.failure())
        response = sent.unwrap()
        response.close()
        if response.status_code == 404:
            return Success(None)
        size = response.headers.get("Content-Length", "")
        return Success(int(size) if size.isdigit() else 0)

    def _open_blob(
        self, repo: Repository, descriptor: Descriptor
    ) -> Result[VerifiedStream, RegistryError]:
        call = _Call(
            method="GET",
            target=f"/v2/{repo.repository}/blobs/{descriptor.digest}",
            repository=repo.repository,
            scopes=Scopes((repo.scope("pull"),)),
        )
        sent = self._call(repo.registry, call, (200,))
        if not isinstance(sent, Success):
            return Failure(sent.failure())
        response = sent.unwrap()
        what = f"blob {descriptor.digest} from {repo}"
        told = response.headers.get("Content-Length", "")
        if told.isdigit() and int(told) != descriptor.size:
            response.close()
            return Failure(SizeMismatch(what=what, expected=descriptor.size, actual=int(told)))
        method, url = "GET", redact_url(str(response.request.url))

        def map_error(error: Exception) -> RegistryError | None:
            if isinstance(error, httpx.TransportError):
                reason, temporary = describe_transport_error(error)
                return TransportFailure(method=method, url=url, reason=reason, temporary=temporary)
            if isinstance(error, httpx.StreamError):
                return TransportFailure(method=method, url=url, reason=str(error))
            return None

        return Success(
            VerifiedStream(
                response.iter_raw(),
                descriptor,
                what=what,
                close=response.close,
                map_error=map_error,
            )
        )

    def _push_blob(
        self,
        repo: Repository,
        descriptor: Descriptor,
        open_chunks: Callable[[], Iterable[bytes]],
        mount_from: Repository | None,
    ) -> Result[BlobPushed, RegistryError]:
        scope = repo.scope(_WRITE_SCOPE)
        present = self._blob_size(repo, descriptor.digest, scope)
        if not isinstance(present, Success):
            return Failure(present.failure())
        if present.unwrap() is not None:
            return Success(BlobPushed(descriptor=descriptor, mode=PushMode.EXISTED))
        attempt = 1
        while True:
            outcome = self._push_once(repo, descriptor, open_chunks, mount_from)
            if isinstance(outcome, Success):
                return outcome
            error = outcome.failure()
            if not _is_temporary(error) or attempt >= self._options.tries:
                return outcome
            self._sleep(_backoff(attempt))
            attempt += 1

    def _push_once(
        self,
        repo: Repository,
        descriptor: Descriptor,
        open_chunks: Callable[[], Iterable[bytes]],
        mount_from: Repository | None,
    ) -> Result[BlobPushed, RegistryError]:
        digest = descriptor.digest
        target = f"/v2/{repo.repository}/blobs/uploads/"
        scopes = Scopes((repo.scope(_WRITE_SCOPE),))
        mounting = (
            mount_from is not None and mount_from.registry == repo.registry and mount_from != repo
        )
        if mounting:
            assert mount_from is not None
            target += f"?mount={digest}&from={mount_from.repository}"
            scopes = scopes.union((mount_from.scope("pull"),))
        call = _Call(
            method="POST",
            target=target,
            repository=repo.repository,
            scopes=scopes,
            headers=(("Content-Length", "0"),),
            content=b"",
            retry=False,
        )
        started = self._call(repo.registry, call, (201, 202) if mounting else (202,))
        if not isinstance(started, Success):
            return Failure(started.failure())
        response = started.unwrap()
        response.close()
        if response.status_code == 201:
            return Success(BlobPushed(descriptor=descriptor, mode=PushMode.MOUNTED))
        location = _location(response)
        if location is None:
            return Failure(_protocol_failure(response, "the upload answer has no Location header"))
        what = f"blob {digest} for {repo}"
        feed = _Feed(open_chunks(), descriptor.size, what)
        if descriptor.size <= self._monolithic_threshold:
            uploaded = self._put_upload(repo, location, descriptor, feed, descriptor.size)
        else:
            uploaded = self._chunked_upload(repo, location, descriptor, feed)
        if not isinstance(uploaded, Success):
            self._cancel_upload(repo, location)
            return Failure(uploaded.failure())
        surplus = feed.surplus()
        if surplus:
            return Failure(
                SizeMismatch(what=what, expected=descriptor.size, actual=descriptor.size + surplus)
            )
        return Success(BlobPushed(descriptor=descriptor, mode=PushMode.UPLOADED))

    def _cancel_upload(self, repo: Repository, location: str) -> None:
        """Best effort ``DELETE`` of an upload session that failed (spec: "Canceling an Upload")."""
        call = _Call(
            method="DELETE",
            target=location,
            repository=repo.repository,
            scopes=Scopes((repo.scope(_WRITE_SCOPE),)),
            retry=False,
        )
        sent = self._send(repo.registry, call)
        if isinstance(sent, Success):
            sent.unwrap().close()

    def _put_upload(
        self, repo: Repository, location: str, descriptor: Descriptor, feed: _Feed, count: int
    ) -> Result[None, RegistryError]:
        url = str(httpx.URL(location).copy_merge_params({"digest": str(descriptor.digest)}))
        remaining = count

        def body() -> Iterable[bytes]:
            return feed.take(remaining)

        call = _Call(
            method="PUT",
            target=url,
            repository=repo.repository,
            scopes=Scopes((repo.scope(_WRITE_SCOPE),)),
            headers=(("Content-Type", _OCTET), ("Content-Length", str(count))),
            stream=body if count else None,
            content=None if count else b"",
            retry=False,
        )
        done = self._call(repo.registry, call, (201, 204))
        if not isinstance(done, Success):
            return Failure(done.failure())
        done.unwrap().close()
        return Success(None)

    def _chunked_upload(
        self, repo: Repository, location: str, descriptor: Descriptor, feed: _Feed
    ) -> Result[None, RegistryError]:
        offset = 0
        size = descriptor.size
        while offset < size:
            count = min(self._chunk_size, size - offset)
            start = offset

            def body(count: int = count) -> Iterable[bytes]:
                return feed.take(count)

            call = _Call(
                method="PATCH",
                target=location,
                repository=repo.repository,
                scopes=Scopes((repo.scope(_WRITE_SCOPE),)),
                headers=(
                    ("Content-Type", _OCTET),
                    ("Content-Length", str(count)),
                    ("Content-Range", f"{start}-{start + count - 1}"),
                ),
                stream=body,
                retry=False,
            )
            sent = self._call(repo.registry, call, (202,))
            if not isinstance(sent, Success):
                return Failure(sent.failure())
            response = sent.unwrap()
            response.close()
            progress = parse_upload_range(response.headers.get("Range", ""))
            if progress is not None and progress != start + count:
                return Failure(
                    _protocol_failure(
                        response,
                        f"the registry holds {progress} bytes of the upload, "
                        f"expected {start + count}",
                    )
                )
            next_location = _location(response)
            if next_location is None:
                return Failure(_protocol_failure(response, "the PATCH answer has no Location"))
            location = next_location
            offset += count
        return self._put_upload(repo, location, descriptor, feed, 0)

    def _list_tags(
        self, repo: Repository, page_size: int
    ) -> Result[tuple[str, ...], RegistryError]:
        tags: list[str] = []
        target: str | None = f"/v2/{repo.repository}/tags/list?n={page_size}"
        seen: set[str] = set()
        while target is not None and target not in seen:
            seen.add(target)
            call = _Call(
                method="GET",
                target=target,
                repository=repo.repository,
                scopes=Scopes((repo.scope("pull"),)),
            )
            sent = self._call(repo.registry, call, (200,))
            if not isinstance(sent, Success):
                return Failure(sent.failure())
            response = sent.unwrap()
            link = response.headers.get("Link", "")
            page_url = str(response.request.url)
            body = self._read(response, MAX_MANIFEST_SIZE)
            if not isinstance(body, Success):
                return Failure(body.failure())
            page = _parse_tags(body.unwrap(), f"tag list of {repo}")
            if not isinstance(page, Success):
                return Failure(page.failure())
            tags.extend(page.unwrap())
            following = parse_link_next(link) if link else None
            target = str(httpx.URL(page_url).join(following)) if following else None
        return Success(tuple(tags))


# --- response helpers -----------------------------------------------------------------------


def _pick_challenge(response: httpx.Response) -> Challenge | None:
    """The Bearer challenge of a 401 if there is one, else the first challenge."""
    found: list[Challenge] = []
    for value in response.headers.get_list("WWW-Authenticate"):
        parsed = parse_www_authenticate(value)
        if isinstance(parsed, Success):
            found.extend(parsed.unwrap())
    for challenge in found:
        if challenge.is_bearer:
            return challenge
    return found[0] if found else None


def _worth_another_try(endpoint: Endpoint, credential: Credential, challenge: Challenge) -> bool:
    """Whether a 401 can be cured by fetching a token or by sending credentials now."""
    if credential.config.registry_token:
        return endpoint.challenge is None
    if challenge.is_bearer:
        return True
    return endpoint.challenge is None and not credential.anonymous


def _location(response: httpx.Response) -> str | None:
    value = response.headers.get("Location")
    if not value:
        return None
    return str(response.request.url.join(value))


def _protocol_failure(response: httpx.Response, detail: str) -> RegistryFailure:
    return RegistryFailure(
        status=response.status_code,
        codes=(),
        detail=detail,
        method=response.request.method,
        url=redact_url(str(response.request.url)),
        temporary=False,
    )


def _failure_from(response: httpx.Response, method: str, url: str) -> RegistryFailure:
    """An error value for an unexpected answer, with the distribution error codes (closes it)."""
    data = bytearray()
    if method != "HEAD":
        try:
            data += response.content[:_ERROR_BODY_LIMIT]  # already read (unauthenticated calls)
        except httpx.ResponseNotRead:
            try:
                for chunk in response.iter_raw():
                    data += chunk
                    if len(data) >= _ERROR_BODY_LIMIT:
                        break
            except (httpx.TransportError, httpx.StreamError):
                pass
    response.close()
    entries = parse_error_body(bytes(data))
    if entries:
        detail = "; ".join(f"{e.code}: {e.message}" if e.message else e.code for e in entries)
    else:
        text = bytes(data[:300]).decode("utf-8", errors="replace")
        detail = " ".join(text.split())
    return RegistryFailure(
        status=response.status_code,
        codes=tuple(e.code for e in entries if e.code),
        detail=detail,
        method=method,
        url=redact_url(url),
        temporary=_temporary_status(response.status_code),
    )


def _declared_media_type(raw: bytes) -> str | None:
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    value = obj.get("mediaType") if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None


def _parse_tags(raw: bytes, where: str) -> Result[tuple[str, ...], MalformedDocument]:
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        return Failure(MalformedDocument(where=where, reason=f"not JSON: {error}"))
    if not isinstance(obj, dict):
        return Failure(MalformedDocument(where=where, reason="expected a JSON object"))
    tags = obj.get("tags")
    if tags is None:
        return Success(())
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return Failure(MalformedDocument(where=where, reason="'tags' is not a list of strings"))
    return Success(tuple(tags))
