"""An interrupted copy, run again, transfers only what is missing and completes.

The interruption is deterministic: the copy runs in a child process and talks
to the destination registry through ``KillingGateway``, a reverse proxy that
kills the child (SIGKILL) when its request completing the fifth blob upload
arrives, before forwarding it.  So exactly four uploads reached the registry,
however fast the machine is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import pytest

from bench.copy import populate
from imgpkg_pure.store.registry import RegistryClient, RegistryOptions
from tests.cli.helpers import run_cli, write_images_lock
from tests.registry_fixtures import RegistryServer
from tests.reverse_proxy import ProxyHandler, ReverseProxy

ROOT = Path(__file__).resolve().parents[2]
KILL_AT: Final = 5  # the upload whose completion is never forwarded


def _uploads(log: str) -> int:
    return sum(1 for line in log.splitlines() if '"PUT ' in line and "/blobs/uploads/" in line)


def _completes_an_upload(method: str, path: str) -> bool:
    """A request that ends a blob upload: ``PUT …/blobs/uploads/…?digest=`` or a
    monolithic ``POST …/blobs/uploads/?digest=``."""
    parts = urlsplit(path)
    return (
        method in ("PUT", "POST")
        and "/blobs/uploads/" in parts.path
        and "digest" in parse_qs(parts.query)
    )


class _Handler(ProxyHandler):
    def _handle(self) -> None:
        gateway: KillingGateway = self.server.proxy  # type: ignore[attr-defined]
        body = self.read_body()
        if not gateway.admit(self.command, self.path):
            self.close_connection = True
            return
        upstream = gateway.forward(self.command, self.path, self.forwarded_headers(gateway), body)
        self.relay(gateway, upstream)


class KillingGateway(ReverseProxy):
    """A reverse proxy to ``upstream`` that kills ``pid`` at the ``KILL_AT``-th request
    completing a blob upload, and forwards nothing from then on."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream, _Handler)
        self._lock = threading.Lock()
        self.pid: int | None = None
        self.completed = 0
        self.killed = False

    def admit(self, method: str, path: str) -> bool:
        """Whether to forward this request (the kill happens here, once)."""
        with self._lock:
            if self.killed:
                return False
            if _completes_an_upload(method, path):
                if self.completed + 1 == KILL_AT:
                    assert self.pid is not None
                    os.kill(self.pid, signal.SIGKILL)
                    self.killed = True
                    return False
                self.completed += 1
            return True


@pytest.fixture
def bundle_of_twelve_images(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
) -> str:
    """A bundle of 12 three-layer images pushed to ``registry``: its reference."""
    with RegistryClient(RegistryOptions()) as client:
        refs = populate(client, f"{registry.host}", 12, 96 << 20)
    bundle = write_images_lock(tmp_path / "bundle", refs)
    ref = f"{registry.host}/{unique_repo_factory('src')}:v1"
    code, _, stderr = run_cli(capsys, "push", "-b", ref, "-f", str(bundle))
    assert code == 0, stderr
    return ref


def test_killed_copy_resumes_without_copying_again(  # noqa: PLR0917
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry_basic_auth: RegistryServer,
    bundle_of_twelve_images: str,
    unique_repo_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dst = unique_repo_factory("dst")
    assert registry_basic_auth.username and registry_basic_auth.password
    with KillingGateway(registry_basic_auth.url) as gateway:
        for n, host in enumerate((gateway.host, registry_basic_auth.host)):
            monkeypatch.setenv(f"IMGPKG_REGISTRY_HOSTNAME_{n}", host)
            monkeypatch.setenv(f"IMGPKG_REGISTRY_USERNAME_{n}", registry_basic_auth.username)
            monkeypatch.setenv(f"IMGPKG_REGISTRY_PASSWORD_{n}", registry_basic_auth.password)
        start = registry_basic_auth.log_size()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        args = ["copy", "-b", bundle_of_twelve_images, "--concurrency", "2"]
        process = subprocess.Popen(
            [sys.executable, "-m", "imgpkg_pure.store.cli", *args,
             "--to-repo", f"{gateway.host}/{dst}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        gateway.pid = process.pid
        try:
            returncode = process.wait(timeout=240)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert gateway.killed, "the copy finished before its fifth upload"
    assert returncode == -signal.SIGKILL
    first = _uploads(registry_basic_auth.read_log_since(start, 100_000))
    assert first == KILL_AT - 1

    again = registry_basic_auth.log_size()
    code, _, stderr = run_cli(capsys, *args, "--to-repo", f"{registry_basic_auth.host}/{dst}")
    assert code == 0, stderr
    second = _uploads(registry_basic_auth.read_log_since(again, 100_000))
    total = 12 * 3 + 12 + 2 + 2  # layers, configs, bundle layer+config, locations layer+config
    assert second == total - first, (first, second, total)

    out = tmp_path / "out"
    code, _, stderr = run_cli(
        capsys, "pull", "-b", f"{registry_basic_auth.host}/{dst}:v1", "-o", str(out)
    )
    assert code == 0, stderr
