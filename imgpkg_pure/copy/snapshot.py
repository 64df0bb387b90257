"""What copy observed at its sources: ``CopySnapshot`` of items, their images and indexes.

The shell walks the sources (bundles and their nested bundles, images,
indexes) into these values; the planner and the tarball writer read them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, final

from attrs import evolve, frozen

from imgpkg_pure.digest import Digest
from imgpkg_pure.oci.values import Descriptor, ImageConfig, ImageIndex, Manifest
from imgpkg_pure.reference import Reference

if TYPE_CHECKING:  # a bundle's documents load when one is copied, pushed or pulled
    from imgpkg_pure.bundle import ImagesLock

__all__ = [
    "BundleImages",
    "CopyImage",
    "CopyIndex",
    "CopyItem",
    "CopyNode",
    "CopySnapshot",
    "merge_items",
    "node_descriptor",
    "node_digest",
    "walk",
]


@final
@frozen(kw_only=True)
class CopyImage:
    """An image manifest to copy, read from ``source`` (a digest reference)."""

    source: Reference
    manifest: Manifest
    config: ImageConfig | None = None


@final
@frozen(kw_only=True)
class CopyIndex:
    """An image index to copy, with every child it lists (nested indexes included)."""

    source: Reference
    index: ImageIndex
    children: tuple[CopyNode, ...]


CopyNode = CopyImage | CopyIndex


def node_descriptor(node: CopyNode) -> Descriptor:
    match node:
        case CopyImage(manifest=m):
            return m.descriptor
        case CopyIndex(index=i):
            return i.descriptor
    raise AssertionError(node)


def node_digest(node: CopyNode) -> Digest:
    return node_descriptor(node).digest


def walk(node: CopyNode) -> Iterator[CopyNode]:
    """Post-order: children before the index that lists them."""
    if isinstance(node, CopyIndex):
        for child in node.children:
            yield from walk(child)
    yield node


@final
@frozen(kw_only=True)
class CopyItem:
    """A top-level item: what imgpkg lists as ``will export …`` and tags at the destination."""

    node: CopyNode
    tag: str | None
    orig_ref: str
    is_bundle: bool
    is_root_bundle: bool
    is_signature: bool = False
    #: A referrer found with ``--referrers``: the digest of its subject (an item or
    #: another referrer).  It gets no tag of its own at the destination; it is made
    #: findable there through the subject (the referrers API, else the tag schema).
    referrer_of: Digest | None = None
    #: ``--platform`` narrowed the indexes the source names (these digests) to ``node``
    #: (one child, or a new index of the matching children); usually one.
    selected_from: tuple[Digest, ...] = ()


def merge_items(kept: CopyItem, again: CopyItem) -> CopyItem:
    """One item seen twice (same node and tag): the first, with what either says it was
    copied in place of (a child that is also listed on its own keeps its index's record)."""
    extra = tuple(d for d in again.selected_from if d not in kept.selected_from)
    if not extra:
        return kept
    return evolve(kept, selected_from=kept.selected_from + extra)


@final
@frozen(kw_only=True)
class BundleImages:
    """A bundle of the graph and its ImagesLock entries: original reference and isBundle."""

    digest: Digest
    images: tuple[tuple[str, bool], ...]
    #: The images ``--platform`` narrowed: (ImagesLock reference, digest copied in its
    #: place); written as the locations image's ``platform-selection.yml``.
    selected: tuple[tuple[str, Digest], ...] = ()


@final
@frozen(kw_only=True)
class CopySnapshot:
    """Everything the copy sources hold, as observed."""

    items: tuple[CopyItem, ...]
    bundles: tuple[BundleImages, ...]
    images_lock: ImagesLock | None = None
    #: Non-distributable layers (§5.8) that their image's source (a registry
    #: repository, an OCI layout) does not hold: with
    #: ``--include-non-distributable-layers`` they are read from their ``urls``.
    #: Observed only when that flag is given; never for an imgpkg tarball source.
    foreign_absent: frozenset[Digest] = frozenset()
    #: Layers the plan does not copy (``imgpkg_pure.copy.delta``): the other side holds
    #: them (``--since``), or a delta source leaves them out and the destination was
    #: checked to hold them.
    left_out: frozenset[Digest] = frozenset()
    #: The ``--platform`` values asked for (``str`` of each), for the selection file.
    platforms: tuple[str, ...] = ()
