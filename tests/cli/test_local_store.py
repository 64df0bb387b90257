"""The local store as a mirror (issue 12, ``docs/cache.md``), against the real registry.

What is read once is never fetched twice (the registry's access log shows no blob
``GET`` on the second run), tags are re-validated with one ``HEAD``, ``--offline``
works with the registry stopped, ``store verify`` catches a flipped byte, ``prune``
and ``--cache-max-size`` keep the bound, and skopeo reads the store as the OCI
image layout it is.
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import run_cli
from tests.cli.test_copy_registry import _upload
from tests.registry_fixtures import RegistryServer, running_registry

_REQUEST = re.compile(r'"(GET|HEAD|PUT|POST|PATCH|DELETE) (/v2/[^ ]*) HTTP')


def _requests(server: RegistryServer, since: int) -> list[tuple[str, str]]:
    """(method, path) of every request the registry's access log shows after ``since``."""
    return _REQUEST.findall(server.read_log_since(since, 100_000))


def _blob_gets(requests: list[tuple[str, str]], repo: str) -> int:
    return sum(1 for method, path in requests if method == "GET" and f"/{repo}/blobs/" in path)


def _store() -> Path:
    return Path(os.environ["IMGPKG_PURE_CACHE"])


def _same_tree(left: Path, right: Path) -> None:
    compared = filecmp.dircmp(left, right)
    assert not compared.left_only and not compared.right_only and not compared.diff_files
    for sub in compared.common_dirs:
        _same_tree(left / sub, right / sub)


def _bundle(registry: RegistryServer, repo: str) -> tuple[dict[str, Any], str]:
    expected = _upload("bundle", registry, repo)
    return expected, f"{registry.host}/{repo}:{expected['root']['tag']}"


def test_second_pull_reads_no_blob_and_revalidates_the_tag_with_one_head(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    _, ref = _bundle(registry, unique_repo)
    first = registry.log_size()
    code, _, stderr = run_cli(capsys, "pull", "-r", "-b", ref, "-o", str(tmp_path / "one"))
    assert code == 0, stderr
    assert _blob_gets(_requests(registry, first), unique_repo) > 0
    again = registry.log_size()
    code, _, stderr = run_cli(capsys, "pull", "-r", "-b", ref, "-o", str(tmp_path / "two"))
    assert code == 0, stderr
    requests = _requests(registry, again)
    assert _blob_gets(requests, unique_repo) == 0
    manifests = [(m, p) for m, p in requests if "/manifests/" in p]
    tag = ref.rsplit(":", 1)[1]
    assert ("HEAD", f"/v2/{unique_repo}/manifests/{tag}") in manifests
    assert not [p for m, p in manifests if m == "GET" and "sha256:" in p]  # by digest: never
    _same_tree(tmp_path / "one", tmp_path / "two")


def test_second_copy_reads_no_blob_from_the_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    _, ref = _bundle(registry, unique_repo)
    first = registry.log_size()
    code, _, stderr = run_cli(capsys, "copy", "-b", ref, "--to-repo", f"oci:{tmp_path / 'a'}")
    assert code == 0, stderr
    fetched = _blob_gets(_requests(registry, first), unique_repo)
    assert fetched > 0
    again = registry.log_size()
    code, _, stderr = run_cli(capsys, "copy", "-b", ref, "--to-tar", str(tmp_path / "b.tar"))
    assert code == 0, stderr
    assert _blob_gets(_requests(registry, again), unique_repo) == 0
    # --no-cache goes back to the registry for every blob (the bundle's layer twice: once
    # for its images.yml, once for the copy; a mirrored first run read it once)
    third = registry.log_size()
    code, _, stderr = run_cli(
        capsys, "copy", "--no-cache", "-b", ref, "--to-repo", f"oci:{tmp_path / 'c'}"
    )
    assert code == 0, stderr
    assert _blob_gets(_requests(registry, third), unique_repo) == fetched + 1


def test_offline_pull_from_a_carried_store_with_the_registry_stopped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The air-gap story: copy to an OCI layout on the connected side (the store keeps what
    it read), carry the store (a directory copy), pull --offline on the other side."""
    near = tmp_path / "store-near"
    with running_registry(tmp_path / "registry") as server:
        _, ref = _bundle(server, "airgap/bundle")
        code, _, stderr = run_cli(
            capsys, "copy", "--cache", str(near), "-b", ref, "--to-repo", f"oci:{tmp_path / 'l'}"
        )
        assert code == 0, stderr
        code, _, stderr = run_cli(
            capsys, "pull", "--no-cache", "-b", ref, "-o", str(tmp_path / "online")
        )
        assert code == 0, stderr
    far = tmp_path / "store-far"
    shutil.copytree(near, far)  # carried: a plain directory copy

    code, stdout, stderr = run_cli(
        capsys, "pull", "--tty", "--offline", "--cache", str(far), "-b", ref,
        "-o", str(tmp_path / "offline"),
    )  # fmt: skip
    assert code == 0, stderr
    assert f"--offline: '{ref}' is sha256:" in stdout
    assert "as the local store recorded it at 20" in stdout
    _same_tree(tmp_path / "online", tmp_path / "offline")
    code, _, stderr = run_cli(capsys, "describe", "--offline", "--cache", str(far), "-b", ref)
    assert code == 0, stderr
    code, _, stderr = run_cli(
        capsys, "copy", "--offline", "--cache", str(far), "-b", ref,
        "--to-tar", str(tmp_path / "again.tar"),
    )  # fmt: skip
    assert code == 0, stderr

    # what the store does not hold: one line naming it
    missing = ref.replace("airgap/bundle", "airgap/other")
    code, _, stderr = run_cli(
        capsys, "pull", "--offline", "--cache", str(far), "-b", missing, "-o", str(tmp_path / "x")
    )
    assert code == 1
    assert stderr.count("\n") == 1
    assert f"{missing}: 404 Not Found: the local store {far} recorded no resolution" in stderr
    digest = "sha256:" + "0" * 64
    image = f"{ref.rsplit(':', 1)[0]}@{digest}"
    code, _, stderr = run_cli(
        capsys, "pull", "--offline", "--cache", str(far), "-i", image, "-o", str(tmp_path / "y")
    )
    assert (code, stderr.count("\n")) == (1, 1)
    assert f"--offline: manifest {image}: not in the local store (local store {far})" in stderr
    index = json.loads((far / "index.json").read_text())
    root = next(
        m for m in index["manifests"]
        if m["annotations"]["org.opencontainers.image.ref.name"] == ref
    )  # fmt: skip
    manifest = json.loads((far / "blobs" / "sha256" / root["digest"][7:]).read_text())
    layer = far / "blobs" / "sha256" / manifest["layers"][0]["digest"][7:]
    layer.unlink()
    code, _, stderr = run_cli(
        capsys, "pull", "--offline", "--cache", str(far), "-b", ref, "-o", str(tmp_path / "z")
    )
    assert (code, stderr.count("\n")) == (1, 1)
    assert f"--offline: blob sha256:{layer.name} of " in stderr
    assert "not in the local store" in stderr


def _largest_blob(store: Path) -> Path:
    return max((store / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)


def _flip(path: Path) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_verify_catches_a_flipped_byte_and_removes_the_blob(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    _, ref = _bundle(registry, unique_repo)
    assert run_cli(capsys, "pull", "-b", ref, "-o", str(tmp_path / "one"))[0] == 0
    code, stdout, _ = run_cli(capsys, "store", "verify")
    assert code == 0 and " 0 corrupt" in stdout
    corrupt = _largest_blob(_store())
    _flip(corrupt)
    code, stdout, stderr = run_cli(capsys, "store", "verify")
    assert code == 1
    assert f"corrupt: sha256:{corrupt.name} (hashes to sha256:" in stdout
    found = f"1 corrupt blob(s) found in the local store {_store()}, and removed"
    assert stderr == f"imgpkg-pure: Error: {found}\n"
    assert not corrupt.exists()
    assert run_cli(capsys, "store", "verify")[0] == 0


def _pulled_again_after_a_flip(
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    repo: str,
    corrupt: Path,
    tmp_path: Path,
    *source: str,
) -> None:
    """``corrupt`` (a stored blob of ``source``, pulled into ``tmp_path/one``) gets a byte
    flipped; pulling ``source`` again fetches only that blob from the registry, gives the
    same tree, and leaves a store that verifies clean."""
    _flip(corrupt)
    since = registry.log_size()
    code, _, stderr = run_cli(capsys, "pull", *source, "-o", str(tmp_path / "two"))
    assert code == 0, stderr
    gets = [p for m, p in _requests(registry, since) if m == "GET" and "/blobs/" in p]
    assert gets == [f"/v2/{repo}/blobs/sha256:{corrupt.name}"]
    _same_tree(tmp_path / "one", tmp_path / "two")
    code, stdout, _ = run_cli(capsys, "store", "verify")
    assert code == 0 and " 0 corrupt" in stdout


def test_a_blob_that_fails_reverification_is_dropped_and_fetched_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    _, ref = _bundle(registry, unique_repo)
    assert run_cli(capsys, "pull", "-b", ref, "-o", str(tmp_path / "one"))[0] == 0
    corrupt = _largest_blob(_store())
    _pulled_again_after_a_flip(capsys, registry, unique_repo, corrupt, tmp_path, "-b", ref)


def _du(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, str]:
    code, stdout, stderr = run_cli(capsys, "store", "du", "--json", *extra)
    assert code == 0, stderr
    rows: list[dict[str, str]] = json.loads(stdout)["Tables"][0]["Rows"]
    return rows[0]


def test_the_size_bound_and_prune_evict_least_recently_used_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for n in range(3):
        (tree / f"file{n}").write_bytes(os.urandom(40_000))
    refs = []
    for n in range(3):
        ref = f"{registry.host}/{unique_repo}:v{n}"
        (tree / "which").write_text(str(n))
        assert run_cli(capsys, "push", "-i", ref, "-f", str(tree), "--no-cache")[0] == 0
        refs.append(ref)
    # each image is ~120 kB (its layer does not compress); a bound of 200 kB keeps the last
    for n, ref in enumerate(refs):
        code, _, stderr = run_cli(
            capsys, "pull", "-i", ref, "-o", str(tmp_path / f"o{n}"), "--cache-max-size", "200KB"
        )
        assert code == 0, stderr
        assert int(_du(capsys)["bytes"]) <= 200_000
    code, stdout, _ = run_cli(capsys, "store", "ls", "--json")
    names = [row["reference"] for row in json.loads(stdout)["Tables"][0]["Rows"]]
    assert refs[2] in names and refs[0] not in names  # least recently used went first
    # the last one pulled is served from the store again, unasked for its blobs
    since = registry.log_size()
    assert run_cli(capsys, "pull", "-i", refs[2], "-o", str(tmp_path / "again"))[0] == 0
    assert _blob_gets(_requests(registry, since), unique_repo) == 0
    # prune: by size, then by age
    code, _, stderr = run_cli(capsys, "store", "prune", "--max-size", "1KB")
    assert code == 0, stderr
    assert int(_du(capsys)["bytes"]) <= 1000
    assert run_cli(capsys, "pull", "-i", refs[1], "-o", str(tmp_path / "o1b"))[0] == 0
    assert int(_du(capsys)["bytes"]) > 100_000
    assert run_cli(capsys, "store", "prune", "--older-than", "0s")[0] == 0
    usage = _du(capsys)
    assert (usage["blobs"], usage["references"]) == ("0", "0")


def test_gc_drops_what_no_reference_reaches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    _, ref = _bundle(registry, unique_repo)
    assert run_cli(capsys, "pull", "-b", ref, "-o", str(tmp_path / "one"))[0] == 0
    before = _du(capsys)
    stray = _store() / "blobs" / "sha256"
    data = b"nothing names me"
    (stray / hashlib.sha256(data).hexdigest()).write_bytes(data)
    code, stdout, stderr = run_cli(capsys, "store", "gc")
    assert code == 0, stderr
    assert stdout.startswith("Removed 1 blobs (16 B) and 0 references")
    assert _du(capsys)["blobs"] == before["blobs"]


def test_skopeo_reads_the_store_as_an_oci_layout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    """skopeo's ``oci:`` transport names OCI-typed roots (it passes over entries of docker
    media types), so the image is pushed with OCI media types."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "hello.txt").write_text("hello from the local store\n")
    ref = f"{registry.host}/{unique_repo}:v1"
    code, _, stderr = run_cli(capsys, "push", "-i", ref, "-f", str(tree), "--media-types", "oci")
    assert code == 0, stderr
    assert run_cli(capsys, "pull", "-i", ref, "-o", str(tmp_path / "one"))[0] == 0
    inspected = subprocess.run(
        ["skopeo", "inspect", f"oci:{_store()}:{ref}"], capture_output=True, text=True, check=False
    )
    assert inspected.returncode == 0, inspected.stderr
    layer = json.loads(inspected.stdout)["Layers"][0]
    copied = subprocess.run(
        ["skopeo", "copy", f"oci:{_store()}:{ref}", f"dir:{tmp_path / 'dir'}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert copied.returncode == 0, copied.stderr
    assert (tmp_path / "dir" / layer.removeprefix("sha256:")).is_file()


def test_export_and_import_move_a_recorded_bundle_between_stores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    _, ref = _bundle(registry, unique_repo)
    assert run_cli(capsys, "copy", "-b", ref, "--to-repo", f"oci:{tmp_path / 'l'}")[0] == 0
    tarball = tmp_path / "bundle.tar"
    code, _, stderr = run_cli(capsys, "store", "export", ref, "--to-tar", str(tarball))
    assert code == 0, stderr
    code, _, stderr = run_cli(capsys, "store", "export", ref, "--to-repo", f"oci:{tmp_path / 'e'}")
    assert code == 0, stderr
    other = tmp_path / "other-store"
    code, stdout, stderr = run_cli(capsys, "store", "import", str(tarball), "--cache", str(other))
    assert code == 0, stderr
    assert "new blobs" in stdout
    code, _, stderr = run_cli(
        capsys, "pull", "--offline", "--cache", str(other), "-b", ref, "-o", str(tmp_path / "p")
    )
    assert code == 0, stderr


def test_the_blobs_a_plan_staged_survive_gc_until_it_is_applied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "app.yml").write_text("replicas: 2\n")
    ref = f"{registry.host}/{unique_repo}:v1"
    plan = tmp_path / "push.plan"
    code, _, stderr = run_cli(
        capsys, "plan", "push", "-i", ref, "-f", str(tree), "--out", str(plan)
    )
    assert code == 0, stderr
    assert run_cli(capsys, "store", "gc")[0] == 0
    code, stdout, _ = run_cli(capsys, "store", "ls")
    assert "plans/" in stdout
    code, _, stderr = run_cli(capsys, "apply", str(plan))
    assert code == 0, stderr
    assert run_cli(capsys, "pull", "-i", ref, "-o", str(tmp_path / "out"))[0] == 0
    assert (tmp_path / "out" / "app.yml").read_text() == "replicas: 2\n"


def test_a_large_cached_layer_that_fails_reverification_is_fetched_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    """Above 4 MiB a stored blob streams (re-hashed as it goes); the extraction it fed is
    thrown away, the blob dropped, and the retry reads it from the registry."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "big.bin").write_bytes(os.urandom(6 << 20))
    ref = f"{registry.host}/{unique_repo}:v1"
    assert run_cli(capsys, "push", "--no-cache", "-i", ref, "-f", str(tree))[0] == 0
    assert run_cli(capsys, "pull", "-i", ref, "-o", str(tmp_path / "one"))[0] == 0
    corrupt = _largest_blob(_store())
    assert corrupt.stat().st_size > 4 << 20
    _pulled_again_after_a_flip(capsys, registry, unique_repo, corrupt, tmp_path, "-i", ref)
