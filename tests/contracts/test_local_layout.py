"""``LocalStore`` specifics the contract cannot see: the on-disk OCI image layout."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

from imgpkg_pure.digest import digest_of
from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.media_types import OCI_INDEX, OCI_MANIFEST, REF_NAME_ANNOTATION
from imgpkg_pure.oci import parse_index
from imgpkg_pure.store.content.errors import NotALayout, StoreIOFailure
from imgpkg_pure.store.content.local import LocalStore
from tests.contracts.store_contract import err, ok, put, store_tiny_image


def ingest_files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "ingest").iterdir())


def test_creates_the_layout(tmp_path: Path) -> None:
    root = tmp_path / "deep" / "store"
    store = ok(LocalStore.at(root))
    assert store.root == root
    assert json.loads((root / "oci-layout").read_bytes()) == {"imageLayoutVersion": "1.0.0"}
    index = parse_index((root / "index.json").read_bytes(), "index.json").unwrap()
    assert index.manifests == ()
    assert index.media_type == OCI_INDEX
    assert (root / "blobs" / "sha256").is_dir()
    assert ingest_files(root) == []


def test_blob_files_follow_the_layout_and_are_read_only(tmp_path: Path) -> None:
    store = ok(LocalStore.at(tmp_path))
    data = b"layout blob"
    digest = ok(store.put_bytes(data))
    path = tmp_path / "blobs" / "sha256" / digest.hex
    assert store.blob_path(digest) == path
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    sha512 = ok(store.put_bytes(data, digest_of(data, "sha512")))
    assert (tmp_path / "blobs" / "sha512" / sha512.hex).read_bytes() == data


def test_no_ingest_file_outlives_its_writer(tmp_path: Path) -> None:
    store = ok(LocalStore.at(tmp_path))
    ok(store.put_bytes(b"committed"))
    ok(store.put_bytes(b"committed"))  # already exists
    err(store.put_bytes(b"wrong", digest_of(b"other")))
    writer = ok(store.ingest())
    ok(writer.write(b"aborted"))
    assert ingest_files(tmp_path) == [writer.ref]
    ok(writer.abort())
    manifest, _, _ = store_tiny_image(store)
    ok(store.set_root("v1", manifest))
    ok(store.remove_root("v1"))
    assert ingest_files(tmp_path) == []


def test_reopening_keeps_blobs_and_roots(tmp_path: Path) -> None:
    first = ok(LocalStore.at(tmp_path))
    manifest, _, _ = store_tiny_image(first)
    ok(first.set_root("v1", manifest))
    again = ok(LocalStore.at(tmp_path))
    assert ok(again.resolve("v1")).digest == manifest.digest
    assert len(ok(again.iter_blobs())) == 3


def test_index_json_names_each_root(tmp_path: Path) -> None:
    store = ok(LocalStore.at(tmp_path))
    manifest, _, _ = store_tiny_image(store)
    ok(store.set_root("registry.example/app:1.0", manifest))
    document = json.loads((tmp_path / "index.json").read_bytes())
    assert document["schemaVersion"] == 2
    assert document["manifests"] == [
        {
            "mediaType": manifest.media_type,
            "size": manifest.size,
            "digest": str(manifest.digest),
            "annotations": {REF_NAME_ANNOTATION: "registry.example/app:1.0"},
        }
    ]


def test_refuses_a_non_empty_directory_that_is_not_a_layout(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    error = err(LocalStore.at(tmp_path))
    assert isinstance(error, NotALayout)
    assert str(tmp_path) in error.message
    assert "oci-layout" in error.message
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]  # left untouched


def test_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    error = err(LocalStore.at(target))
    assert error == NotALayout(path=str(target), reason="it exists and is not a directory")


def test_refuses_another_layout_version(tmp_path: Path) -> None:
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion":"2.0.0"}')
    (tmp_path / "index.json").write_text('{"schemaVersion":2,"manifests":[]}')
    error = err(LocalStore.at(tmp_path))
    assert isinstance(error, NotALayout)
    assert "2.0.0" in error.message


def test_adopts_an_empty_directory_and_a_layout_made_by_another_tool(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    ok(LocalStore.at(tmp_path / "empty"))
    assert (tmp_path / "empty" / "oci-layout").is_file()
    foreign = tmp_path / "foreign"
    (foreign / "blobs" / "sha256").mkdir(parents=True)
    data = b"blob from elsewhere"
    (foreign / "blobs" / "sha256" / digest_of(data).hex).write_bytes(data)
    (foreign / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (foreign / "index.json").write_text(
        '{"schemaVersion":2,"manifests":[{"mediaType":"application/octet-stream",'
        '"digest":"' + str(digest_of(data)) + '","size":' + str(len(data)) + ","
        '"annotations":{"org.opencontainers.image.ref.name":"x"}}]}'
    )
    store = ok(LocalStore.at(foreign))
    assert ok(store.resolve("x")).digest == digest_of(data)
    assert ok(store.verify()).ok


def test_completes_a_half_created_layout(tmp_path: Path) -> None:
    (tmp_path / "blobs").mkdir()
    (tmp_path / "ingest").mkdir()
    ok(LocalStore.at(tmp_path))
    assert (tmp_path / "oci-layout").is_file()
    assert (tmp_path / "index.json").is_file()


def test_malformed_index_json_is_reported(tmp_path: Path) -> None:
    store = ok(LocalStore.at(tmp_path))
    os.chmod(tmp_path / "index.json", 0o644)
    (tmp_path / "index.json").write_text('{"schemaVersion":2,"manifests":{}}')
    error = err(store.roots())
    assert isinstance(error, MalformedDocument)
    assert "index.json" in error.message
    assert isinstance(err(store.gc()), MalformedDocument)


def test_io_failures_name_the_path(tmp_path: Path) -> None:
    store = ok(LocalStore.at(tmp_path))
    (tmp_path / "ingest").rmdir()
    (tmp_path / "ingest").write_text("in the way")
    error = err(store.ingest())
    assert isinstance(error, StoreIOFailure)
    assert str(tmp_path / "ingest") in error.message


def test_gc_spares_live_ingests_and_removes_stale_ones(tmp_path: Path) -> None:
    store = ok(LocalStore.at(tmp_path))
    live = ok(store.ingest())
    ok(live.write(b"still being written"))
    (tmp_path / "ingest" / "blob-left-by-a-killed-process").write_bytes(b"partial")
    report = ok(store.gc())
    assert report.stale_ingests == 1
    assert ingest_files(tmp_path) == [live.ref]
    assert ok(live.commit()).digest == digest_of(b"still being written")
    assert ingest_files(tmp_path) == []


def test_threads_setting_roots_lose_nothing(tmp_path: Path) -> None:
    store = ok(LocalStore.at(tmp_path))
    blob = put(store, b"shared target", "application/octet-stream")

    def name_many(prefix: str) -> None:
        for i in range(10):
            ok(store.set_root(f"{prefix}-{i}", blob))

    threads = [threading.Thread(target=name_many, args=(f"t{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = {r.annotations.get(REF_NAME_ANNOTATION) for r in ok(store.roots())}
    assert names == {f"t{n}-{i}" for n in range(4) for i in range(10)}


def test_graph_walks_refuse_to_load_an_oversized_manifest(tmp_path: Path) -> None:
    store = ok(LocalStore.at(tmp_path))
    huge = b"{" + b" " * (5 << 20) + b"}"
    ok(store.set_root("huge", put(store, huge, OCI_MANIFEST)))
    orphan = put(store, b"orphan")
    error = err(store.gc())
    assert isinstance(error, MalformedDocument)
    assert "more than a manifest may hold" in error.message
    assert ok(store.exists(orphan.digest)) is True
    assert len(ok(store.verify()).malformed) == 1
