"""``copy`` to and from tars of OCI image layouts (``oci-archive:FILE[:TAG]``), against a
real registry and skopeo.

* registry → ``--to-repo oci-archive:FILE`` → skopeo reads it → ``-b
  oci-archive:FILE:v1`` → a second repository, with the lock output and the
  pulled ``images.yml`` that the real imgpkg gives for the same bundle;
* an archive skopeo wrote (``docker://… oci-archive:FILE:TAG``) is a source;
* the same content gives the same archive bytes;
* hostile or broken archives are refused with one line (exit 1, no traceback)
  and nothing is tagged at the destination, nor any file left behind.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from imgpkg_pure.reference import Repository
from imgpkg_pure.store.registry import RegistryClient, RegistryOptions
from tests.cli.helpers import FIXTURES, run_cli
from tests.cli.imgpkg_tarball import upload_tarball
from tests.registry_fixtures import RegistryServer
from tests.unit.test_oci_archive import Member, TinyImage, members, tiny_image, write_tar

#: ``fixtures/layered`` of the bundle fixture: an OCI-typed image (skopeo's oci transports
#: only index OCI manifest types).
LAYERED = "sha256:576619875c4a385bc5d47b277f2ed4843d3acb42634c6dcd0f764f0a15ad6fc1"
EXPECTED_BUNDLE: dict[str, Any] = json.loads((FIXTURES / "expected" / "bundle.json").read_text())


def _upload(registry: RegistryServer, repo: str) -> dict[str, Any]:
    """The bundle fixture's content in ``repo``, its root also under its tag ``v1``."""
    with RegistryClient(RegistryOptions()) as client:
        upload_tarball(
            FIXTURES / "bundle.tar", client, Repository(registry=registry.host, repository=repo)
        )
    root = EXPECTED_BUNDLE["root"]
    with registry.client() as http:
        accept = "application/vnd.docker.distribution.manifest.v2+json"
        got = http.get(f"/v2/{repo}/manifests/{root['digest']}", headers={"Accept": accept})
        put = http.put(
            f"/v2/{repo}/manifests/{root['tag']}",
            content=got.content,
            headers={"Content-Type": got.headers["Content-Type"]},
        )
        put.raise_for_status()
    return root  # type: ignore[no-any-return]


def _tags(registry: RegistryServer, repo: str) -> list[str]:
    with registry.client() as http:
        listed = http.get(f"/v2/{repo}/tags/list")
    if listed.status_code == 404:
        return []
    listed.raise_for_status()
    return list(listed.json().get("tags") or [])


def _head(registry: RegistryServer, repo: str, tag: str) -> str:
    with registry.client() as http:
        head = http.head(
            f"/v2/{repo}/manifests/{tag}",
            headers={"Accept": ",".join([
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.index.v1+json",
                "application/vnd.docker.distribution.manifest.v2+json",
            ])},
        )  # fmt: skip
    head.raise_for_status()
    return head.headers["Docker-Content-Digest"]


def _roots(archive: Path) -> dict[str, str]:
    with tarfile.open(archive) as tar:
        handle = tar.extractfile("index.json")
        assert handle is not None
        index = json.load(handle)
    return {
        m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
        for m in index["manifests"]
    }


def _skopeo(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["skopeo", *args], capture_output=True, check=False)


def test_copy_through_an_oci_archive(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
) -> None:
    """registry → oci-archive:FILE (read by skopeo) → registry, every digest preserved."""
    src, dst = unique_repo_factory("src"), unique_repo_factory("dst")
    root = _upload(registry, src)
    archive = tmp_path / "bundle.tar"
    code, stdout, stderr = run_cli(
        capsys, "copy", "--tty", "-b", f"{registry.host}/{src}:v1",
        "--to-repo", f"oci-archive:{archive}",
    )  # fmt: skip
    assert code == 0, stderr
    assert f"copy | writing oci-archive:{archive}\n" in stdout
    assert stdout.endswith("Succeeded\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle.tar"]  # no temporaries
    names = _roots(archive)
    assert names["v1"] == root["digest"]
    for entry in EXPECTED_BUNDLE["roundtrip"]["tags_in_repo"]:
        # Every tag but the locations image's (gzipped by isal: another digest, see
        # docs/differences.md) is a root with imgpkg's digest.
        if entry["digest"] in names.values():
            assert names[entry["tag"]] == entry["digest"], entry["tag"]
        else:
            locations = f"sha256-{root['digest'][7:]}.image-locations.imgpkg"
            assert entry["tag"] in (locations, f"sha256-{entry['digest'][7:]}.imgpkg")
            assert f"sha256-{names[locations][7:]}.imgpkg" in names
    inspected = _skopeo("inspect", "--raw", f"oci-archive:{archive}:sha256-{LAYERED[7:]}.imgpkg")
    assert inspected.returncode == 0, inspected.stderr
    assert "sha256:" + hashlib.sha256(inspected.stdout).hexdigest() == LAYERED

    lock = tmp_path / "lock.yml"
    code, stdout, stderr = run_cli(
        capsys, "copy", "--tty", "-b", f"oci-archive:{archive}:v1",
        "--to-repo", f"{registry.host}/{dst}", "--lock-output", str(lock),
    )  # fmt: skip
    assert code == 0, stderr
    assert f"copy | will export oci-archive:{archive}@{root['digest']}" in stdout
    repo_ref = f"{registry.host}/{dst}"
    expected_lock = EXPECTED_BUNDLE["roundtrip"]["lock_output"].replace("{REPO}", repo_ref)
    assert lock.read_text() == expected_lock
    out = tmp_path / "pulled"
    code, _, stderr = run_cli(capsys, "pull", "-r", "--lock", str(lock), "-o", str(out))
    assert code == 0, stderr
    bundle = next(
        i for i in EXPECTED_BUNDLE["images"] if i.get("manifest_digest") == root["digest"]
    )
    after = bundle["bundle"]["images_yml_after_pull_from_relocated_repo"]
    assert (out / ".imgpkg" / "images.yml").read_text() == after.replace("{REPO}", repo_ref)


def test_same_content_gives_the_same_archive_bytes(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo: str,
) -> None:
    _upload(registry, unique_repo)
    first, second = tmp_path / "first.tar", tmp_path / "second.tar"
    for archive in (first, second, first):  # the last one over the existing file
        code, _, stderr = run_cli(
            capsys, "copy", "-b", f"{registry.host}/{unique_repo}:v1",
            "--to-repo", f"oci-archive:{archive}",
        )  # fmt: skip
        assert code == 0, stderr
    assert first.read_bytes() == second.read_bytes()
    # ... and an archive copied to an archive holds the same content, so the same bytes.
    third = tmp_path / "third.tar"
    code, _, stderr = run_cli(
        capsys, "copy", "-b", f"oci-archive:{first}:v1", "--to-repo", f"oci-archive:{third}"
    )
    assert code == 0, stderr
    assert third.read_bytes() == first.read_bytes()


def test_an_archive_to_an_imgpkg_tarball_and_back(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo: str,
) -> None:
    """``--to-tar`` streams layers out of an archive; ``--tar`` into one gives the same roots."""
    _upload(registry, unique_repo)
    archive, tarball, again = tmp_path / "a.tar", tmp_path / "imgpkg.tar", tmp_path / "b.tar"
    for source, destination in (
        (f"{registry.host}/{unique_repo}:v1", ["--to-repo", f"oci-archive:{archive}"]),
        (f"oci-archive:{archive}:v1", ["--to-tar", str(tarball)]),
    ):
        code, _, stderr = run_cli(capsys, "copy", "-b", source, *destination)
        assert code == 0, stderr
    code, _, stderr = run_cli(
        capsys, "copy", "--tar", str(tarball), "--to-repo", f"oci-archive:{again}"
    )
    assert code == 0, stderr
    assert _roots(again) == _roots(archive)
    with tarfile.open(archive) as one, tarfile.open(again) as two:
        assert sorted(one.getnames()) == sorted(two.getnames())


def test_an_archive_written_by_skopeo_is_a_source(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
) -> None:
    src, dst = unique_repo_factory("src"), unique_repo_factory("dst")
    _upload(registry, src)
    archive = tmp_path / "skopeo.tar"
    copied = _skopeo(
        "copy", "--preserve-digests", "--src-tls-verify=false",
        f"docker://{registry.host}/{src}@{LAYERED}", f"oci-archive:{archive}:layered",
    )  # fmt: skip
    assert copied.returncode == 0, copied.stderr
    code, stdout, stderr = run_cli(
        capsys, "copy", "--tty", "-i", f"oci-archive:{archive}:layered",
        "--to-repo", f"{registry.host}/{dst}",
    )  # fmt: skip
    assert code == 0, stderr
    assert f"copy | will export oci-archive:{archive}@{LAYERED}" in stdout
    assert _head(registry, dst, "layered") == LAYERED
    assert _head(registry, dst, f"sha256-{LAYERED[7:]}.imgpkg") == LAYERED


# --- refusals ------------------------------------------------------------------------------


def _with(image: TinyImage, extra: list[Member]) -> list[Member]:
    return [*members(image.files), *extra]


def _without(image: TinyImage, name: str) -> list[Member]:
    return members({k: v for k, v in image.files.items() if k != name})


def _flipped(image: TinyImage, digest: str) -> list[Member]:
    name = image.blob_path(digest)
    return members({**image.files, name: bytes(b ^ 0xFF for b in image.files[name])})


Case = Callable[[Path, TinyImage], Path]


def _tar(build: Callable[[TinyImage], list[Member]]) -> Case:
    return lambda path, image: write_tar(path, build(image))


def _truncated(path: Path, image: TinyImage) -> Path:
    whole = write_tar(path, members(image.files)).read_bytes()
    path.write_bytes(whole[: whole.index(image.files[image.blob_path(image.layer)]) + 20])
    return path


HOSTILE: dict[str, tuple[Case, str]] = {
    "absolute": (
        _tar(lambda i: _with(i, [Member(name="/etc/motd", data=b"x")])),
        "refusing entry '/etc/motd': absolute names are refused",
    ),
    "dotdot": (
        _tar(lambda i: _with(i, [Member(name="blobs/../../motd", data=b"x")])),
        "refusing entry 'blobs/../../motd': names with a '..' component are refused",
    ),
    "symlink": (
        _tar(lambda i: _with(i, [Member(name="x", kind=tarfile.SYMTYPE, link="/etc")])),
        "refusing entry 'x': type '2' (symbolic link) is not a regular file or a directory",
    ),
    "duplicate": (
        _tar(lambda i: _with(i, [Member(name="index.json", data=b"{}")])),
        "entry 'index.json' appears twice with different content",
    ),
    "truncated": (_truncated, "truncated tar: entry 'blobs/sha256/"),
    "no-index": (
        _tar(lambda i: _without(i, "index.json")),
        "not an OCI image layout archive: no index.json entry",
    ),
    "no-layout": (
        _tar(lambda i: _without(i, "oci-layout")),
        "not an OCI image layout archive: no oci-layout entry",
    ),
    "corrupt-layer": (
        _tar(lambda i: _flipped(i, i.layer)),
        "digest mismatch: expected sha256:",
    ),
    "corrupt-config": (
        _tar(lambda i: _flipped(i, i.config)),
        "digest mismatch: expected sha256:",
    ),
    "corrupt-manifest": (
        _tar(lambda i: _flipped(i, i.manifest)),
        "digest mismatch: expected sha256:",
    ),
}


def _one_line_error(code: int, stdout: str, stderr: str, wanted: str) -> None:
    assert code == 1, stdout
    assert "Traceback" not in stdout + stderr
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("imgpkg-pure: Error: "), stderr
    assert wanted in stderr


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_or_broken_archives_are_refused(
    case: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo: str,
) -> None:
    build, wanted = HOSTILE[case]
    image = tiny_image(seed=case)
    archive = build(tmp_path / "hostile.tar", image)
    code, stdout, stderr = run_cli(
        capsys, "copy", "-i", f"oci-archive:{archive}:v1", "--to-repo",
        f"{registry.host}/{unique_repo}",
    )  # fmt: skip
    _one_line_error(code, stdout, stderr, wanted)
    assert str(archive) in stderr
    assert _tags(registry, unique_repo) == []
    # To an archive: no file is written, and the temporary layout is gone.
    out = tmp_path / "out.tar"
    code, stdout, stderr = run_cli(
        capsys, "copy", "-i", f"oci-archive:{archive}:v1", "--to-repo", f"oci-archive:{out}"
    )
    _one_line_error(code, stdout, stderr, wanted)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.tar"]


def test_a_root_missing_from_the_archive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    archive = write_tar(tmp_path / "a.tar", members(tiny_image().files))
    code, stdout, stderr = run_cli(
        capsys, "copy", "-i", f"oci-archive:{archive}:v9", "--to-repo",
        f"{registry.host}/{unique_repo}",
    )  # fmt: skip
    _one_line_error(code, stdout, stderr, f"oci-archive:{archive}: 404 Not Found: v9 not found")
    code, stdout, stderr = run_cli(
        capsys, "copy", "-i", f"oci-archive:{tmp_path / 'missing.tar'}", "--to-repo",
        f"{registry.host}/{unique_repo}",
    )  # fmt: skip
    _one_line_error(code, stdout, stderr, "cannot open the archive: No such file or directory")
    assert _tags(registry, unique_repo) == []


def test_an_archive_destination_that_is_a_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = write_tar(tmp_path / "a.tar", members(tiny_image().files))
    target = tmp_path / "dir"
    target.mkdir()
    code, stdout, stderr = run_cli(
        capsys, "copy", "-i", f"oci-archive:{archive}:v1", "--to-repo", f"oci-archive:{target}"
    )
    _one_line_error(code, stdout, stderr, f"{target}: cannot write it: it is a directory")
    code, stdout, stderr = run_cli(
        capsys, "copy", "-i", f"oci-archive:{archive}:v1",
        "--to-repo", f"oci-archive:{tmp_path / 'no' / 'such' / 'dir.tar'}",
    )  # fmt: skip
    _one_line_error(code, stdout, stderr, "cannot create a temporary layout beside it")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar", "dir"]
