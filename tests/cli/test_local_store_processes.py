"""Many processes, one local store (issue 12): two pulls and a copy of overlapping content
run at once against one store while ``store gc`` runs again and again beside them.

Every command must succeed with the right result, and the store must verify clean
afterwards.  The locks that make it so (``docs/cache.md``, "Many processes"): the
exclusive ``flock`` on ``ROOT/.lock`` that gc holds while it reads the leases and
deletes, the shared one a command holds while it adds a digest to its lease, the lease
files themselves (locked for their command's life), and the ingest files (locked while
written, invisible until committed).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from returns.io import IOSuccess
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.store.content import mirror_upkeep
from imgpkg_pure.store.content.local import LocalStore
from tests.cli.helpers import run_cli, write_images_lock
from tests.cli.test_local_store import _requests, _same_tree
from tests.registry_fixtures import RegistryServer

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "imgpkg_pure.store.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _push_image(
    capsys: pytest.CaptureFixture[str], tree: Path, ref: str, seed: str, size: int
) -> str:
    tree.mkdir()
    (tree / "data.bin").write_bytes(os.urandom(size))
    (tree / "seed.txt").write_text(seed)
    code, stdout, stderr = run_cli(capsys, "push", "--no-cache", "-i", ref, "-f", str(tree))
    assert code == 0, stderr
    return stdout.strip().removeprefix("Pushed '").removesuffix("'")


def test_two_pulls_and_a_copy_at_once_with_gc_beside_them(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: object,
) -> None:
    make = unique_repo_factory
    assert callable(make)
    images = [
        _push_image(capsys, tmp_path / f"img{n}", f"{registry.host}/{make(f'i{n}')}:v1", str(n),
                    3 << 20)
        for n in range(2)
    ]  # fmt: skip
    bundle = write_images_lock(tmp_path / "bundle", images)
    bundle_ref = f"{registry.host}/{make('bundle')}:v1"
    code, stdout, stderr = run_cli(
        capsys, "push", "--no-cache", "-b", bundle_ref, "-f", str(bundle)
    )
    assert code == 0, stderr
    bundle_digest = stdout.strip().rsplit("@", 1)[1].removesuffix("'")
    # what each command must produce, made without the store
    for n, ref in enumerate(images):
        out = tmp_path / f"want{n}"
        assert run_cli(capsys, "pull", "--no-cache", "-i", ref, "-o", str(out))[0] == 0

    store = tmp_path / "shared-store"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "IMGPKG_PURE_CACHE": str(store)}
    commands = [
        _cli("pull", "-i", images[0], "-o", str(tmp_path / "got0"), env=env),
        _cli("pull", "-i", images[1], "-o", str(tmp_path / "got1"), env=env),
        _cli("copy", "-b", bundle_ref, "--to-repo", f"oci:{tmp_path / 'copied'}", env=env),
    ]
    shared = unsafe_perform_io(LocalStore.at(store).unwrap())
    collections = during = 0
    while collections < 3 or any(c.poll() is None for c in commands):
        if collections == 1:  # once as the command line does it, else in this process (often)
            gc = subprocess.run(
                [sys.executable, "-m", "imgpkg_pure.store.cli", "store", "gc"],
                env=env, capture_output=True, text=True, check=False, timeout=120,
            )  # fmt: skip
            assert gc.returncode == 0, gc.stderr
        else:
            assert isinstance(mirror_upkeep.gc(shared), IOSuccess)
        collections += 1
        during += any(c.poll() is None for c in commands)
    assert during > 3, "gc did not run while the commands did"
    for command in commands:
        _, stderr = command.communicate(timeout=240)
        assert command.returncode == 0, stderr
    for n in range(2):
        _same_tree(tmp_path / f"want{n}", tmp_path / f"got{n}")
    layout = unsafe_perform_io(LocalStore.at(tmp_path / "copied").unwrap())
    report = unsafe_perform_io(layout.verify().unwrap())
    assert report.ok and report.checked > 6
    root = unsafe_perform_io(layout.resolve("v1").unwrap())
    assert str(root.digest) == bundle_digest

    code, stdout, stderr = run_cli(capsys, "store", "verify", "--cache", str(store))
    assert code == 0, stdout + stderr
    assert " 0 corrupt" in stdout
    assert not list((store / "leases").iterdir())  # every command let go of its lease
    # and what the three kept serves the next run: no blob read from the registry
    since = registry.log_size()
    code, _, stderr = run_cli(
        capsys, "copy", "--cache", str(store), "-b", bundle_ref,
        "--to-tar", str(tmp_path / "again.tar"),
    )  # fmt: skip
    assert code == 0, stderr
    assert not [p for m, p in _requests(registry, since) if m == "GET" and "/blobs/" in p]
