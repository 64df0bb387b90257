"""imgpkg_pure.copy: what ``copy`` was asked to do, and the plan that relocates what was observed.

The shell walks the sources (bundles and their nested bundles, images,
indexes) into a ``CopySnapshot``; everything decided from it is here, pure:

* ``request``: the flag checks (§1.4) and ``CopyRequest``;
* ``layouts``: OCI layouts and ``oci-archive:`` tars as sources and destinations;
* ``snapshot``: what was observed (items, images, indexes, the bundles' images);
* ``naming``: destination naming (§2.6, §5.5 to §5.7: ``sha256-<hex>.imgpkg``
  tags or repo-based tags, the user's tag, locations images, cosign tags);
* ``planner``: the plan's steps, the lock output (§5.6) and the
  non-distributable layer rule (§5.8);
* ``tarball``: imgpkg tarballs as a source (``copy --tar``) and destination
  (``copy --to-tar``);
* ``platforms``: ``--platform``, indexes narrowed to the children asked for, and the
  selection file that records it.
"""

from typing import TYPE_CHECKING, Final

from imgpkg_pure.copy.layouts import (
    ARCHIVE_PREFIX,
    LAYOUT_REGISTRY,
    LAYOUT_REPOSITORY,
    ArchiveDestination,
    ArchiveLocation,
    layout_reference,
    parse_archive_location,
    shown,
)
from imgpkg_pure.copy.naming import (
    COSIGN_SUFFIXES,
    cosign_tag,
    default_tag,
    image_locations,
    image_locations_text,
    locations_tag,
    repo_based_tag,
    upload_tag,
)
from imgpkg_pure.copy.planner import foreign_source, plan_copy, skipped_layers
from imgpkg_pure.copy.platforms import (
    PLATFORM_SELECTION_FILE,
    NoMatchingPlatform,
    PlatformSelection,
    encode_platform_selection,
    narrow_snapshot,
    node_platform,
    parse_platform_selection,
    select_lock,
    selected_digests,
)
from imgpkg_pure.copy.request import CopyRequest, parse_copy_request, source_root
from imgpkg_pure.copy.snapshot import (
    BundleImages,
    CopyImage,
    CopyIndex,
    CopyItem,
    CopyNode,
    CopySnapshot,
    node_descriptor,
    node_digest,
)

if TYPE_CHECKING:
    from imgpkg_pure.copy.tarball import (
        REFERRER_LABEL,
        SELECTED_FROM_LABEL,
        snapshot_from_tar,
        tar_bundles,
        tar_manifest,
    )

#: Names read from ``tarball`` on first use: the imgpkg tarball format (a few dozen classes)
#: is not loaded by a copy between registries.
_FROM_TARBALL: Final = frozenset(
    {"REFERRER_LABEL", "SELECTED_FROM_LABEL", "snapshot_from_tar", "tar_bundles", "tar_manifest"}
)


def __getattr__(name: str) -> object:
    if name in _FROM_TARBALL:
        from imgpkg_pure.copy import tarball  # noqa: PLC0415 (on first use: see above)

        return getattr(tarball, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PLATFORM_SELECTION_FILE",
    "REFERRER_LABEL",
    "SELECTED_FROM_LABEL",
    "NoMatchingPlatform",
    "PlatformSelection",
    "encode_platform_selection",
    "narrow_snapshot",
    "node_platform",
    "parse_platform_selection",
    "select_lock",
    "selected_digests",
    "ARCHIVE_PREFIX",
    "COSIGN_SUFFIXES",
    "LAYOUT_REGISTRY",
    "LAYOUT_REPOSITORY",
    "ArchiveDestination",
    "ArchiveLocation",
    "BundleImages",
    "CopyImage",
    "CopyIndex",
    "CopyItem",
    "CopyNode",
    "CopyRequest",
    "CopySnapshot",
    "cosign_tag",
    "default_tag",
    "foreign_source",
    "image_locations",
    "image_locations_text",
    "layout_reference",
    "locations_tag",
    "node_descriptor",
    "node_digest",
    "parse_archive_location",
    "parse_copy_request",
    "plan_copy",
    "repo_based_tag",
    "shown",
    "skipped_layers",
    "snapshot_from_tar",
    "source_root",
    "tar_bundles",
    "tar_manifest",
    "upload_tag",
]
