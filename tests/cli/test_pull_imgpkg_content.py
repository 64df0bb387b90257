"""Pull what the real imgpkg wrote: the fixtures' tarball content, placed as imgpkg copy places it.

Expected results are ``expected/*.json``: the files real ``imgpkg pull`` wrote
(umask 022) and the rewritten ``images.yml`` of a relocated bundle.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imgpkg_pure.reference import Repository
from imgpkg_pure.store.registry import RegistryClient, RegistryOptions
from tests.cli.helpers import FIXTURES, run_cli
from tests.cli.imgpkg_tarball import upload_tarball
from tests.registry_fixtures import RegistryServer


@pytest.fixture(autouse=True)
def _umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def _upload(name: str, registry: RegistryServer, repo: str) -> dict[str, Any]:
    with RegistryClient(RegistryOptions()) as client:
        upload_tarball(
            FIXTURES / f"{name}.tar", client, Repository(registry=registry.host, repository=repo)
        )
    expected: dict[str, Any] = json.loads((FIXTURES / "expected" / f"{name}.json").read_text())
    return expected


def _check_files(out: Path, files: list[dict[str, Any]]) -> None:
    for entry in files:
        path = out / entry["path"]
        assert path.exists(), entry["path"]
        assert oct(path.stat().st_mode & 0o777) == oct(int(entry["mode"], 8)), entry["path"]
        if entry["type"] == "file" and "sha256" in entry:
            digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
            assert digest == entry["sha256"], entry["path"]
    listed = {e["path"] for e in files}
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*")}
    assert on_disk == listed


@pytest.mark.parametrize("name", ["image", "bundle", "nested-bundle"])
def test_plain_images_pull_as_imgpkg_pulls_them(
    name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo: str,
) -> None:
    expected = _upload(name, registry, unique_repo)
    for image in expected["images"]:
        if image["kind"] != "image" or image["repository"] == "fixtures/layered":
            continue  # layered: imgpkg's top-down result is its bug; see test_pull_registry
        out = tmp_path / image["manifest_digest"][7:19]
        ref = f"{registry.host}/{unique_repo}@{image['manifest_digest']}"
        code, _, stderr = run_cli(capsys, "pull", "-i", ref, "-o", str(out))
        assert code == 0, stderr
        _check_files(out, image["files_after_imgpkg_pull"])


@pytest.mark.parametrize("name", ["bundle", "nested-bundle"])
def test_bundles_pull_and_relocate_as_imgpkg(
    name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo: str,
) -> None:
    expected = _upload(name, registry, unique_repo)
    repo_ref = f"{registry.host}/{unique_repo}"
    root = expected["root"]
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(
        capsys, "pull", "--tty", "-b", f"{repo_ref}@{root['digest']}", "-o", str(out)
    )
    assert code == 0, stderr
    assert f"The bundle repo ({repo_ref}) is hosting every image" in stdout
    bundle = next(i for i in expected["images"] if i.get("manifest_digest") == root["digest"])
    after = bundle["bundle"]["images_yml_after_pull_from_relocated_repo"].replace(
        "{REPO}", repo_ref
    )
    assert (out / ".imgpkg" / "images.yml").read_text() == after
    files = [
        f
        for f in bundle["files_after_imgpkg_pull"]
        if f["path"] != ".imgpkg/images.yml" and ("sha256" in f or f["type"] == "dir")
    ]
    _check_files_subset(out, files)


def _check_files_subset(out: Path, files: list[dict[str, Any]]) -> None:
    for entry in files:
        path = out / entry["path"]
        assert path.exists(), entry["path"]
        if entry["type"] == "file":
            digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
            assert digest == entry["sha256"], entry["path"]


def test_nested_bundle_recursive_pull_matches_imgpkg(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo: str,
) -> None:
    expected = _upload("nested-bundle", registry, unique_repo)
    repo_ref = f"{registry.host}/{unique_repo}"
    root = expected["root"]
    out = tmp_path / "out"
    code, _, stderr = run_cli(
        capsys, "pull", "-r", "-b", f"{repo_ref}@{root['digest']}", "-o", str(out)
    )
    assert code == 0, stderr
    bundle = next(i for i in expected["images"] if i.get("manifest_digest") == root["digest"])
    wanted = bundle["files_after_imgpkg_pull_recursive"]
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*")}
    assert on_disk == {e["path"] for e in wanted}
    for entry in wanted:
        path = out / entry["path"]
        assert oct(path.stat().st_mode & 0o777) == oct(int(entry["mode"], 8)), entry["path"]
        if "sha256" in entry:
            assert "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        elif entry["type"] == "file":  # a rewritten images.yml: the root's or a nested one's
            owner = bundle
            for candidate in expected["images"]:
                if (
                    candidate["kind"] == "bundle"
                    and candidate["manifest_digest"][7:] in entry["path"]
                ):
                    owner = candidate
            text = owner["bundle"]["images_yml_after_pull_from_relocated_repo"]
            assert path.read_text() == text.replace("{REPO}", repo_ref), entry["path"]
