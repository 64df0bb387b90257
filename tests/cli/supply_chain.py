"""Test content for referrers and platforms, pushed with plain HTTP to a real registry.

Images with OCI media types whose one layer holds ``platform.txt`` (so a pull shows
which child it extracted), image indexes of them, and artefacts attached to a
manifest through ``subject`` (a signature, an SBOM, an attestation of the SBOM), each
an OCI image manifest with ``artifactType``, the empty config and one layer.  Where
the registry has no referrers API the artefact is also listed in the referrers tag
schema's index (``sha256-<hex>``), as cosign and oras do there.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from attrs import frozen

from tests.cli.helpers import run_cli

OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY: Final = "application/vnd.oci.empty.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
OCI_LAYER: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
SIGNATURE: Final = "application/vnd.dev.cosign.artifact.sig.v1+json"
SBOM: Final = "application/spdx+json"
ATTESTATION: Final = "application/vnd.in-toto+json"
ACCEPT: Final = ", ".join(
    (
        OCI_MANIFEST,
        OCI_INDEX,
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
)


@frozen
class Pushed:
    """A manifest as pushed: its descriptor (as a JSON object) and its bytes."""

    descriptor: dict[str, Any]
    raw: bytes

    @property
    def digest(self) -> str:
        return str(self.descriptor["digest"])

    @property
    def hex(self) -> str:
        return self.digest.split(":", 1)[1]


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(http: httpx.Client, repo: str, data: bytes, media_type: str) -> dict[str, Any]:
    """A monolithic upload (``POST`` then ``PUT ?digest=``); the blob's descriptor."""
    digest = _digest(data)
    started = http.post(f"/v2/{repo}/blobs/uploads/")
    started.raise_for_status()
    location = started.headers["Location"]
    joined = f"{location}{'&' if '?' in location else '?'}digest={digest}"
    done = http.put(joined, content=data, headers={"Content-Type": "application/octet-stream"})
    done.raise_for_status()
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def put_manifest(
    http: httpx.Client, repo: str, ref: str | None, document: dict[str, Any]
) -> Pushed:
    """``PUT`` a manifest or index (by digest, and by ``ref`` too when given)."""
    raw = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    media_type = str(document["mediaType"])
    digest = _digest(raw)
    for target in (digest, ref) if ref else (digest,):
        put = http.put(
            f"/v2/{repo}/manifests/{target}", content=raw, headers={"Content-Type": media_type}
        )
        put.raise_for_status()
    return Pushed(descriptor={"mediaType": media_type, "digest": digest, "size": len(raw)}, raw=raw)


def layer_with(files: dict[str, bytes]) -> bytes:
    """A gzipped tar of ``files`` (mode 0644, mtime 0)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0)


def push_image(
    http: httpx.Client, repo: str, ref: str | None, *, os: str, arch: str, variant: str = ""
) -> Pushed:
    """An OCI image for one platform: config ``os``/``architecture``, ``platform.txt``."""
    platform = "/".join(part for part in (os, arch, variant) if part)
    config: dict[str, Any] = {
        "architecture": arch,
        "os": os,
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    if variant:
        config["variant"] = variant
    layer_tar = layer_with({"platform.txt": platform.encode()})
    config["rootfs"]["diff_ids"] = [_digest(gzip.decompress(layer_tar))]
    config_raw = json.dumps(config, sort_keys=True).encode()
    return put_manifest(
        http,
        repo,
        ref,
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": push_blob(http, repo, config_raw, "application/vnd.oci.image.config.v1+json"),
            "layers": [
                push_blob(http, repo, layer_tar, "application/vnd.oci.image.layer.v1.tar+gzip")
            ],
        },
    )


def push_index(
    http: httpx.Client, repo: str, ref: str | None, children: list[tuple[Pushed, dict[str, str]]]
) -> Pushed:
    """An OCI image index of ``children`` (each with its platform object)."""
    manifests = [dict(child.descriptor, platform=platform) for child, platform in children]
    return put_manifest(
        http, repo, ref, {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    )


def multi_platform(http: httpx.Client, repo: str, ref: str | None) -> tuple[Pushed, list[Pushed]]:
    """A 3-platform index (linux/amd64, linux/arm64, linux/arm/v7) and its children."""
    platforms = [("linux", "amd64", ""), ("linux", "arm64", ""), ("linux", "arm", "v7")]
    children = [push_image(http, repo, None, os=o, arch=a, variant=v) for o, a, v in platforms]
    objects = [
        {"architecture": a, "os": o, **({"variant": v} if v else {})} for o, a, v in platforms
    ]
    return push_index(http, repo, ref, list(zip(children, objects, strict=True))), children


def attach(
    http: httpx.Client,
    repo: str,
    subject: Pushed,
    artifact_type: str,
    payload: bytes,
    *,
    fallback: bool,
    annotations: dict[str, str] | None = None,
) -> Pushed:
    """An artefact whose ``subject`` is ``subject``; with ``fallback`` also appended to the
    tag schema's index ``sha256-<hex>`` (the registry has no referrers API)."""
    empty = push_blob(http, repo, b"{}", OCI_EMPTY)
    layer = push_blob(http, repo, payload, artifact_type)
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": empty,
        "layers": [layer],
        "subject": subject.descriptor,
    }
    if annotations:
        document["annotations"] = annotations
    pushed = put_manifest(http, repo, None, document)
    if fallback:
        entry = dict(pushed.descriptor, artifactType=artifact_type)
        if annotations:
            entry["annotations"] = annotations
        add_to_fallback(http, repo, subject.digest, entry)
    return pushed


def fallback_tag(digest: str) -> str:
    return digest.replace(":", "-")


def fallback_index(http: httpx.Client, repo: str, digest: str) -> dict[str, Any] | None:
    """The tag schema's index of ``digest`` in ``repo``, or None."""
    got = http.get(f"/v2/{repo}/manifests/{fallback_tag(digest)}", headers={"Accept": ACCEPT})
    if got.status_code == 404:
        return None
    got.raise_for_status()
    value: dict[str, Any] = got.json()
    return value


def add_to_fallback(http: httpx.Client, repo: str, digest: str, entry: dict[str, Any]) -> None:
    index = fallback_index(http, repo, digest) or {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [],
    }
    index["manifests"].append(entry)
    put_manifest(http, repo, fallback_tag(digest), index)


def tags(http: httpx.Client, repo: str) -> list[str]:
    listed = http.get(f"/v2/{repo}/tags/list")
    if listed.status_code == 404:  # distribution: a repository with no tag is unknown here
        return []
    listed.raise_for_status()
    return sorted(listed.json().get("tags") or [])


def manifest(http: httpx.Client, repo: str, ref: str) -> httpx.Response:
    return http.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT})


def push_bundle(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, where: str, images: list[str]
) -> None:
    """``imgpkg-pure push -b where`` of a bundle whose ImagesLock lists ``images``."""
    root = tmp_path / "bundle-files"
    (root / ".imgpkg").mkdir(parents=True)
    listed = "".join(f"- image: {image}\n" for image in images)
    (root / ".imgpkg" / "images.yml").write_text(
        f"---\napiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImagesLock\nimages:\n{listed}"
    )
    (root / "config.yml").write_text("replicas: 1\n")
    code, _, stderr = run_cli(capsys, "push", "-b", where, "-f", str(root))
    assert code == 0, stderr
