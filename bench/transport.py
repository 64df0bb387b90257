"""The HTTP transport under the registry client, against the floor's ``http.client``.

Usage: python -m bench.transport [--requests 600] [--threads 5] [--mib 100] [--rounds 3]

Starts a loopback ``docker-registry``, pushes one small image and one ``--mib`` MiB
blob, then, round by round and one client after the other, measures

* **CPU per request**: ``--requests`` manifest GETs, ``--threads`` at a time (one
  keep-alive connection per thread), this process's CPU time divided by the requests;
* **MB/s**: the blob read to its end through one connection (no hashing), and the
  CPU time that took;

for ``http.client`` (what the floor uses), ``httpx.Client`` over httpx's own transport
(httpcore/h11, its read size raised to 1 MiB as the client had it), ``httpx.Client`` over
:class:`~imgpkg_pure.store.registry._wire.WireTransport`, and the registry client
itself (``RegistryClient.get_manifest``, which verifies the digest, and ``open_blob``,
which hashes as it reads).  Medians of the rounds.  This is the measurement
``docs/benchmarks.md`` ("The transport") gives for leaving httpcore.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import ssl
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from returns.unsafe import unsafe_perform_io

from bench._common import CLI, registry, run_timed
from imgpkg_pure.digest import parse_digest
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.reference import Repository, parse_reference
from imgpkg_pure.store.registry import RegistryClient, RegistryOptions
from imgpkg_pure.store.registry._wire import WireTransport
from imgpkg_pure.store.registry.transport import raise_read_size

ACCEPT = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}


def cpu_per_request(
    make: Callable[[], Any], get: Callable[[Any], None], n: int, threads: int
) -> float:
    local = threading.local()

    def one(_: int) -> None:
        if not hasattr(local, "client"):
            local.client = make()
        get(local.client)

    with ThreadPoolExecutor(threads) as pool:  # warm: connections open
        list(pool.map(one, range(threads * 4)))
        start = time.process_time()
        list(pool.map(one, range(n)))
    return (time.process_time() - start) / n * 1000


def read_blob(read: Callable[[], int]) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    size = read()
    return size / (time.perf_counter() - start) / 1e6, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--threads", type=int, default=5)
    parser.add_argument("--mib", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-transport-"))
    with registry(work / "registry") as server:
        host = server.host
        (work / "tree").mkdir()
        (work / "tree" / "a.yml").write_text("a: 1\n")
        run_timed([*CLI, "push", "-i", f"{host}/bench/small:v1", "-f", str(work / "tree")])
        data = os.urandom(args.mib << 20)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with httpx.Client() as plain:
            started = plain.post(f"http://{host}/v2/bench/blob/blobs/uploads/")
            url = httpx.URL(f"http://{host}").join(started.headers["Location"])
            plain.put(url.copy_merge_params({"digest": digest}), content=data)
        del data
        manifest_url = f"http://{host}/v2/bench/small/manifests/v1"
        blob_path = f"/v2/bench/blob/blobs/{digest}"
        ref = parse_reference(f"{host}/bench/small:v1").unwrap()
        repo = Repository(registry=host, repository="bench/blob")
        blob = Descriptor(
            media_type="application/octet-stream",
            digest=parse_digest(digest).unwrap(),
            size=args.mib << 20,
        )

        def stdlib() -> tuple[Callable[[], Any], Callable[[Any], None], Callable[[], int]]:
            def get(connection: http.client.HTTPConnection) -> None:
                connection.request("GET", "/v2/bench/small/manifests/v1", headers=ACCEPT)
                connection.getresponse().read()

            def read() -> int:
                connection = http.client.HTTPConnection(host)
                connection.request("GET", blob_path)
                answer, total = connection.getresponse(), 0
                while piece := answer.read(1 << 20):
                    total += len(piece)
                return total

            return lambda: http.client.HTTPConnection(host), get, read

        def over(transport: Callable[[], httpx.BaseTransport]) -> Any:
            def get(client: httpx.Client) -> None:
                client.get(manifest_url, headers=ACCEPT).read()

            def read() -> int:
                total = 0
                with (
                    httpx.Client(transport=transport()) as client,
                    client.stream("GET", f"http://{host}{blob_path}") as answer,
                ):
                    for piece in answer.iter_raw():
                        total += len(piece)
                return total

            return lambda: httpx.Client(transport=transport()), get, read

        def httpcore_1mib() -> httpx.BaseTransport:
            raise_read_size()
            return httpx.HTTPTransport()

        def ours() -> Any:
            client = RegistryClient(RegistryOptions(), environ={"HOME": str(work)})

            def read() -> int:
                total = 0
                with unsafe_perform_io(client.open_blob(repo, blob).unwrap()) as stream:
                    for piece in stream:
                        total += len(piece)
                return total

            return lambda: client, lambda c: c.get_manifest(ref).unwrap(), read

        clients = {
            "http.client (the floor's)": stdlib(),
            "httpx.Client + httpcore (1 MiB reads)": over(httpcore_1mib),
            "httpx.Client + WireTransport": over(
                lambda: WireTransport(ssl.create_default_context())
            ),
            "RegistryClient (verifies, hashes)": ours(),
        }
        results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in clients}
        for _ in range(args.rounds):
            for name, (make, get, read) in clients.items():
                cpu = cpu_per_request(make, get, args.requests, args.threads)
                rate, read_cpu = read_blob(read)
                results[name].append((cpu, rate, read_cpu))
        print(
            f"{args.requests} manifest GETs, {args.threads} threads; one {args.mib} MiB blob; "
            f"medians of {args.rounds} rounds"
        )
        print("| client | CPU ms / request | blob MB/s | blob CPU s |")
        print("|---|---:|---:|---:|")
        for name, rows in results.items():
            cpu = statistics.median(r[0] for r in rows)
            rate = statistics.median(r[1] for r in rows)
            read_cpu = statistics.median(r[2] for r in rows)
            print(f"| {name} | {cpu:.2f} | {rate:.0f} | {read_cpu:.3f} |")


if __name__ == "__main__":
    main()
