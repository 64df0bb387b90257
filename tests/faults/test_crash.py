"""SIGKILL at many points of push, pull and copy; the rerun completes, verified (issue 11).

Each leg runs as a child process behind a :class:`tests.faults.proxy.FaultProxy`
that kills it (SIGKILL) when its k-th request arrives: a crash point counted in
requests, so the same k is the same point on any machine.  The points are drawn
(seeded) over the requests a clean run of the leg makes.  After each kill:

* nothing half-written is visible under the final name: an output file or
  directory is either absent or complete and verified, and every tag in a
  destination registry points at a manifest whose content is all there;
* the local store (``IMGPKG_PURE_CACHE``, kept for the rerun) verifies clean:
  every blob hashes to its name;
* the same command run again (no kill) completes, and its result verifies, and
  nothing of the killed run's work areas is left beside the output.

Nine points for each of six legs: 54 crash points.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final

import pytest
from attrs import frozen
from returns.pipeline import is_successful

from imgpkg_pure.reference import Repository
from imgpkg_pure.store.registry import RegistryClient, RegistryOptions
from tests.faults.conftest import run_in_process
from tests.faults.harness import Bundle, _verify_manifest, make_bundle, verify_files, verify_repo
from tests.faults.proxy import FaultPlan, FaultProxy
from tests.registry.helpers import ok
from tests.registry_fixtures import RegistryServer

pytestmark = pytest.mark.registry

ROOT: Final = Path(__file__).resolve().parents[2]
POINTS_PER_LEG: Final = 9
#: What a leg's work directory may hold after the rerun: outputs, the store, checks.
_OURS: Final = frozenset({"cache", "pulled", "pushed", "b.tar", "lay", "a.tar"})
_names = itertools.count()


@pytest.fixture(scope="module")
def small_bundle(registry: RegistryServer, tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    work = tmp_path_factory.mktemp("crash-bundle")
    return make_bundle(run_in_process, registry.host, f"crash/src-{work.name}", work, 2)


@frozen(kw_only=True)
class CrashLeg:
    """``args(source, destination, work)``: the command, given the bundle's reference and a
    destination repository reference; ``through``: which side the killing proxy fronts;
    ``output``: the final name the command writes in ``work`` (None: a registry)."""

    name: str
    through: str  # "src" or "dst"
    args: Callable[[str, str, Path], list[str]]
    output: str | None


def _push(_src: str, dst: str, work: Path) -> list[str]:
    return ["push", "-b", f"{dst}:v1", "-f", str(work.parent / "files")]


LEGS: Final = (
    CrashLeg(name="push", through="dst", output=None, args=_push),
    CrashLeg(name="pull", through="src", output="pulled",
             args=lambda s, _d, w: ["pull", "-b", s, "-o", str(w / "pulled")]),
    CrashLeg(name="repo>repo", through="dst", output=None,
             args=lambda s, d, _w: ["copy", "-b", s, "--to-repo", d]),
    CrashLeg(name="repo>tar", through="src", output="b.tar",
             args=lambda s, _d, w: ["copy", "-b", s, "--to-tar", str(w / "b.tar")]),
    CrashLeg(name="repo>layout", through="src", output="lay",
             args=lambda s, _d, w: ["copy", "-b", s, "--to-repo", f"oci:{w}/lay"]),
    CrashLeg(name="repo>archive", through="src", output="a.tar",
             args=lambda s, _d, w: ["copy", "-b", s, "--to-repo", f"oci-archive:{w}/a.tar"]),
)  # fmt: skip


def _store_verifies(cache: Path) -> None:
    """Every blob of the local store hashes to its name (nothing half-written kept)."""
    blobs = cache / "blobs" / "sha256"
    for path in blobs.iterdir() if blobs.is_dir() else ():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name, path


def _tags_complete(registry: str, repository: str) -> None:
    """Every tag in the repository points at content that is all there."""
    repo = Repository(registry=registry, repository=repository)
    with RegistryClient(RegistryOptions(insecure=True)) as client:
        listed = client.list_tags(repo)
        if not is_successful(listed):
            return  # no such repository yet: nothing tagged
        for tag in ok(listed):
            _verify_manifest(client, repo, f":{tag}")


def _copied_back(args: list[str], upstream: str, bundle: Bundle) -> None:
    clean = f"crash/verify-{next(_names)}"
    code, stderr = run_in_process(["copy", *args, "--to-repo", f"{upstream}/{clean}"])
    assert code == 0, stderr
    verify_repo(upstream, clean, bundle)


def _result_verifies(leg: CrashLeg, work: Path, dst: str, upstream: str, bundle: Bundle) -> None:
    """The leg's result, whole: read back without faults, every byte checked."""
    out = work / (leg.output or "")
    match leg.name:
        case "push":
            pulled = work / "pushed"
            code, stderr = run_in_process(["pull", "-b", f"{dst}:v1", "-o", str(pulled)])
            assert code == 0, stderr
            verify_files(pulled, bundle)
        case "pull":
            verify_files(out, bundle)
        case "repo>repo":
            registry, _, repository = dst.partition("/")
            verify_repo(registry, repository, bundle)
        case "repo>tar":
            _copied_back(["--tar", str(out)], upstream, bundle)
        case "repo>layout":
            _copied_back(["-b", f"oci:{out}:v1"], upstream, bundle)
        case "repo>archive":
            _copied_back(["-b", f"oci-archive:{out}:v1"], upstream, bundle)


def _nothing_half_written(leg: CrashLeg, work: Path, dst: str, upstream: str, b: Bundle) -> None:
    """After a kill: the final name is absent or whole; tags point at whole content."""
    if leg.output is None:
        registry, _, repository = dst.partition("/")
        _tags_complete(registry, repository)
        return
    out = work / leg.output
    if leg.name == "repo>layout":
        if (out / "index.json").exists():
            _layout_entries_complete(out)
        return
    if out.exists():
        _result_verifies(leg, work, dst, upstream, b)


def _layout_blob(layout: Path, digest: str) -> bytes:
    data = (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()
    assert "sha256:" + hashlib.sha256(data).hexdigest() == digest, digest
    return data


def _layout_entries_complete(layout: Path) -> None:
    """Every manifest an OCI layout's ``index.json`` lists is there with all its content
    (a layout may be a partial relocation; it never lists what it does not hold)."""
    pending = [d["digest"] for d in json.loads((layout / "index.json").read_bytes())["manifests"]]
    while pending:
        document = json.loads(_layout_blob(layout, pending.pop()))
        pending += [child["digest"] for child in document.get("manifests", [])]
        for desc in [document["config"], *document["layers"]] if "config" in document else []:
            _layout_blob(layout, desc["digest"])


def _child(args: list[str], cache: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "IMGPKG_PURE_CACHE": str(cache)}
    return subprocess.Popen(
        [sys.executable, "-m", "imgpkg_pure.store.cli", *args],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _requests_of_a_clean_run(leg: CrashLeg, bundle: Bundle, upstream: RegistryServer,
                             work: Path) -> int:  # fmt: skip
    with FaultProxy(upstream.url, FaultPlan(rate=0.0)) as proxy:
        src = bundle.via(proxy.host) if leg.through == "src" else bundle.ref
        host = proxy.host if leg.through == "dst" else upstream.host
        code, stderr = run_in_process(leg.args(src, f"{host}/crash/m-{next(_names)}", work))
        assert code == 0, stderr
        return proxy.requests


@pytest.mark.parametrize("leg", LEGS, ids=[leg.name for leg in LEGS])
def test_killed_anywhere_the_rerun_completes_and_nothing_half_written_shows(
    leg: CrashLeg,
    tmp_path: Path,
    registry: RegistryServer,
    small_bundle: Bundle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shutil.copytree(small_bundle.files, tmp_path / "files")
    measure = tmp_path / "measure"
    measure.mkdir()
    monkeypatch.setenv("IMGPKG_PURE_CACHE", str(measure / "cache"))
    total = _requests_of_a_clean_run(leg, small_bundle, registry, measure)
    rng = random.Random(f"crash:{leg.name}")
    points = sorted(rng.sample(range(1, total + 1), min(POINTS_PER_LEG, total)))
    killed = 0
    for point in points:
        work = tmp_path / f"k{point}"
        work.mkdir()
        cache = work / "cache"
        monkeypatch.setenv("IMGPKG_PURE_CACHE", str(cache))
        dst = f"{registry.host}/crash/{leg.name.replace('>', '-')}-{next(_names)}"
        with FaultProxy(registry.url, FaultPlan(rate=0.0)) as proxy:
            src = small_bundle.via(proxy.host) if leg.through == "src" else small_bundle.ref
            via = dst.replace(registry.host, proxy.host) if leg.through == "dst" else dst
            child = _child(leg.args(src, via, work), cache)
            proxy.kill_at(child.pid, point)
            try:
                returncode = child.wait(timeout=120)
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait()
            if proxy.killed:
                assert returncode == -signal.SIGKILL
                killed += 1
        _nothing_half_written(leg, work, dst, registry.host, small_bundle)
        _store_verifies(cache)
        code, stderr = run_in_process(leg.args(small_bundle.ref, dst, work))
        assert code == 0, (point, stderr)
        _result_verifies(leg, work, dst, registry.host, small_bundle)
        _store_verifies(cache)
        litter = sorted(p.name for p in work.iterdir() if p.name not in _OURS)
        assert litter == [], (point, litter)  # the killed run's work areas are gone
    assert killed >= len(points) - 1, (killed, points, total)
