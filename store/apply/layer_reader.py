"""Reading one layer blob as a stream of tar entries, hashing every byte on the way.

It owns how a layer is decoded: its compression is decided by the blob's first
bytes, as go-containerregistry decides it (the pure rule is
``imgpkg_pure.media_types.layer_compression``; the media type only adds to error
messages): gzip through python-isal, zstd through ``backports.zstd`` (Python
3.14's ``compression.zstd``), anything else read as a plain tar.  Also here:
the ``HashingReader`` that counts and hashes the blob as the decompressor
pulls it, so the blob is checked against its descriptor once read to the
end; tarfile's forward-only stream reader; ``reading``, which turns
decompression and tar errors into ``CorruptLayer``; and ``open_layer_archive``,
the same decoding for a command that only looks for one file in a layer.
Memory does not grow with layer size: everything is read in chunks of at most
``CHUNK_SIZE`` (a zstd frame's window is at most ``ZSTD_MAX_WINDOW``).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import queue
import sys
import tarfile
import threading
import zlib
from collections.abc import Iterator
from typing import IO, Final, Protocol, assert_never, cast

from isal import igzip, isal_zlib

from imgpkg_pure.digest import Digest
from imgpkg_pure.media_types import (
    DOCKER_LAYER_TAR,
    GZIP_LAYER_TYPES,
    MAGIC_LENGTH,
    TAR_LAYER_TYPES,
    Compression,
    LayerCompression,
    declared_compression,
    layer_compression,
)
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.store.apply.extract_errors import (
    CorruptLayer,
    ExtractAbort,
    ExtractIOFailure,
    reason,
)
from imgpkg_pure.store.content.blobstore import CHUNK_SIZE

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

#: The largest zstd window accepted: klauspost/compress's default
#: ``MaxWindowSize`` (1 << 29), which imgpkg's zstd reader uses.
ZSTD_MAX_WINDOW_LOG: Final = 29
ZSTD_MAX_WINDOW: Final = 1 << ZSTD_MAX_WINDOW_LOG

#: What decoding a layer may raise for bad bytes (``OSError`` aside: a failing read).
DECODE_ERRORS: Final[tuple[type[BaseException], ...]] = (
    tarfile.TarError,
    EOFError,
    gzip.BadGzipFile,
    zlib.error,
    cast("type[BaseException]", isal_zlib.error),  # its stub declares an instance
    zstd.ZstdError,
)
#: ``DECODE_ERRORS`` and a failing read.
READ_ERRORS: Final[tuple[type[BaseException], ...]] = (*DECODE_ERRORS, OSError)


class Readable(Protocol):
    """A source of bytes: a file object, a raw stream."""

    def read(self, size: int = ..., /) -> bytes | None: ...


def _describe(error: BaseException, how: LayerCompression | None) -> str:
    """The reason: a decompressor's error names the compression, and a surprise is noted."""
    text = reason(error)
    if how is None:
        return text
    if how.detected is not Compression.NONE and not isinstance(error, tarfile.TarError):
        text = f"{how.detected}: {text}"
    return f"{text} ({how.note})" if how.note else text


@contextlib.contextmanager
def reading(
    layer: Digest, entry: str | None, how: LayerCompression | None = None
) -> Iterator[None]:
    """Turn decompression and tar errors raised inside into ``CorruptLayer``.

    ``how`` (the layer's compression, once known) is named in the reason when
    the bytes and the media type disagree.
    """
    try:
        yield
    except DECODE_ERRORS as exc:
        corrupt = CorruptLayer(layer=layer, entry=entry, reason=_describe(exc, how))
        raise ExtractAbort(corrupt) from exc
    except OSError as exc:
        failure = ExtractIOFailure(
            operation="read layer", path=str(layer), reason=reason(exc), layer=layer, entry=entry
        )
        raise ExtractAbort(failure) from exc


class FillingReader(io.RawIOBase):
    """A raw stream over a file object that fills every read unless the end is reached.

    So a ``BufferedReader`` over it peeks at least ``MAGIC_LENGTH`` bytes of
    any blob that long, even over a source that returns short reads (ggcr's
    ``bufio.Reader.Peek`` reads until it has them too).
    """

    def __init__(self, source: Readable) -> None:
        super().__init__()
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            data = self._source.read(len(view) - filled)
            if not data:
                break
            view[filled : filled + len(data)] = data
            self._consumed(data)
            filled += len(data)
        return filled

    def _consumed(self, data: bytes) -> None:
        """Called with every piece of the source read through this stream."""


class HashingReader(FillingReader):
    """A raw stream over a blob that hashes and counts every byte read through it."""

    def __init__(self, source: Readable, digest: Digest, *, hashing: bool = True) -> None:
        super().__init__(source)
        self._hash = hashlib.new(digest.algorithm)
        self._algorithm = digest.algorithm
        self._hashing = hashing
        self.count = 0

    def _consumed(self, data: bytes) -> None:
        if self._hashing:
            self._hash.update(data)
        self.count += len(data)

    @property
    def digest(self) -> str:
        return f"{self._algorithm}:{self._hash.hexdigest()}"


def buffered(raw: FillingReader) -> io.BufferedReader:
    """``raw`` buffered in ``CHUNK_SIZE`` pieces, ready for ``decompressed``."""
    return io.BufferedReader(raw, CHUNK_SIZE)


#: A layer's decompressed stream: all three read in pieces and peek.
LayerStream = io.BufferedReader | gzip.GzipFile | zstd.ZstdFile


def decompressed(
    reader: io.BufferedReader, media_type: str
) -> tuple[LayerCompression, LayerStream]:
    """The layer's compression and its decompressed stream, by its first bytes (bytes win).

    ``reader`` must not have been read yet.  A zstd stream is read across
    frames and must end at the end of one (a truncated stream raises
    ``EOFError``); a gzip stream may have several members (as Go reads them).
    Raises ``DECODE_ERRORS`` and ``OSError``.
    """
    how = layer_compression(media_type, reader.peek(MAGIC_LENGTH)[:MAGIC_LENGTH])
    match how.detected:
        case Compression.GZIP:
            return how, igzip.IGzipFile(fileobj=reader, mode="rb")  # type: ignore[no-untyped-call]
        case Compression.ZSTD:
            options: dict[int, int] = {
                zstd.DecompressionParameter.window_log_max: ZSTD_MAX_WINDOW_LOG
            }
            return how, zstd.ZstdFile(reader, mode="rb", options=options)
        case Compression.NONE:
            return how, reader
        case _:
            assert_never(how.detected)


def open_layer_tar(
    descriptor: Descriptor, reader: io.BufferedReader
) -> tuple[LayerCompression, LayerStream | None]:
    """The layer's compression and decompressed stream (``None``: no content at all)."""
    with reading(descriptor.digest, None):
        how, stream = decompressed(reader, descriptor.media_type)
    with reading(descriptor.digest, None, how):
        return how, (stream if stream.peek(1) else None)


_READ_AHEAD_BUFFER: Final = 64 << 10
#: What the reading thread hands over at a time (a few are in flight at once).
_READ_AHEAD_PIECE: Final = 256 << 10


class ChunksReader(io.RawIOBase):
    """A readable file over an iterator of chunks (a verified blob stream, a queue).

    A read copies from the chunk at hand and keeps the rest of it for the next read, so a
    chunk is copied once, whatever the sizes the reader asks for.
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        view = memoryview(buffer).cast("B")
        count = min(len(view), len(self._pending))
        view[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def drain(self) -> None:
        """Pull the chunks left, unread (a stream's verdict is on the whole blob)."""
        self._pending = memoryview(b"")
        for _ in self._chunks:
            pass


class ReadAhead(ChunksReader):
    """A layer's decompressed stream, read ``CHUNK_SIZE`` at a time by a second thread.

    The reading thread pulls the blob, hashes it and decompresses it (hashlib and
    isal release the GIL) while the caller parses the tar and writes files: two
    cores at work, as ``curl | gunzip | tar -x`` would use.  At most ``depth``
    pieces of ``_READ_AHEAD_PIECE`` bytes wait in between, so memory stays flat.
    An error raised by the reading thread is raised again by the read that meets
    it, in the caller's thread.
    :meth:`close` stops the thread and waits for it: the source is the caller's
    again after that.
    """

    def __init__(self, source: LayerStream, depth: int = 1) -> None:
        super().__init__(self._received())
        self._source = source
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="layer-read-ahead", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            while not self._stop.is_set():
                chunk = self._source.read(_READ_AHEAD_PIECE)
                self._put(chunk)
                if not chunk:
                    return
        except BaseException as error:  # handed to the reader's thread
            self._put(error)

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(queue.Full):
                self._queue.put(item, timeout=0.1)
                return

    def _received(self) -> Iterator[bytes]:
        """The pieces the reading thread hands over, up to the empty one that ends them;
        its error is raised here (and the pieces end with it)."""
        while item := self._queue.get():
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        if not self.closed:
            self._stop.set()
            while self._thread.is_alive():
                with contextlib.suppress(queue.Empty):
                    self._queue.get(timeout=0.1)
            self._thread.join()
        super().close()


def read_ahead(stream: LayerStream) -> io.BufferedReader:
    """``stream`` read by a second thread (:class:`ReadAhead`), buffered for tarfile's
    small reads (the chunks are in memory already: a small buffer is enough)."""
    return io.BufferedReader(ReadAhead(stream), _READ_AHEAD_BUFFER)


class _Forward:
    """A forward-only file over a buffered stream, as tarfile's own ``_Stream`` is,
    without its cost: ``_Stream`` reads 10 KiB at a time in Python and re-slices its
    buffer on every read (a larger buffer would copy it per 512-byte header), which
    made it the main cost of extracting large files.  Reads go straight to the
    buffered stream; ``seek`` only skips ahead (backwards is tarfile's
    ``StreamError``, as in ``r|`` mode).
    """

    def __init__(self, stream: io.BufferedIOBase) -> None:
        self._stream = stream
        self._position = 0

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._position += len(data)
        return data

    def seek(self, position: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            position += self._position
        elif whence != io.SEEK_SET:
            raise tarfile.StreamError("seeking from the end is not allowed")
        if position < self._position:
            raise tarfile.StreamError("seeking backwards is not allowed")
        while self._position < position:
            if not self.read(min(CHUNK_SIZE, position - self._position)):
                break
        return self._position


def open_archive(stream: io.BufferedIOBase) -> tarfile.TarFile:
    """A streaming (forward-only) tar reader over ``stream`` (see :class:`_Forward`)."""
    return tarfile.TarFile(fileobj=cast(IO[bytes], _Forward(stream)), mode="r")


def open_layer_archive(source: Readable, media_type: str) -> tarfile.TarFile | None:
    """A streaming tar reader over a layer blob of any compression (``None``: no content).

    For commands that look for one file in a layer (a bundle's
    ``.imgpkg/images.yml``); nothing is hashed.  Raises ``READ_ERRORS``.
    """
    _, stream = decompressed(buffered(FillingReader(source)), media_type)
    return open_archive(stream) if stream.peek(1) else None


def entry_mtime(member: tarfile.TarInfo) -> int:
    """The entry's modification time in whole seconds (0 for a PAX value like ``nan``)."""
    try:
        return int(member.mtime)
    except (ValueError, OverflowError):
        return 0


__all__ = [
    "DECODE_ERRORS",
    "DOCKER_LAYER_TAR",
    "GZIP_LAYER_TYPES",
    "READ_ERRORS",
    "TAR_LAYER_TYPES",
    "ZSTD_MAX_WINDOW",
    "ChunksReader",
    "Compression",
    "FillingReader",
    "HashingReader",
    "LayerCompression",
    "LayerStream",
    "ReadAhead",
    "Readable",
    "buffered",
    "declared_compression",
    "decompressed",
    "entry_mtime",
    "layer_compression",
    "open_archive",
    "open_layer_archive",
    "open_layer_tar",
    "read_ahead",
    "reading",
]
