"""Hashing a blob as it streams: on the reading thread, or beside it on a thread of its own.

Every byte the store moves is verified against its digest, and for a large blob
the hash is a good part of the work (sha256 runs at ~1.3 to 1.7 GB/s a core here,
about the speed of a loopback registry).  ``hashlib`` releases the GIL for a
large update, so a blob of :data:`OFF_THREAD_HASH` bytes or more is hashed on a
thread of its own (:class:`HashThread`): the reading thread goes on receiving
and writing while earlier chunks are hashed, and the blob moves at the pace of
the slower of the two, not of their sum.  A smaller blob is hashed where it is
read (:class:`InlineHash`): a thread's start and hand-offs would cost more than
the overlap saves.  Both answer the same three calls; :func:`streaming_hash`
picks one by size.

The chunks handed over are ``bytes`` (immutable: they cannot change under the
hash), in batches of at least ~1 MiB, and at most :data:`_QUEUED` batches wait,
so memory stays flat whatever the blob's size.
"""

from __future__ import annotations

import threading
from queue import Queue
from typing import Final, Protocol

from imgpkg_pure.digest import Algorithm, hasher

__all__ = ["OFF_THREAD_HASH", "HashThread", "InlineHash", "StreamingHash", "streaming_hash"]

#: A blob this large or larger is hashed on a thread of its own (see the module doc).
OFF_THREAD_HASH: Final = 8 << 20
#: Chunks go to the hash thread in batches of at least this many bytes...
_BATCH: Final = 1 << 20
#: ...and at most this many batches wait for it (~4 MiB in flight).
_QUEUED: Final = 4


class StreamingHash(Protocol):
    """An incremental hash that may run elsewhere."""

    def update(self, chunk: bytes) -> None:
        """Add the next chunk."""
        ...

    def hexdigest(self) -> str:
        """The digest of every chunk added so far (waits for them to be hashed)."""
        ...

    def stop(self) -> None:
        """Release what it holds (idempotent); no digest is asked for after it."""
        ...


class HashThread:
    """A hash fed by one thread and computed on another (see the module doc)."""

    def __init__(self, algorithm: Algorithm) -> None:
        self._hash = hasher(algorithm)
        self._queue: Queue[list[bytes] | None] = Queue(_QUEUED)
        self._batch: list[bytes] = []
        self._batched = 0
        self._thread: threading.Thread | None = threading.Thread(
            target=self._run, name="blob-hash", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            for chunk in batch:
                self._hash.update(chunk)

    def update(self, chunk: bytes) -> None:
        self._batch.append(chunk)
        self._batched += len(chunk)
        if self._batched >= _BATCH:
            self._queue.put(self._batch)
            self._batch, self._batched = [], 0

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if self._batch:
            self._queue.put(self._batch)
            self._batch, self._batched = [], 0
        self._queue.put(None)
        thread.join()

    def hexdigest(self) -> str:
        self.stop()
        return self._hash.hexdigest()


class InlineHash:
    """The same calls, hashing on the caller's thread."""

    def __init__(self, algorithm: Algorithm) -> None:
        self._hash = hasher(algorithm)

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    def stop(self) -> None:
        pass


def streaming_hash(
    algorithm: Algorithm, size: int, *, off_thread: bool | None = None
) -> StreamingHash:
    """A hash for a blob of ``size`` bytes: on a thread of its own from
    :data:`OFF_THREAD_HASH` bytes, unless ``off_thread`` says where."""
    if size >= OFF_THREAD_HASH if off_thread is None else off_thread:
        return HashThread(algorithm)
    return InlineHash(algorithm)
