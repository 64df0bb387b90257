"""imgpkg tarballs as copy sources and destinations (§2.8, §5.9, §5.10).

``copy --tar``: ``snapshot_from_tar`` reads a tarball's ``manifest.json`` as a
snapshot (every element is an item); ``tar_bundles`` names the bundles whose
ImagesLock the shell must read from their layers.  ``copy --to-tar``:
``tar_manifest`` describes what was observed as the tarball's ``manifest.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from returns.result import Failure, Result, Success

from imgpkg_pure.bundle import ImagesLock
from imgpkg_pure.copy.platforms import with_bundle_selections
from imgpkg_pure.copy.snapshot import (
    BundleImages,
    CopyImage,
    CopyIndex,
    CopyItem,
    CopyNode,
    CopySnapshot,
    node_digest,
)
from imgpkg_pure.digest import Digest, parse_digest
from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.imgpkg_tar import (
    ROOT_BUNDLE_LABELS,
    TarImage,
    TarIndex,
    TarManifest,
    describe_image,
    describe_index,
)
from imgpkg_pure.oci.codec import parse_config, parse_index, parse_manifest
from imgpkg_pure.oci.values import Annotations
from imgpkg_pure.reference import Reference, parse_digest_reference

__all__ = [
    "REFERRER_LABEL",
    "SELECTED_FROM_LABEL",
    "item_labels",
    "snapshot_from_tar",
    "tar_bundles",
    "tar_manifest",
]

#: imgpkg-pure's label on a referrer copied with ``--referrers``: its subject's digest.
#: The element is otherwise an ordinary image (``Tag`` empty), which imgpkg imports as one.
REFERRER_LABEL: Final = "dev.imgpkg-pure.referrer-of"
#: imgpkg-pure's label on what ``--platform`` copied in place of an index: its digest
#: (several, comma-separated, when two indexes were narrowed to the same manifest).
SELECTED_FROM_LABEL: Final = "dev.imgpkg-pure.selected-from"


def item_labels(item: CopyItem) -> Annotations | None:
    """An item's ``Labels`` in ``manifest.json``: imgpkg's root-bundle marker, ours for
    referrers and narrowed indexes; None (Go's nil map) when it has none."""
    labels = dict(ROOT_BUNDLE_LABELS.as_dict()) if item.is_root_bundle else {}
    if item.referrer_of is not None:
        labels[REFERRER_LABEL] = str(item.referrer_of)
    if item.selected_from:
        labels[SELECTED_FROM_LABEL] = ",".join(str(d) for d in item.selected_from)
    return Annotations.of(labels) if labels else None


def _label_digests(element: TarImage | TarIndex, key: str) -> tuple[Digest, ...]:
    """The digests a label of ours lists (comma-separated); those that do not parse are
    not ours to act on and are left out."""
    value = element.labels.get(key) if element.labels is not None else None
    parsed = (parse_digest(text.strip()) for text in (value or "").split(",") if text.strip())
    return tuple(digest.unwrap() for digest in parsed if isinstance(digest, Success))


def _tar_node(element: TarImage | TarIndex) -> Result[CopyNode, MalformedDocument]:
    reference = parse_digest_reference(element.refs[0] if element.refs else "")
    if isinstance(reference, Failure):
        return Failure(
            MalformedDocument(
                where="manifest.json", reason=f"element without a digest reference: {element.refs}"
            )
        )
    source = reference.unwrap()
    if isinstance(element, TarImage):
        manifest = parse_manifest(
            element.manifest_raw, f"manifest of {source}", element.manifest_media_type
        )
        config = parse_config(element.config_raw, f"config of {source}")
        if isinstance(manifest, Failure):
            return Failure(manifest.failure())
        if isinstance(config, Failure):
            return Failure(config.failure())
        return Success(CopyImage(source=source, manifest=manifest.unwrap(), config=config.unwrap()))
    index = parse_index(element.raw, f"index {source}", element.media_type)
    if isinstance(index, Failure):
        return Failure(index.failure())
    children: list[CopyNode] = []
    nested: tuple[TarImage | TarIndex, ...] = (*element.images, *element.indexes)
    for child in nested:
        node = _tar_node(child)
        if isinstance(node, Failure):
            return node
        children.append(node.unwrap())
    by_digest = {node_digest(c): c for c in children}
    ordered = tuple(by_digest[m.digest] for m in index.unwrap().manifests if m.digest in by_digest)
    return Success(CopyIndex(source=source, index=index.unwrap(), children=ordered))


def tar_bundles(manifest: TarManifest) -> tuple[TarImage, ...]:
    """The images of a tarball that are bundles (config label), whose images.yml is needed."""
    out: list[TarImage] = []
    for element in manifest.elements:
        if isinstance(element, TarImage):
            config = parse_config(element.config_raw, "config")
            if isinstance(config, Success) and config.unwrap().is_bundle:
                out.append(element)
    return tuple(out)


def snapshot_from_tar(
    manifest: TarManifest, locks: tuple[tuple[Digest, ImagesLock], ...]
) -> Result[CopySnapshot, MalformedDocument]:
    """§5.10: every element is an item; the bundle graph comes from the tarball itself.

    ``locks`` are the ImagesLocks read from the bundles' layers (``tar_bundles``).
    Locations images are made only when a root bundle is present.
    """
    items: list[CopyItem] = []
    for element in manifest.elements:
        node = _tar_node(element)
        if isinstance(node, Failure):
            return node
        value = node.unwrap()
        is_bundle = (
            isinstance(value, CopyImage) and value.config is not None and value.config.is_bundle
        )
        items.append(
            CopyItem(
                node=value,
                tag=element.tag or None,
                orig_ref=element.orig_ref,
                is_bundle=is_bundle,
                is_root_bundle=element.is_root_bundle,
                referrer_of=next(iter(_label_digests(element, REFERRER_LABEL)), None),
                selected_from=_label_digests(element, SELECTED_FROM_LABEL),
            )
        )
    bundle_digests = {node_digest(i.node) for i in items if i.is_bundle}
    bundles: tuple[BundleImages, ...] = ()
    if any(i.is_root_bundle for i in items):
        bundles = tuple(
            BundleImages(
                digest=digest,
                images=tuple(
                    (str(entry.image), entry.digest in bundle_digests) for entry in lock.images
                ),
            )
            for digest, lock in locks
        )
    return Success(with_bundle_selections(CopySnapshot(items=tuple(items), bundles=bundles)))


def _describe(
    node: CopyNode, *, tag: str, orig_ref: str, labels: Annotations | None, ref: str
) -> Result[TarImage | TarIndex, MalformedDocument]:
    if isinstance(node, CopyImage):
        if node.config is None:  # pragma: no cover - the walk always fetches configs
            return Failure(MalformedDocument(where=ref, reason="config was not fetched"))
        return describe_image(
            ref=ref,
            manifest=node.manifest,
            config=node.config,
            tag=tag,
            orig_ref=orig_ref,
            labels=labels,
        ).map(lambda image: image)
    children: list[TarImage | TarIndex] = []
    for child in node.children:
        child_ref = f"{ref.rsplit('@', 1)[0]}@{node_digest(child)}"
        described = _describe(child, tag=tag, orig_ref=orig_ref, labels=labels, ref=child_ref)
        if isinstance(described, Failure):
            return described
        children.append(described.unwrap())
    return describe_index(
        ref=ref, index=node.index, children=children, tag=tag, orig_ref=orig_ref, labels=labels
    ).map(lambda index: index)


def tar_manifest(
    snapshot: CopySnapshot, shown_ref: Callable[[Reference], str]
) -> Result[TarManifest, MalformedDocument]:
    """The ``manifest.json`` of ``copy --to-tar`` for what was observed (§2.8)."""
    elements: list[TarImage | TarIndex] = []
    for item in snapshot.items:
        labels = item_labels(item)
        described = _describe(
            item.node,
            tag=item.tag or "",
            orig_ref=item.orig_ref,
            labels=labels,
            ref=shown_ref(item.node.source),
        )
        if isinstance(described, Failure):
            return described
        elements.append(described.unwrap())
    return Success(TarManifest(elements=elements))
