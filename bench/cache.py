"""What the local store costs and saves (issue 12): copy with no store, into a cold one (the
tee writes every blob through), and again with it warm.

Usage: python -m bench.cache [--images 20] [--mib 150] [--rounds 3] [--concurrency 5]

Uses ``bench.copy``'s big bundle (``--images`` one-layer images, ``--mib`` MB of
incompressible layers, and a bundle listing them) in a source registry, then, round by
round, each run a separate process into a fresh destination registry (or tarball):

* ``no store``: ``copy --no-cache`` (the streaming copy as it was);
* ``cold store``: ``copy`` with an empty store (made beforehand): every blob is streamed
  through the tee into the store while it goes to the destination;
* ``warm store``: the same copy again with the store the cold run filled, into a fresh
  destination: no blob is read from the source.

Prints one table: median seconds, source blob ``GET``\\ s, requests in all, peak RSS.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench._common import CLI, Sample, registry, run_timed
from bench.copy import Bench, populate_images, push_bundle
from imgpkg_pure.store.content.local import LocalStore
from imgpkg_pure.store.registry import RegistryClient, RegistryOptions

_BLOB_GET = re.compile(rb'"GET /v2/[^" ]*/blobs/sha256:[0-9a-f]+ HTTP')
_ANY = re.compile(rb'"(?:GET|HEAD|POST|PUT|PATCH|DELETE) /v2/[^"]*" \d{3} ')


def _since(path: Path, mark: int, pattern: re.Pattern[bytes]) -> int:
    with path.open("rb") as handle:
        handle.seek(mark)
        return len(pattern.findall(handle.read()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--mib", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    rows: dict[str, list[tuple[Sample, int, int]]] = {}
    try:
        with ExitStack() as stack:
            src = stack.enter_context(registry(work / "src"))
            with RegistryClient(RegistryOptions()) as client:
                images = populate_images(
                    client, src.host, "big", args.images, args.mib * 1_000_000 // args.images
                )
                bundle = push_bundle(client, src.host, "big", images, work)
            bench = Bench(work, stack, src, args.concurrency)
            for n in range(args.rounds):
                store = work / f"store{n}"
                for kind in ("repo→repo", "repo→tar"):
                    for mode in ("no store", "cold store", "warm store"):
                        dst = bench.fresh() if kind == "repo→repo" else None
                        target = (
                            ["--to-repo", f"{dst.host}/ours/all"]
                            if dst is not None
                            else ["--to-tar", str(work / f"out{n}.tar")]
                        )
                        env = {**os.environ, "IMGPKG_PURE_CACHE": str(store)}
                        env.pop("IMGPKG_PURE_NO_CACHE", None)  # as bench._common's TIMED_ENV has it
                        flags = ["--no-cache"] if mode == "no store" else []
                        if mode == "cold store":  # empty, as a store is after its first use
                            shutil.rmtree(store, ignore_errors=True)
                            LocalStore.at(store)
                        mark = src.log_size()
                        marks = [(s, s.log_size()) for s in (src, dst) if s is not None]
                        sample = run_timed(
                            [*CLI, "copy", "-b", bundle.ref, *target, *flags,
                             "--concurrency", str(args.concurrency)],
                            env=env,
                        )  # fmt: skip
                        gets = _since(src.log_path, mark, _BLOB_GET)
                        total = sum(_since(s.log_path, m, _ANY) for s, m in marks)
                        rows.setdefault(f"{kind}, {mode}", []).append((sample, gets, total))
                        (work / f"out{n}.tar").unlink(missing_ok=True)
                print(f"round {n + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.images} images + bundle, {args.mib} MB of layers; {args.rounds} rounds, medians")
    print("| leg | seconds | source blob GETs | requests | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|")
    for name, found in rows.items():
        seconds = statistics.median(s.seconds for s, _, _ in found)
        median_gets = statistics.median(g for _, g, _ in found)
        median_total = statistics.median(t for _, _, t in found)
        rss = max(s.max_rss_kib for s, _, _ in found) / 1024
        print(f"| {name} | {seconds:.2f} | {median_gets:.0f} | {median_total:.0f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
