"""``copy --to-tar`` / ``--tar``: imgpkg's tarball format both ways, against the real registry.

Expected values are real imgpkg's (``expected/*.json``): what ``copy --tar X --to-repo``
must produce (lock output, tags, pulled files), and the tarball layout.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import FIXTURES, run_cli
from tests.cli.test_copy_registry import _tags, _upload
from tests.cli.test_pull_imgpkg_content import _check_files
from tests.registry_fixtures import RegistryServer


@pytest.mark.parametrize("name", ["image", "bundle", "nested-bundle"])
def test_fixture_tarball_to_registry_as_imgpkg(
    name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo: str,
) -> None:
    expected: dict[str, Any] = json.loads((FIXTURES / "expected" / f"{name}.json").read_text())
    lock = tmp_path / "lock.yml"
    code, stdout, stderr = run_cli(
        capsys, "copy", "--tty", "--tar", str(FIXTURES / f"{name}.tar"),
        "--to-repo", f"{registry.host}/{unique_repo}", "--lock-output", str(lock),
    )  # fmt: skip
    assert code == 0, stderr
    repo_ref = f"{registry.host}/{unique_repo}"
    assert lock.read_text() == expected["roundtrip"]["lock_output"].replace("{REPO}", repo_ref)
    tags = _tags(registry, unique_repo)
    wanted = {t["tag"]: t["digest"] for t in expected["roundtrip"]["tags_in_repo"]}
    location_digests = {wanted[t] for t in wanted if t.endswith(".image-locations.imgpkg")}
    for tag, digest in wanted.items():
        if digest not in location_digests:
            assert tags.get(tag) == digest, tag
    assert {t for t in tags if t.endswith(".image-locations.imgpkg")} == {
        t for t in wanted if t.endswith(".image-locations.imgpkg")
    }
    assert "copy | importing" in stdout and "copy | Tagging images" in stdout

    # the pulls real imgpkg checked after the same copy, with its results (umask 022)
    old = os.umask(0o022)
    try:
        for image in expected["images"]:
            if image["kind"] != "image" or image["repository"] == "fixtures/layered":
                continue  # layered: imgpkg's own pull is wrong there (see test_pull_registry)
            out = tmp_path / image["manifest_digest"][7:19]
            ref = f"{repo_ref}@{image['manifest_digest']}"
            code, _, stderr = run_cli(capsys, "pull", "-i", ref, "-o", str(out))
            assert code == 0, stderr
            _check_files(out, image["files_after_imgpkg_pull"])
        root = expected["root"]
        if root["kind"] == "bundle":
            out = tmp_path / "bundle-out"
            code, _, stderr = run_cli(
                capsys, "pull", "-r", "-b", f"{repo_ref}@{root['digest']}", "-o", str(out)
            )
            assert code == 0, stderr
            bundle = next(
                i for i in expected["images"] if i.get("manifest_digest") == root["digest"]
            )
            after = bundle["bundle"]["images_yml_after_pull_from_relocated_repo"]
            assert (out / ".imgpkg" / "images.yml").read_text() == after.replace("{REPO}", repo_ref)
    finally:
        os.umask(old)


def _manifest_json(path: Path) -> list[dict[str, Any]]:
    with tarfile.open(path) as tar:
        handle = tar.extractfile("manifest.json")
        assert handle is not None
        value: list[dict[str, Any]] = json.load(handle)
        return value


def _without_refs(element: dict[str, Any]) -> dict[str, Any]:
    """An element with its source-specific fields removed (Refs, and a root's OrigRef)."""
    out: dict[str, Any] = {}
    for kind, value in element.items():
        if value is None:
            out[kind] = None
            continue
        item = dict(value)
        item.pop("Refs")
        if (item.get("Labels") or {}).get("dev.carvel.imgpkg.copy.root-bundle") is not None:
            item.pop("OrigRef")
        for key in ("Images", "Indexes"):
            if item.get(key):
                item[key] = [_without_refs({"x": child})["x"] for child in item[key]]
        out[kind] = item
    return out


@pytest.mark.parametrize("name", ["image", "bundle", "nested-bundle"])
def test_registry_to_tarball_matches_imgpkg_and_round_trips(
    name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
) -> None:
    src, dst = unique_repo_factory("src"), unique_repo_factory("dst")
    expected = _upload(name, registry, src)
    root = expected["root"]
    flag = "-b" if root["kind"] == "bundle" else "-i"
    out = tmp_path / "out.tar"
    code, _, stderr = run_cli(
        capsys, "copy", flag, f"{registry.host}/{src}:{root['tag']}", "--to-tar", str(out)
    )
    assert code == 0, stderr
    ours = _manifest_json(out)
    theirs = _manifest_json(FIXTURES / f"{name}.tar")
    assert [_without_refs(e) for e in ours] == [_without_refs(e) for e in theirs]
    with tarfile.open(out) as mine, tarfile.open(FIXTURES / f"{name}.tar") as original:
        assert [(m.name, m.size, m.mode, m.mtime) for m in mine.getmembers()][1:] == [
            (m.name, m.size, m.mode, m.mtime) for m in original.getmembers()
        ][1:]
    assert out.stat().st_size % 512 == 0

    lock = tmp_path / "lock.yml"
    code, _, stderr = run_cli(
        capsys, "copy", "--tar", str(out), "--to-repo", f"{registry.host}/{dst}",
        "--lock-output", str(lock),
    )  # fmt: skip
    assert code == 0, stderr
    repo_ref = f"{registry.host}/{dst}"
    assert lock.read_text() == expected["roundtrip"]["lock_output"].replace("{REPO}", repo_ref)


def test_resume_reuses_what_the_tar_holds(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo: str,
) -> None:
    expected = _upload("bundle", registry, unique_repo)
    ref = f"{registry.host}/{unique_repo}:{expected['root']['tag']}"
    full = tmp_path / "full.tar"
    assert run_cli(capsys, "copy", "-b", ref, "--to-tar", str(full))[0] == 0
    partial = tmp_path / "partial.tar"
    data = full.read_bytes()
    partial.write_bytes(data[: len(data) * 2 // 3])
    start = registry.log_size()
    code, stdout, stderr = run_cli(
        capsys, "copy", "--tty", "-b", ref, "--to-tar", str(partial), "--resume"
    )
    assert code == 0, stderr
    assert partial.read_bytes() == data
    assert "reused" in stdout
    fetched = registry.read_log_since(start, 100_000).count("GET /v2/" + unique_repo + "/blobs/")
    layers = len(
        {layer["digest"] for image in expected["images"] for layer in image.get("layers", [])}
    )
    assert fetched < layers + 10


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupt_tarball_is_refused_and_nothing_is_presented_as_done(
    damage: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo: str,
) -> None:
    data = bytearray((FIXTURES / "bundle.tar").read_bytes())
    bad = tmp_path / "bad.tar"
    with tarfile.open(FIXTURES / "bundle.tar") as tar:
        members = tar.getmembers()
    if damage == "truncate":
        data = data[: len(data) // 2]
        first = members[0]  # manifest.json, longer than half the file
        shown = (
            f"truncated tar: entry '{first.name}' at offset {first.offset_data} needs "
            f"{first.size} bytes but the file ends at {len(data)}"
        )
    else:
        member = next(m for m in members if m.name.endswith(".tar.gz"))
        data[member.offset_data + member.size // 2] ^= 0xFF
        got = hashlib.sha256(data[member.offset_data : member.offset_data + member.size])
        expected = "sha256:" + member.name.removeprefix("sha256-").removesuffix(".tar.gz")
        shown = (
            f"entry {member.name}: digest mismatch: expected {expected}, "
            f"got sha256:{got.hexdigest()}"
        )
    bad.write_bytes(bytes(data))
    lock = tmp_path / "lock.yml"
    code, _, stderr = run_cli(
        capsys, "copy", "--tar", str(bad), "--to-repo", f"{registry.host}/{unique_repo}",
        "--lock-output", str(lock),
    )  # fmt: skip
    assert code == 1
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert stderr == f"imgpkg-pure: Error: {bad}: {shown}\n"
    assert not lock.exists()
    with registry.client() as client:
        response = client.get(f"/v2/{unique_repo}/tags/list")
    tags = response.json().get("tags") or [] if response.status_code == 200 else []
    assert "v1" not in tags
