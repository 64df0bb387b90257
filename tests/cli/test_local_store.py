"""The local store as a mirror (issue 12, ``docs/cache.md``), against the real registry.

What is read once is never fetched twice (the registry's access log shows no blob
``GET`` on the second run), tags are re-validated with one ``HEAD``, ``--offline``
works with the registry stopped, ``store verify`` catches a flipped byte, ``prune``
and ``--cache-max-size`` keep the bound, and skopeo reads the store as the OCI
image layout it is.
"""

from __future__ import annotations

import filecmp
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import run_cli
from tests.cli.test_copy_registry import _upload
from tests.registry_fixtures import RegistryServer

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
