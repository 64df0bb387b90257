"""The ``Authorization`` header of a registry request, and the Bearer tokens behind it.

Private to ``imgpkg_pure.store.registry``.  Rules (docs/imgpkg-reference.md §6,
the docker token spec, ggcr's ``transport`` package):

* no challenge at ``/v2/``: no header;
* a registry token (``IMGPKG_REGISTRY_REGISTRY_TOKEN``, ``--registry-token``,
  a docker config ``registrytoken``) is sent as ``Bearer`` whatever the challenge;
* a Bearer challenge: a token from the realm, cached per (registry,
  credentials, scope set) until it expires (``expires_in``, default 60 s, less
  a margin); a token for a wider scope set is reused (a push token serves
  pulls of the same repository).  An identity token (or a refresh token the
  realm handed out) is exchanged with ``POST`` (OAuth2 ``refresh_token``
  grant), falling back to ``GET`` on 404; otherwise ``GET
  realm?scope=…&service=…`` with Basic credentials if any;
* a Basic challenge: ``Basic user:pass`` when both are set (or the given
  ``auth``), else nothing.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from typing import Final
from urllib.parse import urlencode

import httpx
from attrs import field, frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.registry_auth import AuthConfig
from imgpkg_pure.registry_wire import (
    Scopes,
    TokenResponse,
    parse_token_response,
    redact_token_body,
    redact_url,
)
from imgpkg_pure.store.registry._connection import Connection
from imgpkg_pure.store.registry._http import Endpoint, auth_failure, failure_from
from imgpkg_pure.store.registry.auth import Credential
from imgpkg_pure.store.registry.errors import AuthFailure, RegistryError

__all__ = ["CLIENT_ID", "DEFAULT_TOKEN_SECONDS", "TokenSource", "basic_authorization"]

#: Token lifetime when the token endpoint does not say (docker token spec).
DEFAULT_TOKEN_SECONDS: Final = 60
CLIENT_ID: Final = "imgpkg-pure"


def basic_authorization(config: AuthConfig) -> str | None:
    """``Basic …`` for a username and password (or a given ``auth``); None without them."""
    if config.username and config.password:
        pair = f"{config.username}:{config.password}".encode()
        return f"Basic {base64.b64encode(pair).decode('ascii')}"
    if config.auth:
        return f"Basic {config.auth}"
    return None


@frozen
class _TokenEntry:
    scopes: Scopes
    token: str = field(repr=False)
    expires_at: float


class TokenSource:
    """Authorization headers for one run: the token caches (thread-safe; see the module doc)."""

    def __init__(self, connection: Connection, clock: Callable[[], float]) -> None:
        self._connection = connection
        self._clock = clock
        self._tokens: dict[tuple[str, AuthConfig], list[_TokenEntry]] = {}
        self._refresh_tokens: dict[tuple[str, AuthConfig], str] = {}
        self._lock = threading.Lock()

    def authorization(
        self, endpoint: Endpoint, credential: Credential, scopes: Scopes, *, refresh: bool
    ) -> Result[str | None, RegistryError]:
        """The header value for a request needing ``scopes`` (``refresh``: a new token)."""
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
        return Success(basic_authorization(config))

    def _bearer(
        self, endpoint: Endpoint, credential: Credential, scopes: Scopes, *, refresh: bool
    ) -> Result[str, RegistryError]:
        key = (endpoint.registry, credential.config)
        with self._lock:
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
        if not realm.lower().startswith(("http://", "https://")):
            return Failure(
                AuthFailure(
                    registry=registry,
                    credentials=credential.label,
                    reason=f"the registry's Bearer challenge names a token realm that is not "
                    f"an http(s) URL: {redact_url(realm)!r}",
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
            answered = self._connection.exchange(
                "POST",
                realm,
                retry=True,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                content=urlencode(form).encode("ascii"),
            )
            if isinstance(answered, Success) and answered.unwrap().status_code == 404:
                answered = None  # not every token server speaks OAuth2 (ggcr does the same)
        if answered is None:
            method = "GET"
            params = [("scope", scope) for scope in scopes.items]
            if service:
                params.append(("service", service))
            basic = basic_authorization(config)
            headers = {"Authorization": basic} if basic is not None else {}
            answered = self._connection.exchange(
                "GET", realm, retry=True, headers=headers, params=params
            )
        if not isinstance(answered, Success):
            return Failure(answered.failure())
        response = answered.unwrap()
        raw = response.content
        if response.status_code != 200:
            failure = failure_from(response, method, str(response.request.url))
            return Failure(
                auth_failure(registry, credential.label, failure, "token request refused: ")
            )
        if self._connection.options.debug:
            self._connection.debug(f"    token response: {redact_token_body(raw)}")
        parsed = parse_token_response(raw, f"token response from {redact_url(realm)}")
        if isinstance(parsed, Success) and parsed.unwrap().refresh_token:
            refreshed = parsed.unwrap().refresh_token
            assert refreshed is not None
            self._refresh_tokens[(registry, config)] = refreshed
        return parsed.alt(lambda error: error)
