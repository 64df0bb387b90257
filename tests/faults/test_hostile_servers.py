"""Hostile registries get one clear line, within the configured timeouts, and nothing written.

Each test pulls ``app:v1`` from a :class:`tests.faults.hostile.HostileRegistry`
with a 1 s read timeout and 2 tries.  The bound is counted, not timed: the
requests the server saw are at most what the retry count allows, and the
server's own stalls (5 s) are never waited out (a client that waited would
still finish, but would have sent its requests after the stall: the counts and
the single line say it did not).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import run_cli
from tests.faults.hostile import MANIFEST_DIGEST, Behaviour, HostileRegistry

FLAGS = ("--registry-response-header-timeout", "1s", "--registry-retry-count", "2")


def _pull(capsys: pytest.CaptureFixture[str], tmp_path: Path, host: str) -> tuple[int, str, Path]:
    out = tmp_path / "out"
    code, _stdout, stderr = run_cli(capsys, "pull", "-i", f"{host}/app:v1", "-o", str(out), *FLAGS)
    return code, stderr, out


@pytest.mark.parametrize(
    ("behaviour", "words"),
    [
        (Behaviour.NEVER_ANSWERS, "timeout awaiting response headers"),
        (Behaviour.STALLS_MID_BODY, "timeout awaiting response headers or data"),
        (Behaviour.ENDLESS_BODY, "is too large: more than the limit of 4194304 bytes"),
        (Behaviour.ENDLESS_HEADERS, "the server broke the connection"),
        (Behaviour.HUGE_MANIFEST, "is too large: 1073741824 bytes, the limit is 4194304 bytes"),
        (Behaviour.WRONG_DIGEST, f"digest mismatch: expected {MANIFEST_DIGEST}"),
        (Behaviour.REDIRECT_LOOP, "redirect"),
    ],
)
def test_a_hostile_registry_gets_one_line_and_nothing_is_written(
    behaviour: Behaviour, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with HostileRegistry(behaviour) as server:
        code, stderr, out = _pull(capsys, tmp_path, server.host)
        requests = list(server.requests)
    assert code == 1
    assert stderr.startswith("imgpkg-pure: Error: "), stderr
    assert stderr.count("\n") == 1, stderr  # one line, no traceback
    assert words in stderr, stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    targeted = [r for r in requests if r[1] != "/v2/"]
    assert len(targeted) <= 2 * 21, requests  # 2 tries (each up to 20 redirects) at most


@pytest.mark.parametrize(
    ("realm", "words"),
    [
        ("", "names no token realm"),
        ("not a url", "a token realm that is not an http(s) URL: 'not a url'"),
        ("ftp://127.0.0.1/token", "not an http(s) URL: 'ftp://127.0.0.1/token'"),
        ("file:///etc/passwd", "not an http(s) URL: 'file:///etc/passwd'"),
        ("http://127.0.0.1:1/token", "GET http://127.0.0.1:1/token: connection refused"),
    ],
)
def test_an_odd_auth_realm_gets_one_line(
    realm: str, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with HostileRegistry(Behaviour.ODD_REALM, realm=realm) as server:
        code, stderr, out = _pull(capsys, tmp_path, server.host)
    assert code == 1
    assert stderr.startswith("imgpkg-pure: Error: "), stderr
    assert stderr.count("\n") == 1, stderr
    assert words in stderr, stderr
    assert not out.exists()
