"""The ``gke`` keychain's rules: ggcr's ``google.Keychain`` (§6.4).

* Registries: ``gcr.io``, ``*.gcr.io``, ``*.pkg.dev``, ``*.google.com``,
  compared with the registry as written (a port stops the match, as in ggcr).
* Credentials, in the order of Google's Application Default Credentials and
  then the gcloud fallback (the shell walks it):

  1. the JSON file named by ``GOOGLE_APPLICATION_CREDENTIALS``, else the
     well-known ``~/.config/gcloud/application_default_credentials.json``:
     ``authorized_user`` (an OAuth2 refresh-token grant) or ``service_account``
     (a JWT signed RS256 with the file's key, exchanged with the JWT-bearer
     grant), both at the file's ``token_uri``;
  2. without such a file, the GCE metadata server's token for the default
     service account;
  3. ``gcloud config config-helper --format=json(credential)``.

* The access token is the password of user ``_token`` (ggcr's
  ``tokenSourceAuth``; ``oauth2accesstoken`` is accepted by Google's registries
  alike).
"""

from __future__ import annotations

import base64
import json
from typing import Final, assert_never, final

from attrs import field, frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.registry_auth._iaas import IaasFailure, TokenCall, encode_form
from imgpkg_pure.registry_auth._rsa import parse_rsa_private_key, rs256_sign
from imgpkg_pure.registry_auth._values import AuthConfig

__all__ = [
    "CLOUD_PLATFORM_SCOPE",
    "GCLOUD_ARGS",
    "GOOGLE_TOKEN_URI",
    "GOOGLE_TOKEN_USERNAME",
    "AuthorizedUser",
    "GoogleCredentials",
    "ServiceAccount",
    "google_applies",
    "google_auth",
    "google_token_call",
    "metadata_token_call",
    "parse_gcloud_output",
    "parse_google_credentials",
    "parse_google_token",
    "service_account_assertion",
]

GOOGLE_TOKEN_URI: Final = "https://oauth2.googleapis.com/token"
CLOUD_PLATFORM_SCOPE: Final = "https://www.googleapis.com/auth/cloud-platform"
GOOGLE_TOKEN_USERNAME: Final = "_token"
JWT_BEARER_GRANT: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
METADATA_TOKEN_PATH: Final = "/computeMetadata/v1/instance/service-accounts/default/token"
GCLOUD_ARGS: Final = ("config", "config-helper", "--format=json(credential)")
JWT_LIFETIME_SECONDS: Final = 3600
_FORM: Final = (("Content-Type", "application/x-www-form-urlencoded"),)
_KEYCHAIN: Final = "gke"


def google_applies(registry: str) -> bool:
    """Whether ggcr's google keychain answers for ``registry``."""
    return registry == "gcr.io" or registry.endswith((".gcr.io", ".pkg.dev", ".google.com"))


def google_auth(access_token: str) -> AuthConfig:
    return AuthConfig(username=GOOGLE_TOKEN_USERNAME, password=access_token)


@final
@frozen(kw_only=True)
class AuthorizedUser:
    """An ``authorized_user`` ADC file (what ``gcloud auth application-default login`` writes)."""

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    token_uri: str = GOOGLE_TOKEN_URI


@final
@frozen(kw_only=True)
class ServiceAccount:
    """A ``service_account`` key file."""

    client_email: str
    private_key: str = field(repr=False)
    private_key_id: str = ""
    token_uri: str = GOOGLE_TOKEN_URI


GoogleCredentials = AuthorizedUser | ServiceAccount


def _fail(reason: str) -> Failure[IaasFailure]:
    return Failure(IaasFailure(keychain=_KEYCHAIN, reason=reason))


def _json_object(raw: bytes, what: str) -> Result[dict[str, object], IaasFailure]:
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _fail(f"{what} is not JSON")
    if not isinstance(document, dict):
        return _fail(f"{what} is not a JSON object")
    return Success(document)


def _text(document: dict[str, object], key: str) -> str:
    value = document.get(key)
    return value if isinstance(value, str) else ""


def _requiring(document: dict[str, object], where: str, *names: str) -> Result[None, IaasFailure]:
    """Success when every field ``names`` holds a non-empty string; else the missing ones."""
    missing = [name for name in names if not _text(document, name)]
    if missing:
        return _fail(f"{where}: missing {', '.join(missing)}")
    return Success(None)


def parse_google_credentials(raw: bytes, where: str) -> Result[GoogleCredentials, IaasFailure]:
    """An ADC JSON file (``where`` names it in messages)."""

    def read(document: dict[str, object]) -> Result[GoogleCredentials, IaasFailure]:
        kind = _text(document, "type")
        token_uri = _text(document, "token_uri") or GOOGLE_TOKEN_URI
        if kind == "authorized_user":
            return _requiring(document, where, "client_id", "client_secret", "refresh_token").map(
                lambda _: AuthorizedUser(
                    client_id=_text(document, "client_id"),
                    client_secret=_text(document, "client_secret"),
                    refresh_token=_text(document, "refresh_token"),
                    token_uri=token_uri,
                )
            )
        if kind == "service_account":
            return _requiring(document, where, "client_email", "private_key").map(
                lambda _: ServiceAccount(
                    client_email=_text(document, "client_email"),
                    private_key=_text(document, "private_key"),
                    private_key_id=_text(document, "private_key_id"),
                    token_uri=token_uri,
                )
            )
        return _fail(f"{where}: unsupported credentials type '{kind}'")

    return _json_object(raw, where).bind(read)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _compact(value: dict[str, object]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def service_account_assertion(account: ServiceAccount, now: int) -> Result[str, IaasFailure]:
    """The signed JWT a service account trades for an access token (issued at ``now``)."""
    header: dict[str, object] = {"alg": "RS256", "typ": "JWT"}
    if account.private_key_id:
        header["kid"] = account.private_key_id
    claims: dict[str, object] = {
        "iss": account.client_email,
        "scope": CLOUD_PLATFORM_SCOPE,
        "aud": account.token_uri,
        "exp": now + JWT_LIFETIME_SECONDS,
        "iat": now,
    }
    signing_input = f"{_b64url(_compact(header))}.{_b64url(_compact(claims))}"
    signed = parse_rsa_private_key(account.private_key).bind(
        lambda key: rs256_sign(key, signing_input.encode("ascii"))
    )
    return signed.map(lambda signature: f"{signing_input}.{_b64url(signature)}").alt(
        lambda reason: IaasFailure(keychain=_KEYCHAIN, reason=f"service account: {reason}")
    )


def google_token_call(credentials: GoogleCredentials, now: int) -> Result[TokenCall, IaasFailure]:
    """The token request for an ADC file's credentials."""
    match credentials:
        case AuthorizedUser():
            form = (
                ("client_id", credentials.client_id),
                ("client_secret", credentials.client_secret),
                ("grant_type", "refresh_token"),
                ("refresh_token", credentials.refresh_token),
            )
            body = encode_form(form).encode("ascii")
            return Success(
                TokenCall(method="POST", url=credentials.token_uri, headers=_FORM, body=body)
            )
        case ServiceAccount():
            url = credentials.token_uri
            return service_account_assertion(credentials, now).map(
                lambda assertion: TokenCall(
                    method="POST",
                    url=url,
                    headers=_FORM,
                    body=encode_form(
                        (("grant_type", JWT_BEARER_GRANT), ("assertion", assertion))
                    ).encode("ascii"),
                )
            )
        case _:  # pragma: no cover
            assert_never(credentials)


def metadata_token_call(base_url: str) -> TokenCall:
    """The metadata server's token for the default service account (cloud-platform scope)."""
    query = encode_form((("scopes", CLOUD_PLATFORM_SCOPE),))
    return TokenCall(
        method="GET",
        url=f"{base_url}{METADATA_TOKEN_PATH}?{query}",
        headers=(("Metadata-Flavor", "Google"),),
    )


def parse_google_token(raw: bytes, where: str) -> Result[str, IaasFailure]:
    """The ``access_token`` of a token endpoint's (or the metadata server's) answer."""

    def token(document: dict[str, object]) -> Result[str, IaasFailure]:
        value = _text(document, "access_token")
        return Success(value) if value else _fail(f"{where}: the answer holds no access_token")

    return _json_object(raw, where).bind(token)


def parse_gcloud_output(raw: bytes) -> Result[str, IaasFailure]:
    """``credential.access_token`` of ``gcloud config config-helper --format=json(credential)``."""

    def token(document: dict[str, object]) -> Result[str, IaasFailure]:
        credential = document.get("credential")
        value = credential.get("access_token") if isinstance(credential, dict) else None
        if isinstance(value, str) and value:
            return Success(value)
        return _fail("gcloud: the output holds no credential.access_token")

    return _json_object(raw, "gcloud output").bind(token)
