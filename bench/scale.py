"""Scale: time, requests and memory against the number of images and the size of a blob.

Usage: python -m bench.scale [--images 10,100,1000] [--mib 1,16,256,2048] [--rounds 1]
                             [--concurrency 5]

* **Images**: a bundle of N tiny images (one 1 KiB layer each): ``copy -b … --to-repo``
  into an empty registry, the same again with everything present, and ``--to-tar``;
  seconds, requests per image (access logs) and the floor (``bench.floor``) of each.
* **Blob size**: one image whose single layer is a gzip tar of one file of S MiB
  (stored deflate blocks, so the generator is quick; the bytes are random-like): copy
  repo→repo and repo→tar, and ``pull``; seconds, MB/s, the floor, and our peak RSS (the
  memory goal is the 2 GiB row).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sys
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

from returns.unsafe import unsafe_perform_io

from bench._common import CLI, Leg, Sample, print_table, registry, run_floor, run_timed
from bench.copy import (
    Bench,
    Bundle,
    Image,
    download_job,
    head_job,
    populate_images,
    push_bundle,
    relay_job,
)
from imgpkg_pure.digest import Digest
from imgpkg_pure.media_types import DOCKER_LAYER_GZIP, OCI_CONFIG, OCI_MANIFEST
from imgpkg_pure.oci.codec import encode_manifest
from imgpkg_pure.oci.values import Descriptor
from imgpkg_pure.reference import Repository
from imgpkg_pure.store.registry import RegistryClient, RegistryOptions
from tests.registry_fixtures import RegistryServer

MIB = 1 << 20


def _layer_chunks(mib: int, seed: int) -> Iterator[bytes]:
    """A gzip stream (stored blocks) of a tar holding one ``mib`` MiB file."""
    block = random.Random(seed).randbytes(MIB)
    info = tarfile.TarInfo("big.bin")
    info.size = mib * MIB
    deflate = zlib.compressobj(0, zlib.DEFLATED, 31)
    yield deflate.compress(info.tobuf(format=tarfile.GNU_FORMAT))
    for n in range(mib):
        yield deflate.compress(n.to_bytes(8, "big") + block[8:])
    yield deflate.compress(b"\0" * (tarfile.BLOCKSIZE * 2))
    yield deflate.flush()


def push_big_image(client: RegistryClient, host: str, mib: int) -> Image:
    digest = hashlib.sha256()
    size = 0
    for chunk in _layer_chunks(mib, mib):
        digest.update(chunk)
        size += len(chunk)
    repo = Repository(registry=host, repository=f"big/layer{mib}")
    layer = Descriptor(
        media_type=DOCKER_LAYER_GZIP, digest=Digest("sha256", digest.hexdigest()), size=size
    )
    unsafe_perform_io(client.push_blob(repo, layer, lambda: _layer_chunks(mib, mib)).unwrap())
    config_raw = json.dumps({"architecture": "amd64", "os": "linux", "mib": mib}).encode()
    config = Descriptor(
        media_type=OCI_CONFIG,
        digest=Digest("sha256", hashlib.sha256(config_raw).hexdigest()),
        size=len(config_raw),
    )
    unsafe_perform_io(client.push_blob(repo, config, lambda: (config_raw,)).unwrap())
    raw = encode_manifest(config, (layer,), OCI_MANIFEST)
    got = unsafe_perform_io(client.put_manifest(repo, "v1", raw, OCI_MANIFEST).unwrap())
    return Image(f"{host}/big/layer{mib}", str(got), OCI_MANIFEST, raw, (config, layer), config_raw)


def images_scale(b: Bench, client: RegistryClient, counts: list[int], rounds: int) -> list[Leg]:
    legs: list[Leg] = []
    for count in counts:
        images = populate_images(client, b.src.host, f"s{count}-", count, 1024)
        bundle = push_bundle(client, b.src.host, f"s{count}", images, b.work)
        empty = Leg(f"{count} tiny images repo→repo", count)
        present = Leg(f"{count} tiny images repo→repo, all present", count)
        to_tar = Leg(f"{count} tiny images repo→tar", count)
        for n in range(rounds):
            dst = b.fresh()
            args = ["-b", bundle.ref, "--to-repo", f"{dst.host}/ours/all"]
            empty.add("ours", b.ours_copy(args, dst))
            present.add("ours", b.ours_copy(args, dst))
            job = relay_job(bundle, b.src, dst, b.conc)
            empty.add("floor", b.counted([b.src, dst], _floor(job, b.work)))
            job = head_job(bundle, dst, b.conc)
            present.add("floor", b.counted([dst], _floor(job, b.work)))
            _to_tar_round(b, to_tar, ["-b", bundle.ref], bundle, f"scale{count}-{n}.tar")
        legs += [empty, present, to_tar]
        print(f"{count} images done", file=sys.stderr)
    return legs


def _single(image: Image) -> Bundle:
    """One image as the floor jobs see a bundle (no bundle image of its own)."""
    return Bundle(name="one", ref=image.ref, images=[], itself=image)


def blob_scale(b: Bench, client: RegistryClient, sizes: list[int], rounds: int) -> list[Leg]:
    legs: list[Leg] = []
    for mib in sizes:
        image = push_big_image(client, b.src.host, mib)
        one = _single(image)
        copy = Leg(f"{mib} MiB layer repo→repo", 1)
        to_tar = Leg(f"{mib} MiB layer repo→tar", 1)
        pull = Leg(f"{mib} MiB layer pull", 1)
        for n in range(rounds):
            dst = b.fresh()
            copy.add(
                "ours", b.ours_copy(["-i", image.ref, "--to-repo", f"{dst.host}/ours/one"], dst)
            )
            job = relay_job(one, b.src, dst, b.conc)
            copy.add("floor", b.counted([b.src, dst], _floor(job, b.work)))
            _to_tar_round(b, to_tar, ["-i", image.ref], one, f"blob{mib}-{n}.tar")
            target = b.work / f"pulled{n}"
            pull.add(
                "ours", b.counted([b.src], _run([*CLI, "pull", "-i", image.ref, "-o", str(target)]))
            )
            shutil.rmtree(target)
            layer = image.blobs[1]
            url = f"{b.src.url}/v2/big/layer{mib}/blobs/{layer.digest}"
            job = {"op": "pull", "url": url, "out": str(target)}
            pull.add("floor", b.counted([b.src], _floor(job, b.work)))
            shutil.rmtree(target)
        legs += [copy, to_tar, pull]
        print(f"{mib} MiB done", file=sys.stderr)
    return legs


def _to_tar_round(b: Bench, leg: Leg, source: list[str], bundle: Bundle, name: str) -> None:
    """One round of a repo→tar leg: ours copies ``source`` to the tarball ``name``, the floor
    downloads the same blobs (each output removed after its run)."""
    tar = b.work / name
    leg.add("ours", b.ours_copy([*source, "--to-tar", str(tar)], None))
    tar.unlink()
    out = b.work / "floor.bin"
    job = download_job(bundle, b.src, out, b.conc)
    leg.add("floor", b.counted([b.src], _floor(job, b.work)))
    out.unlink()


def _floor(job: dict[str, object], work: Path) -> Callable[[], Sample]:
    return lambda: run_floor(job, work)


def _run(args: list[str]) -> Callable[[], Sample]:
    return lambda: run_timed(args)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", default="10,100,1000")
    parser.add_argument("--mib", default="1,16,256,2048")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=5)
    args = parser.parse_args()
    counts = [int(n) for n in args.images.split(",") if n]
    sizes = [int(n) for n in args.mib.split(",") if n]
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        with ExitStack() as stack:
            src: RegistryServer = stack.enter_context(registry(work / "src"))
            bench = Bench(work, stack, src, args.concurrency)
            with RegistryClient(RegistryOptions()) as client:
                legs = images_scale(bench, client, counts, args.rounds)
                legs += blob_scale(bench, client, sizes, args.rounds)
            print_table(legs, rounds=args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
