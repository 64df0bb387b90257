"""``push --layering=auto`` against ``single``: bytes re-uploaded after a small change,
and the cost of the first push.

Usage: python -m bench.layering [--mib 1024] [--rounds 3]

Builds a seeded mixed tree (``--mib`` MiB: YAML-like text and incompressible binaries
of many sizes, thousands of files, a few files above the large-file threshold, and
some files of exactly 1 MiB), starts a Debian ``docker-registry`` on loopback, then,
round by round (the two modes' order alternating between rounds):

1. pushes the tree with ``single`` and with ``auto``, each into a fresh repository,
   each ``imgpkg-pure push`` timed as its own process, start-up included;
2. rewrites one 1 MiB file (a different one each round) with new bytes of the same size;
3. pushes again, each mode into its own repository, and counts what was uploaded:
   the blobs whose uploads completed in the registry's access log
   (``PUT …/blobs/uploads/…?digest=…``), their sizes taken from the pushed manifest;
4. puts the file back.

Prints the medians (and the worst round) of the re-upload, as bytes and as a share of
the image's bytes, and the first-push times with auto / single.  It also prints what a
change to any one file below the large-file threshold would re-upload (its layer's
share of the image: the rule run in-process over the tree, sizes from the manifest), so
the figure does not rest on the few files the rounds change.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from returns.unsafe import unsafe_perform_io

from bench._common import CLI, registry, run_timed
from imgpkg_pure.layer import DEFAULT_TARGET, layer_recipes, plan_layer
from imgpkg_pure.store.files.tree import observe_inputs
from tests.registry_fixtures import RegistryServer

MIB = 1 << 20
MODES = ("single", "auto")
_UPLOAD = re.compile(r'"PUT /v2/([^ ]+)/blobs/uploads/[^ ?"]*\?[^ "]*digest=sha256(?::|%3A)(\w+)')

_WORDS = (
    "apiVersion", "kind", "metadata", "name", "namespace", "labels", "spec", "replicas",
    "selector", "template", "containers", "image", "ports", "containerPort", "env", "value",
    "resources", "limits", "requests", "cpu", "memory", "volumeMounts", "mountPath", "volumes",
    "configMap", "secretName", "service", "targetPort", "protocol",
)  # fmt: skip


def _text_corpus(rng: random.Random, size: int) -> bytes:
    """YAML-like lines (compresses about 4 times), sliced by the text files."""
    lines: list[str] = []
    length = 0
    while length < size:
        depth = "  " * rng.randrange(5)
        line = f"{depth}{rng.choice(_WORDS)}: {rng.choice(_WORDS)}-{rng.randrange(10**6)}\n"
        lines.append(line)
        length += len(line)
    return "".join(lines).encode()[:size]


def _log_uniform(rng: random.Random, low: int, high: int) -> int:
    return int(low * (high / low) ** rng.random())


def make_tree(root: Path, mib: int, seed: int = 16) -> tuple[int, int, list[Path]]:
    """The tree: (bytes, files, the 1 MiB files a round may change)."""
    rng = random.Random(seed)
    corpus = _text_corpus(rng, 8 * MIB)
    budget = mib * MIB
    written = 0
    count = 0
    targets: list[Path] = []

    def put(rel: str, data: bytes) -> Path:
        nonlocal written, count
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written += len(data)
        count += 1
        return path

    # A few large files (alone in their layers), then exactly-1 MiB files, then the mix.
    for i in range(max(1, mib // 200)):
        put(f"images/disk-{i}.raw", rng.randbytes(_log_uniform(rng, 16 * MIB, 48 * MIB)))
    for i in range(16):
        targets.append(put(f"pkg{(5 * i) % 23}/mod{i % 7}/data-{i:02}.bin", rng.randbytes(MIB)))
    index = 0
    while written < budget:
        directory = f"pkg{index % 23}/mod{index % 7}"
        if index % 2:
            size = min(_log_uniform(rng, 512, 256 * 1024), len(corpus))
            start = rng.randrange(len(corpus) - size + 1)
            header = f"# file {index}\n".encode()
            put(f"{directory}/conf-{index:05}.yml", header + corpus[start : start + size])
        else:
            put(
                f"{directory}/lib-{index:05}.so",
                rng.randbytes(_log_uniform(rng, 4 << 10, 2 * MIB)),
            )
        index += 1
    (root / "empty" / "cache").mkdir(parents=True)
    return written, count, targets


@dataclass
class Mode:
    name: str
    first_seconds: list[float] = field(default_factory=list)
    second_seconds: list[float] = field(default_factory=list)
    uploaded: list[int] = field(default_factory=list)
    uploaded_blobs: list[int] = field(default_factory=list)
    image_bytes: list[int] = field(default_factory=list)
    layers: list[int] = field(default_factory=list)


def _manifest(server: RegistryServer, repo: str) -> dict[str, Any]:
    with server.client() as client:
        got = client.get(
            f"/v2/{repo}/manifests/v1",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        got.raise_for_status()
        document: dict[str, Any] = got.json()
        return document


def _manifest_sizes(server: RegistryServer, repo: str) -> tuple[dict[str, int], int]:
    """Digest → size of the config and layers of ``repo:v1``; and how many layers."""
    document = _manifest(server, repo)
    blobs = [document["config"], *document["layers"]]
    return {blob["digest"]: blob["size"] for blob in blobs}, len(document["layers"])


def any_file_shares(tree: Path, layer_sizes: list[int]) -> list[float]:
    """For every file below the large-file threshold: the share (%) of the image that a
    change to it alone re-uploads, i.e. its layer's size, from the rule run in-process
    (``layer_recipes``) and the pushed manifest's layer sizes (the same order)."""
    inputs = unsafe_perform_io(observe_inputs([str(tree)]).unwrap())
    recipes = layer_recipes(plan_layer(inputs).unwrap(), "auto", bundle=False)
    assert len(recipes) == len(layer_sizes)
    total = sum(layer_sizes)
    return sorted(
        100 * size / total
        for recipe, size in zip(recipes, layer_sizes, strict=True)
        for member in recipe.members
        if not member.is_dir and member.tar_bytes < DEFAULT_TARGET
    )


def _uploaded(server: RegistryServer, since: int) -> set[str]:
    with server.log_path.open("rb") as handle:
        handle.seek(since)
        text = handle.read().decode(errors="replace")
    return {f"sha256:{match.group(2)}" for match in _UPLOAD.finditer(text)}


def _push(tree: Path, ref: str, mode: str) -> float:
    sample = run_timed([*CLI, "push", "-i", ref, "-f", str(tree), f"--layering={mode}"])
    return sample.seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-layering-"))
    try:
        size, files, targets = make_tree(work / "tree", args.mib)
        modes = {name: Mode(name) for name in MODES}
        layer_sizes: list[int] = []
        with registry(work / "registry") as server:
            for round_ in range(args.rounds):
                order = MODES if round_ % 2 == 0 else MODES[::-1]
                repos = {name: f"bench/layering-{name}-{round_}" for name in MODES}
                for name in order:
                    ref = f"{server.host}/{repos[name]}:v1"
                    modes[name].first_seconds.append(_push(work / "tree", ref, name))
                    if name == "auto" and not layer_sizes:
                        layer_sizes = [d["size"] for d in _manifest(server, repos[name])["layers"]]
                changed = targets[(7 * round_) % len(targets)]
                original = changed.read_bytes()
                changed.write_bytes(random.Random(round_).randbytes(len(original)))
                try:
                    for name in order:
                        ref = f"{server.host}/{repos[name]}:v1"
                        since = server.log_size()
                        modes[name].second_seconds.append(_push(work / "tree", ref, name))
                        sizes, layers = _manifest_sizes(server, repos[name])
                        uploaded = _uploaded(server, since)
                        assert uploaded <= set(sizes), (uploaded, sizes)
                        modes[name].uploaded.append(sum(sizes[d] for d in uploaded))
                        modes[name].uploaded_blobs.append(len(uploaded))
                        modes[name].image_bytes.append(sum(sizes.values()))
                        modes[name].layers.append(layers)
                finally:
                    changed.write_bytes(original)
        print(
            f"tree: {size / MIB:.0f} MiB in {files} files; one 1 MiB file changed per round; "
            f"{args.rounds} interleaved rounds, medians (worst round in brackets)"
        )
        print("| mode | layers | image MiB | blobs re-uploaded | re-upload MiB | re-upload % | "
              "first push s | second push s |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for mode in modes.values():
            shares = [
                100 * up / total for up, total in zip(mode.uploaded, mode.image_bytes, strict=True)
            ]
            print(
                f"| {mode.name} | {statistics.median(mode.layers):.0f} | "
                f"{statistics.median(mode.image_bytes) / MIB:.0f} | "
                f"{statistics.median(mode.uploaded_blobs):.0f} ({max(mode.uploaded_blobs)}) | "
                f"{statistics.median(mode.uploaded) / MIB:.1f} ({max(mode.uploaded) / MIB:.1f}) | "
                f"{statistics.median(shares):.2f} ({max(shares):.2f}) | "
                f"{statistics.median(mode.first_seconds):.2f} | "
                f"{statistics.median(mode.second_seconds):.2f} |"
            )
        shares = any_file_shares(work / "tree", layer_sizes)
        over = sum(share > 3 for share in shares)
        print(
            f"any one of the {len(shares)} files below {DEFAULT_TARGET >> 20} MiB changed alone "
            f"(from the rule and the layer sizes): median {statistics.median(shares):.2f}%, "
            f"p99 {shares[int(0.99 * len(shares))]:.2f}%, max {shares[-1]:.2f}%; "
            f"{over} files ({100 * over / len(shares):.2f}%) above 3%"
        )
        ratio = statistics.median(modes["auto"].first_seconds) / statistics.median(
            modes["single"].first_seconds
        )
        ratios = [
            a / s
            for a, s in zip(modes["auto"].first_seconds, modes["single"].first_seconds, strict=True)
        ]
        print(
            f"first push auto / single = {ratio:.2f} (ratio of medians; median of the per-round "
            f"ratios {statistics.median(ratios):.2f}; per round: "
            + ", ".join(f"{r:.2f}" for r in ratios)
            + "; goal ≤ 1.1)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
