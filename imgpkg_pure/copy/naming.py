"""Copy's naming rules: the tag each item gets at the destination (§2.6, §5.5 to §5.7).

Every image and index lands in the one destination repository under its
digest, and every top-level item is also tagged there:

* by default ``sha256-<hex>.imgpkg`` (``default_tag``);
* with ``--repo-based-tags``, ``<cleaned source repository path>-sha256-<hex>.imgpkg``
  (``repo_based_tag``), so that tags say where an image came from;
* the tag the user gave (``CopyItem.tag``), if any, as well.

A bundle's locations image (its ImageLocations: where each of its images was
originally, ``image_locations``) is tagged ``sha256-<bundle hex>.image-locations.imgpkg``
(``locations_tag``), and cosign's artefacts of an image are found under
``sha256-<hex>.sig`` / ``.att`` / ``.sbom`` (``cosign_tag``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from imgpkg_pure.copy.snapshot import BundleImages, CopyItem, node_digest
from imgpkg_pure.digest import Digest

if TYPE_CHECKING:  # a bundle's documents load when one is copied, pushed or pulled
    from imgpkg_pure.bundle import ImageLocations

__all__ = [
    "COSIGN_SUFFIXES",
    "cosign_tag",
    "default_tag",
    "image_locations",
    "image_locations_text",
    "locations_tag",
    "repo_based_tag",
    "upload_tag",
]

_CLEAN = r"^[^a-zA-Z0-9_]+|[^a-zA-Z0-9._-]+"  # compiled on first use


def default_tag(digest: Digest) -> str:
    """``sha256-<hex>.imgpkg``."""
    return f"{digest.tag_form}.imgpkg"


def locations_tag(bundle: Digest) -> str:
    """``sha256-<bundle hex>.image-locations.imgpkg``."""
    return f"{bundle.tag_form}.image-locations.imgpkg"


def repo_based_tag(orig_ref: str, digest: Digest) -> str:
    """imgpkg's ``--repo-based-tags`` tag (§2.6): ``<cleaned repo path>-sha256-<hex>.imgpkg``."""
    name = orig_ref.split("@", 1)[0]
    path = "-".join(name.split("/")[1:])
    cleaned = re.sub(_CLEAN, "", path)
    cleaned = re.sub(_CLEAN, "", cleaned[-49:])
    tag = f"{cleaned}-{digest.tag_form}.imgpkg"
    if tag.startswith("-"):
        tag = tag[1:]
    return tag.replace(":", "-")


def upload_tag(item: CopyItem, repo_based: bool) -> str:
    """The tag ``item`` gets at the destination: ``default_tag`` or ``repo_based_tag``."""
    digest = node_digest(item.node)
    if not repo_based:
        return default_tag(digest)
    source = item.orig_ref or str(item.node.source)
    return repo_based_tag(source, digest)


#: Tag suffixes of cosign's artefacts stored beside an image (``sha256-<hex>.<suffix>``).
COSIGN_SUFFIXES = ("sig", "att", "sbom")


def cosign_tag(digest: Digest, suffix: str) -> str:
    """``sha256-<hex>.sig`` (or ``.att``, ``.sbom``): where cosign keeps an image's artefacts."""
    return f"{digest.tag_form}.{suffix}"


def image_locations(bundle: BundleImages) -> ImageLocations:
    """The ImageLocations of a bundle: every image once (by digest), sorted by image (§2.5)."""
    from imgpkg_pure.bundle import ImageLocation, ImageLocations  # noqa: PLC0415 (bundles only)

    seen: dict[str, ImageLocation] = {}
    for image, is_bundle in bundle.images:
        digest = image.rsplit("@", 1)[-1]
        seen.setdefault(digest, ImageLocation(image=image, is_bundle=is_bundle))
    return ImageLocations(images=tuple(seen.values()))


def image_locations_text(bundle: BundleImages) -> str:
    from imgpkg_pure.bundle import encode_image_locations  # noqa: PLC0415 (bundles only)

    return encode_image_locations(image_locations(bundle))
