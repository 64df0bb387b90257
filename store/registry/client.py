"""A distribution-spec registry client with imgpkg's auth, transport and retry rules.

Spec: the OCI distribution spec (``spec.md``: pulling, pushing monolithically
and in chunks, cross-repository mounting, content discovery, error codes)
and docs/imgpkg-reference.md §6.  One :class:`RegistryClient` per run: it
holds one pooled ``httpx.Client`` (HTTP/1.1) and is safe to share between the
threads of a worker pool.  Every operation returns ``IOResult[T, RegistryError]``.

This module owns the client's public face and puts its parts together:

* ``_connection``: the ``httpx.Client`` made from the flags, the debug log,
  unauthenticated exchanges;
* ``_session``: how a request is made (endpoint discovery, credentials,
  authorization, sending with retries); ``_tokens``: the ``Authorization``
  header and the Bearer token caches; ``_http``: requests, retry pacing and
  error values shared by them all;
* the operations: ``manifests``, ``blobs`` (reads, mounts, uploads), ``tags``.

How a request is made:

1. **Endpoint** (once per registry, cached): ``GET /v2/`` over https; for an
   insecure registry (``--registry-insecure``, or the hosts of reference
   §2.7) over plain http when https gets no answer.  A 401 there names the
   auth scheme (``WWW-Authenticate``).
2. **Credentials** (once per repository, cached): ``imgpkg_pure.store.registry.auth``.
3. **Authorization**: Basic challenge: the registry token as ``Bearer``, else
   ``Basic user:pass`` when both are set.  Bearer challenge: the registry
   token directly, else a token from the realm, cached per (registry,
   credentials, scope set) until it expires (``expires_in``, default 60 s).
   An identity token is exchanged with ``POST`` (OAuth2 ``refresh_token``
   grant, falling back to ``GET`` on 404); otherwise ``GET realm?scope=…&service=…``
   with Basic credentials if any.  A token for a wider scope set is reused
   (a push token serves pulls of the same repository).
4. **Send**: a 401 with a Bearer challenge makes the client fetch a new token
   (adding the challenge's scope) and send again, once.  Temporary failures
   (connection errors, broken and short bodies, 5xx except 501, 408, 429) are
   tried again up to ``retry_count`` times within an overall deadline, after a
   random pause up to 100 ms doubling to 5 s (full jitter; ``Retry-After`` in
   seconds or as a date is honoured up to 60 s); other 4xx are never retried.
   A blob download that breaks resumes with ``Range`` from the bytes verified
   so far; a chunked upload that breaks resumes at the offset the registry
   reports; a monolithic upload is retried with a new session.  429 and 503
   answers also lower the number of blob transfers in flight (``_throttle``).
   ``docs/reliability.md`` has the whole policy.

Scopes: reads ask ``repository:<name>:pull``, writes ``repository:<name>:pull,push``,
a mount also ``repository:<source>:pull``.

With a ``mirror`` (the local store, ``mirror``), reads go through it first and what
is read or written is kept in it (read-through, write-through); an offline mirror
answers everything itself.

Blobs are streamed both ways in chunks of at most 1 MiB.  Downloads are
verified while they are read (:class:`imgpkg_pure.store.registry.verify.VerifiedStream`);
uploads up to ``monolithic_threshold`` bytes are one ``POST`` + ``PUT``, larger
ones ``POST`` + ``PATCH`` (``Content-Range``) per ``upload_chunk_size`` + ``PUT``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TextIO

from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure, Result, Success
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import Digest
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.reference import Reference, Repository
from imgpkg_pure.store.registry import blobs, manifests, mirror, referrers, tags
from imgpkg_pure.store.registry._closing import Closing
from imgpkg_pure.store.registry._connection import Connection
from imgpkg_pure.store.registry._http import CHUNK_SIZE, Endpoint
from imgpkg_pure.store.registry._session import Session
from imgpkg_pure.store.registry.auth import Keychain
from imgpkg_pure.store.registry.blobs import (
    DEFAULT_MONOLITHIC_THRESHOLD,
    DEFAULT_UPLOAD_CHUNK_SIZE,
    BlobPushed,
    PushMode,
)
from imgpkg_pure.store.registry.errors import RegistryError, RegistryFailure
from imgpkg_pure.store.registry.manifests import MAX_MANIFEST_SIZE, ManifestResponse
from imgpkg_pure.store.registry.mirror import Mirror
from imgpkg_pure.store.registry.options import RegistryOptions
from imgpkg_pure.store.registry.tags import DEFAULT_TAG_PAGE_SIZE
from imgpkg_pure.store.registry.verify import VerifiedStream

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_MONOLITHIC_THRESHOLD",
    "DEFAULT_TAG_PAGE_SIZE",
    "DEFAULT_UPLOAD_CHUNK_SIZE",
    "MAX_MANIFEST_SIZE",
    "BlobPushed",
    "Endpoint",
    "ManifestResponse",
    "PushMode",
    "RegistryClient",
]


class RegistryClient(Closing):
    """A registry client for one run (see the module doc).

    ``environ`` is the environment the keychain and the proxy rules read
    (default: a copy of ``os.environ``).  ``clock``, ``sleep``, ``jitter`` (a
    pause in ``[0, ceiling]``; default random) and ``wall_clock`` (for
    ``Retry-After`` dates) are injectable for tests (token expiry, retry
    delays, counted sleeps); ``debug_stream``
    receives the debug log (default: ``sys.stderr`` at the time of writing).

    Constructing never fails: a problem with ``ca_cert_paths`` or the
    ``IMGPKG_REGISTRY_*`` variables is returned by every operation, and by
    :meth:`open`, which is the preferred way to make a client.

    ``mirror``: the local store in front of the registries (see the module doc); the
    client owns it from then on and closes it with itself.
    """

    def __init__(
        self,
        options: RegistryOptions | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        keychain: Keychain | None = None,
        monolithic_threshold: int = DEFAULT_MONOLITHIC_THRESHOLD,
        upload_chunk_size: int = DEFAULT_UPLOAD_CHUNK_SIZE,
        max_manifest_size: int = MAX_MANIFEST_SIZE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float], float] | None = None,
        wall_clock: Callable[[], float] = time.time,
        debug_stream: TextIO | None = None,
        mirror: Mirror | None = None,
    ) -> None:
        self._options = options if options is not None else RegistryOptions()
        self._mirror = mirror
        env = dict(os.environ) if environ is None else dict(environ)
        if keychain is None:
            keychain = Keychain(self._options, env)
        self._monolithic_threshold = monolithic_threshold
        self._chunk_size = max(1, upload_chunk_size)
        self._max_manifest = max_manifest_size
        connection = Connection(
            self._options,
            env,
            sleep=sleep,
            debug_stream=debug_stream,
            jitter=jitter,
            clock=clock,
            wall_clock=wall_clock,
        )
        self._session = Session(connection, keychain, clock=clock)

    @classmethod
    def open(
        cls,
        options: RegistryOptions | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> IOResult[RegistryClient, RegistryError]:
        """A client, or the setup error (CA files, ``IMGPKG_REGISTRY_*`` variables).

        ``kwargs`` are the other keyword arguments of the constructor.
        """
        client = cls(options, environ=environ, **kwargs)
        error = client._session.setup_error
        if error is not None:
            client.close()
            return IOFailure(error)
        return IOSuccess(client)

    @property
    def options(self) -> RegistryOptions:
        return self._options

    @property
    def mirror(self) -> Mirror | None:
        """The local store in front of the registries, if any."""
        return self._mirror

    def transfers_limit(self) -> int | None:
        """The blob transfers allowed in flight now, when busy registries (429, 503) have
        lowered it; None when not limited (``_throttle``)."""
        return self._session.connection.throttle.limit()

    def close(self) -> None:
        self._session.connection.close()
        held, self._mirror = self._mirror, None
        if held is not None:
            held.close()

    # -- operations -----------------------------------------------------------------------

    def ping(self, registry: str) -> IOResult[Endpoint, RegistryError]:
        """Find how ``registry`` is reached and check that its credentials are accepted."""
        offline = mirror.refuse_offline(self._mirror, f"reaching registry {registry}")
        if isinstance(offline, IOFailure):
            return IOFailure(unsafe_perform_io(offline.failure()))
        return IOResult.from_result(self._session.ping(registry))

    def get_manifest(self, ref: Reference) -> IOResult[ManifestResponse, RegistryError]:
        """``GET /v2/<name>/manifests/<ref>``: the exact bytes, verified against the digest.

        A digest reference is checked against its digest; a tag against the
        ``Docker-Content-Digest`` header when the registry sends one.
        """
        if self._mirror is not None:
            got = mirror.get_manifest(self._session, self._mirror, ref, self._max_manifest)
            return IOResult.from_result(got)
        return IOResult.from_result(manifests.get_manifest(self._session, ref, self._max_manifest))

    def head_manifest(self, ref: Reference) -> IOResult[Descriptor | None, RegistryError]:
        """``HEAD /v2/<name>/manifests/<ref>``: the descriptor, or None when unknown (404).

        Falls back to GET when the registry's HEAD answer lacks the digest header.
        """
        if self._mirror is not None:
            known = mirror.head_manifest(self._session, self._mirror, ref, self._max_manifest)
            return IOResult.from_result(known)
        found = manifests.head_manifest(self._session, ref, self._max_manifest)
        return IOResult.from_result(found)

    def put_manifest(
        self, repo: Repository, tag_or_digest: str | Digest, raw: bytes, media_type: str
    ) -> IOResult[Digest, RegistryError]:
        """``PUT /v2/<name>/manifests/<tag|digest>``; the manifest's digest."""

        def put() -> Result[Digest, RegistryError]:
            return manifests.put_manifest(self._session, repo, tag_or_digest, raw, media_type)

        if self._mirror is not None:
            kept = mirror.put_manifest(
                put,
                self._mirror,
                repo=repo,
                tag_or_digest=tag_or_digest,
                raw=raw,
                media_type=media_type,
            )
            return IOResult.from_result(kept)
        return IOResult.from_result(put())

    def blob_exists(self, repo: Repository, digest: Digest) -> IOResult[int | None, RegistryError]:
        """``HEAD /v2/<name>/blobs/<digest>``: the blob's size, or None when absent."""
        offline = mirror.refuse_offline(self._mirror, f"asking {repo} for blob {digest}")
        if isinstance(offline, IOFailure):
            return IOFailure(unsafe_perform_io(offline.failure()))
        return IOResult.from_result(blobs.blob_size(self._session, repo, digest))

    def open_blob(
        self, repo: Repository, descriptor: Descriptor
    ) -> IOResult[VerifiedStream, RegistryError]:
        """``GET /v2/<name>/blobs/<digest>`` as a :class:`VerifiedStream`.

        Iterate it (chunks of at most 1 MiB) and then ask ``verdict()``: only a
        successful verdict means the bytes are the descriptor's.  Use it as a
        context manager so the connection is released.
        """
        if self._mirror is not None:
            held = mirror.open_blob(self._session, self._mirror, repo, descriptor)
            return IOResult.from_result(held)
        return IOResult.from_result(blobs.open_blob(self._session, repo, descriptor))

    def fetch_blob_to(
        self, repo: Repository, descriptor: Descriptor, write: Callable[[bytes], object]
    ) -> IOResult[Descriptor, RegistryError]:
        """Stream a blob into ``write``; the descriptor once size and digest are verified.

        ``write`` has seen unverified bytes when this fails: write somewhere
        provisional and commit only on success.
        """
        if self._mirror is None:
            return blobs.fetch_blob_to(self._session, repo, descriptor, write)
        opened = self.open_blob(repo, descriptor)
        if isinstance(opened, IOFailure):
            return IOFailure(unsafe_perform_io(opened.failure()))
        with unsafe_perform_io(opened.unwrap()) as stream:
            for chunk in stream:
                write(chunk)
            return stream.verdict()

    def push_blob(
        self,
        repo: Repository,
        descriptor: Descriptor,
        open_chunks: Callable[[], Iterable[bytes]],
        mount_from: Repository | None = None,
        *,
        known_absent: bool = False,
    ) -> IOResult[BlobPushed, RegistryError]:
        """Make the blob present in ``repo``: HEAD, then mount, then upload.

        ``open_chunks`` opens the content from its start (it is called again
        when an upload is retried).  ``mount_from`` (same registry) is tried
        with ``POST ?mount=&from=``; a 202 answer means the registry did not
        mount, and its upload session is used instead.  Without it, whether the
        blob is there is asked by the upload's first request (a mount from the
        repository itself, ``blobs.py``).  ``known_absent``: the caller's own
        ``blob_exists`` just said no; nothing is asked again.
        """

        def push(chunks: Callable[[], Iterable[bytes]]) -> Result[BlobPushed, RegistryError]:
            return blobs.push_blob(
                self._session,
                repo,
                descriptor,
                chunks,
                mount_from,
                monolithic_threshold=self._monolithic_threshold,
                chunk_size=self._chunk_size,
                known_absent=known_absent,
            )

        if self._mirror is not None:
            kept = mirror.push_blob(push, self._mirror, descriptor, open_chunks)
            return IOResult.from_result(kept)
        return IOResult.from_result(push(open_chunks))

    def list_tags(
        self, repo: Repository, page_size: int = DEFAULT_TAG_PAGE_SIZE
    ) -> IOResult[tuple[str, ...], RegistryError]:
        """``GET /v2/<name>/tags/list?n=<page_size>``, following ``Link: <…>; rel="next"``."""
        listed = self._listed(repo, page_size, None)
        return IOResult.from_result(listed.map(lambda found: found or ()))

    def tags_if_few(
        self, repo: Repository, max_pages: int, page_size: int = DEFAULT_TAG_PAGE_SIZE
    ) -> IOResult[frozenset[str] | None, RegistryError]:
        """The tags of ``repo`` when they fit in ``max_pages`` pages, else None; a
        repository the registry does not know (``404 NAME_UNKNOWN``) has none."""
        listed = self._listed(repo, page_size, max_pages)
        match listed:
            case Success(found):
                return IOSuccess(None if found is None else frozenset(found))
            case Failure(RegistryFailure(status=404, codes=codes)) if "NAME_UNKNOWN" in codes:
                return IOSuccess(frozenset())
        return IOResult.from_result(listed.map(lambda _: None))

    def _listed(
        self, repo: Repository, page_size: int, max_pages: int | None
    ) -> Result[tuple[str, ...] | None, RegistryError]:
        """``tags.list_tags``, refused offline (the store keeps no listings)."""
        offline = mirror.refuse_offline(self._mirror, f"listing the tags of {repo}")
        if isinstance(offline, IOFailure):
            return Failure(unsafe_perform_io(offline.failure()))
        return tags.list_tags(self._session, repo, page_size, max_pages=max_pages)

    def referrers(
        self, repo: Repository, subject: Digest, artifact_type: str | None = None
    ) -> IOResult[tuple[Descriptor, ...] | None, RegistryError]:
        """``GET /v2/<name>/referrers/<digest>`` (every page): the referrers list's entries,
        or None when the registry has no referrers API (404; read the tag schema then).

        An offline mirror answers None: the tag schema is then read from the store."""
        if self._mirror is not None and self._mirror.offline:
            return IOSuccess(None)
        found = referrers.list_referrers(self._session, repo, subject, artifact_type)
        return IOResult.from_result(found)

    def put_referrer(
        self, repo: Repository, digest: Digest, raw: bytes, media_type: str
    ) -> IOResult[bool, RegistryError]:
        """``PUT`` a manifest that has a ``subject``, by digest; whether the registry
        acknowledged the subject (``OCI-Subject``: it indexes referrers itself)."""
        offline = mirror.refuse_offline(self._mirror, f"pushing a referrer to {repo}")
        if isinstance(offline, IOFailure):
            return IOFailure(unsafe_perform_io(offline.failure()))
        pushed = referrers.put_referrer(self._session, repo, digest, raw, media_type)
        return IOResult.from_result(pushed)
