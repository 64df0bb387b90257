"""Fixtures of the reliability tests: a second registry (copies go between two), the
token registry (401 mid-run), the source bundle, and the CLI run in this process."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from imgpkg_pure.store.cli import main
from tests.faults.harness import Bundle, make_bundle
from tests.registry.conftest import _token_registry_session, token_registry
from tests.registry_fixtures import (
    RegistryServer,
    RegistryStartError,
    RegistryUnavailableError,
    running_registry,
)

__all__ = ["_token_registry_session", "token_registry"]


def run_in_process(args: Sequence[str]) -> tuple[int, str]:
    """``imgpkg-pure ARGS`` in this process: (exit code, stderr); stdout is dropped."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, err.getvalue()


@pytest.fixture(scope="module")
def second_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A plain-HTTP registry of this module's own: the destination of copies."""
    root = tmp_path_factory.mktemp("registry-dst")
    server: RegistryServer | None = None
    with contextlib.ExitStack() as stack:
        problem = ""
        try:
            server = stack.enter_context(running_registry(root))
        except (RegistryUnavailableError, RegistryStartError) as error:
            problem = str(error)
        if server is None:
            pytest.fail(problem, pytrace=False)
        yield server


@pytest.fixture(scope="module")
def source_bundle(registry: RegistryServer, tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """The bundle every leg relocates, pushed to ``registry`` without faults."""
    work: Path = tmp_path_factory.mktemp("fault-bundle")
    return make_bundle(run_in_process, registry.host, f"faults/src-{work.name}", work)
