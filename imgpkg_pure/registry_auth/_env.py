"""The ``IMGPKG_REGISTRY_*`` env keychain (reference §6.2): credential sets and their matching.

Variables ``IMGPKG_REGISTRY_<KEY>[_<SUFFIX>]`` are grouped by suffix into
credential sets; a set's ``HOSTNAME`` is normalised into a key (``host`` or
``host/path``, which may hold globs) and matched against
``registry/repository`` with kubelet's ``URLsMatchStr`` rules, most specific
key first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, final

from attrs import frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.registry_auth._go import go_path_match, host_parts, parse_https
from imgpkg_pure.registry_auth._values import (
    AuthConfig,
    BadHostPattern,
    IncompleteEnvCredentials,
    InvalidEnvVariable,
    KeychainError,
)

__all__ = [
    "ENV_IGNORED",
    "ENV_KEYS",
    "ENV_PREFIX",
    "EnvCredentialSet",
    "EnvKeychain",
    "env_credentials_for",
    "env_variable",
    "parse_env_keychain",
    "target_matches",
]

ENV_PREFIX: Final = "IMGPKG_REGISTRY_"
#: ``IMGPKG_REGISTRY_*`` variables that are not credentials and are left alone.
ENV_IGNORED: Final = frozenset({"IMGPKG_REGISTRY_AZURE_CR_CONFIG"})
ENV_KEYS: Final = ("HOSTNAME", "USERNAME", "PASSWORD", "IDENTITY_TOKEN", "REGISTRY_TOKEN")


def env_variable(key: str, suffix: str | None) -> str:
    """``IMGPKG_REGISTRY_<KEY>[_<SUFFIX>]``: the variable of ``key`` in the set ``suffix``."""
    tail = "" if suffix is None else f"_{suffix}"
    return f"{ENV_PREFIX}{key}{tail}"


@final
@frozen(kw_only=True)
class EnvCredentialSet:
    """One ``IMGPKG_REGISTRY_*[_SUFFIX]`` group.

    ``suffix`` is None for the unsuffixed variables.  ``key`` is the
    normalised ``HOSTNAME`` (``host`` or ``host/path``), which may hold globs.
    """

    suffix: str | None
    key: str
    config: AuthConfig

    def variable(self, name: str) -> str:
        """The variable that set ``name`` (``HOSTNAME``, ``USERNAME``, …) in this set."""
        return env_variable(name, self.suffix)

    @property
    def label(self) -> str:
        return f"env {self.variable('HOSTNAME')}={self.key}"


@final
@frozen(kw_only=True)
class EnvKeychain:
    """The parsed env keychain, most specific key first (reverse order of keys)."""

    sets: tuple[EnvCredentialSet, ...] = ()


# --- parsing and matching -------------------------------------------------------------------


def _hostname_key(value: str) -> str | InvalidEnvVariable:
    """imgpkg's HOSTNAME normalisation: ``host`` or ``host + path`` (``/v1/``, ``/v2/`` dropped)."""
    text = value if value.startswith(("https://", "http://")) else "https://" + value
    scheme_less = text.split("://", 1)[1]
    parsed = parse_https(scheme_less)
    if isinstance(parsed, str):
        if text.startswith("http://"):
            parsed = parsed.replace('"https://', '"http://', 1)
        return InvalidEnvVariable(
            variable="",
            reason=f"Parsing registry hostname: {parsed} (e.g. gcr.io, index.docker.io)",
        )
    host, path = parsed
    if path.startswith(("/v2/", "/v1/")):
        path = path[3:]
    return host + path if path not in ("", "/") else host


def _classify(name: str) -> tuple[str, str | None] | None:
    """(key, suffix) for an ``IMGPKG_REGISTRY_<KEY>[_<SUFFIX>]`` name, None if unknown."""
    for key in ENV_KEYS:
        exact = ENV_PREFIX + key
        if name == exact:
            return key, None
        if name.startswith(exact + "_"):
            return key, name[len(exact) + 1 :]
    return None


def parse_env_keychain(env: Mapping[str, str]) -> Result[EnvKeychain, KeychainError]:
    """Collect the ``IMGPKG_REGISTRY_*`` credential sets (§6.2).

    Variables are read in sorted order, so the first error is the same on
    every run.  Any other ``IMGPKG_REGISTRY_*`` variable (except
    ``IMGPKG_REGISTRY_AZURE_CR_CONFIG``) is ``Unknown env variable '<name>'``.
    """
    groups: dict[str | None, dict[str, str]] = {}
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name in ENV_IGNORED:
            continue
        found = _classify(name)
        if found is None:
            return Failure(
                InvalidEnvVariable(variable=name, reason=f"Unknown env variable '{name}'")
            )
        key, suffix = found
        value = env[name]
        if key == "HOSTNAME":
            normal = _hostname_key(value)
            if isinstance(normal, InvalidEnvVariable):
                return Failure(InvalidEnvVariable(variable=name, reason=normal.reason))
            value = normal
        groups.setdefault(suffix, {})[key] = value
    sets: list[EnvCredentialSet] = []
    for suffix, fields in groups.items():
        built = _credential_set(suffix, fields)
        if isinstance(built, IncompleteEnvCredentials):
            return Failure(built)
        if built is not None:
            sets.append(built)
    sets.sort(key=lambda s: (s.suffix is not None, s.suffix or ""))
    sets.sort(key=lambda s: s.key, reverse=True)  # stable: ties keep the suffix order
    return Success(EnvKeychain(sets=tuple(sets)))


def _credential_set(
    suffix: str | None, fields: Mapping[str, str]
) -> EnvCredentialSet | IncompleteEnvCredentials | None:
    def var(key: str) -> str:
        return env_variable(key, suffix)

    if suffix is None and not any(fields.values()) and "HOSTNAME" not in fields:
        return None  # only empty unsuffixed variables: imgpkg ignores the empty default set
    if "HOSTNAME" not in fields:
        present = sorted(fields)[0]
        return IncompleteEnvCredentials(present=var(present), missing=var("HOSTNAME"))
    username = fields.get("USERNAME", "")
    password = fields.get("PASSWORD", "")
    has_token = bool(fields.get("IDENTITY_TOKEN") or fields.get("REGISTRY_TOKEN"))
    if username and not password and not has_token:
        return IncompleteEnvCredentials(present=var("USERNAME"), missing=var("PASSWORD"))
    if password and not username and not has_token:
        return IncompleteEnvCredentials(present=var("PASSWORD"), missing=var("USERNAME"))
    return EnvCredentialSet(
        suffix=suffix,
        key=fields["HOSTNAME"],
        config=AuthConfig(
            username=username,
            password=password,
            identity_token=fields.get("IDENTITY_TOKEN", ""),
            registry_token=fields.get("REGISTRY_TOKEN", ""),
        ),
    )


def target_matches(glob_key: str, target: str) -> bool | None:
    """kubelet ``URLsMatchStr``: does credential key ``glob_key`` match ``registry/repo``?

    Ports must be equal, hosts must have as many dot-separated parts, each
    matching as a Go glob, and the target path must start with the key's
    path.  None for a malformed glob (or a key that does not parse).
    """
    glob = parse_https(glob_key)
    tgt = parse_https(target)
    if isinstance(glob, str) or isinstance(tgt, str):
        return None
    glob_parts, glob_port = host_parts(glob[0])
    target_parts, target_port = host_parts(tgt[0])
    if glob_port != target_port or len(glob_parts) != len(target_parts):
        return False
    if not tgt[1].startswith(glob[1]):
        return False
    for pattern, part in zip(glob_parts, target_parts, strict=True):
        matched = go_path_match(pattern, part)
        if matched is None:
            return None
        if not matched:
            return False
    return True


def env_credentials_for(
    keychain: EnvKeychain, target: str
) -> Result[EnvCredentialSet | None, KeychainError]:
    """The first credential set (most specific key first) whose key matches ``target``."""
    for candidate in keychain.sets:
        matched = target_matches(candidate.key, target)
        if matched is None:
            return Failure(
                BadHostPattern(variable=candidate.variable("HOSTNAME"), pattern=candidate.key)
            )
        if matched:
            return Success(candidate)
    return Success(None)
