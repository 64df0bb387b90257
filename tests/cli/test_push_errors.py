"""Every user mistake on push gets one clear line on stderr, exit 1, and no traceback.

Nothing is written to the destination when the inputs are refused.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cli.helpers import make_tree, run_cli

LOCK = b"---\napiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImagesLock\n"


def _fails(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, stdout, stderr = run_cli(capsys, *args)
    assert code == 1, (stdout, stderr)
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("imgpkg-pure: Error: ")
    return lines[0].removeprefix("imgpkg-pure: Error: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("push", "--nope"), "unknown flag: --nope"),
        (("push", "--tt"), "unknown flag: --tt (did you mean --tty?)"),
        (("nope",), "command 'imgpkg-pure' does not accept extra arguments 'nope'"),
        (("push", "-f", "x"), "Expected either image or bundle"),
        (("push", "-i", "oci:a", "-b", "oci:b"), "Expected only one of image or bundle"),
        (
            ("push", "-i", "oci:a", "--lock-output", "l.yml"),
            "--lock-output needs a registry destination",
        ),
        (
            ("push", "-i", "r.example.com/UP/x:v1"),
            "Parsing 'r.example.com/UP/x:v1': repository can only contain the characters",
        ),
        (("push", "-b", "r.example.com/x:bad:tag"), "Parsing 'r.example.com/x:bad:tag'"),
        (
            ("push", "-b", "oci:a", "-l", "dev.carvel.imgpkg.bundle=x"),
            "label 'dev.carvel.imgpkg.bundle' is reserved and cannot be overriden. "
            "Please use a different key",
        ),
        (("push", "-i", "oci:a", "-l", "novalue"), "invalid label 'novalue': expected key=value"),
        (("push", "-i", "oci:dir:bad tag"), "invalid tag 'bad tag' in 'oci:dir:bad tag'"),
        (("push", "-i", "oci:"), "'oci:' names no directory (expected oci:PATH[:TAG])"),
        (("push", "-i", "oci:a", "--media-types", "x"), "Invalid value for '--media-types'"),
    ],
)
def test_usage_errors(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert message in _fails(capsys, *args)
    assert list(tmp_path.iterdir()) == []


def test_missing_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = _fails(capsys, "push", "-i", f"oci:{tmp_path}/out", "-f", f"{tmp_path}/missing")
    assert message == f"lstat {tmp_path}/missing: no such file or directory"
    assert not (tmp_path / "out").exists()


def test_symlink_in_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = make_tree(tmp_path / "in", {"a.txt": b"a"})
    os.symlink("a.txt", tree / "link")
    message = _fails(capsys, "push", "-i", f"oci:{tmp_path}/out", "-f", str(tree))
    assert message == (
        f"Adding file '{tree}' to tar: Expected file '{tree}/link' to be a regular file"
    )
    assert not (tmp_path / "out").exists()


def test_bundle_without_images_yml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = make_tree(tmp_path / "in", {"a.txt": b"a"})
    message = _fails(capsys, "push", "-b", f"oci:{tmp_path}/out", "-f", str(tree))
    assert message == "This directory is not a bundle. It is missing .imgpkg/images.yml"


def test_image_with_bundle_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = make_tree(tmp_path / "in", {".imgpkg/images.yml": LOCK})
    message = _fails(capsys, "push", "-i", f"oci:{tmp_path}/out", "-f", str(tree))
    assert message == (
        "Images cannot be pushed with '.imgpkg' directories, consider using --bundle (-b) option"
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            b"a: [",
            "Unmarshaling images lock: error converting YAML to JSON: yaml: line 1: "
            "did not find expected node content",
        ),
        (
            LOCK + b"extra: 1\n",
            "Unmarshaling images lock: error unmarshaling JSON: while decoding JSON: "
            'json: unknown field "extra" (at extra)',
        ),
        (
            b"apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImagesLock\n"
            b"images:\n- image: ubuntu:latest\n",
            "Validating images lock: Expected ref to be in digest form, got 'ubuntu:latest' "
            "(at images[0].image)",
        ),
        (
            b"apiVersion: x\nkind: ImagesLock\n",
            "Validating images lock: Validating apiVersion: Unknown version "
            "(known: imgpkg.carvel.dev/v1alpha1) (at apiVersion)",
        ),
    ],
)
def test_bundle_with_invalid_images_yml_is_refused_before_pushing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    tree = make_tree(tmp_path / "in", {".imgpkg/images.yml": content})
    message = _fails(capsys, "push", "-b", f"oci:{tmp_path}/out", "-f", str(tree))
    assert message == f"{tree / '.imgpkg' / 'images.yml'}: {expected}"
    assert not (tmp_path / "out").exists()


def test_destination_that_is_not_a_layout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = make_tree(tmp_path / "in", {"a.txt": b"a"})
    make_tree(tmp_path / "precious", {"keep.txt": b"mine"})
    message = _fails(capsys, "push", "-i", f"oci:{tmp_path}/precious", "-f", str(tree))
    assert "precious" in message
    assert sorted(p.name for p in (tmp_path / "precious").iterdir()) == ["keep.txt"]


def test_duplicate_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = make_tree(tmp_path / "one", {"a.txt": b"1"})
    two = make_tree(tmp_path / "two", {"a.txt": b"2"})
    message = _fails(capsys, "push", "-i", f"oci:{tmp_path}/o", "-f", str(one), "-f", str(two))
    assert message.startswith("Found duplicate paths: ")
