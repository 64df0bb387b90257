"""Applying ``PutReferrers``: referrers stored, and findable from their subject.

Spec: the OCI distribution spec 1.1, "Pushing Manifests with Subject" and
"Referrers Tag Schema".  For a registry:

1. each referrer manifest not already there is ``PUT`` by digest;
2. a ``PUT`` answered with ``OCI-Subject`` proves the registry indexes referrers
   itself: nothing more to do.  When every referrer was already there (a rerun),
   ``GET /v2/<name>/referrers/<subject>`` answering 200 proves the same;
3. otherwise (no ``OCI-Subject``, or the API answered 404) the tag schema's index
   ``<alg>-<hex>`` is fetched (404: none yet), every entry already listed is kept
   (other tools' included), the missing ones are appended, and the index is
   ``PUT`` under that tag.  A tag that holds something other than an image index
   is an error, and nothing is overwritten.

For an OCI layout (and an ``oci-archive:`` assembled as one) the referrer
manifests are stored as blobs and the tag schema's index is the root named
``<alg>-<hex>`` in ``index.json``, merged the same way.

One step covers every referrer of one subject, so no two steps of a plan write
the same tag.
"""

from __future__ import annotations

from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.errors import Fact, MalformedDocument
from imgpkg_pure.media_types import OCI_INDEX
from imgpkg_pure.oci.codec import parse_manifest_or_index
from imgpkg_pure.oci.values import Descriptor, ImageIndex
from imgpkg_pure.plan.steps import PutReferrers
from imgpkg_pure.reference import Reference, Repository
from imgpkg_pure.referrers import fallback_tag, merge_referrers
from imgpkg_pure.store.content.blobstore import BlobStore
from imgpkg_pure.store.content.errors import RootNotFound, StoreError
from imgpkg_pure.store.registry import RegistryClient, RegistryError, RegistryFailure

__all__ = ["ReferrersTagInvalid", "put_referrers_in_layout", "put_referrers_in_registry"]


@frozen(kw_only=True)
class ReferrersTagInvalid(Fact):
    """The tag schema's tag holds something that is not an image index."""

    where: str
    media_type: str

    template = (
        "{where} holds a {media_type}, not the referrers index of the tag schema; "
        "it was left as it is"
    )


ReferrersError = RegistryError | StoreError | MalformedDocument | ReferrersTagInvalid


def _existing(raw: bytes, media_type: str, where: str) -> ImageIndex | ReferrersError:
    parsed = parse_manifest_or_index(raw, f"referrers index {where}", media_type)
    if isinstance(parsed, Failure):
        error: MalformedDocument = parsed.failure()
        return error
    document = parsed.unwrap()
    if not isinstance(document, ImageIndex):
        return ReferrersTagInvalid(where=where, media_type=document.media_type)
    return document


def put_referrers_in_registry(
    client: RegistryClient, repo: Repository, step: PutReferrers
) -> IOResult[bool, ReferrersError]:
    """Registry side of :class:`PutReferrers` (see the module doc); whether anything changed."""
    pushed = False
    acknowledged = False
    for referrer in step.referrers:
        entry = referrer.entry
        found = client.head_manifest(repo.digest(entry.digest))
        if isinstance(found, IOFailure):
            return IOFailure(unsafe_perform_io(found.failure()))
        if unsafe_perform_io(found.unwrap()) is not None:
            continue
        put = client.put_referrer(repo, entry.digest, referrer.raw, entry.media_type)
        if isinstance(put, IOFailure):
            return IOFailure(unsafe_perform_io(put.failure()))
        pushed = True
        acknowledged = acknowledged or unsafe_perform_io(put.unwrap())
    if acknowledged:
        return IOSuccess(True)
    if not pushed:
        listed = client.referrers(repo, step.subject.digest)
        if isinstance(listed, IOFailure):
            return IOFailure(unsafe_perform_io(listed.failure()))
        if unsafe_perform_io(listed.unwrap()) is not None:
            return IOSuccess(False)
    merged = _merge_registry_tag(client, repo, step)
    return merged.map(lambda changed: changed or pushed)


def _merge_registry_tag(
    client: RegistryClient, repo: Repository, step: PutReferrers
) -> IOResult[bool, ReferrersError]:
    tag = fallback_tag(step.subject.digest)
    where = Reference(registry=repo.registry, repository=repo.repository, tag=tag, digest=None)
    existing: ImageIndex | None = None
    got = client.get_manifest(where)
    if isinstance(got, IOFailure):
        error = unsafe_perform_io(got.failure())
        if not (isinstance(error, RegistryFailure) and error.status == 404):
            return IOFailure(error)
    else:
        response = unsafe_perform_io(got.unwrap())
        found = _existing(response.raw, response.media_type, str(where))
        if not isinstance(found, ImageIndex):
            return IOFailure(found)
        existing = found
    raw = merge_referrers(existing, (r.entry for r in step.referrers))
    if raw is None:
        return IOSuccess(False)
    put = client.put_manifest(repo, tag, raw, OCI_INDEX)
    if isinstance(put, IOFailure):
        return IOFailure(unsafe_perform_io(put.failure()))
    return IOSuccess(True)


def put_referrers_in_layout(
    store: BlobStore, where: str, step: PutReferrers
) -> IOResult[bool, ReferrersError]:
    """Layout side of :class:`PutReferrers`: the manifests as blobs, the tag schema's index
    as the root ``<alg>-<hex>`` (merged); whether anything changed."""
    changed = False
    for referrer in step.referrers:
        digest = referrer.entry.digest
        if unsafe_perform_io(store.exists(digest).value_or(False)):
            continue
        stored = store.put_bytes(referrer.raw, digest)
        if isinstance(stored, IOFailure):
            return IOFailure(unsafe_perform_io(stored.failure()))
        changed = True
    tag = fallback_tag(step.subject.digest)
    existing: ImageIndex | None = None
    resolved = store.resolve(tag)
    if isinstance(resolved, IOFailure):
        error = unsafe_perform_io(resolved.failure())
        if not isinstance(error, RootNotFound):
            return IOFailure(error)
    else:
        root = unsafe_perform_io(resolved.unwrap())
        raw_root = store.read_bytes(root.digest)
        if isinstance(raw_root, IOFailure):
            return IOFailure(unsafe_perform_io(raw_root.failure()))
        found = _existing(unsafe_perform_io(raw_root.unwrap()), root.media_type, f"{where}:{tag}")
        if not isinstance(found, ImageIndex):
            return IOFailure(found)
        existing = found
    raw = merge_referrers(existing, (r.entry for r in step.referrers))
    if raw is None:
        return IOSuccess(changed)
    stored_index = store.put_bytes(raw)
    if isinstance(stored_index, IOFailure):
        return IOFailure(unsafe_perform_io(stored_index.failure()))
    descriptor = Descriptor(
        media_type=OCI_INDEX, digest=unsafe_perform_io(stored_index.unwrap()), size=len(raw)
    )
    named = store.set_root(tag, descriptor)
    if isinstance(named, IOFailure):
        return IOFailure(unsafe_perform_io(named.failure()))
    return IOSuccess(True)
