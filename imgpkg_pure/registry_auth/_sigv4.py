"""AWS Signature Version 4 for one request (header signing), with hashlib only.

The steps of AWS's "Create a signed AWS API request" guide:

1. the canonical request: method, canonical URI (each path segment
   percent-encoded, unreserved characters kept), canonical query (pairs
   encoded, sorted), canonical headers (names lower-cased, values trimmed with
   inner runs of spaces collapsed, sorted by name, ``name:value\\n`` each), the
   signed header names (``;``-joined) and the hex SHA-256 of the payload;
2. the string to sign: ``AWS4-HMAC-SHA256``, the ``X-Amz-Date``, the scope
   ``<date>/<region>/<service>/aws4_request`` and the hex SHA-256 of step 1;
3. the signing key: HMAC-SHA256 chained over ``AWS4<secret>``, the date, the
   region, the service and ``aws4_request``; the signature is the hex HMAC of
   step 2 with it;
4. ``Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<scope>,
   SignedHeaders=<names>, Signature=<hex>``.

Every header given is signed, plus ``host`` and ``x-amz-date`` (and
``x-amz-security-token`` for temporary credentials).  The time is an input
(``amz_date``, ``YYYYMMDDTHHMMSSZ``): nothing here reads a clock.

HMAC is the standard library's :mod:`hmac` (pure: on the core's allowlist).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final, final

from attrs import field, frozen

__all__ = [
    "SIGV4_ALGORITHM",
    "AwsCredentials",
    "SignedRequest",
    "canonical_request",
    "hmac_sha256",
    "sign_v4",
    "signing_key",
    "string_to_sign",
]

SIGV4_ALGORITHM: Final = "AWS4-HMAC-SHA256"
_UNRESERVED: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
)


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104), the standard library's."""
    return hmac.new(key, message, hashlib.sha256).digest()


@final
@frozen(kw_only=True)
class AwsCredentials:
    """An access key (``session_token`` only for temporary credentials)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(default="", repr=False)


@final
@frozen(kw_only=True)
class SignedRequest:
    """The headers to send (the given ones, ``X-Amz-Date``, the token, ``Authorization``)."""

    headers: tuple[tuple[str, str], ...] = field(repr=False)
    canonical_request: str = field(repr=False)
    string_to_sign: str
    signature: str


def _escape(text: str) -> str:
    return "".join(
        chr(byte) if byte in _UNRESERVED else f"%{byte:02X}" for byte in text.encode("utf-8")
    )


def _canonical_uri(path: str) -> str:
    if not path:
        return "/"
    return "/".join(_escape(segment) for segment in path.split("/"))


def _canonical_query(query: tuple[tuple[str, str], ...]) -> str:
    pairs = sorted((_escape(key), _escape(value)) for key, value in query)
    return "&".join(f"{key}={value}" for key, value in pairs)


def _header_value(value: str) -> str:
    return " ".join(value.split())


def _canonical_headers(headers: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    """The canonical header block (each line ending in ``\\n``) and the signed names."""
    merged: dict[str, list[str]] = {}
    for name, value in headers:
        merged.setdefault(name.strip().lower(), []).append(_header_value(value))
    names = sorted(merged)
    block = "".join(f"{name}:{','.join(merged[name])}\n" for name in names)
    return block, ";".join(names)


def canonical_request(
    *,
    method: str,
    path: str,
    query: tuple[tuple[str, str], ...],
    headers: tuple[tuple[str, str], ...],
    payload: bytes,
) -> str:
    """Step 1: the canonical request over exactly these headers."""
    block, signed = _canonical_headers(headers)
    return "\n".join(
        (
            method.upper(),
            _canonical_uri(path),
            _canonical_query(query),
            block,
            signed,
            hashlib.sha256(payload).hexdigest(),
        )
    )


def _scope(amz_date: str, region: str, service: str) -> str:
    return f"{amz_date[:8]}/{region}/{service}/aws4_request"


def string_to_sign(canonical: str, *, amz_date: str, region: str, service: str) -> str:
    """Step 2."""
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return "\n".join((SIGV4_ALGORITHM, amz_date, _scope(amz_date, region, service), digest))


def signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    """Step 3's key, for ``date`` (``YYYYMMDD``)."""
    key = hmac_sha256(f"AWS4{secret_access_key}".encode(), date.encode("utf-8"))
    for part in (region, service, "aws4_request"):
        key = hmac_sha256(key, part.encode("utf-8"))
    return key


def sign_v4(
    *,
    method: str,
    host: str,
    path: str,
    query: tuple[tuple[str, str], ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
    payload: bytes = b"",
    credentials: AwsCredentials,
    region: str,
    service: str,
    amz_date: str,
) -> SignedRequest:
    """Sign a request to ``host`` (as the ``Host`` header will carry it: ``name[:port]``)."""
    sent = [*headers, ("X-Amz-Date", amz_date)]
    if credentials.session_token:
        sent.append(("X-Amz-Security-Token", credentials.session_token))
    signed_headers = (("Host", host), *sent)
    canonical = canonical_request(
        method=method, path=path, query=query, headers=signed_headers, payload=payload
    )
    to_sign = string_to_sign(canonical, amz_date=amz_date, region=region, service=service)
    key = signing_key(credentials.secret_access_key, amz_date[:8], region, service)
    signature = hmac_sha256(key, to_sign.encode("utf-8")).hex()
    _, names = _canonical_headers(signed_headers)
    authorization = (
        f"{SIGV4_ALGORITHM} Credential={credentials.access_key_id}/"
        f"{_scope(amz_date, region, service)}, SignedHeaders={names}, Signature={signature}"
    )
    return SignedRequest(
        headers=(*sent, ("Authorization", authorization)),
        canonical_request=canonical,
        string_to_sign=to_sign,
        signature=signature,
    )
