"""The pure layer recipe: order, exclusions, duplicates, refusals, headers, bundle checks.

Inputs are built as values here (no filesystem); ``test_layer_fs`` covers the
same rules end to end on disk.
"""

from __future__ import annotations

import io
import tarfile

import pytest
from returns.result import Failure, Success

from imgpkg_pure.errors import NotABundle
from imgpkg_pure.layer import (
    END_OF_ARCHIVE,
    TYPE_DIR,
    TYPE_REG,
    BundleDirInImage,
    BundleInputs,
    DuplicatePaths,
    EntryKind,
    FileEntry,
    InputTree,
    LayerOptions,
    LayerRecipe,
    NotRegularFile,
    TarFormat,
    check_bundle_inputs,
    check_image_inputs,
    encode_header,
    go_base,
    go_clean,
    go_dir,
    go_file_mode,
    go_join,
    header_format,
    plan_layer,
    presents_as_bundle,
    split_ustar_path,
    tar_size,
)


def d(rel: str, mode: int = 0o755) -> FileEntry:
    return FileEntry(rel=rel, kind=EntryKind.DIR, mode=mode, size=0)


def f(rel: str, size: int = 1, mode: int = 0o644) -> FileEntry:
    return FileEntry(rel=rel, kind=EntryKind.FILE, mode=mode, size=size)


def link(rel: str) -> FileEntry:
    return FileEntry(rel=rel, kind=EntryKind.SYMLINK, mode=0o777, size=4)


def dir_input(given: str, *entries: FileEntry, abs_path: str | None = None) -> InputTree:
    has_root = any(entry.rel == "." for entry in entries)
    return InputTree(
        given=given,
        abs_path=abs_path or go_join("/work", given),
        is_dir=True,
        entries=entries if has_root else (d("."), *entries),
    )


def file_input(given: str, entry: FileEntry | None = None) -> InputTree:
    return InputTree(
        given=given,
        abs_path=go_join("/work", given),
        is_dir=False,
        entries=(entry or f(go_base(given)),),
    )


def names(recipe: LayerRecipe) -> list[str]:
    return [member.rel for member in recipe.members]


def error_message(result: Failure[object]) -> str:
    message = getattr(result.failure(), "message", None)
    assert isinstance(message, str)
    return message


# ---------------------------------------------------------------- walk order


def test_walk_order_is_go_filepath_walk_order() -> None:
    tree = dir_input("in", f("a.txt"), f("a/x"), d("a"), f("a.b"), f("B"), d(".imgpkg"), f("c"))
    recipe = plan_layer((tree,)).unwrap()
    # Pre-order: a directory's children come before its later siblings even
    # though "a.txt" < "a/x" byte-wise; uppercase sorts first, ".imgpkg" before "c".
    assert names(recipe) == [".", ".imgpkg", "B", "a", "a/x", "a.b", "a.txt", "c"]


def test_walk_order_compares_names_bytewise() -> None:
    tree = dir_input("in", f("é"), f("z"), f("Z"), f("~"))
    assert names(plan_layer((tree,)).unwrap()) == [".", "Z", "z", "~", "é"]


def test_inputs_keep_f_order_and_each_dir_has_its_own_dot() -> None:
    recipe = plan_layer(
        (dir_input("one", f("b")), file_input("x/readme.md"), dir_input("two", f("a")))
    ).unwrap()
    assert names(recipe) == [".", "b", "readme.md", ".", "a"]
    assert [member.input_index for member in recipe.members] == [0, 0, 1, 2, 2]
    assert recipe.log_lines == ("dir: .", "file: b", "file: readme.md", "dir: .", "file: a")


def test_source_paths_are_the_paths_imgpkg_opens() -> None:
    recipe = plan_layer((dir_input("./in/", f("sub/x"), d("sub")), file_input("../f.txt"))).unwrap()
    assert [member.source_path for member in recipe.members] == [
        "./in/",
        "in/sub",
        "in/sub/x",
        "../f.txt",
    ]


# ---------------------------------------------------------------- exclusions


def test_default_exclusion_is_top_level_dot_git_only() -> None:
    tree = dir_input(
        "in", d(".git"), f(".git/config"), d("sub"), d("sub/.git"), f("sub/.git/HEAD"), f("x")
    )
    recipe = plan_layer((tree,)).unwrap()
    assert names(recipe) == [".", "sub", "sub/.git", "sub/.git/HEAD", "x"]


def test_exclusions_are_exact_relative_paths() -> None:
    tree = dir_input(
        "in",
        f("excluded-file.txt"),
        d("nested-dir"),
        f("nested-dir/excluded-file.txt"),
        f("nested-dir/baz.txt"),
    )
    options = LayerOptions(exclusions=("excluded-file.txt", "nested-dir/baz.txt"))
    assert names(plan_layer((tree,), options).unwrap()) == [
        ".",
        "nested-dir",
        "nested-dir/excluded-file.txt",
    ]


def test_given_exclusions_replace_the_default() -> None:
    tree = dir_input("in", d(".git"), f(".git/config"), f("x"))
    options = LayerOptions(exclusions=("x",))
    assert names(plan_layer((tree,), options).unwrap()) == [".", ".git", ".git/config"]


def test_file_input_is_excluded_by_basename() -> None:
    recipe = plan_layer(
        (file_input("dir/skip.txt"), file_input("keep.txt")), LayerOptions(exclusions=("skip.txt",))
    ).unwrap()
    assert names(recipe) == ["keep.txt"]


def test_excluded_directory_takes_symlinks_inside_with_it() -> None:
    tree = dir_input("in", d("vendor"), link("vendor/ln"), f("x"))
    options = LayerOptions(exclusions=("vendor",))
    assert names(plan_layer((tree,), options).unwrap()) == [".", "x"]


def test_excluding_dot_skips_the_whole_input() -> None:
    tree = dir_input("in", f("x"))
    assert names(plan_layer((tree,), LayerOptions(exclusions=(".",))).unwrap()) == []


# ---------------------------------------------------------------- duplicates


def test_duplicate_paths_across_inputs() -> None:
    result = plan_layer(
        (
            dir_input("d1", d("config"), f("config/a.yml")),
            dir_input("d2/", d("config"), f("config/b.yml")),
        )
    )
    assert isinstance(result, Failure)
    assert isinstance(result.failure(), DuplicatePaths)
    assert error_message(result) == "Found duplicate paths: d1/config, d2/config"


def test_duplicate_file_input_and_walked_file() -> None:
    result = plan_layer((dir_input("d", f("a.yml")), file_input("other/a.yml")))
    assert isinstance(result, Failure)
    assert error_message(result) == "Found duplicate paths: d/a.yml, other/a.yml"


def test_duplicate_check_ignores_exclusions_and_lists_every_group() -> None:
    result = plan_layer(
        (dir_input("d1", d(".git"), f("x")), dir_input("d2", d(".git"), f("x"))),
    )
    assert isinstance(result, Failure)
    assert error_message(result) == "Found duplicate paths: d1/.git, d2/.git, d1/x, d2/x"


def test_same_file_given_twice_is_a_duplicate() -> None:
    result = plan_layer((file_input("a.txt"), file_input("a.txt")))
    assert isinstance(result, Failure)
    assert error_message(result) == "Found duplicate paths: a.txt, a.txt"


def test_two_directories_with_disjoint_contents_merge() -> None:
    recipe = plan_layer((dir_input("d1", f("a")), dir_input("d2", f("b")))).unwrap()
    assert names(recipe) == [".", "a", ".", "b"]


# ---------------------------------------------------------------- refusals


def test_symlink_inside_a_walked_directory_is_refused() -> None:
    result = plan_layer((dir_input("./in", f("a"), link("b/ln"), d("b")),))
    assert isinstance(result, Failure)
    error = result.failure()
    assert isinstance(error, NotRegularFile)
    assert error.path == "in/b/ln"
    assert error.message == (
        "Adding file './in' to tar: Expected file 'in/b/ln' to be a regular file"
    )


def test_excluded_symlink_is_still_refused() -> None:
    result = plan_layer((dir_input("in", link("ln")),), LayerOptions(exclusions=("ln",)))
    assert isinstance(result, Failure)
    assert isinstance(result.failure(), NotRegularFile)


def test_fifo_or_device_is_refused() -> None:
    fifo = FileEntry(rel="pipe", kind=EntryKind.OTHER, mode=0o644, size=0)
    result = plan_layer((dir_input("in", fifo),))
    assert isinstance(result, Failure)
    assert error_message(result) == (
        "Adding file 'in' to tar: Expected file 'in/pipe' to be a regular file"
    )


def test_directory_input_that_is_a_symlink_is_refused() -> None:
    tree = InputTree(given="ln", abs_path="/work/ln", is_dir=True, entries=(link("."),))
    result = plan_layer((tree,))
    assert isinstance(result, Failure)
    assert error_message(result) == (
        "Adding file 'ln' to tar: Expected file 'ln' to be a regular file"
    )


def test_special_file_input_is_refused() -> None:
    tree = file_input("dev/null", FileEntry(rel="null", kind=EntryKind.OTHER, mode=0o666, size=0))
    result = plan_layer((tree,))
    assert isinstance(result, Failure)
    assert error_message(result) == "Expected file 'dev/null' to be a regular file"


def test_input_tree_invariants() -> None:
    with pytest.raises(ValueError, match=r"no '\.' entry"):
        InputTree(given="in", abs_path="/in", is_dir=True, entries=(f("x"),))
    with pytest.raises(ValueError, match="exactly one entry"):
        InputTree(given="x", abs_path="/x", is_dir=False, entries=(f("x"), f("y")))
    with pytest.raises(ValueError, match="bad entry path"):
        InputTree(given="in", abs_path="/in", is_dir=True, entries=(d("."), f("a/../b")))


# ---------------------------------------------------------------- modes


def test_default_modes_keep_owner_bits_only() -> None:
    tree = dir_input(
        "in", d(".", 0o755), d("sub", 0o777), f("run.sh", mode=0o4755), f("ro", mode=0o444)
    )
    modes = [_mode(member.header) for member in plan_layer((tree,)).unwrap().members]
    assert modes == [0o700, 0o400, 0o700, 0o700]


def test_preserved_modes_use_go_file_mode_and_the_root_dir_mode() -> None:
    tree = dir_input(
        "in", d(".", 0o750), d("sub", 0o700), f("run.sh", mode=0o4755), f("sticky", mode=0o1644)
    )
    members = plan_layer((tree,), LayerOptions(preserve_permissions=True)).unwrap().members
    modes = {member.rel: _mode(member.header) for member in members}
    assert modes == {
        ".": (1 << 31) | 0o750,
        "run.sh": (1 << 23) | 0o755,
        "sticky": (1 << 20) | 0o644,
        "sub": (1 << 31) | 0o750,  # quirk: every directory gets the -f root's mode
    }


def test_go_file_mode_bits() -> None:
    assert go_file_mode(0o755, is_dir=True) == 0x800001ED
    assert go_file_mode(0o2644, is_dir=False) == (1 << 22) | 0o644
    assert go_file_mode(0o7777, is_dir=False) == (1 << 23) | (1 << 22) | (1 << 20) | 0o777


def _mode(header: bytes) -> int:
    block = header[-512:]
    field = block[100:108]
    if field[0] & 0x80:
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    return int(field.rstrip(b"\0"), 8)


# ---------------------------------------------------------------- header bytes


def test_ustar_header_byte_layout() -> None:
    header = encode_header("config/app.yml", mode=0o600, size=43, typeflag=TYPE_REG)
    assert len(header) == 512
    assert header[0:100] == b"config/app.yml".ljust(100, b"\0")
    assert header[100:108] == b"0000600\0"
    assert header[108:116] == b"0000000\0"
    assert header[116:124] == b"0000000\0"
    assert header[124:136] == b"00000000053\0"
    assert header[136:148] == b"00000000000\0"
    assert header[156:157] == b"0"
    assert header[157:257] == b"\0" * 100
    assert header[257:265] == b"ustar\x0000"
    assert header[265:329] == b"\0" * 64
    assert header[329:337] == b"0000000\0"
    assert header[337:345] == b"0000000\0"
    assert header[345:512] == b"\0" * 167
    checksum = sum(header[:148]) + 8 * 32 + sum(header[156:])
    assert header[148:156] == format(checksum, "06o").encode() + b"\0 "


def test_directory_header_has_no_trailing_slash() -> None:
    header = encode_header(".", mode=0o700, size=0, typeflag=TYPE_DIR)
    assert header[0:2] == b".\0"
    assert header[156:157] == b"5"


def test_gnu_header_for_preserved_directory_mode() -> None:
    header = encode_header(".", mode=0x800001ED, size=0, typeflag=TYPE_DIR)
    assert len(header) == 512
    assert header[100:108] == bytes.fromhex("80000000800001ED")
    assert header[257:265] == b"ustar  \0"
    assert header[329:345] == b"0000000\x000000000\0"
    assert header_format(".", mode=0x800001ED, size=0) is TarFormat.GNU


def test_ustar_split_of_a_long_name() -> None:
    name = "d" * 120 + "/file.txt"
    assert split_ustar_path(name.encode()) == (b"d" * 120, b"file.txt")
    header = encode_header(name, mode=0o600, size=5, typeflag=TYPE_REG)
    assert len(header) == 512
    assert header[0:9] == b"file.txt\0"
    assert header[345:466] == b"d" * 120 + b"\0"


def test_split_rules() -> None:
    assert split_ustar_path(b"short/name") is None
    assert split_ustar_path(b"x" * 101) is None  # no slash
    assert split_ustar_path(b"/" + b"x" * 101) is None  # slash at index 0
    assert split_ustar_path(b"a/" + b"x" * 101) is None  # suffix too long
    assert split_ustar_path(b"p" * 156 + b"/x") is None  # prefix too long
    assert split_ustar_path(b"p" * 155 + b"/x") == (b"p" * 155, b"x")
    assert split_ustar_path("é/".encode() + b"x" * 100) is None  # not ASCII


def test_pax_header_for_a_long_single_component() -> None:
    name = "dir/" + "n" * 120
    header = encode_header(name, mode=0o700, size=0, typeflag=TYPE_DIR)
    assert len(header) == 3 * 512
    pax, data, main = header[:512], header[512:1024], header[1024:]
    assert pax[0:100].rstrip(b"\0") == b"dir/PaxHeaders.0/" + b"n" * 83
    assert pax[156:157] == b"x"
    assert pax[100:108] == b"0000000\0"
    assert pax[329:345] == b"\0" * 16
    assert pax[257:265] == b"ustar\x0000"
    record = f" path={name}\n"
    expected = f"{len(record) + 3}{record}".encode()
    assert data.rstrip(b"\0") == expected
    assert int(pax[124:135], 8) == len(expected)
    assert main[0:100] == (b"dir/" + b"n" * 96)
    assert main[156:157] == b"5"


def test_pax_header_for_a_non_ascii_name() -> None:
    header = encode_header("héllo.txt", mode=0o600, size=3, typeflag=TYPE_REG)
    assert len(header) == 3 * 512
    assert header[0:100].rstrip(b"\0") == b"PaxHeaders.0/hllo.txt"
    assert header[512:1024].rstrip(b"\0") == "19 path=héllo.txt\n".encode()
    assert header[1024:1124].rstrip(b"\0") == b"hllo.txt"


def test_pax_size_record_from_eight_gib() -> None:
    size = 8 << 30
    assert header_format("big.bin", mode=0o644, size=size - 1) is TarFormat.USTAR
    header = encode_header("big.bin", mode=0o644, size=size, typeflag=TYPE_REG)
    assert len(header) == 3 * 512
    assert header[0:100].rstrip(b"\0") == b"PaxHeaders.0/big.bin"
    assert header[512:1024].rstrip(b"\0") == b"19 size=8589934592\n"
    assert header[1024 + 124 : 1024 + 136] == b"00000000000\0"
    member = tarfile.TarFile(fileobj=io.BytesIO(header + b"\0" * 1024)).next()
    assert member is not None
    assert (member.name, member.size) == ("big.bin", size)


def test_gnu_long_name_for_a_preserved_directory() -> None:
    name = "n" * 130
    header = encode_header(name, mode=0x800001ED, size=0, typeflag=TYPE_DIR)
    assert len(header) == 3 * 512
    assert header[0:14] == b"././@LongLink\0"
    assert header[156:157] == b"L"
    assert header[257:265] == b"ustar  \0"
    assert header[512:1024].rstrip(b"\0") == name.encode()
    assert header[1024:1124] == name.encode()[:100]


def test_impossible_headers_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="NUL"):
        encode_header("a\0b", mode=0o600, size=0, typeflag=TYPE_REG)
    with pytest.raises(ValueError, match="negative"):
        encode_header("a", mode=0o600, size=-1, typeflag=TYPE_REG)
    with pytest.raises(ValueError, match="may not end"):
        encode_header("a/", mode=0o600, size=0, typeflag=TYPE_REG)


def test_to_tar_style_entry() -> None:
    # imgpkg's --to-tar entries: regular, 0644, mtime 0, USTAR.
    header = encode_header("sha256-" + "a" * 64 + ".tar.gz", mode=0o644, size=10, typeflag=TYPE_REG)
    assert len(header) == 512
    assert header[100:108] == b"0000644\0"


# ---------------------------------------------------------------- whole recipe


def test_empty_push_is_two_zero_blocks() -> None:
    recipe = plan_layer(()).unwrap()
    assert recipe.members == ()
    assert tar_size(recipe) == 1024 == len(END_OF_ARCHIVE)


def test_tar_size_counts_headers_data_and_padding() -> None:
    tree = dir_input("in", f("a", size=1), f("b", size=512), f("c", size=513), f("e", size=0))
    recipe = plan_layer((tree,)).unwrap()
    assert tar_size(recipe) == 5 * 512 + 512 + 512 + 1024 + 0 + 1024


def test_recipe_is_readable_by_tarfile() -> None:
    tree = dir_input("in", d("sub"), f("sub/x", size=3), f("y", size=600))
    recipe = plan_layer((tree,)).unwrap()
    blob = b"".join(
        member.header + (b"z" * member.size) + member.padding for member in recipe.members
    )
    with tarfile.open(fileobj=io.BytesIO(blob + END_OF_ARCHIVE)) as archive:
        members = [(m.name, m.type, m.mode, m.size) for m in archive.getmembers()]
    assert members == [
        (".", tarfile.DIRTYPE, 0o700, 0),
        ("sub", tarfile.DIRTYPE, 0o700, 0),
        ("sub/x", tarfile.REGTYPE, 0o600, 3),
        ("y", tarfile.REGTYPE, 0o600, 600),
    ]


# ---------------------------------------------------------------- bundle checks


def bundle_tree(given: str = "bundle", *extra: FileEntry) -> InputTree:
    return dir_input(given, d(".imgpkg"), f(".imgpkg/images.yml"), f("config.yml"), *extra)


def test_bundle_found() -> None:
    result = check_bundle_inputs((bundle_tree(),))
    assert result == Success(
        BundleInputs(
            imgpkg_dir="/work/bundle/.imgpkg",
            images_yml="/work/bundle/.imgpkg/images.yml",
            input_index=0,
        )
    )
    assert presents_as_bundle((bundle_tree(),))


def test_not_a_bundle() -> None:
    result = check_bundle_inputs((dir_input("in", f("config.yml")),))
    assert result == Failure(
        NotABundle(reason="This directory is not a bundle. It is missing .imgpkg/images.yml")
    )
    assert check_bundle_inputs(()) == result


def test_multiple_bundle_definitions_list_every_one() -> None:
    result = check_bundle_inputs((bundle_tree(), bundle_tree()))
    assert isinstance(result, Failure)
    assert result.failure().message == (
        "This directory contains multiple bundle definitions. Only a single instance of "
        ".imgpkg/images.yml can be provided and instead these were provided "
        "/work/bundle/.imgpkg, /work/bundle/.imgpkg"
    )


def test_nested_imgpkg_counts_too() -> None:
    tree = bundle_tree("bundle", d("sub"), d("sub/.imgpkg"))
    result = check_bundle_inputs((tree,))
    assert isinstance(result, Failure)
    assert result.failure().message.endswith(
        "provided /work/bundle/.imgpkg, /work/bundle/sub/.imgpkg"
    )


def test_imgpkg_must_be_a_direct_child_of_an_input() -> None:
    tree = dir_input("./in", d("sub"), d("sub/.imgpkg"), f("sub/.imgpkg/images.yml"))
    result = check_bundle_inputs((tree, file_input("other.yml")))
    assert isinstance(result, Failure)
    assert result.failure().message == (
        "Expected '.imgpkg' directory, to be a direct child of one of: ./in, other.yml; "
        "was /work/in/sub/.imgpkg"
    )


def test_imgpkg_may_be_a_direct_child_of_another_input() -> None:
    outer = dir_input("in", d("sub"), d("sub/.imgpkg"), f("sub/.imgpkg/images.yml"))
    inner = dir_input("in/sub", d(".imgpkg"), f(".imgpkg/images.yml"))
    # Two .imgpkg entries (the same directory seen twice) are "multiple".
    assert isinstance(check_bundle_inputs((outer, inner)), Failure)
    only_outer_listing = dir_input("in", d("sub"))
    result = check_bundle_inputs((only_outer_listing, inner))
    assert result.unwrap().input_index == 1


def test_images_yml_must_exist() -> None:
    tree = dir_input("bundle", d(".imgpkg"), f(".imgpkg/bundle.yml"))
    result = check_bundle_inputs((tree,))
    assert isinstance(result, Failure)
    assert result.failure().message == (
        "The bundle expected .imgpkg/images.yml to exist, but it wasn't found in the path "
        "/work/bundle/.imgpkg/images.yml"
    )


def test_imgpkg_file_passes_the_images_yml_check_like_go() -> None:
    # os.Stat(".imgpkg/images.yml") fails with ENOTDIR, which imgpkg lets through.
    tree = dir_input("bundle", f(".imgpkg"))
    assert isinstance(check_bundle_inputs((tree,)), Success)


def test_input_that_is_itself_named_imgpkg() -> None:
    tree = dir_input("b/.imgpkg/", f("images.yml"), abs_path="/work/b/.imgpkg")
    result = check_bundle_inputs((tree,))
    assert isinstance(result, Failure)
    assert "direct child of one of: b/.imgpkg/; was /work/b/.imgpkg" in result.failure().message


def test_image_push_refuses_a_bundle() -> None:
    result = check_image_inputs((bundle_tree(),))
    assert isinstance(result, Failure)
    error = result.failure()
    assert isinstance(error, BundleDirInImage)
    assert error.message == (
        "Images cannot be pushed with '.imgpkg' directories, consider using --bundle (-b) option"
    )


def test_image_push_allows_other_imgpkg_dirs() -> None:
    without_lock = dir_input("in", d(".imgpkg"), f(".imgpkg/bundle.yml"))
    nested = dir_input("in", d("sub"), d("sub/.imgpkg"), f("sub/.imgpkg/images.yml"))
    for tree in (without_lock, nested):
        assert check_image_inputs((tree,)) == Success(None)
        assert not presents_as_bundle((tree,))


# ---------------------------------------------------------------- Go path helpers


@pytest.mark.parametrize(
    ("path", "cleaned"),
    [
        ("", "."),
        ("a//b/./c/", "a/b/c"),
        ("//a", "/a"),
        ("/../a", "/a"),
        ("a/../..", ".."),
        ("./", "."),
        ("a/b/../../c", "c"),
    ],
)
def test_go_clean(path: str, cleaned: str) -> None:
    assert go_clean(path) == cleaned


def test_go_base_dir_join() -> None:
    assert [go_base(p) for p in ("", "/", "a/b/", "a")] == [".", "/", "b", "a"]
    assert [go_dir(p) for p in ("a", "/a", "a/b", "a/b/")] == [".", "/", "a", "a/b"]
    assert go_join("a/", "", "PaxHeaders.0", "b") == "a/PaxHeaders.0/b"
    assert go_join("", "") == ""
