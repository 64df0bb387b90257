"""The OCI codecs on real documents (from imgpkg's tarballs) and on broken ones."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from returns.result import Failure

from imgpkg_pure.digest import digest_of
from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.media_types import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
from imgpkg_pure.oci.codec import (
    declared_media_type,
    document_media_type,
    parse_config,
    parse_index,
    parse_manifest,
    parse_manifest_or_index,
)
from imgpkg_pure.oci.values import ImageIndex, Manifest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "imgpkg"


def _documents() -> Iterator[tuple[str, dict[str, Any]]]:
    for name in ("image", "bundle", "nested-bundle"):
        with tarfile.open(FIXTURES / f"{name}.tar") as tar:
            handle = tar.extractfile("manifest.json")
            assert handle is not None
            for element in json.load(handle):
                yield from _flatten(name, element["Image"], element["ImageIndex"])


def _flatten(
    name: str, image: dict[str, Any] | None, index: dict[str, Any] | None
) -> Iterator[tuple[str, dict[str, Any]]]:
    if image is not None:
        yield name, {"kind": "image", **image}
    if index is not None:
        yield name, {"kind": "index", **index}
        for child in index.get("Images") or ():
            yield name, {"kind": "image", **child}


DOCUMENTS = list(_documents())
EXPECTED = {
    image["manifest_digest"]: image
    for name in ("image", "bundle", "nested-bundle")
    for image in json.loads((FIXTURES / "expected" / f"{name}.json").read_text())["images"]
    if "manifest_digest" in image
}


@pytest.mark.parametrize(("tar", "item"), DOCUMENTS)
def test_imgpkg_documents_parse_with_their_digests(tar: str, item: dict[str, Any]) -> None:
    if item["kind"] == "index":
        raw = item["Raw"].encode()
        index = parse_index(raw, f"{tar}: index").unwrap()
        assert str(index.digest) == item["Digest"]
        assert index.raw == raw
        assert len(index.manifests) == 2
        assert {str(m.platform) for m in index.manifests} == {"linux/amd64", "linux/arm64/v8"}
        return
    raw = item["Manifest"]["Raw"].encode()
    manifest = parse_manifest(raw, f"{tar}: manifest", item["Manifest"]["MediaType"]).unwrap()
    assert str(manifest.digest) == item["Manifest"]["Digest"]
    assert [str(layer.digest) for layer in manifest.layers] == [
        layer["Digest"] for layer in item["Layers"]
    ]
    config_raw = item["Config"]["Raw"].encode()
    config = parse_config(config_raw, f"{tar}: config").unwrap()
    assert config.digest == manifest.config.digest == digest_of(config_raw)
    assert [str(d) for d in config.diff_ids] == [layer["DiffID"] for layer in item["Layers"]]
    expected = EXPECTED.get(item["Manifest"]["Digest"])
    if expected is not None:
        assert config.labels.as_dict() == (expected["config_labels"] or {})
        assert config.is_bundle == (expected["kind"] == "bundle")


def _raw(item: dict[str, Any]) -> bytes:
    text = item["Raw"] if item["kind"] == "index" else item["Manifest"]["Raw"]
    return str(text).encode()


def test_dispatch_by_media_type() -> None:
    kinds = {type(parse_manifest_or_index(_raw(item), "x").unwrap()) for _, item in DOCUMENTS}
    assert kinds == {Manifest, ImageIndex}


@pytest.mark.parametrize(
    ("raw", "declared", "served"),
    [
        (b'{"mediaType": "%s", "manifests": []}' % DOCKER_MANIFEST.encode(), DOCKER_MANIFEST,
         DOCKER_MANIFEST),
        (b'{"mediaType": "", "manifests": []}', None, OCI_INDEX),
        (b'{"mediaType": 2, "layers": []}', None, OCI_MANIFEST),
        (b'{"manifests": []}', None, OCI_INDEX),
        (b'["manifests"]', None, OCI_MANIFEST),
        (b"{", None, OCI_MANIFEST),
        (b"\xff", None, OCI_MANIFEST),
    ],
)  # fmt: skip
def test_a_documents_own_media_type(raw: bytes, declared: str | None, served: str) -> None:
    assert declared_media_type(raw) == declared
    assert document_media_type(raw) == served


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{", "$: not valid JSON"),
        (b"[]", "$: expected an object"),
        (b'{"schemaVersion": 1, "layers": []}', "$.schemaVersion: expected 2"),
        (
            b'{"schemaVersion": 2, "mediaType": "text/plain"}',
            "$.mediaType: 'text/plain' is not an image manifest media type",
        ),
        (b'{"schemaVersion": 2, "layers": {}}', "$.layers: expected a list"),
        (
            b'{"schemaVersion": 2, "config": {"mediaType": "x", "size": 1, "digest": "sha256:AB"},'
            b' "layers": []}',
            "$.config.digest: encoded part must be lowercase hex",
        ),
        (
            b'{"schemaVersion": 2, "config": {"mediaType": "x", "size": -1, "digest": "sha256:'
            + b"0" * 64
            + b'"}, "layers": []}',
            "$.config.size: must not be negative",
        ),
        (
            b'{"schemaVersion": 2, "config": {"mediaType": "x", "size": 1, "digest": "sha256:'
            + b"0" * 64
            + b'", "data": "YQ=="}, "layers": []}',
            "$.config.data: does not match the descriptor's size and digest",
        ),
    ],
)
def test_malformed_manifests_name_the_field(raw: bytes, reason: str) -> None:
    result = parse_manifest(raw, "manifest sha256:x")
    assert isinstance(result, Failure)
    error = result.failure()
    assert isinstance(error, MalformedDocument)
    assert error.message.startswith(f"manifest sha256:x: {reason}")
