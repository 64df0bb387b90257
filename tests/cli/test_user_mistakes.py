"""Every user mistake: one clear line on stderr, exit 1, no traceback; and with --json,
one well-formed JSON document on stdout carrying the error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import run_cli
from tests.registry_fixtures import RegistryServer


def _mistakes(
    tmp: Path, registry: RegistryServer, auth: RegistryServer
) -> list[tuple[list[str], str]]:
    (tmp / "bad.yml").write_text("apiVersion: nope\n")
    return [
        (["push", "--nope"], "unknown flag: --nope"),
        (["pull", "-i", f"{registry.host}/a/b:v1"], 'required flag(s) "output" not set'),
        (["pull", "-i", "Not A Reference", "-o", str(tmp / "o")], "Parsing 'Not A Reference'"),
        (["pull", "--lock", str(tmp / "missing.yml"), "-o", str(tmp / "o")], "missing.yml"),
        (["pull", "--lock", str(tmp / "bad.yml"), "-o", str(tmp / "o")], "bad.yml"),
        (["copy", "--lock", str(tmp / "bad.yml"), "--to-repo", f"{registry.host}/xx"], "bad.yml"),
        (["pull", "-i", f"{registry.host}/no/such:tag", "-o", str(tmp / "o")], "MANIFEST_UNKNOWN"),
        (["pull", "-i", "127.0.0.1:9/x/y:v1", "-o", str(tmp / "o"), "--registry-retry-count", "1"],
         "127.0.0.1:9"),
        (["pull", "-i", f"{auth.host}/x/y:v1", "-o", str(tmp / "o"),
          "--registry-username", "imgpkg", "--registry-password", "wrong"],
         "UNAUTHORIZED: authentication required"),
        (["pull", "-i", f"{registry.host}/no/such:tag", "-o", "/dev/null"],
         f"Fetching image: GET http://{registry.host}/v2/no/such/manifests/tag: MANIFEST_UNKNOWN"),
        (["copy", "-b", f"{registry.host}/no/such:tag", "--to-tar", str(tmp / "x.tar")],
         "MANIFEST_UNKNOWN"),
        (["copy", "--tar", str(tmp / "missing.tar"), "--to-repo", f"{registry.host}/xx"],
         "missing.tar"),
    ]  # fmt: skip


def test_user_mistakes_are_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    registry: RegistryServer,
    registry_basic_auth: RegistryServer,
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    for args, fragment in _mistakes(tmp_path, registry, registry_basic_auth):
        code, stdout, stderr = run_cli(capsys, *args)
        assert code == 1, (args, stdout, stderr)
        assert "Traceback" not in stderr, args
        assert stderr.count("\n") == 1, (args, stderr)
        assert stderr.startswith("imgpkg-pure: Error: "), (args, stderr)
        assert fragment in stderr, (args, stderr)


def test_json_mode_reports_failures(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    registry: RegistryServer,
    registry_basic_auth: RegistryServer,
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    for args, fragment in _mistakes(tmp_path, registry, registry_basic_auth):
        if args[1] in ("--nope",) or "output" in fragment:
            continue  # flag parsing fails before a command (and its --json) exists
        code, stdout, _ = run_cli(capsys, *args, "--json")
        assert code == 1, args
        document = json.loads(stdout)
        assert fragment in document["Error"]["Message"], (args, document)
        assert isinstance(document["Error"]["Code"], str) and document["Error"]["Code"]
        assert set(document) >= {"Tables", "Blocks", "Lines", "Error"}
