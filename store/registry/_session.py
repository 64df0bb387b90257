"""Authenticated registry requests: endpoints, credentials, and sending with auth and retries.

Private to ``imgpkg_pure.store.registry``.  :class:`Session` owns the first
and last steps of every request (the module doc of
``imgpkg_pure.store.registry.client`` has the whole list):

1. **Endpoint** (once per registry, cached; threads that ask at once wait for
   the one probe): ``GET /v2/`` over https; for an insecure registry
   (``--registry-insecure``, or the hosts of reference §2.7) over plain http
   when https gets no answer.  A 401 there names the auth scheme
   (``WWW-Authenticate``).
2. **Credentials** (once per repository, cached by the keychain):
   ``imgpkg_pure.store.registry.auth``.
3. **Authorization**: ``imgpkg_pure.store.registry._tokens``.
4. **Send**: a 401 with a Bearer challenge makes the session fetch a new token
   (adding the challenge's scope) and send again, once; so does a 401 that
   credentials not yet sent can cure.  Once a registry has accepted a
   credential's tokens, a later 401 that is not ``insufficient_scope`` is a token
   that expired or was revoked mid-run: a new token is fetched each time, within
   the request's retry budget.  Temporary failures are tried again as
   :class:`imgpkg_pure.store.registry._http.Attempts` says; other 4xx never.
   The ``Authorization`` header only goes to the registry's own host (never to
   a redirect target or a foreign upload location).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import attrs
import httpx
from returns.io import IO
from returns.result import Failure, Result, Success
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.reference import is_insecure_by_default
from imgpkg_pure.registry_wire import Challenge, Scopes
from imgpkg_pure.store.registry._connection import Connection
from imgpkg_pure.store.registry._http import (
    Attempts,
    BodyFailed,
    Call,
    Endpoint,
    auth_failure,
    closed,
    failure_from,
    is_temporary,
    pick_challenge,
    temporary_status,
    transport_failure,
)
from imgpkg_pure.store.registry._tokens import TokenSource
from imgpkg_pure.store.registry.auth import Credential, Keychain
from imgpkg_pure.store.registry.errors import RegistryError, TransportFailure

__all__ = ["Session"]


def _worth_another_try(endpoint: Endpoint, credential: Credential, challenge: Challenge) -> bool:
    """Whether a 401 can be cured by fetching a token or by sending credentials now."""
    if credential.config.registry_token:
        return endpoint.challenge is None
    if challenge.is_bearer:
        return True
    return endpoint.challenge is None and not credential.anonymous


class Session:
    """Sends :class:`Call` values for one run (thread-safe; see the module doc).

    ``setup_error`` is the connection's CA problem, else an invalid
    ``IMGPKG_REGISTRY_*`` environment: when set, every request returns it.
    """

    def __init__(
        self, connection: Connection, keychain: Keychain, *, clock: Callable[[], float]
    ) -> None:
        self.connection = connection
        self._keychain = keychain
        self._tokens = TokenSource(connection, clock)
        self._endpoints: dict[str, Endpoint] = {}
        self._endpoint_lock = threading.Lock()
        self._probing: dict[str, threading.Lock] = {}
        self._accepted: set[tuple[str, str]] = set()  # (registry, credential) tokens worked
        self.setup_error: RegistryError | None = connection.setup_error
        checked = unsafe_perform_io(IO.from_ioresult(keychain.check()))
        if self.setup_error is None and not isinstance(checked, Success):
            self.setup_error = checked.failure()

    # -- endpoint discovery ---------------------------------------------------------------

    def endpoint(self, registry: str) -> Result[Endpoint, RegistryError]:
        """How ``registry`` is reached (probed once, then cached)."""
        if self.setup_error is not None:
            return Failure(self.setup_error)
        with self._endpoint_lock:
            known = self._endpoints.get(registry)
            if known is not None:
                return Success(known)
            probing = self._probing.setdefault(registry, threading.Lock())
        with probing:  # one probe per registry: the threads that start together wait for it
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
        plain_allowed = self.connection.options.insecure or is_insecure_by_default(registry)
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
        temporary = https_error.temporary and is_temporary(http_error)
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
        answered = self.connection.exchange("GET", url, retry=retry)
        if not isinstance(answered, Success):
            return Failure(answered.failure())
        response = answered.unwrap()
        if response.status_code == 200:
            return Success(Endpoint(registry=registry, scheme=scheme, challenge=None))
        if response.status_code == 401:
            challenge = pick_challenge(response) or Challenge(scheme="basic")
            return Success(Endpoint(registry=registry, scheme=scheme, challenge=challenge))
        return Failure(failure_from(response, "GET", url))

    def _learn_challenge(self, endpoint: Endpoint, challenge: Challenge) -> Endpoint:
        updated = Endpoint(registry=endpoint.registry, scheme=endpoint.scheme, challenge=challenge)
        with self._endpoint_lock:
            self._endpoints[endpoint.registry] = updated
        return updated

    def ping(self, registry: str) -> Result[Endpoint, RegistryError]:
        """The endpoint of ``registry``, once its credentials are accepted at ``/v2/``."""
        found = self.endpoint(registry)
        if not isinstance(found, Success):
            return found
        if found.unwrap().challenge is None:
            return found
        call = Call(method="GET", target="/v2/", registry=registry, repository="", scopes=Scopes())
        checked = self.call_closed(call, (200,))
        if not isinstance(checked, Success):
            return Failure(checked.failure())
        return self.endpoint(registry)

    # -- sending --------------------------------------------------------------------------

    def send(
        self, call: Call, attempts: Attempts | None = None
    ) -> Result[httpx.Response, RegistryError]:
        """Send ``call`` with auth and retries; the response is open (stream) on success.

        ``attempts``: a retry budget shared with the caller (one that also retries
        reading the body); by default the call has its own.
        """
        registry = call.registry
        found = self.endpoint(registry)
        if not isinstance(found, Success):
            return Failure(found.failure())
        endpoint = found.unwrap()
        resolved = unsafe_perform_io(
            IO.from_ioresult(self._keychain.resolve(registry, call.repository))
        )
        if not isinstance(resolved, Success):
            return Failure(resolved.failure())
        credential = resolved.unwrap()
        scopes = call.scopes
        refresh = False
        auth_retried = False
        if attempts is None:
            attempts = self.connection.attempts(call.retry)
        accepted_key = (registry, credential.label)
        while True:
            authorization = self._tokens.authorization(
                endpoint, credential, scopes, refresh=refresh
            )
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
            try:
                response = self.connection.stream(call.method, url, headers, content)
            except BodyFailed as failed:
                return Failure(failed.error)
            except (httpx.TransportError, httpx.TooManyRedirects) as error:
                failure = transport_failure(call.method, url, error)
                if attempts.again(failure.temporary):
                    continue
                return Failure(failure)
            status = response.status_code
            if status == 401 and auth_retried and header is not None:
                challenge = pick_challenge(response)
                if (
                    challenge is not None
                    and challenge.is_bearer
                    and challenge.get("error") != "insufficient_scope"
                    and accepted_key in self._accepted
                    and attempts.again(True)
                ):
                    # A token that worked here before: expired mid-run.
                    refresh = True
                    scopes = scopes.union(challenge.scopes)
                    if call.stream is not None:
                        return self._body_spent(response, call, endpoint, credential, scopes)
                    response.close()
                    continue
            if status != 401 and header is not None:
                self._accepted.add(accepted_key)
            if status == 401 and not auth_retried:
                challenge = pick_challenge(response)
                if challenge is not None and _worth_another_try(endpoint, credential, challenge):
                    auth_retried = True
                    refresh = challenge.is_bearer
                    scopes = scopes.union(challenge.scopes)
                    endpoint = self._learn_challenge(endpoint, challenge)
                    if call.stream is not None and refresh:
                        return self._body_spent(response, call, endpoint, credential, scopes)
                    response.close()
                    continue
            if status == 401:
                failure_401 = failure_from(response, call.method, url)
                return Failure(auth_failure(registry, credential.label, failure_401))
            if attempts.again(temporary_status(status), response):
                continue
            return Success(response)

    def _body_spent(
        self,
        response: httpx.Response,
        call: Call,
        endpoint: Endpoint,
        credential: Credential,
        scopes: Scopes,
    ) -> Result[httpx.Response, RegistryError]:
        """A 401 to a request whose streamed body is spent: it cannot be sent again here.

        The new token is fetched now (for the next request) and the 401 returned as a
        temporary failure, so the upload starts over with its content opened again.
        """
        self._tokens.authorization(endpoint, credential, scopes, refresh=True)
        failure = failure_from(response, call.method, str(response.request.url))
        return Failure(attrs.evolve(failure, temporary=True))

    def call(
        self, call: Call, ok: tuple[int, ...], attempts: Attempts | None = None
    ) -> Result[httpx.Response, RegistryError]:
        """:meth:`send` plus the status check: an unexpected status becomes an error value."""
        sent = self.send(call, attempts)
        if not isinstance(sent, Success):
            return sent
        response = sent.unwrap()
        if response.status_code not in ok:
            return Failure(failure_from(response, call.method, str(response.request.url)))
        return sent

    def call_closed(self, call: Call, ok: tuple[int, ...]) -> Result[httpx.Response, RegistryError]:
        """:meth:`call` for an answer whose body is not wanted: the response comes closed."""
        return self.call(call, ok).map(closed)

    def head(self, call: Call) -> Result[httpx.Response | None, RegistryError]:
        """A ``HEAD`` (or any call answered 200): the closed response, or None for a 404."""
        return self.call_closed(call, (200, 404)).map(
            lambda response: None if response.status_code == 404 else response
        )
