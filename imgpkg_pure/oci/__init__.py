"""image-spec values (descriptors, manifests, indexes, configs) and their JSON codecs."""

from imgpkg_pure.oci.codec import (
    descriptor_object,
    encode_index,
    encode_manifest,
    parse_config,
    parse_descriptor_json,
    parse_index,
    parse_manifest,
    parse_manifest_or_index,
)
from imgpkg_pure.oci.values import (
    EMPTY_ANNOTATIONS,
    Annotations,
    Descriptor,
    ImageConfig,
    ImageIndex,
    Manifest,
    Platform,
)

__all__ = [
    "EMPTY_ANNOTATIONS",
    "Annotations",
    "Descriptor",
    "ImageConfig",
    "ImageIndex",
    "Manifest",
    "Platform",
    "descriptor_object",
    "encode_index",
    "encode_manifest",
    "parse_config",
    "parse_descriptor_json",
    "parse_index",
    "parse_manifest",
    "parse_manifest_or_index",
]
