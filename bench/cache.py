"""What the local store costs and saves (issue 12): copy with no store, into a cold one (the
tee writes every blob through), and again with it warm.

Usage: python -m bench.cache [--legs big,tiny] [--kinds repo→repo,repo→tar] [--images 20]
                             [--mib 150] [--tiny 200] [--rounds 3] [--concurrency 5]
                             [--cli-path DIR]

Uses ``bench.copy``'s bundles in a source registry: ``big`` (``--images`` one-layer images,
``--mib`` MB of incompressible layers, and a bundle listing them) and ``tiny`` (``--tiny``
images of one 1 KiB layer).  Round by round (the modes interleaved inside each round), each
run a separate process into a fresh destination registry (or tarball):

* ``no store``: ``copy`` with ``IMGPKG_PURE_NO_CACHE=1`` (what every other leg of
  ``bench`` times: the streaming copy with no store);
* ``cold store``: ``copy`` with an empty store (made beforehand): every blob is streamed
  through the tee into the store while it goes to the destination — the user's default the
  first time;
* ``warm store``: the same copy again with the store the cold run filled, into a fresh
  destination: no blob is read from the source.

Prints one table: median seconds, the ratio to ``no store`` in the same leg, the median
CPU seconds of our process (user + system: steadier than the wall on a shared machine), the
requests the source and the destination logged (the source's blob ``GET``\\ s apart),
requests in all, peak RSS.  ``--cli-path DIR`` times the command line of another checkout
(``git archive COMMIT | tar -x -C DIR``) with the same harness: before/after figures.
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
from dataclasses import dataclass
from pathlib import Path

from bench._common import CLI, TIMED_ENV, Sample, registry, run_cpu, with_store
from bench.copy import Bench, Bundle, source_bundles
from imgpkg_pure.store.content.local import LocalStore
from tests.registry_fixtures import RegistryServer

_BLOB_GET = re.compile(rb'"GET /v2/[^" ]*/blobs/sha256:[0-9a-f]+ HTTP')
_ANY = re.compile(rb'"(?:GET|HEAD|POST|PUT|PATCH|DELETE) /v2/[^"]*" \d{3} ')

MODES = ("no store", "cold store", "warm store")


def _since(path: Path, mark: int, pattern: re.Pattern[bytes]) -> int:
    with path.open("rb") as handle:
        handle.seek(mark)
        return len(pattern.findall(handle.read()))


@dataclass
class Run:
    sample: Sample
    cpu: float
    source: int
    source_blob_gets: int
    destination: int


#: Where the timed command line comes from (``--cli-path``: another checkout's).
_CLI: list[tuple[str, ...]] = [CLI]
_CLI_PATH: list[str] = []


def store_env(store: Path | None) -> dict[str, str]:
    """:data:`TIMED_ENV` with the local store at ``store`` (None: no store)."""
    env = dict(TIMED_ENV) if store is None else with_store(store)
    if _CLI_PATH:
        env["PYTHONPATH"] = _CLI_PATH[0]
    return env


def copy_once(bench: Bench, bundle: Bundle, kind: str, mode: str, *, store: Path, out: Path) -> Run:
    """One timed copy of ``bundle`` (``kind``: repo→repo into a fresh registry, or repo→tar
    into ``out``) in ``mode``, its requests counted from the registries' logs."""
    src = bench.src
    dst: RegistryServer | None = bench.fresh() if kind == "repo→repo" else None
    target = ["--to-repo", f"{dst.host}/ours/all"] if dst is not None else ["--to-tar", str(out)]
    if mode == "cold store":  # empty, as a store is after its first use
        shutil.rmtree(store, ignore_errors=True)
        LocalStore.at(store)
    src_mark = src.log_size()
    dst_mark = dst.log_size() if dst is not None else 0
    sample, cpu = run_cpu(
        [*_CLI[0], "copy", "-b", bundle.ref, *target, "--concurrency", str(bench.conc)],
        env=store_env(None if mode == "no store" else store),
    )
    out.unlink(missing_ok=True)
    return Run(
        sample=sample,
        cpu=cpu,
        source=_since(src.log_path, src_mark, _ANY),
        source_blob_gets=_since(src.log_path, src_mark, _BLOB_GET),
        destination=_since(dst.log_path, dst_mark, _ANY) if dst is not None else 0,
    )


def print_rows(rows: dict[str, list[Run]], header: str) -> None:
    print(header)
    print(
        "| leg | seconds | / no store | CPU s | source requests | source blob GETs | "
        "destination requests | requests | peak RSS MiB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, runs in rows.items():
        seconds = statistics.median(r.sample.seconds for r in runs)
        base = rows.get(name.rsplit(", ", 1)[0] + ", no store")
        ratio = seconds / statistics.median(r.sample.seconds for r in base) if base else None
        cpu = statistics.median(r.cpu for r in runs)
        source = statistics.median(r.source for r in runs)
        gets = statistics.median(r.source_blob_gets for r in runs)
        dest = statistics.median(r.destination for r in runs)
        total = statistics.median(r.source + r.destination for r in runs)
        rss = max(r.sample.max_rss_kib for r in runs) / 1024
        shown = "—" if ratio is None else f"{ratio:.2f}"
        print(
            f"| {name} | {seconds:.2f} | {shown} | {cpu:.2f} | {source:.0f} | {gets:.0f} | "
            f"{dest:.0f} | "
            f"{total:.0f} | {rss:.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--legs", default="big,tiny")
    parser.add_argument("--kinds", default="repo→repo,repo→tar")
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--mib", type=int, default=150)
    parser.add_argument("--tiny", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=5)
    parser.add_argument("--cli-path", help="time the imgpkg-pure of this source tree")
    args = parser.parse_args()
    if args.cli_path:
        # -P: the current directory (this checkout) does not come before PYTHONPATH
        _CLI[0] = (sys.executable, "-P", "-m", "imgpkg_pure.store.cli")
        _CLI_PATH.append(str(Path(args.cli_path).resolve()))
    chosen = args.legs.split(",")
    kinds = args.kinds.split(",")
    work = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    rows: dict[str, list[Run]] = {}
    try:
        with ExitStack() as stack:
            src = stack.enter_context(registry(work / "src"))
            bundles = source_bundles(
                src, work, set(chosen), images=args.images, mib=args.mib, tiny=args.tiny
            )
            bench = Bench(work, stack, src, args.concurrency)
            for n in range(args.rounds):
                for name, bundle in bundles.items():
                    store = work / f"store-{name}{n}"
                    for kind in kinds:
                        for mode in MODES:
                            run = copy_once(
                                bench, bundle, kind, mode, store=store, out=work / "out.tar"
                            )
                            rows.setdefault(f"{name} {kind}, {mode}", []).append(run)
                    shutil.rmtree(store, ignore_errors=True)
                print(f"round {n + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    described = ", ".join(
        f"{name}: {len(b.images)} images + bundle, {b.blob_bytes / 1e6:.1f} MB of blobs"
        for name, b in bundles.items()
    )
    print_rows(rows, f"{described}; {args.rounds} interleaved rounds, medians")
    if os.environ.get("BENCH_CACHE_RAW"):
        for name, runs in rows.items():
            print(name, [(round(r.sample.seconds, 2), round(r.cpu, 2)) for r in runs])


if __name__ == "__main__":
    main()
