"""``UrlFetcher``: foreign layers read from their ``urls`` (reference §5.8), on loopback.

Each URL is tried in order (no answer, or a status other than 200, passes the
turn); the content is verified before it is handed out; a URL serving other
bytes is an error naming the digest and the URL.  The HTTP setup is the
registry flags': a CA file for https URLs, proxies from the environment.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from returns.io import IOFailure, IOResult
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import parse_digest
from imgpkg_pure.media_types import DOCKER_LAYER_FOREIGN
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.store.registry import (
    ForeignBlob,
    ForeignLayerError,
    ForeignLayerMismatch,
    ForeignLayerUnavailable,
    RegistryOptions,
    UrlFetcher,
)
from tests.cli.test_copy_foreign_layers import BlobServer
from tests.registry.helpers import clean_environ
from tests.registry.proxy_server import ForwardProxy
from tests.registry_fixtures import RegistryServer

pytestmark = pytest.mark.registry

DATA = b"foreign layer bytes " * 4000


def _descriptor(data: bytes, urls: tuple[str, ...] = ()) -> Descriptor:
    digest = parse_digest("sha256:" + hashlib.sha256(data).hexdigest()).unwrap()
    return Descriptor(media_type=DOCKER_LAYER_FOREIGN, digest=digest, size=len(data), urls=urls)


def _ok(result: IOResult[ForeignBlob, ForeignLayerError]) -> ForeignBlob:
    assert not isinstance(result, IOFailure), unsafe_perform_io(result.failure()).message
    return unsafe_perform_io(result.unwrap())


def _err(result: IOResult[ForeignBlob, ForeignLayerError]) -> ForeignLayerError:
    assert isinstance(result, IOFailure)
    error: ForeignLayerError = unsafe_perform_io(result.failure())
    return error


@pytest.fixture
def server() -> Iterator[BlobServer]:
    running = BlobServer()
    try:
        yield running
    finally:
        running.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_each_url_in_order_redirects_followed_content_verified(
    server: BlobServer, tmp_path: Path
) -> None:
    server.routes["/real"] = DATA
    server.redirects["/moved"] = "/real"
    refused = f"http://127.0.0.1:{_closed_port()}/x"
    urls = (refused, server.url("/missing"), server.url("/moved"))
    options = RegistryOptions(retry_count=1)
    with UrlFetcher(options, environ=clean_environ(tmp_path)) as fetcher:
        blob = _ok(fetcher.fetch(_descriptor(DATA, urls)))
        with blob:
            assert blob.url == server.url("/moved")
            assert b"".join(blob()) == DATA
            assert b"".join(blob()) == DATA  # reopened from the start (upload retries)
        assert server.hits == ["/missing", "/moved", "/real"]
        assert fetcher.first_reachable(urls) == server.url("/moved")
        assert fetcher.first_reachable(urls[:2]) is None


def test_other_bytes_are_an_error_naming_digest_and_url(server: BlobServer, tmp_path: Path) -> None:
    server.routes["/short"] = DATA[:-1]
    server.routes["/good"] = DATA
    desc = _descriptor(DATA, (server.url("/short"), server.url("/good")))
    with UrlFetcher(environ=clean_environ(tmp_path)) as fetcher:
        error = _err(fetcher.fetch(desc))
    assert error == ForeignLayerMismatch(
        digest=desc.digest,
        url=server.url("/short"),
        reason=f"the server sends {len(DATA) - 1} bytes, the descriptor says {len(DATA)}",
    )
    assert error.message.startswith(
        f"Fetching non-distributable layer {desc.digest} from {server.url('/short')}: "
    )
    assert server.hits == ["/short"]


def test_no_urls_and_no_answers(server: BlobServer, tmp_path: Path) -> None:
    with UrlFetcher(environ=clean_environ(tmp_path)) as fetcher:
        assert _err(fetcher.fetch(_descriptor(DATA))) == ForeignLayerUnavailable(
            digest=_descriptor(DATA).digest, reason="the descriptor lists no urls"
        )
        error = _err(fetcher.fetch(_descriptor(DATA, (server.url("/a?sig=secret"),))))
    assert error.message == (
        f"Fetching non-distributable layer {_descriptor(DATA).digest} from its urls: "
        f"GET {server.url('/a')}: 404 Not Found"  # the query (a signature) is not shown
    )


def test_https_urls_trust_the_ca_files(
    registry_tls: RegistryServer, unique_repo: str, tmp_path: Path
) -> None:
    desc = _descriptor(DATA)
    with registry_tls.client() as http:
        started = http.post(f"/v2/{unique_repo}/blobs/uploads/")
        location = httpx.URL(started.headers["Location"]).copy_add_param("digest", str(desc.digest))
        assert http.put(location, content=DATA).status_code == 201
    url = f"{registry_tls.url}/v2/{unique_repo}/blobs/{desc.digest}"
    assert registry_tls.ca_cert is not None
    trusting = RegistryOptions(ca_cert_paths=(str(registry_tls.ca_cert),))
    with (
        UrlFetcher(trusting, environ=clean_environ(tmp_path)) as fetcher,
        _ok(fetcher.fetch(desc, (url,))) as blob,
    ):
        assert b"".join(blob()) == DATA
    with UrlFetcher(environ=clean_environ(tmp_path)) as fetcher:
        error = _err(fetcher.fetch(desc, (url,)))
    assert isinstance(error, ForeignLayerUnavailable)
    assert "TLS certificate verification failed" in error.message
    bad_ca = tmp_path / "bad.pem"
    bad_ca.write_text("not a certificate")
    opened = UrlFetcher.open(RegistryOptions(ca_cert_paths=(str(bad_ca),)))
    assert isinstance(opened, IOFailure)
    assert "Adding CA certificates" in unsafe_perform_io(opened.failure()).message


def test_urls_go_through_the_environments_proxy(server: BlobServer, tmp_path: Path) -> None:
    server.routes["/p"] = DATA
    port = server.url("/p").rsplit(":", 1)[1].split("/", 1)[0]
    url = f"http://0.0.0.0:{port}/p"  # not loopback by Go's rules: proxied
    with ForwardProxy() as proxy:
        env = clean_environ(tmp_path, HTTP_PROXY=proxy.url)
        with UrlFetcher(environ=env) as fetcher, _ok(fetcher.fetch(_descriptor(DATA, (url,)))):
            pass
        assert proxy.lines() == [f"GET {url}"]
