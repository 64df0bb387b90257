"""Media types (image-spec ``media-types.md``) and imgpkg's labels and tags.

imgpkg pushes Docker schema 2 media types (reference §3.6); it reads both
Docker and OCI.  The three non-distributable layer types are those for which
ggcr's ``IsDistributable()`` is false (reference §2.8).

How a layer is compressed (``Compression``) is decided as go-containerregistry
decides it when it reads a layer (``partial.compressedLayerExtender.Uncompressed``,
``internal/compression.PeekCompression``): by the blob's first bytes, the gzip
or zstd magic number, else a plain tar.  The media type only says what the
layer claims to be (``declared_compression``); ``layer_compression`` keeps both,
so that an error can say when the two disagree (``docs/formats/extraction.md``).
"""

from __future__ import annotations

import enum
from typing import Final

from attrs import frozen

OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
OCI_LAYER: Final = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD: Final = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDIST_ZSTD: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
OCI_EMPTY: Final = "application/vnd.oci.empty.v1+json"

DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP: Final = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN: Final = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
#: Docker's (rare) uncompressed layer type (ggcr's ``DockerUncompressedLayer``).
DOCKER_LAYER_TAR: Final = "application/vnd.docker.image.rootfs.diff.tar"

MANIFEST_TYPES: Final = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES: Final = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
NON_DISTRIBUTABLE: Final = frozenset(
    {DOCKER_LAYER_FOREIGN, OCI_LAYER_NONDIST, OCI_LAYER_NONDIST_GZIP}
)
LAYER_TYPES: Final = frozenset(
    {
        OCI_LAYER,
        OCI_LAYER_GZIP,
        OCI_LAYER_ZSTD,
        OCI_LAYER_NONDIST,
        OCI_LAYER_NONDIST_GZIP,
        DOCKER_LAYER_GZIP,
        DOCKER_LAYER_FOREIGN,
    }
)

#: Layer types by the compression they declare (image-spec ``layer.md``, ``media-types.md``).
GZIP_LAYER_TYPES: Final = frozenset(
    {OCI_LAYER_GZIP, OCI_LAYER_NONDIST_GZIP, DOCKER_LAYER_GZIP, DOCKER_LAYER_FOREIGN}
)
ZSTD_LAYER_TYPES: Final = frozenset({OCI_LAYER_ZSTD, OCI_LAYER_NONDIST_ZSTD})
TAR_LAYER_TYPES: Final = frozenset({OCI_LAYER, OCI_LAYER_NONDIST, DOCKER_LAYER_TAR})

#: The first bytes of a gzip member (RFC 1952 §2.3.1) and of a zstd frame (RFC 8878 §3.1.1).
GZIP_MAGIC: Final = b"\x1f\x8b"
ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
#: How many first bytes ``sniff_compression`` needs to decide.
MAGIC_LENGTH: Final = len(ZSTD_MAGIC)

#: The ``Accept`` list for manifest requests: every manifest and index type we read.
MANIFEST_ACCEPT: Final = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST)

#: imgpkg's bundle marker: a config label whose presence marks a bundle (§2.6).
BUNDLE_LABEL: Final = "dev.carvel.imgpkg.bundle"
#: The root-bundle marker, only ever written in imgpkg tarballs (§2.6).
ROOT_BUNDLE_LABEL: Final = "dev.carvel.imgpkg.copy.root-bundle"
#: The image-layout annotation naming a root in ``index.json`` (image-layout.md).
REF_NAME_ANNOTATION: Final = "org.opencontainers.image.ref.name"


def is_manifest(media_type: str) -> bool:
    """True for an image manifest (OCI or Docker schema 2)."""
    return media_type in MANIFEST_TYPES


def is_index(media_type: str) -> bool:
    """True for an image index or a Docker manifest list."""
    return media_type in INDEX_TYPES


def is_distributable(media_type: str) -> bool:
    """False for the three foreign / non-distributable layer types."""
    return media_type not in NON_DISTRIBUTABLE


def is_layer(media_type: str) -> bool:
    """True for the layer media types whose config carries a diffID."""
    return media_type in LAYER_TYPES


class Compression(enum.StrEnum):
    """How a layer's bytes are compressed."""

    GZIP = "gzip"
    ZSTD = "zstd"
    NONE = "none"


@frozen(kw_only=True)
class LayerCompression:
    """How a layer is read (``detected``, from its first bytes) and what its media type says.

    ``declared`` is ``None`` for a media type that says nothing about
    compression (not one of the layer types above).
    """

    detected: Compression
    declared: Compression | None

    @property
    def mismatch(self) -> bool:
        """True when the media type declares another compression than the bytes show."""
        return self.declared is not None and self.declared is not self.detected

    @property
    def note(self) -> str:
        """How the layer was read, as a message fragment (empty when nothing is surprising)."""
        if not self.mismatch:
            return ""
        shown = "a plain tar" if self.detected is Compression.NONE else str(self.detected)
        return f"read as {shown} by its first bytes, although its media type says {self.declared}"


def declared_compression(media_type: str) -> Compression | None:
    """The compression a layer media type declares (``None``: not a known layer type)."""
    if media_type in GZIP_LAYER_TYPES:
        return Compression.GZIP
    if media_type in ZSTD_LAYER_TYPES or media_type.endswith("+zstd"):
        return Compression.ZSTD
    if media_type in TAR_LAYER_TYPES:
        return Compression.NONE
    return None


def sniff_compression(head: bytes) -> Compression:
    """The compression of a blob that starts with ``head`` (its first ``MAGIC_LENGTH`` bytes).

    As ggcr's ``PeekCompression``: the gzip magic number, then zstd's, else
    uncompressed (a blob shorter than a magic number included).
    """
    if head.startswith(GZIP_MAGIC):
        return Compression.GZIP
    if head.startswith(ZSTD_MAGIC):
        return Compression.ZSTD
    return Compression.NONE


def layer_compression(media_type: str, head: bytes) -> LayerCompression:
    """How to read a layer of ``media_type`` whose blob starts with ``head``: the bytes win."""
    return LayerCompression(
        detected=sniff_compression(head), declared=declared_compression(media_type)
    )
