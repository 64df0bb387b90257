"""The config and manifest imgpkg push writes around its single layer (reference §3.6).

The bytes are exactly ggcr's ``mutate.Append(empty.Image, layer)`` output with
imgpkg's history entry and optional labels: Docker schema 2 media types,
compact Go JSON, labels sorted by key, no timestamps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import final

from attrs import frozen

from imgpkg_pure.digest import Digest, digest_of
from imgpkg_pure.media_types import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
)
from imgpkg_pure.oci.codec import encode_manifest
from imgpkg_pure.oci.gojson import GoObject, GoValue, encode_bytes
from imgpkg_pure.oci.values import Descriptor

_ZERO_TIME = "0001-01-01T00:00:00Z"


@final
@frozen(kw_only=True)
class MediaTypeSet:
    """The media types an authored image uses for its manifest, config and layer."""

    name: str
    manifest: str
    config: str
    layer: str


#: imgpkg's choice for registries (§3.6): Docker schema 2.
DOCKER_TYPES = MediaTypeSet(
    name="docker", manifest=DOCKER_MANIFEST, config=DOCKER_CONFIG, layer=DOCKER_LAYER_GZIP
)
#: For OCI image layouts: OCI readers such as skopeo's ``oci:`` transport only
#: index OCI manifest types there.  The config and layer bytes are the same.
OCI_TYPES = MediaTypeSet(name="oci", manifest=OCI_MANIFEST, config=OCI_CONFIG, layer=OCI_LAYER_GZIP)
MEDIA_TYPE_SETS = {t.name: t for t in (DOCKER_TYPES, OCI_TYPES)}


def imgpkg_config_bytes(diff_id: Digest, labels: Mapping[str, str]) -> bytes:
    """The image config of an imgpkg-pushed image, byte for byte."""
    config: GoValue = {"Labels": dict(labels)} if labels else GoObject([])
    history = GoObject([("author", "imgpkg"), ("created", _ZERO_TIME), ("created_by", "imgpkg")])
    return encode_bytes(
        GoObject(
            [
                ("architecture", ""),
                ("created", _ZERO_TIME),
                ("history", [history]),
                ("os", ""),
                ("rootfs", GoObject([("type", "layers"), ("diff_ids", [str(diff_id)])])),
                ("config", config),
            ]
        )
    )


@final
@frozen(kw_only=True)
class BuiltImage:
    """A single-layer image whose config and manifest were authored here."""

    config: Descriptor
    config_raw: bytes
    layer: Descriptor
    diff_id: Digest
    manifest: Descriptor
    manifest_raw: bytes


def build_image(
    diff_id: Digest,
    layer_digest: Digest,
    layer_size: int,
    labels: Mapping[str, str],
    media_types: MediaTypeSet = DOCKER_TYPES,
) -> BuiltImage:
    """Author the config and manifest for one gzip layer, as imgpkg push does."""
    config_raw = imgpkg_config_bytes(diff_id, labels)
    config = Descriptor(
        media_type=media_types.config, digest=digest_of(config_raw), size=len(config_raw)
    )
    layer = Descriptor(media_type=media_types.layer, digest=layer_digest, size=layer_size)
    manifest_raw = encode_manifest(config, (layer,), media_types.manifest)
    manifest = Descriptor(
        media_type=media_types.manifest, digest=digest_of(manifest_raw), size=len(manifest_raw)
    )
    return BuiltImage(
        config=config,
        config_raw=config_raw,
        layer=layer,
        diff_id=diff_id,
        manifest=manifest,
        manifest_raw=manifest_raw,
    )
