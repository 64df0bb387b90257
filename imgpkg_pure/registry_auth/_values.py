"""The values the credential rules share: what a source provides, and why a source is refused.

:class:`AuthConfig` is ggcr's ``authn.AuthConfig``; the error values are the
ways the ``IMGPKG_REGISTRY_*`` variables or a docker config can be wrong
(reference §6.1 to §6.3), joined in :data:`KeychainError`.
"""

from __future__ import annotations

from typing import final

from attrs import field, frozen

from imgpkg_pure.errors import Fact

__all__ = [
    "AuthConfig",
    "BadHostPattern",
    "IncompleteEnvCredentials",
    "InvalidDockerConfig",
    "InvalidEnvVariable",
    "KeychainError",
    "target_of",
]


def target_of(registry: str, repository: str) -> str:
    """The name credentials are looked up for: ``registry/repository``, or ``registry`` alone."""
    return f"{registry}/{repository}" if repository else registry


@final
@frozen(kw_only=True)
class AuthConfig:
    """ggcr's ``authn.AuthConfig``: what one credential source provides.

    Secrets are left out of ``repr``.  ``auth`` is a base64 ``user:pass`` used
    as-is for Basic auth (only ever set by a caller; docker config ``auth``
    values are decoded into username and password, as the docker CLI does).
    """

    username: str = ""
    password: str = field(default="", repr=False)
    auth: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)
    registry_token: str = field(default="", repr=False)

    @property
    def is_empty(self) -> bool:
        return not (
            self.username
            or self.password
            or self.auth
            or self.identity_token
            or self.registry_token
        )

    @property
    def kind(self) -> str:
        """A word for messages: which kind of credential this is (never the secret)."""
        if self.registry_token:
            return "registry token"
        if self.identity_token:
            return "identity token"
        if self.username or self.password or self.auth:
            return f"username '{self.username}'" if self.username else "basic auth"
        return "no credentials"


# --- errors ---------------------------------------------------------------------------------


@final
@frozen(kw_only=True)
class InvalidEnvVariable(Fact):
    """An ``IMGPKG_REGISTRY_*`` variable imgpkg refuses (unknown name, bad hostname)."""

    variable: str
    reason: str

    template = "{reason}"


@final
@frozen(kw_only=True)
class IncompleteEnvCredentials(Fact):
    """A credential set that lacks a hostname, or has a username without password (or back)."""

    present: str
    missing: str

    template = (
        "{present} is set but {missing} is not: "
        "each IMGPKG_REGISTRY_* credential set needs a hostname, and a username "
        "goes with a password"
    )


@final
@frozen(kw_only=True)
class InvalidDockerConfig(Fact):
    """A docker ``config.json`` (or podman ``auth.json``) that does not parse."""

    where: str
    reason: str

    template = "{where}: {reason}"


@final
@frozen(kw_only=True)
class BadHostPattern(Fact):
    """An env keychain hostname whose glob is malformed (Go ``filepath.ErrBadPattern``)."""

    variable: str
    pattern: str

    template = "syntax error in pattern '{pattern}' ({variable})"


KeychainError = InvalidEnvVariable | IncompleteEnvCredentials | InvalidDockerConfig | BadHostPattern
