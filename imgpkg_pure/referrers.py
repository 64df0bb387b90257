"""OCI 1.1 referrers (pure): the tag schema, referrers-list entries, and merging lists.

A *referrer* of a manifest is a manifest (or index) whose ``subject`` names it: a
signature, an SBOM, an attestation (image-spec ``manifest.md`` "subject").
Registries that implement the referrers API list them at
``GET /v2/<name>/referrers/<digest>`` as an image index; for the others the
distribution spec (``spec.md``, "Referrers Tag Schema") has clients keep that
index themselves, under the tag ``<alg>-<ref>`` (``sha256-<64 hex>``; the
encoded digest cut to 64 characters).  Both lists have the same entries: the
referrer's media type, digest and size, its ``artifactType`` (else its
config's media type) and its manifest annotations.

``merge_referrers`` is the spec's client-side update: start from the index
the tag holds (none: an empty one), keep every entry already there (another
tool's included), append each new referrer not already listed (by digest).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from imgpkg_pure.digest import Digest
from imgpkg_pure.media_types import OCI_INDEX
from imgpkg_pure.oci.codec import encode_index
from imgpkg_pure.oci.values import Descriptor, ImageIndex, Manifest

__all__ = [
    "FALLBACK_TAG",
    "fallback_tag",
    "is_fallback_tag",
    "merge_referrers",
    "referrer_entry",
    "with_artifact_types",
]

#: The referrers tag schema: ``<alg>-<ref>``, ``ref`` the encoded digest cut to 64 characters.
FALLBACK_TAG: Final = r"[a-z0-9]+-[a-f0-9]{64}"  # a pattern, compiled on first use


def fallback_tag(subject: Digest) -> str:
    """The tag holding ``subject``'s referrers where the registry has no referrers API."""
    return f"{subject.algorithm}-{subject.hex[:64]}"


def is_fallback_tag(tag: str) -> bool:
    """Whether ``tag`` has the tag schema's shape (``sha256-<64 hex>``, nothing after)."""
    return re.fullmatch(FALLBACK_TAG, tag) is not None


def referrer_entry(document: Manifest | ImageIndex) -> Descriptor:
    """The referrers-list entry of a referrer: its descriptor with ``artifactType`` (its
    own, else its config's media type) and its annotations (distribution spec)."""
    artifact_type = document.artifact_type
    if artifact_type is None and isinstance(document, Manifest):
        artifact_type = document.config.media_type
    return Descriptor(
        media_type=document.media_type,
        digest=document.digest,
        size=len(document.raw),
        annotations=document.annotations,
        artifact_type=artifact_type,
    )


def merge_referrers(existing: ImageIndex | None, entries: Iterable[Descriptor]) -> bytes | None:
    """The tag schema's index with ``entries`` added, or None when every one is listed.

    Entries already in ``existing`` are kept as they are and in their order; the
    new ones follow, each once.  The index's own annotations are kept.
    """
    listed = list(existing.manifests) if existing is not None else []
    known = {entry.digest for entry in listed}
    added = False
    for entry in entries:
        if entry.digest in known:
            continue
        known.add(entry.digest)
        listed.append(entry)
        added = True
    if not added and existing is not None:
        return None
    annotations = existing.annotations if existing is not None else None
    if annotations is None:
        return encode_index(tuple(listed), OCI_INDEX)
    return encode_index(tuple(listed), OCI_INDEX, annotations)


def with_artifact_types(
    entries: Iterable[Descriptor], artifact_types: frozenset[str]
) -> tuple[Descriptor, ...]:
    """The entries of the given artifact types (all of them when none is given): the
    ``artifactType`` filter, applied by the client when the registry did not."""
    return tuple(
        entry
        for entry in entries
        if not artifact_types or (entry.artifact_type or "") in artifact_types
    )
