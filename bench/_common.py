"""What every ``bench`` leg shares: registries that count requests, timed child processes,
interleaved rounds, the physical floor (``bench.floor``) run as its own process, and the
table every leg prints.

Rules kept by every leg (issue 10):

* ours, the floor and skopeo move the same bytes between the same registries on the same
  disk, one after the other inside a round; rounds interleave, medians are reported;
* each tool is a separate process, timed from spawn to exit (start-up included);
* requests are counted from the registries' access logs (one line per request);
* every timed process runs with byte-code caching on (``PYTHONDONTWRITEBYTECODE``
  removed, as for an installed package) and without the local store
  (``IMGPKG_PURE_NO_CACHE=1``: these legs time the transfer; ``bench.cache`` times the
  store).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.registry_fixtures import RegistryServer, running_registry

#: The imgpkg-pure command line, run as a module of this interpreter.
CLI: tuple[str, ...] = (sys.executable, "-m", "imgpkg_pure.store.cli")
#: The floor client, run as its own process (``bench/floor.py``).
FLOOR: tuple[str, ...] = (sys.executable, "-m", "bench.floor")

_ACCESS = re.compile(rb'"(?:GET|HEAD|POST|PUT|PATCH|DELETE) /v2/[^"]*" \d{3} ')


def requests_in(server: RegistryServer, since: int = 0) -> int:
    """Requests the registry logged after byte ``since`` of its log (``/v2/`` pings included)."""
    with server.log_path.open("rb") as handle:
        handle.seek(since)
        return len(_ACCESS.findall(handle.read()))


@dataclass
class Counter:
    """Counts the requests a block of work sent to some registries."""

    servers: Sequence[RegistryServer]
    marks: list[int] = field(default_factory=list)

    def start(self) -> None:
        self.marks = [server.log_size() for server in self.servers]

    def count(self) -> int:
        # The access log is written after the response: give the last lines a moment.
        time.sleep(0.05)
        return sum(
            requests_in(server, mark) for server, mark in zip(self.servers, self.marks, strict=True)
        )


@dataclass
class Sample:
    seconds: float
    max_rss_kib: int
    requests: int | None = None


#: GNU time reports the peak RSS of the command alone (a child spawned straight from
#: this process would be charged this process's own size: Linux keeps the high-water
#: mark across ``exec``).
TIME = "/usr/bin/time"


#: The environment of every timed process (see the module doc).
TIMED_ENV: dict[str, str] = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "IMGPKG_PURE_NO_CACHE": "1",
}


def with_store(store: Path) -> dict[str, str]:
    """:data:`TIMED_ENV` with the local store on, at ``store`` (the default configuration)."""
    env = {k: v for k, v in TIMED_ENV.items() if k != "IMGPKG_PURE_NO_CACHE"}
    env["IMGPKG_PURE_CACHE"] = str(store)
    return env


def run_timed(args: Sequence[str], *, env: dict[str, str] | None = None) -> Sample:
    """Run one process to its end (in ``env``, else :data:`TIMED_ENV`); its wall time and
    peak RSS."""
    return run_cpu(args, env=env)[0]


def run_cpu(args: Sequence[str], *, env: dict[str, str] | None = None) -> tuple[Sample, float]:
    """:func:`run_timed` with the process's CPU seconds (user + system) too."""
    with tempfile.NamedTemporaryFile("r", prefix="bench-time-") as times:
        start = time.perf_counter()
        done = subprocess.run(
            [TIME, "-q", "-o", times.name, "-f", "%U %S %M", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=TIMED_ENV if env is None else env,
            check=False,
        )
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr.decode()}"
            )
        user, system, peak = times.read().split()[-3:]
    return Sample(seconds=elapsed, max_rss_kib=int(peak)), float(user) + float(system)


def run_floor(job: dict[str, object], work: Path) -> Sample:
    """The floor client (``bench.floor``) on ``job``, as its own process."""
    path = work / "floor-job.json"
    path.write_text(json.dumps(job))
    return run_timed([*FLOOR, str(path)])


@contextlib.contextmanager
def registry(root: Path) -> Iterator[RegistryServer]:
    with running_registry(root) as server:
        yield server


@dataclass
class Leg:
    """One row: a name, the tools' samples, and how many images the work counts."""

    name: str
    images: int
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def add(self, tool: str, sample: Sample) -> None:
        self.samples.setdefault(tool, []).append(sample)

    def median(self, tool: str) -> float | None:
        found = self.samples.get(tool)
        return statistics.median(s.seconds for s in found) if found else None

    def requests(self, tool: str) -> float | None:
        found = [s.requests for s in self.samples.get(tool, []) if s.requests is not None]
        return statistics.median(found) / max(1, self.images) if found else None

    def rss_mib(self, tool: str) -> float | None:
        found = self.samples.get(tool)
        return max(s.max_rss_kib for s in found) / 1024 if found else None


def _cell(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def print_table(legs: Sequence[Leg], *, rounds: int, out: Callable[[str], None] = print) -> None:
    """The leg table: ours, floor, ours/floor, skopeo, requests per image (ours; floor)."""
    out(f"medians of {rounds} interleaved rounds; each tool a separate process, start-up included")
    out(
        "| leg | ours s | floor s | ours/floor | skopeo s | requests/image ours | "
        "requests/image floor | ours peak RSS MiB |"
    )
    out("|---|---:|---:|---:|---:|---:|---:|---:|")
    for leg in legs:
        ours, floor, skopeo = leg.median("ours"), leg.median("floor"), leg.median("skopeo")
        ratio = ours / floor if ours is not None and floor else None
        out(
            f"| {leg.name} | {_cell(ours, '.2f')} | {_cell(floor, '.2f')} | "
            f"{_cell(ratio, '.2f')} | {_cell(skopeo, '.2f')} | "
            f"{_cell(leg.requests('ours'), '.1f')} | {_cell(leg.requests('floor'), '.1f')} | "
            f"{_cell(leg.rss_mib('ours'), '.0f')} |"
        )
