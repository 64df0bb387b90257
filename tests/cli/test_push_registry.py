"""``push`` to the real registry: tags, lock files, auth flags, TLS, skopeo interop."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import httpx
import pytest

from imgpkg_pure.bundle import parse_bundle_lock, parse_image_lock
from tests.cli.helpers import copy_fixture, make_tree, run_cli
from tests.registry_fixtures import RegistryServer


def _tags(registry: RegistryServer, repo: str) -> list[str]:
    with registry.client() as client:
        response = client.get(f"/v2/{repo}/tags/list")
        response.raise_for_status()
        return sorted(response.json()["tags"])


def _digest_of(stdout: str) -> str:
    line = [ln for ln in stdout.splitlines() if ln.startswith("Pushed '")][-1]
    return line.split("@")[1].rstrip("'")


def test_push_bundle_to_registry(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo: str,
) -> None:
    bundle = copy_fixture("bundle", tmp_path)
    lock = tmp_path / "bundle.lock.yml"
    ref = f"{registry.host}/{unique_repo}:v1"
    code, stdout, stderr = run_cli(
        capsys, "push", "-b", ref, "-f", str(bundle), "--lock-output", str(lock)
    )
    assert code == 0, stderr
    digest = _digest_of(stdout)
    assert stdout == f"Pushed '{registry.host}/{unique_repo}@{digest}'\n"
    assert _tags(registry, unique_repo) == sorted(["v1", f"sha256-{digest[7:]}.imgpkg"])
    parsed = parse_bundle_lock(lock.read_text(), str(lock)).unwrap()
    assert parsed.image == f"{registry.host}/{unique_repo}@{digest}"
    assert parsed.tag == "v1"
    assert lock.stat().st_mode & 0o777 == 0o600
    with registry.client() as client:
        manifest = client.get(
            f"/v2/{unique_repo}/manifests/v1",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
    assert manifest.headers["Docker-Content-Digest"] == digest
    assert manifest.json()["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"

    inspected = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)["Labels"] == {"dev.carvel.imgpkg.bundle": "true"}
    copied = subprocess.run(
        ["skopeo", "copy", "--src-tls-verify=false", f"docker://{ref}", f"dir:{tmp_path}/dir"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert copied.returncode == 0, copied.stderr
    # skopeo's dir: transport keeps the manifest as manifest.json and each blob by its hex
    copied_manifest = (tmp_path / "dir" / "manifest.json").read_bytes()
    assert "sha256:" + hashlib.sha256(copied_manifest).hexdigest() == digest
    blobs = [json.loads(copied_manifest)["config"], *json.loads(copied_manifest)["layers"]]
    for desc in blobs:
        data = (tmp_path / "dir" / desc["digest"].split(":")[1]).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == desc["digest"]
        assert len(data) == desc["size"]


def test_push_image_writes_an_image_lock(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo: str,
) -> None:
    app = copy_fixture("app", tmp_path)
    lock = tmp_path / "image.lock.yml"
    code, stdout, stderr = run_cli(
        capsys, "push", "-i", f"{registry.host}/{unique_repo}", "-f", str(app),
        "--lock-output", str(lock),
    )  # fmt: skip
    assert code == 0, stderr
    parsed = parse_image_lock(lock.read_text(), str(lock)).unwrap()
    assert parsed.image == f"{registry.host}/{unique_repo}@{_digest_of(stdout)}"
    assert parsed.tag == "latest"


def test_pushing_twice_uploads_nothing_new(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo: str,
) -> None:
    app = copy_fixture("app", tmp_path)
    ref = f"{registry.host}/{unique_repo}:v1"
    first = run_cli(capsys, "push", "-i", ref, "-f", str(app))
    log_size = registry.log_size()
    second = run_cli(capsys, "push", "-i", ref, "-f", str(app))
    assert first == second
    log = registry.read_log_since(log_size)
    assert "PUT" not in log and "PATCH" not in log, log


def test_push_with_basic_auth_flags_and_env(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    registry_basic_auth: RegistryServer,
    unique_repo: str,
) -> None:
    app = copy_fixture("app", tmp_path)
    ref = f"{registry_basic_auth.host}/{unique_repo}:v1"
    assert registry_basic_auth.username and registry_basic_auth.password
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    code, _, stderr = run_cli(capsys, "push", "-i", ref, "-f", str(app))
    assert code == 1
    refused = stderr

    code, _, stderr = run_cli(
        capsys, "push", "-i", ref, "-f", str(app),
        "--registry-username", registry_basic_auth.username,
        "--registry-password", registry_basic_auth.password,
    )  # fmt: skip
    assert code == 0, stderr
    with registry_basic_auth.client() as client:
        layer = client.get(
            f"/v2/{unique_repo}/manifests/v1",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        ).json()["layers"][0]["digest"]
    host = registry_basic_auth.host
    # the first request that needs credentials is the layer's HEAD
    assert refused == (
        f"imgpkg-pure: Error: HEAD http://{host}/v2/{unique_repo}/blobs/{layer}: unexpected"
        " status code 401 Unauthorized (HEAD responses have no body, use GET for details)"
        f" (registry {host}, credentials: anonymous); no credentials were found for {host}:"
        " set IMGPKG_REGISTRY_HOSTNAME/USERNAME/PASSWORD, --registry-username and"
        " --registry-password, or log in with docker\n"
    )

    monkeypatch.setenv("IMGPKG_USERNAME", registry_basic_auth.username)
    monkeypatch.setenv("IMGPKG_PASSWORD", registry_basic_auth.password)
    code, _, stderr = run_cli(capsys, "push", "-i", ref + "-env", "-f", str(app))
    assert code == 0, stderr


def test_push_over_tls_needs_the_ca(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry_tls: RegistryServer,
    unique_repo: str,
) -> None:
    tree = make_tree(tmp_path / "in", {"a.txt": b"a"})
    ref = f"{registry_tls.host}/{unique_repo}:v1"
    code, _, stderr = run_cli(capsys, "push", "-i", ref, "-f", str(tree))
    assert code == 1
    assert "certificate" in stderr.lower()
    assert registry_tls.ca_cert is not None
    code, _, stderr = run_cli(
        capsys, "push", "-i", ref, "-f", str(tree), "--registry-ca-cert-path",
        str(registry_tls.ca_cert),
    )  # fmt: skip
    assert code == 0, stderr
    code, _, stderr = run_cli(
        capsys, "push", "-i", ref, "-f", str(tree), "--registry-verify-certs=false"
    )
    assert code == 0, stderr


def test_unreachable_registry_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = make_tree(tmp_path / "in", {"a.txt": b"a"})
    code, _, stderr = run_cli(
        capsys, "push", "-i", "127.0.0.1:9/x/y:v1", "-f", str(tree), "--registry-retry-count", "1"
    )
    assert code == 1
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert "127.0.0.1:9" in stderr


def test_bad_timeout_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, stderr = run_cli(
        capsys, "push", "-i", "r.io/a/b", "--registry-response-header-timeout", "5"
    )
    assert code == 1
    assert 'time: invalid duration "5"' in stderr


def test_registry_content_matches_layout_content(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo: str,
) -> None:
    """The same files give the same manifest in a layout and in a registry (same media types)."""
    app = copy_fixture("app", tmp_path)
    _, to_registry, _ = run_cli(
        capsys, "push", "-i", f"{registry.host}/{unique_repo}", "-f", str(app)
    )
    _, to_layout, _ = run_cli(
        capsys, "push", "-i", f"oci:{tmp_path}/l", "-f", str(app), "--media-types", "docker"
    )
    assert _digest_of(to_registry) == _digest_of(to_layout)
    with httpx.Client() as client:
        blob = client.get(f"{registry.url}/v2/{unique_repo}/manifests/{_digest_of(to_registry)}")
    assert blob.status_code == 200
