"""What a reference points at, as ``pull`` and ``describe`` look before they act: the
manifest or index at its digest reference and, for an image, its config.

One GET of the manifest, then (an image, when the config is wanted) one of its config;
failures are the registry's or the document's own, naming the manifest or the config,
so both commands report the same line.  ``copy`` observes whole graphs its own way
(``copy_walk``: an index's children too, a bundle's lock).
"""

from __future__ import annotations

from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.oci.codec import parse_config, parse_manifest_or_index
from imgpkg_pure.oci.values import ImageConfig, ImageIndex, Manifest
from imgpkg_pure.reference import Reference
from imgpkg_pure.store.registry import RegistryClient, RegistryError

__all__ = ["ObserveError", "Observed", "observe"]

ObserveError = RegistryError | MalformedDocument


@frozen(kw_only=True)
class Observed:
    """What a reference points at: its digest reference, document, and config if an image
    (None for an index, or when it was not asked for)."""

    reference: Reference
    document: Manifest | ImageIndex
    config: ImageConfig | None

    @property
    def is_bundle(self) -> bool:
        return self.config is not None and self.config.is_bundle


def observe(
    client: RegistryClient, reference: Reference, *, config: bool = True
) -> IOResult[Observed, ObserveError]:
    """The manifest or index at ``reference`` and, with ``config``, an image's config."""
    fetched = client.get_manifest(reference)
    if isinstance(fetched, IOFailure):
        return IOFailure(unsafe_perform_io(fetched.failure()))
    response = unsafe_perform_io(fetched.unwrap())
    parsed = parse_manifest_or_index(response.raw, f"manifest {reference}", response.media_type)
    if isinstance(parsed, Failure):
        return IOFailure(parsed.failure())
    document = parsed.unwrap()
    digest_ref = reference.context().digest(response.digest)
    if not config or isinstance(document, ImageIndex):
        return IOSuccess(Observed(reference=digest_ref, document=document, config=None))
    raw = bytearray()
    got = client.fetch_blob_to(digest_ref.context(), document.config, raw.extend)
    if isinstance(got, IOFailure):
        return IOFailure(unsafe_perform_io(got.failure()))
    where = f"config {document.config.digest} of {digest_ref}"
    image_config = parse_config(bytes(raw), where)
    if isinstance(image_config, Failure):
        return IOFailure(image_config.failure())
    return IOSuccess(
        Observed(reference=digest_ref, document=document, config=image_config.unwrap())
    )
