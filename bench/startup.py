"""Start-up: what ``imgpkg-pure copy --help`` and a no-op copy spend before doing anything.

Usage: python -m bench.startup [--rounds 15]

For each command line it reports, over ``--rounds`` runs (min and median, since start-up
is noise-sensitive): the wall time of the whole process, the Python import time
(``-X importtime``: the sum of every module's own time), the number of modules imported,
and the regular expressions compiled while running (patterns compiled by the project's
own modules named apart, with where).  The no-op copy is ``copy -i`` of a one-layer
image into a repository that already holds it (everything present: one survey request).

Byte-code caching is on for the children (``PYTHONDONTWRITEBYTECODE`` removed from their
environment), as it is for an installed package; one warm-up run fills the cache.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench._common import CLI, TIMED_ENV, registry, run_timed

_SPY = r"""
import collections, json, re, sys, traceback
found = []
original = re._compile
def spy(pattern, flags):
    if (type(pattern), pattern, flags) not in re._cache and isinstance(pattern, (str, bytes)):
        for frame in reversed(traceback.extract_stack()[:-1]):
            if "/re/" not in frame.filename and "/sre_" not in frame.filename:
                found.append(f"{frame.filename}:{frame.lineno}")
                break
    return original(pattern, flags)
re._compile = spy
sys.argv = ["imgpkg-pure", *sys.argv[1:]]
from imgpkg_pure.store.cli import main
try:
    main()
except SystemExit:
    pass
finally:
    sys.stderr.write("\nREGEX " + json.dumps(found) + "\n")
"""


def _env() -> dict[str, str]:
    return dict(TIMED_ENV)


def import_time(args: Sequence[str]) -> tuple[float, int]:
    """Sum of modules' own import time (ms) and the module count, for one run."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *args[1:]],
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )
    total = 0
    count = 0
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            total += int(line.split(":")[1].split("|")[0])
            count += 1
    return total / 1000, count


def regexes(args: Sequence[str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _SPY, *args[3:]],
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )
    for line in done.stderr.splitlines():
        if line.startswith("REGEX "):
            found: list[str] = json.loads(line[len("REGEX ") :])
            return found
    raise RuntimeError(done.stderr)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        with registry(work / "registry") as server:
            tree = work / "tree"
            tree.mkdir()
            (tree / "a.yml").write_text("a: 1\n")
            src = f"{server.host}/start/src:v1"
            run_timed([*CLI, "push", "-i", src, "-f", str(tree)], env=_env())
            dst = f"{server.host}/start/dst"
            run_timed([*CLI, "copy", "-i", src, "--to-repo", dst], env=_env())
            lines = {
                "copy --help": [*CLI, "copy", "--help"],
                "no-op copy (image already there)": [*CLI, "copy", "-i", src, "--to-repo", dst],
            }
            print(f"{args.rounds} runs each; wall = whole process; imports = -X importtime sum")
            print("| command | wall min ms | wall median ms | imports min ms | "
                  "imports median ms | modules | regexes compiled (project's) |")  # fmt: skip
            print("|---|---:|---:|---:|---:|---:|---:|")
            for name, line in lines.items():
                run_timed(line, env=_env())  # warm the byte-code cache
                walls, imports = [], []
                modules = 0
                for _ in range(args.rounds):
                    start = time.perf_counter()
                    subprocess.run(line, capture_output=True, env=_env(), check=True)
                    walls.append((time.perf_counter() - start) * 1000)
                    spent, modules = import_time(line)
                    imports.append(spent)
                found = regexes(line)
                ours = [f for f in found if "imgpkg_pure" in f or "/store/" in f]
                print(
                    f"| {name} | {min(walls):.0f} | {statistics.median(walls):.0f} | "
                    f"{min(imports):.0f} | {statistics.median(imports):.0f} | {modules} | "
                    f"{len(found)} ({len(ours)}) |"
                )
                for where in ours:
                    print(f"    project regex compiled at {where}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
