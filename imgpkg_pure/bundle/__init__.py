"""imgpkg's bundle documents: ImagesLock, BundleLock, ImageLock, ImageLocations, bundle.yml.

Each document has a pure ``parse_*(text, where) -> Result[Doc, MalformedDocument]``
that reads it exactly as imgpkg does (sigs.k8s.io/yaml rules, strict or
lenient as upstream, imgpkg's validation messages plus the field path) and an
``encode_*(doc) -> str`` that writes the bytes imgpkg writes (``---`` line,
keys sorted at every level, go-yaml v2 scalar styles).  Spec:
docs/imgpkg-reference.md §2.1-§2.5; ImageLock is an imgpkg-pure extension
(see ``imgpkg_pure.bundle.image_lock``).  What the documents share (decoding,
the apiVersion/kind check, error wording, the digest-reference check and
writing) is one piece of code, ``_document``.
"""

from imgpkg_pure.bundle._document import API_VERSION
from imgpkg_pure.bundle.any_lock import parse_bundle_or_images_lock
from imgpkg_pure.bundle.bundle_lock import (
    BUNDLE_LOCK_KIND,
    BundleLock,
    encode_bundle_lock,
    parse_bundle_lock,
)
from imgpkg_pure.bundle.bundle_yml import (
    BUNDLE_METADATA_FILE,
    BUNDLE_METADATA_KIND,
    BundleAuthor,
    BundleMetadata,
    BundleWebsite,
    encode_bundle_metadata,
    parse_bundle_metadata,
)
from imgpkg_pure.bundle.image_locations import (
    IMAGE_LOCATIONS_FILE,
    IMAGE_LOCATIONS_KIND,
    ImageLocation,
    ImageLocations,
    encode_image_locations,
    parse_image_locations,
)
from imgpkg_pure.bundle.image_lock import (
    IMAGE_LOCK_KIND,
    ImageLock,
    encode_image_lock,
    parse_image_lock,
)
from imgpkg_pure.bundle.images_lock import (
    IMAGES_LOCK_KIND,
    ImageRef,
    ImagesLock,
    encode_images_lock,
    parse_images_lock,
    relocate_images_lock,
)

__all__ = [
    "API_VERSION",
    "BUNDLE_LOCK_KIND",
    "BUNDLE_METADATA_FILE",
    "BUNDLE_METADATA_KIND",
    "IMAGES_LOCK_KIND",
    "IMAGE_LOCATIONS_FILE",
    "IMAGE_LOCATIONS_KIND",
    "IMAGE_LOCK_KIND",
    "BundleAuthor",
    "BundleLock",
    "BundleMetadata",
    "BundleWebsite",
    "ImageLocation",
    "ImageLocations",
    "ImageLock",
    "ImageRef",
    "ImagesLock",
    "encode_bundle_lock",
    "encode_bundle_metadata",
    "encode_image_lock",
    "encode_image_locations",
    "encode_images_lock",
    "parse_bundle_lock",
    "parse_bundle_metadata",
    "parse_bundle_or_images_lock",
    "parse_image_lock",
    "parse_image_locations",
    "parse_images_lock",
    "relocate_images_lock",
]
