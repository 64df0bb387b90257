"""Which IaaS keychains are active, where each applies, what they share (reference §6.1, §6.4).

* ``IMGPKG_ENABLE_IAAS_AUTH=true`` (any case) turns every keychain on, in
  imgpkg's order google, ECR, ACR, GitHub; ``IMGPKG_ACTIVE_KEYCHAINS`` is then
  not read at all.
* Otherwise ``IMGPKG_ACTIVE_KEYCHAINS`` lists them: split at commas, each name
  trimmed, kept in the listed order (duplicates too).  Any other name, the
  empty one included (``gke,``), is :class:`UnknownKeychain`.
* When ``IMGPKG_ENABLE_IAAS_AUTH`` is present at all, imgpkg prints
  :data:`IAAS_DEPRECATION_NOTICE` first (:func:`iaas_deprecation_notice`).

The github keychain is one function (:func:`github_credentials`, below); the
others' rules are in ``_google``, ``_aws`` and ``_azure``.  The HTTP requests
they need are :class:`TokenCall` values that the shell sends.

Test seams (:func:`parse_iaas_endpoints`): the cloud endpoints can be moved
to a loopback fake **for tests only**, by variables whose names say so:

* ``IMGPKG_PURE_TEST_ECR_ENDPOINT`` — base URL used instead of
  ``https://api.ecr.<region>.amazonaws.com`` (and of ECR Public's endpoint);
* ``IMGPKG_PURE_TEST_AZURE_AUTHORITY`` — base URL used instead of the Azure
  AD authority (``https://login.microsoftonline.com/``);
* ``IMGPKG_PURE_TEST_ACR_EXCHANGE_SCHEME`` — ``http`` to reach a registry's
  ``/oauth2/exchange`` over plain http (default ``https``).

The GCE metadata server is found as Google's own libraries find it:
``GCE_METADATA_HOST`` (``host[:port]``, plain http) when set, else
``metadata.google.internal``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final, final

from attrs import field, frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.errors import Fact
from imgpkg_pure.registry_auth._values import AuthConfig

__all__ = [
    "ACTIVE_KEYCHAINS_VARIABLE",
    "ALL_IAAS_KEYCHAINS",
    "ENABLE_IAAS_AUTH_VARIABLE",
    "GITHUB_HOST",
    "IAAS_DEPRECATION_NOTICE",
    "IaasEndpoints",
    "IaasFailure",
    "IaasKeychain",
    "TokenCall",
    "UnknownKeychain",
    "encode_form",
    "github_credentials",
    "go_hostname",
    "iaas_deprecation_notice",
    "parse_active_keychains",
    "parse_iaas_endpoints",
]

ACTIVE_KEYCHAINS_VARIABLE: Final = "IMGPKG_ACTIVE_KEYCHAINS"
ENABLE_IAAS_AUTH_VARIABLE: Final = "IMGPKG_ENABLE_IAAS_AUTH"
#: Printed (on stdout, before anything else) whenever ``IMGPKG_ENABLE_IAAS_AUTH`` is set,
#: whatever its value.  The flag it names does not exist (sic, imgpkg's text).
IAAS_DEPRECATION_NOTICE: Final = (
    "IMGPKG_ENABLE_IAAS_AUTH environment variable will be deprecated, please use the flag "
    "--activate-keychain to activate the needed keychains"
)
GITHUB_HOST: Final = "ghcr.io"

TEST_ECR_ENDPOINT: Final = "IMGPKG_PURE_TEST_ECR_ENDPOINT"
TEST_AZURE_AUTHORITY: Final = "IMGPKG_PURE_TEST_AZURE_AUTHORITY"
TEST_ACR_EXCHANGE_SCHEME: Final = "IMGPKG_PURE_TEST_ACR_EXCHANGE_SCHEME"
GCE_METADATA_HOST_VARIABLE: Final = "GCE_METADATA_HOST"
GCE_METADATA_DEFAULT_HOST: Final = "metadata.google.internal"


class IaasKeychain(enum.Enum):
    """An IaaS keychain, by the name ``IMGPKG_ACTIVE_KEYCHAINS`` gives it."""

    GKE = "gke"
    ECR = "ecr"
    AKS = "aks"
    GITHUB = "github"


#: Every keychain, in the order ``IMGPKG_ENABLE_IAAS_AUTH=true`` asks them.
ALL_IAAS_KEYCHAINS: Final = (
    IaasKeychain.GKE,
    IaasKeychain.ECR,
    IaasKeychain.AKS,
    IaasKeychain.GITHUB,
)


@final
@frozen(kw_only=True)
class UnknownKeychain(Fact):
    """A name in ``IMGPKG_ACTIVE_KEYCHAINS`` that is not a keychain (imgpkg's words)."""

    name: str

    template = "Unable to load keychain for {name}, available keychains [aks, ecr, gke, github]"


@final
@frozen(kw_only=True)
class IaasFailure(Fact):
    """Why an IaaS keychain found no credentials (it then answers anonymous, as imgpkg's do)."""

    keychain: str
    reason: str

    template = "{keychain} keychain: {reason}"


def iaas_deprecation_notice(env: Mapping[str, str]) -> str | None:
    """imgpkg's deprecation line when ``IMGPKG_ENABLE_IAAS_AUTH`` is present, else None."""
    return IAAS_DEPRECATION_NOTICE if ENABLE_IAAS_AUTH_VARIABLE in env else None


def parse_active_keychains(
    env: Mapping[str, str],
) -> Result[tuple[IaasKeychain, ...], UnknownKeychain]:
    """The keychains to ask after the ``IMGPKG_REGISTRY_*`` env keychain, in order (§6.1)."""
    if env.get(ENABLE_IAAS_AUTH_VARIABLE, "").lower() == "true":
        return Success(ALL_IAAS_KEYCHAINS)
    listed = env.get(ACTIVE_KEYCHAINS_VARIABLE, "")
    if not listed:
        return Success(())
    known = {keychain.value: keychain for keychain in IaasKeychain}
    found: list[IaasKeychain] = []
    for raw in listed.split(","):
        name = raw.strip()
        keychain = known.get(name)
        if keychain is None:
            return Failure(UnknownKeychain(name=name))
        found.append(keychain)
    return Success(tuple(found))


# --- HTTP requests the keychains need -------------------------------------------------------


@final
@frozen(kw_only=True)
class TokenCall:
    """One HTTP request a keychain needs (sent by the shell); headers and body may hold secrets."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    body: bytes = field(default=b"", repr=False)


_FORM_SAFE: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def _form_escape(text: str) -> str:
    out: list[str] = []
    for byte in text.encode("utf-8"):
        if byte in _FORM_SAFE:
            out.append(chr(byte))
        elif byte == 0x20:
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def encode_form(fields: tuple[tuple[str, str], ...]) -> str:
    """``application/x-www-form-urlencoded`` (Go's ``url.Values.Encode`` escaping), in order."""
    return "&".join(f"{_form_escape(key)}={_form_escape(value)}" for key, value in fields)


# --- endpoints and their test seams ---------------------------------------------------------


@final
@frozen(kw_only=True)
class IaasEndpoints:
    """Where the keychains send their requests (see the module doc for the test seams)."""

    gce_metadata: str = f"http://{GCE_METADATA_DEFAULT_HOST}"
    ecr: str | None = None
    azure_authority: str | None = None
    acr_exchange_scheme: str = "https"


def parse_iaas_endpoints(env: Mapping[str, str]) -> IaasEndpoints:
    """The endpoints for ``env``: production ones unless a test seam variable is set."""
    metadata_host = env.get(GCE_METADATA_HOST_VARIABLE, "") or GCE_METADATA_DEFAULT_HOST
    scheme = env.get(TEST_ACR_EXCHANGE_SCHEME, "")
    return IaasEndpoints(
        gce_metadata=f"http://{metadata_host}",
        ecr=env.get(TEST_ECR_ENDPOINT, "").rstrip("/") or None,
        azure_authority=_with_slash(env.get(TEST_AZURE_AUTHORITY, "")) or None,
        acr_exchange_scheme=scheme if scheme in ("http", "https") else "https",
    )


def _with_slash(url: str) -> str:
    return url if not url or url.endswith("/") else url + "/"


# --- host names -----------------------------------------------------------------------------


def go_hostname(registry: str) -> str:
    """Go's ``url.Parse("https://" + registry).Hostname()``: the host without a port."""
    host = registry.split("/", 1)[0]
    if host.startswith("["):
        close = host.find("]")
        return host[1:close] if close > 0 else host[1:]
    name, colon, _port = host.rpartition(":")
    return name if colon else host


# --- github ---------------------------------------------------------------------------------


def github_credentials(env: Mapping[str, str], registry: str) -> AuthConfig:
    """ggcr's ``github.Keychain``: ``$GITHUB_TOKEN`` for ghcr.io only, as the password of
    ``$GITHUB_ACTOR`` (``unset`` when that is empty).  Empty when it does not apply."""
    token = env.get("GITHUB_TOKEN", "")
    if go_hostname(registry) != GITHUB_HOST or not token:
        return AuthConfig()
    return AuthConfig(username=env.get("GITHUB_ACTOR", "") or "unset", password=token)
