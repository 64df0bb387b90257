"""Manifests and indexes in a registry: fetch, check for, and push them, verified.

Spec: the OCI distribution spec, ``spec.md`` "Pulling manifests", "Checking
if content exists in the registry" and "Pushing Manifests".

* A fetched manifest is read whole, up to ``max_manifest_size`` bytes
  (:data:`MAX_MANIFEST_SIZE`, 4 MiB, the spec's suggested limit); its digest
  is checked against the reference's digest, or against the
  ``Docker-Content-Digest`` header for a tag when the registry sends one.
  A media type the registry does not say (or says as plain JSON or bytes) is
  taken from the manifest's own ``mediaType``.
* ``HEAD`` falls back to ``GET`` when the answer lacks the digest, size or media type.
* A push by digest checks the bytes against that digest first; the registry's
  ``Docker-Content-Digest`` answer must agree with the pushed bytes.
"""

from __future__ import annotations

from typing import Final, final

import httpx
from attrs import field, frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.digest import Digest, digest_of
from imgpkg_pure.errors import DigestMismatch
from imgpkg_pure.media_types import MANIFEST_ACCEPT
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.oci.codec import declared_media_type
from imgpkg_pure.reference import Reference, Repository
from imgpkg_pure.registry_wire import redact_url
from imgpkg_pure.store.registry._http import (
    OCTET,
    PULL_PUSH,
    Attempts,
    Call,
    content_length,
    header_digest,
    is_temporary,
    media_type,
    read_body,
    repository_call,
)
from imgpkg_pure.store.registry._session import Session
from imgpkg_pure.store.registry.errors import ManifestTooLarge, RegistryError

__all__ = [
    "MAX_MANIFEST_SIZE",
    "ManifestResponse",
    "get_manifest",
    "head_manifest",
    "put_manifest",
    "send_manifest",
]

#: Manifests larger than this are refused (the distribution spec's suggested limit).
MAX_MANIFEST_SIZE: Final = 4 << 20


@final
@frozen(kw_only=True)
class ManifestResponse:
    """A manifest or index as served: its exact bytes, media type and (verified) digest."""

    raw: bytes = field(repr=False)
    media_type: str
    digest: Digest

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(media_type=self.media_type, digest=self.digest, size=len(self.raw))


def _manifest_call(ref: Reference, method: str) -> Call:
    return repository_call(
        ref.context(),
        method,
        f"/v2/{ref.repository}/manifests/{ref.identifier}",
        headers=(("Accept", ", ".join(MANIFEST_ACCEPT)),),
    )


def _mismatch(what: str, expected: Digest, actual: Digest) -> DigestMismatch:
    return DigestMismatch(what=what, expected=str(expected), actual=str(actual))


def get_manifest(
    session: Session, ref: Reference, max_size: int = MAX_MANIFEST_SIZE
) -> Result[ManifestResponse, RegistryError]:
    """``GET /v2/<name>/manifests/<ref>``: the exact bytes, verified against the digest.

    A body that breaks off, ends short, or does not hash to the digest expected
    is fetched again (the same retry budget as the request itself): a corrupt
    answer is never returned, and a registry that keeps serving one gets the
    ``DigestMismatch`` once the tries are spent.
    """
    attempts = session.connection.attempts()
    while True:
        got = _get_manifest_once(session, ref, max_size, attempts)
        if isinstance(got, Success):
            return got
        error = got.failure()
        refetch = is_temporary(error) or isinstance(error, DigestMismatch)
        if not (refetch and attempts.again(True)):
            return got


def _get_manifest_once(
    session: Session, ref: Reference, max_size: int, attempts: Attempts
) -> Result[ManifestResponse, RegistryError]:
    sent = session.call(_manifest_call(ref, "GET"), (200,), attempts)
    if not isinstance(sent, Success):
        return Failure(sent.failure())
    response: httpx.Response = sent.unwrap()
    told = content_length(response)
    if told is not None and told > max_size:
        response.close()
        url = redact_url(str(response.request.url))
        return Failure(ManifestTooLarge(url=url, limit=max_size, size=told))
    served_type = media_type(response)
    served_digest = header_digest(response)
    body = read_body(response, max_size)
    if not isinstance(body, Success):
        return Failure(body.failure())
    raw = body.unwrap()
    expected = ref.digest if ref.digest is not None else served_digest
    actual = digest_of(raw, expected.algorithm if expected is not None else "sha256")
    if expected is not None and actual != expected:
        return Failure(_mismatch(f"manifest {ref}", expected, actual))
    if served_type in ("", "application/json", "text/plain", OCTET):
        served_type = declared_media_type(raw) or served_type
    return Success(ManifestResponse(raw=raw, media_type=served_type, digest=actual))


def head_manifest(
    session: Session, ref: Reference, max_size: int = MAX_MANIFEST_SIZE
) -> Result[Descriptor | None, RegistryError]:
    """``HEAD /v2/<name>/manifests/<ref>``: the descriptor, or None when unknown (404)."""
    found = session.head(_manifest_call(ref, "HEAD"))
    if not isinstance(found, Success):
        return Failure(found.failure())
    response = found.unwrap()
    if response is None:
        return Success(None)
    digest = header_digest(response)
    size = content_length(response)
    served_type = media_type(response)
    if digest is None or size is None or not served_type:
        return get_manifest(session, ref, max_size).map(lambda m: m.descriptor)
    if ref.digest is not None and digest != ref.digest:
        return Failure(_mismatch(f"manifest {ref}", ref.digest, digest))
    return Success(Descriptor(media_type=served_type, digest=digest, size=size))


def put_manifest(
    session: Session, repo: Repository, tag_or_digest: str | Digest, raw: bytes, media: str
) -> Result[Digest, RegistryError]:
    """``PUT /v2/<name>/manifests/<tag|digest>``; the manifest's digest."""
    return send_manifest(session, repo, tag_or_digest, raw, media).map(lambda sent: sent[0])


def send_manifest(
    session: Session, repo: Repository, tag_or_digest: str | Digest, raw: bytes, media: str
) -> Result[tuple[Digest, httpx.Response], RegistryError]:
    """:func:`put_manifest`, with the registry's (closed) answer for the headers it sent."""
    if isinstance(tag_or_digest, Digest):
        computed = digest_of(raw, tag_or_digest.algorithm)
        if computed != tag_or_digest:
            return Failure(
                _mismatch(f"manifest for {repo}@{tag_or_digest}", tag_or_digest, computed)
            )
    computed = digest_of(raw)
    call = repository_call(
        repo,
        "PUT",
        f"/v2/{repo.repository}/manifests/{tag_or_digest}",
        action=PULL_PUSH,
        headers=(("Content-Type", media),),
        content=raw,
    )
    sent = session.call_closed(call, (200, 201, 202))
    if not isinstance(sent, Success):
        return Failure(sent.failure())
    response = sent.unwrap()
    told = header_digest(response)
    if told is not None and told.algorithm == computed.algorithm and told != computed:
        at = "@" if isinstance(tag_or_digest, Digest) else ":"
        return Failure(_mismatch(f"manifest pushed to {repo}{at}{tag_or_digest}", computed, told))
    return Success((computed, response))
