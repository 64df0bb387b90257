"""Properties of extraction (``docs/formats/extraction.md``).

* ``classify_entry`` never yields a path outside the output directory, and its
  name normalisation is exactly ``posixpath.normpath`` restricted to names that
  stay inside (hostile names included).
* The pure model (``flatten_layers``) agrees with an independent, declarative
  definition of OCI layer application for well-formed changesets (whiteouts and
  opaque directories apply first; entry order within a layer does not matter).
* Extracting real tar layers (adds, overwrites, whiteouts, opaque directories,
  hard links, skipped symlinks and fifos, in any order) builds exactly the
  model's tree on disk: paths, kinds, contents and modes.
* Extraction is deterministic: the same layers give the same tree, into a new
  directory or over a previous output.
"""

from __future__ import annotations

import gzip
import io
import os
import posixpath
import stat
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from attrs import frozen
from hypothesis import given, settings
from hypothesis import strategies as st
from returns.io import IOFailure
from returns.result import Failure, Success
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import Digest
from imgpkg_pure.extract import (
    EntryAction,
    EntryRef,
    FinalTree,
    HardLink,
    MakeDir,
    ModeRule,
    NodeKind,
    OpaqueDir,
    Skip,
    Whiteout,
    WriteFile,
    classify_entry,
    dir_mode,
    file_mode,
    flatten_layers,
    join_path,
    normalize_name,
    parent_path,
)
from imgpkg_pure.media_types import OCI_LAYER_GZIP
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.store.apply.extract import ExtractReport, extract_image
from imgpkg_pure.store.content.memory import MemoryStore

LAYER: Final = Digest("sha256", "cd" * 32)

# --- classification of hostile names ------------------------------------------------------

_COMPONENTS = st.sampled_from(
    [
        "a",
        "b",
        "..",
        ".",
        "",
        ".wh.a",
        ".wh.",
        ".wh..",
        ".wh...",
        ".wh..wh..opq",
        ".wh..wh.plnk",
        "x\\y",
        "n\x00",
        "é",
        " ",
        "\n",
    ]
) | st.text(max_size=4)
names = st.builds(
    lambda prefix, parts: prefix + "/".join(parts),
    st.sampled_from(["", "", "/", "./", "../", "//"]),
    st.lists(_COMPONENTS, max_size=6),
)
typeflags = st.sampled_from([b"0", b"\x00", b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"S", b"V"])


def _inside(path: str) -> bool:
    if not path:
        return True
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts) or "\\" in path or "\x00" in path:
        return False
    return posixpath.normpath(posixpath.join("/root", path)).startswith("/root/")


def _paths(action: EntryAction) -> list[str]:
    match action:
        case HardLink():
            return [action.path, action.target]
        case MakeDir() | WriteFile() | Whiteout() | OpaqueDir() | Skip():
            return [action.path]


@given(name=names, linkname=names, typeflag=typeflags, mode=st.integers(0, 0o7777))
def test_classify_never_leaves_the_output(
    name: str, linkname: str, typeflag: bytes, mode: int
) -> None:
    result = classify_entry(LAYER, name, typeflag=typeflag, linkname=linkname, mode=mode)
    match result:
        case Success(action):
            for path in _paths(action):
                assert _inside(path), (name, action)
            if isinstance(action, Whiteout | HardLink | WriteFile):
                assert action.path, "only directories may name the output directory itself"
            if isinstance(action, HardLink):
                assert action.target
        case Failure(error):
            assert error.name == name
            assert str(LAYER) in error.message
            assert "\n" not in error.message


@given(name=names)
def test_normalisation_is_normpath_inside_the_output(name: str) -> None:
    result = normalize_name(name)
    plain = name and not name.startswith("/") and "\\" not in name and "\x00" not in name
    if not plain:
        assert isinstance(result, Failure)
        return
    normal = posixpath.normpath(name)
    if normal == ".." or normal.startswith("../"):
        assert isinstance(result, Failure)
    else:
        assert result == Success("" if normal == "." else normal)


# --- an independent model of OCI layer application ---------------------------------------------

_NAMES = ("a", "b", "c")
paths = st.lists(st.sampled_from(_NAMES), min_size=1, max_size=3).map("/".join)
dir_modes = st.sampled_from([0o755, 0o700, 0o750, 0o555, 0o500, 0o2775])
file_modes = st.sampled_from([0o644, 0o600, 0o755, 0o700, 0o400, 0o640, 0o4755])

_actions = st.one_of(
    st.builds(MakeDir, path=paths | st.just(""), mode=dir_modes, mtime=st.just(0)),
    st.builds(WriteFile, path=paths, mode=file_modes, size=st.just(0), mtime=st.just(0)),
    st.builds(Whiteout, path=paths),
    st.builds(OpaqueDir, path=paths | st.just("")),
)

Node = tuple[NodeKind, int | None, EntryRef | None]


def _chain(path: str) -> list[str]:
    """``path`` and its ancestors, the root excluded, outermost first."""
    parts = path.split("/") if path else []
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _implied_dirs(action: EntryAction) -> list[str]:
    match action:
        case OpaqueDir():
            return _chain(action.path)
        case MakeDir() | WriteFile() | Whiteout() | HardLink() | Skip():
            return _chain(parent_path(action.path))


def well_formed(layer: Sequence[EntryAction]) -> list[EntryAction]:
    """Drop entries so that no path is given twice and nothing is put under a file."""
    kept: list[EntryAction] = []
    given_paths: set[str] = set()
    for action in layer:
        if isinstance(action, MakeDir | WriteFile):
            if action.path in given_paths:
                continue
            given_paths.add(action.path)
        kept.append(action)
    files = {a.path for a in kept if isinstance(a, WriteFile)}
    return [a for a in kept if not files.intersection(_implied_dirs(a))]


def oracle(layers: list[list[EntryAction]]) -> dict[str, Node]:
    """Apply well-formed layers by definition: hide first, then add (image-spec layer.md)."""
    tree: dict[str, Node] = {}

    def remove(path: str, *, keep_self: bool = False) -> None:
        for key in [k for k in tree if k.startswith(path + "/") or (not path and k)]:
            del tree[key]
        if not keep_self:
            tree.pop(path, None)

    def ensure(path: str) -> None:
        for directory in _chain(path):
            node = tree.get(directory)
            if node is None or node[0] is NodeKind.FILE:
                tree[directory] = (NodeKind.DIR, None, None)

    for number, layer in enumerate(layers):
        for action in layer:
            if isinstance(action, Whiteout):
                remove(action.path)
            elif isinstance(action, OpaqueDir):
                remove(action.path, keep_self=True)
        for index, action in enumerate(layer):
            ref = EntryRef(layer=number, index=index)
            match action:
                case Whiteout() | OpaqueDir():
                    ensure(
                        parent_path(action.path) if isinstance(action, Whiteout) else action.path
                    )
                case MakeDir():
                    if not action.path:
                        continue
                    ensure(parent_path(action.path))
                    if tree.get(action.path, (NodeKind.FILE,))[0] is not NodeKind.DIR:
                        remove(action.path)
                    tree[action.path] = (NodeKind.DIR, action.mode, ref)
                case WriteFile():
                    ensure(parent_path(action.path))
                    remove(action.path)
                    tree[action.path] = (NodeKind.FILE, action.mode, ref)
                case HardLink() | Skip():
                    raise AssertionError("not generated for the oracle")
    return tree


def _as_nodes(tree: FinalTree) -> dict[str, Node]:
    return {node.path: (node.kind, node.mode, node.source) for node in tree.nodes}


layer_lists = st.lists(st.lists(_actions, max_size=10).map(well_formed), min_size=1, max_size=4)


@settings(max_examples=300)
@given(layers=layer_lists)
def test_model_agrees_with_the_definition(layers: list[list[EntryAction]]) -> None:
    assert _as_nodes(flatten_layers(layers)) == oracle(layers)


@settings(max_examples=200)
@given(layers=layer_lists, data=st.data())
def test_entry_order_within_a_layer_does_not_matter(
    layers: list[list[EntryAction]], data: st.DataObject
) -> None:
    shuffled = [data.draw(st.permutations(layer)) for layer in layers]

    def by_action(order: list[list[EntryAction]]) -> dict[str, tuple[object, ...]]:
        tree = flatten_layers(order)
        return {
            node.path: (
                node.kind,
                node.mode,
                None if node.source is None else order[node.source.layer][node.source.index],
            )
            for node in tree.nodes
        }

    assert by_action(shuffled) == by_action(layers)


# --- real tars on disk against the model ------------------------------------------------------


@frozen(kw_only=True)
class Gen:
    """A generated tar entry: ``kind`` is dir, file, whiteout, opaque, hardlink, symlink, fifo."""

    kind: str
    path: str
    mode: int = 0o644
    target: str = ""
    spelling: str = ""


_spellings = st.sampled_from(["", "", "./"])
_gen = st.one_of(
    st.builds(
        Gen, kind=st.just("dir"), path=paths | st.just("."), mode=dir_modes, spelling=_spellings
    ),
    st.builds(Gen, kind=st.just("file"), path=paths, mode=file_modes, spelling=_spellings),
    st.builds(Gen, kind=st.just("file"), path=paths, mode=file_modes, spelling=_spellings),
    st.builds(Gen, kind=st.just("whiteout"), path=paths, spelling=_spellings),
    st.builds(Gen, kind=st.just("opaque"), path=paths | st.just("")),
    st.builds(Gen, kind=st.just("hardlink"), path=paths, target=paths, spelling=_spellings),
    st.builds(
        Gen,
        kind=st.just("symlink"),
        path=paths,
        target=st.sampled_from(["/etc", "../../x", "a", "."]),
    ),
    st.builds(Gen, kind=st.just("fifo"), path=paths),
)
gen_layers = st.lists(st.lists(_gen, max_size=9), min_size=1, max_size=4)


def _content(number: int, index: int) -> bytes:
    return f"layer {number} entry {index}\n".encode() * (1 + (number + index) % 3)


def _tar(number: int, layer: list[Gen]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for index, gen in enumerate(layer):
            match gen.kind:
                case "whiteout":
                    name = join_path(parent_path(gen.path), ".wh." + gen.path.rpartition("/")[2])
                case "opaque":
                    name = join_path(gen.path, ".wh..wh..opq")
                case _:
                    name = gen.path
            info = tarfile.TarInfo(gen.spelling + name)
            info.mode = gen.mode
            info.mtime = 1_600_000_000 + index
            data = b""
            match gen.kind:
                case "dir":
                    info.type = tarfile.DIRTYPE
                case "file":
                    data = _content(number, index)
                case "hardlink":
                    info.type = tarfile.LNKTYPE
                    info.linkname = gen.spelling + gen.target
                case "symlink":
                    info.type = tarfile.SYMTYPE
                    info.linkname = gen.target
                case "fifo":
                    info.type = tarfile.FIFOTYPE
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data else None)
    return buffer.getvalue()


def _model(tars: list[bytes]) -> FinalTree:
    """What the layers should extract to: their entries, classified, through the pure model."""
    layers: list[list[EntryAction]] = []
    for blob in tars:
        with tarfile.open(fileobj=io.BytesIO(blob)) as archive:
            layers.append(
                [
                    classify_entry(
                        LAYER,
                        member.name,
                        typeflag=member.type,
                        linkname=member.linkname,
                        mode=member.mode,
                        size=member.size,
                        mtime=int(member.mtime),
                    ).unwrap()
                    for member in archive
                ]
            )
    return flatten_layers(layers)


Snapshot = dict[str, tuple[str, int, bytes]]


def _snapshot(root: Path) -> Snapshot:
    found: Snapshot = {}
    for directory, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(directory) / name
            info = path.lstat()
            rel = path.relative_to(root).as_posix()
            mode = stat.S_IMODE(info.st_mode)
            if stat.S_ISDIR(info.st_mode):
                found[rel] = ("dir", mode, b"")
            else:
                assert stat.S_ISREG(info.st_mode), f"{rel} is neither a file nor a directory"
                found[rel] = ("file", mode, path.read_bytes())
    return found


def _expected(tree: FinalTree, rule: ModeRule, umask: int) -> Snapshot:
    expected: Snapshot = {}
    for node in tree.nodes:
        if node.kind is NodeKind.DIR:
            expected[node.path] = ("dir", dir_mode(node.mode, rule, umask), b"")
        else:
            assert node.mode is not None
            assert node.source is not None
            content = _content(node.source.layer, node.source.index)
            expected[node.path] = ("file", file_mode(node.mode, rule, umask), content)
    return expected


def _extract(
    store: MemoryStore, layers: list[Descriptor], out: Path, rule: ModeRule, umask: int
) -> ExtractReport:
    result = extract_image(
        layers, store, out, cwd=out.parent, home=out.parent / "home", modes=rule, umask=umask
    )
    assert not isinstance(result, IOFailure), unsafe_perform_io(result.failure()).message
    report: ExtractReport = unsafe_perform_io(result.unwrap())
    return report


def _store(tars: list[bytes]) -> tuple[MemoryStore, list[Descriptor]]:
    store = MemoryStore()
    descriptors = []
    for blob in (gzip.compress(tar, 1, mtime=0) for tar in tars):
        digest = unsafe_perform_io(store.put_bytes(blob).unwrap())
        descriptors.append(Descriptor(media_type=OCI_LAYER_GZIP, digest=digest, size=len(blob)))
    return store, descriptors


@settings(max_examples=120)
@given(
    layers=gen_layers,
    rule=st.sampled_from(ModeRule),
    umask=st.sampled_from([0o022, 0o077, 0o002, 0o000]),
)
def test_extraction_builds_the_model_tree(
    layers: list[list[Gen]], rule: ModeRule, umask: int
) -> None:
    tars = [_tar(number, layer) for number, layer in enumerate(layers)]
    model = _model(tars)
    store, descriptors = _store(tars)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        report = _extract(store, descriptors, out, rule, umask)
        assert _snapshot(out) == _expected(model, rule, umask)
        assert report.tree == model
        skips = sum(1 for layer in layers for gen in layer if gen.kind in ("symlink", "fifo"))
        assert len(report.skipped) >= skips
        assert sorted(os.listdir(tmp)) == ["out"]


@settings(max_examples=40)
@given(layers=gen_layers)
def test_extraction_is_deterministic(layers: list[list[Gen]]) -> None:
    tars = [_tar(number, layer) for number, layer in enumerate(layers)]
    store, descriptors = _store(tars)
    with tempfile.TemporaryDirectory() as tmp:
        first = _extract(store, descriptors, Path(tmp) / "one", ModeRule.IMGPKG, 0o022)
        second = _extract(store, descriptors, Path(tmp) / "two", ModeRule.IMGPKG, 0o022)
        once = _snapshot(Path(tmp) / "one")
        assert _snapshot(Path(tmp) / "two") == once
        again = _extract(store, descriptors, Path(tmp) / "one", ModeRule.IMGPKG, 0o022)
        assert again.replaced
        assert _snapshot(Path(tmp) / "one") == once
        assert first.tree == second.tree == again.tree
        assert first.skipped == second.skipped


# --- damaged layers ------------------------------------------------------------------------------

_SAMPLE: Final = _tar(
    0,
    [
        Gen(kind="dir", path="a", mode=0o755),
        Gen(kind="file", path="a/b", mode=0o644),
        Gen(kind="hardlink", path="c", target="a/b"),
        Gen(kind="whiteout", path="x"),
        Gen(kind="file", path="a/c/d", mode=0o600),
    ],
)


@settings(max_examples=150)
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(_SAMPLE) - 1), st.integers(0, 255)), min_size=1, max_size=8
    ),
    cut=st.none() | st.integers(0, len(_SAMPLE)),
    compressed=st.booleans(),
)
def test_damaged_layers_fail_cleanly(
    edits: list[tuple[int, int]], cut: int | None, compressed: bool
) -> None:
    damaged = bytearray(_SAMPLE)
    for offset, value in edits:
        damaged[offset] = value
    blob = bytes(damaged[:cut])
    if compressed:
        blob = gzip.compress(blob, 1, mtime=0)
    store = MemoryStore()
    digest = unsafe_perform_io(store.put_bytes(blob).unwrap())
    media_type = OCI_LAYER_GZIP if compressed else "application/vnd.oci.image.layer.v1.tar"
    layer = Descriptor(media_type=media_type, digest=digest, size=len(blob))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "out").mkdir()
        (root / "out" / "previous").write_bytes(b"kept")
        result = extract_image(
            [layer], store, root / "out", cwd=root, home=root / "home", umask=0o022
        )
        names = sorted(os.listdir(root))
        assert names == ["out"], names
        if isinstance(result, IOFailure):
            assert (root / "out" / "previous").read_bytes() == b"kept"
            message = unsafe_perform_io(result.failure()).message
            assert "\n" not in message
