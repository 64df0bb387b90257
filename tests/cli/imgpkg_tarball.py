"""Test helper: put the content of an imgpkg ``--to-tar`` tarball into one repository.

This is a minimal reader of imgpkg's tarball format (reference §2.8) for the
tests only — every image and index by digest into one repository, as
``imgpkg copy --tar … --to-repo`` places them, without locations images.  It
lets the pull tests run on content the real imgpkg wrote.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import parse_digest
from imgpkg_pure.oci.codec import parse_manifest_or_index
from imgpkg_pure.oci.values import Descriptor, Manifest
from imgpkg_pure.reference import Repository
from imgpkg_pure.store.registry import RegistryClient


def _flatten(element: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    if element.get("Image"):
        yield "image", element["Image"]
    if element.get("ImageIndex"):
        yield from _index(element["ImageIndex"])


def _index(index: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for child in index.get("Images") or ():
        yield "image", child
    for child in index.get("Indexes") or ():
        yield from _index(child)
    yield "index", index


def _chunks(data: bytes) -> Callable[[], Iterable[bytes]]:
    return lambda: (data,)


def upload_tarball(tar_path: Path, client: RegistryClient, repo: Repository) -> list[str]:
    """Push every blob, manifest and index of the tarball into ``repo``; their digests."""
    pushed: list[str] = []
    with tarfile.open(tar_path) as tar:
        handle = tar.extractfile("manifest.json")
        assert handle is not None
        elements = json.load(handle)
        for kind, item in (pair for element in elements for pair in _flatten(element)):
            if kind == "index":
                raw = item["Raw"].encode()
                mt = item["MediaType"]
                digest = parse_digest(item["Digest"]).unwrap()
            else:
                config_raw = item["Config"]["Raw"].encode()
                manifest = item["Manifest"]
                raw, mt = manifest["Raw"].encode(), manifest["MediaType"]
                digest = parse_digest(manifest["Digest"]).unwrap()
                parsed = parse_manifest_or_index(raw, "tar manifest", mt).unwrap()
                assert isinstance(parsed, Manifest)
                config: Descriptor = parsed.config
                unsafe_perform_io(client.push_blob(repo, config, _chunks(config_raw)).unwrap())
                for layer in parsed.layers:
                    member = tar.extractfile(f"{layer.digest.tag_form}.tar.gz")
                    assert member is not None
                    data = member.read()
                    unsafe_perform_io(client.push_blob(repo, layer, _chunks(data)).unwrap())
            unsafe_perform_io(client.put_manifest(repo, digest, raw, mt).unwrap())
            pushed.append(str(digest))
    return pushed
