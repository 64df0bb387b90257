"""An interrupted copy, run again, transfers only what is missing and completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench.copy import populate
from imgpkg_pure.store.registry import RegistryClient, RegistryOptions
from tests.cli.helpers import run_cli
from tests.registry_fixtures import RegistryServer

ROOT = Path(__file__).resolve().parents[2]


def _uploads(log: str) -> int:
    return sum(1 for line in log.splitlines() if '"PUT ' in line and "/blobs/uploads/" in line)


def test_killed_copy_resumes_without_copying_again(  # noqa: PLR0917
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    registry_basic_auth: RegistryServer,
    unique_repo_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src, dst = unique_repo_factory("src"), unique_repo_factory("dst")
    with RegistryClient(RegistryOptions()) as client:
        refs = populate(client, f"{registry.host}", 12, 96 << 20)
    bundle = tmp_path / "bundle"
    (bundle / ".imgpkg").mkdir(parents=True)
    (bundle / ".imgpkg" / "images.yml").write_text(
        "---\napiVersion: imgpkg.carvel.dev/v1alpha1\nimages:\n"
        + "".join(f"- image: {ref}\n" for ref in refs)
        + "kind: ImagesLock\n"
    )
    code, _, stderr = run_cli(capsys, "push", "-b", f"{registry.host}/{src}:v1", "-f", str(bundle))
    assert code == 0, stderr
    assert registry_basic_auth.username and registry_basic_auth.password
    monkeypatch.setenv("IMGPKG_REGISTRY_HOSTNAME_0", registry_basic_auth.host)
    monkeypatch.setenv("IMGPKG_REGISTRY_USERNAME_0", registry_basic_auth.username)
    monkeypatch.setenv("IMGPKG_REGISTRY_PASSWORD_0", registry_basic_auth.password)
    args = [
        "copy", "-b", f"{registry.host}/{src}:v1",
        "--to-repo", f"{registry_basic_auth.host}/{dst}", "--concurrency", "2",
    ]  # fmt: skip
    start = registry_basic_auth.log_size()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "imgpkg_pure.store.cli", *args], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while _uploads(registry_basic_auth.read_log_since(start, 100_000)) < 4:
        assert process.poll() is None, "the copy finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = _uploads(registry_basic_auth.read_log_since(start, 100_000))

    again = registry_basic_auth.log_size()
    code, _, stderr = run_cli(capsys, *args)
    assert code == 0, stderr
    second = _uploads(registry_basic_auth.read_log_since(again, 100_000))
    total = 12 * 3 + 12 + 2 + 2  # layers, configs, bundle layer+config, locations layer+config
    assert first >= 4
    assert second <= total - first + 2, (first, second, total)

    out = tmp_path / "out"
    code, _, stderr = run_cli(
        capsys, "pull", "-b", f"{registry_basic_auth.host}/{dst}:v1", "-o", str(out)
    )
    assert code == 0, stderr
