"""The ``aks`` keychain's rules: docker-credential-acr-env (§6.4).

* Registries: ``*.azurecr.io``, ``.cn``, ``.de``, ``.us`` and
  ``mcr.microsoft.com`` (port ignored).
* An Azure AD token for the service principal of the environment
  (go-autorest's ``GetSettingsFromEnvironment`` and adal, as acr-env uses
  them): ``POST <authority><AZURE_TENANT_ID>/oauth2/token`` (the v1 endpoint)
  with ``resource`` = the cloud's Resource Manager endpoint
  (``AZURE_AD_RESOURCE`` overrides it) and either

  - ``grant_type=client_credentials`` with ``AZURE_CLIENT_ID`` and
    ``AZURE_CLIENT_SECRET``, or
  - when there is no secret but ``AZURE_FEDERATED_TOKEN`` is set, the same
    grant with that token as a ``client_assertion`` (workload identity).

  ``AZURE_ENVIRONMENT`` picks the cloud (``AzurePublicCloud`` by default,
  ``AzureChinaCloud``, ``AzureUSGovernmentCloud``, ``AzureGermanCloud``).
  Certificate, username/password and managed-identity logins are not done
  (acr-env refuses the first two; see docs/differences.md for the third).
* The AD token is exchanged at ``https://<registry>/oauth2/exchange``
  (``grant_type=access_token``, ``service``, ``tenant``, ``access_token``,
  with the AD token as Bearer too) for an ACR refresh token, which acr-env
  returns with username ``<token>``: an **identity token**, traded at the
  registry's token realm by the OAuth2 refresh grant.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Final, final

from attrs import field, frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.registry_auth._iaas import IaasFailure, TokenCall, encode_form, go_hostname
from imgpkg_pure.registry_auth._values import AuthConfig

__all__ = [
    "AZURE_CLOUDS",
    "MCR_HOST",
    "AzureCloud",
    "AzureSettings",
    "aad_token_call",
    "acr_applies",
    "acr_auth",
    "acr_exchange_call",
    "parse_aad_token",
    "parse_acr_refresh_token",
    "parse_azure_settings",
]

MCR_HOST: Final = "mcr.microsoft.com"
CLIENT_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ACR_PATTERN: Final = re.compile(r"^.+\.azurecr\.(?:io|cn|de|us)$")
_FORM: Final = "application/x-www-form-urlencoded"
_KEYCHAIN: Final = "aks"


@final
@frozen(kw_only=True)
class AzureCloud:
    """An Azure cloud's AD authority and Resource Manager endpoint (go-autorest's values)."""

    name: str
    authority: str
    resource: str


AZURE_CLOUDS: Final = {
    cloud.name.upper(): cloud
    for cloud in (
        AzureCloud(
            name="AzurePublicCloud",
            authority="https://login.microsoftonline.com/",
            resource="https://management.azure.com/",
        ),
        AzureCloud(
            name="AzureChinaCloud",
            authority="https://login.chinacloudapi.cn/",
            resource="https://management.chinacloudapi.cn/",
        ),
        AzureCloud(
            name="AzureUSGovernmentCloud",
            authority="https://login.microsoftonline.us/",
            resource="https://management.usgovcloudapi.net/",
        ),
        AzureCloud(
            name="AzureGermanCloud",
            authority="https://login.microsoftonline.de/",
            resource="https://management.microsoftazure.de/",
        ),
    )
}


def acr_applies(registry: str) -> bool:
    """Whether acr-env answers for ``registry``: an ACR registry or MCR."""
    host = go_hostname(registry)
    return host == MCR_HOST or _ACR_PATTERN.match(host) is not None


@final
@frozen(kw_only=True)
class AzureSettings:
    """The service principal the environment describes."""

    tenant_id: str
    client_id: str
    client_secret: str = field(default="", repr=False)
    federated_token: str | None = field(default=None, repr=False)
    authority: str
    resource: str


def _fail(reason: str) -> Failure[IaasFailure]:
    return Failure(IaasFailure(keychain=_KEYCHAIN, reason=reason))


def parse_azure_settings(env: Mapping[str, str]) -> Result[AzureSettings, IaasFailure]:
    """The settings of ``env``, or why acr-env would get no token from them."""
    cloud_name = env.get("AZURE_ENVIRONMENT", "") or "AzurePublicCloud"
    cloud = AZURE_CLOUDS.get(cloud_name.upper())
    if cloud is None:
        return _fail(f"autorest/azure: There is no cloud environment matching the name "
                     f"\"{cloud_name.upper()}\"")
    settings = AzureSettings(
        tenant_id=env.get("AZURE_TENANT_ID", ""),
        client_id=env.get("AZURE_CLIENT_ID", ""),
        client_secret=env.get("AZURE_CLIENT_SECRET", ""),
        federated_token=env.get("AZURE_FEDERATED_TOKEN"),
        authority=cloud.authority,
        resource=env.get("AZURE_AD_RESOURCE", "") or cloud.resource,
    )
    if settings.client_secret:
        pass
    elif env.get("AZURE_CERTIFICATE_PATH") or (
        env.get("AZURE_USERNAME") and env.get("AZURE_PASSWORD")
    ):
        return _fail("authentication method currently unsupported")
    elif settings.federated_token is None:
        return _fail(
            "no AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN (managed identity is not supported)"
        )
    if not settings.tenant_id:
        return _fail("AZURE_TENANT_ID is not set")
    if not settings.client_id:
        return _fail("AZURE_CLIENT_ID is not set")
    return Success(settings)


def aad_token_call(settings: AzureSettings, authority: str | None = None) -> TokenCall:
    """The AD token request (``authority`` is a test seam replacing the cloud's)."""
    fields: tuple[tuple[str, str], ...] = (
        ("grant_type", "client_credentials"),
        ("client_id", settings.client_id),
    )
    if settings.client_secret:
        fields += (("client_secret", settings.client_secret),)
    else:
        fields += (
            ("client_assertion_type", CLIENT_ASSERTION_TYPE),
            ("client_assertion", settings.federated_token or ""),
        )
    fields += (("resource", settings.resource),)
    return TokenCall(
        method="POST",
        url=f"{authority or settings.authority}{settings.tenant_id}/oauth2/token",
        headers=(("Content-Type", _FORM),),
        body=encode_form(fields).encode("ascii"),
    )


def _token_field(raw: bytes, key: str, what: str) -> Result[str, IaasFailure]:
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _fail(f"{what}: the answer is not JSON")
    value = document.get(key) if isinstance(document, dict) else None
    if isinstance(value, str) and value:
        return Success(value)
    return _fail(f"{what}: the answer holds no {key}")


def parse_aad_token(raw: bytes) -> Result[str, IaasFailure]:
    """The ``access_token`` of Azure AD's answer."""
    return _token_field(raw, "access_token", "Azure AD token")


def acr_exchange_call(
    registry: str, settings: AzureSettings, aad_token: str, scheme: str = "https"
) -> TokenCall:
    """The ACR exchange of an AD token for a refresh token (``scheme``: a test seam)."""
    fields: tuple[tuple[str, str], ...] = (
        ("grant_type", "access_token"),
        ("service", registry),
    )
    if settings.tenant_id:
        fields += (("tenant", settings.tenant_id),)
    fields += (("access_token", aad_token),)
    return TokenCall(
        method="POST",
        url=f"{scheme}://{registry}/oauth2/exchange",
        headers=(("Content-Type", _FORM), ("Authorization", f"Bearer {aad_token}")),
        body=encode_form(fields).encode("ascii"),
    )


def parse_acr_refresh_token(raw: bytes) -> Result[str, IaasFailure]:
    """The ``refresh_token`` of the registry's exchange answer."""
    return _token_field(raw, "refresh_token", "ACR token exchange")


def acr_auth(refresh_token: str) -> AuthConfig:
    """acr-env's answer: username ``<token>`` with the refresh token, i.e. an identity token."""
    return AuthConfig(identity_token=refresh_token)
