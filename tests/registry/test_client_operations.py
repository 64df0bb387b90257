"""The distribution-spec operations against a real plain-HTTP registry (distribution v2.8).

Manifests by tag and digest, blob existence, monolithic and chunked uploads,
mounts and their fallback, verified streaming downloads, tag pagination,
distribution error codes, retries, and concurrent use of one client.
"""

from __future__ import annotations

import io
import json
import re
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from imgpkg_pure.digest import digest_of
from imgpkg_pure.errors import DigestMismatch, SizeMismatch
from imgpkg_pure.media_types import OCI_MANIFEST
from imgpkg_pure.reference import Reference, parse_reference
from imgpkg_pure.store.registry import (
    BlobStreamIncomplete,
    ManifestTooLarge,
    PushMode,
    RegistryFailure,
    RegistryOptions,
    TransportFailure,
)
from tests.registry.helpers import (
    blob,
    chunks_of,
    err,
    make_client,
    ok,
    pattern_bytes,
    push_image,
    repository,
    tiny_manifest,
)
from tests.registry.paginating_gateway import PaginatingGateway
from tests.registry_fixtures import RegistryServer, free_loopback_port
from tests.reverse_proxy import ProxyHandler, ReverseProxy

pytestmark = pytest.mark.registry


def ref(text: str) -> Reference:
    return parse_reference(text).unwrap()


def test_ping_falls_back_to_http_for_a_loopback_registry(
    registry: RegistryServer, home: Path
) -> None:
    log = io.StringIO()
    with make_client(home, RegistryOptions(debug=True), debug_stream=log) as client:
        endpoint = ok(client.ping(registry.host))
    assert endpoint.scheme == "http"
    assert endpoint.challenge is None
    lines = [line for line in log.getvalue().splitlines() if line.startswith(("-->", "<--"))]
    assert lines[0] == f"--> GET https://{registry.host}/v2/"
    assert lines[1].startswith(f"<-- error https://{registry.host}/v2/")
    assert lines[2] == f"--> GET http://{registry.host}/v2/"


def test_plain_http_needs_insecure_for_other_hosts(registry: RegistryServer, home: Path) -> None:
    host = f"0.0.0.0:{registry.port}"  # not insecure by default (reference §2.7)
    with make_client(home) as client:
        failure = err(client.ping(host))
    assert isinstance(failure, TransportFailure)
    assert failure.url == f"https://{host}/v2/"
    assert "TLS" in failure.reason
    with make_client(home, RegistryOptions(insecure=True)) as client:
        assert ok(client.ping(host)).scheme == "http"


def test_manifest_put_get_head_by_tag_and_digest(
    registry: RegistryServer, home: Path, unique_repo: str
) -> None:
    repo = repository(registry, unique_repo)
    with make_client(home) as client:
        raw, digest = push_image(client, repo, "v1")
        assert digest == digest_of(raw)
        by_tag = ok(client.get_manifest(ref(f"{repo}:v1")))
        assert (by_tag.raw, by_tag.digest, by_tag.media_type) == (raw, digest, OCI_MANIFEST)
        by_digest = ok(client.get_manifest(ref(f"{repo}@{digest}")))
        assert by_digest.raw == raw
        head = ok(client.head_manifest(ref(f"{repo}:v1")))
        assert head == by_tag.descriptor
        assert ok(client.head_manifest(ref(f"{repo}@{digest}"))) == by_tag.descriptor
        assert ok(client.head_manifest(ref(f"{repo}:missing"))) is None
        # pushing by digest, then tagging the same bytes
        again = ok(client.put_manifest(repo, digest, raw, OCI_MANIFEST))
        assert again == digest
        ok(client.put_manifest(repo, "v2", raw, OCI_MANIFEST))
        assert ok(client.list_tags(repo)) == ("v1", "v2")


def test_put_manifest_by_a_digest_that_is_not_its_own(
    registry: RegistryServer, home: Path, unique_repo: str
) -> None:
    repo = repository(registry, unique_repo)
    with make_client(home) as client:
        raw, _ = push_image(client, repo, "v1")
        wrong = digest_of(b"something else")
        failure = err(client.put_manifest(repo, wrong, raw, OCI_MANIFEST))
    assert isinstance(failure, DigestMismatch)
    assert failure.expected == str(wrong)


def test_distribution_error_codes_are_surfaced(
    registry: RegistryServer, home: Path, unique_repo: str
) -> None:
    repo = repository(registry, unique_repo)
    with make_client(home) as client:
        push_image(client, repo, "v1")
        unknown_manifest = err(client.get_manifest(ref(f"{repo}:nope")))
        unknown_name = err(client.list_tags(repository(registry, unique_repo + "-absent")))
        missing = blob(b"never pushed")
        unknown_blob = err(client.open_blob(repo, missing))
        dangling = tiny_manifest(blob(b"no config"), [missing])
        bad_manifest = err(client.put_manifest(repo, "bad", dangling, OCI_MANIFEST))
    assert isinstance(unknown_manifest, RegistryFailure)
    assert (unknown_manifest.status, unknown_manifest.codes) == (404, ("MANIFEST_UNKNOWN",))
    assert unknown_manifest.message == (
        f"GET http://{registry.host}/v2/{unique_repo}/manifests/nope: "
        "MANIFEST_UNKNOWN: manifest unknown"
    )
    assert not unknown_manifest.temporary
    assert isinstance(unknown_name, RegistryFailure)
    assert unknown_name.codes == ("NAME_UNKNOWN",)
    assert isinstance(unknown_blob, RegistryFailure)
    assert unknown_blob.codes == ("BLOB_UNKNOWN",)
    assert isinstance(bad_manifest, RegistryFailure)
    assert bad_manifest.status == 400
    assert set(bad_manifest.codes) == {"MANIFEST_BLOB_UNKNOWN"}
    assert not bad_manifest.temporary


def test_manifest_above_the_limit_is_refused(
    registry: RegistryServer, home: Path, unique_repo: str
) -> None:
    repo = repository(registry, unique_repo)
    with make_client(home) as client:
        raw, _ = push_image(client, repo, "v1")
    with make_client(home, max_manifest_size=len(raw) - 1) as small:
        failure = err(small.get_manifest(ref(f"{repo}:v1")))
    assert isinstance(failure, ManifestTooLarge)
    assert failure.size == len(raw)


def _requests(log: io.StringIO, method: str) -> list[str]:
    return [line for line in log.getvalue().splitlines() if line.startswith(f"--> {method} ")]


def test_push_blob_monolithic_then_present_skip(
    registry: RegistryServer, home: Path, unique_repo: str
) -> None:
    """A new blob is one POST (asking by a mount from the repository itself) and one PUT;
    pushed again, the same POST is answered 201 and nothing is sent."""
    repo = repository(registry, unique_repo)
    data = pattern_bytes(3 * (1 << 20) + 17)
    desc = blob(data)
    opened: list[int] = []

    def open_chunks() -> list[bytes]:
        opened.append(1)
        return chunks_of(data)

    log = io.StringIO()
    with make_client(home, RegistryOptions(debug=True), debug_stream=log) as client:
        pushed = ok(client.push_blob(repo, desc, open_chunks))
        assert pushed.mode is PushMode.UPLOADED
        assert ok(client.blob_exists(repo, desc.digest)) == len(data)
        again = ok(client.push_blob(repo, desc, open_chunks))
        assert again.mode is PushMode.EXISTED
        received = bytearray()
        assert ok(client.fetch_blob_to(repo, desc, received.extend)) == desc
    assert bytes(received) == data
    assert opened == [1]  # the skip never opened the content again
    posts = _requests(log, "POST")
    assert len(posts) == 2
    assert all(desc.digest.hex[-40:] in p and p.endswith(f"&from={unique_repo}") for p in posts)
    assert len(_requests(log, "HEAD")) == 1  # the test's own blob_exists
    assert len(_requests(log, "PATCH")) == 0
    assert len(_requests(log, "PUT")) == 1


class _NoSelfMount(ProxyHandler):
    """A registry that refuses a mount from the repository being pushed to (400
    ``UNSUPPORTED``, as a registry without mounts may answer) and forwards the rest."""

    def _handle(self) -> None:
        proxy: ReverseProxy = self.server.proxy  # type: ignore[attr-defined]
        body = self.read_body()
        parts = urlsplit(self.path)
        lender = parse_qs(parts.query).get("from", [""])[0]
        if self.command == "POST" and lender and parts.path == f"/v2/{lender}/blobs/uploads/":
            error = {"errors": [{"code": "UNSUPPORTED", "message": "no mounts here"}]}
            self.answer(400, [("Content-Type", "application/json")], json.dumps(error).encode())
            return
        self.relay(
            proxy, proxy.forward(self.command, self.path, self.forwarded_headers(proxy), body)
        )


def test_push_blob_asks_with_a_head_where_a_self_mount_is_refused(
    registry: RegistryServer, home: Path, unique_repo: str
) -> None:
    data = pattern_bytes(70_001, seed=9)
    desc = blob(data)
    log = io.StringIO()
    with (
        ReverseProxy(registry.url, _NoSelfMount) as proxy,
        make_client(home, RegistryOptions(debug=True), debug_stream=log) as client,
    ):
        repo = repository(registry, unique_repo, host=proxy.host)
        assert ok(client.push_blob(repo, desc, lambda: chunks_of(data))).mode is PushMode.UPLOADED
        again = ok(client.push_blob(repo, desc, lambda: chunks_of(data)))
        assert again.mode is PushMode.EXISTED
        received = bytearray()
        assert ok(client.fetch_blob_to(repo, desc, received.extend)) == desc
    assert bytes(received) == data
    posts = _requests(log, "POST")
    # each push: the refused mount, then (the first only) a plain POST after a HEAD's 404
    assert ["mount=" in post for post in posts] == [True, False, True]
    assert len(_requests(log, "HEAD")) == 2
    assert len(_requests(log, "PUT")) == 1


def test_push_blob_chunked(registry: RegistryServer, home: Path, unique_repo: str) -> None:
    repo = repository(registry, unique_repo)
    data = pattern_bytes(2_100_005, seed=3)
    desc = blob(data)
    log = io.StringIO()
    with make_client(
        home,
        RegistryOptions(debug=True),
        debug_stream=log,
        monolithic_threshold=1 << 20,
        upload_chunk_size=700_000,
    ) as client:
        pushed = ok(client.push_blob(repo, desc, lambda: chunks_of(data, 300_000)))
        received = bytearray()
        ok(client.fetch_blob_to(repo, desc, received.extend))
    assert pushed.mode is PushMode.UPLOADED
    assert bytes(received) == data
    patches = _requests(log, "PATCH")
    assert len(patches) == 4  # 3 x 700000 + 5
    ranges = re.findall(r"Content-Range: (\d+-\d+)", log.getvalue())
    assert ranges == ["0-699999", "700000-1399999", "1400000-2099999", f"2100000-{len(data) - 1}"]
    puts = _requests(log, "PUT")
    assert len(puts) == 1 and "digest=" in puts[0]


def test_mount_across_repositories(
    registry: RegistryServer, home: Path, unique_repo_factory: object
) -> None:
    assert callable(unique_repo_factory)
    source = repository(registry, unique_repo_factory("src"))
    target = repository(registry, unique_repo_factory("dst"))
    data = pattern_bytes(5000, seed=7)
    desc = blob(data)
    opened: list[int] = []

    def open_chunks() -> list[bytes]:
        opened.append(1)
        return [data]

    with make_client(home) as client:
        ok(client.push_blob(source, desc, open_chunks))
        mounted = ok(client.push_blob(target, desc, open_chunks, mount_from=source))
        assert mounted.mode is PushMode.MOUNTED
        assert ok(client.blob_exists(target, desc.digest)) == len(data)
    assert opened == [1]


def test_mount_falls_back_to_upload(
    registry: RegistryServer, home: Path, unique_repo_factory: object
) -> None:
    assert callable(unique_repo_factory)
    source = repository(registry, unique_repo_factory("src"))  # does not hold the blob
    target = repository(registry, unique_repo_factory("dst"))
    data = pattern_bytes(4000, seed=8)
    desc = blob(data)
    log = io.StringIO()
    with make_client(home, RegistryOptions(debug=True), debug_stream=log) as client:
        pushed = ok(client.push_blob(target, desc, lambda: [data], mount_from=source))
        assert pushed.mode is PushMode.UPLOADED
        assert ok(client.blob_exists(target, desc.digest)) == len(data)
    posts = _requests(log, "POST")
    assert len(posts) == 1
    assert f"mount={desc.digest}&from={source.repository}" in posts[0]
    assert len(_requests(log, "PUT")) == 1  # the 202 session was used for the upload


def test_push_blob_content_of_the_wrong_size(
    registry: RegistryServer, home: Path, unique_repo: str
) -> None:
    repo = repository(registry, unique_repo)
    data = pattern_bytes(3000)
    desc = blob(data)
    with make_client(home, RegistryOptions(retry_count=1)) as client:
        short = err(client.push_blob(repo, desc, lambda: [data[:-10]]))
        long = err(client.push_blob(repo, desc, lambda: [data, b"extra"]))
        assert ok(client.blob_exists(repo, desc.digest)) == len(data)  # the first 3000 were right
    assert isinstance(short, SizeMismatch)
    assert (short.expected, short.actual) == (3000, 2990)
    assert isinstance(long, SizeMismatch)
    assert long.actual == 3005


def test_push_blob_content_with_the_wrong_digest(
    registry: RegistryServer, home: Path, unique_repo: str
) -> None:
    repo = repository(registry, unique_repo)
    data = pattern_bytes(3000)
    desc = blob(data)
    with make_client(home) as client:
        failure = err(client.push_blob(repo, desc, lambda: [pattern_bytes(3000, seed=99)]))
        assert ok(client.blob_exists(repo, desc.digest)) is None
    assert isinstance(failure, RegistryFailure)
    assert failure.codes == ("DIGEST_INVALID",)
    assert "_state" not in failure.url and "?" not in failure.url


def test_streamed_download_is_verified(
    registry: RegistryServer, home: Path, unique_repo: str
) -> None:
    repo = repository(registry, unique_repo)
    data = pattern_bytes(3 * (1 << 20) + 1, seed=5)
    desc = blob(data)
    with make_client(home) as client:
        ok(client.push_blob(repo, desc, lambda: chunks_of(data)))
        with ok(client.open_blob(repo, desc)) as stream:
            assert err(stream.verdict()) == BlobStreamIncomplete(
                what=f"blob {desc.digest} from {repo}", read=0, expected=len(data)
            )
            sizes = [len(chunk) for chunk in stream]
        assert sum(sizes) == len(data)
        assert max(sizes) <= 1 << 20
        assert ok(stream.verdict()) == desc
        # a consumer that stops early never gets a valid verdict
        with ok(client.open_blob(repo, desc)) as partial:
            for _chunk in partial:
                break
        incomplete = err(partial.verdict())
        assert isinstance(incomplete, BlobStreamIncomplete)
        # a descriptor with the wrong size is refused before any byte is handed out
        wrong_size = blob(data)
        wrong_size = type(wrong_size)(
            media_type=wrong_size.media_type, digest=wrong_size.digest, size=len(data) + 1
        )
        mismatch = err(client.open_blob(repo, wrong_size))
        assert isinstance(mismatch, SizeMismatch)


def test_list_tags_without_pagination_support(
    registry: RegistryServer, home: Path, unique_repo: str
) -> None:
    """distribution 2.8.2 ignores ``n`` and sends every tag, unsorted, with no ``Link``."""
    repo = repository(registry, unique_repo)
    with make_client(home) as client:
        raw, _ = push_image(client, repo, "t0")
        for tag in ("t1", "t2", "t3", "t4"):
            ok(client.put_manifest(repo, tag, raw, OCI_MANIFEST))
        start = registry.log_size()
        tags = ok(client.list_tags(repo, page_size=2))
        log = registry.read_log_since(start)
    with registry.client() as http:  # what the registry itself answers to n=2
        answer = http.get(f"/v2/{unique_repo}/tags/list", params={"n": "2"})
    assert answer.status_code == 200
    assert "Link" not in answer.headers
    assert sorted(answer.json()["tags"]) == ["t0", "t1", "t2", "t3", "t4"]
    # the client asked once, with n, and kept every tag in the registry's order
    assert re.findall(r'"GET (/v2/[^ ]*/tags/list[^ ]*) HTTP', log) == [
        f"/v2/{unique_repo}/tags/list?n=2"
    ]
    assert tags == tuple(answer.json()["tags"])


def _five_tags(registry: RegistryServer, home: Path, unique_repo: str) -> None:
    """One image tagged ``t0`` to ``t4`` (pushed in a shuffled order) in ``unique_repo``."""
    repo = repository(registry, unique_repo)
    with make_client(home) as client:
        raw, _ = push_image(client, repo, "t0")
        for tag in ("t3", "t1", "t4", "t2"):
            ok(client.put_manifest(repo, tag, raw, OCI_MANIFEST))


def test_list_tags_follows_link_pagination(
    registry: RegistryServer, home: Path, unique_repo: str
) -> None:
    _five_tags(registry, home, unique_repo)
    with PaginatingGateway(registry.url) as gateway, make_client(home) as client:
        tags = ok(client.list_tags(repository(registry, unique_repo, gateway.host), page_size=2))
    assert tags == ("t0", "t1", "t2", "t3", "t4")
    pages = [path for path in gateway.paths if "/tags/list" in path]
    assert pages == [
        f"/v2/{unique_repo}/tags/list?n=2",
        f"/v2/{unique_repo}/tags/list?n=2&last=t1",
        f"/v2/{unique_repo}/tags/list?n=2&last=t3",
    ]


def test_tags_if_few_stops_at_its_page_bound(
    registry: RegistryServer, home: Path, unique_repo: str
) -> None:
    _five_tags(registry, home, unique_repo)
    with PaginatingGateway(registry.url) as gateway, make_client(home) as client:
        through = repository(registry, unique_repo, gateway.host)
        assert ok(client.tags_if_few(through, max_pages=1, page_size=2)) is None
        asked = [path for path in gateway.paths if "/tags/list" in path]
        assert len(asked) == 1  # the second page is not asked for
        whole = ok(client.tags_if_few(through, max_pages=3, page_size=2))
        assert whole == frozenset({"t0", "t1", "t2", "t3", "t4"})
        unknown = repository(registry, f"{unique_repo}-never-pushed", gateway.host)
        assert ok(client.tags_if_few(unknown, max_pages=1)) == frozenset()  # NAME_UNKNOWN


def test_connection_refused_is_retried_then_reported(home: Path) -> None:
    host = f"127.0.0.1:{free_loopback_port()}"
    slept: list[float] = []
    with make_client(home, RegistryOptions(retry_count=4), sleep=slept.append) as client:
        failure = err(client.ping(host))
    assert isinstance(failure, TransportFailure)
    assert failure.reason.startswith("connection refused")
    assert failure.temporary
    assert failure.url == f"https://{host}/v2/"  # both schemes were tried for a loopback host
    assert f"plain http also failed: GET http://{host}/v2/: connection refused" in failure.reason
    assert slept == [0.1, 0.2, 0.4]


def test_one_client_serves_a_thread_pool(
    registry: RegistryServer, home: Path, unique_repo: str
) -> None:
    repo = repository(registry, unique_repo)
    payloads = [pattern_bytes(20_000 + i, seed=i) for i in range(16)]

    def push_and_read(data: bytes) -> bool:
        desc = blob(data)
        ok(client.push_blob(repo, desc, lambda: [data]))
        received = bytearray()
        ok(client.fetch_blob_to(repo, desc, received.extend))
        return bytes(received) == data

    with make_client(home) as client, ThreadPoolExecutor(max_workers=8) as pool:
        results: Iterator[bool] = pool.map(push_and_read, payloads)
        assert all(results)


class SilentServer:
    """Accepts connections and never answers; records what each connection sent first
    (``tls`` for a TLS ClientHello, ``http`` for a request line)."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(8)
        self._socket.settimeout(0.05)
        self.host = f"127.0.0.1:{self._socket.getsockname()[1]}"
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            self._held.append(connection)

    def spoken(self) -> list[str]:
        """What each connection sent first, in the order they came."""
        kinds = []
        for connection in self._held:
            connection.settimeout(5)
            first = connection.recv(1)
            kinds.append("tls" if first == b"\x16" else "http" if first == b"G" else repr(first))
        return kinds

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for connection in self._held:
            connection.close()
        self._socket.close()


def test_a_silent_server_times_out(home: Path) -> None:
    """No clock: the attempts and the backoff sleeps are counted (the timeout itself is
    what ends each attempt, and pytest's timeout bounds the whole)."""
    slept: list[float] = []
    with SilentServer() as silent:
        options = RegistryOptions(response_header_timeout=0.3, retry_count=2)
        with make_client(home, options, sleep=slept.append) as client:
            failure = err(client.ping(silent.host))
        spoken = silent.spoken()
    assert isinstance(failure, TransportFailure)
    assert failure.reason.startswith("timed out connecting")  # the TLS handshake
    assert "timeout awaiting response headers" in failure.reason  # then plain http
    assert "--registry-response-header-timeout" in failure.reason
    # one https try (plain http is allowed for loopback, so it is not retried), then http
    # tried twice (retry_count=2) with one backoff sleep between
    assert spoken == ["tls", "http", "http"]
    assert slept == [0.1]
