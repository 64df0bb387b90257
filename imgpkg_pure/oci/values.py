"""The image-spec values: annotations, platforms, descriptors, manifests, indexes, configs.

Parsed views always travel with the raw bytes they were parsed from
(``raw``) and their digest, so a digest is never computed over re-serialised
JSON (image-spec ``considerations.md``, "Canonicalization").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import final

from attrs import field, frozen

from imgpkg_pure.digest import Digest
from imgpkg_pure.media_types import BUNDLE_LABEL


def _sorted_pairs(value: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(dict(value).items()))


@final
@frozen
class Annotations:
    """String-to-string annotations or labels, kept as sorted pairs (hashable, canonical)."""

    items: tuple[tuple[str, str], ...] = field(default=(), converter=_sorted_pairs)

    @staticmethod
    def of(mapping: Mapping[str, str]) -> Annotations:
        return Annotations(tuple(mapping.items()))

    def get(self, key: str) -> str | None:
        for k, v in self.items:
            if k == key:
                return v
        return None

    def __contains__(self, key: object) -> bool:
        return any(k == key for k, _ in self.items)

    def as_dict(self) -> dict[str, str]:
        return dict(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)


EMPTY_ANNOTATIONS = Annotations()


@final
@frozen(kw_only=True)
class Platform:
    """image-spec ``image-index.md`` platform object."""

    architecture: str
    os: str
    os_version: str | None = None
    os_features: tuple[str, ...] = ()
    variant: str | None = None
    features: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text


@final
@frozen(kw_only=True)
class Descriptor:
    """image-spec ``descriptor.md``: what a piece of content is, where, and how big."""

    media_type: str
    digest: Digest
    size: int
    annotations: Annotations = EMPTY_ANNOTATIONS
    platform: Platform | None = None
    urls: tuple[str, ...] = ()
    artifact_type: str | None = None
    data: bytes | None = None


@frozen(kw_only=True)
class ManifestDocument:
    """What an image manifest and an image index both are: their exact bytes, the
    digest and media type of those bytes, and the optional ``subject``,
    ``artifactType`` and ``annotations`` (image-spec ``manifest.md``, ``image-index.md``)."""

    raw: bytes
    digest: Digest
    media_type: str
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: Annotations = EMPTY_ANNOTATIONS

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(media_type=self.media_type, digest=self.digest, size=len(self.raw))


@final
@frozen(kw_only=True)
class Manifest(ManifestDocument):
    """An image manifest (OCI or Docker schema 2), with the exact bytes it came from."""

    config: Descriptor
    layers: tuple[Descriptor, ...]


@final
@frozen(kw_only=True)
class ImageIndex(ManifestDocument):
    """An image index (OCI) or manifest list (Docker), with its exact bytes."""

    manifests: tuple[Descriptor, ...]


@final
@frozen(kw_only=True)
class ImageConfig:
    """The parts of an image config imgpkg looks at, with the exact bytes."""

    raw: bytes
    digest: Digest
    architecture: str
    os: str
    variant: str | None
    diff_ids: tuple[Digest, ...]
    labels: Annotations

    @property
    def is_bundle(self) -> bool:
        """imgpkg's rule (§2.6): the *presence* of the bundle label marks a bundle."""
        return BUNDLE_LABEL in self.labels
