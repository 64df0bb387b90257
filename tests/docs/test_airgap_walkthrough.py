"""docs/airgap.md is executed: its ``sh`` blocks run in order against two real registries."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.registry_fixtures import RegistryServer

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_airgap_walkthrough_runs(
    tmp_path: Path, registry: RegistryServer, registry_basic_auth: RegistryServer
) -> None:
    blocks = BLOCK.findall((ROOT / "docs" / "airgap.md").read_text())
    assert len(blocks) >= 4
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "imgpkg-pure"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m imgpkg_pure.store.cli "$@"\n')
    launcher.chmod(0o755)
    assert registry_basic_auth.username and registry_basic_auth.password
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "WORK": str(tmp_path / "work"),
        "CONNECTED": registry.host,
        "AIRGAPPED": registry_basic_auth.host,
        # the air-gapped registry wants credentials; the walkthrough does not show them
        "IMGPKG_REGISTRY_HOSTNAME_0": registry_basic_auth.host,
        "IMGPKG_REGISTRY_USERNAME_0": registry_basic_auth.username,
        "IMGPKG_REGISTRY_PASSWORD_0": registry_basic_auth.password,
    }
    script = "set -eu\n" + "\n".join(blocks)
    done = subprocess.run(
        ["sh", "-c", script], env=env, capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
