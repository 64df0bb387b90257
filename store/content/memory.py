"""``MemoryStore``: the blob store held in memory (oras ``content/memory``).

A real implementation, not a mock: commits are checked (size, then digest)
exactly as on disk, roots follow the same ``ref.name`` rules, gc walks the
same graph.  It is thread-safe: one lock guards the blobs and the roots; each
writer buffers its own chunks until commit (so, unlike ``LocalStore``, its
memory grows with the blob: it is meant for tests and small content).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import threading
import time
from collections.abc import Callable
from typing import BinaryIO, Literal

from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure

from imgpkg_pure.digest import Algorithm, Digest, digest_of
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.store.content.blobstore import (
    BlobStore,
    Committed,
    GcReport,
    Ingest,
    VerifyReport,
    check_commit,
    reachable,
    root_entry,
    with_root,
    without_root,
)
from imgpkg_pure.store.content.errors import (
    BlobCorrupt,
    BlobNotFound,
    IngestClosed,
    RootNotFound,
    StoreError,
)

_State = Literal["open", "committed", "aborted"]


class MemoryIngest(Ingest):
    """A writer into a ``MemoryStore``: chunks are buffered and hashed as they arrive."""

    def __init__(self, store: MemoryStore, ref: str, algorithm: Algorithm) -> None:
        self._store = store
        self._ref = ref
        self._algorithm: Algorithm = algorithm
        self._hash = hashlib.new(algorithm)
        self._chunks: list[bytes] = []
        self._offset = 0
        self._state: _State = "open"

    @property
    def ref(self) -> str:
        return self._ref

    @property
    def offset(self) -> int:
        return self._offset

    def write(self, chunk: bytes) -> IOResult[int, StoreError]:
        if self._state != "open":
            return IOFailure(IngestClosed(ref=self._ref, state=self._state))
        data = bytes(chunk)
        self._chunks.append(data)
        self._hash.update(data)
        self._offset += len(data)
        return IOSuccess(self._offset)

    def commit(
        self, expected_size: int | None = None, expected_digest: Digest | None = None
    ) -> IOResult[Committed, StoreError]:
        if self._state != "open":
            return IOFailure(IngestClosed(ref=self._ref, state=self._state))
        data = b"".join(self._chunks)
        self._chunks = []
        self._state = "aborted"  # until proven otherwise: a failed commit discards
        checked = check_commit(
            self._ref,
            len(data),
            Digest(self._algorithm, self._hash.hexdigest()),
            expected_size=expected_size,
            expected_digest=expected_digest,
            rehash=lambda algorithm: digest_of(data, algorithm),
        )
        if isinstance(checked, Failure):
            return IOFailure(checked.failure())
        actual = checked.unwrap()
        existed = self._store._publish(actual, data)
        self._state = "committed"
        return IOSuccess(Committed(digest=actual, size=len(data), already_existed=existed))

    def abort(self) -> IOResult[None, StoreError]:
        if self._state == "open":
            self._chunks = []
            self._state = "aborted"
        return IOSuccess(None)


class MemoryStore(BlobStore):
    """A ``BlobStore`` in memory.

    ``clock`` (seconds, monotonic) stamps each commit; ``gc(grace_seconds=…)``
    compares against it.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._blobs: dict[Digest, bytes] = {}
        self._stamps: dict[Digest, float] = {}
        self._roots: tuple[Descriptor, ...] = ()
        self._refs = itertools.count(1)

    # --- internal ---------------------------------------------------------

    def _publish(self, digest: Digest, data: bytes) -> bool:
        """Make ``data`` visible under ``digest``; whether it already was."""
        with self._lock:
            existed = digest in self._blobs
            if not existed:
                self._blobs[digest] = data
            self._stamps[digest] = self._clock()
            return existed

    def _get(self, digest: Digest) -> bytes | None:
        with self._lock:
            return self._blobs.get(digest)

    # --- BlobReader -------------------------------------------------------

    def exists(self, digest: Digest) -> IOResult[bool, StoreError]:
        return IOSuccess(self._get(digest) is not None)

    def stat(self, digest: Digest) -> IOResult[int, StoreError]:
        data = self._get(digest)
        if data is None:
            return IOFailure(BlobNotFound(digest=digest))
        return IOSuccess(len(data))

    def open(self, digest: Digest) -> IOResult[BinaryIO, StoreError]:
        data = self._get(digest)
        if data is None:
            return IOFailure(BlobNotFound(digest=digest))
        return IOSuccess(io.BytesIO(data))

    def read_bytes(self, digest: Digest) -> IOResult[bytes, StoreError]:
        data = self._get(digest)
        if data is None:
            return IOFailure(BlobNotFound(digest=digest))
        actual = digest_of(data, digest.algorithm)
        if actual != digest:
            return IOFailure(BlobCorrupt(digest=digest, actual=actual))
        return IOSuccess(data)

    def iter_blobs(self) -> IOResult[tuple[Digest, ...], StoreError]:
        with self._lock:
            return IOSuccess(tuple(sorted(self._blobs)))

    # --- BlobIngester -----------------------------------------------------

    def ingest(self, algorithm: Algorithm = "sha256") -> IOResult[Ingest, StoreError]:
        return IOSuccess(MemoryIngest(self, f"memory-{next(self._refs)}", algorithm))

    # --- BlobDeleter ------------------------------------------------------

    def delete(self, digest: Digest) -> IOResult[None, StoreError]:
        with self._lock:
            if self._blobs.pop(digest, None) is None:
                return IOFailure(BlobNotFound(digest=digest))
            self._stamps.pop(digest, None)
        return IOSuccess(None)

    # --- RootStore --------------------------------------------------------

    def roots(self) -> IOResult[tuple[Descriptor, ...], StoreError]:
        with self._lock:
            return IOSuccess(self._roots)

    def set_root(self, name: str, descriptor: Descriptor) -> IOResult[Descriptor, StoreError]:
        checked = root_entry(name, descriptor)
        if isinstance(checked, Failure):
            return IOFailure(checked.failure())
        entry = checked.unwrap()
        with self._lock:
            if descriptor.digest not in self._blobs:
                return IOFailure(BlobNotFound(digest=descriptor.digest))
            self._roots = with_root(self._roots, entry)
        return IOSuccess(entry)

    def remove_root(self, name: str) -> IOResult[Descriptor, StoreError]:
        with self._lock:
            kept, removed = without_root(self._roots, name)
            if removed is None:
                return IOFailure(RootNotFound(name=name))
            self._roots = kept
        return IOSuccess(removed)

    # --- maintenance ------------------------------------------------------

    def gc(self, *, grace_seconds: float = 0.0) -> IOResult[GcReport, StoreError]:
        with self._lock:
            walk = reachable(self._roots, self._blobs.get)
            if walk.malformed:
                return IOFailure(walk.malformed[0])
            now = self._clock()
            deleted: list[Digest] = []
            freed = 0
            spared = 0
            for digest in sorted(self._blobs):
                if digest in walk.digests:
                    continue
                if now - self._stamps.get(digest, now) < grace_seconds:
                    spared += 1
                    continue
                freed += len(self._blobs.pop(digest))
                self._stamps.pop(digest, None)
                deleted.append(digest)
            return IOSuccess(
                GcReport(
                    kept=len(walk.digests & self._blobs.keys()),
                    deleted=tuple(deleted),
                    bytes_freed=freed,
                    spared=spared,
                    missing=tuple(sorted(walk.digests - self._blobs.keys())),
                    stale_ingests=0,
                )
            )

    def verify(self) -> IOResult[VerifyReport, StoreError]:
        with self._lock:
            blobs = dict(self._blobs)
            roots = self._roots
        corrupt: list[BlobCorrupt] = []
        for digest, data in sorted(blobs.items()):
            actual = digest_of(data, digest.algorithm)
            if actual != digest:
                corrupt.append(BlobCorrupt(digest=digest, actual=actual))
        walk = reachable(roots, blobs.get)
        return IOSuccess(
            VerifyReport(
                checked=len(blobs),
                corrupt=tuple(corrupt),
                strays=(),
                missing=tuple(sorted(walk.digests - blobs.keys())),
                malformed=walk.malformed,
            )
        )


__all__ = ["MemoryIngest", "MemoryStore"]
