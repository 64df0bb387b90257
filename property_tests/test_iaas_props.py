"""Properties of the IaaS keychains' pure rules.

* HMAC-SHA256 over hashlib equals the standard library's ``hmac``.
* SigV4 signatures equal those of an implementation written independently from
  AWS's documentation (``tests.registry.iaas_fakes.sigv4_signature``, the one the
  ECR fake verifies with), whatever the headers, query, payload, date and scope.
* Form encoding is ``urllib``'s ``quote_plus`` encoding (Go's ``QueryEscape``).
* ``IMGPKG_ACTIVE_KEYCHAINS``: any list of known names, however spaced, parses to
  those names in order; any list with another name fails naming the first one.
* ECR host names round-trip through :func:`parse_ecr_registry`.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote_plus, urlencode, urlsplit

from attrs import frozen
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Success

from imgpkg_pure.registry_auth import (
    AwsCredentials,
    EcrPrivate,
    IaasKeychain,
    UnknownKeychain,
    encode_form,
    go_hostname,
    hmac_sha256,
    parse_active_keychains,
    parse_ecr_registry,
    sign_v4,
)
from tests.registry.iaas_fakes import sigv4_signature

printable = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
names = st.sampled_from([k.value for k in IaasKeychain])
spaces = st.text(alphabet=" \t", max_size=3)


@given(st.binary(max_size=200), st.binary(max_size=300))
def test_hmac_is_the_standard_librarys(key: bytes, message: bytes) -> None:
    assert hmac_sha256(key, message) == hmac.new(key, message, hashlib.sha256).digest()


amz_dates = st.builds(
    lambda y, mo, d, h, mi, s: f"{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z",
    st.integers(2000, 2099), st.integers(1, 12), st.integers(1, 28),
    st.integers(0, 23), st.integers(0, 59), st.integers(0, 59),
)
header_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)


@frozen
class SigV4Case:
    method: str
    headers: tuple[tuple[str, str], ...]
    query: tuple[tuple[str, str], ...]
    payload: bytes
    amz_date: str
    region: str
    service: str
    secret: str
    session: str


sigv4_cases = st.builds(
    SigV4Case,
    method=st.sampled_from(["GET", "POST", "PUT"]),
    headers=st.dictionaries(token.map(lambda n: f"X-Test-{n}"), header_values, max_size=4).map(
        lambda d: tuple(d.items())
    ),
    query=st.lists(st.tuples(token, printable), max_size=4).map(tuple),
    payload=st.binary(max_size=100),
    amz_date=amz_dates,
    region=token,
    service=token,
    secret=printable,
    session=st.one_of(st.just(""), token),
)


@given(sigv4_cases)
def test_sigv4_agrees_with_an_independent_implementation(case: SigV4Case) -> None:
    credentials = AwsCredentials(
        access_key_id="AKIDEXAMPLE", secret_access_key=case.secret, session_token=case.session
    )
    signed = sign_v4(
        method=case.method,
        host="example.amazonaws.com",
        path="/",
        query=case.query,
        headers=case.headers,
        payload=case.payload,
        credentials=credentials,
        region=case.region,
        service=case.service,
        amz_date=case.amz_date,
    )
    sent = {k.lower(): v for k, v in signed.headers} | {"host": "example.amazonaws.com"}
    signed_names = sorted(name for name in sent if name != "authorization")
    expected = sigv4_signature(
        secret=case.secret, method=case.method, path="/", query=list(case.query),
        headers=sent, signed_headers=signed_names, payload=case.payload,
        amz_date=case.amz_date, region=case.region, service=case.service,
    )
    assert signed.signature == expected
    assert sent["authorization"].endswith(
        f"SignedHeaders={';'.join(signed_names)}, Signature={expected}"
    )


@given(st.lists(st.tuples(printable, printable), max_size=5))
def test_form_encoding_is_quote_plus(fields: list[tuple[str, str]]) -> None:
    assert encode_form(tuple(fields)) == urlencode(fields, quote_via=quote_plus)


@given(st.lists(st.tuples(spaces, names, spaces), min_size=1, max_size=6))
def test_known_names_parse_in_order(items: list[tuple[str, str, str]]) -> None:
    listed = ",".join(f"{a}{name}{b}" for a, name, b in items)
    expected = tuple(IaasKeychain(name) for _, name, _ in items)
    assert parse_active_keychains({"IMGPKG_ACTIVE_KEYCHAINS": listed}) == Success(expected)


KNOWN = frozenset(k.value for k in IaasKeychain)


@given(
    st.lists(names, max_size=3), token.filter(lambda t: t not in KNOWN), st.lists(names, max_size=3)
)
def test_an_unknown_name_fails_naming_it(before: list[str], other: str, after: list[str]) -> None:
    listed = ",".join([*before, other, *after])
    assert parse_active_keychains({"IMGPKG_ACTIVE_KEYCHAINS": listed}) == Failure(
        UnknownKeychain(name=other)
    )


@given(token, st.one_of(st.none(), st.integers(1, 65535)))
def test_go_hostname_is_the_urls_hostname(host: str, port: int | None) -> None:
    registry = host if port is None else f"{host}:{port}"
    assert go_hostname(registry) == urlsplit(f"https://{registry}").hostname


@given(
    st.text(alphabet="0123456789", min_size=12, max_size=12),
    token.filter(lambda t: t[0].isalnum()),
    st.booleans(),
    st.sampled_from(["amazonaws.com", "amazonaws.com.cn", "c2s.ic.gov", "on.aws"]),
)
def test_ecr_hosts_round_trip(account: str, region: str, fips: bool, domain: str) -> None:
    host = f"{account}.dkr.ecr{'-fips' if fips else ''}.{region}.{domain}"
    assert parse_ecr_registry(host) == EcrPrivate(account_id=account, region=region, fips=fips)
