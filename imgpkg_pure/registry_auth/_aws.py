"""The ``ecr`` keychain's rules: amazon-ecr-credential-helper over AWS's JSON 1.1 API (§6.4).

* Registries: ``<12-digit account>.dkr.ecr[-fips].<region>.<partition domain>``
  (the helper's pattern, with ``dkr-ecr`` and the dual-stack ``on.aws`` forms)
  and ECR Public, ``public.ecr.aws``.  The port is ignored, as the helper's
  ``url.Hostname()`` does.
* Credentials (:func:`aws_credentials`), the AWS SDK's order for static keys:
  ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (or the older
  ``AWS_ACCESS_KEY``/``AWS_SECRET_KEY``) with ``AWS_SESSION_TOKEN``; else the
  profile ``AWS_PROFILE`` (or ``AWS_DEFAULT_PROFILE``, else ``default``) of
  the shared credentials file, then of the shared config file
  (``[profile NAME]``; ``[default]``).
* The call (:func:`ecr_token_call`): ``POST /`` to the region's endpoint
  (``api.ecr.<region>.<domain>``, FIPS ``ecr-fips.<region>.<domain>``) with
  ``X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken``
  and ``{"registryIds":["<account>"]}``, signed with SigV4 for service
  ``ecr``; ECR Public: ``api.ecr-public.us-east-1.amazonaws.com``,
  ``SpencerFrontendService.GetAuthorizationToken``, service ``ecr-public``,
  region ``us-east-1``, body ``{}``.
* The answer (:func:`decode_ecr_authorization`): ``authorizationData`` (a list
  for ECR, one object for ECR Public) whose ``authorizationToken`` is base64
  ``user:password`` (the user is ``AWS``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Final, assert_never, final

from attrs import frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.registry_auth._iaas import IaasFailure, TokenCall, go_hostname
from imgpkg_pure.registry_auth._sigv4 import AwsCredentials, sign_v4
from imgpkg_pure.registry_auth._values import AuthConfig

__all__ = [
    "ECR_PUBLIC_HOST",
    "EcrPrivate",
    "EcrPublic",
    "EcrRegistry",
    "aws_credentials",
    "decode_ecr_authorization",
    "ecr_api_host",
    "ecr_token_call",
    "parse_aws_ini",
    "parse_ecr_registry",
]

ECR_PUBLIC_HOST: Final = "public.ecr.aws"
ECR_TARGET: Final = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
ECR_PUBLIC_TARGET: Final = "SpencerFrontendService.GetAuthorizationToken"
ECR_PUBLIC_REGION: Final = "us-east-1"
AMZ_JSON: Final = "application/x-amz-json-1.1"
_ECR_PATTERN: Final = re.compile(
    r"^(\d{12})\.dkr[.\-]ecr(-fips)?\.([a-zA-Z0-9][a-zA-Z0-9\-_]*)\."
    r"(amazonaws\.(?:com(?:\.cn)?|eu)|on\.(?:aws|amazonwebservices\.com\.cn)|"
    r"sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$"
)
#: Region prefix → the partition's DNS suffix (the AWS SDK's endpoint rules); else amazonaws.com.
_PARTITION_SUFFIXES: Final = (
    ("cn-", "amazonaws.com.cn"),
    ("us-isob-", "sc2s.sgov.gov"),
    ("us-isof-", "csp.hci.ic.gov"),
    ("us-iso-", "c2s.ic.gov"),
    ("eu-isoe-", "cloud.adc-e.uk"),
    ("eusc-", "amazonaws.eu"),
)
_KEYCHAIN: Final = "ecr"


@final
@frozen(kw_only=True)
class EcrPrivate:
    """A private ECR registry."""

    account_id: str
    region: str
    fips: bool = False


@final
@frozen(kw_only=True)
class EcrPublic:
    """ECR Public (``public.ecr.aws``)."""


EcrRegistry = EcrPrivate | EcrPublic


def parse_ecr_registry(registry: str) -> EcrRegistry | None:
    """The ECR registry ``registry`` names, or None when it is not one."""
    host = go_hostname(registry)
    if host == ECR_PUBLIC_HOST:
        return EcrPublic()
    found = _ECR_PATTERN.match(host)
    if found is None:
        return None
    return EcrPrivate(account_id=found[1], region=found[3], fips=found[2] is not None)


def ecr_api_host(region: str, *, fips: bool = False) -> str:
    """The ECR API endpoint host of ``region``."""
    suffix = next(
        (domain for prefix, domain in _PARTITION_SUFFIXES if region.startswith(prefix)),
        "amazonaws.com",
    )
    return f"ecr-fips.{region}.{suffix}" if fips else f"api.ecr.{region}.{suffix}"


def ecr_token_call(
    registry: EcrRegistry,
    credentials: AwsCredentials,
    *,
    amz_date: str,
    endpoint: str | None = None,
) -> TokenCall:
    """``GetAuthorizationToken`` for ``registry``, signed at ``amz_date``.

    ``endpoint`` (a test seam) replaces ``https://<api host>``; the request is
    signed for the host it is really sent to.
    """
    match registry:
        case EcrPrivate(account_id=account, region=region, fips=fips):
            host = ecr_api_host(region, fips=fips)
            target, service = ECR_TARGET, "ecr"
            body = json.dumps({"registryIds": [account]}, separators=(",", ":")).encode()
        case EcrPublic():
            region = ECR_PUBLIC_REGION
            host = f"api.ecr-public.{region}.amazonaws.com"
            target, service, body = ECR_PUBLIC_TARGET, "ecr-public", b"{}"
        case _:  # pragma: no cover
            assert_never(registry)
    base = endpoint or f"https://{host}"
    signed_host = base.split("://", 1)[-1].split("/", 1)[0]
    signed = sign_v4(
        method="POST",
        host=signed_host,
        path="/",
        headers=(("Content-Type", AMZ_JSON), ("X-Amz-Target", target)),
        payload=body,
        credentials=credentials,
        region=region,
        service=service,
        amz_date=amz_date,
    )
    return TokenCall(method="POST", url=f"{base}/", headers=signed.headers, body=body)


def _fail(reason: str) -> Failure[IaasFailure]:
    return Failure(IaasFailure(keychain=_KEYCHAIN, reason=reason))


def _decode_token(token: object) -> Result[AuthConfig, IaasFailure]:
    if not isinstance(token, str) or not token:
        return _fail("the answer holds no authorizationToken")
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return _fail("invalid token: not base64")
    username, colon, password = decoded.partition(":")
    if not colon:
        return _fail("invalid token: expected two parts, got 1")
    return Success(AuthConfig(username=username, password=password))


def decode_ecr_authorization(raw: bytes, registry: EcrRegistry) -> Result[AuthConfig, IaasFailure]:
    """The credentials in a ``GetAuthorizationToken`` answer (a 200 body)."""
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _fail("the GetAuthorizationToken answer is not JSON")
    data = document.get("authorizationData") if isinstance(document, dict) else None
    match registry:
        case EcrPublic():
            if not isinstance(data, dict):
                return _fail("missing AuthorizationData in ECR Public response")
            return _decode_token(data.get("authorizationToken"))
        case EcrPrivate(account_id=account):
            entries = data if isinstance(data, list) else []
            for entry in entries:
                if not isinstance(entry, dict):
                    continue
                proxy = entry.get("proxyEndpoint")
                token = entry.get("authorizationToken")
                if not isinstance(proxy, str) or token is None:
                    continue
                if parse_ecr_registry(proxy.removeprefix("https://")) is None:
                    return _fail(f"Invalid ProxyEndpoint returned by ECR: {proxy}")
                return _decode_token(token)
            return _fail(f"No AuthorizationToken found for {account}")
        case _:  # pragma: no cover
            assert_never(registry)


# --- credentials ----------------------------------------------------------------------------


def parse_aws_ini(text: str) -> dict[str, dict[str, str]]:
    """An AWS shared config or credentials file: section → key (lower case) → value.

    Blank lines and ``#``/``;`` comments are skipped; an indented line is a
    sub-property (the S3 settings' nested form) and is ignored.
    """
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            current = sections.setdefault(" ".join(stripped[1:-1].split()), {})
            continue
        if current is None or line[:1] in (" ", "\t"):
            continue
        key, equals, value = stripped.partition("=")
        if equals:
            current[key.strip().lower()] = value.strip()
    return sections


def _from_section(section: Mapping[str, str]) -> AwsCredentials | None:
    key_id = section.get("aws_access_key_id", "")
    secret = section.get("aws_secret_access_key", "")
    if not key_id or not secret:
        return None
    return AwsCredentials(
        access_key_id=key_id,
        secret_access_key=secret,
        session_token=section.get("aws_session_token", ""),
    )


def _first(env: Mapping[str, str], *names: str) -> str:
    return next((env[name] for name in names if env.get(name)), "")


def aws_credentials(
    env: Mapping[str, str],
    credentials_file: str | None = None,
    config_file: str | None = None,
) -> AwsCredentials | None:
    """Static AWS credentials from the environment, else from the shared files' profile."""
    key_id = _first(env, "AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY")
    secret = _first(env, "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY")
    if key_id and secret:
        return AwsCredentials(
            access_key_id=key_id,
            secret_access_key=secret,
            session_token=env.get("AWS_SESSION_TOKEN", ""),
        )
    profile = _first(env, "AWS_PROFILE", "AWS_DEFAULT_PROFILE") or "default"
    if credentials_file is not None:
        found = _from_section(parse_aws_ini(credentials_file).get(profile, {}))
        if found is not None:
            return found
    if config_file is not None:
        sections = parse_aws_ini(config_file)
        names = [f"profile {profile}"] + (["default"] if profile == "default" else [])
        for name in names:
            found = _from_section(sections.get(name, {}))
            if found is not None:
                return found
    return None
