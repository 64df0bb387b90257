"""imgpkg-pure where imgpkg was: pflag's flag forms, the program's name, cobra's usage errors.

Every boolean flag of every command is parsed in every form Go's pflag accepts,
through the real parser (the declarations, the pflag normalizer, click); value
flags in their shorthand forms; and the program is run through a link named
``imgpkg`` as a script written for imgpkg would run it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

from imgpkg_pure.store.cli import _GoBool, _pflag_args, _resolve, main, program_name
from tests.cli.helpers import make_tree, run_cli
from tests.registry_fixtures import RegistryServer

#: Go's strconv.ParseBool, from its documentation (not from the product's table).
GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")
NOT_BOOLS = ("yes", "no", "on", "off", "tRUE", "", "2", "ture")

#: Every command, and the arguments it needs besides the flag under test.
COMMANDS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("push",), ()),
    (("pull",), ()),
    (("copy",), ()),
    (("plan", "push"), ("--out", "p.plan")),
    (("plan", "pull"), ("--out", "p.plan")),
    (("plan", "copy"), ("--out", "p.plan")),
    (("show",), ("p.plan",)),
    (("apply",), ("p.plan",)),
    (("tag", "list"), ()),
    (("tag", "resolve"), ()),
    (("describe",), ()),
    (("version",), ()),
)


def _parse(args: list[str]) -> dict[str, Any]:
    """The parameters the real parser gives for a command line (nothing runs)."""
    normalized = _pflag_args(args, "imgpkg-pure")
    command, words, _ = _resolve(normalized)
    context = command.make_context(" ".join(words), normalized[len(words) :])
    return dict(context.params)


def _bool_flags() -> list[tuple[tuple[str, ...], tuple[str, ...], click.Option]]:
    found: list[tuple[tuple[str, ...], tuple[str, ...], click.Option]] = []
    for words, extra in COMMANDS:
        command, _, _ = _resolve(list(words))
        for param in command.params:
            if isinstance(param, _GoBool):
                found.append((words, extra, param))
    return found


BOOL_FLAGS = _bool_flags()


def test_every_command_has_its_boolean_flags() -> None:
    names = {(" ".join(words), p.opts[0]) for words, _, p in BOOL_FLAGS}
    assert ("push", "--preserve-permissions") in names
    assert ("pull", "--image-is-bundle-check") in names
    assert ("copy", "--include-non-distributable-layers") in names
    assert ("describe", "--layers") in names
    assert ("tag list", "--digests") in names
    assert ("version", "--tty") in names
    assert ("apply", "--registry-anon") in names
    assert len(BOOL_FLAGS) > 100


@pytest.mark.parametrize(
    ("words", "extra", "param"),
    BOOL_FLAGS,
    ids=[f"{' '.join(w)} {p.opts[-1]}" for w, _, p in BOOL_FLAGS],
)
def test_boolean_flag_forms(
    words: tuple[str, ...], extra: tuple[str, ...], param: click.Option
) -> None:
    name = param.name
    assert name is not None
    for spelling in param.opts:
        bare = _parse([*words, *extra, spelling])
        assert bare[name] is True, spelling
        for text in GO_TRUE:
            assert _parse([*words, *extra, f"{spelling}={text}"])[name] is True
        for text in GO_FALSE:
            assert _parse([*words, *extra, f"{spelling}={text}"])[name] is False
        for text in NOT_BOOLS:
            with pytest.raises(click.UsageError) as refused:
                _parse([*words, *extra, f"{spelling}={text}"])
            assert str(refused.value).startswith(f'invalid argument "{text}" for "')
            assert f'strconv.ParseBool: parsing "{text}": invalid syntax' in str(refused.value)
    default = _parse([*words, *extra])[name]
    assert default is param.default


def test_a_separate_word_is_not_a_boolean_value(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "push", "--tty", "false")
    assert code == 1
    expected = "command 'imgpkg-pure push' does not accept extra arguments 'false'"
    assert err == f"imgpkg-pure: Error: {expected}\n"


@pytest.mark.parametrize(
    "args",
    [
        ["pull", "-r", "-y"],
        ["pull", "-ry"],
        ["pull", "-yr"],
        ["pull", "-r=true", "-y=1"],
        ["pull", "--recursive=T", "--yes"],
    ],
)
def test_shorthand_booleans(args: list[str]) -> None:
    parsed = _parse(args)
    assert parsed["recursive"] is True
    assert parsed["yes"] is True


@pytest.mark.parametrize(
    "args",
    [
        ["push", "-fA", "-f", "B"],
        ["push", "-f=A", "--file", "B"],
        ["push", "--file=A", "-f=B"],
        ["push", "-f", "A", "--file=B"],
    ],
)
def test_value_flag_forms(args: list[str]) -> None:
    assert _parse(args)["files"] == ("A", "B")


def test_a_value_flag_takes_the_next_word_whatever_it_looks_like() -> None:
    assert _parse(["push", "-f", "-", "-i", "--tty"])["files"] == ("-",)
    assert _parse(["push", "-f", "-", "-i", "--tty"])["image"] == "--tty"
    assert _parse(["pull", "-ro", "out"])["output"] == "out"
    assert _parse(["pull", "-rodir"])["output"] == "dir"
    assert _parse(["push", "--file="])["files"] == ("",)


def test_double_dash_ends_the_flags(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "push", "--", "--tty")
    assert code == 1
    assert "does not accept extra arguments '--tty'" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["push", "--bogus"], "unknown flag: --bogus"),
        (["push", "--bogus=1"], "unknown flag: --bogus"),
        (["push", "-z"], "unknown shorthand flag: 'z' in -z"),
        (["pull", "-rz"], "unknown shorthand flag: 'z' in -rz"),
        (["push", "-f"], "flag needs an argument: 'f' in -f"),
        (["push", "--file"], "flag needs an argument: --file"),
        (
            ["pull", "-r=maybe"],
            'invalid argument "maybe" for "-r, --recursive" flag: '
            'strconv.ParseBool: parsing "maybe": invalid syntax',
        ),
        (["push", "extra"], "command 'imgpkg-pure push' does not accept extra arguments 'extra'"),
        (["ver"], "command 'imgpkg-pure' does not accept extra arguments 'ver'"),
        (["tag"], "Use one of available subcommands: list, resolve"),
        ([], "Invalid command - see available commands/subcommands above"),
    ],
)
def test_cobra_words_for_usage_errors(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = run_cli(capsys, *args)
    assert code == 1
    assert err.splitlines()[-1] == f"imgpkg-pure: Error: {message}"


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    for flag in ("-v", "--version"):
        code, out, _ = run_cli(capsys, flag, "--tty")
        assert code == 0
        assert out.startswith("imgpkg-pure version ")


def test_deprecated_exclusion_flag_still_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = make_tree(tmp_path / "in", {"keep.txt": b"k", "skip.txt": b"s"})
    code, out, _ = run_cli(
        capsys,
        "push",
        "-i",
        f"oci:{tmp_path / 'lay'}:v1",
        "-f",
        str(tree),
        "--file-exclude-defaults",
        "skip.txt",
    )
    assert code == 0
    assert "Flag --file-exclude-defaults has been deprecated, use '--file-exclusion' instead" in out
    code, out, _ = run_cli(
        capsys,
        "push",
        "-i",
        f"oci:{tmp_path / 'lay2'}:v1",
        "-f",
        str(tree),
        "--file-exclusion",
        "skip.txt",
    )
    assert code == 0


@pytest.mark.parametrize(
    ("argv0", "name"),
    [
        ("imgpkg", "imgpkg"),
        ("/usr/local/bin/imgpkg", "imgpkg"),
        ("imgpkg.exe", "imgpkg"),
        ("imgpkg-pure", "imgpkg-pure"),
        ("/x/.venv/bin/imgpkg-pure", "imgpkg-pure"),
        ("imgpkgx", "imgpkg-pure"),
    ],
)
def test_program_name(argv0: str, name: str) -> None:
    assert program_name(argv0) == name


# --- through a link named imgpkg, as a script runs it ----------------------------------------


@pytest.fixture(scope="module")
def imgpkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    script = Path(sys.executable).parent / "imgpkg-pure"
    assert script.is_file(), f"{script}: install the project (scripts/test.sh does)"
    link = tmp_path_factory.mktemp("bin") / "imgpkg"
    link.symlink_to(script)
    return link


def _run(imgpkg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(imgpkg), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_link_named_imgpkg_presents_itself_as_imgpkg(imgpkg: Path, tmp_path: Path) -> None:
    done = _run(imgpkg, "version", "--tty=true")
    assert done.returncode == 0
    assert done.stdout.startswith("imgpkg version ")
    assert "Succeeded" in done.stdout
    done = _run(imgpkg, "push", "--bogus")
    assert (done.returncode, done.stderr) == (1, "imgpkg: Error: unknown flag: --bogus\n")
    done = _run(imgpkg, "push", "--help")
    assert "Usage: imgpkg push" in done.stdout
    done = _run(imgpkg, "push", "-i", "oci:", "-f", str(tmp_path))
    assert done.stderr.startswith("imgpkg: Error: ")


def test_script_written_for_imgpkg_runs_unchanged(imgpkg: Path, tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "cfg", {"a.yml": b"a: 1\n", "b.yml": b"b: 2\n"})
    first = make_tree(tmp_path / "one", {"x.txt": b"x"})
    layout = tmp_path / "layout"
    done = _run(
        imgpkg,
        "push",
        f"-i=oci:{layout}:v1",
        f"-f{tree}",
        f"--file={first}",
        "--preserve-permissions=false",
        "--tty=false",
        "--json=0",
        "--color=false",
        "-y",
        "--registry-insecure=true",
        "--registry-verify-certs=True",
        "--registry-anon=F",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Pushed 'oci:{layout}@sha256:")
    again = _run(imgpkg, "push", "-i", f"oci:{tmp_path / 'l2'}:v1", "-f", f"{tree},{first}")
    assert again.returncode == 0, again.stderr
    assert again.stdout.split("@")[1] == done.stdout.split("@")[1]


def test_in_process_program_name(capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["version"], program="imgpkg") == 0
    assert capsys.readouterr().out == "imgpkg version 0.1.0\n"


# --- imgpkg's context in errors -----------------------------------------------------------------


def test_copy_names_what_it_was_doing_when_a_bundle_image_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer
) -> None:
    missing = "sha256:" + "0" * 64
    lock = (
        "apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImagesLock\nimages:\n"
        f"- image: {registry.host}/drop-in/absent@{missing}\n"
    )
    bundle = make_tree(tmp_path / "b", {".imgpkg/images.yml": lock.encode(), "c.yml": b"c: 1\n"})
    code, _, err = run_cli(capsys, "push", "-b", f"{registry.host}/drop-in/b:v1", "-f", str(bundle))
    assert code == 0, err
    code, _, err = run_cli(
        capsys, "copy", "-b", f"{registry.host}/drop-in/b:v1", "--to-tar", str(tmp_path / "x.tar")
    )
    assert code == 1
    assert err == (
        "imgpkg-pure: Error: Reading Images from Bundle: Checking image existence: "
        f"{registry.host}/drop-in/absent@{missing} not found\n"
    )
    assert not (tmp_path / "x.tar").exists()


def test_iaas_variable_gets_imgpkgs_deprecation_line(imgpkg: Path) -> None:
    env = {**os.environ, "IMGPKG_ENABLE_IAAS_AUTH": "false"}
    done = subprocess.run(
        [str(imgpkg), "version"], capture_output=True, text=True, timeout=60, check=False, env=env
    )
    assert done.returncode == 0
    assert done.stdout.splitlines()[0] == (
        "IMGPKG_ENABLE_IAAS_AUTH environment variable will be deprecated, please use the flag "
        "--activate-keychain to activate the needed keychains"
    )
    assert done.stdout.splitlines()[1].startswith("imgpkg version ")


def test_imgpkg_scripts_through_the_link(
    imgpkg: Path, tmp_path: Path, registry: RegistryServer
) -> None:
    """One script as imgpkg users write them: flag forms, --debug, a zstd layer, foreign-layer
    flags and the keychain variables, all through the link named imgpkg."""

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(imgpkg), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, **env},
        )

    tree = make_tree(tmp_path / "t", {"a.txt": os.urandom(64).hex().encode()})
    repo = f"{registry.host}/drop-in/script"
    pushed = run("push", f"-i={repo}:v1", f"-f{tree}", "--tty=F", "--json=false", "-y=1")
    assert pushed.returncode == 0, pushed.stderr
    # zstd, as skopeo writes it (other content: skopeo would reuse the gzip blob pushed above)
    tree = make_tree(tmp_path / "z", {"a.txt": os.urandom(64).hex().encode()})
    layout = tmp_path / "layout"
    assert run("push", "-i", f"oci:{layout}:v1", "-f", str(tree)).returncode == 0
    converted = subprocess.run(
        ["skopeo", "copy", "--dest-tls-verify=false", "--dest-compress-format", "zstd",
         f"oci:{layout}:v1", f"docker://{repo}:zstd"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert converted.returncode == 0, converted.stderr
    pulled = run("pull", "-i", f"{repo}:zstd", "-o", str(tmp_path / "out"), "--debug=true")
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / "out" / "a.txt").read_bytes() == (tree / "a.txt").read_bytes()
    assert f"--> GET http://{registry.host}/v2/drop-in/script/manifests/zstd" in pulled.stderr
    assert "Docker-Distribution-Api-Version: registry/2.0" in pulled.stderr
    assert "+zstd" in pulled.stderr  # the manifest, a small JSON body, is shown
    copied = run(
        "copy",
        "-i",
        f"{repo}:v1",
        "--to-tar",
        str(tmp_path / "i.tar"),
        "--include-non-distributable-layers=true",
        "--tty",
    )
    assert copied.returncode == 0, copied.stderr
    assert (
        "'--include-non-distributable-layers' flag provided, but no images contained a "
        "non-distributable layer." in copied.stdout
    )
    unknown = run("tag", "list", "-i", repo, IMGPKG_ACTIVE_KEYCHAINS="random-name")
    assert (unknown.returncode, unknown.stderr) == (
        1,
        "imgpkg: Error: Creating registry keychain: Unable to load keychain for random-name, "
        "available keychains [aks, ecr, gke, github]\n",
    )
    listed = run("tag", "list", "-i", repo, "--digests=t", IMGPKG_ACTIVE_KEYCHAINS="github, gke")
    assert listed.returncode == 0, listed.stderr
    assert sorted(line.split()[0] for line in listed.stdout.splitlines()) == ["v1", "zstd"]
