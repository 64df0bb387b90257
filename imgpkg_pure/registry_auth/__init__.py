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
is needed.

Between the env keychain and the flags come the IaaS keychains (§6.1, §6.4):
:func:`parse_active_keychains` reads ``IMGPKG_ENABLE_IAAS_AUTH`` /
``IMGPKG_ACTIVE_KEYCHAINS``; each keychain's rules (which registries, which
credentials, the requests to make and how to read the answers) are pure
functions here, and the shell (``imgpkg_pure.store.registry.iaas_keychains``)
sends the :class:`TokenCall` values they return.

Modules: ``_values`` (:class:`AuthConfig`, the error values), ``_env`` (the
env keychain), ``_go`` (the Go URL parsing and globbing it relies on),
``_docker`` (the docker config keychain), ``_order`` (the flags and the
order of the sources), ``_iaas`` (the active IaaS keychains, the github
keychain, the values they share, the test seams), ``_google`` (gke),
``_aws`` and ``_sigv4`` (ecr), ``_azure`` (aks), ``_rsa`` (RS256 for
Google service-account keys).

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

from typing import TYPE_CHECKING

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
from imgpkg_pure.registry_auth._iaas import (
    ACTIVE_KEYCHAINS_VARIABLE,
    ALL_IAAS_KEYCHAINS,
    ENABLE_IAAS_AUTH_VARIABLE,
    GITHUB_HOST,
    IAAS_DEPRECATION_NOTICE,
    IaasEndpoints,
    IaasFailure,
    IaasKeychain,
    TokenCall,
    UnknownKeychain,
    encode_form,
    github_credentials,
    go_hostname,
    iaas_deprecation_notice,
    parse_active_keychains,
    parse_iaas_endpoints,
)
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

if TYPE_CHECKING:  # the docker config's and the IaaS keychains' rules load on first use
    from imgpkg_pure.registry_auth._aws import (
        ECR_PUBLIC_HOST,
        EcrPrivate,
        EcrPublic,
        EcrRegistry,
        aws_credentials,
        decode_ecr_authorization,
        ecr_api_host,
        ecr_token_call,
        parse_aws_ini,
        parse_ecr_registry,
    )
    from imgpkg_pure.registry_auth._azure import (
        AZURE_CLOUDS,
        MCR_HOST,
        AzureCloud,
        AzureSettings,
        aad_token_call,
        acr_applies,
        acr_auth,
        acr_exchange_call,
        parse_aad_token,
        parse_acr_refresh_token,
        parse_azure_settings,
    )
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
    from imgpkg_pure.registry_auth._google import (
        CLOUD_PLATFORM_SCOPE,
        GCLOUD_ARGS,
        GOOGLE_TOKEN_URI,
        GOOGLE_TOKEN_USERNAME,
        AuthorizedUser,
        GoogleCredentials,
        ServiceAccount,
        google_applies,
        google_auth,
        google_token_call,
        metadata_token_call,
        parse_gcloud_output,
        parse_google_credentials,
        parse_google_token,
        service_account_assertion,
    )
    from imgpkg_pure.registry_auth._rsa import RsaPrivateKey, parse_rsa_private_key, rs256_sign
    from imgpkg_pure.registry_auth._sigv4 import (
        SIGV4_ALGORITHM,
        AwsCredentials,
        SignedRequest,
        canonical_request,
        hmac_sha256,
        sign_v4,
        signing_key,
        string_to_sign,
    )

# The IaaS keychains' rules (``_aws``, ``_azure``, ``_google``, ``_rsa``, ``_sigv4``) load on
# first use, since their classes, RSA, SigV4 and regular expressions would cost start-up
# time every run without those keychains would pay; so does the docker config keychain
# (``_docker``), which a machine without a docker config never consults.  A name of
# ``__all__`` that is not bound here is one of theirs (their own ``__all__`` lists say which).


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from imgpkg_pure.registry_auth import _docker  # noqa: PLC0415

    if hasattr(_docker, name):
        value = getattr(_docker, name)
        globals()[name] = value
        return value
    from imgpkg_pure.registry_auth import _aws, _azure, _google, _rsa, _sigv4  # noqa: PLC0415

    for module in (_aws, _azure, _google, _rsa, _sigv4):
        if hasattr(module, name):
            value = getattr(module, name)
            globals()[name] = value
            return value
    raise AttributeError(name)  # pragma: no cover (every lazy name is in one of them)


__all__ = [
    "ACTIVE_KEYCHAINS_VARIABLE",
    "ALL_IAAS_KEYCHAINS",
    "AZURE_CLOUDS",
    "CLOUD_PLATFORM_SCOPE",
    "DOCKER_HUB",
    "DOCKER_HUB_ALIASES",
    "DOCKER_HUB_AUTH_KEY",
    "ECR_PUBLIC_HOST",
    "ENABLE_IAAS_AUTH_VARIABLE",
    "ENV_IGNORED",
    "ENV_KEYS",
    "ENV_PREFIX",
    "GCLOUD_ARGS",
    "GITHUB_HOST",
    "GOOGLE_TOKEN_URI",
    "GOOGLE_TOKEN_USERNAME",
    "IAAS_DEPRECATION_NOTICE",
    "MCR_HOST",
    "SIGV4_ALGORITHM",
    "TOKEN_USERNAME",
    "AnonymousByFlag",
    "AuthConfig",
    "AuthorizedUser",
    "AwsCredentials",
    "AzureCloud",
    "AzureSettings",
    "BadHostPattern",
    "CredentialSource",
    "DockerConfig",
    "DockerLookup",
    "EcrPrivate",
    "EcrPublic",
    "EcrRegistry",
    "EnvCredentialSet",
    "EnvKeychain",
    "FromEnvKeychain",
    "FromFlags",
    "GoogleCredentials",
    "HelperGet",
    "IaasEndpoints",
    "IaasFailure",
    "IaasKeychain",
    "IncompleteEnvCredentials",
    "InvalidDockerConfig",
    "InvalidEnvVariable",
    "KeychainError",
    "RegistryFlags",
    "RsaPrivateKey",
    "ServiceAccount",
    "SignedRequest",
    "StoredAuth",
    "TokenCall",
    "UnknownKeychain",
    "UseDockerConfig",
    "aad_token_call",
    "acr_applies",
    "acr_auth",
    "acr_exchange_call",
    "aws_credentials",
    "canonical_request",
    "decode_ecr_authorization",
    "docker_lookups",
    "ecr_api_host",
    "ecr_token_call",
    "encode_form",
    "env_credentials_for",
    "flags_with_env",
    "github_credentials",
    "go_hostname",
    "go_path_match",
    "google_applies",
    "google_auth",
    "google_token_call",
    "helper_credentials",
    "hmac_sha256",
    "iaas_deprecation_notice",
    "metadata_token_call",
    "parse_aad_token",
    "parse_acr_refresh_token",
    "parse_active_keychains",
    "parse_aws_ini",
    "parse_azure_settings",
    "parse_docker_config",
    "parse_ecr_registry",
    "parse_env_keychain",
    "parse_gcloud_output",
    "parse_google_credentials",
    "parse_google_token",
    "parse_iaas_endpoints",
    "parse_rsa_private_key",
    "resolve_credential_source",
    "rs256_sign",
    "service_account_assertion",
    "sign_v4",
    "signing_key",
    "string_to_sign",
    "target_matches",
]
