"""docs/cache.md is executed: its ``sh`` blocks run in order against a registry of their own,
which is stopped where the page says (the offline part runs with no registry at all)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.docs.test_airgap_walkthrough import BLOCK, ROOT
from tests.registry_fixtures import running_registry

STOP = "<!-- tests/docs/test_cache_walkthrough.py stops the registry here -->"


def _run(blocks: list[str], env: dict[str, str]) -> None:
    script = "set -eu\n" + "\n".join(blocks)
    done = subprocess.run(
        ["sh", "-c", script], env=env, capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_cache_walkthrough_runs(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "cache.md").read_text()
    online, offline = text.split(STOP)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "imgpkg-pure"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m imgpkg_pure.store.cli "$@"\n')
    launcher.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    with running_registry(tmp_path / "registry") as server:
        env = {
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "PYTHONPATH": str(ROOT),
            "WORK": str(work),
            "REGISTRY": server.host,
        }
        first = BLOCK.findall(online)
        assert len(first) >= 5
        _run(first, env)
    second = BLOCK.findall(offline)
    assert len(second) >= 3
    _run(['export IMGPKG_PURE_CACHE="$WORK/store"', *second], env)
