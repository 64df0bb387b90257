"""``pull`` from the real registry: images, bundles, relocation, locations images, -r, refusals.

Content gets into the registry the ways users put it there: our own push, and
skopeo copying OCI layouts (a 3-layer image with whiteouts, a multi-arch index).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.helpers import FIXTURES, copy_fixture, make_tree, run_cli
from tests.registry_fixtures import RegistryServer

EXPECTED_BUNDLE = json.loads((FIXTURES / "expected" / "bundle.json").read_text())
LAYOUT_MAKER = Path(__file__).resolve().parent.parent / "fixtures" / "make_oci_layouts.py"


def _files(root: Path) -> dict[str, tuple[str, str | None]]:
    """relative path → (octal mode, sha256 of content or None for directories)."""
    out: dict[str, tuple[str, str | None]] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs:
            path = Path(dirpath) / name
            out[str(path.relative_to(root))] = (oct(path.stat().st_mode & 0o777), None)
        for name in files:
            path = Path(dirpath) / name
            digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
            out[str(path.relative_to(root))] = (oct(path.stat().st_mode & 0o777), digest)
    return out


def _push(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, stdout, stderr = run_cli(capsys, "push", *args)
    assert code == 0, stderr
    return stdout.strip().split("@")[1].rstrip("'")


def _skopeo(*args: str) -> None:
    done = subprocess.run(["skopeo", *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


@pytest.fixture(autouse=True)
def _umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_image_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    app = copy_fixture("app", tmp_path)
    ref = f"{registry.host}/{unique_repo}:v1"
    digest = _push(capsys, "-i", ref, "-f", str(app))
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(capsys, "pull", "--tty", "-i", ref, "-o", str(out))
    assert code == 0, stderr
    assert stdout.startswith(f"Pulling image '{registry.host}/{unique_repo}@{digest}'\n")
    assert stdout.endswith("\nSucceeded\n")
    expected = next(i for i in EXPECTED_BUNDLE["images"] if i["repository"] == "fixtures/app")
    got = _files(out)
    for entry in expected["files_after_imgpkg_pull"]:
        mode, content = got[entry["path"]]
        assert int(mode, 8) == int(entry["mode"], 8), entry["path"]
        if entry["type"] == "file":
            assert content == entry["sha256"], entry["path"]


def test_multi_layer_image_with_whiteouts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    subprocess.run([sys.executable, str(LAYOUT_MAKER), str(tmp_path / "layouts")], check=True,
                   capture_output=True)  # fmt: skip
    ref = f"{registry.host}/{unique_repo}:v1"
    _skopeo("copy", "--preserve-digests", "--dest-tls-verify=false",
            f"oci:{tmp_path}/layouts/layered:v1", f"docker://{ref}")  # fmt: skip
    out = tmp_path / "out"
    code, _, stderr = run_cli(capsys, "pull", "-i", ref, "-o", str(out))
    assert code == 0, stderr
    expected = next(i for i in EXPECTED_BUNDLE["images"] if i["repository"] == "fixtures/layered")
    got = _files(out)
    wanted = {e["path"]: e for e in expected["files_oci_flattened"]}
    assert set(got) == set(wanted)
    for path, entry in wanted.items():
        if entry["type"] == "file":
            assert got[path][1] == entry["sha256"], path
    assert not (out / "remove-me.txt").exists()


def test_image_pull_of_an_index_takes_the_platform_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    """imgpkg refuses an index (``Unable to pull non-images``); here ``--platform`` (default:
    this machine's) picks the child, and an index without it is refused, nothing written."""
    subprocess.run([sys.executable, str(LAYOUT_MAKER), str(tmp_path / "layouts")], check=True,
                   capture_output=True)  # fmt: skip
    ref = f"{registry.host}/{unique_repo}:v1"
    _skopeo("copy", "--all", "--preserve-digests", "--dest-tls-verify=false",
            f"oci:{tmp_path}/layouts/multiarch:v1", f"docker://{ref}")  # fmt: skip
    code, _, stderr = run_cli(
        capsys, "pull", "-i", ref, "--platform", "linux/arm64", "-o", str(tmp_path / "out")
    )
    assert code == 0, stderr
    assert (tmp_path / "out" / "etc" / "arch").read_text() == "arm64\n"
    code, _, stderr = run_cli(
        capsys, "pull", "-i", ref, "--platform", "linux/ppc64le", "-o", str(tmp_path / "none")
    )
    assert code == 1
    assert "has no image for platform linux/ppc64le (it has: linux/amd64, linux/arm64" in stderr
    assert not (tmp_path / "none").exists()


def test_wrong_flag_for_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    app = copy_fixture("app", tmp_path)
    bundle = copy_fixture("bundle", tmp_path)
    image_ref = f"{registry.host}/{unique_repo}:image"
    bundle_ref = f"{registry.host}/{unique_repo}:bundle"
    _push(capsys, "-i", image_ref, "-f", str(app))
    _push(capsys, "-b", bundle_ref, "-f", str(bundle))
    code, _, stderr = run_cli(capsys, "pull", "-b", image_ref, "-o", str(tmp_path / "o1"))
    assert code == 1 and "Expected bundle image but found plain image" in stderr
    code, _, stderr = run_cli(capsys, "pull", "-i", bundle_ref, "-o", str(tmp_path / "o2"))
    assert code == 1 and "Expected bundle flag when pulling a bundle" in stderr
    code, _, stderr = run_cli(
        capsys, "pull", "-i", bundle_ref, "-o", str(tmp_path / "o3"),
        "--image-is-bundle-check=false",
    )  # fmt: skip
    assert code == 0, stderr
    assert (tmp_path / "o3" / ".imgpkg" / "images.yml").exists()


def _lock_yaml(*images: str) -> bytes:
    lines = ["---", "apiVersion: imgpkg.carvel.dev/v1alpha1", "images:"]
    lines += [f"- image: {image}" for image in images]
    lines.append("kind: ImagesLock")
    return ("\n".join(lines) + "\n").encode()


def test_bundle_relocation_rewrites_images_yml(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: object,
) -> None:
    make = unique_repo_factory
    assert callable(make)
    src_repo, dst_repo = make("src"), make("dst")
    app = copy_fixture("app", tmp_path)
    app_digest = _push(capsys, "-i", f"{registry.host}/{src_repo}-app:v1", "-f", str(app))
    original = f"{registry.host}/{src_repo}-app@{app_digest}"
    tree = make_tree(
        tmp_path / "b", {".imgpkg/images.yml": _lock_yaml(original), "c.yml": b"a: 1\n"}
    )
    bundle_digest = _push(capsys, "-b", f"{registry.host}/{dst_repo}:v1", "-f", str(tree))

    out = tmp_path / "out"
    code, stdout, stderr = run_cli(
        capsys, "pull", "--tty", "-b", f"{registry.host}/{dst_repo}:v1", "-o", str(out)
    )
    assert code == 0, stderr
    assert "One or more images not found in bundle repo; skipping lock file update" in stdout
    assert (out / ".imgpkg" / "images.yml").read_bytes() == _lock_yaml(original)

    # relocate the image next to the bundle, as copy does
    _skopeo("copy", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false",
            f"docker://{original}", f"docker://{registry.host}/{dst_repo}:app")  # fmt: skip
    code, stdout, stderr = run_cli(
        capsys, "pull", "--tty", "-b", f"{registry.host}/{dst_repo}@{bundle_digest}", "-o", str(out)
    )
    assert code == 0, stderr
    assert stdout == (
        f"Pulling bundle '{registry.host}/{dst_repo}@{bundle_digest}'\n"
        f"  Extracting layer '{stdout.split(chr(39))[3]}' (1/1)\n"
        "\nLocating image lock file images...\n"
        f"The bundle repo ({registry.host}/{dst_repo}) is hosting every image specified in "
        "the bundle's Images Lock file (.imgpkg/images.yml)\n"
        "\nSucceeded\n"
    )
    assert (out / ".imgpkg" / "images.yml").read_bytes() == _lock_yaml(
        f"{registry.host}/{dst_repo}@{app_digest}"
    )


def test_pull_with_bundle_lock_and_locations_image(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo: str,
) -> None:
    """A locations image is trusted without checking each image (imgpkg's rule, §4.3)."""
    missing = f"{registry.host}/elsewhere/app@sha256:" + "1" * 64
    tree = make_tree(tmp_path / "b", {".imgpkg/images.yml": _lock_yaml(missing)})
    lock = tmp_path / "bundle.lock.yml"
    digest = _push(capsys, "-b", f"{registry.host}/{unique_repo}:v1", "-f", str(tree),
                   "--lock-output", str(lock))  # fmt: skip
    locations = make_tree(
        tmp_path / "loc",
        {
            "image-locations.yml": (
                "---\napiVersion: imgpkg.carvel.dev/v1alpha1\nimages:\n"
                f"- image: {missing}\n  isBundle: false\nkind: ImageLocations\n"
            ).encode()
        },
    )
    _push(capsys, "-i", f"{registry.host}/{unique_repo}:sha256-{digest[7:]}.image-locations.imgpkg",
          "-f", str(locations))  # fmt: skip
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(capsys, "pull", "--tty", "--lock", str(lock), "-o", str(out))
    assert code == 0, stderr
    assert "is hosting every image" in stdout
    assert (out / ".imgpkg" / "images.yml").read_bytes() == _lock_yaml(
        f"{registry.host}/{unique_repo}@sha256:" + "1" * 64
    )


def test_recursive_pull_of_nested_bundles(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: object,
) -> None:
    make = unique_repo_factory
    assert callable(make)
    app = copy_fixture("app", tmp_path)
    app_repo = make("app")
    app_digest = _push(capsys, "-i", f"{registry.host}/{app_repo}:v1", "-f", str(app))
    inner_repo, outer_repo = make("inner"), make("outer")
    inner = make_tree(tmp_path / "inner", {
        ".imgpkg/images.yml": _lock_yaml(f"{registry.host}/{app_repo}@{app_digest}"),
        "inner.yml": b"inner: true\n",
    })  # fmt: skip
    inner_digest = _push(capsys, "-b", f"{registry.host}/{inner_repo}:v1", "-f", str(inner))
    outer = make_tree(tmp_path / "outer", {
        ".imgpkg/images.yml": _lock_yaml(
            f"{registry.host}/{inner_repo}@{inner_digest}",
            f"{registry.host}/{app_repo}@{app_digest}",
        ),
        "outer.yml": b"outer: true\n",
    })  # fmt: skip
    _push(capsys, "-b", f"{registry.host}/{outer_repo}:v1", "-f", str(outer))
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(
        capsys, "pull", "--tty", "-r", "-b", f"{registry.host}/{outer_repo}:v1", "-o", str(out)
    )
    assert code == 0, stderr
    nested = out / ".imgpkg" / "bundles" / f"sha256-{inner_digest[7:]}"
    assert (nested / "inner.yml").read_text() == "inner: true\n"
    assert (out / "outer.yml").read_text() == "outer: true\n"
    assert "\nNested bundles\n  Pulling nested bundle '" in stdout
    code, _, stderr = run_cli(
        capsys, "pull", "-b", f"{registry.host}/{outer_repo}:v1", "-o", str(tmp_path / "flat")
    )
    assert code == 0, stderr
    assert not (tmp_path / "flat" / ".imgpkg" / "bundles").exists()


def test_pull_refuses_dangerous_outputs(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    registry: RegistryServer,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("mine")
    for output in ("./", str(tmp_path), "/", ".."):
        code, _, stderr = run_cli(capsys, "pull", "-i", f"{registry.host}/x/y:v1", "-o", output)
        assert code == 1, output
        assert stderr.count("\n") == 1
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_pull_missing_tag_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    code, _, stderr = run_cli(
        capsys, "pull", "-i", f"{registry.host}/{unique_repo}:nope", "-o", str(tmp_path / "o")
    )
    assert code == 1
    assert stderr == (
        f"imgpkg-pure: Error: Fetching image: GET {registry.url}/v2/{unique_repo}/manifests/nope:"
        " MANIFEST_UNKNOWN: manifest unknown\n"
    )


def _hostile_layout(root: Path) -> None:
    """An OCI layout whose single layer tries a tar-slip (``../escaped.txt``)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in ("ok.txt", "../escaped.txt"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"x\n"))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()

    def blob(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (root / "blobs" / "sha256" / digest).write_bytes(data)
        return "sha256:" + digest

    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": blob(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": blob(layer), "size": len(layer)}],
    }).encode()  # fmt: skip
    index = {
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": blob(manifest), "size": len(manifest),
            "annotations": {"org.opencontainers.image.ref.name": "v1"},
        }],
    }  # fmt: skip
    (root / "index.json").write_text(json.dumps(index))
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')


def test_hostile_layer_from_the_registry_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    _hostile_layout(tmp_path / "layout")
    ref = f"{registry.host}/{unique_repo}:v1"
    _skopeo("copy", "--dest-tls-verify=false", f"oci:{tmp_path}/layout:v1", f"docker://{ref}")
    out = tmp_path / "work" / "out"
    out.mkdir(parents=True)
    (out / "previous.txt").write_text("kept")
    code, _, stderr = run_cli(capsys, "pull", "-i", ref, "-o", str(out))
    assert code == 1
    assert "../escaped.txt" in stderr and stderr.count("\n") == 1
    assert not (tmp_path / "work" / "escaped.txt").exists()
    assert (out / "previous.txt").read_text() == "kept"
