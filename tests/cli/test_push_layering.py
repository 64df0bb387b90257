"""``push --layering=auto`` against the real registry, OCI layouts and skopeo.

* the layers are what ``docs/formats/layering.md`` says: canonical tars, files disjoint,
  one diffID per layer in the config, a large file alone, a bundle's ``.imgpkg`` first;
* our pull, and skopeo's copies (``dir:`` and ``oci:``) with the layers extracted here by
  ``tarfile``, give the input tree exactly;
* pushing again after changing one file uploads one layer (counted in the registry log),
  and ``--dry-run``, ``plan push --out`` and ``show`` say so before;
* an ``auto`` bundle is copied, described and pulled by imgpkg-pure.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import make_tree, run_cli, stream_bytes
from tests.registry_fixtures import RegistryServer

MIB = 1 << 20
_UPLOAD = re.compile(r'"PUT /v2/([^ ]+)/blobs/uploads/[^ ?"]*\?[^ "]*digest=sha256(?::|%3A)(\w+)')


def _files() -> dict[str, bytes]:
    """~28 MiB in 40 files: incompressible binaries, text, one 9 MiB file (alone), deep names."""
    files: dict[str, bytes] = {}
    for i in range(24):
        files[f"bin/part-{i:02}.bin"] = stream_bytes(f"bin{i}", 600_000 + 37_000 * i)
    for i in range(14):
        files[f"config/sub{i % 3}/doc{i}.yml"] = b"key: value\n" * (2000 + 300 * i)
    files["large/image.raw"] = stream_bytes("large", 9 * MIB)
    files["x" * 120 + "/long-name.txt"] = b"a long path takes a PAX header\n"
    return files


def _tree(root: Path) -> Path:
    make_tree(root, _files())
    (root / "empty" / "dir").mkdir(parents=True)
    return root


def _snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root``: file contents, or None for a directory."""
    out: dict[str, bytes | None] = {}
    for dirpath, dirs, names in os.walk(root):
        for name in dirs:
            out[os.path.relpath(os.path.join(dirpath, name), root)] = None
        for name in names:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)] = Path(path).read_bytes()
    return out


def _extract(layers: list[bytes], into: Path) -> None:
    """Apply the layers with tarfile alone (any order would do: files are disjoint)."""
    into.mkdir()
    for blob in layers:
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
            for member in tar:
                target = into / member.name
                assert into in target.resolve().parents or target.resolve() == into
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                else:
                    assert member.isfile(), member.name
                    assert not target.exists(), f"{member.name} in two layers"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    handle = tar.extractfile(member)
                    assert handle is not None
                    target.write_bytes(handle.read())


def _digest_of(stdout: str) -> str:
    line = [ln for ln in stdout.splitlines() if ln.startswith("Pushed '")][-1]
    return line.split("@")[1].rstrip("'")


def _manifest(registry: RegistryServer, repo: str, ref: str) -> dict[str, Any]:
    with registry.client() as client:
        got = client.get(
            f"/v2/{repo}/manifests/{ref}",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        got.raise_for_status()
        document: dict[str, Any] = got.json()
        return document


def _blob(registry: RegistryServer, repo: str, digest: str) -> bytes:
    with registry.client() as client:
        got = client.get(f"/v2/{repo}/blobs/{digest}")
        got.raise_for_status()
        return got.content


def _uploaded(registry: RegistryServer, since: int) -> list[str]:
    """The blob digests whose uploads completed after byte ``since`` of the registry log."""
    return [
        f"sha256:{m.group(2)}" for m in _UPLOAD.finditer(registry.read_log_since(since, 10_000))
    ]


def _skopeo(*args: str) -> None:
    done = subprocess.run(["skopeo", *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_auto_push_pull_and_a_one_file_change(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    registry: RegistryServer,
    unique_repo: str,
) -> None:
    monkeypatch.setenv("IMGPKG_PURE_CACHE", str(tmp_path / "cache"))
    tree = _tree(tmp_path / "tree")
    ref = f"{registry.host}/{unique_repo}:v1"
    code, stdout, stderr = run_cli(capsys, "push", "-i", ref, "-f", str(tree), "--layering=auto")
    assert code == 0, stderr
    digest = _digest_of(stdout)
    manifest = _manifest(registry, unique_repo, digest)
    layers = manifest["layers"]
    assert len(layers) >= 4
    config = json.loads(_blob(registry, unique_repo, manifest["config"]["digest"]))
    blobs = [_blob(registry, unique_repo, layer["digest"]) for layer in layers]
    assert config["rootfs"]["diff_ids"] == [
        "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest() for blob in blobs
    ]
    assert len(config["history"]) == len(layers)
    alone = [b for b in blobs if b"large/image.raw" in gzip.decompress(b)[:4096]]
    assert len(alone) == 1
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(alone[0]))) as tar:
        assert tar.getnames() == [".", "large", "large/image.raw"]

    # Our pull, and the layers extracted by hand, give the tree exactly.
    out = tmp_path / "pulled"
    code, _, stderr = run_cli(capsys, "pull", "-i", ref, "-o", str(out))
    assert code == 0, stderr
    assert _snapshot(out) == _snapshot(tree)
    _extract(blobs, tmp_path / "by-hand")
    assert _snapshot(tmp_path / "by-hand") == _snapshot(tree)

    # The same tree pushed again gives the same digest; one changed file moves one layer.
    code, stdout, _ = run_cli(capsys, "push", "-i", ref, "-f", str(tree), "--layering=auto")
    assert code == 0 and _digest_of(stdout) == digest
    changed = tree / "bin" / "part-07.bin"
    changed.write_bytes(stream_bytes("changed", changed.stat().st_size))
    code, stdout, stderr = run_cli(
        capsys, "push", "-i", ref, "-f", str(tree), "--layering=auto", "--dry-run"
    )
    assert code == 0, stderr
    assert f"layers: 1 new of {len(layers)}, " in stdout
    plan = tmp_path / "push.plan"
    code, stdout, stderr = run_cli(
        capsys, "plan", "push", "-i", ref, "-f", str(tree), "--layering=auto", "--out", str(plan)
    )
    assert code == 0, stderr
    assert f"\nLayers: 1 new of {len(layers)}, " in stdout
    code, stdout, _ = run_cli(capsys, "show", str(plan))
    assert code == 0 and f"  layers: 1 new of {len(layers)}, " in stdout
    since = registry.log_size()
    code, stdout, stderr = run_cli(capsys, "push", "-i", ref, "-f", str(tree), "--layering=auto")
    assert code == 0, stderr
    after = _manifest(registry, unique_repo, _digest_of(stdout))
    new_layers = {layer["digest"] for layer in after["layers"]} - {old["digest"] for old in layers}
    assert len(new_layers) == 1
    uploaded = _uploaded(registry, since)
    assert set(uploaded) == new_layers | {after["config"]["digest"]}, uploaded
    assert len(uploaded) == 2


def test_single_stays_the_default_and_one_run_is_the_single_layer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tree below one run's size: ``auto`` and ``single`` write the same image."""
    tree = make_tree(tmp_path / "small", {"a.yml": b"a: 1\n", "sub/b.txt": b"b\n" * 100})
    digests = []
    for extra in ((), ("--layering=single",), ("--layering", "auto")):
        code, stdout, stderr = run_cli(
            capsys, "push", "-i", f"oci:{tmp_path}/out:v1", "-f", str(tree), *extra
        )
        assert code == 0, stderr
        digests.append(_digest_of(stdout))
    assert len(set(digests)) == 1
    code, _, stderr = run_cli(
        capsys, "push", "-i", f"oci:{tmp_path}/o:v1", "-f", str(tree), "--layering=some"
    )
    assert code == 1 and "--layering" in stderr


def test_auto_in_an_oci_layout_read_by_skopeo(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo: str,
) -> None:
    """An ``oci:`` push, and a registry push copied by skopeo to ``dir:`` and ``oci:``."""
    tree = _tree(tmp_path / "tree")
    layout = tmp_path / "layout"
    code, _, stderr = run_cli(
        capsys, "push", "-i", f"oci:{layout}:v1", "-f", str(tree), "--layering=auto"
    )
    assert code == 0, stderr
    ref = f"{registry.host}/{unique_repo}:v1"
    code, _, stderr = run_cli(capsys, "push", "-i", ref, "-f", str(tree), "--layering=auto")
    assert code == 0, stderr

    copies = {
        "from-layout": (f"oci:{layout}:v1", tmp_path / "dir-from-layout"),
        "from-registry": (f"docker://{ref}", tmp_path / "dir-from-registry"),
    }
    manifests = []
    for name, (source, target) in copies.items():
        _skopeo("copy", "--src-tls-verify=false", source, f"dir:{target}")
        manifest = json.loads((target / "manifest.json").read_bytes())
        manifests.append([layer["digest"] for layer in manifest["layers"]])
        blobs = [(target / d.split(":")[1]).read_bytes() for d in manifests[-1]]
        _extract(blobs, tmp_path / f"tree-{name}")
        assert _snapshot(tmp_path / f"tree-{name}") == _snapshot(tree)
    assert manifests[0] == manifests[1]  # the same layers whatever the destination

    oci_copy = tmp_path / "skopeo-oci"
    _skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{oci_copy}:v1")
    index = json.loads((oci_copy / "index.json").read_bytes())
    manifest = json.loads(
        (oci_copy / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_bytes()
    )
    blobs = [
        (oci_copy / "blobs" / "sha256" / layer["digest"][7:]).read_bytes()
        for layer in manifest["layers"]
    ]
    _extract(blobs, tmp_path / "tree-oci")
    assert _snapshot(tmp_path / "tree-oci") == _snapshot(tree)


def test_auto_bundle_keeps_imgpkg_first_and_copies(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
) -> None:
    image_repo, bundle_repo, copied = (unique_repo_factory(n) for n in ("img", "bundle", "dst"))
    app = make_tree(tmp_path / "app", {"app.yml": b"app: 1\n"})
    code, stdout, stderr = run_cli(
        capsys, "push", "-i", f"{registry.host}/{image_repo}", "-f", str(app)
    )
    assert code == 0, stderr
    image = f"{registry.host}/{image_repo}@{_digest_of(stdout)}"
    files = {
        "bin/tool": stream_bytes("tool", 10 * MIB),
        "config/a.yml": b"a: 1\n",
        ".imgpkg/images.yml": (
            f"apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImagesLock\nimages:\n- image: {image}\n"
        ).encode(),
    }
    bundle = make_tree(tmp_path / "bundle", files)
    ref = f"{registry.host}/{bundle_repo}:v1"
    code, stdout, stderr = run_cli(capsys, "push", "-b", ref, "-f", str(bundle), "--layering=auto")
    assert code == 0, stderr
    manifest = _manifest(registry, bundle_repo, "v1")
    assert len(manifest["layers"]) >= 2
    first = gzip.decompress(_blob(registry, bundle_repo, manifest["layers"][0]["digest"]))
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        assert tar.getnames() == [".", ".imgpkg", ".imgpkg/images.yml"]

    code, _, stderr = run_cli(capsys, "copy", "-b", ref, "--to-repo", f"{registry.host}/{copied}")
    assert code == 0, stderr
    code, stdout, stderr = run_cli(capsys, "describe", "-b", f"{registry.host}/{copied}:v1")
    assert code == 0, stderr
    assert image.split("@")[1] in stdout
    out = tmp_path / "pulled"
    code, _, stderr = run_cli(capsys, "pull", "-b", f"{registry.host}/{copied}:v1", "-o", str(out))
    assert code == 0, stderr
    pulled = _snapshot(out)
    expected = _snapshot(bundle)
    # pull rewrites images.yml to the bundle's new repository (relocated), as imgpkg does
    assert pulled.keys() == expected.keys()
    assert {k: v for k, v in pulled.items() if k != ".imgpkg/images.yml"} == {
        k: v for k, v in expected.items() if k != ".imgpkg/images.yml"
    }
    assert f"{registry.host}/{copied}@" in (out / ".imgpkg" / "images.yml").read_text()
