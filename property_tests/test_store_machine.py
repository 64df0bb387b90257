"""The blob store as a state machine, checked against a dict model (both implementations).

Rules: put a valid blob, put a corrupt one (wrong expected digest: it must stay
invisible), abort an ingest, delete, name a small manifest over stored blobs as
a root, remove a root, gc.  Invariant: the visible blobs are exactly the
model's, and every one hashes to its name.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from attrs import frozen
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from imgpkg_pure.digest import Digest, digest_of
from imgpkg_pure.errors import DigestMismatch, SizeMismatch
from imgpkg_pure.media_types import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST
from imgpkg_pure.oci import Descriptor, encode_manifest
from imgpkg_pure.store.content.blobstore import BlobStore
from imgpkg_pure.store.content.errors import BlobNotFound, RootNotFound
from imgpkg_pure.store.content.local import LocalStore
from imgpkg_pure.store.content.memory import MemoryStore
from tests.contracts.store_contract import err, ok

ROOT_NAMES = st.sampled_from(["app:v1", "app:v2", "bundle"])
BLOB_BYTES = st.binary(max_size=48)


@frozen
class ModelRoot:
    manifest: Digest
    children: frozenset[Digest]


class StoreMachine(RuleBasedStateMachine):
    """Shared rules; subclasses say which store they run against."""

    def __init__(self) -> None:
        super().__init__()
        self.store = self.make_store()
        self.model: dict[Digest, bytes] = {}
        self.roots: dict[str, ModelRoot] = {}

    def make_store(self) -> BlobStore:
        raise NotImplementedError

    # -- rules ----------------------------------------------------------------

    @rule(data=BLOB_BYTES)
    def put_valid(self, data: bytes) -> None:
        digest = ok(self.store.put_bytes(data, digest_of(data)))
        assert digest == digest_of(data)
        self.model[digest] = data

    @rule(data=BLOB_BYTES, promised=BLOB_BYTES, sized=st.booleans())
    def put_corrupt(self, data: bytes, promised: bytes, sized: bool) -> None:
        if data == promised:
            data += b"!"
        expected = digest_of(promised)
        size = len(data) if sized else None
        error = err(self.store.put_stream([data[:5], data[5:]], size, expected))
        assert isinstance(error, DigestMismatch | SizeMismatch)
        assert str(expected) in error.message

    @rule(data=BLOB_BYTES, commit_wrong_size=st.booleans())
    def abort_ingest(self, data: bytes, commit_wrong_size: bool) -> None:
        writer = ok(self.store.ingest())
        ok(writer.write(data))
        if commit_wrong_size:
            assert isinstance(err(writer.commit(len(data) + 1)), SizeMismatch)
        else:
            ok(writer.abort())

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        digest = data.draw(st.sampled_from(sorted(self.model)))
        ok(self.store.delete(digest))
        del self.model[digest]

    @rule(data=BLOB_BYTES)
    def delete_missing(self, data: bytes) -> None:
        digest = digest_of(data + b"\x00never")
        if digest not in self.model:
            assert err(self.store.delete(digest)) == BlobNotFound(digest=digest)

    @rule(name=ROOT_NAMES, data=st.data())
    def set_root(self, name: str, data: st.DataObject) -> None:
        config_bytes = data.draw(BLOB_BYTES, label="config")
        self.put_valid(config_bytes)
        stored = sorted(self.model)
        picked = data.draw(st.lists(st.sampled_from(stored), max_size=3), label="layers")
        config = Descriptor(
            media_type=OCI_CONFIG, digest=digest_of(config_bytes), size=len(config_bytes)
        )
        layers = tuple(
            Descriptor(media_type=OCI_LAYER, digest=d, size=len(self.model[d])) for d in picked
        )
        raw = encode_manifest(config, layers, OCI_MANIFEST)
        self.put_valid(raw)
        manifest = Descriptor(media_type=OCI_MANIFEST, digest=digest_of(raw), size=len(raw))
        entry = ok(self.store.set_root(name, manifest))
        assert entry.digest == manifest.digest
        self.roots[name] = ModelRoot(
            manifest=manifest.digest, children=frozenset({config.digest, *picked})
        )

    @rule(name=ROOT_NAMES)
    def remove_root(self, name: str) -> None:
        if name in self.roots:
            assert ok(self.store.remove_root(name)).digest == self.roots.pop(name).manifest
        else:
            assert err(self.store.remove_root(name)) == RootNotFound(name=name)

    @rule()
    def gc(self) -> None:
        live: set[Digest] = set()
        for root in self.roots.values():
            live.add(root.manifest)
            if root.manifest in self.model:  # a deleted manifest reaches nothing
                live |= root.children
        garbage = {d for d in self.model if d not in live}
        report = ok(self.store.gc())
        assert set(report.deleted) == garbage
        assert set(report.missing) == live - self.model.keys()
        for digest in garbage:
            del self.model[digest]
        assert report.kept == len(self.model)

    # -- invariants -----------------------------------------------------------

    @invariant()
    def visible_blobs_are_the_model(self) -> None:
        assert ok(self.store.iter_blobs()) == tuple(sorted(self.model))

    @invariant()
    def every_visible_blob_hashes_to_its_name(self) -> None:
        for digest, data in self.model.items():
            stored = ok(self.store.read_bytes(digest))  # read_bytes re-hashes
            assert stored == data

    @invariant()
    def roots_are_the_model(self) -> None:
        entries = ok(self.store.roots())
        assert {ok(self.store.resolve(n)).digest for n in self.roots} == {
            r.manifest for r in self.roots.values()
        }
        assert len(entries) == len(self.roots)


class MemoryStoreMachine(StoreMachine):
    def make_store(self) -> BlobStore:
        return MemoryStore()


class LocalStoreMachine(StoreMachine):
    def make_store(self) -> BlobStore:
        self.directory = Path(tempfile.mkdtemp(prefix="store-machine-"))
        return ok(LocalStore.at(self.directory / "layout"))

    def teardown(self) -> None:
        assert ok(self.store.verify()).corrupt == ()
        assert list((self.directory / "layout" / "ingest").iterdir()) == []
        shutil.rmtree(self.directory)


MACHINE_SETTINGS = settings(
    max_examples=30,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

TestMemoryStoreMachine = MemoryStoreMachine.TestCase
TestMemoryStoreMachine.settings = MACHINE_SETTINGS
TestLocalStoreMachine = LocalStoreMachine.TestCase
TestLocalStoreMachine.settings = MACHINE_SETTINGS
