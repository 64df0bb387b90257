"""Measure the zstd bindings that could read ``+zstd`` layers, side by side in one run.

Usage: python -m bench.zstd_bindings [--mib 64] [--rounds 5]

The candidates are the maintained ones on PyPI: ``zstandard`` (python-zstandard),
``backports.zstd`` (the backport of Python 3.14's ``compression.zstd``) and
``pyzstd`` (since 0.17 a layer over ``backports.zstd``).  A candidate that is
not installed is listed as missing; install them side by side in a scratch
virtual environment to compare (``pip install zstandard backports.zstd pyzstd``).

The input is ``bench.compression``'s seeded mix (YAML-like text plus
incompressible bytes), compressed once at zstd's default level 3 (what
skopeo and buildkit write).  Every candidate decompresses the same stream in
streaming mode, as a file object over a file object, the way a layer is read:
once in 1 MiB reads (copying file content) and once in tarfile's 10 KiB reads
(``tarfile.open(mode="r|")`` asks for ``RECORDSIZE`` bytes at a time).  Rounds
are interleaved so every candidate sees the same machine noise.  Prints MB/s
of decompressed output (median of rounds), and whether the candidate's
streaming reader raises on a stream that ends inside a frame (the same stream
less its last 100 bytes, and a bare frame header followed by zeros): a reader
that answers end-of-file there turns a truncated layer into a shorter one.

Measured on the project machine (2 shared cores, 64 MiB, 7 rounds, three runs;
MB/s with 1 MiB / 10 KiB reads): zstandard 0.25.0 1384-1868 / 1347-1948,
backports.zstd 1.8.0 965-1456 / 960-1190, pyzstd 0.20.0 1127-1434 / 995-1262.
Only zstandard's stream reader answers end-of-file for both broken streams.
``backports.zstd`` is the dependency: it detects truncation, it is Python
3.14's ``compression.zstd`` (so it goes away with 3.14), and above 1 GB/s it
is far from the bottleneck: a whole pull extraction of a 64 MiB layer runs at
150-200 MB/s for gzip, zstd and plain tar alike (hashing and writing files).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import io
import statistics
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from bench.compression import make_data

MIB = 1 << 20
TAR_READ = 10240

Opener = Callable[[io.BytesIO], Any]


def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _zstandard(module: ModuleType) -> Opener:
    decompressor = module.ZstdDecompressor()
    return lambda source: decompressor.stream_reader(
        source, read_size=MIB, read_across_frames=True
    )


def _zstdfile(module: ModuleType) -> Opener:
    return lambda source: module.ZstdFile(source, mode="rb")


CANDIDATES: dict[str, tuple[str, Callable[[ModuleType], Opener]]] = {
    "zstandard stream_reader": ("zstandard", _zstandard),
    "backports.zstd ZstdFile": ("backports.zstd", _zstdfile),
    "pyzstd ZstdFile": ("pyzstd", _zstdfile),
}


def _compress(data: bytes) -> bytes:
    backports = _module("backports.zstd")
    if backports is not None:
        return bytes(backports.compress(data, level=3))
    zstandard = _module("zstandard")
    if zstandard is not None:
        return bytes(zstandard.ZstdCompressor(level=3).compress(data))
    raise SystemExit("no zstd binding installed")


def _drain(opener: Opener, stream: bytes, read_size: int) -> int:
    total = 0
    with opener(io.BytesIO(stream)) as reader:
        while chunk := reader.read(read_size):
            total += len(chunk)
    return total


def _truncation_raises(opener: Opener, stream: bytes) -> str:
    verdicts = []
    for broken in (stream[:-100], b"\x28\xb5\x2f\xfd" + bytes(20)):
        try:
            _drain(opener, broken, MIB)
        except Exception:  # any error will do: the truncation was noticed
            verdicts.append("raises")
        else:
            verdicts.append("silent EOF")
    return ", ".join(verdicts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    data = make_data(args.mib)
    stream = _compress(data)
    openers: dict[str, Opener] = {}
    for label, (name, make) in CANDIDATES.items():
        module = _module(name)
        if module is None:
            print(f"{label:26s} not installed")
            continue
        openers[label] = make(module)
        print(f"{label:26s} {name} {importlib.metadata.version(name)}")
    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(args.rounds):
        for label, opener in openers.items():
            for read_size in (MIB, TAR_READ):
                start = time.perf_counter()
                produced = _drain(opener, stream, read_size)
                times.setdefault((label, read_size), []).append(time.perf_counter() - start)
                assert produced == len(data), label
    print(
        f"input: {len(data) / 1e6:.1f} MB, zstd level 3 stream {len(stream) / 1e6:.1f} MB, "
        f"{args.rounds} interleaved rounds, medians, MB/s of output"
    )
    print(f"{'':26s} {'1 MiB reads':>12s} {'10 KiB reads':>13s}   truncated, header+zeros")
    for label, opener in openers.items():
        speeds = [
            len(data) / 1e6 / statistics.median(times[label, size]) for size in (MIB, TAR_READ)
        ]
        verdict = _truncation_raises(opener, stream)
        print(f"{label:26s} {speeds[0]:12.1f} {speeds[1]:13.1f}   {verdict}")


if __name__ == "__main__":
    main()
