"""Copy, side by side in one run: imgpkg-pure, the physical floor (``bench.floor``), skopeo.

Usage: python -m bench.copy [--images 20] [--mib 150] [--tiny 200] [--rounds 3]
                            [--concurrency 5] [--legs big,tiny]

Starts Debian ``docker-registry`` servers on loopback and fills a source with

* ``big``: ``--images`` one-layer images (incompressible layers, ``--mib`` MB in all)
  and a bundle listing them;
* ``tiny``: ``--tiny`` images of one 1 KiB layer each and a bundle listing them.

Then, round by round (every tool once per leg per round, each in a fresh destination
registry unless the leg says otherwise), it times:

* ``repo→repo``: ``copy -b … --to-repo``; the floor relays every blob (GET streamed into
  POST + PUT) and every manifest (GET + PUT by tag); skopeo copies every image,
  ``--concurrency`` processes at a time;
* ``repo→tar``: ``copy -b … --to-tar``; the floor GETs every blob into one file at its
  offset (one fsync); skopeo copies the images into one OCI layout, one at a time;
* ``tar→repo`` (big only): ``copy --tar … --to-repo``; the floor uploads every blob from
  the tar at its offset and PUTs every manifest; skopeo copies from its layout;
* ``present`` (tiny only): the repo→repo copy again into the destination the previous
  leg filled (everything already there); the floor HEADs every destination tag.
* ``store on`` / ``store warm`` (tiny only): the same two copies in the default
  configuration, the local store on (``bench.cache`` has more on it): the first into a
  fresh destination with an empty store, then again with the store that copy filled,
  into the destination it filled (the floors are those of the two legs above).

Every other leg runs without the local store (``IMGPKG_PURE_NO_CACHE=1``): they time
the transfer.

Prints one table: ours, floor, ours/floor, skopeo, requests per image (from the
registries' access logs) and ours' peak RSS.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from returns.unsafe import unsafe_perform_io

from bench._common import (
    CLI,
    Counter,
    Leg,
    Sample,
    print_table,
    registry,
    run_floor,
    run_timed,
    with_store,
)
from imgpkg_pure.copy import default_tag
from imgpkg_pure.digest import Digest, digest_of
from imgpkg_pure.digest import parse_digest as parse_digest_text
from imgpkg_pure.media_types import OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST
from imgpkg_pure.oci.codec import encode_manifest, parse_manifest
from imgpkg_pure.oci.values import Descriptor
from imgpkg_pure.reference import Repository, parse_reference
from imgpkg_pure.store.registry import RegistryClient, RegistryOptions
from tests.registry_fixtures import RegistryServer


@dataclass
class Image:
    repo: str
    digest: str
    media_type: str
    raw: bytes
    blobs: tuple[Descriptor, ...]
    config_raw: bytes

    @property
    def ref(self) -> str:
        return f"{self.repo}@{self.digest}"


@dataclass
class Bundle:
    """A bundle in the source registry: its tag, its images and itself (as an ``Image``)."""

    name: str
    ref: str
    images: list[Image]
    itself: Image

    @property
    def all(self) -> list[Image]:
        return [*self.images, self.itself]

    @property
    def configs(self) -> dict[str, bytes]:
        return {str(image.blobs[0].digest): image.config_raw for image in self.all}

    @property
    def blob_bytes(self) -> int:
        return sum(d.size for image in self.all for d in image.blobs)


def _once(data: bytes) -> Callable[[], tuple[bytes]]:
    return lambda: (data,)


def populate(client: RegistryClient, host: str, images: int, total: int) -> list[str]:
    """``images`` 3-layer images (``total`` bytes of layers) in ``host``; their digest
    references (the tests' fixture for a bundle of many images)."""
    per_layer = max(1, total // (images * 3))
    rng = random.Random(f"{images}:{total}")
    refs: list[str] = []
    for n in range(images):
        repo = Repository(registry=host, repository=f"src/img{n}")
        layers = []
        for _ in range(3):
            data = rng.randbytes(per_layer)
            desc = Descriptor(media_type=OCI_LAYER_GZIP, digest=digest_of(data), size=len(data))
            unsafe_perform_io(client.push_blob(repo, desc, _once(data)).unwrap())
            layers.append(desc)
        config_raw = json.dumps(
            {"architecture": "amd64", "os": "linux", "n": n,
             "rootfs": {"type": "layers", "diff_ids": [str(d.digest) for d in layers]}}
        ).encode()  # fmt: skip
        config = Descriptor(
            media_type=OCI_CONFIG, digest=digest_of(config_raw), size=len(config_raw)
        )
        unsafe_perform_io(client.push_blob(repo, config, _once(config_raw)).unwrap())
        raw = encode_manifest(config, tuple(layers), OCI_MANIFEST)
        digest = unsafe_perform_io(client.put_manifest(repo, "v1", raw, OCI_MANIFEST).unwrap())
        refs.append(f"{host}/src/img{n}@{digest}")
    return refs


def populate_images(
    client: RegistryClient, host: str, name: str, count: int, size: int
) -> list[Image]:
    """``count`` one-layer images of ``size`` random bytes each under ``host/src/NAME-n``."""
    rng = random.Random(name)

    def one(n: int, data: bytes) -> Image:
        repo = Repository(registry=host, repository=f"src/{name}{n}")
        layer = Descriptor(media_type=OCI_LAYER_GZIP, digest=digest_of(data), size=len(data))
        unsafe_perform_io(client.push_blob(repo, layer, _once(data)).unwrap())
        config_raw = json.dumps(
            {"architecture": "amd64", "os": "linux", "n": n, "set": name,
             "rootfs": {"type": "layers", "diff_ids": [str(layer.digest)]}}
        ).encode()  # fmt: skip
        config = Descriptor(
            media_type=OCI_CONFIG, digest=digest_of(config_raw), size=len(config_raw)
        )
        unsafe_perform_io(client.push_blob(repo, config, _once(config_raw)).unwrap())
        raw = encode_manifest(config, (layer,), OCI_MANIFEST)
        digest = unsafe_perform_io(client.put_manifest(repo, "v1", raw, OCI_MANIFEST).unwrap())
        return Image(
            f"{host}/src/{name}{n}", str(digest), OCI_MANIFEST, raw, (config, layer), config_raw
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda n: one(n, rng.randbytes(size)), range(count)))


def push_bundle(
    client: RegistryClient, host: str, name: str, images: list[Image], work: Path
) -> Bundle:
    bundle_dir = work / f"bundle-{name}"
    (bundle_dir / ".imgpkg").mkdir(parents=True)
    lock = "---\napiVersion: imgpkg.carvel.dev/v1alpha1\nimages:\n"
    lock += "".join(f"- image: {image.ref}\n" for image in images) + "kind: ImagesLock\n"
    (bundle_dir / ".imgpkg" / "images.yml").write_text(lock)
    ref = f"{host}/src/{name}-bundle:v1"
    run_timed([*CLI, "push", "-b", ref, "-f", str(bundle_dir)])
    got = unsafe_perform_io(client.get_manifest(parse_reference(ref).unwrap()).unwrap())
    manifest = parse_manifest(got.raw, "bundle", got.media_type).unwrap()
    config_raw = bytearray()
    repo = parse_reference(ref).unwrap().context()
    unsafe_perform_io(client.fetch_blob_to(repo, manifest.config, config_raw.extend).unwrap())
    itself = Image(
        f"{host}/src/{name}-bundle", str(got.digest), got.media_type, got.raw,
        (manifest.config, *manifest.layers), bytes(config_raw),
    )  # fmt: skip
    return Bundle(name=name, ref=ref, images=images, itself=itself)


def source_bundles(
    src: RegistryServer, work: Path, legs: set[str], *, images: int, mib: int, tiny: int
) -> dict[str, Bundle]:
    """The chosen legs' bundles pushed to ``src``: ``big`` (``images`` one-layer images,
    ``mib`` MB of layers) and ``tiny`` (``tiny`` images of 1 KiB)."""
    bundles: dict[str, Bundle] = {}
    with RegistryClient(RegistryOptions()) as client:
        if "big" in legs:
            made = populate_images(client, src.host, "big", images, mib * 1_000_000 // images)
            bundles["big"] = push_bundle(client, src.host, "big", made, work)
        if "tiny" in legs:
            made = populate_images(client, src.host, "tiny", tiny, 1024)
            bundles["tiny"] = push_bundle(client, src.host, "tiny", made, work)
    return bundles


def _blob_url(base: str, image: Image, desc: Descriptor) -> str:
    return f"{base}/v2/{image.repo.partition('/')[2]}/blobs/{desc.digest}"


def _unique_blobs(bundle: Bundle) -> list[tuple[Image, Descriptor]]:
    seen: set[str] = set()
    out: list[tuple[Image, Descriptor]] = []
    for image in bundle.all:
        for desc in image.blobs:
            if str(desc.digest) not in seen:
                seen.add(str(desc.digest))
                out.append((image, desc))
    return out


def relay_job(
    bundle: Bundle, src: RegistryServer, dst: RegistryServer, conc: int
) -> dict[str, object]:
    items = [
        {"src": _blob_url(src.url, image, desc), "dst": dst.url, "repo": "floor/all",
         "digest": str(desc.digest), "size": desc.size}
        for image, desc in _unique_blobs(bundle)
    ]  # fmt: skip
    manifests = [
        {"src": f"{src.url}/v2/{image.repo.partition('/')[2]}/manifests/{image.digest}",
         "dst": f"{dst.url}/v2/floor/all/manifests/{default_tag(parse_digest(image.digest))}",
         "media_type": image.media_type}
        for image in bundle.all
    ]  # fmt: skip
    return {"op": "relay", "concurrency": conc, "items": items, "manifests": manifests}


def parse_digest(text: str) -> Digest:
    return parse_digest_text(text).unwrap()


def download_job(bundle: Bundle, src: RegistryServer, out: Path, conc: int) -> dict[str, object]:
    items = []
    offset = 0
    for image, desc in _unique_blobs(bundle):
        items.append({"url": _blob_url(src.url, image, desc), "offset": offset})
        offset += desc.size
    return {"op": "download", "concurrency": conc, "items": items, "out": str(out), "total": offset}


def upload_job(
    bundle: Bundle, tar: Path, dst: RegistryServer, conc: int, config_bytes: dict[str, bytes]
) -> dict[str, object]:
    entries: dict[str, tuple[int, int]] = {}
    with tarfile.open(tar) as archive:
        for member in archive:
            entries[member.name] = (member.offset_data, member.size)
    items: list[dict[str, object]] = []
    for _image, desc in _unique_blobs(bundle):
        item: dict[str, object] = {"dst": dst.url, "repo": "floor/all",
                                   "digest": str(desc.digest), "size": desc.size}  # fmt: skip
        name = f"{desc.digest.algorithm}-{desc.digest.hex}.tar.gz"
        if name in entries:  # a layer: read from the tar
            item["offset"] = entries[name][0]
        else:  # a config: inline in the tar's manifest.json
            item["data"] = config_bytes[str(desc.digest)].hex()
        items.append(item)
    manifests = [
        {"dst": f"{dst.url}/v2/floor/all/manifests/{default_tag(parse_digest(image.digest))}",
         "media_type": image.media_type, "raw": image.raw.decode()}
        for image in bundle.all
    ]  # fmt: skip
    return {"op": "upload", "concurrency": conc, "file": str(tar), "items": items,
            "manifests": manifests}  # fmt: skip


def head_job(bundle: Bundle, dst: RegistryServer, conc: int) -> dict[str, object]:
    items = [
        f"{dst.url}/v2/floor/all/manifests/{default_tag(parse_digest(image.digest))}"
        for image in bundle.all
    ]
    return {"op": "head", "concurrency": conc, "items": items}


class Bench:
    def __init__(self, work: Path, stack: ExitStack, src: RegistryServer, conc: int) -> None:
        self.work = work
        self.stack = stack
        self.src = src
        self.conc = conc
        self.serial = 0

    def fresh(self) -> RegistryServer:
        self.serial += 1
        root = self.work / f"dst{self.serial}"
        return self.stack.enter_context(registry(root))

    def counted(self, servers: list[RegistryServer], run: Callable[[], Sample]) -> Sample:
        counter = Counter(servers)
        counter.start()
        sample = run()
        sample.requests = counter.count()
        return sample

    def ours_copy(
        self, args: list[str], dst: RegistryServer | None, *, store: Path | None = None
    ) -> Sample:
        """One timed ``copy``; ``store``: with the local store there (the default
        configuration) instead of without one."""
        servers = [self.src] if dst is None else [self.src, dst]
        command = [*CLI, "copy", *args, "--concurrency", str(self.conc)]
        env = None if store is None else with_store(store)
        return self.counted(servers, lambda: run_timed(command, env=env))

    def skopeo(self, pairs: list[tuple[str, str]], dst: RegistryServer | None, conc: int) -> Sample:
        def one(pair: tuple[str, str]) -> Sample:
            return run_timed(["skopeo", "copy", "--src-tls-verify=false",
                              "--dest-tls-verify=false", "--quiet", *pair])  # fmt: skip

        def run() -> Sample:
            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=conc) as pool:
                rss = max(s.max_rss_kib for s in pool.map(one, pairs))
            return Sample(seconds=time.perf_counter() - start, max_rss_kib=rss)

        servers = [self.src] if dst is None else [self.src, dst]
        return self.counted(servers, run)


def download_legs(b: Bench, bundle: Bundle, leg: Leg, n: int) -> Path:
    """A repo→tar leg's floor (the blobs into one file) and skopeo (into an OCI layout,
    returned for the caller to reuse or remove)."""
    out = b.work / f"floor{n}.bin"
    leg.add(
        "floor",
        b.counted([b.src], lambda: run_floor(download_job(bundle, b.src, out, b.conc), b.work)),
    )
    out.unlink()
    layout = b.work / f"layout-{bundle.name}{n}"
    leg.add("skopeo", b.skopeo(
        [(f"docker://{i.ref}", f"oci:{layout}:{i.repo.rpartition('/')[2]}") for i in bundle.all],
        None, 1))  # fmt: skip
    return layout


def round_big(b: Bench, bundle: Bundle, legs: dict[str, Leg], n: int) -> None:
    name = bundle.name
    # repo -> repo
    leg = legs[f"{name} repo→repo"]
    dst = b.fresh()
    leg.add("ours", b.ours_copy(["-b", bundle.ref, "--to-repo", f"{dst.host}/ours/all"], dst))
    leg.add(
        "floor",
        b.counted([b.src, dst], lambda: run_floor(relay_job(bundle, b.src, dst, b.conc), b.work)),
    )
    leg.add("skopeo", b.skopeo(
        [(f"docker://{i.ref}", f"docker://{dst.host}/skopeo/{i.repo.rpartition('/')[2]}")
         for i in bundle.all], dst, b.conc))  # fmt: skip
    # repo -> tar
    leg = legs[f"{name} repo→tar"]
    tar = b.work / f"{name}{n}.tar"
    leg.add("ours", b.ours_copy(["-b", bundle.ref, "--to-tar", str(tar)], None))
    layout = download_legs(b, bundle, leg, n)
    if f"{name} tar→repo" in legs:
        leg = legs[f"{name} tar→repo"]
        dst = b.fresh()
        leg.add("ours", b.ours_copy(["--tar", str(tar), "--to-repo", f"{dst.host}/ours/all"], dst))
        leg.add(
            "floor",
            b.counted(
                [dst],
                lambda: run_floor(upload_job(bundle, tar, dst, b.conc, bundle.configs), b.work),
            ),
        )
        leg.add("skopeo", b.skopeo(
            [(f"oci:{layout}:{i.repo.rpartition('/')[2]}",
              f"docker://{dst.host}/skopeo/{i.repo.rpartition('/')[2]}") for i in bundle.all],
            dst, b.conc))  # fmt: skip
    tar.unlink()
    shutil.rmtree(layout)


def round_tiny(b: Bench, bundle: Bundle, legs: dict[str, Leg], n: int) -> None:
    name = bundle.name
    leg = legs[f"{name} repo→repo"]
    present = legs[f"{name} repo→repo, all present"]
    dst = b.fresh()
    ours_args = ["-b", bundle.ref, "--to-repo", f"{dst.host}/ours/all"]
    leg.add("ours", b.ours_copy(ours_args, dst))
    present.add("ours", b.ours_copy(ours_args, dst))
    leg.add(
        "floor",
        b.counted([b.src, dst], lambda: run_floor(relay_job(bundle, b.src, dst, b.conc), b.work)),
    )
    present.add("floor", b.counted([dst], lambda: run_floor(head_job(bundle, dst, b.conc), b.work)))
    pairs = [(f"docker://{i.ref}", f"docker://{dst.host}/skopeo/{i.repo.rpartition('/')[2]}")
             for i in bundle.all]  # fmt: skip
    leg.add("skopeo", b.skopeo(pairs, dst, b.conc))
    present.add("skopeo", b.skopeo(pairs, dst, b.conc))
    # the default configuration: the local store on, cold for the first copy, then warm
    stored = legs[f"{name} repo→repo, store on (cold)"]
    warm = legs[f"{name} repo→repo, all present, store warm"]
    store = b.work / f"store-{name}{n}"
    dst = b.fresh()
    stored_args = ["-b", bundle.ref, "--to-repo", f"{dst.host}/ours/all"]
    stored.add("ours", b.ours_copy(stored_args, dst, store=store))
    warm.add("ours", b.ours_copy(stored_args, dst, store=store))
    stored.samples["floor"] = leg.samples["floor"]
    warm.samples["floor"] = present.samples["floor"]  # the same HEADs of a filled destination
    shutil.rmtree(store, ignore_errors=True)
    leg = legs[f"{name} repo→tar"]
    tar = b.work / f"{name}{n}.tar"
    leg.add("ours", b.ours_copy(["-b", bundle.ref, "--to-tar", str(tar)], None))
    tar.unlink()
    layout = download_legs(b, bundle, leg, n)
    shutil.rmtree(layout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--mib", type=int, default=150, help="MB of layers in the big bundle")
    parser.add_argument("--tiny", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=5)
    parser.add_argument("--legs", default="big,tiny")
    args = parser.parse_args()
    chosen = set(args.legs.split(","))
    work = Path(tempfile.mkdtemp(prefix="bench-copy-"))
    try:
        with ExitStack() as stack:
            src = stack.enter_context(registry(work / "src"))
            bundles = source_bundles(
                src, work, chosen, images=args.images, mib=args.mib, tiny=args.tiny
            )
            legs: dict[str, Leg] = {}
            for name, bundle in bundles.items():
                count = len(bundle.images)
                kinds = (["repo→repo", "repo→tar", "tar→repo"] if name == "big"
                         else ["repo→repo", "repo→repo, all present",
                               "repo→repo, store on (cold)", "repo→repo, all present, store warm",
                               "repo→tar"])  # fmt: skip
                for kind in kinds:
                    legs[f"{name} {kind}"] = Leg(f"{name} {kind}", images=count)
            bench = Bench(work, stack, src, args.concurrency)
            for n in range(args.rounds):
                if "big" in bundles:
                    round_big(bench, bundles["big"], legs, n)
                if "tiny" in bundles:
                    round_tiny(bench, bundles["tiny"], legs, n)
                print(f"round {n + 1}/{args.rounds} done", file=sys.stderr)
            for name, bundle in bundles.items():
                print(f"{name}: {len(bundle.images)} images + bundle, "
                      f"{bundle.blob_bytes / 1e6:.1f} MB of blobs")  # fmt: skip
            print_table(list(legs.values()), rounds=args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
