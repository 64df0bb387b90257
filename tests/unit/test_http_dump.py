"""The ``--debug`` dump: Go's header spelling and durations, bodies shown small and redacted."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgpkg_pure.http_dump import (
    canonical_header_key,
    dump_request,
    dump_response,
    go_duration_text,
    shown_body,
)


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("accept-encoding", "Accept-Encoding"),
        ("CONTENT-TYPE", "Content-Type"),
        ("docker-content-digest", "Docker-Content-Digest"),
        ("www-authenticate", "Www-Authenticate"),
        ("imgpkg-session-id", "Imgpkg-Session-Id"),
        ("x", "X"),
        ("bad header", "bad header"),
    ],
)
def test_go_canonical_header_keys(name: str, canonical: str) -> None:
    assert canonical_header_key(name) == canonical


@given(st.from_regex(r"[A-Za-z0-9]+(-[A-Za-z0-9]+)*", fullmatch=True))
def test_canonical_keys_are_idempotent_and_case_blind(name: str) -> None:
    once = canonical_header_key(name)
    assert canonical_header_key(once) == once
    assert canonical_header_key(name.swapcase()) == once
    assert once.lower() == name.lower()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.000000500, "500ns"),
        (0.000679, "679µs"),
        (0.0015, "1.5ms"),
        (0.002561, "2.561ms"),
        (2, "2s"),
        (2.5, "2.5s"),
        (61, "1m1s"),
        (3723.5, "1h2m3.5s"),
    ],
)
def test_go_duration_text(seconds: float, text: str) -> None:
    assert go_duration_text(seconds) == text


def test_bodies_small_json_only_and_token_fields_hidden() -> None:
    assert shown_body("application/json", b"{}") == "{}"
    assert shown_body("application/json", b"") is None
    assert shown_body("application/octet-stream", b"\x00" * 10) == "[10 bytes not shown]"
    big = json.dumps({"a": "x" * 5000}).encode()
    assert shown_body("application/json", big) == f"[{len(big)} bytes not shown]"
    token = b'{"token":"s3cr3t","access_token":"s3cr3t","expires_in":300}'
    shown = shown_body("application/json; charset=utf-8", token)
    assert shown is not None
    assert "s3cr3t" not in shown
    assert '"expires_in":300' in shown
    form = b"grant_type=password&password=hunter2"
    assert shown_body("application/x-www-form-urlencoded", form) == (
        f"[body redacted: {len(form)} bytes of form data]"
    )


def test_request_and_response_dumps() -> None:
    request = dump_request(
        "GET",
        "https://user:pw@r.example/v2/x/blobs/uploads/?_state=abc&digest=sha256:1",
        [("accept-encoding", "gzip"), ("authorization", "Basic dXNlcjpwdw==")],
        None,
    )
    assert request.splitlines() == [
        "--> GET https://r.example/v2/x/blobs/uploads/?_state=REDACTED&digest=sha256:1",
        "GET /v2/x/blobs/uploads/?_state=REDACTED&digest=sha256:1 HTTP/1.1",
        "Host: r.example",
        "Accept-Encoding: gzip",
        "Authorization: Basic REDACTED",
    ]
    response = dump_response(
        404, "https://r.example/v2/x/manifests/v1", 0.000679, [("content-type", "a/json")], "{}"
    )
    assert response.splitlines() == [
        "<-- 404 https://r.example/v2/x/manifests/v1 (679µs)",
        "HTTP/1.1 404 Not Found",
        "Content-Type: a/json",
        "",
        "{}",
    ]
