"""Properties of layer decompression (``docs/formats/extraction.md``, "Compression").

For any tree of files and directories, the tar of it compressed with gzip,
zstd or nothing, under any layer media type (the bytes decide, as ggcr
decides):

* ``open_layer_archive`` (what commands use to find one file) gives exactly
  the tar's entries: names, kinds, modes and contents, in order;
* extraction writes exactly the tree's files and contents, whatever the
  compression, and the compressed bytes are what the descriptor's digest
  was verified over;
* however the compressed stream is cut into frames or members, the result is
  the same;
* the pure rule: ``layer_compression`` always detects what ``sniff_compression``
  detects, and notes a disagreement exactly when the media type declares another
  compression.
"""

from __future__ import annotations

import gzip
import io
import itertools
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Final

from hypothesis import given
from hypothesis import strategies as st
from returns.io import IOFailure
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.media_types import (
    DOCKER_LAYER_GZIP,
    DOCKER_LAYER_TAR,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_NONDIST,
    OCI_LAYER_ZSTD,
    Compression,
    declared_compression,
    layer_compression,
    sniff_compression,
)
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.store.apply.extract import extract_image
from imgpkg_pure.store.apply.layer_reader import open_layer_archive
from imgpkg_pure.store.content.memory import MemoryStore

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

MEDIA_TYPES: Final = (
    OCI_LAYER_GZIP,
    DOCKER_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_LAYER,
    OCI_LAYER_NONDIST,
    DOCKER_LAYER_TAR,
    "application/octet-stream",
)

_NAMES = st.text(alphabet="abcxyz-_.0123456789", min_size=1, max_size=8).filter(
    lambda name: name not in {".", ".."} and not name.startswith(".wh.")
)
_CONTENT = st.one_of(
    st.binary(max_size=3000),
    st.builds(
        lambda unit, count: unit * count, st.binary(min_size=1, max_size=8), st.integers(0, 4000)
    ),
)

# A tree: relative file path → (mode, content); directories are implied by the paths.
trees = st.dictionaries(
    st.lists(_NAMES, min_size=1, max_size=3).map("/".join),
    st.tuples(st.sampled_from([0o644, 0o755, 0o600, 0o400]), _CONTENT),
    max_size=12,
).filter(
    # No path may be both a file and a directory.
    lambda tree: not any(other.startswith(path + "/") for path in tree for other in tree)
)

Entry = tuple[str, bool, int, bytes | None]  # name, is a directory, mode, content


def tar_of(tree: dict[str, tuple[int, bytes]]) -> tuple[bytes, list[Entry]]:
    """The tree as a tar (directories first, as a walk writes them) and its entries."""
    entries: list[Entry] = []
    parents = {path.rsplit("/", 1)[0] for path in tree if "/" in path}
    expanded = sorted(
        {"/".join(d.split("/")[: i + 1]) for d in parents for i in range(d.count("/") + 1)}
    )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for directory in expanded:
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            archive.addfile(info)
            entries.append((directory, True, 0o755, None))
        for path, (mode, data) in sorted(tree.items()):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = mode
            archive.addfile(info, io.BytesIO(data))
            entries.append((path, False, mode, data))
    return buffer.getvalue(), entries


def _zstd_frames(data: bytes, cuts: list[int]) -> bytes:
    return b"".join(bytes(zstd.compress(piece, level=1)) for piece in _pieces(data, cuts))


def _gzip_members(data: bytes, cuts: list[int]) -> bytes:
    return b"".join(gzip.compress(piece, 1, mtime=0) for piece in _pieces(data, cuts))


def _pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[start:end] for start, end in itertools.pairwise(points)] or [b""]


COMPRESSORS: Final[dict[Compression, Callable[[bytes, list[int]], bytes]]] = {
    Compression.GZIP: _gzip_members,
    Compression.ZSTD: _zstd_frames,
    Compression.NONE: lambda data, _cuts: data,
}


def _read_entries(blob: bytes, media_type: str) -> list[Entry]:
    archive = open_layer_archive(io.BytesIO(blob), media_type)
    assert archive is not None
    found: list[Entry] = []
    with archive:
        for member in archive:
            handle = archive.extractfile(member)
            content = None if handle is None else handle.read()
            found.append((member.name, member.isdir(), member.mode, content))
    return found


@given(
    tree=trees,
    compression=st.sampled_from(list(Compression)),
    media_type=st.sampled_from(MEDIA_TYPES),
    cuts=st.lists(st.integers(min_value=0), max_size=3),
)
def test_every_compression_reads_the_same_entries(
    tree: dict[str, tuple[int, bytes]], compression: Compression, media_type: str, cuts: list[int]
) -> None:
    tar, entries = tar_of(tree)
    blob = COMPRESSORS[compression](tar, cuts)
    assert sniff_compression(blob[:4]) is compression
    assert _read_entries(blob, media_type) == entries


@given(
    tree=trees,
    compression=st.sampled_from(list(Compression)),
    media_type=st.sampled_from(MEDIA_TYPES),
    cuts=st.lists(st.integers(min_value=0), max_size=2),
)
def test_every_compression_extracts_the_same_tree(
    tree: dict[str, tuple[int, bytes]], compression: Compression, media_type: str, cuts: list[int]
) -> None:
    tar, _ = tar_of(tree)
    blob = COMPRESSORS[compression](tar, cuts)
    store = MemoryStore()
    digest = unsafe_perform_io(store.put_bytes(blob).unwrap())
    layer = Descriptor(media_type=media_type, digest=digest, size=len(blob))
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        out = root / "out"
        result = extract_image([layer], store, out, cwd=root, home=root / "home", umask=0o022)
        assert not isinstance(result, IOFailure), unsafe_perform_io(result.failure()).message
        report = unsafe_perform_io(result.unwrap())
        assert report.layers[0].digest == digest
        written = {
            path.relative_to(out).as_posix(): path.read_bytes()
            for path in out.rglob("*")
            if path.is_file()
        }
    assert written == {path: data for path, (_, data) in tree.items()}


@given(
    media_type=st.one_of(st.sampled_from(MEDIA_TYPES), st.text(max_size=30)),
    head=st.binary(max_size=6),
)
def test_the_bytes_decide_and_a_disagreement_is_noted(media_type: str, head: bytes) -> None:
    how = layer_compression(media_type, head)
    assert how.detected is sniff_compression(head)
    assert how.declared == declared_compression(media_type)
    declared = how.declared
    assert how.mismatch == (declared is not None and declared is not how.detected)
    assert bool(how.note) == how.mismatch
