"""``--platform`` on ``copy`` and ``pull``, against the real registry.

The source holds a 3-platform index (linux/amd64, linux/arm64, linux/arm/v7) whose
children each hold ``platform.txt`` naming their platform, so a pull shows which
child it extracted.  The lock rule (``docs/formats/referrers-and-platforms.md``): an
index copied whole keeps its digest; one narrowed to one child is replaced by that
child everywhere copy writes a digest, one narrowed to several by a new index of
them; a bundle's locations image records the replacement, so ``pull -b`` of the
copied bundle writes the digests that are there.
"""

from __future__ import annotations

import platform as host
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.helpers import run_cli
from tests.cli.supply_chain import (
    SBOM,
    attach,
    fallback_index,
    manifest,
    multi_platform,
    push_bundle,
    push_image,
)
from tests.registry_fixtures import RegistryServer


def _lock_images(path: Path) -> list[str]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return [str(entry["image"]) for entry in document["images"]]


def test_copy_one_platform_carries_one_child_and_the_result_pulls(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
) -> None:
    src, dst, two = (unique_repo_factory(n) for n in ("src", "dst", "two"))
    host_ref = registry.host
    with registry.client() as http:
        index, children = multi_platform(http, src, "v1")
        lock = tmp_path / "lock.yml"
        code, _, stderr = run_cli(
            capsys, "copy", "-i", f"{host_ref}/{src}:v1", "--platform", "linux/amd64",
            "--to-repo", f"{host_ref}/{dst}", "--lock-output", str(lock),
        )  # fmt: skip
        assert code == 0, stderr
        # the child, not the index: the lock, the user's tag and the copy's own tag say so
        assert _lock_images(lock) == [f"{host_ref}/{dst}@{children[0].digest}"]
        assert manifest(http, dst, "v1").headers["Docker-Content-Digest"] == children[0].digest
        assert manifest(http, dst, f"sha256-{children[0].hex}.imgpkg").status_code == 200
        for absent in (index, children[1], children[2]):
            assert manifest(http, dst, absent.digest).status_code == 404
        code, _, stderr = run_cli(
            capsys, "pull", "-i", f"{host_ref}/{dst}:v1", "-o", str(tmp_path / "one")
        )
        assert code == 0, stderr
        assert (tmp_path / "one" / "platform.txt").read_text() == "linux/amd64"

        # two of three: a new index of those two, in the original order
        code, _, stderr = run_cli(
            capsys, "copy", "-i", f"{host_ref}/{src}:v1", "--platform", "linux/arm/v7",
            "--platform", "linux/arm64", "--to-repo", f"{host_ref}/{two}",
            "--lock-output", str(lock),
        )  # fmt: skip
        assert code == 0, stderr
        (narrowed,) = _lock_images(lock)
        new = manifest(http, two, narrowed.rpartition("@")[2]).json()
        assert [m["digest"] for m in new["manifests"]] == [c.digest for c in children[1:]]
        assert narrowed.rpartition("@")[2] != index.digest
        code, _, stderr = run_cli(
            capsys, "pull", "-i", narrowed, "--platform", "linux/arm/v7", "-o", str(tmp_path / "v7")
        )
        assert code == 0, stderr
        assert (tmp_path / "v7" / "platform.txt").read_text() == "linux/arm/v7"

        # nothing matches: an error naming the index and what it has
        code, _, stderr = run_cli(
            capsys, "copy", "-i", f"{host_ref}/{src}:v1", "--platform", "windows/amd64",
            "--to-repo", f"{host_ref}/{dst}-none",
        )  # fmt: skip
        assert code == 1
        assert f"index {host_ref}/{src}@{index.digest} has no child for platform windows/amd64" in (
            stderr
        )
        assert "linux/amd64, linux/arm/v7, linux/arm64" in stderr
        code, _, stderr = run_cli(
            capsys, "copy", "-i", f"{host_ref}/{src}:v1", "--platform", "linux",
            "--to-repo", f"{host_ref}/{dst}-none",
        )  # fmt: skip
        assert code == 1 and "--platform 'linux': expected os/arch[/variant]" in stderr


def test_pull_of_an_index_picks_a_platform(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo: str,
) -> None:
    """``pull -i`` of an index extracts the running machine's child (Go's names), or the
    ``--platform`` one, instead of refusing as imgpkg does."""
    with registry.client() as http:
        multi_platform(http, unique_repo, "v1")
    ref = f"{registry.host}/{unique_repo}:v1"
    machine = {"x86_64": "linux/amd64", "aarch64": "linux/arm64"}.get(host.machine())
    code, _, stderr = run_cli(capsys, "pull", "-i", ref, "-o", str(tmp_path / "here"))
    if machine is None or host.system() != "Linux":  # no child for this machine
        assert code == 1 and "has no image for platform" in stderr
    else:
        assert code == 0, stderr
        assert (tmp_path / "here" / "platform.txt").read_text() == machine
    code, _, stderr = run_cli(
        capsys, "pull", "-i", ref, "--platform", "linux/s390x", "--platform", "linux/arm64",
        "-o", str(tmp_path / "arm64"), "--tty",
    )  # fmt: skip
    assert code == 0, stderr
    assert (tmp_path / "arm64" / "platform.txt").read_text() == "linux/arm64"
    code, _, stderr = run_cli(
        capsys, "pull", "-i", ref, "--platform", "linux/s390x", "-o", str(tmp_path / "none")
    )
    assert code == 1
    assert "has no image for platform linux/s390x" in stderr
    assert "(it has: linux/amd64, linux/arm/v7, linux/arm64)" in stderr


def test_bundle_copied_for_one_platform_pulls_with_the_child_in_its_lock(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
) -> None:
    """The lock rule through a bundle: repo → repo with ``--platform``, then repo → tar →
    repo without it; every pull of the copied bundle lists the child that is there."""
    images, bundles, dst, again = (unique_repo_factory(n) for n in ("i", "b", "d", "a"))
    reg = registry.host
    with registry.client() as http:
        index, children = multi_platform(http, images, None)
        app = push_image(http, images, None, os="linux", arch="s390x")
        arm_sbom, amd_sbom = (
            attach(http, images, child, SBOM, child.hex.encode(), fallback=True)
            for child in (children[1], children[0])
        )
    push_bundle(
        capsys, tmp_path, f"{reg}/{bundles}:v1",
        [f"{reg}/{images}@{app.digest}", f"{reg}/{images}@{index.digest}"],
    )  # fmt: skip
    lock = tmp_path / "bundle.lock.yml"
    code, _, stderr = run_cli(
        capsys, "copy", "-b", f"{reg}/{bundles}:v1", "--platform", "linux/arm64",
        "--to-repo", f"{reg}/{dst}", "--lock-output", str(lock), "--referrers",
    )  # fmt: skip
    assert code == 0, stderr
    with registry.client() as http:  # the referrers of what was copied, and only those
        listed = fallback_index(http, dst, children[1].digest)
        assert listed is not None
        assert [entry["digest"] for entry in listed["manifests"]] == [arm_sbom.digest]
        assert fallback_index(http, dst, children[0].digest) is None
        assert manifest(http, dst, amd_sbom.digest).status_code == 404
    for where, out in ((dst, "first"),):
        code, _, stderr = run_cli(
            capsys, "pull", "-b", f"{reg}/{where}:v1", "-o", str(tmp_path / out)
        )
        assert code == 0, stderr
        assert _lock_images(tmp_path / out / ".imgpkg" / "images.yml") == [
            f"{reg}/{where}@{app.digest}",
            f"{reg}/{where}@{children[1].digest}",
        ]
    tarball = tmp_path / "bundle.tar"
    code, _, stderr = run_cli(
        capsys, "copy", "-b", f"{reg}/{dst}:v1", "--to-tar", str(tarball)
    )  # the selection travels with the bundle: no --platform needed again
    assert code == 0, stderr
    code, _, stderr = run_cli(capsys, "copy", "--tar", str(tarball), "--to-repo", f"{reg}/{again}")
    assert code == 0, stderr
    code, _, stderr = run_cli(capsys, "pull", "-b", f"{reg}/{again}:v1", "-o", str(tmp_path / "o"))
    assert code == 0, stderr
    pulled = _lock_images(tmp_path / "o" / ".imgpkg" / "images.yml")
    assert pulled == [f"{reg}/{again}@{app.digest}", f"{reg}/{again}@{children[1].digest}"]
    code, _, stderr = run_cli(capsys, "pull", "-i", pulled[1], "-o", str(tmp_path / "image"))
    assert code == 0, stderr
    assert (tmp_path / "image" / "platform.txt").read_text() == "linux/arm64"
    code, stdout, stderr = run_cli(capsys, "describe", "-b", f"{reg}/{again}:v1", "-o", "yaml")
    assert code == 0, stderr
    assert f"image: {reg}/{again}@{children[1].digest}" in stdout
