"""``copy --platform``: an index narrowed to the children asked for, and what records it.

The rule (``docs/formats/referrers-and-platforms.md``):

* an index whose children all match is copied **whole**, under its own digest;
* an index of which exactly **one** child matches is not copied: the child is
  (its digest replaces the index's wherever copy writes one: tags, the lock
  output, the locations image's selection file);
* an index of which **several** (not all) children match gets a new index listing
  only those (the original's media type and annotations kept, its descriptors in
  its order): its digest replaces the original's.  containers/image calls this
  stripping a sparse manifest list;
* an index of which **none** matches is an error naming it and what it offers.

A nested index is narrowed first, by the same rule.  A bundle's own
``.imgpkg/images.yml`` cannot change (it is inside the bundle's digest): the
bundle's locations image therefore carries, beside ``image-locations.yml``, a
``platform-selection.yml`` listing each narrowed image (its ImagesLock reference,
the digest copied in its place); ``pull`` writes the copied digest into the
pulled ``images.yml`` and ``copy``/``describe`` read the bundle's images from it.
imgpkg ignores the second file (it takes the first entry named ``image-locations.yml``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, final

from attrs import evolve, frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.copy.snapshot import (
    BundleImages,
    CopyImage,
    CopyIndex,
    CopyItem,
    CopyNode,
    CopySnapshot,
    merge_items,
    node_descriptor,
    node_digest,
)
from imgpkg_pure.digest import Digest, parse_digest
from imgpkg_pure.errors import Fact, MalformedDocument
from imgpkg_pure.oci.codec import encode_index, parse_index
from imgpkg_pure.oci.values import Descriptor, Platform
from imgpkg_pure.platform import PlatformSpec, matches_any

if TYPE_CHECKING:  # a bundle's documents load when one is copied, pushed or pulled
    from imgpkg_pure.bundle import ImagesLock

__all__ = [
    "PLATFORM_SELECTION_FILE",
    "NoMatchingPlatform",
    "PlatformSelection",
    "encode_platform_selection",
    "narrow_index",
    "narrow_node",
    "narrow_snapshot",
    "selected_digests",
    "node_platform",
    "parse_platform_selection",
    "select_lock",
    "with_bundle_selections",
]

#: The second file of a locations image when ``--platform`` narrowed some of a bundle's images.
PLATFORM_SELECTION_FILE: Final = "platform-selection.yml"
_API_VERSION: Final = "imgpkg-pure/v1alpha1"
_KIND: Final = "PlatformSelection"


@final
@frozen(kw_only=True)
class NoMatchingPlatform(Fact):
    """``--platform`` asked for nothing an index holds."""

    index: str
    asked: str
    offered: str

    template = (
        "index {index} has no child for platform {asked} (it has: {offered}); "
        "copy it without --platform, or ask for one of those"
    )


def node_platform(descriptor: Descriptor, node: CopyNode) -> Platform | None:
    """A child's platform: its descriptor's, else its image config's (os and architecture
    set); None when neither says (an attestation manifest, an artefact)."""
    if descriptor.platform is not None:
        return descriptor.platform
    if isinstance(node, CopyImage) and node.config is not None and node.config.os:
        config = node.config
        return Platform(architecture=config.architecture, os=config.os, variant=config.variant)
    return None


def _replaced(descriptor: Descriptor, node: CopyNode) -> Descriptor:
    """The index entry of a child that was itself narrowed: the new digest, size, type."""
    copied = node_descriptor(node)
    if copied.digest == descriptor.digest:
        return descriptor
    return evolve(descriptor, media_type=copied.media_type, digest=copied.digest, size=copied.size)


def narrow_index(
    node: CopyIndex,
    specs: Sequence[PlatformSpec],
    children: Mapping[Digest, CopyNode] | None = None,
) -> Result[CopyNode, NoMatchingPlatform]:
    """``node`` narrowed to ``specs`` by the rule of the module doc.

    ``children`` maps the digest each of ``node``'s children has in the index to the
    child to copy for it (a nested index already narrowed); by default, the children
    as they are.  The shell may have fetched only some children (those whose
    descriptor platform matches, or that have none): the others are left out.
    """
    index = node.index
    by_digest: Mapping[Digest, CopyNode] = (
        children if children is not None else {node_digest(c): c for c in node.children}
    )
    kept: list[tuple[Descriptor, CopyNode]] = []
    for descriptor in index.manifests:
        found = by_digest.get(descriptor.digest)
        if found is None:
            continue
        if isinstance(found, CopyIndex) and descriptor.platform is None:
            kept.append((descriptor, found))
            continue
        platform = node_platform(descriptor, found)
        if platform is not None and matches_any(specs, platform):
            kept.append((descriptor, found))
    if not kept:
        offered = sorted(
            {str(d.platform) for d in index.manifests if d.platform is not None} or {"none"}
        )
        return Failure(
            NoMatchingPlatform(
                index=str(node.source),
                asked=", ".join(str(spec) for spec in specs),
                offered=", ".join(offered),
            )
        )
    entries = tuple(_replaced(descriptor, child) for descriptor, child in kept)
    if entries == index.manifests:
        return Success(node)
    if len(kept) == 1:
        return Success(kept[0][1])
    raw = (
        encode_index(entries, index.media_type, index.annotations)
        if index.annotations
        else encode_index(entries, index.media_type)
    )
    narrowed = parse_index(raw, f"index narrowed from {node.source}", index.media_type)
    if isinstance(narrowed, Failure):  # pragma: no cover - we just encoded it
        raise AssertionError(narrowed.failure())
    value = narrowed.unwrap()
    return Success(
        CopyIndex(
            source=node.source.context().digest(value.digest),
            index=value,
            children=tuple(child for _, child in kept),
        )
    )


def narrow_node(
    node: CopyNode, specs: Sequence[PlatformSpec]
) -> Result[CopyNode, NoMatchingPlatform]:
    """``node`` with every index in it narrowed, innermost first; an image is kept as is."""
    if not isinstance(node, CopyIndex):
        return Success(node)
    children: dict[Digest, CopyNode] = {}
    for child in node.children:
        narrowed = narrow_node(child, specs)
        if isinstance(narrowed, Failure):
            if isinstance(child, CopyIndex):
                continue  # a nested index with nothing wanted is left out, not an error
            return narrowed
        children[node_digest(child)] = narrowed.unwrap()
    return narrow_index(node, specs, children)


def selected_digests(snapshot: CopySnapshot) -> dict[Digest, Digest]:
    """Every narrowed index of the snapshot: its digest → the digest copied in its place."""
    return {
        origin: node_digest(item.node) for item in snapshot.items for origin in item.selected_from
    }


def narrow_snapshot(
    snapshot: CopySnapshot, specs: Sequence[PlatformSpec]
) -> Result[CopySnapshot, NoMatchingPlatform]:
    """Every item narrowed (``selected_from`` set where its node changed; one set already,
    by the walk or a tarball, is kept), every bundle's ``selected`` filled from them."""
    items = []
    for item in snapshot.items:
        narrowed = narrow_node(item.node, specs)
        if isinstance(narrowed, Failure):
            return narrowed
        node = narrowed.unwrap()
        if node_digest(node) == node_digest(item.node):
            items.append(item)
            continue
        origin = item.selected_from or (node_digest(item.node),)
        items.append(evolve(item, node=node, selected_from=origin))
    deduplicated: dict[str, CopyItem] = {}
    for item in items:  # an index narrowed to a child listed on its own: one item
        key = f"{item.node.source}:{item.tag or ''}"
        known = deduplicated.get(key)
        deduplicated[key] = item if known is None else merge_items(known, item)
    narrowed_snapshot = evolve(
        snapshot,
        items=tuple(deduplicated.values()),
        platforms=tuple(str(spec) for spec in specs),
    )
    return Success(with_bundle_selections(narrowed_snapshot))


def with_bundle_selections(snapshot: CopySnapshot) -> CopySnapshot:
    """Each bundle's ``selected``: its ImagesLock images that were narrowed."""
    mapping = selected_digests(snapshot)
    if not mapping:
        return snapshot
    bundles: list[BundleImages] = []
    for bundle in snapshot.bundles:
        selected = []
        for image, _ in bundle.images:
            _, _, text = image.rpartition("@")
            digest = parse_digest(text)
            if isinstance(digest, Success) and digest.unwrap() in mapping:
                selected.append((image, mapping[digest.unwrap()]))
        bundles.append(evolve(bundle, selected=tuple(dict.fromkeys(selected))))
    return evolve(snapshot, bundles=tuple(bundles))


# --- the selection file of a locations image ---------------------------------------------


@final
@frozen(kw_only=True)
class PlatformSelection:
    """Which of a bundle's images ``--platform`` narrowed: (ImagesLock reference, copied
    digest) pairs, sorted by reference, and the platforms asked for."""

    platforms: tuple[str, ...]
    images: tuple[tuple[str, Digest], ...]

    def copied(self, image: str) -> Digest | None:
        """The digest copied in place of ``image`` (an ImagesLock string), if narrowed."""
        for listed, digest in self.images:
            if listed == image:
                return digest
        return None


def encode_platform_selection(selection: PlatformSelection) -> str:
    """``platform-selection.yml``: YAML, keys sorted, images sorted (deterministic)."""
    tree: dict[str, Any] = {
        "apiVersion": _API_VERSION,
        "kind": _KIND,
        "platforms": list(selection.platforms),
        "images": [
            {"image": image, "copied": str(digest)} for image, digest in sorted(selection.images)
        ],
    }
    import yaml  # noqa: PLC0415 (PyYAML loads when a selection is written, not at start-up)

    return "---\n" + yaml.safe_dump(tree, sort_keys=True, default_flow_style=False)


def parse_platform_selection(text: str, where: str) -> Result[PlatformSelection, MalformedDocument]:
    """Read ``platform-selection.yml`` (written by ``encode_platform_selection``)."""
    import yaml  # noqa: PLC0415 (PyYAML loads when a selection is read, not at start-up)

    try:
        tree = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return Failure(MalformedDocument(where=where, reason=f"not YAML: {exc}"))
    if not isinstance(tree, dict) or tree.get("kind") != _KIND:
        return Failure(MalformedDocument(where=where, reason=f"expected kind {_KIND}"))
    if tree.get("apiVersion") != _API_VERSION:
        return Failure(MalformedDocument(where=where, reason=f"expected apiVersion {_API_VERSION}"))
    platforms = tree.get("platforms") or []
    entries = tree.get("images") or []
    if not isinstance(platforms, list) or not isinstance(entries, list):
        return Failure(MalformedDocument(where=where, reason="platforms and images are lists"))
    images: list[tuple[str, Digest]] = []
    for position, entry in enumerate(entries):
        image = entry.get("image") if isinstance(entry, dict) else None
        copied = entry.get("copied") if isinstance(entry, dict) else None
        digest = parse_digest(copied) if isinstance(copied, str) else None
        if not isinstance(image, str) or digest is None or isinstance(digest, Failure):
            return Failure(
                MalformedDocument(
                    where=where, reason=f"images[{position}]: expected image and copied digest"
                )
            )
        images.append((image, digest.unwrap()))
    return Success(
        PlatformSelection(platforms=tuple(str(p) for p in platforms), images=tuple(images))
    )


def select_lock(lock: ImagesLock, selection: PlatformSelection | None) -> ImagesLock:
    """``lock`` with each narrowed image's digest replaced by the one copied in its place
    (the same repository, annotations and order)."""
    from imgpkg_pure.bundle import ImagesLock  # noqa: PLC0415 (bundles only)

    if selection is None or not selection.images:
        return lock
    images = []
    for entry in lock.images:
        copied = selection.copied(str(entry.image))
        images.append(
            entry if copied is None else evolve(entry, image=entry.image.with_digest(copied))
        )
    return ImagesLock(images=tuple(images))
