"""Build a push layer: stream the canonical tar through sha256 and gzip into the store.

The tar bytes come from the pure recipe (``imgpkg_pure.layer``) and the files
on disk (``imgpkg_pure.store.files.tree``); nothing holds more than one block of a file at once.

Compression is python-isal's igzip at level 1 (``docs/formats/canonical-layer.md``).
igzip's output depends on how its input is split into calls, so the tar
stream is re-cut into fixed ``GZIP_BLOCK`` pieces before it reaches the
compressor: the layer bytes are then a function of the tar bytes alone.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from attrs import frozen
from isal import isal_zlib
from returns.io import IOFailure, IOResult, IOSuccess
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import Digest
from imgpkg_pure.errors import InputError
from imgpkg_pure.layer import InputTree, LayerRecipe
from imgpkg_pure.store.content.blobstore import BlobIngester, Ingest
from imgpkg_pure.store.content.errors import StoreError
from imgpkg_pure.store.files.tree import write_layer_tar

#: The compressor's input granularity.  Changing it changes layer digests.
GZIP_BLOCK: Final = 1 << 20
#: gzip level: igzip level 1, the fastest level that still compresses text well.
GZIP_LEVEL: Final = 1
#: Blocks queued between the tar reader and the compressor (bounds memory).
QUEUE_BLOCKS: Final = 4
#: Layers built at once by ``build_layers`` (memory: each has its own queues of at most
#: ``QUEUE_BLOCKS`` blocks).
BUILD_WORKERS: Final = 2

LayerBuildError = InputError | StoreError


@frozen(kw_only=True)
class LayerBlob:
    """A gzip layer now in the store: its digest and size, and the diffID of its tar."""

    digest: Digest
    size: int
    diff_id: Digest
    tar_size: int


class _SinkFailed(Exception):
    """Internal: the store refused a write; stops the tar writer early."""

    def __init__(self, error: StoreError) -> None:
        super().__init__(error)
        self.error = error


class GzipStream:
    """Hash the tar (diffID) and gzip it in fixed blocks into an ingest.

    A pipeline of four threads joined by queues of at most ``QUEUE_BLOCKS`` blocks:
    the caller's reads files and cuts the tar into blocks; then one thread hashes
    them (the diffID), one compresses, one hashes the gzip bytes and writes them to
    the store.  Hashing, deflate and disk writes release the GIL, so the stages run
    on both cores at once (``docs/benchmarks.md``: with the diffID hashed on the
    reading thread, that thread was the longest stage).  The compressor still sees
    the same blocks in the same order, so the bytes do not change.
    """

    def __init__(self, ingest: Ingest) -> None:
        self._ingest = ingest
        self._diff = hashlib.sha256()
        self._gzip = isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, 31)
        self._parts: list[bytes | memoryview] = []
        self._count = 0
        self._blocks: queue.Queue[memoryview | None] = queue.Queue(maxsize=QUEUE_BLOCKS)
        self._hashed: queue.Queue[memoryview | None] = queue.Queue(maxsize=QUEUE_BLOCKS)
        self._compressed: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUE_BLOCKS)
        self._failure: StoreError | None = None
        self._threads = [
            threading.Thread(target=self._hash, name="diffid-layer", daemon=True),
            threading.Thread(target=self._compress, name="gzip-layer", daemon=True),
            threading.Thread(target=self._write, name="ingest-layer", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self._open = True
        self.tar_size = 0

    def _hash(self) -> None:
        try:
            while (block := self._blocks.get()) is not None:
                self._diff.update(block)
                self._hashed.put(block)
        finally:
            self._hashed.put(None)

    def _compress(self) -> None:
        try:
            while (block := self._hashed.get()) is not None:
                if self._failure is None:
                    self._compressed.put(self._gzip.compress(block))
            if self._failure is None:
                self._compressed.put(self._gzip.flush())
        finally:
            self._compressed.put(None)

    def _write(self) -> None:
        while (data := self._compressed.get()) is not None:
            if self._failure is None:
                self._emit(data)

    def _emit(self, data: bytes) -> None:
        if data:
            result = self._ingest.write(data)
            if isinstance(result, IOFailure):
                self._failure = unsafe_perform_io(result.failure())

    def _check(self) -> None:
        if self._failure is not None:
            raise _SinkFailed(self._failure)

    def write(self, chunk: bytes) -> None:
        """Take the next tar bytes (kept, not copied: ``chunk`` must not change after)."""
        self._check()
        self.tar_size += len(chunk)
        self._parts.append(chunk)
        self._count += len(chunk)
        if self._count < GZIP_BLOCK:
            return
        joined = memoryview(b"".join(self._parts))  # the one copy of each byte
        start = 0
        while len(joined) - start >= GZIP_BLOCK:
            self._blocks.put(joined[start : start + GZIP_BLOCK])
            start += GZIP_BLOCK
        rest = joined[start:]
        self._parts = [rest] if rest else []
        self._count = len(rest)

    def finish(self) -> Digest:
        if self._parts:
            self._blocks.put(memoryview(b"".join(self._parts)))
            self._parts = []
        self.close()
        self._check()
        return Digest("sha256", self._diff.hexdigest())

    def close(self) -> None:
        """Stop the threads (idempotent); called on success and on failure."""
        if self._open:
            self._open = False
            self._blocks.put(None)
        for thread in self._threads:
            thread.join()


def build_layer(
    recipe: LayerRecipe, inputs: tuple[InputTree, ...], store: BlobIngester
) -> IOResult[LayerBlob, LayerBuildError]:
    """Write the layer described by ``recipe`` into ``store``; the ingest is aborted on failure."""
    opened = store.ingest("sha256")
    if isinstance(opened, IOFailure):
        return IOFailure(unsafe_perform_io(opened.failure()))
    ingest = unsafe_perform_io(opened.unwrap())
    with ingest:
        stream = GzipStream(ingest)
        try:
            written = write_layer_tar(recipe, inputs, stream.write)
            if isinstance(written, IOFailure):
                return IOFailure(unsafe_perform_io(written.failure()))
            diff_id = stream.finish()
        except _SinkFailed as failed:
            return IOFailure(failed.error)
        finally:
            stream.close()
        committed = ingest.commit()
        if isinstance(committed, IOFailure):
            return IOFailure(unsafe_perform_io(committed.failure()))
        blob = unsafe_perform_io(committed.unwrap())
    return IOSuccess(
        LayerBlob(digest=blob.digest, size=blob.size, diff_id=diff_id, tar_size=stream.tar_size)
    )


def build_layers(
    recipes: tuple[LayerRecipe, ...], inputs: tuple[InputTree, ...], store: BlobIngester
) -> IOResult[tuple[LayerBlob, ...], LayerBuildError]:
    """Write each layer (``push --layering``) into ``store``; the blobs in recipe order.

    Each layer reads only its own files, so the tree is read once whatever the number
    of layers.  Several layers are built ``BUILD_WORKERS`` at a time: while one drains
    its compressor and commits (fsync), the next is already reading, so many small
    layers cost about the time of one large one.  The first failure (in recipe order)
    is returned; layers not yet started are not built, and those already committed stay
    in the store as blobs nothing refers to.
    """
    if len(recipes) == 1:
        return build_layer(recipes[0], inputs, store).map(lambda blob: (blob,))
    built: list[LayerBlob] = []
    with ThreadPoolExecutor(max_workers=BUILD_WORKERS, thread_name_prefix="layer") as pool:
        futures = [pool.submit(build_layer, recipe, inputs, store) for recipe in recipes]
        for future in futures:
            layer = future.result()
            if isinstance(layer, IOFailure):
                for pending in futures:
                    pending.cancel()
                return IOFailure(unsafe_perform_io(layer.failure()))
            built.append(unsafe_perform_io(layer.unwrap()))
    return IOSuccess(tuple(built))
