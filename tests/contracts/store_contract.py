"""The blob store contract (containerd ``core/content/testsuite`` style).

``StoreContract`` holds behaviour tests that every ``BlobStore`` must pass.
A test module subclasses it as ``Test…`` and provides a ``case`` fixture
(a ``StoreCase``: a fresh store plus what the suite needs to know about it);
see ``test_store_contract.py``.  Nothing here is collected on its own.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import Digest, digest_of
from imgpkg_pure.errors import DigestMismatch, MalformedDocument, SizeMismatch
from imgpkg_pure.media_types import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    REF_NAME_ANNOTATION,
)
from imgpkg_pure.oci import Annotations, Descriptor, encode_index, encode_manifest
from imgpkg_pure.store.content.blobstore import CHUNK_SIZE, BlobStore, Committed
from imgpkg_pure.store.content.errors import (
    BlobCorrupt,
    BlobNotFound,
    IngestClosed,
    InvalidRootName,
    RootNotFound,
)

T = TypeVar("T")
E = TypeVar("E")


# --- result helpers (tests may unwrap) -------------------------------------


def ok(result: IOResult[T, E]) -> T:
    """The success value, or a test failure showing the error."""
    if isinstance(result, IOFailure):
        error = unsafe_perform_io(result.failure())
        pytest.fail(f"expected success, got {error!r}")
    return unsafe_perform_io(result.unwrap())


def err(result: IOResult[T, E]) -> E:
    """The failure value, or a test failure showing the unexpected success."""
    if isinstance(result, IOSuccess):
        pytest.fail(f"expected a failure, got {unsafe_perform_io(result.unwrap())!r}")
    return unsafe_perform_io(result.failure())


# --- content builders ------------------------------------------------------


def blob_descriptor(data: bytes, media_type: str = OCI_LAYER) -> Descriptor:
    return Descriptor(media_type=media_type, digest=digest_of(data), size=len(data))


def put(store: BlobStore, data: bytes, media_type: str = OCI_LAYER) -> Descriptor:
    """Store ``data`` and return its descriptor."""
    ok(store.put_bytes(data, digest_of(data)))
    return blob_descriptor(data, media_type)


def put_manifest(
    store: BlobStore,
    config: Descriptor,
    layers: tuple[Descriptor, ...],
    annotations: dict[str, str] | None = None,
) -> Descriptor:
    raw = encode_manifest(config, layers, OCI_MANIFEST, Annotations.of(annotations or {}))
    return put(store, raw, OCI_MANIFEST)


def put_index(store: BlobStore, manifests: tuple[Descriptor, ...]) -> Descriptor:
    return put(store, encode_index(manifests, OCI_INDEX), OCI_INDEX)


def chunks_of(size: int, seed: int = 0) -> Iterator[bytes]:
    """``size`` bytes in ``CHUNK_SIZE`` chunks, each made fresh (never held together)."""
    index = 0
    left = size
    while left > 0:
        n = min(CHUNK_SIZE, left)
        yield bytes([(seed + index) % 251]) * n
        left -= n
        index += 1


def stream_digest(chunks: Iterator[bytes]) -> tuple[Digest, int]:
    h = hashlib.sha256()
    total = 0
    for chunk in chunks:
        h.update(chunk)
        total += len(chunk)
    return Digest("sha256", h.hexdigest()), total


def tiny_image_layer() -> tuple[bytes, Digest]:
    """A gzip layer holding one file, and its uncompressed tar's digest (the diffID)."""
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        payload = b"hello from imgpkg-pure\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(payload)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(payload))
    tar_bytes = tar_buffer.getvalue()
    return gzip.compress(tar_bytes, mtime=0), digest_of(tar_bytes)


def store_tiny_image(store: BlobStore) -> tuple[Descriptor, Descriptor, Descriptor]:
    """A valid single-layer OCI image: (manifest, config, layer) descriptors."""
    layer_bytes, diff_id = tiny_image_layer()
    config_bytes = (
        b'{"architecture":"amd64","os":"linux","config":{},'
        b'"rootfs":{"type":"layers","diff_ids":["' + str(diff_id).encode() + b'"]}}'
    )
    config = put(store, config_bytes, OCI_CONFIG)
    layer = put(store, layer_bytes, OCI_LAYER_GZIP)
    manifest = put_manifest(store, config, (layer,))
    return manifest, config, layer


# --- the case a test module provides ---------------------------------------


@frozen(kw_only=True)
class StoreCase:
    """A fresh store, and what the suite needs to know about its implementation.

    ``large_blob_size`` is the size of the streamed-blob test; when
    ``bounded_memory`` is true the suite also checks that streaming it keeps
    the traced peak far below that size.  ``corrupt`` damages a stored blob
    in place (for ``verify``), when the implementation can be damaged.
    """

    name: str
    store: BlobStore
    large_blob_size: int
    bounded_memory: bool
    corrupt: Callable[[Digest], None] | None = None


class StoreContract:
    """Behaviour every ``BlobStore`` implementation must show."""

    # -- ingest and commit ----------------------------------------------------

    def test_ingest_commit(self, case: StoreCase) -> None:
        store = case.store
        data = [b"first chunk ", b"second chunk ", b"third"]
        whole = b"".join(data)
        writer = ok(store.ingest())
        for chunk in data:
            ok(writer.write(chunk))
        assert writer.offset == len(whole)
        committed = ok(writer.commit(len(whole), digest_of(whole)))
        assert committed == Committed(
            digest=digest_of(whole), size=len(whole), already_existed=False
        )
        assert ok(store.exists(committed.digest)) is True
        assert ok(store.stat(committed.digest)) == len(whole)
        assert ok(store.read_bytes(committed.digest)) == whole
        with ok(store.open(committed.digest)) as stream:
            assert stream.read() == whole
        assert ok(store.iter_blobs()) == (committed.digest,)

    def test_commit_without_expectations_names_the_content(self, case: StoreCase) -> None:
        writer = ok(case.store.ingest())
        ok(writer.write(b"anything"))
        committed = ok(writer.commit())
        assert committed.digest == digest_of(b"anything")
        assert committed.digest.algorithm == "sha256"

    def test_invisible_until_commit(self, case: StoreCase) -> None:
        store = case.store
        data = b"not yet"
        with ok(store.ingest()) as writer:
            ok(writer.write(data))
            assert ok(store.exists(digest_of(data))) is False
            assert ok(store.iter_blobs()) == ()
            assert err(store.open(digest_of(data))) == BlobNotFound(digest=digest_of(data))
            ok(writer.commit(len(data), digest_of(data)))
        assert ok(store.exists(digest_of(data))) is True

    def test_commit_with_wrong_digest_stores_nothing(self, case: StoreCase) -> None:
        store = case.store
        expected = digest_of(b"what was promised")
        writer = ok(store.ingest())
        ok(writer.write(b"what was sent"))
        error = err(writer.commit(len(b"what was sent"), expected))
        assert isinstance(error, DigestMismatch)
        assert error.expected == str(expected)
        assert error.actual == str(digest_of(b"what was sent"))
        assert str(expected) in error.message
        assert ok(store.iter_blobs()) == ()
        assert ok(store.exists(expected)) is False
        assert ok(store.exists(digest_of(b"what was sent"))) is False
        # the writer is finished: it neither writes nor commits again
        assert isinstance(err(writer.write(b"more")), IngestClosed)
        assert isinstance(err(writer.commit()), IngestClosed)

    def test_commit_with_wrong_size_stores_nothing(self, case: StoreCase) -> None:
        store = case.store
        data = b"twelve bytes"
        writer = ok(store.ingest())
        ok(writer.write(data))
        error = err(writer.commit(len(data) + 1, digest_of(data)))
        assert error == SizeMismatch(
            what=f"blob {digest_of(data)}", expected=len(data) + 1, actual=len(data)
        )
        assert str(digest_of(data)) in error.message
        assert ok(store.iter_blobs()) == ()

    def test_size_is_checked_before_digest(self, case: StoreCase) -> None:
        error = err(case.store.put_stream([b"abc"], 4, digest_of(b"xyz")))
        assert isinstance(error, SizeMismatch)
        assert ok(case.store.iter_blobs()) == ()

    def test_put_bytes_with_wrong_expectation(self, case: StoreCase) -> None:
        expected = digest_of(b"other")
        error = err(case.store.put_bytes(b"data", expected))
        assert isinstance(error, SizeMismatch | DigestMismatch)
        assert str(expected) in error.message
        assert ok(case.store.iter_blobs()) == ()

    def test_already_exists_is_success_and_idempotent(self, case: StoreCase) -> None:
        store = case.store
        data = b"stored twice"
        first = ok(store.put_stream([data], len(data), digest_of(data)))
        second = ok(store.put_stream([b"stored ", b"twice"], len(data), digest_of(data)))
        third = ok(store.put_bytes(data))
        assert first.already_existed is False
        assert second == Committed(digest=digest_of(data), size=len(data), already_existed=True)
        assert third == digest_of(data)
        assert ok(store.iter_blobs()) == (digest_of(data),)
        assert ok(store.read_bytes(digest_of(data))) == data

    def test_abort(self, case: StoreCase) -> None:
        store = case.store
        writer = ok(store.ingest())
        ok(writer.write(b"discard me"))
        assert ok(writer.abort()) is None
        assert ok(writer.abort()) is None  # idempotent
        assert ok(store.iter_blobs()) == ()
        assert isinstance(err(writer.write(b"x")), IngestClosed)
        closed = err(writer.commit())
        assert closed == IngestClosed(ref=writer.ref, state="aborted")
        assert writer.ref in closed.message

    def test_leaving_the_with_block_aborts(self, case: StoreCase) -> None:
        store = case.store
        with pytest.raises(RuntimeError), ok(store.ingest()) as writer:
            ok(writer.write(b"half"))
            raise RuntimeError("producer failed")
        assert ok(store.iter_blobs()) == ()
        assert isinstance(err(writer.commit()), IngestClosed)

    def test_commit_after_commit_is_closed(self, case: StoreCase) -> None:
        with ok(case.store.ingest()) as writer:
            ok(writer.write(b"once"))
            ok(writer.commit())
        assert err(writer.commit()) == IngestClosed(ref=writer.ref, state="committed")
        assert ok(case.store.exists(digest_of(b"once"))) is True

    def test_empty_blob(self, case: StoreCase) -> None:
        store = case.store
        empty = digest_of(b"")
        assert ok(store.put_bytes(b"", empty)) == empty
        writer = ok(store.ingest())
        assert ok(writer.commit(0, empty)).already_existed is True
        assert ok(store.read_bytes(empty)) == b""
        assert ok(store.stat(empty)) == 0

    def test_sha512(self, case: StoreCase) -> None:
        store = case.store
        data = b"hashed with sha512"
        expected = digest_of(data, "sha512")
        assert ok(store.put_bytes(data, expected)) == expected
        # a writer hashing sha256 re-hashes when the commit expects sha512
        writer = ok(store.ingest("sha256"))
        ok(writer.write(data))
        assert ok(writer.commit(len(data), expected)).already_existed is True
        assert ok(store.read_bytes(expected)) == data
        assert ok(store.iter_blobs()) == (expected,)
        assert ok(store.exists(digest_of(data))) is False

    def test_large_blob_is_streamed(self, case: StoreCase) -> None:
        store = case.store
        size = case.large_blob_size
        expected, total = stream_digest(chunks_of(size, seed=7))
        assert total == size
        tracemalloc.start()
        try:
            committed = ok(store.put_stream(chunks_of(size, seed=7), size, expected))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert committed == Committed(digest=expected, size=size, already_existed=False)
        if case.bounded_memory:
            assert peak < 8 * CHUNK_SIZE, f"peak {peak} bytes while streaming {size} bytes"
        h = hashlib.sha256()
        with ok(store.open(expected)) as stream:
            while chunk := stream.read(CHUNK_SIZE):
                h.update(chunk)
        assert h.hexdigest() == expected.hex
        assert ok(store.stat(expected)) == size

    def test_missing_blob(self, case: StoreCase) -> None:
        store = case.store
        missing = digest_of(b"never stored")
        assert ok(store.exists(missing)) is False
        not_found = BlobNotFound(digest=missing)
        assert err(store.open(missing)) == not_found
        assert err(store.stat(missing)) == not_found
        assert err(store.read_bytes(missing)) == not_found
        assert err(store.delete(missing)) == not_found
        assert str(missing) in not_found.message
        assert ok(store.exists(digest_of(b"x", "sha512"))) is False

    def test_delete(self, case: StoreCase) -> None:
        store = case.store
        keep = put(store, b"keep")
        gone = put(store, b"gone")
        assert ok(store.delete(gone.digest)) is None
        assert ok(store.exists(gone.digest)) is False
        assert ok(store.iter_blobs()) == (keep.digest,)
        assert err(store.delete(gone.digest)) == BlobNotFound(digest=gone.digest)
        put(store, b"gone")  # a deleted blob can be stored again
        assert ok(store.exists(gone.digest)) is True

    def test_concurrent_writers_of_the_same_blobs(self, case: StoreCase) -> None:
        store = case.store
        payloads = [f"payload {i % 3}".encode() * 1000 for i in range(12)]
        results: list[IOResult[Committed, object]] = []
        lock = threading.Lock()

        def work(data: bytes) -> None:
            result = store.put_stream([data[:500], data[500:]], len(data), digest_of(data))
            with lock:
                results.append(result)

        threads = [threading.Thread(target=work, args=(p,)) for p in payloads]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        committed = [ok(r) for r in results]
        assert sum(not c.already_existed for c in committed) == 3
        assert ok(store.iter_blobs()) == tuple(sorted({digest_of(p) for p in payloads}))
        assert ok(store.verify()).ok

    # -- roots ----------------------------------------------------------------

    def test_roots_set_replace_remove(self, case: StoreCase) -> None:
        store = case.store
        assert ok(store.roots()) == ()
        config = put(store, b"{}", OCI_CONFIG)
        m1 = put_manifest(store, config, (put(store, b"layer one"),))
        m2 = put_manifest(store, config, (put(store, b"layer two"),))

        entry = ok(store.set_root("example.com/app:v1", m1))
        assert entry.annotations.get(REF_NAME_ANNOTATION) == "example.com/app:v1"
        assert (entry.digest, entry.size, entry.media_type) == (m1.digest, m1.size, m1.media_type)
        ok(store.set_root("latest", m1))
        assert ok(store.roots()) == (entry, ok(store.resolve("latest")))

        replaced = ok(store.set_root("example.com/app:v1", m2))
        assert ok(store.resolve("example.com/app:v1")) == replaced
        assert replaced.digest == m2.digest
        names = [r.annotations.get(REF_NAME_ANNOTATION) for r in ok(store.roots())]
        assert names == ["example.com/app:v1", "latest"]  # replaced in place

        assert ok(store.remove_root("latest")).digest == m1.digest
        assert [r.digest for r in ok(store.roots())] == [m2.digest]
        assert err(store.remove_root("latest")) == RootNotFound(name="latest")
        assert err(store.resolve("latest")) == RootNotFound(name="latest")
        assert "latest" in RootNotFound(name="latest").message

    def test_root_keeps_other_annotations(self, case: StoreCase) -> None:
        store = case.store
        blob = put(store, b"artifact", "application/octet-stream")
        annotated = Descriptor(
            media_type=blob.media_type,
            digest=blob.digest,
            size=blob.size,
            annotations=Annotations.of({"dev.example.origin": "registry"}),
        )
        entry = ok(store.set_root("artifact", annotated))
        assert entry.annotations.as_dict() == {
            "dev.example.origin": "registry",
            REF_NAME_ANNOTATION: "artifact",
        }
        assert ok(store.roots()) == (entry,)

    def test_root_must_be_stored(self, case: StoreCase) -> None:
        ghost = blob_descriptor(b"not stored", OCI_MANIFEST)
        assert err(case.store.set_root("ghost", ghost)) == BlobNotFound(digest=ghost.digest)
        assert ok(case.store.roots()) == ()

    @pytest.mark.parametrize("name", ["", "has space", "-leading", "trailing-", "a//b", "ü"])
    def test_root_name_grammar(self, case: StoreCase, name: str) -> None:
        blob = put(case.store, b"x")
        error = err(case.store.set_root(name, blob))
        assert isinstance(error, InvalidRootName)
        assert error.name == name
        assert ok(case.store.roots()) == ()

    # -- gc -------------------------------------------------------------------

    def test_gc_keeps_everything_reachable(self, case: StoreCase) -> None:
        store = case.store
        config = put(store, b'{"os":"linux"}', OCI_CONFIG)
        shared = put(store, b"shared layer")
        a = put_manifest(store, config, (shared, put(store, b"layer of a")))
        b = put_manifest(store, config, (put(store, b"layer of b"),))
        referrer = put(
            store,
            _manifest_with_subject(put(store, b"{}", OCI_CONFIG), a),
            OCI_MANIFEST,
        )
        index = put_index(store, (a, b))
        lone = put_manifest(store, config, (put(store, b"lone layer"),))
        orphan_manifest = put_manifest(
            store, put(store, b'{"orphan":1}', OCI_CONFIG), (shared, put(store, b"orphan layer"))
        )
        orphan = put(store, b"orphan blob")
        ok(store.set_root("index", index))
        ok(store.set_root("lone", lone))
        ok(store.set_root("referrer", referrer))

        before = set(ok(store.iter_blobs()))
        report = ok(store.gc())
        after = set(ok(store.iter_blobs()))
        unreachable = {
            orphan.digest,
            orphan_manifest.digest,
            digest_of(b'{"orphan":1}'),
            digest_of(b"orphan layer"),
        }
        assert after == before - unreachable
        assert set(report.deleted) == unreachable
        assert report.kept == len(after)
        assert report.missing == ()
        assert report.bytes_freed > 0
        assert ok(store.verify()).ok

        # drop a root: what only it reached goes on the next gc
        ok(store.remove_root("lone"))
        report = ok(store.gc())
        assert set(report.deleted) == {lone.digest, digest_of(b"lone layer")}
        assert ok(store.exists(config.digest)) is True  # still reached through the index

        for name in ("index", "referrer"):
            ok(store.remove_root(name))
        ok(store.gc())
        assert ok(store.iter_blobs()) == ()

    def test_gc_walks_a_manifest_also_reached_as_a_leaf(self, case: StoreCase) -> None:
        store = case.store
        inner_config = put(store, b'{"inner":1}', OCI_CONFIG)
        inner = put_manifest(store, inner_config, ())
        # another root lists the inner manifest as if it were a plain layer
        outer = put_manifest(
            store,
            put(store, b"{}", OCI_CONFIG),
            (blob_descriptor(ok(store.read_bytes(inner.digest))),),
        )
        ok(store.set_root("outer", outer))
        ok(store.set_root("inner", inner))
        assert ok(store.gc()).deleted == ()
        assert ok(store.exists(inner_config.digest)) is True

    def test_gc_reports_missing_children(self, case: StoreCase) -> None:
        store = case.store
        config = put(store, b"{}", OCI_CONFIG)
        absent = blob_descriptor(b"never pushed (non-distributable)")
        manifest = put_manifest(store, config, (absent,))
        ok(store.set_root("partial", manifest))
        report = ok(store.gc())
        assert report.missing == (absent.digest,)
        assert report.deleted == ()
        assert ok(store.verify()).missing == (absent.digest,)

    def test_gc_refuses_a_malformed_reachable_manifest(self, case: StoreCase) -> None:
        store = case.store
        orphan = put(store, b"orphan")
        broken = put(store, b'{"schemaVersion": 2, "layers": "no"}', OCI_MANIFEST)
        ok(store.set_root("broken", broken))
        error = err(store.gc())
        assert isinstance(error, MalformedDocument)
        assert str(broken.digest) in error.message
        assert ok(store.exists(orphan.digest)) is True  # nothing deleted
        assert len(ok(store.verify()).malformed) == 1

    def test_gc_grace_spares_recent_blobs(self, case: StoreCase) -> None:
        store = case.store
        recent = put(store, b"just written")
        report = ok(store.gc(grace_seconds=3600))
        assert report.spared == 1
        assert report.deleted == ()
        assert ok(store.exists(recent.digest)) is True
        assert ok(store.gc()).deleted == (recent.digest,)

    # -- verify ---------------------------------------------------------------

    def test_verify_clean(self, case: StoreCase) -> None:
        manifest, _, _ = store_tiny_image(case.store)
        ok(case.store.set_root("v1", manifest))
        report = ok(case.store.verify())
        assert report.ok
        assert report.checked == 3
        assert report.corrupt == ()

    def test_verify_finds_a_corrupt_blob(self, case: StoreCase) -> None:
        if case.corrupt is None:
            pytest.fail(f"{case.name}: the case gives no way to damage a blob")
        store = case.store
        good = put(store, b"good content")
        bad = put(store, b"bad content")
        case.corrupt(bad.digest)
        report = ok(store.verify())
        assert not report.ok
        assert [c.digest for c in report.corrupt] == [bad.digest]
        assert report.corrupt[0].actual != bad.digest
        assert str(bad.digest) in report.corrupt[0].message
        assert report.checked == 2
        error = err(store.read_bytes(bad.digest))
        assert isinstance(error, BlobCorrupt)
        assert ok(store.read_bytes(good.digest)) == b"good content"


def _manifest_with_subject(config: Descriptor, subject: Descriptor) -> bytes:
    """A referrer: an OCI manifest whose ``subject`` is ``subject`` (no encoder writes one)."""
    return (
        b'{"schemaVersion":2,"mediaType":"' + OCI_MANIFEST.encode() + b'",'
        b'"config":{"mediaType":"'
        + config.media_type.encode()
        + b'","size":'
        + str(config.size).encode()
        + b',"digest":"'
        + str(config.digest).encode()
        + b'"},"layers":[],"subject":{"mediaType":"'
        + subject.media_type.encode()
        + b'","size":'
        + str(subject.size).encode()
        + b',"digest":"'
        + str(subject.digest).encode()
        + b'"}}'
    )


__all__ = [
    "StoreCase",
    "StoreContract",
    "blob_descriptor",
    "chunks_of",
    "err",
    "ok",
    "put",
    "put_index",
    "put_manifest",
    "store_tiny_image",
    "stream_digest",
]
