"""SigV4 (``imgpkg_pure.registry_auth._sigv4``) against AWS's published test suite vectors.

The vectors are from AWS's "Signature Version 4 test suite" (``get-vanilla``,
``post-vanilla``, ``get-vanilla-query-order-key-case``): key ``AKIDEXAMPLE`` /
``wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY``, region ``us-east-1``, service
``service``, ``X-Amz-Date: 20150830T123600Z``, host ``example.amazonaws.com``.
Beyond them, the signer agrees with an implementation written independently
from AWS's documentation on the stdlib's ``hmac`` (the one the ECR fake uses).
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from imgpkg_pure.registry_auth import (
    AwsCredentials,
    canonical_request,
    ecr_token_call,
    hmac_sha256,
    sign_v4,
    signing_key,
    string_to_sign,
)
from imgpkg_pure.registry_auth._aws import EcrPrivate
from tests.registry.iaas_fakes import sigv4_signature

SUITE = AwsCredentials(
    access_key_id="AKIDEXAMPLE", secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)
SUITE_DATE = "20150830T123600Z"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def suite_sign(method: str, query: tuple[tuple[str, str], ...] = ()) -> str:
    signed = sign_v4(
        method=method,
        host="example.amazonaws.com",
        path="/",
        query=query,
        credentials=SUITE,
        region="us-east-1",
        service="service",
        amz_date=SUITE_DATE,
    )
    return dict(signed.headers)["Authorization"]


@pytest.mark.parametrize(
    ("name", "method", "query", "signature"),
    [
        ("get-vanilla", "GET", (),
         "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        ("post-vanilla", "POST", (),
         "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        ("get-vanilla-query-order-key-case", "GET", (("Param2", "value2"), ("Param1", "value1")),
         "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
    ],
)
def test_aws_test_suite_vectors(
    name: str, method: str, query: tuple[tuple[str, str], ...], signature: str
) -> None:
    assert suite_sign(method, query) == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={signature}"
    ), name


def test_get_vanilla_canonical_request_and_string_to_sign() -> None:
    canonical = canonical_request(
        method="GET",
        path="/",
        query=(),
        headers=(("Host", "example.amazonaws.com"), ("X-Amz-Date", SUITE_DATE)),
        payload=b"",
    )
    assert canonical == (
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
        f"host;x-amz-date\n{EMPTY_SHA256}"
    )
    to_sign = string_to_sign(canonical, amz_date=SUITE_DATE, region="us-east-1", service="service")
    assert to_sign == (
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
        "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
    )


def test_signing_key_matches_the_documented_derivation() -> None:
    def mac(key: bytes, text: str) -> bytes:
        return hmac.new(key, text.encode(), hashlib.sha256).digest()

    expected = mac(mac(mac(mac(b"AWS4" + SUITE.secret_access_key.encode(), "20150830"),
                           "us-east-1"), "iam"), "aws4_request")
    assert signing_key(SUITE.secret_access_key, "20150830", "us-east-1", "iam") == expected


def test_hmac_matches_rfc_4231_case_1_and_a_long_key() -> None:
    assert hmac_sha256(b"\x0b" * 20, b"Hi There").hex() == (
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    )
    long_key = b"\xaa" * 131  # RFC 4231 case 6: a key longer than the block is hashed first
    message = b"Test Using Larger Than Block-Size Key - Hash Key First"
    assert hmac_sha256(long_key, message).hex() == (
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    )


def test_ecr_call_is_signed_over_its_headers_and_body() -> None:
    credentials = AwsCredentials(
        access_key_id="AKIAEXAMPLE", secret_access_key="secret", session_token="token=="
    )
    registry = EcrPrivate(account_id="123456789012", region="eu-west-1")
    call = ecr_token_call(registry, credentials, amz_date="20240102T030405Z")
    assert call.url == "https://api.ecr.eu-west-1.amazonaws.com/"
    assert call.body == b'{"registryIds":["123456789012"]}'
    headers = dict(call.headers)
    assert headers["X-Amz-Target"] == "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
    assert headers["Content-Type"] == "application/x-amz-json-1.1"
    assert headers["X-Amz-Security-Token"] == "token=="
    authorization = headers["Authorization"]
    assert authorization.startswith(
        "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20240102/eu-west-1/ecr/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, "
    )
    signed = ["content-type", "host", "x-amz-date", "x-amz-security-token", "x-amz-target"]
    sent = {k.lower(): v for k, v in headers.items()} | {
        "host": "api.ecr.eu-west-1.amazonaws.com"
    }
    expected = sigv4_signature(
        secret="secret", method="POST", path="/", query=[], headers=sent,
        signed_headers=signed, payload=call.body, amz_date="20240102T030405Z",
        region="eu-west-1", service="ecr",
    )
    assert authorization.endswith(f"Signature={expected}")
