"""The reliability soak: every relocation leg through fault-injecting proxies, many seeds.

Usage: python -m bench.soak [--seeds 20] [--rate 0.15 --rate 0.3] [--workers 3]
                            [--legs push,pull,...] [--json results.json]

Starts Debian ``docker-registry`` servers on loopback (source, destination,
and one behind Bearer-token auth), pushes the source bundle once without faults
(``tests.faults.harness``), then runs each leg (push, pull, and copy between
registries, imgpkg tarballs, OCI layouts and OCI archives) once per seed and
rate with both registries behind a :class:`tests.faults.proxy.FaultProxy`
(``repo>token`` copies into the token registry, where 401s mid-run are injected too)
(``--workers`` legs at a time, each in its own process with its own cache
store).  A run *completes* when the command exits 0 and its result, read
back without faults, verifies byte for byte.  Prints one table: runs,
completed, and the faults injected by kind, per leg and rate.  Loopback only;
every proxy is bounded in requests and time.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from tests.faults.conftest import run_in_process
from tests.faults.harness import Bundle, Outcome, legs, make_bundle, run_leg, token_leg
from tests.faults.proxy import ALL_BUT_AUTH, Fault, FaultPlan
from tests.registry.token_server import TOKEN_PASSWORD, TOKEN_USER, running_token_registry
from tests.registry_fixtures import running_registry

_count = itertools.count()


def _one(task: tuple[Bundle, str, str, str, int, float, str]) -> Outcome:
    bundle, src_url, dst_host, dst_url, index, rate, work = task
    seed = int(Path(work).name.split("-")[1])

    def name(label: str) -> str:
        return f"soak/{label}-{Path(work).name}"

    kinds = ALL_BUT_AUTH
    if index < 0:  # the token registry: every fault, 401 mid-run included
        leg = token_leg(bundle, dst_host, name, (TOKEN_USER, TOKEN_PASSWORD))
        kinds = frozenset(Fault)
    else:
        leg = legs(run_in_process, bundle, dst_host, name)[index]
    return run_leg(
        run_in_process,
        leg,
        src_upstream=src_url,
        dst_upstream=dst_url,
        plan=FaultPlan(seed=seed, rate=rate, kinds=kinds),
        work=Path(work),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--rate", type=float, action="append")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--legs", default="")
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    rates = args.rate or [0.15, 0.3]
    started = time.monotonic()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="soak-")))
        src = stack.enter_context(running_registry(tmp / "src"))
        dst = stack.enter_context(running_registry(tmp / "dst"))
        token = stack.enter_context(running_token_registry(tmp / "token")).server
        bundle = make_bundle(run_in_process, src.host, "soak/src", tmp / "bundle")
        names = [leg.name for leg in legs(run_in_process, bundle, dst.host, str)]
        names.append("repo>token")
        wanted = [n for n in args.legs.split(",") if n] or names
        tasks = [
            (bundle, src.url, *((token.host, token.url) if name == "repo>token"
                               else (dst.host, dst.url)),
             names.index(name) if name != "repo>token" else -1, rate,
             str(tmp / f"run-{seed}-{next(_count)}"))
            for rate in rates
            for seed in range(args.seeds)
            for name in wanted
        ]  # fmt: skip
        with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
            outcomes = list(pool.map(_one, tasks))
    elapsed = time.monotonic() - started
    _table(outcomes, rates, wanted)
    print(f"\n{len(outcomes)} runs in {elapsed:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps([_asdict(o) for o in outcomes], indent=1))
    return 0 if all(o.completed for o in outcomes) else 1


def _asdict(outcome: Outcome) -> dict[str, object]:
    return {
        "leg": outcome.leg,
        "seed": outcome.seed,
        "rate": outcome.rate,
        "completed": outcome.completed,
        "error": outcome.error,
        "faults": outcome.faults,
        "requests": outcome.requests,
    }


def _table(outcomes: list[Outcome], rates: list[float], legs_run: list[str]) -> None:
    kinds = [str(kind) for kind in Fault]
    header = ["leg", "rate", "runs", "completed", "requests", *kinds, "faults"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    total: Counter[str] = Counter()
    for rate in rates:
        for name in legs_run:
            mine = [o for o in outcomes if o.leg == name and o.rate == rate]
            faults: Counter[str] = Counter()
            for o in mine:
                faults.update(o.faults)
            total.update(faults)
            row = [
                name, f"{rate:.0%}", str(len(mine)), str(sum(o.completed for o in mine)),
                str(sum(o.requests for o in mine)), *(str(faults[k]) for k in kinds),
                str(sum(faults.values())),
            ]  # fmt: skip
            print("| " + " | ".join(row) + " |")
    runs = len(outcomes)
    done = sum(o.completed for o in outcomes)
    row = ["all", "", str(runs), str(done), str(sum(o.requests for o in outcomes)),
           *(str(total[k]) for k in kinds), str(sum(total.values()))]  # fmt: skip
    print("| " + " | ".join(row) + " |")
    for o in outcomes:
        if not o.completed:
            print(f"FAILED {o.leg} seed {o.seed} rate {o.rate}: {o.error}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
