"""A killed ``copy --to-tar`` leaves no litter and its work is not lost (issue 11, point 5).

The copy runs as a child process (one blob at a time) behind a proxy that kills
it (SIGKILL) at its first request after the source served it half the bytes of
the bundle's blobs.  The rerun (with
or without ``--resume``) finds the partial tarball the killed run left beside
the destination (it holds it with a lock while it lives; a dead run's lock is
gone) and the blobs it stored in the local store, reuses every entry that
verifies, fetches the rest, and removes the partial: the two runs together read
about the blobs' bytes once, counted at the proxy, and nothing is left beside
the tarball.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from imgpkg_pure.reference import Repository
from imgpkg_pure.store.registry import RegistryClient, RegistryOptions
from tests.cli.helpers import write_images_lock
from tests.faults.conftest import run_in_process
from tests.faults.harness import _push_image
from tests.faults.proxy import FaultPlan, FaultProxy
from tests.registry_fixtures import RegistryServer

pytestmark = pytest.mark.registry

ROOT: Final = Path(__file__).resolve().parents[2]
LAYER: Final = 1 << 20
IMAGES: Final = 6  # two 1 MiB layers each: 12 MiB of layers


@pytest.fixture(scope="module")
def even_bundle(registry: RegistryServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A bundle of six images with two 1 MiB layers each (halves are meaningful)."""
    work = tmp_path_factory.mktemp("even")
    repository = f"reuse/src-{work.name}"
    repo = Repository(registry=registry.host, repository=repository)
    with RegistryClient(RegistryOptions(insecure=True)) as client:
        refs = [_push_image(client, repo, 100 + n, (LAYER, LAYER + n)) for n in range(IMAGES)]
    files = write_images_lock(work / "files", refs)
    code, stderr = run_in_process(["push", "-b", f"{repo}:v1", "-f", str(files)])
    assert code == 0, stderr
    return f"{repository}:v1"


@pytest.mark.parametrize("resume", [False, True], ids=["plain", "resume"])
def test_the_rerun_fetches_only_what_the_killed_run_did_not(
    resume: bool,
    tmp_path: Path,
    registry: RegistryServer,
    even_bundle: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    total = IMAGES * 2 * LAYER
    out = tmp_path / "out"
    out.mkdir()
    tar = out / "bundle.tar"
    flags = ["--resume"] if resume else []
    with FaultProxy(registry.url, FaultPlan(rate=0.0)) as proxy:
        args = ["copy", "-b", f"{proxy.host}/{even_bundle}", "--to-tar", str(tar), *flags,
                "--concurrency", "1"]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT), "IMGPKG_PURE_CACHE": str(tmp_path / "c1")}
        child = subprocess.Popen(
            [sys.executable, "-m", "imgpkg_pure.store.cli", *args],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        proxy.kill_after_bytes(child.pid, total // 2)
        try:
            child.wait(timeout=120)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        assert proxy.killed
        first = proxy.blob_bytes
    assert not tar.exists()
    partials = [p.name for p in out.iterdir()]
    assert len(partials) == 1 and partials[0].startswith(".bundle.tar."), partials

    monkeypatch.setenv("IMGPKG_PURE_CACHE", str(tmp_path / "c1"))  # the user's store, as it was
    with FaultProxy(registry.url, FaultPlan(rate=0.0)) as proxy:
        code, stderr = run_in_process(
            ["copy", "-b", f"{proxy.host}/{even_bundle}", "--to-tar", str(tar), *flags]
        )
        second = proxy.blob_bytes
    assert code == 0, stderr
    assert [p.name for p in out.iterdir()] == ["bundle.tar"]  # the partial is gone
    # The killed run was served about half (the answer crossing the line is never relayed);
    # the rerun fetched about the other half: together, the blobs' bytes about once (the
    # blobs whose writes the kill cut short, and the small configs, are read twice).
    assert total // 2 <= first < total // 2 + 2 * LAYER, (first, total)
    assert first + second <= total + 2 * LAYER, (first, second, total)
    assert second <= total // 2 + 2 * LAYER, (first, second, total)
    code, stderr = run_in_process(
        ["copy", "--tar", str(tar), "--to-repo", f"{registry.host}/reuse/check-{tmp_path.name}"]
    )
    assert code == 0, stderr
