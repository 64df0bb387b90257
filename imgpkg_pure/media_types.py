"""Media types (image-spec ``media-types.md``) and imgpkg's labels and tags.

imgpkg pushes Docker schema 2 media types (reference §3.6); it reads both
Docker and OCI.  The three non-distributable layer types are those for which
ggcr's ``IsDistributable()`` is false (reference §2.8).
"""

from __future__ import annotations

from typing import Final

OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
OCI_LAYER: Final = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD: Final = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_EMPTY: Final = "application/vnd.oci.empty.v1+json"

DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP: Final = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN: Final = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

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
