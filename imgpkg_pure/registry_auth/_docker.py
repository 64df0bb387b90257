"""The docker config keychain (reference §6.3): ``config.json``, and what to ask of it.

:func:`parse_docker_config` reads a docker CLI ``config.json`` (or podman's
``auth.json``); :func:`docker_lookups` says what to try for a target, in
order: a credential helper to run (:class:`HelperGet`) or credentials the file
stores (:class:`StoredAuth`); :func:`helper_credentials` reads a helper's answer.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Final, final

from attrs import field, frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.registry_auth._values import (
    AuthConfig,
    InvalidDockerConfig,
    KeychainError,
    target_of,
)

__all__ = [
    "DOCKER_HUB",
    "DOCKER_HUB_ALIASES",
    "DOCKER_HUB_AUTH_KEY",
    "TOKEN_USERNAME",
    "DockerConfig",
    "DockerLookup",
    "HelperGet",
    "StoredAuth",
    "docker_lookups",
    "helper_credentials",
    "parse_docker_config",
]

DOCKER_HUB: Final = "index.docker.io"
#: The docker config key under which Docker Hub credentials live.
DOCKER_HUB_AUTH_KEY: Final = "https://index.docker.io/v1/"
#: Keys that name Docker Hub in a docker or podman config, in the order they are tried.
DOCKER_HUB_ALIASES: Final = (DOCKER_HUB_AUTH_KEY, "index.docker.io", "docker.io")
#: What a credential helper answers as ``Username`` for an identity token.
TOKEN_USERNAME: Final = "<token>"


@final
@frozen(kw_only=True)
class DockerConfig:
    """The parts of a docker CLI ``config.json`` that name credentials.

    ``auths`` is sorted by key; each ``auth`` value is already decoded into
    username and password.  ``where`` names the file (for messages).
    """

    where: str
    auths: tuple[tuple[str, AuthConfig], ...] = ()
    creds_store: str = ""
    cred_helpers: tuple[tuple[str, str], ...] = ()

    def helper_for(self, key: str) -> str:
        """``credHelpers[key]`` (any Docker Hub alias for Docker Hub), else ``credsStore``."""
        for alias in _aliases(key):
            for host, helper in self.cred_helpers:
                if host == alias:
                    return helper
        return self.creds_store


# --- parsing config.json --------------------------------------------------------------------

_AUTH_FIELDS: Final = {
    "username": "username",
    "password": "password",
    "auth": "auth",
    "identitytoken": "identity_token",
    "registrytoken": "registry_token",
}


class _BadConfig(Exception):
    pass


def _decode_auth(value: str) -> tuple[str, str]:
    """The docker CLI's ``decodeAuth``: base64 ``user:pass``."""
    try:
        decoded = base64.b64decode(value.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as error:
        raise _BadConfig(f"illegal base64 data in auth: {error}") from error
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        raise _BadConfig("Invalid auth configuration file")
    return user, password.strip("\x00")


def _auth_entry(key: str, entry: object) -> AuthConfig:
    if not isinstance(entry, dict):
        raise _BadConfig(f"auths['{key}'] is not an object")
    values: dict[str, str] = {}
    for name, value in entry.items():
        target = _AUTH_FIELDS.get(str(name).lower())
        if target is None:
            continue  # email, serveraddress, ...
        if not isinstance(value, str):
            raise _BadConfig(f"auths['{key}'].{name} is not a string")
        values[target] = value
    auth = values.pop("auth", "")
    if auth:
        values["username"], values["password"] = _decode_auth(auth)
    return AuthConfig(**values)


def _string_map(obj: object, name: str) -> dict[str, str]:
    if obj is None:
        return {}
    if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
        raise _BadConfig(f"'{name}' is not an object of strings")
    return {str(k): v for k, v in obj.items()}


def parse_docker_config(raw: bytes, where: str) -> Result[DockerConfig, KeychainError]:
    """Parse a docker CLI ``config.json`` (also podman's ``auth.json``).

    Field names are matched case-insensitively, as Go's JSON decoder does.
    """
    try:
        obj = json.loads(raw) if raw.strip() else {}
        if not isinstance(obj, dict):
            raise _BadConfig("expected a JSON object")
        fields = {str(k).lower(): v for k, v in obj.items()}
        auths_obj = fields.get("auths")
        if auths_obj is not None and not isinstance(auths_obj, dict):
            raise _BadConfig("'auths' is not an object")
        auths = tuple(
            sorted((str(k), _auth_entry(str(k), v)) for k, v in (auths_obj or {}).items())
        )
        store = fields.get("credsstore")
        if store is not None and not isinstance(store, str):
            raise _BadConfig("'credsStore' is not a string")
        helpers = _string_map(fields.get("credhelpers"), "credHelpers")
    except (ValueError, UnicodeDecodeError) as error:
        return Failure(InvalidDockerConfig(where=where, reason=f"not JSON: {error}"))
    except _BadConfig as bad:
        return Failure(InvalidDockerConfig(where=where, reason=str(bad)))
    return Success(
        DockerConfig(
            where=where,
            auths=auths,
            creds_store=store or "",
            cred_helpers=tuple(sorted(helpers.items())),
        )
    )


@final
@frozen(kw_only=True)
class StoredAuth:
    """Credentials written in the config file itself, found under ``key``."""

    key: str
    config: AuthConfig


@final
@frozen(kw_only=True)
class HelperGet:
    """Ask ``docker-credential-<helper> get`` for ``server_url``.

    ``registry_token`` is what the file itself stores for that key (the docker
    CLI keeps it next to the helper's answer).
    """

    helper: str
    server_url: str
    registry_token: str = field(default="", repr=False)

    @property
    def program(self) -> str:
        return f"docker-credential-{self.helper}"


DockerLookup = StoredAuth | HelperGet


def _convert_to_hostname(key: str) -> str:
    for prefix in ("http://", "https://"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    return key.partition("/")[0]


def _aliases(key: str) -> tuple[str, ...]:
    return DOCKER_HUB_ALIASES if key == DOCKER_HUB_AUTH_KEY else (key,)


def _stored(config: DockerConfig, key: str) -> AuthConfig:
    """The docker CLI file store's ``Get``: the exact key, else a key with that hostname.

    For Docker Hub every alias (``https://index.docker.io/v1/``, ``index.docker.io``,
    ``docker.io``, as podman writes it) is tried, in that order.
    """
    for alias in _aliases(key):
        for name, auth in config.auths:
            if name == alias:
                return auth
        for name, auth in config.auths:
            if _convert_to_hostname(name) == alias:
                return auth
    return AuthConfig()


def docker_lookups(
    config: DockerConfig, registry: str, repository: str
) -> tuple[DockerLookup, ...]:
    """What to try, in order, for ``registry/repository`` (ggcr's default keychain, §6.3).

    The keys are ``registry/repository`` then ``registry``; ``index.docker.io``
    becomes ``https://index.docker.io/v1/`` (and the config entries for
    ``index.docker.io`` and ``docker.io`` also count for it).  For each key a
    configured helper (``credHelpers[key]``, else ``credsStore``) is asked,
    otherwise the stored ``auths``.  The first non-empty answer wins.
    """
    keys = [target_of(registry, repository), registry]
    if keys[0] == keys[1]:
        keys = keys[:1]
    lookups: list[DockerLookup] = []
    for given in keys:
        key = DOCKER_HUB_AUTH_KEY if given == DOCKER_HUB else given
        helper = config.helper_for(key)
        if helper:
            stored = _stored(config, key)
            lookups.append(
                HelperGet(helper=helper, server_url=key, registry_token=stored.registry_token)
            )
        else:
            lookups.append(StoredAuth(key=key, config=_stored(config, key)))
    return tuple(lookups)


def helper_credentials(lookup: HelperGet, raw: bytes) -> Result[AuthConfig, InvalidDockerConfig]:
    """A helper's ``get`` answer (``{"ServerURL","Username","Secret"}``) as credentials.

    ``Username`` ``<token>`` means ``Secret`` is an identity token.
    """
    where = f"{lookup.program} get {lookup.server_url}"
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        return Failure(InvalidDockerConfig(where=where, reason=f"answer is not JSON: {error}"))
    if not isinstance(obj, dict):
        return Failure(InvalidDockerConfig(where=where, reason="answer is not a JSON object"))
    username = obj.get("Username", "")
    secret = obj.get("Secret", "")
    if not isinstance(username, str) or not isinstance(secret, str):
        return Failure(InvalidDockerConfig(where=where, reason="Username/Secret are not strings"))
    if username == TOKEN_USERNAME:
        return Success(AuthConfig(identity_token=secret, registry_token=lookup.registry_token))
    return Success(
        AuthConfig(username=username, password=secret, registry_token=lookup.registry_token)
    )
