"""Fixtures of the registry client tests: the token-auth registry and the forward proxy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.registry.proxy_server import ForwardProxy
from tests.registry.token_server import TokenRegistry, running_token_registry
from tests.registry_fixtures import RegistryStartError, RegistryUnavailableError


@pytest.fixture(scope="session")
def _token_registry_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenRegistry]:
    root = tmp_path_factory.mktemp("registry-token")
    with ExitStack() as stack:
        found: TokenRegistry | None = None
        problem = ""
        try:
            found = stack.enter_context(running_token_registry(root))
        except (RegistryUnavailableError, RegistryStartError, RuntimeError) as error:
            problem = str(error)
        if found is None:
            pytest.fail(problem, pytrace=False)
        yield found


@pytest.fixture
def token_registry(_token_registry_session: TokenRegistry) -> TokenRegistry:
    """A docker-registry with ``auth: token``; the token service's counters start at zero."""
    _token_registry_session.tokens.reset()
    return _token_registry_session


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy() as running:
        yield running


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty HOME (no docker config) for the client's environment."""
    path = tmp_path / "home"
    path.mkdir()
    return path
