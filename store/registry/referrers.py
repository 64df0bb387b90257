"""The referrers API: who names a manifest as its ``subject``, and pushing such manifests.

Spec: the OCI distribution spec 1.1, ``spec.md`` "Listing Referrers" and "Pushing
Manifests with Subject".

* ``GET /v2/<name>/referrers/<digest>`` answers an image index (``Accept`` and
  ``Content-Type`` ``application/vnd.oci.image.index.v1+json``) whose
  ``manifests`` are the referrers; more pages follow through ``Link: <…>;
  rel="next"`` (relative links resolved against the page's URL; a link seen
  before ends the walk).  A registry that implements the API MUST NOT answer
  404, so a 404 means "no referrers API": the caller then reads the referrers
  tag schema (``imgpkg_pure.referrers``).  ``?artifactType=`` asks the registry
  to filter; one that did says so in ``OCI-Filters-Applied: artifactType``, and
  for one that did not the entries are filtered here.
* A ``PUT`` of a manifest with a ``subject`` to a registry with the API is
  answered with ``OCI-Subject: <subject digest>``; without that header the
  client must maintain the tag schema itself.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

import httpx
from returns.result import Failure, Result, Success

from imgpkg_pure.digest import Digest
from imgpkg_pure.media_types import OCI_INDEX
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.oci.codec import parse_index
from imgpkg_pure.reference import Repository
from imgpkg_pure.referrers import with_artifact_types
from imgpkg_pure.registry_wire import parse_link_next
from imgpkg_pure.store.registry._http import read_body, repository_call
from imgpkg_pure.store.registry._session import Session
from imgpkg_pure.store.registry.errors import RegistryError, RegistryFailure
from imgpkg_pure.store.registry.manifests import MAX_MANIFEST_SIZE, send_manifest

__all__ = ["SUBJECT_HEADER", "list_referrers", "put_referrer"]

#: The header a registry with the referrers API answers a subject manifest's ``PUT`` with.
SUBJECT_HEADER: Final = "OCI-Subject"
#: The header saying which filters a referrers answer applied.
FILTERS_HEADER: Final = "OCI-Filters-Applied"


def list_referrers(
    session: Session, repo: Repository, subject: Digest, artifact_type: str | None = None
) -> Result[tuple[Descriptor, ...] | None, RegistryError]:
    """The referrers of ``subject`` in ``repo``, every page; None when the registry has
    no referrers API (it answered 404)."""
    query = f"?artifactType={quote(artifact_type, safe='')}" if artifact_type else ""
    target: str | None = f"/v2/{repo.repository}/referrers/{subject}{query}"
    found: list[Descriptor] = []
    seen: set[str] = set()
    filtered = True
    while target is not None and target not in seen:
        seen.add(target)
        call = repository_call(repo, "GET", target, headers=(("Accept", OCI_INDEX),))
        sent = session.call(call, (200,))
        if not isinstance(sent, Success):
            error = sent.failure()
            if isinstance(error, RegistryFailure) and error.status == 404 and not found:
                return Success(None)
            return Failure(error)
        response: httpx.Response = sent.unwrap()
        link = response.headers.get("Link", "")
        applied = response.headers.get(FILTERS_HEADER, "")
        filtered = filtered and "artifactType" in (part.strip() for part in applied.split(","))
        page_url = str(response.request.url)
        body = read_body(response, MAX_MANIFEST_SIZE)
        if not isinstance(body, Success):
            return Failure(body.failure())
        page = parse_index(body.unwrap(), f"referrers of {repo}@{subject}", OCI_INDEX)
        if isinstance(page, Failure):
            return Failure(page.failure())
        found.extend(page.unwrap().manifests)
        following = parse_link_next(link) if link else None
        target = str(httpx.URL(page_url).join(following)) if following else None
    if artifact_type and not filtered:
        return Success(with_artifact_types(found, frozenset({artifact_type})))
    return Success(tuple(found))


def put_referrer(
    session: Session, repo: Repository, digest: Digest, raw: bytes, media_type: str
) -> Result[bool, RegistryError]:
    """``PUT /v2/<name>/manifests/<digest>`` of a manifest with a ``subject``; whether the
    registry acknowledged the subject (``OCI-Subject``: it has the referrers API)."""
    return send_manifest(session, repo, digest, raw, media_type).map(
        lambda sent: bool(sent[1].headers.get(SUBJECT_HEADER))
    )
