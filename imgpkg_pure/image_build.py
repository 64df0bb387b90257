"""The config and manifest imgpkg push writes around its layer (reference §3.6).

The bytes are exactly ggcr's ``mutate.Append(empty.Image, layer)`` output with
imgpkg's history entry and optional labels: Docker schema 2 media types,
compact Go JSON, labels sorted by key, no timestamps.  A push with
``--layering=auto`` has several layers: ggcr's ``mutate.Append`` of them all,
one diffID and one (identical) history entry per layer, so one layer gives
imgpkg's bytes exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def imgpkg_config_bytes(diff_ids: Digest | Sequence[Digest], labels: Mapping[str, str]) -> bytes:
    """The image config of an imgpkg-pushed image, byte for byte (one diffID per layer)."""
    layers = (diff_ids,) if isinstance(diff_ids, Digest) else tuple(diff_ids)
    config: GoValue = {"Labels": dict(labels)} if labels else GoObject([])
    history = GoObject([("author", "imgpkg"), ("created", _ZERO_TIME), ("created_by", "imgpkg")])
    return encode_bytes(
        GoObject(
            [
                ("architecture", ""),
                ("created", _ZERO_TIME),
                ("history", [history] * len(layers)),
                ("os", ""),
                (
                    "rootfs",
                    GoObject([("type", "layers"), ("diff_ids", [str(d) for d in layers])]),
                ),
                ("config", config),
            ]
        )
    )


@final
@frozen(kw_only=True)
class ImageLayer:
    """One gzip layer as built: the sha256 of its tar (diffID), its blob digest and size."""

    diff_id: Digest
    digest: Digest
    size: int


@final
@frozen(kw_only=True)
class BuiltImage:
    """An image whose config and manifest were authored here; ``layers`` bottom first."""

    config: Descriptor
    config_raw: bytes
    layers: tuple[Descriptor, ...]
    diff_ids: tuple[Digest, ...]
    manifest: Descriptor
    manifest_raw: bytes

    @property
    def layer(self) -> Descriptor:
        """The layer of a single-layer image (imgpkg's push, a locations image)."""
        if len(self.layers) != 1:
            raise ValueError(f"image {self.manifest.digest} has {len(self.layers)} layers")
        return self.layers[0]

    @property
    def diff_id(self) -> Digest:
        """The diffID of a single-layer image."""
        if len(self.diff_ids) != 1:
            raise ValueError(f"image {self.manifest.digest} has {len(self.diff_ids)} layers")
        return self.diff_ids[0]


def build_layered_image(
    layers: Sequence[ImageLayer],
    labels: Mapping[str, str],
    media_types: MediaTypeSet = DOCKER_TYPES,
) -> BuiltImage:
    """Author the config and manifest for gzip layers (bottom first), as imgpkg push does."""
    config_raw = imgpkg_config_bytes([layer.diff_id for layer in layers], labels)
    config = Descriptor(
        media_type=media_types.config, digest=digest_of(config_raw), size=len(config_raw)
    )
    descriptors = tuple(
        Descriptor(media_type=media_types.layer, digest=layer.digest, size=layer.size)
        for layer in layers
    )
    manifest_raw = encode_manifest(config, descriptors, media_types.manifest)
    manifest = Descriptor(
        media_type=media_types.manifest, digest=digest_of(manifest_raw), size=len(manifest_raw)
    )
    return BuiltImage(
        config=config,
        config_raw=config_raw,
        layers=descriptors,
        diff_ids=tuple(layer.diff_id for layer in layers),
        manifest=manifest,
        manifest_raw=manifest_raw,
    )


def build_image(
    diff_id: Digest,
    layer_digest: Digest,
    layer_size: int,
    labels: Mapping[str, str],
    media_types: MediaTypeSet = DOCKER_TYPES,
) -> BuiltImage:
    """Author the config and manifest for one gzip layer, as imgpkg push does."""
    layer = ImageLayer(diff_id=diff_id, digest=layer_digest, size=layer_size)
    return build_layered_image((layer,), labels, media_types)
