"""imgpkg's credential rules, as pure functions over the environment and file contents.

Spec: docs/imgpkg-reference.md §6.1 to §6.3 and §1.1.4.  Nothing here reads the
environment or a file: the shell (``imgpkg_pure.store.registry.auth``) passes the
environment as a mapping and ``config.json`` as bytes, and runs credential
helpers when :func:`docker_lookups` asks for one.

The order (§6.1), for one ``registry/repository`` target:

1. the ``IMGPKG_REGISTRY_*`` env keychain (:func:`parse_env_keychain`,
   :func:`env_credentials_for`): credential sets grouped by suffix, matched
   with kubelet's glob rules, most specific key first;
2. the registry flags with their env fallbacks (:func:`flags_with_env`):
   ``--registry-username`` (Basic for every registry), else
   ``--registry-token`` (a registry token for every registry), else
   ``--registry-anon``;
3. the docker config keychain (:func:`parse_docker_config`,
   :func:`docker_lookups`): ``credHelpers[host]``, then ``credsStore``, then
   ``auths``, tried for ``registry/repository`` and then ``registry``.

:func:`resolve_credential_source` applies steps 1 and 2 and says when step 3
is needed.  The IaaS keychains (§6.4) are not implemented.

Modules: ``_values`` (:class:`AuthConfig`, the error values), ``_env`` (the
env keychain), ``_go`` (the Go URL parsing and globbing it relies on),
``_docker`` (the docker config keychain), ``_order`` (the flags and the
order of the sources).

Deliberate differences from imgpkg, all of them stricter:

* A credential set without ``IMGPKG_REGISTRY_HOSTNAME[_S]``, or with only one
  of ``USERNAME``/``PASSWORD``, is an error (:class:`IncompleteEnvCredentials`);
  imgpkg silently never uses such a set, or sends no credentials.
* Sets with the same key are ordered unsuffixed first, then by suffix (imgpkg's
  order for equal keys depends on Go map iteration).

And one that is more lenient: for Docker Hub, config entries (``auths`` and
``credHelpers``) keyed ``https://index.docker.io/v1/``, ``index.docker.io`` or
``docker.io`` all count, in that order (podman writes ``docker.io``).
"""

from imgpkg_pure.registry_auth._docker import (
    DOCKER_HUB,
    DOCKER_HUB_ALIASES,
    DOCKER_HUB_AUTH_KEY,
    TOKEN_USERNAME,
    DockerConfig,
    DockerLookup,
    HelperGet,
    StoredAuth,
    docker_lookups,
    helper_credentials,
    parse_docker_config,
)
from imgpkg_pure.registry_auth._env import (
    ENV_IGNORED,
    ENV_KEYS,
    ENV_PREFIX,
    EnvCredentialSet,
    EnvKeychain,
    env_credentials_for,
    parse_env_keychain,
    target_matches,
)
from imgpkg_pure.registry_auth._go import go_path_match
from imgpkg_pure.registry_auth._order import (
    AnonymousByFlag,
    CredentialSource,
    FromEnvKeychain,
    FromFlags,
    RegistryFlags,
    UseDockerConfig,
    flags_with_env,
    resolve_credential_source,
)
from imgpkg_pure.registry_auth._values import (
    AuthConfig,
    BadHostPattern,
    IncompleteEnvCredentials,
    InvalidDockerConfig,
    InvalidEnvVariable,
    KeychainError,
)

__all__ = [
    "DOCKER_HUB",
    "DOCKER_HUB_ALIASES",
    "DOCKER_HUB_AUTH_KEY",
    "ENV_IGNORED",
    "ENV_KEYS",
    "ENV_PREFIX",
    "TOKEN_USERNAME",
    "AnonymousByFlag",
    "AuthConfig",
    "BadHostPattern",
    "CredentialSource",
    "DockerConfig",
    "DockerLookup",
    "EnvCredentialSet",
    "EnvKeychain",
    "FromEnvKeychain",
    "FromFlags",
    "HelperGet",
    "IncompleteEnvCredentials",
    "InvalidDockerConfig",
    "InvalidEnvVariable",
    "KeychainError",
    "RegistryFlags",
    "StoredAuth",
    "UseDockerConfig",
    "docker_lookups",
    "env_credentials_for",
    "flags_with_env",
    "go_path_match",
    "helper_credentials",
    "parse_docker_config",
    "parse_env_keychain",
    "resolve_credential_source",
    "target_matches",
]
