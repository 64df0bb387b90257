"""TLS: the registry's CA added with ``ca_cert_paths``, verification failures, ``verify_certs``."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgpkg_pure.reference import parse_reference
from imgpkg_pure.store.registry import (
    CaCertFailure,
    RegistryClient,
    RegistryOptions,
    TransportFailure,
)
from tests.registry.helpers import err, make_client, ok, push_image, repository
from tests.registry_fixtures import RegistryServer

pytestmark = pytest.mark.registry


def test_tls_with_the_registry_ca(
    registry_tls: RegistryServer, home: Path, unique_repo: str
) -> None:
    assert registry_tls.ca_cert is not None
    options = RegistryOptions(ca_cert_paths=(str(registry_tls.ca_cert),))
    with make_client(home, options) as client:
        endpoint = ok(client.ping(registry_tls.host))
        assert endpoint.scheme == "https"
        repo = repository(registry_tls, unique_repo)
        raw, _ = push_image(client, repo, "v1")
        assert ok(client.get_manifest(parse_reference(f"{repo}:v1").unwrap())).raw == raw


def test_tls_without_the_ca_fails_with_a_hint(
    registry_tls: RegistryServer, home: Path, unique_repo: str
) -> None:
    with make_client(home) as client:
        failure = err(client.list_tags(repository(registry_tls, unique_repo)))
    assert isinstance(failure, TransportFailure)
    assert failure.url == f"https://{registry_tls.host}/v2/"
    assert failure.reason.startswith("TLS certificate verification failed")
    assert "--registry-ca-cert-path" in failure.reason
    # 127.0.0.1 is insecure by default, so plain http was tried too (and refused)
    assert (
        f"plain http also failed: GET http://{registry_tls.host}/v2/: "
        "unexpected status code 400 Bad Request"
    ) in failure.reason
    assert not failure.temporary


def test_verify_certs_false_skips_verification(
    registry_tls: RegistryServer, home: Path, unique_repo: str
) -> None:
    with make_client(home, RegistryOptions(verify_certs=False)) as client:
        assert ok(client.ping(registry_tls.host)).scheme == "https"
        push_image(client, repository(registry_tls, unique_repo), "v1")


def test_unreadable_or_bad_ca_files(tmp_path: Path, home: Path) -> None:
    missing = tmp_path / "missing.pem"
    failure = err(RegistryClient.open(RegistryOptions(ca_cert_paths=(str(missing),)), environ={}))
    assert isinstance(failure, CaCertFailure)
    assert failure.message == (
        f"Creating registry HTTP transport: Reading CA certificates from '{missing}': "
        f"open {missing}: no such file or directory"
    )
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n", encoding="utf-8")
    failure = err(RegistryClient.open(RegistryOptions(ca_cert_paths=(str(garbage),)), environ={}))
    assert isinstance(failure, CaCertFailure)
    assert failure.message == (
        f"Creating registry HTTP transport: Adding CA certificates from '{garbage}': failed"
    )
    # a client made directly reports the same error from every operation
    with RegistryClient(RegistryOptions(ca_cert_paths=(str(garbage),)), environ={}) as client:
        assert err(client.ping("127.0.0.1:1")) == failure
    assert home.is_dir()
