"""The layer built from real files: observation, streaming, refusals, tarfile round trip."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.layer import (
    BundleDirInImage,
    EntryKind,
    LayerOptions,
    NotRegularFile,
    StatFailed,
    check_bundle_inputs,
    check_image_inputs,
    plan_layer,
    tar_size,
)
from imgpkg_pure.store.files.tree import CHUNK_SIZE, observe_inputs, write_layer_tar
from tests.unit.test_layer_support import build_tar, observe, observe_error, plan


def make_tree(root: Path, files: dict[str, bytes], modes: dict[str, int] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    for rel, mode in (modes or {}).items():
        (root / rel).chmod(mode)
    return root


def read_back(blob: bytes) -> list[tuple[str, bytes, int, bytes | None]]:
    """(name, type, mode, content) of every member, as Python's tarfile sees them."""
    found: list[tuple[str, bytes, int, bytes | None]] = []
    with tarfile.open(fileobj=io.BytesIO(blob)) as archive:
        for member in archive.getmembers():
            handle = archive.extractfile(member) if member.isfile() else None
            content = handle.read() if handle is not None else None
            found.append((member.name, member.type, member.mode, content))
    return found


# ---------------------------------------------------------------- round trip


def test_tarfile_reads_back_names_modes_and_contents(tmp_path: Path) -> None:
    long_dir = "d" * 120
    tree = make_tree(
        tmp_path / "in",
        {
            "run.sh": b"#!/bin/sh\necho hi\n",
            "config/app.yml": b"a: 1\n",
            f"{long_dir}/x.txt": b"long\n",
            "héllo.txt": b"accent\n",
            "n" * 120: b"pax\n",
        },
        {"run.sh": 0o755, "config/app.yml": 0o640},
    )
    blob = build_tar([tree])

    assert len(blob) % 512 == 0
    assert blob.endswith(b"\0" * 1024)
    assert read_back(blob) == [
        (".", tarfile.DIRTYPE, 0o700, None),
        ("config", tarfile.DIRTYPE, 0o700, None),
        ("config/app.yml", tarfile.REGTYPE, 0o600, b"a: 1\n"),
        (f"{long_dir}", tarfile.DIRTYPE, 0o700, None),
        (f"{long_dir}/x.txt", tarfile.REGTYPE, 0o600, b"long\n"),
        ("héllo.txt", tarfile.REGTYPE, 0o600, b"accent\n"),
        ("n" * 120, tarfile.REGTYPE, 0o600, b"pax\n"),
        ("run.sh", tarfile.REGTYPE, 0o700, b"#!/bin/sh\necho hi\n"),
    ]


def test_preserved_permissions_read_back(tmp_path: Path) -> None:
    tree = make_tree(
        tmp_path / "in", {"a.txt": b"a", "sub/b.sh": b"b"}, {"a.txt": 0o640, "sub/b.sh": 0o750}
    )
    tree.chmod(0o750)
    (tree / "sub").chmod(0o700)
    blob = build_tar([tree], LayerOptions(preserve_permissions=True))
    dir_mode = (1 << 31) | 0o750
    assert [(name, mode) for name, _type, mode, _content in read_back(blob)] == [
        (".", dir_mode),
        ("a.txt", 0o640),
        ("sub", dir_mode),
        ("sub/b.sh", 0o750),
    ]
    assert blob[257:265] == b"ustar  \0"  # the "." header is GNU


def test_length_is_exact_and_unpadded(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "in", {"a": b"x" * 700})
    recipe = plan([tree])
    blob = build_tar([tree])
    assert len(blob) == tar_size(recipe) == 512 + 512 + 1024 + 1024


def test_empty_image_push_is_two_zero_blocks() -> None:
    assert build_tar([]) == b"\0" * 1024


def test_multiple_inputs_merge_in_f_order(tmp_path: Path) -> None:
    one = make_tree(tmp_path / "one", {"b.txt": b"b"})
    two = make_tree(tmp_path / "two", {"a.txt": b"a"})
    single = make_tree(tmp_path / "f", {"c.txt": b"c"}) / "c.txt"
    recipe = plan([one, single, two])
    assert recipe.log_lines == ("dir: .", "file: b.txt", "file: c.txt", "dir: .", "file: a.txt")


def test_large_file_is_streamed_in_chunks(tmp_path: Path) -> None:
    content = bytes(range(256)) * (10 * 1024 + 7)  # about 2.5 MiB
    tree = make_tree(tmp_path / "in", {"big.bin": content})
    inputs = observe([tree])
    recipe = plan_layer(inputs).unwrap()
    writes: list[int] = []
    out = bytearray()

    def write(data: bytes) -> None:
        writes.append(len(data))
        out.extend(data)

    written = unsafe_perform_io(write_layer_tar(recipe, inputs, write).unwrap())
    assert written == len(out) == tar_size(recipe)
    assert max(writes) <= CHUNK_SIZE
    assert read_back(bytes(out))[1][3] == content


def test_undecodable_file_name_is_written_byte_for_byte(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "in", {})
    with open(os.path.join(os.fsencode(tree), b"\xff.txt"), "wb") as handle:
        handle.write(b"x")
    blob = build_tar([tree])
    assert b" path=\xff.txt\n" in blob  # PAX record with the raw name
    assert b"PaxHeaders.0/.txt\0" in blob


# ---------------------------------------------------------------- observation


def test_missing_input_is_imgpkgs_lstat_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    error = observe_error(["nope"])
    assert isinstance(error, StatFailed)
    assert error.message == "lstat nope: no such file or directory"


def test_dangling_symlink_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("dangling").symlink_to("missing")
    assert observe_error(["dangling"]).message == "stat dangling: no such file or directory"


def test_symlink_to_file_input_is_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    make_tree(tmp_path / "real", {"target.txt": b"content"}, {"target.txt": 0o755})
    Path("alias.yml").symlink_to("real/target.txt")
    (tree,) = observe(["alias.yml"])
    assert not tree.is_dir
    assert tree.abs_path == f"{tmp_path}/alias.yml"
    assert read_back(build_tar(["alias.yml"])) == [
        ("alias.yml", tarfile.REGTYPE, 0o700, b"content")
    ]


def test_symlink_to_directory_input_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    make_tree(tmp_path / "real", {"a": b"a"})
    Path("ln").symlink_to("real")
    (tree,) = observe(["ln"])
    assert tree.is_dir
    assert [entry.kind for entry in tree.entries] == [EntryKind.SYMLINK]
    error = plan_layer((tree,)).failure()
    assert isinstance(error, NotRegularFile)
    assert error.message == "Adding file 'ln' to tar: Expected file 'ln' to be a regular file"


def test_symlink_and_fifo_inside_a_directory_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    make_tree(tmp_path / "in", {"a.txt": b"a", "z.txt": b"z"})
    os.mkfifo(tmp_path / "in" / "pipe")
    (tmp_path / "in" / "b-link").symlink_to("a.txt")
    error = plan_layer(observe(["in/"])).failure()
    assert error.message == (
        "Adding file 'in/' to tar: Expected file 'in/b-link' to be a regular file"
    )
    (tmp_path / "in" / "b-link").unlink()
    assert plan_layer(observe(["in"])).failure().message == (
        "Adding file 'in' to tar: Expected file 'in/pipe' to be a regular file"
    )


def test_abs_path_follows_gos_getwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = make_tree(tmp_path / "real", {"in/a": b"a"})
    alias = tmp_path / "alias"
    alias.symlink_to(real)
    monkeypatch.chdir(alias)
    monkeypatch.setenv("PWD", str(alias))
    assert observe(["in"])[0].abs_path == f"{alias}/in"
    monkeypatch.setenv("PWD", "/")
    assert observe(["in"])[0].abs_path == f"{real}/in"
    assert observe(["./in/../in//"])[0].abs_path == f"{real}/in"


# ---------------------------------------------------------------- changes after observation


def _write_error(tmp_path: Path, change: str) -> str:
    tree = make_tree(tmp_path / "in", {"a.txt": b"12345"})
    inputs = observe([tree])
    recipe = plan_layer(inputs).unwrap()
    target = tree / "a.txt"
    if change == "grow":
        target.write_bytes(b"123456")
    elif change == "shrink":
        target.write_bytes(b"1")
    elif change == "fifo":
        target.unlink()
        os.mkfifo(target)
    elif change == "symlink":
        target.unlink()
        target.symlink_to("/etc/hostname")
    else:
        target.unlink()
    result = write_layer_tar(recipe, inputs, lambda _data: None)
    return unsafe_perform_io(result.failure()).message


def test_a_file_that_changed_size_is_an_error(tmp_path: Path) -> None:
    message = _write_error(tmp_path, "grow")
    assert message == (
        f"{tmp_path}/in/a.txt: changed while being pushed: its size was 5 bytes, now it is 6"
    )
    assert "now it is 1" in _write_error(tmp_path / "2", "shrink")


def test_a_file_replaced_by_a_symlink_is_not_followed(tmp_path: Path) -> None:
    assert _write_error(tmp_path, "symlink").startswith(f"open {tmp_path}/in/a.txt: ")


def test_a_file_replaced_by_a_fifo_does_not_block(tmp_path: Path) -> None:
    assert _write_error(tmp_path, "fifo") == (
        f"{tmp_path}/in/a.txt: changed while being pushed: it is no longer a regular file"
    )


def test_a_file_removed_after_observation(tmp_path: Path) -> None:
    assert _write_error(tmp_path, "remove") == (
        f"open {tmp_path}/in/a.txt: no such file or directory"
    )


# ---------------------------------------------------------------- bundle checks on disk


def test_bundle_check_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    make_tree(tmp_path / "bundle", {".imgpkg/images.yml": b"---\n", "config.yml": b"a: 1\n"})
    found = check_bundle_inputs(observe(["bundle"])).unwrap()
    assert found.images_yml == f"{tmp_path}/bundle/.imgpkg/images.yml"
    assert Path(found.images_yml).read_bytes() == b"---\n"
    assert isinstance(check_image_inputs(observe(["bundle"])).failure(), BundleDirInImage)
    message = check_bundle_inputs(observe(["bundle", "bundle"])).failure().message
    assert message.endswith(f"provided {tmp_path}/bundle/.imgpkg, {tmp_path}/bundle/.imgpkg")


def test_observe_inputs_stops_at_the_first_failure(tmp_path: Path) -> None:
    good = make_tree(tmp_path / "in", {"a": b"a"})
    result = observe_inputs([str(good), str(tmp_path / "missing"), str(tmp_path / "also")])
    assert unsafe_perform_io(result.failure()).message == (
        f"lstat {tmp_path}/missing: no such file or directory"
    )
