"""Interop: skopeo reads a ``LocalStore`` as an OCI image layout, and writes one we read.

Fails (never skips) when skopeo is missing: ``scripts/test.sh`` installs it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from imgpkg_pure.media_types import OCI_MANIFEST
from imgpkg_pure.store.content.local import LocalStore
from tests.contracts.store_contract import ok, store_tiny_image


def skopeo(*args: str) -> bytes:
    binary = shutil.which("skopeo")
    assert binary is not None, "skopeo is not installed (scripts/test.sh installs it)"
    done = subprocess.run(
        [binary, "--insecure-policy", *args], capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def test_skopeo_reads_and_copies_a_local_store_image(tmp_path: Path) -> None:
    root = tmp_path / "layout"
    store = ok(LocalStore.at(root))
    manifest, config, layer = store_tiny_image(store)
    ok(store.set_root("v1", manifest))

    raw = skopeo("inspect", "--raw", f"oci:{root}:v1")
    assert raw == ok(store.read_bytes(manifest.digest))

    inspected = json.loads(skopeo("inspect", f"oci:{root}:v1"))
    assert inspected["Digest"] == str(manifest.digest)
    assert inspected["Layers"] == [str(layer.digest)]
    assert (inspected["Architecture"], inspected["Os"]) == ("amd64", "linux")

    out = tmp_path / "copied"
    skopeo("copy", f"oci:{root}:v1", f"dir:{out}")
    assert (out / "manifest.json").read_bytes() == raw
    for blob in (config, layer):
        assert (out / blob.digest.hex).read_bytes() == ok(store.read_bytes(blob.digest))

    # the other way: skopeo writes a second root into our layout, and we read it
    skopeo("copy", f"dir:{out}", f"oci:{root}:v2")
    again = ok(LocalStore.at(root))
    v2 = ok(again.resolve("v2"))
    assert v2.media_type == OCI_MANIFEST
    assert v2.digest == manifest.digest
    assert ok(again.resolve("v1")).digest == manifest.digest
    report = ok(again.verify())
    assert report.ok, report
