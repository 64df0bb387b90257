"""The content graph: which descriptors a node points to (oras ``content.Successors``).

Manifests and indexes are the only nodes with children; every other blob
(configs, layers, arbitrary artifacts) is a leaf.  The children are read from
the node's exact bytes, dispatching on media type (image-spec
``manifest.md`` and ``image-index.md``):

* an image manifest points to its ``config``, its ``layers`` and its ``subject``;
* an image index points to its ``manifests`` and its ``subject``.

Nothing here fetches: the caller passes the bytes it already holds.
"""

from __future__ import annotations

from returns.result import Result, Success

from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.media_types import is_index, is_manifest
from imgpkg_pure.oci import Descriptor, ImageIndex, Manifest, parse_manifest_or_index


def has_successors(media_type: str) -> bool:
    """True when a node of this media type may point to other content (manifest or index)."""
    return is_manifest(media_type) or is_index(media_type)


def successors_of(node: Manifest | ImageIndex) -> tuple[Descriptor, ...]:
    """The children of an already-parsed manifest or index, in document order."""
    subject: tuple[Descriptor, ...] = () if node.subject is None else (node.subject,)
    match node:
        case Manifest():
            return (node.config, *node.layers, *subject)
        case ImageIndex():
            return (*node.manifests, *subject)


def successors(
    descriptor: Descriptor, raw: bytes
) -> Result[tuple[Descriptor, ...], MalformedDocument]:
    """The children of the node ``descriptor`` whose content is ``raw``.

    A leaf media type has no children and ``raw`` is not looked at; a
    manifest or index that does not parse is a ``MalformedDocument`` naming
    the descriptor's digest.
    """
    if not has_successors(descriptor.media_type):
        return Success(())
    where = f"{descriptor.media_type} {descriptor.digest}"
    return parse_manifest_or_index(raw, where, descriptor.media_type).map(successors_of)


__all__ = ["has_successors", "successors", "successors_of"]
