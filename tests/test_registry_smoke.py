"""The test registries work, spoken to with plain httpx (no imgpkg_pure code).

For each of ``registry``, ``registry_basic_auth`` and ``registry_tls``: the
``/v2/`` ping, a blob upload (POST then PUT ``?digest=``) read back with HEAD
and GET, and a tiny OCI manifest pushed by tag and read back.  Plus the TLS
server's certificate checks and the auth server's refusals.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import registry_fixtures
from tests.registry_fixtures import (
    REGISTRY_MISSING,
    RegistryServer,
    RegistryStartError,
    RegistryUnavailableError,
    RepoNameFactory,
    running_registry,
    unique_repo_name,
)

pytestmark = pytest.mark.registry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
# distribution's repository-name grammar (reference/regexp.go).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*"
REPO_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")


@pytest.fixture(params=["registry", "registry_basic_auth", "registry_tls"])
def server(request: pytest.FixtureRequest) -> RegistryServer:
    value: RegistryServer = request.getfixturevalue(request.param)
    return value


@pytest.fixture
def client(server: RegistryServer) -> Iterator[httpx.Client]:
    with server.client() as http:
        yield http


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def push_blob(client: httpx.Client, repo: str, data: bytes) -> str:
    """POST an upload session, PUT the bytes with ``?digest=``; return the digest."""
    digest = sha256(data)
    started = client.post(f"/v2/{repo}/blobs/uploads/")
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    upload_url = client.base_url.join(location).copy_merge_params({"digest": digest})
    finished = client.put(
        upload_url,
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert finished.status_code == 201, finished.text
    assert finished.headers["Docker-Content-Digest"] == digest
    return digest


def test_ping(client: httpx.Client) -> None:
    response = client.get("/v2/")
    assert response.status_code == 200, response.text
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_blob_round_trip(server: RegistryServer, client: httpx.Client, unique_repo: str) -> None:
    data = b"imgpkg-pure blob for " + server.url.encode()
    digest = push_blob(client, unique_repo, data)

    head = client.head(f"/v2/{unique_repo}/blobs/{digest}")
    assert head.status_code == 200
    assert head.headers["Docker-Content-Digest"] == digest
    assert int(head.headers["Content-Length"]) == len(data)

    got = client.get(f"/v2/{unique_repo}/blobs/{digest}")
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["Docker-Content-Digest"] == digest

    missing = client.head(f"/v2/{unique_repo}/blobs/{sha256(b'never pushed')}")
    assert missing.status_code == 404


def test_manifest_round_trip(client: httpx.Client, unique_repo: str) -> None:
    layer = b"not really a tar, the registry does not look\n"
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]},
        },
        separators=(",", ":"),
    ).encode()
    layer_digest = push_blob(client, unique_repo, layer)
    config_digest = push_blob(client, unique_repo, config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
        },
        separators=(",", ":"),
    ).encode()
    manifest_digest = sha256(manifest)

    put = client.put(
        f"/v2/{unique_repo}/manifests/v1",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert put.status_code == 201, put.text
    assert put.headers["Docker-Content-Digest"] == manifest_digest

    by_tag = client.get(f"/v2/{unique_repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert by_tag.status_code == 200, by_tag.text
    assert by_tag.content == manifest
    assert by_tag.headers["Content-Type"] == OCI_MANIFEST
    assert by_tag.headers["Docker-Content-Digest"] == manifest_digest

    by_digest = client.get(
        f"/v2/{unique_repo}/manifests/{manifest_digest}", headers={"Accept": OCI_MANIFEST}
    )
    assert by_digest.status_code == 200
    assert by_digest.content == manifest

    tags = client.get(f"/v2/{unique_repo}/tags/list")
    assert tags.status_code == 200
    assert tags.json() == {"name": unique_repo, "tags": ["v1"]}

    # delete is enabled in the generated config
    deleted = client.delete(f"/v2/{unique_repo}/manifests/{manifest_digest}")
    assert deleted.status_code == 202, deleted.text
    gone = client.get(f"/v2/{unique_repo}/manifests/{manifest_digest}")
    assert gone.status_code == 404


def test_manifest_with_missing_blob_is_refused(client: httpx.Client, unique_repo: str) -> None:
    config = b"{}"
    config_digest = push_blob(client, unique_repo, config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha256(b"absent"), "size": 6}],
        }
    ).encode()
    put = client.put(
        f"/v2/{unique_repo}/manifests/v1",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert put.status_code == 400
    assert put.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"


def test_log_records_requests(server: RegistryServer, client: httpx.Client) -> None:
    before = server.log_size()
    assert client.get("/v2/_catalog").status_code == 200
    assert f"listening on {server.host}" in server.read_log()
    assert "/v2/_catalog" in server.read_log_since(before)


# --- basic auth ---------------------------------------------------------------------------


def test_basic_auth_challenges_anonymous_ping(registry_basic_auth: RegistryServer) -> None:
    assert registry_basic_auth.username is not None
    assert registry_basic_auth.password is not None
    with registry_basic_auth.client(authenticated=False) as anonymous:
        response = anonymous.get("/v2/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="')


def test_basic_auth_refuses_anonymous_push(
    registry_basic_auth: RegistryServer, unique_repo: str
) -> None:
    with registry_basic_auth.client(authenticated=False) as anonymous:
        response = anonymous.post(f"/v2/{unique_repo}/blobs/uploads/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_basic_auth_refuses_wrong_password(registry_basic_auth: RegistryServer) -> None:
    with httpx.Client(
        base_url=registry_basic_auth.url,
        auth=(registry_basic_auth.username or "", "wrong-password"),
        trust_env=False,
    ) as wrong:
        assert wrong.get("/v2/").status_code == 401


def test_plain_registries_need_no_credentials(
    registry: RegistryServer, registry_tls: RegistryServer
) -> None:
    for server in (registry, registry_tls):
        assert server.auth is None
        with server.client() as http:
            assert http.get("/v2/").status_code == 200


# --- TLS ----------------------------------------------------------------------------------


def test_tls_fails_without_the_test_ca(registry_tls: RegistryServer) -> None:
    with (
        httpx.Client(base_url=registry_tls.url, trust_env=False) as untrusting,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        untrusting.get("/v2/")


def test_tls_works_with_the_test_ca(registry_tls: RegistryServer) -> None:
    assert registry_tls.ca_cert is not None
    assert registry_tls.url.startswith("https://127.0.0.1:")
    assert [p.name for p in registry_tls.ca_cert.parent.iterdir()] == ["ca.crt"]
    with httpx.Client(verify=registry_tls.ssl_context(), trust_env=False) as trusting:
        by_ip = trusting.get(f"{registry_tls.url}/v2/")
        by_name = trusting.get(f"https://localhost:{registry_tls.port}/v2/")
    assert by_ip.status_code == 200
    assert by_name.status_code == 200


def test_tls_registry_refuses_plain_http(registry_tls: RegistryServer) -> None:
    with httpx.Client(trust_env=False) as plain:
        response = plain.get(f"http://{registry_tls.host}/v2/")
    assert response.status_code == 400


# --- the fixture machinery ----------------------------------------------------------------


def test_missing_binary_is_an_error_not_a_skip(tmp_path: Path) -> None:
    with (
        pytest.raises(RegistryUnavailableError, match=r"^docker-registry not found: ") as caught,
        running_registry(tmp_path, binary=tmp_path / "no-such-registry"),
    ):
        pass
    assert str(caught.value) == REGISTRY_MISSING


def test_start_failure_carries_the_log(tmp_path: Path) -> None:
    fake = tmp_path / "fake-registry"
    fake.write_text("#!/bin/sh\necho 'configuration error: nothing here' >&2\nexit 3\n")
    fake.chmod(0o755)
    with (
        pytest.raises(RegistryStartError, match="configuration error: nothing here"),
        running_registry(tmp_path / "root", binary=fake),
    ):
        pass


def test_port_taken_after_choosing_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken: int = squatter.getsockname()[1]
        ports = iter([taken, registry_fixtures.free_loopback_port()])
        monkeypatch.setattr(registry_fixtures, "free_loopback_port", lambda: next(ports))
        with running_registry(tmp_path) as server, server.client() as http:
            assert server.port != taken
            assert http.get("/v2/").status_code == 200
    first_attempt = (tmp_path / "registry.attempt1.log").read_text()
    assert "address already in use" in first_attempt
    assert not any(active.root == tmp_path for active in registry_fixtures.ACTIVE_SERVERS)


def test_unique_repo_names_are_valid_and_distinct(
    unique_repo: str, unique_repo_factory: RepoNameFactory
) -> None:
    names = {unique_repo_name("Weird Test[Name/With:Junk]_") for _ in range(3)}
    names.add(unique_repo)
    assert len(names) == 4
    for name in names:
        assert REPO_NAME.fullmatch(name), name
        assert len(name) < 256
    assert unique_repo_factory("src") != unique_repo_factory("src")
