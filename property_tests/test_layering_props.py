"""Laws of ``push --layering=auto`` (``imgpkg_pure.layer.layering``, ``docs/formats/layering.md``).

* The layers partition the single layer: every member is owned by one layer, files are in
  exactly one, and each layer is the single layer's order restricted to its members plus
  the directories they are under (same headers), so each is a canonical tar.
* Deterministic: the same whatever order the file system lists the entries in, and the
  same in another interpreter (hash seed, environment); on disk, the same digests
  whatever order the files were created in.
* Local: changing, adding or removing one file (its content or its size, across the
  large-file threshold too) makes at most two layers that were not there before and
  removes at most two; every other layer keeps its bytes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.layer import (
    EntryKind,
    FileEntry,
    InputTree,
    LayeringRule,
    LayerOptions,
    LayerRecipe,
    plan_layer,
    split_recipe,
)
from imgpkg_pure.layer.layering import layer_recipes
from imgpkg_pure.store.content.memory import MemoryStore
from imgpkg_pure.store.files.layer import build_layers
from imgpkg_pure.store.files.tree import observe_inputs
from property_tests.fresh_interpreter import (
    FRESH_INTERPRETER_SETTINGS,
    assert_same_in_fresh_interpreters,
)

#: A tree: file path -> (size, content version); directories are implied by the paths,
#: plus the empty directories listed apart.  Dir components start with ``d`` and file
#: names with ``f``, so a path is never both.
Files = dict[str, tuple[int, int]]

DIR = st.text(alphabet="abé", max_size=2).map(lambda s: "d" + s)
FILE = st.text(alphabet="ab.-é", max_size=3).map(lambda s: "f" + s)
PATH = st.tuples(st.lists(DIR, max_size=3), FILE).map(lambda p: "/".join([*p[0], p[1]]))
#: Sizes around the small targets below, so that runs end, and files reach the
#: large-file threshold, often.
SIZE = st.one_of(st.integers(0, 3000), st.integers(3000, 40_000))
TARGETS = st.sampled_from([4096, 16_384, 65_536])
FILES = st.dictionaries(PATH, st.tuples(SIZE, st.just(0)), max_size=30)
EMPTY_DIRS = st.lists(st.lists(DIR, min_size=1, max_size=2).map("/".join), max_size=3)


def _tree(files: Files, empty: list[str], given: str = "in") -> InputTree:
    dirs = {"/".join(path.split("/")[:depth]) for path in files for depth in
            range(1, path.count("/") + 1)}  # fmt: skip
    for path in empty:
        parts = path.split("/")
        dirs.update("/".join(parts[:depth]) for depth in range(1, len(parts) + 1))
    dirs -= set(files)
    entries = [FileEntry(rel=".", kind=EntryKind.DIR, mode=0o755, size=0)]
    entries += [FileEntry(rel=d, kind=EntryKind.DIR, mode=0o755, size=0) for d in sorted(dirs)]
    entries += [
        FileEntry(rel=path, kind=EntryKind.FILE, mode=0o644, size=size)
        for path, (size, _version) in sorted(files.items())
    ]
    return InputTree(given=given, abs_path=f"/work/{given}", is_dir=True, entries=tuple(entries))


def _layers(tree: InputTree, target: int, bundle: bool = False) -> tuple[LayerRecipe, ...]:
    recipe = plan_layer((tree,), LayerOptions(exclusions=())).unwrap()
    return layer_recipes(recipe, "auto", bundle=bundle, target=target)


def _identity(layer: LayerRecipe, files: Files) -> tuple[object, ...]:
    """What decides a layer's bytes: its headers, and the content of each file."""
    return tuple(
        (member.header, None if member.is_dir else files[member.rel]) for member in layer.members
    )


# ---------------------------------------------------------------- the partition


@given(files=FILES, empty=EMPTY_DIRS, target=TARGETS, bundle=st.booleans())
def test_layers_partition_the_single_layer(
    files: Files, empty: list[str], target: int, bundle: bool
) -> None:
    if bundle:
        files = {**files, ".imgpkg/images.yml": (100, 0), ".imgpkg/bundle.yml": (50, 0)}
    recipe = plan_layer((_tree(files, empty),), LayerOptions(exclusions=())).unwrap()
    layers = layer_recipes(recipe, "auto", bundle=bundle, target=target)
    order = {member.rel: index for index, member in enumerate(recipe.members)}
    seen_files: list[str] = []
    seen_dirs: set[str] = set()
    for layer in layers:
        names = [member.rel for member in layer.members]
        assert [order[name] for name in names] == sorted(order[name] for name in names)
        for member in layer.members:
            assert recipe.members[order[member.rel]] == member  # the same header
            if member.is_dir:
                seen_dirs.add(member.rel)
            else:
                seen_files.append(member.rel)
            if member.rel != ".":
                parent = member.rel.rpartition("/")[0] or "."
                assert parent in names, (member.rel, names)
    assert sorted(seen_files) == sorted(m.rel for m in recipe.members if not m.is_dir)
    assert seen_dirs == {m.rel for m in recipe.members if m.is_dir}
    for layer in layers:
        large = [m for m in layer.members if not m.is_dir and m.tar_bytes >= target]
        if large and not (bundle and large[0].rel.startswith(".imgpkg/")):
            assert [m for m in layer.members if not m.is_dir] == large  # alone
    if bundle:
        first = {m.rel for m in layers[0].members}
        assert first == {".", ".imgpkg", ".imgpkg/images.yml", ".imgpkg/bundle.yml"}
        assert all(".imgpkg" not in {m.rel for m in layer.members} for layer in layers[1:])
    if len(layers) == 1:
        assert layers[0] == recipe  # a tree that fits one layer is the single layer


@given(files=FILES, empty=EMPTY_DIRS)
def test_one_run_is_the_single_layer_byte_for_byte(files: Files, empty: list[str]) -> None:
    recipe = plan_layer((_tree(files, empty),), LayerOptions(exclusions=())).unwrap()
    assert layer_recipes(recipe, "single", bundle=False) == (recipe,)
    # A target far above any tree: one run, and it is the single layer (a file ends a run
    # with probability tar_bytes / target, here below 2**-40).
    assert split_recipe(recipe, LayeringRule(target=1 << 62)) == (recipe,)
    assert split_recipe(LayerRecipe(members=())) == (LayerRecipe(members=()),)


# ---------------------------------------------------------------- determinism


@given(files=FILES, empty=EMPTY_DIRS, target=TARGETS, data=st.data())
def test_layers_ignore_the_listing_order(
    files: Files, empty: list[str], target: int, data: st.DataObject
) -> None:
    tree = _tree(files, empty)
    shuffled = InputTree(
        given=tree.given,
        abs_path=tree.abs_path,
        is_dir=True,
        entries=tuple(data.draw(st.permutations(tree.entries))),
    )
    assert _layers(shuffled, target) == _layers(tree, target)


def _layer_headers(files: Files, empty: list[str], target: int) -> list[list[bytes]]:
    layers = _layers(_tree(files, empty), target)
    return [[member.header for member in layer.members] for layer in layers]


@FRESH_INTERPRETER_SETTINGS
@given(st.lists(st.tuples(FILES, EMPTY_DIRS, TARGETS), min_size=8, max_size=8))
def test_layers_are_the_same_in_another_interpreter(
    cases: list[tuple[Files, list[str], int]],
) -> None:
    assert_same_in_fresh_interpreters(_layer_headers, cases)


def _write(root: Path, files: dict[str, bytes], order: list[str]) -> None:
    root.mkdir()
    for path in order:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[path])
        target.chmod(0o644)


def _digests(root: Path, target: int) -> tuple[str, ...]:
    inputs = unsafe_perform_io(observe_inputs([str(root)]).unwrap())
    recipe = plan_layer(inputs).unwrap()
    recipes = layer_recipes(recipe, "auto", bundle=False, target=target)
    blobs = unsafe_perform_io(build_layers(recipes, inputs, MemoryStore()).unwrap())
    return tuple(f"{blob.diff_id} {blob.digest}" for blob in blobs)


@settings(max_examples=15)
@given(
    files=st.dictionaries(PATH, st.binary(max_size=6000), min_size=1, max_size=12),
    data=st.data(),
)
def test_layer_digests_ignore_the_creation_order_on_disk(
    files: dict[str, bytes], data: st.DataObject
) -> None:
    """Two copies of one tree, created in different orders (so listed differently)."""
    with tempfile.TemporaryDirectory() as work:
        first, second = Path(work, "a"), Path(work, "b")
        _write(first, files, sorted(files))
        _write(second, files, data.draw(st.permutations(sorted(files))))
        assert _digests(first, 4096) == _digests(second, 4096)


# ---------------------------------------------------------------- locality


@st.composite
def edits(draw: st.DrawFn, files: Files) -> Files:
    """``files`` after one edit: a content change, a resize, a removal or an addition."""
    kinds = ["add"] + (["content", "resize", "remove"] if files else [])
    kind = draw(st.sampled_from(kinds))
    edited = dict(files)
    if kind == "add":
        path = draw(PATH.filter(lambda p: p not in files))
        # A new path below an existing file name would not be a tree; skip it.
        prefixes = {"/".join(path.split("/")[:d]) for d in range(1, path.count("/") + 1)}
        if prefixes & set(files):
            return edited
        edited[path] = (draw(SIZE), 0)
        return edited
    path = draw(st.sampled_from(sorted(files)))
    size, version = files[path]
    if kind == "content":
        edited[path] = (size, version + 1)
    elif kind == "resize":
        edited[path] = (draw(SIZE), version + 1)
    else:
        del edited[path]
    return edited


@given(files=FILES, empty=EMPTY_DIRS, target=TARGETS, data=st.data())
def test_one_file_changes_at_most_two_layers(
    files: Files, empty: list[str], target: int, data: st.DataObject
) -> None:
    edited = data.draw(edits(files))
    before = {_identity(layer, files) for layer in _layers(_tree(files, empty), target)}
    after = {_identity(layer, edited) for layer in _layers(_tree(edited, empty), target)}
    assert len(after - before) <= 2, "new layers"
    assert len(before - after) <= 2, "layers gone"


@settings(max_examples=30)
@given(data=st.data())
def test_many_files_one_change_keeps_most_layers(data: st.DataObject) -> None:
    """A tree of 300 files in 32 layers: one edit still moves at most two."""
    files = {f"d{i % 7}/d{i % 3}/f{i}": (1000 + (i * 7919) % 9000, 0) for i in range(300)}
    before_layers = _layers(_tree(files, []), 65_536)
    assert len(before_layers) > 20
    edited = data.draw(edits(files))
    before = {_identity(layer, files) for layer in before_layers}
    after = {_identity(layer, edited) for layer in _layers(_tree(edited, []), 65_536)}
    assert len(after - before) <= 2
    assert len(before - after) <= 2
