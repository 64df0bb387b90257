"""Proxies from the environment (Go ``ProxyFromEnvironment`` rules) and retries through one.

The forward proxy runs in the test process.  Requests to loopback hosts are
never proxied, so the proxied requests go to ``0.0.0.0:<port>``: not a
loopback address by Go's rules (so it is proxied), yet it reaches the
registry listening on 127.0.0.1.  It is not insecure by default, so those
tests pass ``insecure=True`` for plain http.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from imgpkg_pure.reference import Repository, parse_reference
from imgpkg_pure.store.registry import RegistryFailure, RegistryOptions
from imgpkg_pure.store.registry.transport import ProxyRules
from tests.registry.helpers import clean_environ, err, make_client, ok, push_image, repository
from tests.registry.proxy_server import ForwardProxy
from tests.registry_fixtures import RegistryServer

pytestmark = pytest.mark.registry

INSECURE = RegistryOptions(insecure=True)


def proxied_env(home: Path, proxy: ForwardProxy, **extra: str) -> dict[str, str]:
    return clean_environ(home, HTTP_PROXY=proxy.url, HTTPS_PROXY=proxy.url, **extra)


def test_http_requests_go_through_http_proxy(
    registry: RegistryServer, proxy: ForwardProxy, home: Path, unique_repo: str
) -> None:
    host = f"0.0.0.0:{registry.port}"
    repo = Repository(registry=host, repository=unique_repo)
    with make_client(home, INSECURE, environ=proxied_env(home, proxy)) as client:
        raw, _ = push_image(client, repo, "v1")
        assert ok(client.get_manifest(parse_reference(f"{repo}:v1").unwrap())).raw == raw
    lines = proxy.lines()
    assert lines[0] == f"CONNECT {host}"  # https is tried first (through the tunnel) ...
    assert f"GET http://{host}/v2/" in lines  # ... then plain http through the proxy
    assert f"PUT http://{host}/v2/{unique_repo}/manifests/v1" in lines
    assert f"GET http://{host}/v2/{unique_repo}/manifests/v1" in lines


def test_https_requests_tunnel_through_https_proxy(
    registry_tls: RegistryServer, proxy: ForwardProxy, home: Path, unique_repo: str
) -> None:
    host = f"0.0.0.0:{registry_tls.port}"  # the certificate does not name it: no verification
    options = RegistryOptions(verify_certs=False)
    env = clean_environ(home, HTTPS_PROXY=proxy.url.removeprefix("http://"))  # no scheme: http
    with make_client(home, options, environ=env) as client:
        push_image(client, Repository(registry=host, repository=unique_repo), "v1")
    assert set(proxy.lines()) == {f"CONNECT {host}"}


def test_no_proxy_bypasses_the_proxy(
    registry: RegistryServer, proxy: ForwardProxy, home: Path, unique_repo: str
) -> None:
    host = f"0.0.0.0:{registry.port}"
    env = proxied_env(home, proxy, NO_PROXY="example.com, 0.0.0.0")
    with make_client(home, INSECURE, environ=env) as client:
        push_image(client, Repository(registry=host, repository=unique_repo), "v1")
    assert proxy.lines() == []


def test_loopback_is_never_proxied(
    registry: RegistryServer, proxy: ForwardProxy, home: Path, unique_repo: str
) -> None:
    with make_client(home, environ=proxied_env(home, proxy)) as client:  # NO_PROXY unset
        push_image(client, repository(registry, unique_repo), "v1")
    assert proxy.lines() == []


def _pushed(registry: RegistryServer, home: Path, repo_name: str) -> str:
    with make_client(home) as client:
        push_image(client, repository(registry, repo_name), "v1")
    return f"0.0.0.0:{registry.port}/{repo_name}:v1"


def test_temporary_failures_are_retried_with_backoff(
    registry: RegistryServer, proxy: ForwardProxy, home: Path, unique_repo: str
) -> None:
    ref = parse_reference(_pushed(registry, home, unique_repo)).unwrap()
    slept: list[float] = []
    env = clean_environ(home, HTTP_PROXY=proxy.url)
    with make_client(home, INSECURE, environ=env, sleep=slept.append) as client:
        ok(client.ping(ref.registry))
        proxy.fail_next = 2
        ok(client.get_manifest(ref))
        assert slept == [0.1, 0.2]
        slept.clear()
        proxy.fail_status, proxy.retry_after, proxy.fail_next = 429, "3", 1
        ok(client.get_manifest(ref))
        assert slept == [3.0]  # Retry-After is honoured (up to 5 s)
        slept.clear()
        proxy.fail_status, proxy.retry_after, proxy.fail_next = 503, "0", 10
        failure = err(client.get_manifest(ref))
        assert isinstance(failure, RegistryFailure)
        assert (failure.status, failure.temporary) == (503, True)
        assert slept == [0.1, 0.2, 0.4, 0.8]  # retry_count 5: five tries
        slept.clear()
        proxy.fail_status, proxy.fail_next = 403, 1
        failure = err(client.get_manifest(ref))
        assert isinstance(failure, RegistryFailure)
        assert (failure.status, failure.temporary) == (403, False)
        assert slept == []  # a 4xx is never retried
    proxy.fail_next = 0


@pytest.mark.parametrize(
    ("no_proxy", "url", "proxied"),
    [
        ("", "http://registry.example.com/v2/", True),
        ("", "http://localhost:5000/v2/", False),
        ("", "http://127.0.0.2:5000/v2/", False),
        ("", "http://[::1]:5000/v2/", False),
        ("*", "http://registry.example.com/v2/", False),
        ("example.com", "http://registry.example.com/v2/", False),
        ("example.com", "http://example.com/v2/", False),
        (".example.com", "http://example.com/v2/", True),
        (".example.com", "http://a.example.com/v2/", False),
        ("*.example.com", "http://a.example.com/v2/", False),
        ("example.com:8080", "http://example.com:8080/v2/", False),
        ("example.com:8080", "http://example.com:80/v2/", True),
        ("10.0.0.0/8", "http://10.1.2.3/v2/", False),
        ("10.0.0.0/8", "http://11.1.2.3/v2/", True),
        ("10.1.2.3", "http://10.1.2.3:5000/v2/", False),
        ("notexample.com", "http://example.com/v2/", True),
    ],
)
def test_proxy_rules(no_proxy: str, url: str, proxied: bool) -> None:
    rules = ProxyRules.from_environ(
        {"HTTP_PROXY": "proxy:3128", "https_proxy": "http://secure:3129", "NO_PROXY": no_proxy}
    )
    expected = "http://proxy:3128" if proxied else None
    assert rules.proxy_for(httpx.URL(url)) == expected


def test_proxy_rules_pick_by_scheme_upper_case_first() -> None:
    rules = ProxyRules.from_environ(
        {"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:2", "http_proxy": "p:3"}
    )
    assert rules.proxy_for(httpx.URL("https://r.example/v2/")) == "http://upper:1"
    assert rules.proxy_for(httpx.URL("http://r.example/v2/")) == "http://p:3"
    assert ProxyRules.from_environ({}).proxy_for(httpx.URL("http://r.example/")) is None
