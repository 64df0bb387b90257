"""The registry client's read-through, write-through mirror: the local store in front.

A :class:`RegistryClient` made with a ``mirror`` (``imgpkg_pure.store.content.mirror``
implements :class:`Mirror`; this room only names what it asks of one) sends
its reads through it:

* **manifests by digest** come from the store, unasked, when it saw them in
  that repository before (content is named by its hash: what was verified on
  the way in is trusted by its address; the repository says *where* it is,
  which is what copy and pull ask when they look for an image next to a
  bundle); one the store holds from elsewhere is served once a ``HEAD`` says
  the repository has it (a 404 to that ``HEAD`` is the answer: no ``GET``
  follows); otherwise it is fetched, and kept;
* **manifests by tag** are re-validated: when the store recorded a
  resolution of the tag, one ``HEAD`` asks the registry for the digest now,
  and only a different answer fetches the manifest again.  A tag never seen
  is fetched with one ``GET``, as without a mirror (request counts unchanged);
* **blobs** the store holds are served from it, re-hashed as they stream (a
  blob that no longer matches its name is dropped from the store, and the
  reader's retry fetches it from the registry); the others stream from the
  registry *through* a :class:`imgpkg_pure.store.registry.verify.BlobSink`
  (the tee): every chunk the reader takes is also written to an ingest of
  the store, committed when the stream's verdict is a success;
* **writes** (a pushed blob's bytes, a pushed manifest) are kept too, once the
  registry accepted them, so what ``push`` and ``copy`` wrote is there for the
  next read.

``offline`` mirrors never touch the network: what they do not hold is an
:class:`OfflineUnavailable` naming it (a tag they never resolved, or a digest
never seen in the repository asked, is a not-found answer, so lookups that may
find nothing, a locations image, a signature, go on as online), a tag is served
from its last recorded
resolution (the mirror tells the user when it was made), and every operation
that only a registry can answer (uploads, tag lists, blob ``HEAD``\\ s at a
destination) is refused the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, Protocol

from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure, Result, Success
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import Digest, digest_of
from imgpkg_pure.errors import DigestMismatch
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.reference import Reference, Repository
from imgpkg_pure.store.registry import blobs, manifests
from imgpkg_pure.store.registry._http import CHUNK_SIZE
from imgpkg_pure.store.registry._session import Session
from imgpkg_pure.store.registry.blobs import VERIFY_FIRST_LIMIT, BlobPushed
from imgpkg_pure.store.registry.errors import OfflineUnavailable, RegistryError, RegistryFailure
from imgpkg_pure.store.registry.manifests import ManifestResponse
from imgpkg_pure.store.registry.verify import BlobSink, VerifiedStream

__all__ = [
    "Mirror",
    "get_manifest",
    "head_manifest",
    "offline_refusal",
    "open_blob",
    "push_blob",
    "put_manifest",
]


class Mirror(Protocol):
    """What the client asks of the local store in front of it (see the module doc)."""

    @property
    def offline(self) -> bool:
        """Serve from the store only; never use the network."""
        ...

    @property
    def location(self) -> str:
        """The store's directory, for messages."""
        ...

    def holds(self, digest: Digest) -> bool:
        """Whether the store has a blob of this digest (no reading, no counting)."""
        ...

    def keeps(self, digests: Iterable[Digest]) -> bool:
        """Whether the store has every one of ``digests``, each held for this run first (no
        gc or prune takes them before it ends; no reading, no counting)."""
        ...

    def manifest(self, digest: Digest) -> tuple[bytes, str] | None:
        """A stored manifest's bytes (verified) and media type, or None."""
        ...

    def resolution(self, ref: Reference) -> tuple[Descriptor, str] | None:
        """The last recorded resolution of a tag reference: the descriptor and when it was
        made (RFC 3339), or None when the store recorded none."""
        ...

    def recorded(self, ref: Reference) -> Descriptor | None:
        """What the store recorded under ``ref`` (a tag or a digest reference), or None."""
        ...

    def keep_manifest(
        self, ref: Reference, raw: bytes, descriptor: Descriptor, *, written: bool = False
    ) -> None:
        """Store a verified manifest and record ``ref`` as resolving to it (now); ``written``:
        it was pushed, not fetched."""
        ...

    def open_blob(self, descriptor: Descriptor) -> BinaryIO | None:
        """A stored blob, held for this run, or None when the store does not hold it."""
        ...

    def drop(self, digest: Digest) -> None:
        """Remove a stored blob that no longer matches its digest."""
        ...

    def tee(self, descriptor: Descriptor) -> BlobSink | None:
        """An ingest for a blob about to stream past, or None when there is no need (the
        store holds it, or another stream of this run is keeping it)."""
        ...

    def note(self, text: str) -> None:
        """Tell the user something about where content came from (one log line)."""
        ...

    def close(self) -> None:
        """The run is over: record what it saw, keep the store within its bound, let go."""
        ...


def offline_refusal(mirror: Mirror, what: str) -> OfflineUnavailable:
    """An operation only a registry can do, refused by an offline mirror."""
    return OfflineUnavailable(
        what=what, store=mirror.location, reason="only the registry can answer this"
    )


def _missing(
    mirror: Mirror, what: str, reason: str = "not in the local store"
) -> OfflineUnavailable:
    return OfflineUnavailable(what=what, store=mirror.location, reason=reason)


def _unknown_tag(mirror: Mirror, ref: Reference) -> RegistryFailure:
    """A tag the store never resolved, offline: a not-found answer (so a lookup that may
    find nothing, a locations image, a signature, goes on as it would online)."""
    return RegistryFailure(
        status=404,
        codes=("MANIFEST_UNKNOWN",),
        detail=f"the local store {mirror.location} recorded no resolution of this tag",
        method="--offline",
        url=str(ref),
        temporary=False,
        answered=False,
    )


def _not_seen_here(mirror: Mirror, ref: Reference) -> RegistryFailure:
    """Offline, a manifest the store holds, but never saw in the repository asked about."""
    return RegistryFailure(
        status=404,
        codes=("MANIFEST_UNKNOWN",),
        detail=f"the local store {mirror.location} holds {ref.digest} but never saw it in "
        f"{ref.context()}",
        method="--offline",
        url=str(ref),
        temporary=False,
        answered=False,
    )


def _from_store(raw: bytes, media_type: str, digest: Digest) -> ManifestResponse:
    return ManifestResponse(raw=raw, media_type=media_type, digest=digest)


def get_manifest(
    session: Session, mirror: Mirror, ref: Reference, max_size: int
) -> Result[ManifestResponse, RegistryError]:
    """A manifest by digest (from the store when held) or by tag (re-validated with a
    ``HEAD`` when the store recorded the tag), kept in the store when fetched."""
    if ref.digest is not None:
        return _manifest_by_digest(session, mirror, ref, ref.digest, max_size)
    recorded = mirror.resolution(ref)
    if mirror.offline:
        if recorded is None:
            return Failure(_unknown_tag(mirror, ref))
        cached = mirror.manifest(recorded[0].digest)
        if cached is None:
            return Failure(_missing(mirror, f"manifest {ref.context().digest(recorded[0].digest)}"))
        mirror.note(
            f"--offline: '{ref}' is {recorded[0].digest}, "
            f"as the local store recorded it at {recorded[1]}"
        )
        return Success(_from_store(cached[0], cached[1], recorded[0].digest))
    if recorded is not None and mirror.holds(recorded[0].digest):
        now = manifests.head_manifest(session, ref, max_size)
        found = now.unwrap() if isinstance(now, Success) else None
        if found is not None and found.digest == recorded[0].digest:
            served = _serve(mirror, ref, found.digest)
            if served is not None:
                return Success(served)
    return _fetch_manifest(session, mirror, ref, max_size)


def _serve(mirror: Mirror, ref: Reference, digest: Digest) -> ManifestResponse | None:
    """The stored manifest, ``ref`` recorded as resolving to it; None when it is not held."""
    held = mirror.manifest(digest)
    if held is None:
        return None
    response = _from_store(held[0], held[1], digest)
    mirror.keep_manifest(ref, response.raw, response.descriptor)
    return response


def _manifest_by_digest(
    session: Session, mirror: Mirror, ref: Reference, digest: Digest, max_size: int
) -> Result[ManifestResponse, RegistryError]:
    """A digest names content, a repository says where it is: the store serves a manifest
    unasked when it saw it in this repository before; one it holds from elsewhere is served
    once a ``HEAD`` says the repository has it too (copy and pull find images by asking
    repositories for digests); offline, only what it saw there."""
    if mirror.recorded(ref) is not None:
        served = _serve(mirror, ref, digest)
        if served is not None:
            return Success(served)
    if mirror.offline:
        if mirror.holds(digest):
            return Failure(_not_seen_here(mirror, ref))
        return Failure(_missing(mirror, f"manifest {ref}"))
    if mirror.holds(digest):
        asked = manifests.head_manifest(session, ref, max_size)
        found = asked.unwrap() if isinstance(asked, Success) else None
        if isinstance(asked, Success) and found is None:
            # the registry says it has no such manifest here: a GET would say the same (a
            # bundle's image looked for next to it costs one request, not two)
            return Failure(_absent_here(ref))
        if found is not None and found.digest == digest:
            served = _serve(mirror, ref, digest)
            if served is not None:
                return Success(served)
    return _fetch_manifest(session, mirror, ref, max_size)


def _absent_here(ref: Reference) -> RegistryFailure:
    """The ``HEAD`` of a manifest by digest answered 404 (as the ``GET`` would have)."""
    return RegistryFailure(
        status=404,
        codes=(),
        detail="",
        method="HEAD",
        url=str(ref),
        temporary=False,
    )


def _fetch_manifest(
    session: Session, mirror: Mirror, ref: Reference, max_size: int
) -> Result[ManifestResponse, RegistryError]:
    fetched = manifests.get_manifest(session, ref, max_size)
    if isinstance(fetched, Success):
        response = fetched.unwrap()
        mirror.keep_manifest(ref, response.raw, response.descriptor)
    return fetched


def head_manifest(
    session: Session, mirror: Mirror, ref: Reference, max_size: int
) -> Result[Descriptor | None, RegistryError]:
    """Online, the registry's answer (it is a question about the registry now); offline,
    what the store recorded under ``ref`` (None: not known to be there)."""
    if not mirror.offline:
        return manifests.head_manifest(session, ref, max_size)
    recorded = mirror.recorded(ref)
    if recorded is None or mirror.manifest(recorded.digest) is None:
        return Success(None)
    return Success(recorded)


def _store_chunks(handle: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := handle.read(CHUNK_SIZE):
            yield chunk
    finally:
        handle.close()


def _held_stream(mirror: Mirror, descriptor: Descriptor) -> VerifiedStream | None:
    """The stored blob as a verified stream, or None when the store does not hold it (or
    held it corrupt: small blobs are checked before a byte is handed on, and dropped)."""
    handle = mirror.open_blob(descriptor)
    if handle is None:
        return None
    digest = descriptor.digest
    what = f"blob {digest} in the local store {mirror.location}"
    try:
        stored_size = os.fstat(handle.fileno()).st_size
    except (OSError, ValueError):
        stored_size = -1
    if stored_size != descriptor.size:
        # a descriptor that disagrees with the blob named by its digest: the registry's
        # answer decides (the stored blob is not blamed for it)
        handle.close()
        return None
    if descriptor.size <= VERIFY_FIRST_LIMIT:
        with handle:
            whole = handle.read(descriptor.size + 1)
        if len(whole) != descriptor.size or digest_of(whole, digest.algorithm) != digest:
            mirror.drop(digest)
            return None
        pieces = (whole[i : i + CHUNK_SIZE] for i in range(0, max(1, len(whole)), CHUNK_SIZE))
        return VerifiedStream(pieces, descriptor, what=what)
    holder: list[VerifiedStream] = []

    def closed() -> None:
        handle.close()
        verdict = holder[0].verdict() if holder else None
        if isinstance(verdict, IOFailure) and isinstance(
            unsafe_perform_io(verdict.failure()), DigestMismatch
        ):
            mirror.drop(digest)  # read whole, and not its digest: the reader's retry refetches

    stream = VerifiedStream(_store_chunks(handle), descriptor, what=what, close=closed)
    holder.append(stream)
    return stream


def open_blob(
    session: Session, mirror: Mirror, repo: Repository, descriptor: Descriptor
) -> Result[VerifiedStream, RegistryError]:
    """The blob from the store when it holds it, else from the registry, teed into it."""
    held = _held_stream(mirror, descriptor)
    if held is not None:
        return Success(held)
    if mirror.offline:
        return Failure(_missing(mirror, f"blob {descriptor.digest} of {repo}"))
    opened = blobs.open_blob(session, repo, descriptor)
    if isinstance(opened, Success):
        sink = mirror.tee(descriptor)
        if sink is not None:
            opened.unwrap().tee(sink)
    return opened


class _UploadTee:
    """An upload's content, written through into the store as the upload reads it; kept
    only once the registry accepted the upload (the ingest then checks the size)."""

    def __init__(
        self, mirror: Mirror, descriptor: Descriptor, open_chunks: Callable[[], Iterable[bytes]]
    ) -> None:
        self._mirror = mirror
        self._descriptor = descriptor
        self._open_chunks = open_chunks
        self._whole: BlobSink | None = None

    def open(self) -> Iterator[bytes]:
        """The content from its start (called again when an upload is retried or resumed)."""
        sink = None if self._whole is not None else self._mirror.tee(self._descriptor)
        if sink is None:
            yield from self._open_chunks()
            return
        done = False
        try:
            for chunk in self._open_chunks():
                sink.write(chunk)
                yield chunk
            done = True
        finally:
            if done and self._whole is None:
                self._whole = sink
            else:
                sink.abort()

    def settle(self, accepted: bool) -> None:
        sink, self._whole = self._whole, None
        if sink is not None:
            if accepted:
                sink.commit()
            else:
                sink.abort()


def push_blob(
    push: Callable[[Callable[[], Iterable[bytes]]], Result[BlobPushed, RegistryError]],
    mirror: Mirror,
    descriptor: Descriptor,
    open_chunks: Callable[[], Iterable[bytes]],
) -> Result[BlobPushed, RegistryError]:
    """``push`` with the uploaded bytes written through into the store."""
    if mirror.offline:
        return Failure(offline_refusal(mirror, f"pushing blob {descriptor.digest}"))
    tee = _UploadTee(mirror, descriptor, open_chunks)
    pushed = push(tee.open)
    tee.settle(isinstance(pushed, Success))
    return pushed


def put_manifest(
    put: Callable[[], Result[Digest, RegistryError]],
    mirror: Mirror,
    *,
    repo: Repository,
    tag_or_digest: str | Digest,
    raw: bytes,
    media_type: str,
) -> Result[Digest, RegistryError]:
    """``put``, then the pushed manifest kept in the store under the reference it was put as."""
    if mirror.offline:
        return Failure(offline_refusal(mirror, f"pushing a manifest to {repo}"))
    pushed = put()
    if isinstance(pushed, Success):
        digest = pushed.unwrap()
        if isinstance(tag_or_digest, Digest):
            ref = repo.digest(tag_or_digest)
        else:
            tagged = repo.tag(tag_or_digest)
            ref = tagged.unwrap() if isinstance(tagged, Success) else repo.digest(digest)
        descriptor = Descriptor(media_type=media_type, digest=digest, size=len(raw))
        mirror.keep_manifest(ref, raw, descriptor, written=True)
    return pushed


def refuse_offline(mirror: Mirror | None, what: str) -> IOResult[None, RegistryError]:
    """IOFailure when ``mirror`` is offline (``what`` needs a registry), else IOSuccess."""
    if mirror is not None and mirror.offline:
        return IOFailure(offline_refusal(mirror, what))
    return IOSuccess(None)
