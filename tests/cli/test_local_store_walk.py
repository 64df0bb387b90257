"""A warm store answers copy's bundle walk (issue 12 point 1, issue 10 goal 2).

A bundle whose images live in repositories of their own: imgpkg's walk looks for each
image next to the bundle first, one ``HEAD`` per image.  Once the local store saw every
image where the lock says and holds all of it, a copy asks the source nothing about the
images (the bundle's tag and its locations tag only), and writes what a copy without the
store writes; with a layer gone from the store, the walk asks as imgpkg does and the copy
fetches that one blob.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cli.helpers import run_cli, write_images_lock
from tests.cli.test_copy_registry import _tags
from tests.cli.test_local_store import _requests, _store
from tests.registry_fixtures import RegistryServer, RepoNameFactory, running_registry


def _push_image(capsys: pytest.CaptureFixture[str], tree: Path, ref: str) -> str:
    tree.mkdir()
    (tree / "data.bin").write_bytes(os.urandom(40_000))
    code, stdout, stderr = run_cli(capsys, "push", "--no-cache", "-i", ref, "-f", str(tree))
    assert code == 0, stderr
    return stdout.strip().removeprefix("Pushed '").removesuffix("'")


def _copy(capsys: pytest.CaptureFixture[str], bundle: str, *args: str) -> tuple[str, list[str]]:
    code, stdout, stderr = run_cli(capsys, "copy", "-b", bundle, *args)
    assert code == 0, stderr
    return stdout, [line for line in stdout.splitlines() if "will export" in line]


def test_a_warm_copy_asks_the_source_nothing_about_the_images(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: RepoNameFactory,
) -> None:
    make = unique_repo_factory
    image_repos = [make(f"i{n}") for n in range(3)]
    images = [
        _push_image(capsys, tmp_path / f"img{n}", f"{registry.host}/{repo}:v1")
        for n, repo in enumerate(image_repos)
    ]
    bundle_repo = make("bundle")
    bundle = f"{registry.host}/{bundle_repo}:v1"
    files = write_images_lock(tmp_path / "bundle", images)
    assert run_cli(capsys, "push", "--no-cache", "-b", bundle, "-f", str(files))[0] == 0
    with running_registry(tmp_path / "destination") as destination:
        _warm_copies(
            tmp_path,
            capsys,
            source=registry,
            destination=destination,
            bundle=bundle,
            images=dict(zip(image_repos, images, strict=True)),
        )


def _warm_copies(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    *,
    source: RegistryServer,
    destination: RegistryServer,
    bundle: str,
    images: dict[str, str],
) -> None:
    """``images``: each image's repository, and its reference by digest."""
    bundle_repo = bundle.split("/", 1)[1].rsplit(":", 1)[0]

    def copy(n: int, *args: str) -> list[str]:
        target = f"{destination.host}/copy{n}"
        lock = str(tmp_path / f"lock{n}.yml")
        _, exported = _copy(capsys, bundle, "--to-repo", target, "--lock-output", lock, *args)
        return exported

    def lock(n: int) -> str:
        return (tmp_path / f"lock{n}.yml").read_text().replace(f"/copy{n}@", "/DST@")

    plain = copy(0, "--no-cache")
    copy(1)  # the store, warmed
    since = source.log_size()
    assert copy(2) == plain
    asked = _requests(source, since)
    assert not [p for _, p in asked if any(f"/v2/{repo}/" in p for repo in images)]
    at_bundle = [(m, p) for m, p in asked if p.startswith(f"/v2/{bundle_repo}/")]
    assert len(at_bundle) == 2, at_bundle  # its tag (a HEAD) and its locations tag
    assert ("HEAD", f"/v2/{bundle_repo}/manifests/v1") in at_bundle
    assert lock(2) == lock(0)
    assert _tags(destination, "copy2") == _tags(destination, "copy0")

    # one layer gone from the store: that image is looked for as imgpkg does, and only
    # that blob is fetched
    blobs = _store() / "blobs" / "sha256"
    repo, image = list(images.items())[1]
    gone = _layer_of(source, repo, image.rsplit("@", 1)[1])
    (blobs / gone).unlink()
    since = source.log_size()
    assert copy(3) == plain
    asked = _requests(source, since)
    assert [p for m, p in asked if m == "GET" and "/blobs/" in p] == [
        f"/v2/{repo}/blobs/sha256:{gone}"
    ]
    assert lock(3) == lock(0)
    assert _tags(destination, "copy3") == _tags(destination, "copy0")


def _layer_of(registry: RegistryServer, repo: str, digest: str) -> str:
    """The hex of the single layer of the manifest ``repo@digest``."""
    accept = ",".join([
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ])  # fmt: skip
    with registry.client() as http:
        got = http.get(f"/v2/{repo}/manifests/{digest}", headers={"Accept": accept})
        got.raise_for_status()
        layers = got.json()["layers"]
    assert len(layers) == 1
    return str(layers[0]["digest"]).removeprefix("sha256:")
