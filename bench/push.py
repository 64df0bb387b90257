"""Push throughput, side by side in one run: imgpkg-pure push against raw pipelines.

Usage: python -m bench.push [--mib 256] [--files 200] [--rounds 3]

Builds a seeded tree (YAML-like text and incompressible binaries, the mix a
bundle with tools has), then times, interleaved round by round:

* ``imgpkg-pure push -i oci:…`` end to end (walk, canonical tar, sha256 diffID,
  isal gzip, sha256 of the blob, store commit with fsync, config, manifest, root);
* the raw floor in Python, as its own process (start-up included, as ours): read
  every file, sha256 it, isal-compress it (no tar, no store) — what any
  implementation must at least do;
* GNU ``tar -c | gzip -1 > file`` — the classic shell pipeline.

Prints MB/s of input (median of rounds) and the ratios to ours.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from isal import isal_zlib

BLOCK = 1 << 20
#: The imgpkg-pure command line, run as a module of this interpreter.
CLI = (sys.executable, "-m", "imgpkg_pure.store.cli")
#: ``bench._common.TIMED_ENV``, repeated so the floor process imports nothing more.
TIMED_ENV = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "IMGPKG_PURE_NO_CACHE": "1",
}


def make_tree(root: Path, mib: int, files: int) -> int:
    total = 0
    per_file = mib * BLOCK // files
    for i in range(files):
        path = root / f"dir{i % 10}" / f"file{i}.{'yml' if i % 3 else 'bin'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            written = 0
            counter = 0
            while written < per_file:
                digest = hashlib.sha256(f"{i}:{counter}".encode()).digest()
                if i % 3:
                    chunk = b"".join(
                        b"  key%d: value-%s # sha256:%s\n"
                        % (n, digest[:4].hex().encode(), digest.hex().encode())
                        for n in range(64)
                    )
                else:
                    chunk = b"".join(
                        hashlib.sha256(digest + bytes([n])).digest() for n in range(64)
                    )
                handle.write(chunk)
                written += len(chunk)
                counter += 1
            total += written
    return total


def run_ours(tree: Path, out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run(
        [*CLI, "push", "-i", f"oci:{out}:v1", "-f", str(tree)],
        check=True,
        stdout=subprocess.DEVNULL,
        env=TIMED_ENV,
    )


def run_raw_floor(tree: Path, _out: Path) -> None:
    """The floor as its own process, start-up included, as ours is timed."""
    subprocess.run(
        [sys.executable, "-m", "bench.push", "--floor-only", str(tree)], check=True, env=TIMED_ENV
    )


def raw_floor(tree: Path) -> None:
    compressor = isal_zlib.compressobj(1, isal_zlib.DEFLATED, 31)
    blob = hashlib.sha256()
    for dirpath, _dirs, names in sorted(os.walk(tree)):
        for name in sorted(names):
            diff = hashlib.sha256()
            with open(os.path.join(dirpath, name), "rb") as handle:
                while chunk := handle.read(BLOCK):
                    diff.update(chunk)
                    blob.update(compressor.compress(chunk))
    blob.update(compressor.flush())


def run_gnu_tar_gzip(tree: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(f"tar -C {tree} -cf - . | gzip -1 > {out}/layer.tar.gz", shell=True, check=True)


CANDIDATES = {
    "imgpkg-pure push": run_ours,
    "raw floor (read+sha256+isal)": run_raw_floor,
    "GNU tar | gzip -1": run_gnu_tar_gzip,
}


def tree_arguments() -> argparse.Namespace:
    """The command line of the legs over a ``make_tree`` input (this one and ``bench.pull``)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--floor-only", metavar="TREE", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = tree_arguments()
    if args.floor_only:
        raw_floor(Path(args.floor_only))
        return
    work = Path(tempfile.mkdtemp(prefix="bench-push-"))
    try:
        size = make_tree(work / "tree", args.mib, args.files)
        times: dict[str, list[float]] = {name: [] for name in CANDIDATES}
        for _ in range(args.rounds):
            for name, run in CANDIDATES.items():
                start = time.perf_counter()
                run(work / "tree", work / "out")
                times[name].append(time.perf_counter() - start)
        ours = statistics.median(times["imgpkg-pure push"])
        floor = statistics.median(times["raw floor (read+sha256+isal)"])
        print(
            f"input: {size / 1e6:.0f} MB in {args.files} files; "
            f"{args.rounds} interleaved rounds, medians"
        )
        for name, samples in times.items():
            median = statistics.median(samples)
            print(
                f"{name:30s} {size / 1e6 / median:7.1f} MB/s  "
                f"{median:6.2f} s  (time ratio imgpkg-pure/this = {ours / median:.2f})"
            )
        print(f"ours / floor = {ours / floor:.2f} (goal: 1.1)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
