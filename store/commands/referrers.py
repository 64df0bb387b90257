"""Finding referrers at a source (``copy --referrers``, ``describe --referrers``).

For a manifest in a registry: the referrers API (``GET /v2/<name>/referrers/<digest>``);
a registry that answers it 404 has none, and is then asked only through the tag schema
(the index tagged ``<alg>-<hex>``) for the rest of the run.  For a manifest in an OCI
layout (or an archive of one): the tag schema (the root named ``<alg>-<hex>``), which
is how imgpkg-pure and other tools (regclient, oras) keep referrers in a layout.

A tag that holds something other than an image index is not a referrers list: it is
passed over, as the subject then has no referrers that way.  An entry whose manifest
does not name the subject as its ``subject`` is not a referrer and is passed over by
the callers (``is_referrer``).
"""

from __future__ import annotations

import threading

from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.copy import LAYOUT_REGISTRY
from imgpkg_pure.digest import Digest
from imgpkg_pure.oci.codec import parse_manifest_or_index
from imgpkg_pure.oci.values import Descriptor, ImageIndex, Manifest
from imgpkg_pure.reference import Reference
from imgpkg_pure.referrers import fallback_tag
from imgpkg_pure.store.commands.locations import ManifestReader
from imgpkg_pure.store.registry import RegistryClient, RegistryError, RegistryFailure

__all__ = ["ReferrerFinder", "is_referrer"]


def is_referrer(document: Manifest | ImageIndex, subject: Digest) -> bool:
    """Whether ``document`` names ``subject`` as its ``subject``."""
    return document.subject is not None and document.subject.digest == subject


class ReferrerFinder:
    """The referrers-list entries of manifests, from the API or the tag schema.

    ``client`` asks registries' referrers API; ``reader`` reads manifests by tag
    (a registry client, or copy's ``Sources``, which also reads OCI layouts).
    Safe to share between threads.
    """

    def __init__(self, client: RegistryClient, reader: ManifestReader) -> None:
        self._client = client
        self._reader = reader
        self._without_api: set[str] = set()
        self._lock = threading.Lock()

    def entries(self, subject: Reference) -> IOResult[tuple[Descriptor, ...], RegistryError]:
        """The entries listing ``subject``'s referrers (a digest reference)."""
        digest = subject.digest
        if digest is None:  # pragma: no cover - callers pass digest references
            raise ValueError(f"{subject} is not a digest reference")
        with self._lock:
            ask_api = subject.registry != LAYOUT_REGISTRY and subject.registry not in (
                self._without_api
            )
        if ask_api:
            listed = self._client.referrers(subject.context(), digest)
            if isinstance(listed, IOFailure):
                return listed.map(lambda _: ())
            found = unsafe_perform_io(listed.unwrap())
            if found is not None:
                return IOSuccess(found)
            with self._lock:
                self._without_api.add(subject.registry)
        return self._tag_schema(subject, digest)

    def _tag_schema(
        self, subject: Reference, digest: Digest
    ) -> IOResult[tuple[Descriptor, ...], RegistryError]:
        where = Reference(
            registry=subject.registry,
            repository=subject.repository,
            tag=fallback_tag(digest),
            digest=None,
        )
        got = self._reader.get_manifest(where)
        if isinstance(got, IOFailure):
            error = unsafe_perform_io(got.failure())
            if isinstance(error, RegistryFailure) and error.status == 404:
                return IOSuccess(())
            return IOFailure(error)
        response = unsafe_perform_io(got.unwrap())
        parsed = parse_manifest_or_index(response.raw, f"manifest {where}", response.media_type)
        if isinstance(parsed, Failure) or not isinstance(parsed.unwrap(), ImageIndex):
            return IOSuccess(())
        index = parsed.unwrap()
        assert isinstance(index, ImageIndex)
        return IOSuccess(index.manifests)
