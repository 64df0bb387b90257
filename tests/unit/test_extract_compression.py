"""Layer compression: gzip, zstd and plain tar, decided by the first bytes as ggcr decides.

The pure rule (``imgpkg_pure.media_types``: ``sniff_compression``,
``declared_compression``, ``layer_compression``) and the shell that reads the
layers (``imgpkg_pure.store.apply.layer_reader`` through ``extract_image``, and
``open_layer_archive`` for commands): every media type with every compression
(the bytes win), several frames and members, empty layers, truncated and
corrupt streams (one error naming the layer), a zstd window beyond the limit,
sources that return short reads, and memory that does not grow with the layer.
"""

from __future__ import annotations

import gzip
import io
import sys
import tarfile
import tracemalloc
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

import pytest
from returns.io import IOFailure, IOResult
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.media_types import (
    DOCKER_LAYER_FOREIGN,
    DOCKER_LAYER_GZIP,
    DOCKER_LAYER_TAR,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_NONDIST,
    OCI_LAYER_NONDIST_GZIP,
    OCI_LAYER_NONDIST_ZSTD,
    OCI_LAYER_ZSTD,
    Compression,
    LayerCompression,
    declared_compression,
    layer_compression,
    sniff_compression,
)
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.store.apply.extract import (
    CorruptLayer,
    ExtractError,
    ExtractReport,
    extract_image,
)
from imgpkg_pure.store.apply.layer_reader import ZSTD_MAX_WINDOW, open_layer_archive
from imgpkg_pure.store.content.blobstore import CHUNK_SIZE
from imgpkg_pure.store.content.memory import MemoryStore

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

UMASK: Final = 0o022

FILES: Final = {
    "a.txt": b"alpha\n",
    "dir/b.bin": bytes(range(256)) * 9,
    "dir/sub/c.yml": b"key: value\n" * 300,
}


def tar_of(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1, mtime=0)


def zstd_of(data: bytes) -> bytes:
    return bytes(zstd.compress(data, level=3))


COMPRESSORS: Final[dict[Compression, Callable[[bytes], bytes]]] = {
    Compression.GZIP: gzipped,
    Compression.ZSTD: zstd_of,
    Compression.NONE: lambda data: data,
}

LAYER_TYPES: Final = (
    OCI_LAYER_GZIP,
    OCI_LAYER_NONDIST_GZIP,
    DOCKER_LAYER_GZIP,
    DOCKER_LAYER_FOREIGN,
    OCI_LAYER_ZSTD,
    OCI_LAYER_NONDIST_ZSTD,
    OCI_LAYER,
    OCI_LAYER_NONDIST,
    DOCKER_LAYER_TAR,
    "application/octet-stream",
)


def layer_of(store: MemoryStore, blob: bytes, media_type: str) -> Descriptor:
    digest = unsafe_perform_io(store.put_bytes(blob).unwrap())
    return Descriptor(media_type=media_type, digest=digest, size=len(blob))


def extract(
    layers: list[Descriptor], store: MemoryStore, out: Path
) -> IOResult[ExtractReport, ExtractError]:
    (out.parent / "home").mkdir(parents=True, exist_ok=True)
    return extract_image(
        layers, store, out, cwd=out.parent, home=out.parent / "home", umask=UMASK
    )


def files_in(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def extracted(blob: bytes, media_type: str, tmp_path: Path) -> dict[str, bytes]:
    store = MemoryStore()
    out = tmp_path / "out"
    result = extract([layer_of(store, blob, media_type)], store, out)
    if isinstance(result, IOFailure):
        pytest.fail(unsafe_perform_io(result.failure()).message)
    return files_in(out)


def refusal(blob: bytes, media_type: str, tmp_path: Path) -> tuple[Descriptor, ExtractError]:
    store = MemoryStore()
    layer = layer_of(store, blob, media_type)
    result = extract([layer], store, tmp_path / "out")
    assert isinstance(result, IOFailure), "expected the extraction to fail"
    assert not (tmp_path / "out").exists()
    return layer, unsafe_perform_io(result.failure())


# --- the pure rule ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x1f\x8b\x08\x00", Compression.GZIP),
        (b"\x1f\x8b", Compression.GZIP),
        (b"\x28\xb5\x2f\xfd", Compression.ZSTD),
        (b"\x28\xb5\x2f", Compression.NONE),  # too short to be zstd's magic number
        (b"\x50\x2a\x4d\x18", Compression.NONE),  # a skippable frame: ggcr reads a tar too
        (b"a.tx", Compression.NONE),
        (b"", Compression.NONE),
    ],
)
def test_sniff_compression(head: bytes, expected: Compression) -> None:
    assert sniff_compression(head) is expected


def test_declared_compression() -> None:
    declared = {media_type: declared_compression(media_type) for media_type in LAYER_TYPES}
    assert declared == {
        OCI_LAYER_GZIP: Compression.GZIP,
        OCI_LAYER_NONDIST_GZIP: Compression.GZIP,
        DOCKER_LAYER_GZIP: Compression.GZIP,
        DOCKER_LAYER_FOREIGN: Compression.GZIP,
        OCI_LAYER_ZSTD: Compression.ZSTD,
        OCI_LAYER_NONDIST_ZSTD: Compression.ZSTD,
        OCI_LAYER: Compression.NONE,
        OCI_LAYER_NONDIST: Compression.NONE,
        DOCKER_LAYER_TAR: Compression.NONE,
        "application/octet-stream": None,
    }


def test_the_bytes_win_and_a_disagreement_is_noted() -> None:
    agreed = layer_compression(OCI_LAYER_ZSTD, b"\x28\xb5\x2f\xfd")
    assert agreed == LayerCompression(detected=Compression.ZSTD, declared=Compression.ZSTD)
    assert (agreed.mismatch, agreed.note) == (False, "")
    unknown = layer_compression("application/octet-stream", b"\x1f\x8b\x08\x00")
    assert (unknown.detected, unknown.mismatch, unknown.note) == (Compression.GZIP, False, "")
    plain = layer_compression(OCI_LAYER_GZIP, b"a.tx")
    assert plain.detected is Compression.NONE
    assert plain.note == "read as a plain tar by its first bytes, although its media type says gzip"
    zstd_bytes = layer_compression(DOCKER_LAYER_GZIP, b"\x28\xb5\x2f\xfd")
    assert zstd_bytes.note == "read as zstd by its first bytes, although its media type says gzip"


# --- the shell: every media type with every compression -------------------------------------


@pytest.mark.parametrize("compression", list(Compression), ids=str)
@pytest.mark.parametrize("media_type", LAYER_TYPES)
def test_every_media_type_with_every_compression_extracts(
    tmp_path: Path, media_type: str, compression: Compression
) -> None:
    blob = COMPRESSORS[compression](tar_of(FILES))
    assert extracted(blob, media_type, tmp_path) == FILES


def test_layers_of_three_compressions_stack(tmp_path: Path) -> None:
    store = MemoryStore()
    layers = [
        layer_of(store, gzipped(tar_of({"a": b"1", "keep": b"k"})), OCI_LAYER_GZIP),
        layer_of(store, zstd_of(tar_of({"a": b"2", ".wh.keep": b""})), OCI_LAYER_ZSTD),
        layer_of(store, tar_of({"b": b"3"}), OCI_LAYER),
    ]
    out = tmp_path / "out"
    result = extract(layers, store, out)
    assert not isinstance(result, IOFailure)
    assert files_in(out) == {"a": b"2", "b": b"3"}
    report = unsafe_perform_io(result.unwrap())
    assert [layer.entries for layer in report.layers] == [2, 2, 1]


def test_several_zstd_frames_and_gzip_members_are_one_stream(tmp_path: Path) -> None:
    tar = tar_of(FILES)
    cut = len(tar) // 3
    frames = zstd_of(tar[:cut]) + zstd_of(b"") + zstd_of(tar[cut:])
    assert extracted(frames, OCI_LAYER_ZSTD, tmp_path / "zstd") == FILES
    members = gzipped(tar[:cut]) + gzipped(tar[cut:])
    assert extracted(members, OCI_LAYER_GZIP, tmp_path / "gzip") == FILES


@pytest.mark.parametrize("compression", list(Compression), ids=str)
def test_empty_layers_are_empty(tmp_path: Path, compression: Compression) -> None:
    assert extracted(COMPRESSORS[compression](b""), OCI_LAYER_ZSTD, tmp_path) == {}


# --- the shell: broken streams --------------------------------------------------------------


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(zstd_of(tar_of(FILES))[:-40], id="truncated"),
        pytest.param(b"\x28\xb5\x2f\xfd" + bytes(40), id="header-and-zeros"),
        # The frame header descriptor's reserved bit set.
        pytest.param(b"\x28\xb5\x2f\xfd\xff" + zstd_of(tar_of(FILES))[5:], id="bad-header"),
        # A block header of the reserved block type (3).
        pytest.param(b"\x28\xb5\x2f\xfd\x00\x00\x07\x00\x00" + bytes(8), id="bad-block"),
    ],
)
def test_a_corrupt_zstd_stream_is_one_error_naming_the_layer(tmp_path: Path, blob: bytes) -> None:
    layer, error = refusal(blob, OCI_LAYER_ZSTD, tmp_path)
    assert isinstance(error, CorruptLayer)
    assert error.layer == layer.digest
    assert error.message.startswith(f"layer {layer.digest} is not a readable layer")
    assert "zstd" in error.message
    assert "\n" not in error.message


def test_a_zstd_window_beyond_the_limit_is_refused(tmp_path: Path) -> None:
    # Streamed without a pledged size, the frame keeps the 1 GiB window it asks for.
    compressor = zstd.ZstdCompressor(options={zstd.CompressionParameter.window_log: 30})
    blob = compressor.compress(tar_of(FILES)) + compressor.flush()
    assert ZSTD_MAX_WINDOW < 1 << 30
    _, error = refusal(blob, OCI_LAYER_ZSTD, tmp_path)
    assert isinstance(error, CorruptLayer)
    assert "zstd" in error.message


def test_a_broken_layer_whose_media_type_disagrees_says_how_it_was_read(tmp_path: Path) -> None:
    tar = tar_of({"big": b"x" * 5000})
    _, error = refusal(tar[:1500], OCI_LAYER_ZSTD, tmp_path)
    assert isinstance(error, CorruptLayer)
    assert "read as a plain tar by its first bytes, although its media type says zstd" in (
        error.message
    )


# --- the shell: reading a layer for one file -------------------------------------------------


class Trickle(io.RawIOBase):
    """A source that returns at most ``step`` bytes per read (a slow network)."""

    def __init__(self, data: bytes, step: int) -> None:
        super().__init__()
        self._data = data
        self._step = step
        self._at = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        piece = self._data[self._at : self._at + min(self._step, len(buffer))]
        memoryview(buffer).cast("B")[: len(piece)] = piece
        self._at += len(piece)
        return len(piece)


@pytest.mark.parametrize("compression", list(Compression), ids=str)
def test_open_layer_archive_reads_any_compression_from_short_reads(
    compression: Compression,
) -> None:
    blob = COMPRESSORS[compression](tar_of(FILES))
    archive = open_layer_archive(Trickle(blob, 1), DOCKER_LAYER_GZIP)
    assert archive is not None
    found: dict[str, bytes] = {}
    with archive:
        for member in archive:
            handle = archive.extractfile(member)
            assert handle is not None
            found[member.name] = handle.read()
    assert found == FILES
    assert open_layer_archive(io.BytesIO(COMPRESSORS[compression](b"")), OCI_LAYER) is None


# --- the shell: memory --------------------------------------------------------------------


def _peak_memory(tmp_path: Path, size: int, compression: Compression) -> int:
    """The peak of traced allocations while extracting one ``size``-byte file."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("big")
        info.size = size
        archive.addfile(info, io.BytesIO(bytes(size)))
    store = MemoryStore()
    layers = [layer_of(store, COMPRESSORS[compression](buffer.getvalue()), OCI_LAYER_ZSTD)]
    del buffer
    out = tmp_path / f"out-{size}"
    tracemalloc.start()
    try:
        result = extract(layers, store, out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not isinstance(result, IOFailure)
    assert (out / "big").stat().st_size == size
    return peak


@pytest.mark.parametrize("compression", [Compression.ZSTD, Compression.NONE], ids=str)
def test_memory_does_not_grow_with_the_layer(tmp_path: Path, compression: Compression) -> None:
    small = _peak_memory(tmp_path, 3 * CHUNK_SIZE, compression)
    large = _peak_memory(tmp_path, 40 * CHUNK_SIZE + 123, compression)
    assert large < small + CHUNK_SIZE // 2, f"peak {large} bytes vs {small} for a small file"
    assert large < 16 * CHUNK_SIZE
