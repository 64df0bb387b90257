"""Every layer the real imgpkg pushed for tests/fixtures/imgpkg, rebuilt byte for byte.

``expected/*.json`` records, for each image made by ``imgpkg push``, the
directory pushed, the on-disk mode of each file and the layer's diffID (see
tests/fixtures/imgpkg/README.md).  Each case copies the source directory,
chmods it to those modes (directories 0755), builds the layer with the
options of the recorded command line and compares the diffID, then compares
each member's name, mode and header format with the recorded entries.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imgpkg_pure.layer import LayerOptions, TarFormat, header_format
from tests.unit.test_layer_support import FIXTURES, copy_with_modes, layer_diff_id, plan

IMGPKG = FIXTURES / "imgpkg"


def _images(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        yield item
        yield from _images(item.get("children", []))


def _pushed_images() -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted((IMGPKG / "expected").glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        for image in _images(document["images"]):
            if str(image.get("made_by", "")).startswith("imgpkg push"):
                found.setdefault(image["repository"], image)
    return [found[repository] for repository in sorted(found)]


PUSHED = _pushed_images()


def test_every_pushed_fixture_is_covered() -> None:
    assert {image["source_dir"] for image in PUSHED} == {
        "src/app",
        "src/tool",
        "src/bundle",
        "src/outer-bundle",
    }


@pytest.mark.parametrize("image", PUSHED, ids=[image["repository"] for image in PUSHED])
def test_pushed_layer_diff_id(tmp_path: Path, image: dict[str, Any]) -> None:
    modes = {item["path"]: int(item["mode_on_disk"], 8) for item in image["source_files"]}
    source = copy_with_modes(
        IMGPKG / image["source_dir"],
        tmp_path / Path(image["source_dir"]).name,
        file_mode=lambda rel: modes[rel],
    )
    options = LayerOptions(preserve_permissions="--preserve-permissions" in image["made_by"])
    (layer,) = image["layers"]

    diff_id, _size = layer_diff_id([source], options)

    assert diff_id == layer["diff_id"]
    members = plan([source], options).members
    assert [member.rel for member in members] == [entry["name"] for entry in layer["entries"]]
    for member, entry in zip(members, layer["entries"], strict=True):
        tar_info = _parse_mode(member.header)
        assert format(tar_info, "04o") == entry["mode"]
        chosen = header_format(member.rel, mode=tar_info, size=member.size)
        assert chosen is (TarFormat.GNU if entry["header"] == "gnu" else TarFormat.USTAR)


def _parse_mode(header: bytes) -> int:
    field = header[100:108]
    if field[0] & 0x80:
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    return int(field.rstrip(b"\0"), 8)
