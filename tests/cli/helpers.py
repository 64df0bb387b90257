"""Helpers for the command-line tests: run the CLI in-process, make trees, read layouts."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

from imgpkg_pure.store.cli import main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "imgpkg"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``imgpkg-pure ARGS`` in this process; (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def copy_fixture(name: str, dest: Path) -> Path:
    """Copy ``src/<name>`` with the modes imgpkg pushed it with (files 0644; scripts, dirs 0755)."""
    target = dest / name
    shutil.copytree(FIXTURES / "src" / name, target)
    for root, dirs, files in os.walk(target):
        os.chmod(root, 0o755)
        for d in dirs:
            os.chmod(Path(root) / d, 0o755)
        for f in files:
            os.chmod(Path(root) / f, 0o755 if f.endswith(".sh") else 0o644)
    return target


def write_images_lock(bundle: Path, refs: Iterable[str]) -> Path:
    """``bundle/.imgpkg/images.yml``: an ImagesLock of ``refs``, as imgpkg writes one; the
    bundle's directory."""
    (bundle / ".imgpkg").mkdir(parents=True, exist_ok=True)
    (bundle / ".imgpkg" / "images.yml").write_text(
        "---\napiVersion: imgpkg.carvel.dev/v1alpha1\nimages:\n"
        + "".join(f"- image: {ref}\n" for ref in refs)
        + "kind: ImagesLock\n"
    )
    return bundle


def make_tree(root: Path, files: Mapping[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def stream_bytes(seed: str, size: int) -> bytes:
    """Deterministic pseudo-random bytes (sha256 in counter mode; stable across Pythons)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def stream_text(seed: str, size: int) -> bytes:
    """Deterministic YAML-like text that compresses like real config."""
    lines = []
    total = 0
    counter = 0
    while total < size:
        h = hashlib.sha256(f"{seed}:{counter}".encode()).hexdigest()
        line = f"  key{counter % 97}: value-{h[:8]} # sha256:{h}\n"
        lines.append(line)
        total += len(line)
        counter += 1
    return "".join(lines).encode()[:size]


class Layout:
    """Read-only view of an OCI image layout directory, for assertions."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def blob(self, digest: str) -> bytes:
        alg, hexpart = digest.split(":")
        data = (self.root / "blobs" / alg / hexpart).read_bytes()
        assert hashlib.new(alg, data).hexdigest() == hexpart
        return data

    def index(self) -> dict[str, object]:
        value = json.loads((self.root / "index.json").read_text())
        assert isinstance(value, dict)
        return value

    def root_digest(self, name: str) -> str:
        manifests = self.index()["manifests"]
        assert isinstance(manifests, list)
        for entry in manifests:
            if entry["annotations"]["org.opencontainers.image.ref.name"] == name:
                return str(entry["digest"])
        raise AssertionError(f"no root {name}")

    def manifest(self, name: str) -> dict[str, object]:
        value = json.loads(self.blob(self.root_digest(name)))
        assert isinstance(value, dict)
        return value

    def layer_members(self, name: str) -> dict[str, tuple[int, bytes | None]]:
        """name → (mode, content or None for dirs) of the single layer of root ``name``."""
        manifest = self.manifest(name)
        layers = manifest["layers"]
        assert isinstance(layers, list) and len(layers) == 1
        data = gzip.decompress(self.blob(layers[0]["digest"]))
        out: dict[str, tuple[int, bytes | None]] = {}
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar.getmembers():
                handle = tar.extractfile(member) if member.isfile() else None
                out[member.name] = (member.mode, handle.read() if handle else None)
        return out
