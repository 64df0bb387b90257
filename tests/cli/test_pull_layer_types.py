"""``pull`` (and ``describe``) of layers of every media type, from the real registry.

Images are put into the loopback registry as real blobs and manifests (the
distribution API over httpx: real bytes, real digests), with layers
compressed with gzip, zstd or nothing under each layer media type imgpkg
reads, and pulled through the CLI; the extracted files are compared with what
went in.  As go-containerregistry does, the first bytes decide the compression
and the media type does not: a "gzip" layer holding zstd bytes pulls.  A
corrupt zstd stream is one error line naming the layer digest.  skopeo, which
writes ``+zstd`` layers for users, is the interop case.
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
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final

import pytest
from attrs import frozen

from imgpkg_pure.media_types import (
    DOCKER_CONFIG,
    DOCKER_LAYER_FOREIGN,
    DOCKER_LAYER_GZIP,
    DOCKER_LAYER_TAR,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_NONDIST,
    OCI_LAYER_NONDIST_GZIP,
    OCI_LAYER_NONDIST_ZSTD,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
)
from tests.cli.helpers import run_cli
from tests.registry_fixtures import RegistryServer, RepoNameFactory

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd


FILES: Final = {
    "config/app.yml": b"replicas: 3\nimage: example\n" * 40,
    "bin/tool": bytes(range(256)) * 64,
    "README.md": b"# layer types\n",
}


# --- building images in the registry --------------------------------------------------------


def tar_of(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def compress(kind: str, data: bytes) -> bytes:
    if kind == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if kind == "zstd":
        return bytes(zstd.compress(data, level=3))
    assert kind == "none"
    return data


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@frozen(kw_only=True)
class Layer:
    """One layer: its media type, its blob (as stored) and the tar inside (for the diffID)."""

    media_type: str
    blob: bytes
    tar: bytes

    @property
    def digest(self) -> str:
        return sha256(self.blob)


def layer(media_type: str, kind: str, files: Mapping[str, bytes]) -> Layer:
    tar = tar_of(files)
    return Layer(media_type=media_type, blob=compress(kind, tar), tar=tar)


def upload_blob(registry: RegistryServer, repo: str, blob: bytes) -> str:
    """A monolithic upload (distribution spec: POST, then PUT with the digest)."""
    digest = sha256(blob)
    with registry.client() as client:
        started = client.post(f"/v2/{repo}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = started.headers["Location"]  # keeps the registry's upload state
        separator = "&" if "?" in location else "?"
        done = client.put(
            f"{location}{separator}digest={digest}",
            content=blob,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201, done.text
    return digest


def push_image(
    registry: RegistryServer,
    repo: str,
    layers: Sequence[Layer],
    *,
    labels: Mapping[str, str] | None = None,
    docker: bool = False,
    tag: str = "v1",
) -> str:
    """Push ``layers`` as an image; its digest reference."""
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": dict(labels)} if labels else {},
            "rootfs": {"type": "layers", "diff_ids": [sha256(item.tar) for item in layers]},
        },
        sort_keys=True,
    ).encode()
    for item in layers:
        upload_blob(registry, repo, item.blob)
    manifest_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {
                "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                "digest": upload_blob(registry, repo, config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": item.media_type, "digest": item.digest, "size": len(item.blob)}
                for item in layers
            ],
        },
        sort_keys=True,
    ).encode()
    with registry.client() as client:
        put = client.put(
            f"/v2/{repo}/manifests/{tag}",
            content=manifest,
            headers={"Content-Type": manifest_type},
        )
        assert put.status_code == 201, put.text
    return f"{registry.host}/{repo}@{sha256(manifest)}"


def files_in(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def pull_files(capsys: pytest.CaptureFixture[str], ref: str, out: Path) -> dict[str, bytes]:
    code, _, stderr = run_cli(capsys, "pull", "-i", ref, "-o", str(out))
    assert code == 0, stderr
    return files_in(out)


@pytest.fixture(autouse=True)
def _umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


# --- every media type ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        (OCI_LAYER_GZIP, "gzip"),
        (DOCKER_LAYER_GZIP, "gzip"),
        (OCI_LAYER_NONDIST_GZIP, "gzip"),
        (DOCKER_LAYER_FOREIGN, "gzip"),
        (OCI_LAYER_ZSTD, "zstd"),
        (OCI_LAYER_NONDIST_ZSTD, "zstd"),
        (OCI_LAYER, "none"),
        (OCI_LAYER_NONDIST, "none"),
        (DOCKER_LAYER_TAR, "none"),
    ],
    ids="-".join,
)
def test_a_layer_of_every_media_type_pulls(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo: str,
    case: tuple[str, str],
) -> None:
    media_type, kind = case
    # distribution refuses a Docker manifest with a foreign layer unless its
    # ``urls`` are allowed by configuration: that one travels in an OCI manifest.
    docker = media_type in {DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR}
    ref = push_image(registry, unique_repo, [layer(media_type, kind, FILES)], docker=docker)
    assert pull_files(capsys, ref, tmp_path / "out") == FILES


def test_layers_of_three_compressions_stack_with_whiteouts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    layers = [
        layer(OCI_LAYER_GZIP, "gzip", {"base.txt": b"base\n", "gone.txt": b"x\n"}),
        layer(OCI_LAYER_ZSTD, "zstd", {"base.txt": b"zstd\n", ".wh.gone.txt": b""}),
        layer(OCI_LAYER, "none", {"top/plain.txt": b"plain\n"}),
    ]
    ref = push_image(registry, unique_repo, layers)
    assert pull_files(capsys, ref, tmp_path / "out") == {
        "base.txt": b"zstd\n",
        "top/plain.txt": b"plain\n",
    }


@pytest.mark.parametrize(
    "case",
    [
        (OCI_LAYER_GZIP, "zstd"),
        (DOCKER_LAYER_GZIP, "none"),
        (OCI_LAYER_ZSTD, "gzip"),
        (OCI_LAYER_ZSTD, "none"),
        (OCI_LAYER, "gzip"),
        (OCI_LAYER_NONDIST, "zstd"),
    ],
    ids="-".join,
)
def test_the_bytes_win_over_the_media_type(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo: str,
    case: tuple[str, str],
) -> None:
    media_type, kind = case
    ref = push_image(registry, unique_repo, [layer(media_type, kind, FILES)])
    assert pull_files(capsys, ref, tmp_path / "out") == FILES


def test_a_corrupt_zstd_layer_is_one_error_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    good = layer(OCI_LAYER_GZIP, "gzip", {"a.txt": b"a\n"})
    whole = compress("zstd", tar_of(FILES))
    broken = Layer(media_type=OCI_LAYER_ZSTD, blob=whole[: len(whole) // 2], tar=tar_of(FILES))
    ref = push_image(registry, unique_repo, [good, broken])
    out = tmp_path / "out"
    out.mkdir()
    (out / "previous.txt").write_text("kept")
    code, _, stderr = run_cli(capsys, "pull", "-i", ref, "-o", str(out))
    assert code == 1
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert broken.digest in stderr
    assert "zstd" in stderr
    assert files_in(out) == {"previous.txt": b"kept"}


# --- bundles: images.yml from a layer of any compression ---------------------------------------


@pytest.mark.parametrize("kind", ["zstd", "none", "gzip"])
def test_a_bundle_layer_of_any_compression_pulls_and_describes(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: RepoNameFactory,
    kind: str,
) -> None:
    image_repo = unique_repo_factory("image")
    bundle_repo = unique_repo_factory("bundle")
    image_ref = push_image(registry, image_repo, [layer(OCI_LAYER_ZSTD, "zstd", FILES)])
    images_yml = (
        "---\napiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImagesLock\n"
        f"images:\n- image: {image_ref}\n"
    ).encode()
    bundle_files = {".imgpkg/images.yml": images_yml, "config/values.yml": b"a: 1\n"}
    # imgpkg reads a bundle's images.yml only from a Docker-typed layer; the bytes decide.
    bundle_ref = push_image(
        registry,
        bundle_repo,
        [layer(DOCKER_LAYER_GZIP, kind, bundle_files)],
        labels={"dev.carvel.imgpkg.bundle": "true"},
        docker=True,
    )
    out = tmp_path / "bundle"
    code, _, stderr = run_cli(capsys, "pull", "-b", bundle_ref, "-o", str(out), "-r")
    assert code == 0, stderr
    assert files_in(out) == bundle_files
    code, stdout, stderr = run_cli(capsys, "describe", "-b", bundle_ref, "-o", "yaml")
    assert code == 0, stderr
    assert image_ref.rpartition("@")[2] in stdout


# --- interop: skopeo writes zstd layers --------------------------------------------------------


def test_an_image_skopeo_compressed_with_zstd_pulls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    # Content no other test pushed: skopeo (as root, with its system-wide blob-info cache)
    # would otherwise reuse a gzip blob it has seen at this registry instead of writing zstd.
    files = {
        "etc/app.yml": f"name: {unique_repo}\n".encode(),
        "bin/tool": hashlib.sha256(unique_repo.encode()).digest() * 4096,
        "empty": b"",
    }
    tree = tmp_path / "tree"
    for rel, data in files.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(data)
    code, _, stderr = run_cli(capsys, "push", "-i", f"oci:{tmp_path}/layout:v1", "-f", str(tree))
    assert code == 0, stderr
    ref = f"{registry.host}/{unique_repo}:v1"
    done = subprocess.run(
        ["skopeo", "copy", "--dest-tls-verify=false", "--dest-compress-format", "zstd",
         f"oci:{tmp_path}/layout:v1", f"docker://{ref}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with registry.client() as client:
        manifest = client.get(
            f"/v2/{unique_repo}/manifests/v1", headers={"Accept": OCI_MANIFEST}
        ).json()
    assert {item["mediaType"] for item in manifest["layers"]} == {OCI_LAYER_ZSTD}
    out = tmp_path / "out"
    code, _, stderr = run_cli(capsys, "pull", "-i", ref, "-o", str(out))
    assert code == 0, stderr
    assert files_in(out) == files

