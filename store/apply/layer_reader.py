"""Reading one layer blob as a stream of tar entries, hashing every byte on the way.

It owns how a layer is decoded: its compression, from the media type or,
for types that do not say, from the first bytes (gzip through python-isal;
zstd is refused as ``UnsupportedLayer``); the ``HashingReader`` that counts and
hashes the blob as the decompressor pulls it, so the blob is checked against
its descriptor once read to the end; tarfile's forward-only stream reader;
and ``reading``, which turns decompression and tar errors into
``CorruptLayer``.  Memory does not grow with layer size: everything is read in
chunks of at most ``CHUNK_SIZE``.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import tarfile
import zlib
from collections.abc import Iterator
from typing import BinaryIO, Final, Literal, assert_never, cast

from isal import igzip, isal_zlib

from imgpkg_pure.digest import Digest
from imgpkg_pure.media_types import (
    DOCKER_LAYER_FOREIGN,
    DOCKER_LAYER_GZIP,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_NONDIST,
    OCI_LAYER_NONDIST_GZIP,
)
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.store.apply.extract_errors import (
    CorruptLayer,
    ExtractAbort,
    ExtractIOFailure,
    UnsupportedLayer,
    reason,
)

#: Docker's (rare) uncompressed layer type.
DOCKER_LAYER_TAR: Final = "application/vnd.docker.image.rootfs.diff.tar"

GZIP_LAYER_TYPES: Final = frozenset(
    {OCI_LAYER_GZIP, OCI_LAYER_NONDIST_GZIP, DOCKER_LAYER_GZIP, DOCKER_LAYER_FOREIGN}
)
TAR_LAYER_TYPES: Final = frozenset({OCI_LAYER, OCI_LAYER_NONDIST, DOCKER_LAYER_TAR})

_GZIP_MAGIC: Final = b"\x1f\x8b"
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"

Compression = Literal["gzip", "tar", "zstd", "sniff"]
_DECODE_ERRORS: Final[tuple[type[BaseException], ...]] = (
    tarfile.TarError,
    EOFError,
    gzip.BadGzipFile,
    zlib.error,
    cast("type[BaseException]", isal_zlib.error),  # its stub declares an instance
)


@contextlib.contextmanager
def reading(layer: Digest, entry: str | None) -> Iterator[None]:
    """Turn decompression and tar errors raised inside into ``CorruptLayer``."""
    try:
        yield
    except _DECODE_ERRORS as exc:
        raise ExtractAbort(CorruptLayer(layer=layer, entry=entry, reason=reason(exc))) from exc
    except OSError as exc:
        failure = ExtractIOFailure(
            operation="read layer", path=str(layer), reason=reason(exc), layer=layer, entry=entry
        )
        raise ExtractAbort(failure) from exc


class HashingReader(io.RawIOBase):
    """A raw stream over a blob that hashes and counts every byte read through it."""

    def __init__(self, source: BinaryIO, digest: Digest) -> None:
        super().__init__()
        self._source = source
        self._hash = hashlib.new(digest.algorithm)
        self._algorithm = digest.algorithm
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self._source.read(len(buffer))
        size = len(data)
        memoryview(buffer).cast("B")[:size] = data
        self._hash.update(data)
        self.count += size
        return size

    @property
    def digest(self) -> str:
        return f"{self._algorithm}:{self._hash.hexdigest()}"


def layer_compression(media_type: str) -> Compression:
    """How a layer of this media type is compressed (``sniff``: look at its first bytes)."""
    if media_type in GZIP_LAYER_TYPES:
        return "gzip"
    if media_type in TAR_LAYER_TYPES:
        return "tar"
    if media_type.endswith(("+zstd", ".zstd")):
        return "zstd"
    return "sniff"


def _sniffed(head: bytes) -> Compression:
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    return "tar"


def open_layer_tar(
    descriptor: Descriptor, reader: io.BufferedReader[HashingReader]
) -> io.BufferedIOBase | None:
    """The layer's decompressed stream, or ``None`` for a layer with no bytes at all."""
    layer = descriptor.digest
    compression = layer_compression(descriptor.media_type)
    with reading(layer, None):
        if compression == "sniff":
            compression = _sniffed(reader.peek(len(_ZSTD_MAGIC))[: len(_ZSTD_MAGIC)])
        match compression:
            case "zstd":
                raise ExtractAbort(
                    UnsupportedLayer(
                        layer=layer,
                        media_type=descriptor.media_type,
                        reason="zstd-compressed layers are not supported",
                    )
                )
            case "gzip":
                unzipped = igzip.IGzipFile(fileobj=reader, mode="rb")  # type: ignore[no-untyped-call]
                return unzipped if unzipped.peek(1) else None
            case "tar" | "sniff":
                return reader if reader.peek(1) else None
            case _:
                assert_never(compression)


def open_archive(stream: io.BufferedIOBase) -> tarfile.TarFile:
    """A streaming (forward-only) tar reader over ``stream``.

    tarfile's default 10 KiB read size is kept on purpose: its stream re-slices
    the whole buffer on every read, so a 1 MiB buffer would copy up to 1 MiB
    per 512-byte header.
    """
    return tarfile.open(fileobj=stream, mode="r|")


def entry_mtime(member: tarfile.TarInfo) -> int:
    """The entry's modification time in whole seconds (0 for a PAX value like ``nan``)."""
    try:
        return int(member.mtime)
    except (ValueError, OverflowError):
        return 0


__all__ = [
    "DOCKER_LAYER_TAR",
    "GZIP_LAYER_TYPES",
    "TAR_LAYER_TYPES",
    "Compression",
    "HashingReader",
    "entry_mtime",
    "layer_compression",
    "open_archive",
    "open_layer_tar",
    "reading",
]
