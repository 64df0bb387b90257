"""The order of the credential sources (reference §6.1), and the registry flags (§1.1.4).

For one ``registry/repository`` target: the ``IMGPKG_REGISTRY_*`` env
keychain, then the registry flags with their env fallbacks, then (when
neither applies) the docker config keychain.  :func:`resolve_credential_source`
says which; the shell then reads the docker config if it has to.  When the
answer is not :class:`FromEnvKeychain`, the shell first asks the active IaaS
keychains (``_iaas``), which come between the env keychain and the flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import final

from attrs import field, frozen
from returns.result import Result

from imgpkg_pure.registry_auth._env import EnvCredentialSet, EnvKeychain, env_credentials_for
from imgpkg_pure.registry_auth._values import AuthConfig, KeychainError, target_of

__all__ = [
    "AnonymousByFlag",
    "CredentialSource",
    "FromEnvKeychain",
    "FromFlags",
    "RegistryFlags",
    "UseDockerConfig",
    "flags_with_env",
    "resolve_credential_source",
]


@final
@frozen(kw_only=True)
class RegistryFlags:
    """``--registry-username/-password/-token/-anon`` after their env fallbacks."""

    username: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    anon: bool = False


# --- flags ----------------------------------------------------------------------------------


def flags_with_env(
    env: Mapping[str, str],
    *,
    username: str = "",
    password: str = "",
    token: str = "",
    anon: bool = False,
) -> RegistryFlags:
    """Apply imgpkg's env fallbacks (§1.1.4): an env value is used only for an empty flag.

    ``IMGPKG_ANON`` turns anonymous access on only when it is exactly ``true``.
    """
    return RegistryFlags(
        username=username or env.get("IMGPKG_USERNAME", ""),
        password=password or env.get("IMGPKG_PASSWORD", ""),
        token=token or env.get("IMGPKG_TOKEN", ""),
        anon=anon or env.get("IMGPKG_ANON") == "true",
    )


# --- the order ------------------------------------------------------------------------------


@final
@frozen(kw_only=True)
class FromEnvKeychain:
    """Credentials from the ``IMGPKG_REGISTRY_*`` set ``credential_set``."""

    credential_set: EnvCredentialSet

    @property
    def config(self) -> AuthConfig:
        return self.credential_set.config

    @property
    def label(self) -> str:
        return self.credential_set.label


@final
@frozen(kw_only=True)
class FromFlags:
    """Credentials from ``--registry-username/--registry-password`` or ``--registry-token``."""

    flag: str
    config: AuthConfig

    @property
    def label(self) -> str:
        return self.flag


@final
@frozen(kw_only=True)
class AnonymousByFlag:
    """``--registry-anon`` (or ``IMGPKG_ANON=true``): no credentials, docker config not read."""

    @property
    def config(self) -> AuthConfig:
        return AuthConfig()

    @property
    def label(self) -> str:
        return "--registry-anon"


@final
@frozen(kw_only=True)
class UseDockerConfig:
    """Nothing earlier applies: ask the docker config keychain (§6.3)."""

    @property
    def label(self) -> str:
        return "docker config"


CredentialSource = FromEnvKeychain | FromFlags | AnonymousByFlag | UseDockerConfig


def resolve_credential_source(
    keychain: EnvKeychain, flags: RegistryFlags, registry: str, repository: str = ""
) -> Result[CredentialSource, KeychainError]:
    """Which source gives the credentials for ``registry/repository`` (§6.1).

    ``repository`` empty means the registry itself (a ping).
    """
    target = target_of(registry, repository)

    def after_env(found: EnvCredentialSet | None) -> CredentialSource:
        if found is not None:
            return FromEnvKeychain(credential_set=found)
        if flags.username:
            return FromFlags(
                flag="--registry-username",
                config=AuthConfig(username=flags.username, password=flags.password),
            )
        if flags.token:
            return FromFlags(flag="--registry-token", config=AuthConfig(registry_token=flags.token))
        if flags.anon:
            return AnonymousByFlag()
        return UseDockerConfig()

    return env_credentials_for(keychain, target).map(after_env)
