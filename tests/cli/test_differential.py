"""Differential air-gap transfers (issue 14), against the real registries.

Release 1 and release 2 of a bundle of three images that share most layers are
built in a source registry.  Release 1 crosses to a destination registry as a
full tarball; release 2 as a delta made from the destination's inventory.  The
delta is smaller by exactly the shared layers' bytes, the import completes like
a full one (same tags, same lock output), and what is pulled at the destination
is what is pulled at the source.  A delta imported where a layer it leaves out
is missing is refused, with nothing written.  Then the same through OCI layouts,
with ``--since`` a previous tarball, and the plans that report the saving.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from attrs import frozen

from imgpkg_pure.media_types import OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST
from imgpkg_pure.reference import Repository
from imgpkg_pure.store.registry import RegistryClient, RegistryOptions
from tests.cli.helpers import make_tree, run_cli, stream_bytes
from tests.cli.test_copy_registry import _tags
from tests.cli.test_pull_registry import _files
from tests.registry.helpers import blob, ok, tiny_manifest
from tests.registry_fixtures import RegistryServer, RepoNameFactory

BLOCK = 512


def _layer(files: dict[str, bytes]) -> tuple[bytes, str]:
    """A gzipped tar of ``files`` (fixed metadata) and its diffID."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    plain = raw.getvalue()
    return gzip.compress(plain, mtime=0), "sha256:" + hashlib.sha256(plain).hexdigest()


#: Each layer by name: its files (random bytes, so gzip keeps their size).
LAYERS: dict[str, dict[str, bytes]] = {
    "base": {"base/os-release": stream_bytes("base", 96_000)},
    "libs": {"lib/libapp.so": stream_bytes("libs", 64_000)},
    "a-bin-1": {"bin/a": stream_bytes("a1", 24_000)},
    "a-bin-2": {"bin/a": stream_bytes("a2", 25_000)},
    "b-bin": {"bin/b": stream_bytes("b", 32_000)},
    "c-data-1": {"data/c.db": stream_bytes("c1", 40_000)},
    "c-data-2": {"data/c.db": stream_bytes("c2", 41_000)},
    "c-extra": {"data/extra": stream_bytes("cx", 8_000)},
}
RELEASES: dict[str, dict[str, tuple[str, ...]]] = {
    "v1": {
        "a": ("base", "libs", "a-bin-1"),
        "b": ("base", "libs", "b-bin"),
        "c": ("base", "c-data-1"),
    },
    "v2": {
        "a": ("base", "libs", "a-bin-2"),
        "b": ("base", "libs", "b-bin"),
        "c": ("base", "c-data-2", "c-extra"),
    },
}


@frozen
class Release:
    bundle: str  # the bundle's tag reference at the source
    images: dict[str, str]  # name -> digest
    layers: dict[str, tuple[str, int]]  # every layer of its images: digest -> (name, size)


def _push_image(
    client: RegistryClient, repo: Repository, name: str, layers: tuple[str, ...]
) -> str:
    descs, diff_ids = [], []
    for layer_name in layers:
        data, diff_id = _layer(LAYERS[layer_name])
        desc = blob(data, OCI_LAYER_GZIP)
        ok(client.push_blob(repo, desc, lambda data=data: [data]))  # type: ignore[misc]
        descs.append(desc)
        diff_ids.append(diff_id)
    config_raw = json.dumps(
        {"architecture": "amd64", "os": "linux", "config": {"Labels": {"name": name}},
         "rootfs": {"type": "layers", "diff_ids": diff_ids}}, sort_keys=True,
    ).encode()  # fmt: skip
    config = blob(config_raw, OCI_CONFIG)
    ok(client.push_blob(repo, config, lambda: [config_raw]))
    raw = tiny_manifest(config, descs)
    return str(ok(client.put_manifest(repo, f"{name}-{'-'.join(layers)}", raw, OCI_MANIFEST)))


def _release(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    registry: RegistryServer,
    repo: str,
    tag: str,
) -> Release:
    source = Repository(registry=registry.host, repository=f"{repo}/apps")
    images: dict[str, str] = {}
    layers: dict[str, tuple[str, int]] = {}
    with RegistryClient(RegistryOptions()) as client:
        for name, names in RELEASES[tag].items():
            images[name] = _push_image(client, source, name, names)
            for layer_name in names:
                data, _ = _layer(LAYERS[layer_name])
                layers["sha256:" + hashlib.sha256(data).hexdigest()] = (layer_name, len(data))
    lock = "".join(f"- image: {source}@{digest}\n" for digest in images.values())
    tree = make_tree(tmp_path / f"bundle-{tag}", {
        ".imgpkg/images.yml": (
            "apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImagesLock\nimages:\n" + lock
        ).encode(),
        "config/release.yml": f"release: {tag}\n".encode(),
    })  # fmt: skip
    bundle = f"{registry.host}/{repo}/bundle:{tag}"
    code, _, stderr = run_cli(capsys, "push", "-b", bundle, "-f", str(tree))
    assert code == 0, stderr
    return Release(bundle=bundle, images=images, layers=layers)


def _copy(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, stdout, stderr = run_cli(capsys, "copy", *args)
    assert code == 0, stderr
    return stdout


def _entries(path: Path) -> tuple[dict[str, int], int]:
    """A tarball's layer entries (name -> size) and the size of its manifest.json."""
    with tarfile.open(path) as tar:
        members = tar.getmembers()
    layers = {m.name: m.size for m in members if m.name != "manifest.json"}
    return layers, next(m.size for m in members if m.name == "manifest.json")


_REQUEST = re.compile(r"http\.request\.method=(\w+) .*?http\.request\.uri=\"?([^ \"]+)")


def _requests(log: str, repository: str) -> list[tuple[str, str]]:
    """(method, path) of every request the registry log shows for ``repository``."""
    prefix = f"/v2/{repository.split('/', 1)[1]}/"
    found = (_REQUEST.search(line) for line in log.splitlines() if "response completed" in line)
    return [(m[1], m[2]) for m in found if m is not None and m[2].startswith(prefix)]


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


#: The fields of ggcr's ``v1.ConfigFile`` (JSON names, compared without case as Go does).
GO_CONFIG_FIELDS = {
    "architecture", "author", "container", "created", "docker_version", "history", "os",
    "rootfs", "config", "os.version", "variant", "os.features",
}  # fmt: skip


def _check_marker(delta: Path, left_out: set[str]) -> None:
    """What makes imgpkg refuse the delta before any manifest (docs/formats/delta.md): one
    marker element, from a host no destination has, whose only layer has no entry (so its
    upload fails with "not found in tar", and MultiWrite writes manifests only once every
    blob is up), and whose config Go reads as an image config without error."""
    with tarfile.open(delta) as tar:
        names = set(tar.getnames())
        handle = tar.extractfile("manifest.json")
        assert handle is not None
        elements = json.loads(handle.read())
    markers = [
        e["Image"] for e in elements
        if e["Image"] and "dev.carvel.imgpkg-pure.delta" in (e["Image"]["Labels"] or {})
    ]  # fmt: skip
    assert len(markers) == 1
    marker = markers[0]
    assert marker["Refs"][0].startswith("imgpkg-pure-delta.invalid/delta@sha256:")
    (sentinel,) = marker["Layers"]
    assert f"sha256-{sentinel['Digest'][7:]}.tar.gz" not in names
    assert sentinel["MediaType"] == OCI_LAYER_GZIP  # distributable: ggcr uploads it
    document = json.loads(marker["Config"]["Raw"])
    assert not {key.casefold() for key in document} & GO_CONFIG_FIELDS
    assert {layer["digest"] for layer in document["leftOut"]} == left_out
    manifest = json.loads(marker["Manifest"]["Raw"])
    assert manifest["layers"][0]["digest"] == sentinel["Digest"]
    assert manifest["config"]["digest"] == marker["Config"]["Digest"]


@pytest.fixture(autouse=True)
def _umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def dst_auth(registry_basic_auth: RegistryServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """The destination registry (basic auth), its credentials in imgpkg's variables."""
    assert registry_basic_auth.username and registry_basic_auth.password
    monkeypatch.setenv("IMGPKG_REGISTRY_HOSTNAME_0", registry_basic_auth.host)
    monkeypatch.setenv("IMGPKG_REGISTRY_USERNAME_0", registry_basic_auth.username)
    monkeypatch.setenv("IMGPKG_REGISTRY_PASSWORD_0", registry_basic_auth.password)
    return registry_basic_auth.host


class _Releases(NamedTuple):
    """Releases 1 and 2 pushed to the source repository ``src``, and the layers they share
    (digest -> size)."""

    src: str
    rel1: Release
    rel2: Release
    shared: dict[str, int]


@pytest.fixture
def releases(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: RepoNameFactory,
) -> _Releases:
    src = unique_repo_factory("src")
    rel1 = _release(capsys, tmp_path, registry, src, "v1")
    rel2 = _release(capsys, tmp_path, registry, src, "v2")
    shared = {d: size for d, (_, size) in rel2.layers.items() if d in rel1.layers}
    return _Releases(src=src, rel1=rel1, rel2=rel2, shared=shared)


def _pulled(capsys: pytest.CaptureFixture[str], out: Path, *args: str) -> dict[str, object]:
    code, _, stderr = run_cli(capsys, "pull", *args, "-o", str(out))
    assert code == 0, stderr
    return dict(_files(out))


def test_release_two_crosses_as_a_delta_of_the_shared_layers(  # noqa: PLR0917
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    registry_basic_auth: RegistryServer,
    dst_auth: str,
    unique_repo_factory: RepoNameFactory,
    releases: _Releases,
) -> None:
    make = unique_repo_factory
    mirror, empty, full = (
        f"{dst_auth}/{make('mirror')}",
        f"{dst_auth}/{make('empty')}",
        f"{dst_auth}/{make('full')}",
    )
    src, rel1, rel2, shared = releases
    assert len(shared) == 3 and len(rel2.layers) == 6  # base, libs, b-bin; of six

    # release 1: a full tarball into the destination
    _copy(capsys, "-b", rel1.bundle, "--to-tar", str(tmp_path / "rel1.tar"))
    _copy(capsys, "--tar", str(tmp_path / "rel1.tar"), "--to-repo", mirror)

    # on the air-gapped side: what the destination holds
    inventory = tmp_path / "mirror.inventory.json"
    code, _, stderr = run_cli(capsys, "inventory", "--repo", mirror, "-o", str(inventory))
    assert code == 0, stderr
    held = json.loads(inventory.read_text())
    assert held["kind"] == "imgpkg-pure-inventory" and held["version"] == 1
    assert set(rel1.layers) <= set(held["blobs"])
    code, printed, stderr = run_cli(capsys, "inventory", "--repo", mirror)
    assert code == 0, stderr
    assert printed.encode() == inventory.read_bytes()  # stdout and -o: the same bytes

    # release 2: full and delta; the delta is smaller by exactly the shared layers
    full_tar, delta_tar = tmp_path / "rel2-full.tar", tmp_path / "rel2-delta.tar"
    _copy(capsys, "-b", rel2.bundle, "--to-tar", str(full_tar))
    out = _copy(capsys, "-b", rel2.bundle, "--to-tar", str(delta_tar), "--since", str(inventory))
    saved = sum(shared.values())
    assert f"copy | left out 3 layers ({saved} bytes) that {mirror} already holds" in out
    full_layers, full_json = _entries(full_tar)
    delta_layers, delta_json = _entries(delta_tar)
    assert sum(full_layers.values()) - sum(delta_layers.values()) == saved
    assert set(full_layers) - set(delta_layers) == {f"sha256-{d[7:]}.tar.gz" for d in shared}
    expected_size = (
        full_tar.stat().st_size
        - sum(BLOCK + _padded(size) for size in shared.values())
        + _padded(delta_json) - _padded(full_json)
    )  # fmt: skip
    assert delta_tar.stat().st_size == expected_size
    _check_marker(delta_tar, set(shared))

    # a delta where the layers it leaves out are missing: refused, nothing written
    offset = registry_basic_auth.log_size()
    code, _, stderr = run_cli(capsys, "copy", "--tar", str(delta_tar), "--to-repo", empty)
    assert code == 1
    asked = _requests(registry_basic_auth.read_log_since(offset, max_lines=100_000), empty)
    assert {method for method, _ in asked} == {"HEAD"}  # read-only: one HEAD per layer
    assert {uri for _, uri in asked} == {f"/v2/{empty.split('/', 1)[1]}/blobs/{d}" for d in shared}
    assert stderr.count("\n") == 1 and "lacks 3 of the layers it leaves out" in stderr
    assert sorted(shared)[0] in stderr
    empty_repo = empty.split("/", 1)[1]
    with registry_basic_auth.client() as http:
        assert http.get(f"/v2/{empty_repo}/tags/list").status_code == 404
        for digest in set(rel2.layers) - set(shared):  # not even the layers it carries
            assert http.head(f"/v2/{empty_repo}/blobs/{digest}").status_code == 404

    # the delta into the destination that holds release 1: as a full import would
    lock_delta, lock_full = tmp_path / "rel2.lock.yml", tmp_path / "rel2-full.lock.yml"
    out = _copy(
        capsys, "--tar", str(delta_tar), "--to-repo", mirror, "--lock-output", str(lock_delta)
    )
    assert f"copy | 3 layers ({saved} bytes) the delta leaves out: already in {mirror}" in out
    _copy(capsys, "--tar", str(full_tar), "--to-repo", full, "--lock-output", str(lock_full))
    assert lock_delta.read_text().replace(mirror, "DST") == lock_full.read_text().replace(
        full, "DST"
    )
    mirror_tags = _tags(registry_basic_auth, mirror.split("/", 1)[1])
    full_tags = _tags(registry_basic_auth, full.split("/", 1)[1])
    assert {t: d for t, d in mirror_tags.items() if t in full_tags} == full_tags

    # pull -r of release 2 at the destination gives the files pulled at the source
    at_src = _pulled(capsys, tmp_path / "src-out", "-r", "-b", rel2.bundle)
    at_dst = _pulled(capsys, tmp_path / "dst-out", "-r", "--lock", str(lock_delta))
    images_yml = ".imgpkg/images.yml"
    assert {k: v for k, v in at_src.items() if k != images_yml} == {
        k: v for k, v in at_dst.items() if k != images_yml
    }
    relocated = (tmp_path / "dst-out" / images_yml).read_text()
    for digest in rel2.images.values():
        assert f"image: {mirror}@{digest}" in relocated
        assert _pulled(
            capsys, tmp_path / f"s{digest[7:15]}", "-i", f"{registry.host}/{src}/apps@{digest}"
        ) == (_pulled(capsys, tmp_path / f"d{digest[7:15]}", "-i", f"{mirror}@{digest}"))


def _root_names(layout: Path) -> set[str]:
    index = json.loads((layout / "index.json").read_text())
    return {m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]}


def test_deltas_through_layouts_and_the_plans_that_show_the_saving(  # noqa: PLR0917
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry_basic_auth: RegistryServer,
    dst_auth: str,
    unique_repo_factory: RepoNameFactory,
    releases: _Releases,
) -> None:
    make = unique_repo_factory
    mirror, empty = f"{dst_auth}/{make('mirror')}", f"{dst_auth}/{make('empty')}"
    _, rel1, rel2, shared = releases
    saved = sum(shared.values())
    rel1_tar, lock1 = tmp_path / "rel1.tar", tmp_path / "rel1.lock.yml"
    _copy(capsys, "-b", rel1.bundle, "--to-tar", str(rel1_tar))
    _copy(capsys, "--tar", str(rel1_tar), "--to-repo", mirror, "--lock-output", str(lock1))

    # inventories of a tarball and of a lock file: what release 1 holds
    for source in (("--tar", str(rel1_tar)), ("--lock", str(lock1))):
        code, printed, stderr = run_cli(capsys, "inventory", *source)
        assert code == 0, stderr
        assert set(rel1.layers) <= set(json.loads(printed)["blobs"]), source

    # --since a previous tarball, shown before anything moves: --dry-run of a tar
    never = tmp_path / "never.tar"
    code, out, stderr = run_cli(
        capsys, "copy", "-b", rel2.bundle, "--to-tar", str(never), "--since", str(rel1_tar),
        "--dry-run",
    )  # fmt: skip
    assert code == 0, stderr
    assert f"left out: 3 layers, {saved} bytes ({rel1_tar} already holds them)" in out
    assert not never.exists()

    # plan copy --since into an OCI layout: show reports the saving; the copy makes the delta
    plan = tmp_path / "delta.plan"
    layout = tmp_path / "delta-layout"
    code, _, stderr = run_cli(
        capsys, "plan", "copy", "-b", rel2.bundle, "--to-repo", f"oci:{layout}",
        "--since", str(rel1_tar), "--out", str(plan),
    )  # fmt: skip
    assert code == 0, stderr
    code, shown, stderr = run_cli(capsys, "show", str(plan))
    assert code == 0, stderr
    assert f"  left out: 3 layers, {saved} bytes ({rel1_tar} already holds them)" in shown
    out = _copy(capsys, "-b", rel2.bundle, "--to-repo", f"oci:{layout}", "--since", str(rel1_tar))
    assert f"left out 3 layers ({saved} bytes)" in out
    blobs = {f"sha256:{p.name}" for p in (layout / "blobs" / "sha256").iterdir()}
    assert not blobs & set(shared) and set(rel2.layers) - set(shared) <= blobs
    assert {"v2", "imgpkg-pure-delta"} <= _root_names(layout)
    code, printed, stderr = run_cli(capsys, "inventory", "--repo", f"oci:{layout}")
    assert code == 0, stderr
    assert not set(json.loads(printed)["blobs"]) & set(shared)  # a delta holds none of them

    # the same as an archive, --since the destination's inventory
    inventory = tmp_path / "inventory.json"
    code, _, stderr = run_cli(capsys, "inventory", "--repo", mirror, "-o", str(inventory))
    assert code == 0, stderr
    archive = tmp_path / "delta.oci.tar"
    _copy(
        capsys, "-b", rel2.bundle, "--to-repo", f"oci-archive:{archive}", "--since", str(inventory)
    )
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert not {f"blobs/sha256/{d[7:]}" for d in shared} & names

    # --since a layout or an archive (told from a tarball by its content): what it holds
    carried = {d: size for d, (_, size) in rel2.layers.items() if d not in shared}
    for since in (f"oci:{layout}", str(archive)):
        code, out, stderr = run_cli(
            capsys, "copy", "-b", rel2.bundle, "--to-tar", str(never), "--since", since,
            "--dry-run",
        )  # fmt: skip
        assert code == 0, stderr
        assert f"left out: 3 layers, {sum(carried.values())} bytes" in out, since

    # importing the layout delta: refused where the layers are missing, planned, then done
    code, _, stderr = run_cli(capsys, "copy", "-b", f"oci-archive:{archive}:v2", "--to-repo", empty)
    assert code == 1 and "lacks 3 of the layers it leaves out" in stderr
    with registry_basic_auth.client() as http:
        assert http.get(f"/v2/{empty.split('/', 1)[1]}/tags/list").status_code == 404
    plan = tmp_path / "import.plan"
    code, _, stderr = run_cli(
        capsys, "plan", "copy", "-b", f"oci:{layout}:v2", "--to-repo", mirror, "--out", str(plan)
    )
    assert code == 0, stderr
    code, shown, stderr = run_cli(capsys, "show", str(plan))
    assert code == 0, stderr
    assert f"left out: 3 layers, {saved} bytes (already in {mirror})" in shown
    for digest in shared:
        assert f"{mirror} holds {digest}" in shown  # checked again by apply
    lock2 = tmp_path / "rel2.lock.yml"
    code, out, stderr = run_cli(capsys, "apply", str(plan))
    assert code == 0, stderr
    _copy(capsys, "-b", f"oci:{layout}:v2", "--to-repo", mirror, "--lock-output", str(lock2))
    at_dst = _pulled(capsys, tmp_path / "dst-out", "-r", "--lock", str(lock2))
    at_src = _pulled(capsys, tmp_path / "src-out", "-r", "-b", rel2.bundle)
    assert set(at_dst) == set(at_src)
