"""Pull, side by side in one run: imgpkg-pure, the physical floor (``bench.floor``), skopeo.

Usage: python -m bench.pull [--mib 256] [--files 200] [--rounds 3]

Pushes one image of a seeded tree (``bench.push.make_tree``: YAML-like text and
incompressible binaries) to a loopback registry with ``imgpkg-pure push -i``, then
times, interleaved round by round, into a fresh output directory each time:

* ``imgpkg-pure pull -i … -o DIR`` (manifest, config, the layer verified, extracted);
* the floor: one GET of the layer streamed through isal's gunzip into a tar reader
  writing the files (no verification, no temporary copy);
* ``skopeo copy docker://… dir:DIR`` (fetch and verify only, no extraction: a reference
  for the download part).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from returns.unsafe import unsafe_perform_io

from bench._common import CLI, Counter, Leg, print_table, registry, run_floor, run_timed
from bench.push import make_tree, tree_arguments
from imgpkg_pure.oci.codec import parse_manifest
from imgpkg_pure.reference import parse_reference
from imgpkg_pure.store.registry import RegistryClient, RegistryOptions


def main() -> None:
    args = tree_arguments()
    work = Path(tempfile.mkdtemp(prefix="bench-pull-"))
    try:
        with registry(work / "registry") as server:
            size = make_tree(work / "tree", args.mib, args.files)
            ref = f"{server.host}/pull/tree:v1"
            run_timed([*CLI, "push", "-i", ref, "-f", str(work / "tree")])
            with RegistryClient(RegistryOptions()) as client:
                got = unsafe_perform_io(client.get_manifest(parse_reference(ref).unwrap()).unwrap())
            layer = parse_manifest(got.raw, "image", got.media_type).unwrap().layers[0]
            url = f"{server.url}/v2/pull/tree/blobs/{layer.digest}"
            leg = Leg(f"pull one image, {size / 1e6:.0f} MB tree ({layer.size / 1e6:.0f} MB gz)", 1)
            counter = Counter([server])
            for n in range(args.rounds):
                out = work / f"out{n}"
                counter.start()
                sample = run_timed([*CLI, "pull", "-i", ref, "-o", str(out / "ours")])
                sample.requests = counter.count()
                leg.add("ours", sample)
                counter.start()
                job: dict[str, object] = {"op": "pull", "url": url, "out": str(out / "floor")}
                sample = run_floor(job, work)
                sample.requests = counter.count()
                leg.add("floor", sample)
                sample = run_timed(
                    ["skopeo", "copy", "--src-tls-verify=false", "--quiet",
                     f"docker://{ref}", f"dir:{out / 'skopeo'}"]
                )  # fmt: skip
                leg.add("skopeo", sample)
                shutil.rmtree(out)
                print(f"round {n + 1}/{args.rounds} done", file=sys.stderr)
            print_table([leg], rounds=args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
