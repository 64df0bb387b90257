"""Measure the gzip encoders that could build push layers, side by side in one run.

Usage: python -m bench.compression [--mib 128] [--rounds 3]

The input is generated (seeded): YAML-like text plus incompressible bytes,
the mix a config bundle with a few binaries has.  Each encoder compresses the
same bytes in 1 MiB blocks, the way ``imgpkg_pure.store.files.layer`` feeds it; rounds are
interleaved so every encoder sees the same machine noise.  Prints MB/s of
input (median of rounds) and the compression ratio.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import zlib
from collections.abc import Callable
from typing import Any

from isal import isal_zlib

BLOCK = 1 << 20


def make_data(mib: int, seed: int = 1234) -> bytes:
    rng = random.Random(seed)
    keys = [f"key{i}".encode() for i in range(200)]
    lines = []
    size = 0
    text_target = mib * BLOCK * 5 // 8
    while size < text_target:
        line = b"  %s: %s-%d sha256:%032x\n" % (
            rng.choice(keys),
            rng.choice(keys),
            rng.randrange(10_000),
            rng.getrandbits(128),
        )
        lines.append(line)
        size += len(line)
    noise = rng.randbytes(mib * BLOCK - size) if mib * BLOCK > size else b""
    return b"".join(lines) + noise


def _blocks(compressor: Callable[[], Any], data: bytes) -> int:
    c = compressor()
    n = 0
    for i in range(0, len(data), BLOCK):
        n += len(c.compress(data[i : i + BLOCK]))
    return n + len(c.flush())


def zlib_l1(data: bytes) -> int:
    return _blocks(lambda: zlib.compressobj(1, zlib.DEFLATED, 31), data)


def isal_l1(data: bytes) -> int:
    return _blocks(lambda: isal_zlib.compressobj(1, isal_zlib.DEFLATED, 31), data)


def isal_l2(data: bytes) -> int:
    return _blocks(lambda: isal_zlib.compressobj(2, isal_zlib.DEFLATED, 31), data)


ENCODERS: dict[str, Callable[[bytes], int]] = {
    "stdlib zlib level 1": zlib_l1,
    "isal level 1": isal_l1,
    "isal level 2": isal_l2,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = make_data(args.mib)
    times: dict[str, list[float]] = {name: [] for name in ENCODERS}
    sizes: dict[str, int] = {}
    for _ in range(args.rounds):
        for name, encode in ENCODERS.items():
            start = time.perf_counter()
            sizes[name] = encode(data)
            times[name].append(time.perf_counter() - start)
    print(f"input: {len(data) / 1e6:.1f} MB, {args.rounds} interleaved rounds, medians")
    for name in ENCODERS:
        mbps = len(data) / 1e6 / statistics.median(times[name])
        print(f"{name:22s} {mbps:7.1f} MB/s   ratio {len(data) / sizes[name]:.2f}")


if __name__ == "__main__":
    main()
