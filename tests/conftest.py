"""Shared fixtures: real registries (session scope) and per-test repository names.

* ``registry`` — plain HTTP;
* ``registry_basic_auth`` — HTTP with htpasswd basic auth (``.username``/``.password``);
* ``registry_tls`` — HTTPS, certificate for 127.0.0.1 and localhost (``.ca_cert``).

Each yields a :class:`tests.registry_fixtures.RegistryServer`.  They fail (never
skip) when ``docker-registry`` is missing.  Tests sharing a registry take their
repository names from ``unique_repo`` / ``unique_repo_factory``.  When a test
fails, the registry log lines written during it are added to its report.

Every test has a local store of its own (``IMGPKG_PURE_CACHE`` in a fresh temporary
directory, ``_own_local_store``): commands read through it and write through it
(``docs/cache.md``), so no test sees what another one kept, a test that counts
registry requests counts them as a first run makes them, and nothing is written to
the real home.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import ExitStack

import pytest

from tests.environ import environ
from tests.registry_fixtures import (
    ACTIVE_SERVERS,
    RegistryServer,
    RegistryStartError,
    RegistryUnavailableError,
    RepoNameFactory,
    running_registry,
    unique_repo_name,
)

REGISTRY_FIXTURES = frozenset({"registry", "registry_basic_auth", "registry_tls"})

_LOG_OFFSETS = pytest.StashKey[dict[str, int]]()


def _serve(
    tmp_path_factory: pytest.TempPathFactory, name: str, *, basic_auth: bool, tls: bool
) -> Iterator[RegistryServer]:
    root = tmp_path_factory.mktemp(name)
    with ExitStack() as stack:
        server: RegistryServer | None = None
        problem = ""
        try:
            server = stack.enter_context(running_registry(root, basic_auth=basic_auth, tls=tls))
        except (RegistryUnavailableError, RegistryStartError) as error:
            problem = str(error)  # failed outside the handler: no chained traceback noise
        if server is None:
            pytest.fail(problem, pytrace=False)
        yield server


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A plain-HTTP distribution v2 registry for the whole session."""
    yield from _serve(tmp_path_factory, "registry-http", basic_auth=False, tls=False)


@pytest.fixture(scope="session")
def registry_basic_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """An HTTP registry behind htpasswd basic auth; credentials on the value."""
    yield from _serve(tmp_path_factory, "registry-auth", basic_auth=True, tls=False)


@pytest.fixture(scope="session")
def registry_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """An HTTPS registry whose certificate chains to ``.ca_cert`` (a test CA)."""
    yield from _serve(tmp_path_factory, "registry-tls", basic_auth=False, tls=True)


@pytest.fixture(autouse=True)
def _own_local_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """``IMGPKG_PURE_CACHE`` set to a fresh, empty directory for this test (and restored).

    Set in ``os.environ`` directly (not with ``monkeypatch``, which hypothesis tests may
    not use), so subprocesses the test starts inherit it too."""
    store = str(tmp_path_factory.mktemp("local-store"))
    unset = {"IMGPKG_PURE_NO_CACHE": None, "IMGPKG_PURE_CACHE_MAX_SIZE": None}
    with environ({"IMGPKG_PURE_CACHE": store, **unset}):
        yield


@pytest.fixture
def unique_repo_factory(request: pytest.FixtureRequest) -> RepoNameFactory:
    """Make fresh repository names for this test: ``factory("src")``, ``factory("dst")``."""
    test_name = request.node.name

    def make(label: str = "") -> str:
        return unique_repo_name(f"{test_name}-{label}" if label else test_name)

    return make


@pytest.fixture
def unique_repo(unique_repo_factory: RepoNameFactory) -> str:
    """A repository name no other test in this session uses."""
    return unique_repo_factory("")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixturenames: list[str] = getattr(item, "fixturenames", [])
        if REGISTRY_FIXTURES.intersection(fixturenames):
            item.add_marker(pytest.mark.registry)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_LOG_OFFSETS] = {server.host: server.log_size() for server in ACTIVE_SERVERS}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        offsets = item.stash.get(_LOG_OFFSETS, {})
        for server in list(ACTIVE_SERVERS):
            text = server.read_log_since(offsets.get(server.host, 0))
            if text:
                report.sections.append((f"registry log {server.url} ({server.log_path})", text))
    return report
