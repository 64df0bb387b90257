"""Streams that verify a blob's size and digest while it is read.

A :class:`VerifiedStream` wraps any iterator of byte chunks and a descriptor.
Iterating it yields the chunks unchanged while it counts and hashes them;
:meth:`VerifiedStream.verdict` then says whether the bytes were the
descriptor's bytes.  The rules, so that a caller streaming into a file or into
another registry can never mistake unverified bytes for verified ones:

* iteration never raises for bad content: it stops;
* a chunk that would take the stream past the expected size is **not**
  yielded; the verdict is ``SizeMismatch``;
* the chunk that completes the expected size is yielded only once the digest
  over all the bytes matches: a consumer streaming into another registry never
  hands it a whole body with the wrong digest (the upload stops short instead);
  the verdict is ``DigestMismatch``;
* a read error ends the iteration; the verdict is that error;
* the verdict is a success only when the stream was read to its end, had the
  expected size and hashed to the expected digest; before the end it is
  ``BlobStreamIncomplete``.

So: write the chunks somewhere provisional, then commit only on a successful
verdict (``imgpkg_pure.store.content.blobstore`` ingests do exactly that).

A stream may also carry a :class:`BlobSink` (:meth:`VerifiedStream.tee`): the
local mirror's write-through.  The sink sees exactly the chunks the consumer
sees, as they pass (no second read, nothing held), and is told to commit
only once the stream's verdict is a success, just before the consumer's
iteration ends; any other end (a bad verdict, a stream closed early) aborts it.

A large blob is hashed on a thread of its own
(:mod:`imgpkg_pure.store.registry.hashing`), beside the reading thread.  The rules
above hold unchanged: the hash is waited for before the chunk that completes the
size is handed on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from returns.io import IOFailure, IOResult, IOSuccess

from imgpkg_pure.digest import Digest
from imgpkg_pure.errors import DigestMismatch, SizeMismatch
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.store.registry._closing import Closing
from imgpkg_pure.store.registry.errors import BlobStreamIncomplete, RegistryError
from imgpkg_pure.store.registry.hashing import StreamingHash, streaming_hash

__all__ = ["BlobSink", "VerifiedStream"]

ReadErrorMapper = Callable[[Exception], RegistryError | None]
"""Turns an exception raised by the source into an error value (None: not ours, re-raise)."""


def _no_errors(_error: Exception) -> RegistryError | None:
    return None


class BlobSink(Protocol):
    """Where a teed stream's chunks also go (the local mirror's ingest); it never raises."""

    def write(self, chunk: bytes) -> None:
        """Take the next chunk (a sink that cannot keep it stops keeping, quietly)."""
        ...

    def commit(self) -> None:
        """The stream was read whole and verified: make the blob visible."""
        ...

    def abort(self) -> None:
        """The stream did not verify, or was not read to its end: discard (idempotent)."""
        ...


class VerifiedStream(Closing):
    """Chunks of one blob, checked against ``descriptor`` as they pass (see the module doc).

    ``what`` names the blob in errors (e.g. ``blob sha256:… in 127.0.0.1:5000/repo``).
    ``close`` releases the source (an HTTP response); it runs once, at the end
    of iteration or on :meth:`close`.  ``off_thread`` chooses where the hash runs
    (default: by the blob's size, see ``streaming_hash``).
    """

    def __init__(
        self,
        chunks: Iterator[bytes],
        descriptor: Descriptor,
        *,
        what: str,
        close: Callable[[], None] = lambda: None,
        map_error: ReadErrorMapper = _no_errors,
        off_thread: bool | None = None,
    ) -> None:
        self._chunks = chunks
        self._descriptor = descriptor
        self._what = what
        self._close = close
        self._map_error = map_error
        self._off_thread = off_thread
        #: Made when iteration starts (a stream never read starts no hash thread).
        self._hash: StreamingHash | None = None
        self._read = 0
        self._finished = False
        self._failure: RegistryError | None = None
        self._closed = False
        self._sink: BlobSink | None = None

    @property
    def descriptor(self) -> Descriptor:
        return self._descriptor

    @property
    def bytes_read(self) -> int:
        return self._read

    def tee(self, sink: BlobSink) -> None:
        """Hand every chunk to ``sink`` too, committing it on a successful verdict (see the
        module doc); call before iterating."""
        self._sink = sink

    def _end_sink(self) -> None:
        sink, self._sink = self._sink, None
        if sink is None:
            return
        if self._finished and isinstance(self.verdict(), IOSuccess):
            sink.commit()
        else:
            sink.abort()

    def __iter__(self) -> Iterator[bytes]:
        if self._finished or self._failure is not None:
            return
        self._hash = streaming_hash(
            self._descriptor.digest.algorithm, self._descriptor.size, off_thread=self._off_thread
        )
        try:
            for chunk in self._chunks:
                if not chunk:
                    continue
                if self._read + len(chunk) > self._descriptor.size:
                    self._failure = SizeMismatch(
                        what=self._what,
                        expected=self._descriptor.size,
                        actual=self._read + len(chunk),
                    )
                    return
                self._read += len(chunk)
                self._hash.update(chunk)
                if self._read == self._descriptor.size:
                    self._failure = self._digest_mismatch()
                    if self._failure is not None:
                        return
                if self._sink is not None:
                    self._sink.write(chunk)
                yield chunk
            self._finished = True
            self._end_sink()
        except Exception as error:
            mapped = self._map_error(error)
            if mapped is None:
                raise
            self._failure = mapped
        finally:
            self._hash.stop()
            self.close()

    def verdict(self) -> IOResult[Descriptor, RegistryError]:
        """The descriptor if the stream was read whole and matched it; else why not."""
        if self._failure is not None:
            return IOFailure(self._failure)
        if not self._finished:
            return IOFailure(
                BlobStreamIncomplete(
                    what=self._what, read=self._read, expected=self._descriptor.size
                )
            )
        if self._read != self._descriptor.size:
            return IOFailure(
                SizeMismatch(what=self._what, expected=self._descriptor.size, actual=self._read)
            )
        mismatch = self._digest_mismatch()
        if mismatch is not None:
            return IOFailure(mismatch)
        return IOSuccess(self._descriptor)

    def _digest_mismatch(self) -> DigestMismatch | None:
        """Why the bytes so far are not the descriptor's, if they hash to another digest."""
        # Asked only once every byte is in, so only after iteration started.
        assert self._hash is not None
        actual = Digest(self._descriptor.digest.algorithm, self._hash.hexdigest())
        if actual == self._descriptor.digest:
            return None
        return DigestMismatch(
            what=self._what, expected=str(self._descriptor.digest), actual=str(actual)
        )

    def close(self) -> None:
        self._end_sink()
        if not self._closed:
            self._closed = True
            self._close()
