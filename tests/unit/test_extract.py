"""Extraction of image layers into a directory: hostile layers, the ``-o`` checks, atomicity.

Layers are built here with Python's ``tarfile`` (gzip by the stdlib) and put in
a ``MemoryStore``.  Every hostile case checks three things: the error (or the
skip) names the layer and the entry, nothing outside the output directory
changed, and a previous output is left byte for byte as it was.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
import tracemalloc
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import pytest
from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure, Success
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import Digest, digest_of
from imgpkg_pure.errors import DigestMismatch, SizeMismatch
from imgpkg_pure.extract import (
    CreateDir,
    CreateFile,
    CreateHardLink,
    EntryAction,
    EntryRef,
    ExtractPlanner,
    HardLink,
    MakeDir,
    ModeRule,
    NodeKind,
    OpaqueDir,
    RemovePath,
    Skip,
    UnsafeEntry,
    UnsafeOutput,
    UnsupportedEntry,
    Whiteout,
    WriteFile,
    check_output_dir,
    classify_entry,
    dir_mode,
    file_mode,
    flatten_layers,
    normalize_name,
    root_mode,
)
from imgpkg_pure.media_types import DOCKER_LAYER_GZIP, OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.store.apply.extract import (
    CorruptLayer,
    ExtractError,
    ExtractReport,
    declared_compression,
    extract_image,
    resolve_output,
)
from imgpkg_pure.store.content.blobstore import CHUNK_SIZE
from imgpkg_pure.store.content.errors import BlobNotFound, StoreError
from imgpkg_pure.store.content.memory import MemoryStore

LAYER = Digest("sha256", "ab" * 32)
UMASK = 0o022


# --- building layers ------------------------------------------------------------------


@frozen(kw_only=True)
class Entry:
    """One tar entry to write: ``kind`` is file, dir, symlink, hardlink, fifo, chr, blk or raw."""

    name: str
    kind: str = "file"
    data: bytes = b""
    mode: int = 0o644
    linkname: str = ""
    mtime: int = 0
    typeflag: bytes = b""
    pax_path: str | None = None


_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "fifo": tarfile.FIFOTYPE,
    "chr": tarfile.CHRTYPE,
    "blk": tarfile.BLKTYPE,
}


def tar_bytes(entries: Sequence[Entry]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type = entry.typeflag or _TYPES[entry.kind]
            info.mode = entry.mode
            info.mtime = entry.mtime
            info.linkname = entry.linkname
            if entry.pax_path is not None:
                info.pax_headers = {"path": entry.pax_path}
            if entry.kind == "file" and not entry.typeflag:
                info.size = len(entry.data)
                archive.addfile(info, io.BytesIO(entry.data))
            else:
                archive.addfile(info)
    return buffer.getvalue()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def layer_of(
    store: MemoryStore, blob: bytes, media_type: str = OCI_LAYER_GZIP, *, size: int | None = None
) -> Descriptor:
    digest = unsafe_perform_io(store.put_bytes(blob).unwrap())
    return Descriptor(
        media_type=media_type, digest=digest, size=len(blob) if size is None else size
    )


def image(store: MemoryStore, *layers: Sequence[Entry]) -> list[Descriptor]:
    return [layer_of(store, gz(tar_bytes(entries))) for entries in layers]


def run(
    layers: Sequence[Descriptor],
    blobs: MemoryStore | FakeBlobs,
    out: Path,
    tmp_path: Path,
    *,
    modes: ModeRule = ModeRule.IMGPKG,
    umask: int = UMASK,
    cwd: Path | None = None,
    home: Path | None = None,
) -> IOResult[ExtractReport, ExtractError]:
    return extract_image(
        layers,
        blobs,
        out,
        cwd=cwd or tmp_path / "work",
        home=home or tmp_path / "home",
        modes=modes,
        umask=umask,
    )


def ok(result: IOResult[ExtractReport, ExtractError]) -> ExtractReport:
    if isinstance(result, IOFailure):
        pytest.fail(unsafe_perform_io(result.failure()).message)
    report: ExtractReport = unsafe_perform_io(result.unwrap())
    return report


def failed(result: IOResult[ExtractReport, ExtractError]) -> ExtractError:
    assert isinstance(result, IOFailure), "expected the extraction to fail"
    error: ExtractError = unsafe_perform_io(result.failure())
    return error


Snapshot = dict[str, tuple[str, int, bytes]]


def snapshot(root: Path) -> Snapshot:
    """Every path below ``root``: kind, mode and content (or link target); links not followed."""
    found: Snapshot = {}
    for directory, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(directory) / name
            info = path.lstat()
            rel = path.relative_to(root).as_posix()
            mode = stat.S_IMODE(info.st_mode)
            if stat.S_ISLNK(info.st_mode):
                found[rel] = ("symlink", mode, os.readlink(path).encode())
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = ("dir", mode, b"")
            elif stat.S_ISREG(info.st_mode):
                found[rel] = ("file", mode, path.read_bytes())
            else:
                found[rel] = ("other", mode, b"")
    return found


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """A sandbox: ``work`` (cwd), ``home``, an ``outside`` directory and a previous output."""
    for name in ("work", "home", "outside"):
        (tmp_path / name).mkdir()
    (tmp_path / "outside" / "keep.txt").write_bytes(b"outside\n")
    (tmp_path / "x").write_bytes(b"sibling\n")
    previous = tmp_path / "work" / "out"
    (previous / "sub").mkdir(parents=True)
    (previous / "old.txt").write_bytes(b"old output\n")
    (previous / "sub" / "deep.txt").write_bytes(b"deep\n")
    return tmp_path


# --- pure: names and entries --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("a", "a"),
        ("./a/b/", "a/b"),
        ("a//b/./c", "a/b/c"),
        ("a/../b", "b"),
        ("./././x", "x"),
        (".", ""),
        ("./", ""),
        ("a/..", ""),
        ("dir with space/é", "dir with space/é"),
    ],
)
def test_names_are_normalised(name: str, path: str) -> None:
    assert normalize_name(name) == Success(path)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../x", "climbs out"),
        ("a/../../x", "climbs out"),
        ("..", "climbs out"),
        ("./../x", "climbs out"),
        ("/etc/x", "absolute"),
        ("//x", "absolute"),
        ("a\\b", "backslash"),
        ("..\\..\\x", "backslash"),
        ("", "empty"),
        ("a\x00b", "NUL"),
    ],
)
def test_unsafe_names_are_refused(name: str, reason: str) -> None:
    for typeflag in (b"0", b"5", b"2", b"1", b"3"):
        result = classify_entry(LAYER, name, typeflag=typeflag, linkname="t")
        assert isinstance(result, Failure)
        error = result.failure()
        assert isinstance(error, UnsafeEntry)
        assert error.layer == LAYER
        assert error.name == name
        assert reason in error.reason
        assert str(LAYER) in error.message
        assert "\n" not in error.message


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside", "a/../../x", "x\\y", ".", ""])
def test_hard_links_out_of_the_output_are_refused(target: str) -> None:
    result = classify_entry(LAYER, "link", typeflag=b"1", linkname=target)
    assert isinstance(result, Failure)
    assert isinstance(result.failure(), UnsafeEntry)
    assert "hard link" in result.failure().message


def test_hard_link_inside_is_normalised() -> None:
    result = classify_entry(LAYER, "./b/link", typeflag=b"1", linkname="./a/../a/file")
    assert result == Success(HardLink(path="b/link", target="a/file"))


@pytest.mark.parametrize(
    ("name", "action"),
    [
        ("a/.wh.b", Whiteout(path="a/b")),
        (".wh.top", Whiteout(path="top")),
        ("./a/b/.wh.c.txt", Whiteout(path="a/b/c.txt")),
        ("a/.wh..wh..opq", OpaqueDir(path="a")),
        (".wh..wh..opq", OpaqueDir(path="")),
        (".wh..wh.plnk", Skip(path=".wh..wh.plnk", reason="AUFS whiteout metadata (ignored)")),
        (
            ".wh..wh.plnk/1234.56",
            Skip(path=".wh..wh.plnk/1234.56", reason="below a whiteout name (AUFS metadata)"),
        ),
        ("a/.wh.b/c", Skip(path="a/.wh.b/c", reason="below a whiteout name (AUFS metadata)")),
    ],
)
def test_whiteouts(name: str, action: object) -> None:
    assert classify_entry(LAYER, name, typeflag=b"0") == Success(action)


@pytest.mark.parametrize("name", ["../.wh.x", ".wh...", ".wh..", ".wh.", "a/.wh.", "/.wh.x"])
def test_whiteouts_aimed_outside_or_at_nothing_are_refused(name: str) -> None:
    result = classify_entry(LAYER, name, typeflag=b"0")
    assert isinstance(result, Failure)
    assert isinstance(result.failure(), UnsafeEntry)


def test_entry_types() -> None:
    def action(typeflag: bytes, name: str = "p", **kw: int | str) -> object:
        return classify_entry(LAYER, name, typeflag=typeflag, **kw).unwrap()  # type: ignore[arg-type]

    assert action(b"0", mode=0o100644, size=3, mtime=7) == WriteFile(
        path="p", mode=0o644, size=3, mtime=7
    )
    for regular in (b"\x00", b"7", b"S"):
        assert isinstance(action(regular), WriteFile)
    assert action(b"5", name="d/", mode=0o4755) == MakeDir(path="d", mode=0o4755, mtime=0)
    assert action(b"5", name=".") == MakeDir(path="", mode=0o644, mtime=0)
    for typeflag, word in ((b"2", "symbolic link"), (b"3", "character"), (b"4", "block")):
        skipped = action(typeflag, linkname="/etc")
        assert isinstance(skipped, Skip)
        assert word in skipped.reason
    assert isinstance(action(b"6"), Skip)
    unsupported = classify_entry(LAYER, "v", typeflag=b"V")
    assert unsupported == Failure(UnsupportedEntry(layer=LAYER, name="v", typeflag=b"V"))
    assert "unsupported type 'V'" in unsupported.failure().message


def test_a_file_cannot_be_the_output_directory() -> None:
    result = classify_entry(LAYER, "./", typeflag=b"0")
    assert isinstance(result, Failure)
    assert "output directory itself" in result.failure().message


def test_messages_stay_on_one_line() -> None:
    error = classify_entry(LAYER, "/a\nb", typeflag=b"0").failure()
    assert "\n" not in error.message
    assert "a\\nb" in error.message


# --- pure: modes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tar_mode", "imgpkg", "layer"),
    [
        (0o600, 0o644, 0o600),
        (0o700, 0o755, 0o700),
        (0o400, 0o444, 0o400),
        (0o644, 0o644, 0o644),
        (0o640, 0o640, 0o640),
        (0o4755, 0o755, 0o755),
        (0o000, 0o000, 0o000),
    ],
)
def test_file_modes(tar_mode: int, imgpkg: int, layer: int) -> None:
    assert file_mode(tar_mode, ModeRule.IMGPKG, UMASK) == imgpkg
    assert file_mode(tar_mode, ModeRule.LAYER, UMASK) == layer


def test_directory_modes_keep_owner_rwx() -> None:
    assert dir_mode(None, ModeRule.IMGPKG, UMASK) == 0o755
    assert dir_mode(None, ModeRule.LAYER, 0) == 0o777
    assert dir_mode(0o700, ModeRule.IMGPKG, UMASK) == 0o755
    assert dir_mode(0o700, ModeRule.LAYER, UMASK) == 0o700
    assert dir_mode(0o500, ModeRule.LAYER, UMASK) == 0o700
    assert dir_mode(0o555, ModeRule.IMGPKG, UMASK) == 0o755
    assert dir_mode(0o2775, ModeRule.LAYER, 0o002) == 0o775
    assert root_mode(0o027) == 0o750


# --- pure: -o checks ------------------------------------------------------------------------

CWD = PurePosixPath("/home/me/work")
HOME = PurePosixPath("/home/me")


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("/", "root directory"),
        ("/home/me/work", "current directory"),
        ("/home/me", "home directory"),
        ("/home", "contains the current directory"),
        ("relative", "absolute"),
    ],
)
def test_dangerous_outputs_are_refused(output: str, reason: str) -> None:
    result = check_output_dir(PurePosixPath(output), cwd=CWD, home=HOME)
    assert isinstance(result, Failure)
    assert reason in result.failure().message
    assert "Disallowed output directory" in result.failure().message


def test_an_ancestor_of_home_only_is_refused() -> None:
    result = check_output_dir(
        PurePosixPath("/users"), cwd=PurePosixPath("/srv/x"), home=PurePosixPath("/users/me")
    )
    assert "contains the home directory" in result.failure().message


@pytest.mark.parametrize("output", ["/home/me/work/out", "/home/me/other", "/tmp/out", "/home2"])
def test_other_outputs_are_allowed(output: str) -> None:
    assert check_output_dir(PurePosixPath(output), cwd=CWD, home=HOME) == Success(
        PurePosixPath(output)
    )


# --- pure: the planner -----------------------------------------------------------------------


def test_changeset_over_existing_paths() -> None:
    planner = ExtractPlanner()
    planner.begin_layer()
    assert planner.plan(WriteFile(path="a/b", mode=0o644, size=1, mtime=0)) == (
        CreateDir(path="a"),
        CreateFile(path="a/b", mode=0o644, size=1, mtime=0),
    )
    planner.begin_layer()
    # A directory over a file, a file under what was a file, a directory over a directory.
    assert planner.plan(MakeDir(path="a/b", mode=0o750, mtime=0)) == (
        RemovePath(path="a/b"),
        CreateDir(path="a/b"),
    )
    assert planner.plan(MakeDir(path="a", mode=0o700, mtime=0)) == ()
    assert planner.plan(WriteFile(path="a", mode=0o600, size=0, mtime=0)) == (
        RemovePath(path="a"),
        CreateFile(path="a", mode=0o600, size=0, mtime=0),
    )
    assert planner.plan(WriteFile(path="a/c", mode=0o600, size=0, mtime=0)) == (
        RemovePath(path="a"),
        CreateDir(path="a"),
        CreateFile(path="a/c", mode=0o600, size=0, mtime=0),
    )
    assert [(n.path, n.kind, n.mode) for n in planner.tree().nodes] == [
        ("a", NodeKind.DIR, None),
        ("a/c", NodeKind.FILE, 0o600),
    ]


def test_whiteouts_hide_lower_layers_only() -> None:
    def f(path: str) -> WriteFile:
        return WriteFile(path=path, mode=0o644, size=0, mtime=0)

    lower = [f("keep"), f("gone"), f("d/old"), f("d/sub/old")]
    upper: list[EntryAction] = [
        Whiteout(path="gone"),
        f("new"),
        Whiteout(path="new"),
        OpaqueDir(path="d"),
        f("d/n"),
    ]
    tree = flatten_layers([lower, upper]).as_dict()
    assert sorted(tree) == ["d", "d/n", "keep", "new"]
    assert tree["new"].source == EntryRef(layer=1, index=1)


def test_opaque_example_of_the_spec_in_either_order() -> None:
    # image-spec layer.md, "Whiteouts": the opaque marker applies first, wherever it is.
    base: list[EntryAction] = [
        MakeDir(path="a", mode=0o755, mtime=0),
        MakeDir(path="a/b", mode=0o755, mtime=0),
        MakeDir(path="a/b/c", mode=0o755, mtime=0),
        WriteFile(path="a/b/c/bar", mode=0o644, size=0, mtime=0),
    ]
    changes: list[EntryAction] = [
        MakeDir(path="a", mode=0o755, mtime=0),
        MakeDir(path="a/b", mode=0o755, mtime=0),
        MakeDir(path="a/b/c", mode=0o755, mtime=0),
        WriteFile(path="a/b/c/foo", mode=0o644, size=0, mtime=0),
    ]
    first = flatten_layers([base, [OpaqueDir(path="a"), *changes]])
    last = flatten_layers([base, [*changes, OpaqueDir(path="a")]])
    assert [n.path for n in first.nodes] == ["a", "a/b", "a/b/c", "a/b/c/foo"]
    assert [(n.path, n.kind, n.mode) for n in first.nodes] == [
        (n.path, n.kind, n.mode) for n in last.nodes
    ]


def test_hard_links_need_an_extracted_file() -> None:
    planner = ExtractPlanner()
    planner.begin_layer()
    planner.plan(WriteFile(path="f", mode=0o600, size=2, mtime=5))
    planner.plan(MakeDir(path="d", mode=0o755, mtime=0))
    assert planner.plan(HardLink(path="l", target="f")) == (CreateHardLink(path="l", target="f"),)
    for path, target in (("x", "missing"), ("y", "d"), ("f", "f"), ("f/z", "f")):
        skipped = planner.plan(HardLink(path=path, target=target))
        assert isinstance(skipped, Skip), (path, target)
    link = planner.tree().as_dict()["l"]
    assert (link.kind, link.mode, link.size, link.source) == (
        NodeKind.FILE,
        0o600,
        2,
        EntryRef(layer=0, index=0),
    )


def test_the_planner_needs_a_layer() -> None:
    with pytest.raises(ValueError, match="begin_layer"):
        ExtractPlanner().plan(Skip(path="x", reason="r"))


# --- the shell: a normal extraction -------------------------------------------------------


def test_layers_apply_bottom_up_with_whiteouts(world: Path) -> None:
    store = MemoryStore()
    layers = image(
        store,
        [
            Entry(name="etc/", kind="dir", mode=0o755),
            Entry(name="etc/motd", data=b"base\n", mtime=1_700_000_000),
            Entry(name="same.txt", data=b"bottom\n"),
            Entry(name="gone.txt", data=b"x"),
            Entry(name="opq/lower.txt", data=b"lower"),
        ],
        [
            Entry(name="same.txt", data=b"top\n", mode=0o600),
            Entry(name=".wh.gone.txt"),
            Entry(name="opq/.wh..wh..opq"),
            Entry(name="opq/upper.txt", data=b"upper"),
            Entry(name="empty/", kind="dir", mode=0o700),
        ],
    )
    seen: list[tuple[int, int, Digest]] = []
    report = ok(
        extract_image(
            layers,
            store,
            world / "new",
            cwd=world / "work",
            home=world / "home",
            umask=UMASK,
            on_layer=lambda n, total, d: seen.append((n, total, d.digest)),
        )
    )
    assert seen == [(1, 2, layers[0].digest), (2, 2, layers[1].digest)]
    assert snapshot(world / "new") == {
        "empty": ("dir", 0o755, b""),
        "etc": ("dir", 0o755, b""),
        "etc/motd": ("file", 0o644, b"base\n"),
        "opq": ("dir", 0o755, b""),
        "opq/upper.txt": ("file", 0o644, b"upper"),
        "same.txt": ("file", 0o644, b"top\n"),
    }
    assert stat.S_IMODE((world / "new").stat().st_mode) == 0o755
    assert (world / "new" / "etc" / "motd").stat().st_mtime == 1_700_000_000
    assert report.output == str(world / "new")
    assert not report.replaced
    assert [layer.entries for layer in report.layers] == [5, 5]
    assert report.layers[0].bytes_written == len(b"base\nbottom\nxlower")
    assert {n.path for n in report.tree.nodes} == set(snapshot(world / "new"))


def test_relative_output_resolves_against_cwd_and_missing_parents_are_made(world: Path) -> None:
    store = MemoryStore()
    layers = image(store, [Entry(name="f", data=b"1")])
    ok(run(layers, store, Path("a/b/../c"), world))
    assert (world / "work" / "a" / "c" / "f").read_bytes() == b"1"


def test_symlinks_devices_and_fifos_are_skipped(world: Path) -> None:
    store = MemoryStore()
    layers = image(
        store,
        [
            Entry(name="link", kind="symlink", linkname=str(world / "outside")),
            Entry(name="link/evil", data=b"evil"),
            Entry(name="rel", kind="symlink", linkname="link"),
            Entry(name="fifo", kind="fifo"),
            Entry(name="null", kind="chr"),
            Entry(name="disk", kind="blk"),
        ],
    )
    before = snapshot(world / "outside")
    report = ok(run(layers, store, world / "new", world))
    assert snapshot(world / "outside") == before
    assert snapshot(world / "new") == {
        "link": ("dir", 0o755, b""),
        "link/evil": ("file", 0o644, b"evil"),
    }
    assert [(s.name, s.layer) for s in report.skipped] == [
        ("link", layers[0].digest),
        ("rel", layers[0].digest),
        ("fifo", layers[0].digest),
        ("null", layers[0].digest),
        ("disk", layers[0].digest),
    ]
    assert "symbolic link" in report.skipped[0].message
    assert str(layers[0].digest) in report.skipped[0].message


def test_hard_links_inside_the_output(world: Path) -> None:
    store = MemoryStore()
    layers = image(
        store,
        [
            Entry(name="a/file", data=b"one", mode=0o600),
            Entry(name="b/link", kind="hardlink", linkname="a/file"),
            Entry(name="dangling", kind="hardlink", linkname="nope"),
            Entry(name="to-dir", kind="hardlink", linkname="a"),
        ],
        [Entry(name="a/file", data=b"two")],
    )
    report = ok(run(layers, store, world / "new", world))
    assert (world / "new" / "b" / "link").read_bytes() == b"one"
    assert (world / "new" / "a" / "file").read_bytes() == b"two"
    assert sorted(s.name for s in report.skipped) == ["dangling", "to-dir"]


def test_hard_link_shares_the_file(world: Path) -> None:
    store = MemoryStore()
    layers = image(
        store, [Entry(name="f", data=b"x"), Entry(name="g", kind="hardlink", linkname="f")]
    )
    ok(run(layers, store, world / "new", world))
    assert (world / "new" / "f").stat().st_ino == (world / "new" / "g").stat().st_ino


def test_modes_follow_the_rule_and_umask(world: Path) -> None:
    store = MemoryStore()
    entries = [
        Entry(name="ro/", kind="dir", mode=0o500),
        Entry(name="ro/f", data=b"f", mode=0o400),
        Entry(name="x", data=b"#!", mode=0o700),
        Entry(name="suid", data=b"s", mode=0o4755),
        Entry(name="g", data=b"g", mode=0o640),
    ]
    layers = image(store, entries)
    ok(run(layers, store, world / "imgpkg", world, umask=0o027))
    assert snapshot(world / "imgpkg") == {
        "ro": ("dir", 0o750, b""),
        "ro/f": ("file", 0o440, b"f"),
        "x": ("file", 0o750, b"#!"),
        "suid": ("file", 0o750, b"s"),
        "g": ("file", 0o640, b"g"),
    }
    ok(run(layers, store, world / "layer", world, modes=ModeRule.LAYER, umask=0o022))
    assert snapshot(world / "layer") == {
        "ro": ("dir", 0o700, b""),
        "ro/f": ("file", 0o400, b"f"),
        "x": ("file", 0o700, b"#!"),
        "suid": ("file", 0o755, b"s"),
        "g": ("file", 0o640, b"g"),
    }


def test_media_types(world: Path) -> None:
    store = MemoryStore()
    tar = tar_bytes([Entry(name="f", data=b"plain")])
    plain = layer_of(store, tar, OCI_LAYER)
    docker = layer_of(store, gz(tar_bytes([Entry(name="g", data=b"gz")])), DOCKER_LAYER_GZIP)
    sniffed = layer_of(store, gz(tar_bytes([Entry(name="h", data=b"?")])), "application/x-odd")
    empty = layer_of(store, b"", OCI_LAYER)
    empty_gz = layer_of(store, gz(b""), OCI_LAYER_GZIP)
    zeros = layer_of(store, b"\0" * 1024, OCI_LAYER)
    ok(run([plain, docker, sniffed, empty, empty_gz, zeros], store, world / "new", world))
    assert sorted(snapshot(world / "new")) == ["f", "g", "h"]
    assert declared_compression("application/vnd.oci.image.layer.v1.tar+zstd") == "zstd"


def _peak_memory(world: Path, size: int, name: str) -> int:
    """The peak of traced allocations while extracting one ``size``-byte file."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("big")
        info.size = size
        archive.addfile(info, io.BytesIO(bytes(size)))
    store = MemoryStore()
    layers = [layer_of(store, gzip.compress(buffer.getvalue(), 1, mtime=0))]
    del buffer
    tracemalloc.start()
    try:
        report = ok(run(layers, store, world / name, world))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.layers[0].bytes_written == size
    assert (world / name / "big").stat().st_size == size
    return peak


def test_memory_does_not_grow_with_the_file(world: Path) -> None:
    small = _peak_memory(world, 3 * CHUNK_SIZE, "small")
    large = _peak_memory(world, 40 * CHUNK_SIZE + 123, "large")
    assert large < small + CHUNK_SIZE // 2, f"peak {large} bytes vs {small} for a small file"
    assert large < 16 * CHUNK_SIZE


# --- the shell: hostile layers ------------------------------------------------------------


def refused(world: Path, *layers: Sequence[Entry]) -> ExtractError:
    """Extract over the previous output; check it failed and changed nothing anywhere."""
    store = MemoryStore()
    descriptors = image(store, *layers)
    before = snapshot(world)
    error = failed(run(descriptors, store, world / "work" / "out", world))
    assert snapshot(world) == before, "something changed outside the (failed) extraction"
    return error


@pytest.mark.parametrize(
    "entry",
    [
        Entry(name="../x", data=b"slip"),
        Entry(name="a/../../x", data=b"slip"),
        Entry(name="../../outside/keep.txt", data=b"slip"),
        Entry(name="/etc/x", data=b"abs"),
        Entry(name="a\\..\\..\\x", data=b"win"),
        Entry(name="x", pax_path="a\x00b", data=b"nul"),
        Entry(name="../outside", kind="dir"),
        Entry(name="../link", kind="symlink", linkname="/"),
        Entry(name="link", kind="hardlink", linkname="/etc/passwd"),
        Entry(name="link", kind="hardlink", linkname="../outside/keep.txt"),
        Entry(name="../.wh.x"),
        Entry(name=".wh..."),
        Entry(name="../.wh..wh..opq"),
        Entry(name="v", typeflag=b"V"),
    ],
    ids=lambda e: f"{e.kind}:{e.name}->{e.linkname}",
)
def test_hostile_entries_are_refused(world: Path, entry: Entry) -> None:
    harmless = [Entry(name="ok.txt", data=b"fine"), Entry(name="d/", kind="dir")]
    error = refused(world, harmless, [*harmless, entry, Entry(name="after", data=b"z")])
    assert isinstance(error, UnsafeEntry | UnsupportedEntry)
    assert error.name == (entry.pax_path or entry.name)
    assert "\n" not in error.message


def test_a_corrupt_gzip_is_refused(world: Path) -> None:
    store = MemoryStore()
    good = image(store, [Entry(name="a", data=b"a")])
    bad = layer_of(store, gz(tar_bytes([Entry(name="b", data=b"b" * 100)]))[:-12])
    before = snapshot(world)
    error = failed(run([*good, bad], store, world / "work" / "out", world))
    assert isinstance(error, CorruptLayer)
    assert str(bad.digest) in error.message
    assert snapshot(world) == before


def test_a_truncated_tar_is_refused(world: Path) -> None:
    store = MemoryStore()
    tar = tar_bytes([Entry(name="big", data=b"x" * 5000)])
    bad = layer_of(store, tar[:1500], OCI_LAYER)
    before = snapshot(world)
    error = failed(run([bad], store, world / "work" / "out", world))
    assert isinstance(error, CorruptLayer)
    assert error.entry == "big"
    assert error.message == (
        f"layer {bad.digest} is not a readable layer at tar entry 'big': unexpected end of data"
    )
    assert snapshot(world) == before


def test_a_corrupt_zstd_stream_is_refused(world: Path) -> None:
    # A zstd frame header followed by zeros: a frame that never ends.
    store = MemoryStore()
    zstd = layer_of(store, b"\x28\xb5\x2f\xfd" + bytes(20), OCI_LAYER_ZSTD)
    sniffed = layer_of(store, b"\x28\xb5\x2f\xfd" + bytes(21), "application/octet-stream")
    for layer in (zstd, sniffed):
        error = failed(run([layer], store, world / "work" / "out", world))
        assert isinstance(error, CorruptLayer)
        assert str(layer.digest) in error.message
        assert "zstd" in error.message


class FakeBlobs:
    """A ``BlobReader`` serving given bytes under any digest (to simulate corruption)."""

    def __init__(self, blobs: dict[Digest, bytes]) -> None:
        self._blobs = blobs

    def exists(self, digest: Digest) -> IOResult[bool, StoreError]:
        return IOSuccess(digest in self._blobs)

    def stat(self, digest: Digest) -> IOResult[int, StoreError]:
        return self.read_bytes(digest).map(len)

    def open(self, digest: Digest) -> IOResult[BinaryIO, StoreError]:
        return self.read_bytes(digest).map(io.BytesIO)

    def read_bytes(self, digest: Digest) -> IOResult[bytes, StoreError]:
        if digest not in self._blobs:
            return IOFailure(BlobNotFound(digest=digest))
        return IOSuccess(self._blobs[digest])

    def iter_blobs(self) -> IOResult[tuple[Digest, ...], StoreError]:
        return IOSuccess(tuple(sorted(self._blobs)))


def test_blobs_are_verified_against_their_descriptor(world: Path) -> None:
    blob = gz(tar_bytes([Entry(name="f", data=b"tampered")]))
    claimed = digest_of(b"what the manifest promised")
    wrong_digest = Descriptor(media_type=OCI_LAYER_GZIP, digest=claimed, size=len(blob))
    before = snapshot(world)
    error = failed(run([wrong_digest], FakeBlobs({claimed: blob}), world / "work" / "out", world))
    assert isinstance(error, DigestMismatch)
    assert str(claimed) in error.message
    right = digest_of(blob)
    wrong_size = Descriptor(media_type=OCI_LAYER_GZIP, digest=right, size=len(blob) + 1)
    error = failed(run([wrong_size], FakeBlobs({right: blob}), world / "work" / "out", world))
    assert isinstance(error, SizeMismatch)
    missing = Descriptor(media_type=OCI_LAYER_GZIP, digest=claimed, size=1)
    error = failed(run([missing], FakeBlobs({}), world / "work" / "out", world))
    assert isinstance(error, BlobNotFound)
    assert snapshot(world) == before


# --- the shell: -o checks and atomic replacement ---------------------------------------------


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("/", "root directory"),
        (".", "current directory"),
        ("./", "current directory"),
        ("{work}", "current directory"),
        ("../work/.", "current directory"),
        ("..", "contains the current directory"),
        ("{home}", "home directory"),
        ("../home/", "home directory"),
        ("{outside}/../home/..", "contains the current directory"),
        ("link-to-work", "current directory"),
        ("link-to-new", "symbolic link"),
        ("{x}", "not a directory"),
    ],
)
def test_outputs_that_must_not_be_replaced(world: Path, output: str, reason: str) -> None:
    (world / "work" / "link-to-work").symlink_to(world / "work")
    (world / "work" / "link-to-new").symlink_to(world / "outside")
    (world / "home" / "precious").write_bytes(b"!")
    store = MemoryStore()
    layers = image(store, [Entry(name="f", data=b"1")])
    spelled = Path(
        output.format(
            work=world / "work", home=world / "home", outside=world / "outside", x=world / "x"
        )
    )
    before = snapshot(world)
    error = failed(run(layers, store, spelled, world, home=world / "home"))
    assert isinstance(error, UnsafeOutput)
    assert reason in error.message
    assert snapshot(world) == before
    checked = resolve_output(spelled, cwd=world / "work", home=world / "home")
    assert isinstance(checked, IOFailure)


def test_resolve_output_before_fetching(world: Path) -> None:
    target = unsafe_perform_io(
        resolve_output(Path("out"), cwd=world / "work", home=world / "home").unwrap()
    )
    assert (target.path, target.exists) == (world / "work" / "out", True)
    fresh = unsafe_perform_io(
        resolve_output(Path("fresh"), cwd=world / "work", home=world / "home").unwrap()
    )
    assert not fresh.exists


def test_a_successful_extraction_replaces_the_previous_output(world: Path) -> None:
    store = MemoryStore()
    layers = image(store, [Entry(name="new.txt", data=b"new")])
    (world / "work" / "out" / "sub").chmod(0o555)  # imgpkg-made outputs may be read-only
    report = ok(run(layers, store, world / "work" / "out", world))
    assert report.replaced
    assert report.warnings == ()
    assert snapshot(world / "work" / "out") == {"new.txt": ("file", 0o644, b"new")}
    assert sorted(os.listdir(world / "work")) == ["out"], "no temporary directory is left"


def test_a_failed_extraction_leaves_the_previous_output_intact(world: Path) -> None:
    store = MemoryStore()
    good = [Entry(name=f"f{i}", data=bytes([i]) * 1000) for i in range(20)]
    layers = image(store, good, [*good, Entry(name="../escape", data=b"!")])
    before = snapshot(world)
    error = failed(run(layers, store, world / "work" / "out", world))
    assert isinstance(error, UnsafeEntry)
    assert error.layer == layers[1].digest
    assert "'../escape'" in error.message
    assert snapshot(world) == before
    assert (world / "work" / "out" / "old.txt").read_bytes() == b"old output\n"


def test_extraction_is_repeatable(world: Path) -> None:
    store = MemoryStore()
    layers = image(store, [Entry(name="d/f", data=b"1", mode=0o755), Entry(name=".wh.z")])
    first = ok(run(layers, store, world / "work" / "out", world))
    once = snapshot(world / "work" / "out")
    second = ok(run(layers, store, world / "work" / "out", world))
    assert snapshot(world / "work" / "out") == once
    assert first.tree == second.tree


def iter_names(root: Path) -> Iterator[str]:
    for directory, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            yield (Path(directory) / name).relative_to(root).as_posix()


def test_digest_of_extracted_files_match(world: Path) -> None:
    store = MemoryStore()
    data = os.urandom(3 * CHUNK_SIZE + 5)
    layers = image(store, [Entry(name="r", data=data)])
    ok(run(layers, store, world / "new", world))
    assert hashlib.sha256((world / "new" / "r").read_bytes()).digest() == (
        hashlib.sha256(data).digest()
    )
    assert list(iter_names(world / "new")) == ["r"]
