"""A registry that serves corrupted content: ``pull`` and ``copy`` refuse it and write nothing.

A registry of its own (so no other test reads the damaged blob) holds an image;
one byte of a blob is then flipped in the registry's storage directory, which
distribution serves as it is, with the size unchanged.  Pulling the image, and
copying it to another registry or to a tarball, must each fail with one line
naming the digest mismatch, leave no output, and put nothing in the
destination.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from attrs import frozen

from imgpkg_pure.store.cli import main
from tests.cli.helpers import make_tree, run_cli, stream_bytes
from tests.registry_fixtures import RegistryServer, running_registry

pytestmark = pytest.mark.registry


@frozen(kw_only=True)
class Damaged:
    """The registry, the image, the damaged layer's digest and what its bytes now hash to."""

    server: RegistryServer
    ref: str
    layer: str
    got: str

    def mismatch(self) -> str:
        return f"digest mismatch: expected {self.layer}, got {self.got}"

    def refused(self) -> str:
        """The one line a command reading the damaged layer from the registry ends with."""
        where = f"{self.server.host}/src/app"
        return f"imgpkg-pure: Error: blob {self.layer} from {where}: {self.mismatch()}\n"


@pytest.fixture(scope="module")
def damaged_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Damaged]:
    root = tmp_path_factory.mktemp("damaged")
    with running_registry(root / "server") as server:
        tree = make_tree(root / "in", {"data.bin": stream_bytes("damaged", 300_000)})
        ref = f"{server.host}/src/app:v1"
        assert main(["push", "-i", ref, "-f", str(tree)]) == 0  # module scope: no capsys
        with server.client() as http:
            manifest = http.get(
                "/v2/src/app/manifests/v1",
                headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
            ).json()
        layer = manifest["layers"][0]["digest"]
        hex_ = layer.removeprefix("sha256:")
        data = server.root / "storage/docker/registry/v2/blobs/sha256" / hex_[:2] / hex_ / "data"
        damaged = bytearray(data.read_bytes())
        damaged[len(damaged) // 2] ^= 0x01
        data.write_bytes(bytes(damaged))
        got = "sha256:" + hashlib.sha256(damaged).hexdigest()
        yield Damaged(server=server, ref=ref, layer=layer, got=got)


def test_pull_refuses_a_damaged_blob_and_writes_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damaged_source: Damaged,
) -> None:
    damaged = damaged_source
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(capsys, "pull", "-i", damaged.ref, "-o", str(out))
    assert (code, stdout) == (1, "")
    assert stderr == damaged.refused()
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_copy_to_a_registry_refuses_a_damaged_blob_and_writes_nothing(
    capsys: pytest.CaptureFixture[str],
    damaged_source: Damaged,
    registry: RegistryServer,
    unique_repo: str,
) -> None:
    damaged = damaged_source
    code, stdout, stderr = run_cli(
        capsys, "copy", "-i", damaged.ref, "--to-repo", f"{registry.host}/{unique_repo}"
    )
    assert code == 1
    with registry.client() as http:
        tags = http.get(f"/v2/{unique_repo}/tags/list")
        blob = http.head(f"/v2/{unique_repo}/blobs/{damaged.layer}")
    assert tags.status_code == 404, tags.text
    assert json.loads(tags.text)["errors"][0]["code"] == "NAME_UNKNOWN"
    assert blob.status_code == 404
    # the source's bytes are refused by the copy itself (as pull refuses them), not left to
    # the destination registry to notice
    assert stderr == damaged.refused(), stdout


def test_copy_to_a_tarball_refuses_a_damaged_blob_and_writes_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damaged_source: Damaged,
) -> None:
    damaged = damaged_source
    tar = tmp_path / "out.tar"
    code, stdout, stderr = run_cli(capsys, "copy", "-i", damaged.ref, "--to-tar", str(tar))
    assert code == 1
    assert stderr == (
        f"imgpkg-pure: Error: {tar}: entry {damaged.layer.replace(':', '-')}.tar.gz: "
        f"{damaged.mismatch()}\n"
    ), stdout
    assert list(tmp_path.iterdir()) == []
