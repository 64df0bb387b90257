"""Copy throughput, side by side in one run: imgpkg-pure copy against skopeo copy.

Usage: python -m bench.copy [--images 50] [--mib 1024] [--rounds 2] [--concurrency 5]

Starts two local registries (Debian's docker-registry), fills the first with
generated images (3 layers each, incompressible bytes, ``--mib`` in total) and
a bundle that lists them all, then times, round by round with fresh
destination repositories:

* ``imgpkg-pure copy -b <bundle> --to-repo <B>`` — the bundle and every image;
* ``skopeo copy`` of the same images, one process per image, sequentially
  (how a script relocates a list of images with skopeo), and 5 at a time;
* registry→tar and tar→registry with imgpkg-pure, against skopeo's nearest
  equivalent (registry→OCI layout directory, then layout→registry).

Prints seconds and MB/s (of blob bytes) per tool (median of rounds) and the
time ratios to imgpkg-pure's registry→registry copy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import digest_of
from imgpkg_pure.media_types import OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST
from imgpkg_pure.oci.codec import encode_manifest
from imgpkg_pure.oci.values import Descriptor
from imgpkg_pure.reference import Repository
from imgpkg_pure.store.registry import RegistryClient, RegistryOptions
from tests.registry_fixtures import running_registry

CHUNK = 1 << 20


def _blob_chunks(seed: str, size: int) -> Callable[[], list[bytes]]:
    def chunks() -> list[bytes]:
        out: list[bytes] = []
        counter = 0
        remaining = size
        while remaining > 0:
            block = b"".join(
                hashlib.sha256(f"{seed}:{counter}:{i}".encode()).digest() for i in range(2048)
            )[: min(remaining, 65536)]
            out.append(block)
            remaining -= len(block)
            counter += 1
        return out

    return chunks


def _once(data: bytes) -> Callable[[], tuple[bytes]]:
    return lambda: (data,)


def populate(client: RegistryClient, host: str, images: int, total: int) -> list[str]:
    """Push ``images`` 3-layer images into ``host``; their digest references."""
    per_layer = max(1, total // (images * 3))
    refs: list[str] = []
    for n in range(images):
        repo = Repository(registry=host, repository=f"src/img{n}")
        layers = []
        for k in range(3):
            chunks = _blob_chunks(f"{n}:{k}", per_layer)
            data = b"".join(chunks())
            desc = Descriptor(media_type=OCI_LAYER_GZIP, digest=digest_of(data), size=len(data))
            unsafe_perform_io(client.push_blob(repo, desc, _once(data)).unwrap())
            layers.append(desc)
        config_raw = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "n": n,
                "rootfs": {"type": "layers", "diff_ids": [str(d.digest) for d in layers]},
            }
        ).encode()
        config = Descriptor(
            media_type=OCI_CONFIG, digest=digest_of(config_raw), size=len(config_raw)
        )
        unsafe_perform_io(client.push_blob(repo, config, _once(config_raw)).unwrap())
        raw = encode_manifest(config, tuple(layers), OCI_MANIFEST)
        digest = unsafe_perform_io(client.put_manifest(repo, "v1", raw, OCI_MANIFEST).unwrap())
        refs.append(f"{host}/src/img{n}@{digest}")
    return refs


def run(args: list[str]) -> None:
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-copy-"))
    imgpkg = [sys.executable, "-m", "imgpkg_pure.store.cli"]
    try:
        with ExitStack() as stack:
            a = stack.enter_context(running_registry(work / "a"))
            with RegistryClient(RegistryOptions()) as client:
                refs = populate(client, a.host, args.images, args.mib << 20)
            size = sum(
                int(p.stat().st_size) for p in (work / "a").rglob("data") if "blobs" in p.parts
            )
            bundle_dir = work / "bundle"
            (bundle_dir / ".imgpkg").mkdir(parents=True)
            lock = "---\napiVersion: imgpkg.carvel.dev/v1alpha1\nimages:\n"
            lock += "".join(f"- image: {ref}\n" for ref in refs) + "kind: ImagesLock\n"
            (bundle_dir / ".imgpkg" / "images.yml").write_text(lock)
            run([*imgpkg, "push", "-b", f"{a.host}/src/bundle:v1", "-f", str(bundle_dir)])

            # Every run gets an empty destination registry, so nobody can mount or skip a
            # blob that an earlier run put there (skopeo's blob-info cache would).
            destinations = iter(range(1_000))

            def fresh_destination() -> str:
                server = stack.enter_context(running_registry(work / f"dst{next(destinations)}"))
                return server.host

            def ours(_round: int) -> None:
                dst = fresh_destination()
                run([*imgpkg, "copy", "-b", f"{a.host}/src/bundle:v1",
                     "--to-repo", f"{dst}/ours/all",
                     "--concurrency", str(args.concurrency)])  # fmt: skip

            def skopeo_one(dst: str, n: int, ref: str) -> None:
                run(["skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                     f"docker://{ref}", f"docker://{dst}/skopeo/img{n}"])  # fmt: skip

            def skopeo_sequential(_round: int) -> None:
                dst = fresh_destination()
                for n, ref in enumerate(refs):
                    skopeo_one(dst, n, ref)

            def skopeo_parallel(_round: int) -> None:
                dst = fresh_destination()
                with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
                    list(pool.map(lambda p: skopeo_one(dst, *p), enumerate(refs)))

            def ours_to_tar(round_: int) -> None:
                tar = work / f"bundle{round_}.tar"
                tar.unlink(missing_ok=True)
                run([*imgpkg, "copy", "-b", f"{a.host}/src/bundle:v1", "--to-tar", str(tar)])

            def ours_from_tar(round_: int) -> None:
                dst = fresh_destination()
                run([*imgpkg, "copy", "--tar", str(work / f"bundle{round_}.tar"),
                     "--to-repo", f"{dst}/ours/all",
                     "--concurrency", str(args.concurrency)])  # fmt: skip

            def skopeo_to_layout(round_: int) -> None:
                layout = work / f"skopeo-layout{round_}"
                shutil.rmtree(layout, ignore_errors=True)
                with ThreadPoolExecutor(max_workers=1) as pool:  # one layout: one writer
                    list(pool.map(lambda p: run(["skopeo", "copy", "--src-tls-verify=false",
                                                 f"docker://{p[1]}", f"oci:{layout}:img{p[0]}"]),
                                  enumerate(refs)))  # fmt: skip

            def skopeo_from_layout(round_: int) -> None:
                dst = fresh_destination()
                layout = work / f"skopeo-layout{round_}"
                with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
                    list(pool.map(lambda n: run(["skopeo", "copy", "--dest-tls-verify=false",
                                                 f"oci:{layout}:img{n}",
                                                 f"docker://{dst}/skopeo/img{n}"]),
                                  range(len(refs))))  # fmt: skip

            candidates: dict[str, Callable[[int], None]] = {
                "imgpkg-pure copy (registry->registry)": ours,
                "skopeo copy, one image at a time": skopeo_sequential,
                f"skopeo copy, {args.concurrency} at a time": skopeo_parallel,
                "imgpkg-pure copy (registry->tar)": ours_to_tar,
                "skopeo copy registry->oci layout": skopeo_to_layout,
                "imgpkg-pure copy (tar->registry)": ours_from_tar,
                f"skopeo copy oci layout->registry, {args.concurrency} at a time": (
                    skopeo_from_layout
                ),
            }
            times: dict[str, list[float]] = {name: [] for name in candidates}
            for round_ in range(args.rounds):
                for name, candidate in candidates.items():
                    start = time.perf_counter()
                    candidate(round_)
                    times[name].append(time.perf_counter() - start)
            base = statistics.median(times["imgpkg-pure copy (registry->registry)"])
            print(
                f"{args.images} images x 3 layers, {size / 1e6:.0f} MB of blobs; "
                f"{args.rounds} interleaved rounds, medians; concurrency {args.concurrency}"
            )
            for name, samples in times.items():
                median = statistics.median(samples)
                print(
                    f"{name:48s} {median:7.2f} s {size / 1e6 / median:8.1f} MB/s"
                    f"   (time / imgpkg-pure registry->registry = {median / base:.2f})"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
