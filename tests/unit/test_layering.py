"""The ``--layering=auto`` rule's vectors, as ``docs/formats/layering.md`` states them.

A re-implementation that passes these (the name points, the worked example, the bundle
order and the config of several layers) cuts the same layers.
"""

from __future__ import annotations

import json

from imgpkg_pure.digest import Digest
from imgpkg_pure.image_build import ImageLayer, build_layered_image, imgpkg_config_bytes
from imgpkg_pure.layer import (
    DEFAULT_TARGET,
    EntryKind,
    FileEntry,
    InputTree,
    LayeringRule,
    bundle_lock_layer,
    layer_recipes,
    plan_layer,
    split_recipe,
)
from imgpkg_pure.layer.layering import ends_run, path_point
from imgpkg_pure.push import parse_push_request


def _tree(files: dict[str, int], dirs: tuple[str, ...]) -> InputTree:
    entries = [FileEntry(rel=".", kind=EntryKind.DIR, mode=0o755, size=0)]
    entries += [FileEntry(rel=d, kind=EntryKind.DIR, mode=0o755, size=0) for d in dirs]
    entries += [FileEntry(rel=f, kind=EntryKind.FILE, mode=0o644, size=s) for f, s in files.items()]
    return InputTree(given="in", abs_path="/in", is_dir=True, entries=tuple(entries))


def test_the_target_is_pinned() -> None:
    assert DEFAULT_TARGET == 4 * 1024 * 1024


def test_name_points() -> None:
    """The first 8 bytes of sha256(name), big-endian (docs/formats/layering.md §2)."""
    assert path_point(".") == 0xCDB4EE2AEA69CC6A
    assert path_point("a.txt") == 0x18B7CB099A9EA3F5
    assert path_point("config/app.yml") == 0x86490C4BEA99FCC4
    assert path_point(".imgpkg/images.yml") == 0xB644FC93FD72CEC7
    assert path_point("é") == 0x4A99557E4033C353  # UTF-8 bytes c3 a9


def test_the_worked_example() -> None:
    """docs/formats/layering.md §5, with a target of 4096 tar bytes."""
    files = {"a/x": 100, "a/y": 3000, "b": 5000, "c": 0, "d/e/f": 1000, "d/g": 2500, "h": 700}
    recipe = plan_layer((_tree(files, ("a", "d", "d/e")),)).unwrap()
    ends = {m.rel: ends_run(m, 4096) for m in recipe.members}
    assert [rel for rel, end in ends.items() if end] == ["a/x", "a/y", "b", "d/g"]
    layers = split_recipe(recipe, LayeringRule(target=4096))
    assert [[m.rel for m in layer.members] for layer in layers] == [
        [".", "a", "a/x"],
        [".", "a", "a/y"],
        [".", "b"],
        [".", "c", "d", "d/e", "d/e/f", "d/g"],
        [".", "h"],
    ]
    # Repeated directory members are the single layer's, header for header.
    assert layers[0].members[1] is recipe.members[1]


def test_a_bundle_keeps_imgpkg_first_and_alone() -> None:
    files = {".imgpkg/images.yml": 200, "z/big.bin": 9 << 20, "a.yml": 10}
    recipe = plan_layer((_tree(files, (".imgpkg", "z")),)).unwrap()
    layers = layer_recipes(recipe, "auto", bundle=True)
    assert [[m.rel for m in layer.members] for layer in layers] == [
        [".", ".imgpkg", ".imgpkg/images.yml"],
        [".", "a.yml", "z"],  # the directory z is owned here, and repeated below
        [".", "z", "z/big.bin"],
    ]
    # An image push keeps .imgpkg with the rest (it is only a directory there).
    image = layer_recipes(recipe, "auto", bundle=False)
    assert [[m.rel for m in layer.members] for layer in image] == [
        [".", ".imgpkg", ".imgpkg/images.yml", "a.yml", "z"],
        [".", "z", "z/big.bin"],
    ]
    assert layer_recipes(recipe, "single", bundle=True) == (recipe,)


def test_files_of_several_inputs_and_file_inputs() -> None:
    """A file input has no directory to repeat; each directory input repeats its own '.'.

    The first input's '.' is owned by a run that holds nothing else (the only file after
    it is large): such a run is a layer too, so that every member has one owner.
    """
    first = _tree({"x": 5000}, ())
    second = InputTree(
        given="f.txt",
        abs_path="/f.txt",
        is_dir=False,
        entries=(FileEntry(rel="f.txt", kind=EntryKind.FILE, mode=0o600, size=6000),),
    )
    recipe = plan_layer((first, second)).unwrap()
    layers = split_recipe(recipe, LayeringRule(target=4096))
    assert [[(m.input_index, m.rel) for m in layer.members] for layer in layers] == [
        [(0, ".")],
        [(0, "."), (0, "x")],
        [(1, "f.txt")],
    ]


def test_a_config_of_several_layers() -> None:
    one, two = Digest("sha256", "1" * 64), Digest("sha256", "2" * 64)
    config = json.loads(imgpkg_config_bytes([one, two], {}))
    assert config["rootfs"] == {"type": "layers", "diff_ids": [str(one), str(two)]}
    entry = {"author": "imgpkg", "created": "0001-01-01T00:00:00Z", "created_by": "imgpkg"}
    assert config["history"] == [entry, entry]
    assert imgpkg_config_bytes(one, {}) == imgpkg_config_bytes([one], {})
    built = build_layered_image(
        [ImageLayer(diff_id=one, digest=two, size=3), ImageLayer(diff_id=two, digest=one, size=4)],
        {},
    )
    assert [layer.size for layer in built.layers] == [3, 4]
    assert bundle_lock_layer(built.layers) == built.layers[0]
    assert bundle_lock_layer(()) is None


def test_layering_is_checked() -> None:
    def parse(layering: str) -> object:
        return parse_push_request(
            image="oci:/tmp/x",
            bundle=None,
            files=("a",),
            exclusions=None,
            preserve_permissions=False,
            labels=(),
            lock_output=None,
            layering=layering,
        )

    assert parse("auto").unwrap().layering == "auto"  # type: ignore[attr-defined]
    assert parse("single").unwrap().layering == "single"  # type: ignore[attr-defined]
    assert "unknown --layering 'some'" in parse("some").failure().message  # type: ignore[attr-defined]
