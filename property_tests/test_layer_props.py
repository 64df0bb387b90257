"""Laws of the push layer recipe.

* The recipe depends only on names, kinds, owner bits (or preserved modes),
  sizes and contents: not on the order a directory lists its entries, nor on
  mtimes, owners, umask or group/other bits (imgpkg-reference §3.4).
* Planning is deterministic: the same in another interpreter (hash seed, environment),
  whatever the order of the exclusions.
* Every header ``encode_header`` writes reads back through Python's
  ``tarfile`` with the same name, type, mode and size, whatever the format
  Go would pick (USTAR, PAX or GNU).
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.layer import (
    END_OF_ARCHIVE,
    TYPE_DIR,
    TYPE_REG,
    EntryKind,
    FileEntry,
    InputTree,
    LayerOptions,
    encode_header,
    go_file_mode,
    plan_layer,
    tar_size,
)
from imgpkg_pure.store.files.tree import observe_inputs, write_layer_tar
from property_tests.fresh_interpreter import (
    FRESH_INTERPRETER_SETTINGS,
    assert_same_in_fresh_interpreters,
)

# A tree is a dict: name -> bytes (a file with that content) or a dict (a directory).
Tree = dict[str, "bytes | Tree"]

NAME = st.text(alphabet="aAbB._-é0", min_size=1, max_size=4).filter(lambda n: n not in (".", ".."))


def _trees(depth: int) -> st.SearchStrategy[Tree]:
    leaf = st.binary(max_size=600)
    child: st.SearchStrategy[bytes | Tree] = (
        leaf if depth == 0 else st.one_of(leaf, _trees(depth - 1))
    )
    return st.dictionaries(NAME, child, max_size=4)


TREES = _trees(2)


def _flatten(tree: Tree, prefix: str = "") -> Iterator[tuple[str, bytes | None]]:
    for name, node in tree.items():
        rel = f"{prefix}{name}"
        if isinstance(node, bytes):
            yield rel, node
        else:
            yield rel, None
            yield from _flatten(node, f"{rel}/")


@st.composite
def input_trees(draw: st.DrawFn) -> InputTree:
    """A directory input with random entries, modes and sizes, listed in a random order."""
    tree = draw(TREES)
    entries = [FileEntry(rel=".", kind=EntryKind.DIR, mode=draw(st.integers(0, 0o7777)), size=0)]
    for rel, content in _flatten(tree):
        mode = draw(st.integers(0, 0o7777))
        if content is None:
            entries.append(FileEntry(rel=rel, kind=EntryKind.DIR, mode=mode, size=0))
        else:
            entries.append(FileEntry(rel=rel, kind=EntryKind.FILE, mode=mode, size=len(content)))
    return InputTree(given="in", abs_path="/work/in", is_dir=True, entries=tuple(entries))


OPTIONS = st.builds(
    LayerOptions,
    exclusions=st.lists(NAME, max_size=2).map(tuple),
    preserve_permissions=st.booleans(),
)


@given(tree=input_trees(), options=OPTIONS, data=st.data())
def test_recipe_ignores_listing_order(
    tree: InputTree, options: LayerOptions, data: st.DataObject
) -> None:
    shuffled = InputTree(
        given=tree.given,
        abs_path=tree.abs_path,
        is_dir=True,
        entries=tuple(data.draw(st.permutations(tree.entries))),
    )
    assert plan_layer((shuffled,), options) == plan_layer((tree,), options)


@given(tree=input_trees(), options=OPTIONS, data=st.data())
def test_recipe_ignores_exclusion_order_and_is_block_aligned(
    tree: InputTree, options: LayerOptions, data: st.DataObject
) -> None:
    """Exclusions given in another order, or twice, make the same recipe."""
    names = [entry.rel for entry in tree.entries if entry.rel != "."]
    present = data.draw(st.lists(st.sampled_from(names), max_size=3)) if names else []
    chosen = LayerOptions(
        exclusions=(*options.exclusions, *present),
        preserve_permissions=options.preserve_permissions,
    )
    first = plan_layer((tree,), chosen).unwrap()
    exclusions = data.draw(st.permutations(chosen.exclusions + chosen.exclusions))
    other = LayerOptions(
        exclusions=tuple(exclusions), preserve_permissions=options.preserve_permissions
    )
    assert plan_layer((tree,), other).unwrap() == first
    assert all(len(member.header) % 512 == 0 for member in first.members)
    assert tar_size(first) % 512 == 0


def _recipe(tree: InputTree, options: LayerOptions) -> object:
    return plan_layer((tree,), options).unwrap()


@FRESH_INTERPRETER_SETTINGS
@given(st.lists(st.tuples(input_trees(), OPTIONS), min_size=10, max_size=10))
def test_recipe_is_the_same_in_another_interpreter(
    cases: list[tuple[InputTree, LayerOptions]],
) -> None:
    """Another hash seed, environment, locale and time zone give the same recipe."""
    assert_same_in_fresh_interpreters(_recipe, cases)


@given(tree=input_trees(), options=OPTIONS)
def test_default_headers_ignore_group_and_other_bits(
    tree: InputTree, options: LayerOptions
) -> None:
    def widened(entry: FileEntry) -> FileEntry:
        return FileEntry(rel=entry.rel, kind=entry.kind, mode=entry.mode | 0o077, size=entry.size)

    other = InputTree(
        given=tree.given,
        abs_path=tree.abs_path,
        is_dir=True,
        entries=tuple(widened(entry) for entry in tree.entries),
    )
    default = LayerOptions(exclusions=options.exclusions)
    assert plan_layer((other,), default) == plan_layer((tree,), default)


# ---------------------------------------------------------------- on disk


def _materialise(root: Path, tree: Tree, draw_meta: st.DataObject, umask: int) -> None:
    old = os.umask(umask)
    try:
        root.mkdir()
        for rel, content in _flatten(tree):
            target = root / rel
            if content is None:
                target.mkdir()
            else:
                target.write_bytes(content)
    finally:
        os.umask(old)
    for rel, _content in [(".", None), *_flatten(tree)]:
        target = root / rel
        if target.is_file():
            # Same owner bits in every build; group/other bits vary.
            owner = 0o600 if len(rel) % 2 else 0o700
            target.chmod(owner | draw_meta.draw(st.integers(0, 0o077)))
        moment = draw_meta.draw(st.integers(0, 2**31 - 1))
        os.utime(target, (moment, moment), follow_symlinks=False)
        if os.geteuid() == 0:
            uid = draw_meta.draw(st.integers(0, 65000))
            os.chown(target, uid, uid, follow_symlinks=False)


def _diff_id(root: Path) -> str:
    inputs = unsafe_perform_io(observe_inputs([str(root)]).unwrap())
    recipe = plan_layer(inputs).unwrap()
    digest = hashlib.sha256()
    unsafe_perform_io(write_layer_tar(recipe, inputs, digest.update).unwrap())
    return digest.hexdigest()


@settings(max_examples=30)
@given(
    tree=TREES,
    umasks=st.tuples(*[st.sampled_from([0o000, 0o022, 0o027, 0o077])] * 2),
    data=st.data(),
)
def test_layer_digest_ignores_mtimes_owners_and_umask(
    tree: Tree, umasks: tuple[int, int], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        first, second = Path(scratch) / "first", Path(scratch) / "second"
        _materialise(first, tree, data, umasks[0])
        _materialise(second, tree, data, umasks[1])
        assert _diff_id(first) == _diff_id(second)


# ---------------------------------------------------------------- header round trip

COMPONENT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="/\0"),
    min_size=1,
    max_size=70,
).filter(lambda n: n not in (".", ".."))


@given(
    parts=st.lists(COMPONENT, min_size=1, max_size=5),
    is_dir=st.booleans(),
    size=st.integers(0, 1500),
    posix_mode=st.integers(0, 0o7777),
    go_bits=st.booleans(),
)
def test_headers_read_back_through_tarfile(
    parts: list[str], is_dir: bool, size: int, posix_mode: int, go_bits: bool
) -> None:
    name = "/".join(parts)
    mode = go_file_mode(posix_mode, is_dir=is_dir) if go_bits else posix_mode & 0o777
    size = 0 if is_dir else size
    header = encode_header(name, mode=mode, size=size, typeflag=TYPE_DIR if is_dir else TYPE_REG)
    content = bytes(index % 251 for index in range(size))
    blob = header + content + b"\0" * (-size % 512) + END_OF_ARCHIVE
    with tarfile.open(fileobj=io.BytesIO(blob)) as archive:
        (member,) = archive.getmembers()
        assert member.name == name
        assert member.mode == mode
        assert member.size == size
        assert member.type == (tarfile.DIRTYPE if is_dir else tarfile.REGTYPE)
        assert (member.uid, member.gid, member.mtime) == (0, 0, 0)
        assert (member.uname, member.gname) == ("", "")
        if not is_dir:
            handle = archive.extractfile(member)
            assert handle is not None
            assert handle.read() == content


@given(size=st.integers(0, 1 << 40), name=COMPONENT)
def test_large_sizes_read_back(size: int, name: str) -> None:
    header = encode_header(name, mode=0o644, size=size, typeflag=TYPE_REG)
    member = tarfile.TarFile(fileobj=io.BytesIO(header + END_OF_ARCHIVE)).next()
    assert member is not None
    assert (member.name, member.size) == (name, size)
