"""Extraction of the images made by the real imgpkg (``tests/fixtures/imgpkg``).

Every layer blob of ``image.tar``, ``bundle.tar`` and ``nested-bundle.tar`` is
loaded into a ``LocalStore``; the manifests come from each tarball's
``manifest.json`` (``Manifest.Raw``, index children included) and are parsed
with ``parse_manifest``.  Each image is extracted under umask 022 and compared
with ``expected/<tarball>.json``:

* single-layer images: ``files_after_imgpkg_pull`` exactly (paths, types,
  sha256, modes), sizes from the layer entries;
* ``fixtures/layered`` (three layers, an overwrite and a whiteout):
  ``files_oci_flattened`` exactly with ``ModeRule.LAYER``; with the default
  ``ModeRule.IMGPKG`` the same paths and contents, with imgpkg's modes.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from returns.io import IOFailure
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.extract import ModeRule, NodeKind
from imgpkg_pure.oci import Manifest, parse_manifest
from imgpkg_pure.store.apply.extract import ExtractReport, extract_image
from imgpkg_pure.store.content.local import LocalStore

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "imgpkg"
TARBALLS = ("image", "bundle", "nested-bundle")
UMASK = 0o022
LAYERED = "576619875c4a385bc5d47b277f2ed4843d3acb42634c6dcd0f764f0a15ad6fc1"

Json = dict[str, Any]


def _raw_manifests(entries: list[Json]) -> Iterator[str]:
    for entry in entries:
        if entry.get("Image"):
            yield entry["Image"]["Manifest"]["Raw"]
        if entry.get("ImageIndex"):
            for child in entry["ImageIndex"].get("Images") or ():
                yield child["Manifest"]["Raw"]


def _expected_images(document: Json) -> Iterator[Json]:
    for item in document["images"]:
        if item["kind"] == "index":
            yield from item["children"]
        else:
            yield item


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    """Every layer blob of the three tarballs, in one store."""
    local = unsafe_perform_io(LocalStore.at(tmp_path_factory.mktemp("store")).unwrap())
    for name in TARBALLS:
        with tarfile.open(FIXTURES / f"{name}.tar") as archive:
            for member in archive:
                source = archive.extractfile(member)
                if source is not None and member.name.endswith(".tar.gz"):
                    unsafe_perform_io(local.put_bytes(source.read()).unwrap())
    return local


def _cases() -> Iterator[Any]:
    seen: set[str] = set()
    for name in TARBALLS:
        with tarfile.open(FIXTURES / f"{name}.tar") as archive:
            handle = archive.extractfile("manifest.json")
            assert handle is not None
            entries = json.load(handle)
        expected = {
            item["manifest_digest"]: item
            for item in _expected_images(
                json.loads((FIXTURES / "expected" / f"{name}.json").read_text())
            )
        }
        for raw in _raw_manifests(entries):
            manifest = parse_manifest(raw.encode(), where=f"{name}.tar").unwrap()
            key = str(manifest.digest)
            if key in seen:
                continue
            seen.add(key)
            item = expected[key]
            yield pytest.param(manifest, item, id=f"{name}:{item['repository'].rsplit('/', 1)[-1]}")


CASES = list(_cases())


def _extract(
    store: LocalStore, manifest: Manifest, out: Path, rule: ModeRule = ModeRule.IMGPKG
) -> ExtractReport:
    result = extract_image(
        manifest.layers,
        store,
        out,
        cwd=out.parent,
        home=out.parent / "home",
        modes=rule,
        umask=UMASK,
    )
    if isinstance(result, IOFailure):
        pytest.fail(unsafe_perform_io(result.failure()).message)
    report: ExtractReport = unsafe_perform_io(result.unwrap())
    return report


def _on_disk(root: Path) -> list[Json]:
    """The extracted tree in the shape of ``files_after_imgpkg_pull``, plus sizes."""
    found: list[Json] = []
    for directory, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(directory) / name
            info = path.lstat()
            row: Json = {
                "path": path.relative_to(root).as_posix(),
                "mode": f"{stat.S_IMODE(info.st_mode):04o}",
            }
            if stat.S_ISDIR(info.st_mode):
                row["type"] = "dir"
            else:
                assert stat.S_ISREG(info.st_mode), f"{row['path']} is neither a file nor a dir"
                row["type"] = "file"
                row["sha256"] = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
                row["size"] = info.st_size
            found.append(row)
    return sorted(found, key=lambda row: row["path"])


def _sizes(item: Json) -> dict[str, int]:
    """Each file's size as the top-most layer holding it says."""
    sizes: dict[str, int] = {}
    for layer in item["layers"]:
        for entry in layer["entries"]:
            if entry["type"] == "file":
                sizes[entry["name"].removeprefix("./")] = entry["size"]
    return sizes


def _with_sizes(rows: list[Json], item: Json) -> list[Json]:
    sizes = _sizes(item)
    return sorted(
        ({**row, "size": sizes[row["path"]]} if row["type"] == "file" else row for row in rows),
        key=lambda row: row["path"],
    )


def test_every_image_of_the_fixtures_is_covered() -> None:
    repositories = sorted({case.values[1]["repository"].rsplit("/", 1)[-1] for case in CASES})
    assert repositories == ["app", "bundle", "layered", "multiarch", "outer", "tool"]
    assert len(CASES) == 7  # multiarch has two children


@pytest.mark.parametrize(("manifest", "item"), CASES)
def test_fixture_images_extract_as_expected(
    store: LocalStore, manifest: Manifest, item: Json, tmp_path: Path
) -> None:
    report = _extract(store, manifest, tmp_path / "out")
    found = _on_disk(tmp_path / "out")
    assert report.skipped == ()
    assert [layer.digest for layer in report.layers] == [d.digest for d in manifest.layers]
    assert {row["path"] for row in found} == {node.path for node in report.tree.nodes}
    if "files_oci_flattened" not in item:
        assert len(manifest.layers) == 1
        assert found == _with_sizes(item["files_after_imgpkg_pull"], item)
        return
    # The layered image: OCI contents; with the imgpkg rule, imgpkg's modes.
    imgpkg_modes = {row["path"]: row["mode"] for row in item["files_after_imgpkg_pull"]}
    flattened = _with_sizes(item["files_oci_flattened"], item)
    assert found == [{**row, "mode": imgpkg_modes[row["path"]]} for row in flattened]


def test_layered_image_matches_oci_flattening_exactly_with_layer_modes(
    store: LocalStore, tmp_path: Path
) -> None:
    [(manifest, item)] = [case.values for case in CASES if case.values[0].digest.hex == LAYERED]
    report = _extract(store, manifest, tmp_path / "out", ModeRule.LAYER)
    found = _on_disk(tmp_path / "out")
    assert found == _with_sizes(item["files_oci_flattened"], item)
    assert len(report.layers) == 3
    tree = report.tree.as_dict()
    assert tree["etc/layer3.conf"].mode == 0o600
    assert tree["usr/share/layered/overwrite.txt"].source is not None
    assert tree["usr/share/layered/overwrite.txt"].source.layer == 1
    assert tree["usr"].kind is NodeKind.DIR
    # Where imgpkg is wrong (reference §4.2 items 4 and 5), this is not.
    pulled = {row["path"]: row for row in item["files_after_imgpkg_pull"]}
    assert "usr/share/layered/remove-me.txt" in pulled
    assert "usr/share/layered/remove-me.txt" not in tree
    overwrite = next(r for r in found if r["path"] == "usr/share/layered/overwrite.txt")
    assert overwrite["sha256"] != pulled["usr/share/layered/overwrite.txt"]["sha256"]


def test_pulling_again_replaces_the_previous_image(store: LocalStore, tmp_path: Path) -> None:
    by_repo = {case.values[1]["repository"].rsplit("/", 1)[-1]: case.values[0] for case in CASES}
    _extract(store, by_repo["layered"], tmp_path / "out")
    report = _extract(store, by_repo["app"], tmp_path / "out")
    assert report.replaced
    assert [row["path"] for row in _on_disk(tmp_path / "out")] == [
        "README.md",
        "VERSION",
        "config",
        "config/app.yml",
        "config/profiles",
        "config/profiles/dev.yml",
        "run.sh",
    ]
    assert sorted(os.listdir(tmp_path)) == ["out"]
