"""End to end: ``imgpkg-pure push`` into OCI image layouts, read back by us and by skopeo."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.cli.helpers import (
    FIXTURES,
    Layout,
    copy_fixture,
    make_tree,
    run_cli,
    stream_bytes,
    stream_text,
)
from tests.registry_fixtures import RegistryServer

EXPECTED = json.loads((FIXTURES / "expected" / "nested-bundle.json").read_text())


def _expected_image(repository: str) -> dict[str, object]:
    for image in EXPECTED["images"]:
        if image["repository"] == repository:
            return dict(image)
    raise AssertionError(repository)


def _big_tree(root: Path) -> Path:
    """A tree whose layer spans several gzip blocks (text and incompressible bytes)."""
    tree = make_tree(
        root,
        {
            "conf/a.yml": stream_text("a", 3_000_000),
            "bin/tool": stream_bytes("b", 1_500_000),
            "README": b"hello\n",
        },
    )
    for dirpath, _dirs, files in os.walk(tree):
        os.chmod(dirpath, 0o755)
        for name in files:
            os.chmod(Path(dirpath) / name, 0o644)
    return tree


# Golden digests, pinned: the layer recipe + isal 1.9.1 level 1 in 1 MiB blocks.
# A change here changes every digest users have; it must be deliberate.
GOLDEN = {
    ("app", "oci"): "sha256:81679baa7dbf6ea94e53ba7148fdaeb8a1a7c8fb3e45b57846ebd967dd3d8c06",
    ("app", "docker"): "sha256:684a557cb406f3b9cb120d7c7a3b4744124184e3f377f8f5ac27104f88391551",
    ("big", "oci"): "sha256:188142d4d81a1c5ef0da1d97884a88ff3c5e73ff0eae6ec66f0a5932e2c7a085",
    ("big", "docker"): "sha256:59fdeeb25392d7cef40adf44adf93de8360e039f1104ef4ef1fe9b44ceca9cd9",
}
BIG_LAYER = "sha256:2899f682220ba65a1e7aef92fdf8beeb6a1a7ec760d851d83ffc19f7f5930d06"


@pytest.mark.parametrize(("tree", "media_types"), sorted(GOLDEN))
def test_golden_manifest_digests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tree: str, media_types: str
) -> None:
    source = copy_fixture("app", tmp_path) if tree == "app" else _big_tree(tmp_path / "big")
    out = tmp_path / "out"
    code, stdout, _ = run_cli(
        capsys, "push", "-i", f"oci:{out}:v1", "-f", str(source), "--media-types", media_types
    )
    assert code == 0
    assert stdout == f"Pushed 'oci:{out}@{GOLDEN[(tree, media_types)]}'\n"
    if tree == "big":
        layers = Layout(out).manifest("v1")["layers"]
        assert isinstance(layers, list)
        assert layers[0]["digest"] == BIG_LAYER


def test_push_is_reproducible_across_mtimes_umask_and_location(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _big_tree(tmp_path / "one" / "big")
    second = _big_tree(tmp_path / "two" / "elsewhere")
    os.utime(second / "README", (1, 1))
    os.chmod(second / "conf" / "a.yml", 0o600)  # group/other bits are not kept by default
    old = os.umask(0o077)
    try:
        _, out1, _ = run_cli(capsys, "push", "-i", f"oci:{tmp_path}/l1:x", "-f", str(first))
        _, out2, _ = run_cli(capsys, "push", "-i", f"oci:{tmp_path}/l2:x", "-f", str(second))
    finally:
        os.umask(old)
    assert out1.rsplit("@", 1)[1] == out2.rsplit("@", 1)[1]


def test_bundle_matches_imgpkg_config_and_diff_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The config (labels, diffID) is byte-identical to imgpkg's; only the gzip bytes differ."""
    bundle = copy_fixture("bundle", tmp_path)
    out = tmp_path / "layout"
    code, _, _ = run_cli(
        capsys, "push", "-b", f"oci:{out}:v1", "-f", str(bundle), "--media-types", "docker"
    )
    assert code == 0
    layout = Layout(out)
    manifest = layout.manifest("v1")
    expected = _expected_image("fixtures/bundle")
    config = manifest["config"]
    assert isinstance(config, dict)
    assert config["digest"] == expected["config_digest"]
    assert json.loads(layout.blob(config["digest"]))["config"]["Labels"] == {
        "dev.carvel.imgpkg.bundle": "true"
    }
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"


def test_layer_holds_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = copy_fixture("app", tmp_path)
    out = tmp_path / "layout"
    assert run_cli(capsys, "push", "-i", f"oci:{out}", "-f", str(app))[0] == 0
    members = Layout(out).layer_members("latest")
    assert members["."] == (0o700, None)
    assert members["run.sh"] == (0o700, (app / "run.sh").read_bytes())
    assert members["config/app.yml"][1] == (app / "config" / "app.yml").read_bytes()
    assert sorted(members) == [
        ".", "README.md", "VERSION", "config", "config/app.yml",
        "config/profiles", "config/profiles/dev.yml", "run.sh",
    ]  # fmt: skip


def test_tty_output_matches_imgpkg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = make_tree(tmp_path / "in", {".imgpkg/images.yml": _EMPTY_LOCK, "config.yml": b"a: 1\n"})
    code, stdout, stderr = run_cli(
        capsys, "push", "--tty", "-b", f"oci:{tmp_path}/l:v1", "-f", str(tree)
    )
    assert code == 0, stderr
    digest = stdout.split("@")[1].split("'")[0]
    assert stdout == (
        "dir: .\ndir: .imgpkg\nfile: .imgpkg/images.yml\nfile: config.yml\n"
        f"\nPushed 'oci:{tmp_path}/l@{digest}'\n\nSucceeded\n"
    )


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = make_tree(tmp_path / "in", {"a.txt": b"a"})
    code, stdout, _ = run_cli(capsys, "push", "--json", "-i", f"oci:{tmp_path}/l", "-f", str(tree))
    assert code == 0
    document = json.loads(stdout)
    assert document["Lines"][:2] == ["dir: .\n", "file: a.txt\n"]
    assert document["Lines"][-1] == "Succeeded"
    assert document["Lines"][-2].startswith(f"Pushed 'oci:{tmp_path}/l@sha256:")


def test_json_output_on_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, stderr = run_cli(
        capsys, "push", "--json", "-b", f"oci:{tmp_path}/l", "-f", str(tmp_path / "nope")
    )
    assert code == 1
    document = json.loads(stdout)
    assert document["Error"]["Message"] == f"lstat {tmp_path}/nope: no such file or directory"
    assert stderr.startswith("imgpkg-pure: Error: lstat")


def test_pushing_twice_to_one_layout_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_fixture("app", tmp_path)
    out = tmp_path / "layout"
    first = run_cli(capsys, "push", "-i", f"oci:{out}:v1", "-f", str(app))
    files = sorted((p.relative_to(out), p.read_bytes()) for p in out.rglob("*") if p.is_file())
    second = run_cli(capsys, "push", "-i", f"oci:{out}:v1", "-f", str(app))
    assert first == second
    again = sorted((p.relative_to(out), p.read_bytes()) for p in out.rglob("*") if p.is_file())
    assert again == files


def test_two_roots_in_one_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = copy_fixture("app", tmp_path)
    tool = copy_fixture("tool", tmp_path)
    out = tmp_path / "layout"
    assert run_cli(capsys, "push", "-i", f"oci:{out}:app", "-f", str(app))[0] == 0
    assert run_cli(capsys, "push", "-i", f"oci:{out}:tool", "-f", str(tool))[0] == 0
    layout = Layout(out)
    assert layout.root_digest("app") != layout.root_digest("tool")
    manifests = layout.index()["manifests"]
    assert isinstance(manifests, list) and len(manifests) == 2


_EMPTY_LOCK = b"---\napiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImagesLock\n"


def _skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["skopeo", *args], capture_output=True, text=True, check=False)


def test_skopeo_reads_and_copies_our_layout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer
) -> None:
    bundle = copy_fixture("bundle", tmp_path)
    out = tmp_path / "layout"
    code, stdout, _ = run_cli(capsys, "push", "-b", f"oci:{out}:v1", "-f", str(bundle))
    assert code == 0
    digest = stdout.strip().split("@")[1].rstrip("'")

    inspected = _skopeo("inspect", f"oci:{out}:v1")
    assert inspected.returncode == 0, inspected.stderr
    info = json.loads(inspected.stdout)
    assert info["Digest"] == digest
    assert info["Labels"] == {"dev.carvel.imgpkg.bundle": "true"}

    raw = _skopeo("inspect", "--raw", f"oci:{out}:v1")
    assert raw.stdout.encode() == Layout(out).blob(digest)

    copied = _skopeo("copy", f"oci:{out}:v1", f"dir:{tmp_path}/dir")
    assert copied.returncode == 0, copied.stderr

    pushed = _skopeo(
        "copy", "--preserve-digests", "--dest-tls-verify=false",
        f"oci:{out}:v1", f"docker://{registry.host}/skopeo/from-layout:v1",
    )  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    remote = _skopeo(
        "inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/skopeo/from-layout:v1"
    )
    assert remote.stdout.encode() == Layout(out).blob(digest)
