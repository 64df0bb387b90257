"""Blobs in a registry: check for them, read them verified, and push them (mount or upload).

Spec: the OCI distribution spec, ``spec.md`` "Pulling blobs", "Checking if
content exists in the registry", "Pushing blobs" (monolithic ``POST`` +
``PUT``, and chunked ``POST`` + ``PATCH`` + ``PUT``), "Mounting a blob from
another repository" and "Canceling an Upload".

Reading: a blob is read as a :class:`imgpkg_pure.store.registry.verify.VerifiedStream`
(chunks as the connection delivers them, at most 1 MiB each): a
``Content-Length`` that is not the descriptor's size fails before any byte is
read, and only the stream's successful verdict means the bytes are the
descriptor's.

Pushing (:func:`push_blob`):

* A blob already present (``HEAD``) is not sent again.
* ``mount_from`` (same registry, another repository) is tried with ``POST
  ?mount=&from=``; a 202 answer means the registry did not mount, and its
  upload session is used instead.
* Blobs up to ``monolithic_threshold`` bytes go in one ``PUT``; larger ones in
  ``PATCH`` requests of ``chunk_size`` bytes (``Content-Range``), whose
  ``Range`` answers must agree, then an empty ``PUT``.  Bodies are streamed in
  pieces of at most 1 MiB, exactly the descriptor's size: content that ends
  early stops the request (``SizeMismatch``), content that goes on is refused
  after the upload.
* A failed upload session is cancelled (best effort ``DELETE``); a temporary
  failure retries the whole upload with a new session, never one request of
  a session.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator
from typing import Final, final

import attrs
import httpx
from attrs import frozen
from returns.io import IOFailure, IOResult
from returns.result import Failure, Result, Success

from imgpkg_pure.digest import Digest
from imgpkg_pure.errors import SizeMismatch
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.reference import Repository
from imgpkg_pure.registry_wire import parse_upload_range, redact_url
from imgpkg_pure.store.registry._http import (
    CHUNK_SIZE,
    OCTET,
    PULL,
    PULL_PUSH,
    BodyFailed,
    BodySource,
    Call,
    Headers,
    content_length,
    is_temporary,
    location,
    protocol_failure,
    repository_call,
    transport_failure,
)
from imgpkg_pure.store.registry._session import Session
from imgpkg_pure.store.registry.errors import RegistryError, TransportFailure
from imgpkg_pure.store.registry.verify import VerifiedStream

__all__ = [
    "DEFAULT_MONOLITHIC_THRESHOLD",
    "DEFAULT_UPLOAD_CHUNK_SIZE",
    "BlobPushed",
    "PushMode",
    "blob_size",
    "fetch_blob_to",
    "open_blob",
    "push_blob",
]

#: Blobs up to this size are uploaded with one PUT; larger ones in PATCH chunks.
DEFAULT_MONOLITHIC_THRESHOLD: Final = 128 << 20
#: The size of each PATCH of a chunked upload.
DEFAULT_UPLOAD_CHUNK_SIZE: Final = 64 << 20


# --- reading --------------------------------------------------------------------------------


def blob_size(
    session: Session, repo: Repository, digest: Digest, action: str = PULL
) -> Result[int | None, RegistryError]:
    """``HEAD /v2/<name>/blobs/<digest>``: the blob's size, or None when absent.

    ``action`` is the scope asked for (a push checks with its push token).
    """
    call = repository_call(repo, "HEAD", f"/v2/{repo.repository}/blobs/{digest}", action=action)
    return session.head(call).map(
        lambda response: None if response is None else content_length(response) or 0
    )


def open_blob(
    session: Session, repo: Repository, descriptor: Descriptor
) -> Result[VerifiedStream, RegistryError]:
    """``GET /v2/<name>/blobs/<digest>`` as a :class:`VerifiedStream` (see the module doc)."""
    call = repository_call(repo, "GET", f"/v2/{repo.repository}/blobs/{descriptor.digest}")
    sent = session.call(call, (200,))
    if not isinstance(sent, Success):
        return Failure(sent.failure())
    response = sent.unwrap()
    what = f"blob {descriptor.digest} from {repo}"
    told = content_length(response)
    if told is not None and told != descriptor.size:
        response.close()
        return Failure(SizeMismatch(what=what, expected=descriptor.size, actual=told))
    method, url = "GET", redact_url(str(response.request.url))

    def map_error(error: Exception) -> RegistryError | None:
        if isinstance(error, httpx.TransportError):
            return transport_failure(method, url, error)
        if isinstance(error, httpx.StreamError):
            return TransportFailure(method=method, url=url, reason=str(error))
        return None

    return Success(
        VerifiedStream(
            response.iter_raw(),
            descriptor,
            what=what,
            close=response.close,
            map_error=map_error,
        )
    )


def fetch_blob_to(
    session: Session, repo: Repository, descriptor: Descriptor, write: Callable[[bytes], object]
) -> IOResult[Descriptor, RegistryError]:
    """Stream a blob into ``write``; the descriptor once size and digest are verified.

    ``write`` has seen unverified bytes when this fails: write somewhere
    provisional and commit only on success.
    """
    opened = open_blob(session, repo, descriptor)
    if not isinstance(opened, Success):
        return IOFailure(opened.failure())
    stream: VerifiedStream = opened.unwrap()
    with stream:
        for chunk in stream:
            write(chunk)
    return stream.verdict()


# --- pushing --------------------------------------------------------------------------------


class PushMode(enum.Enum):
    """How a blob got into the destination repository."""

    EXISTED = "existed"
    MOUNTED = "mounted"
    UPLOADED = "uploaded"


@final
@frozen(kw_only=True)
class BlobPushed:
    descriptor: Descriptor
    mode: PushMode


class _Feed:
    """Hands out exactly ``size`` bytes of a chunk source, one request body at a time.

    A source that ends early stops the request being sent (``BodyFailed``
    carrying a ``SizeMismatch``): the registry never sees a short body.
    """

    def __init__(self, chunks: Iterable[bytes], size: int, what: str) -> None:
        self._source = iter(chunks)
        self._size = size
        self._what = what
        self._pending = b""
        self.sent = 0

    def take(self, count: int) -> Iterator[bytes]:
        """The next ``count`` bytes, in pieces of at most ``CHUNK_SIZE``."""
        remaining = count
        while remaining > 0:
            if not self._pending:
                try:
                    self._pending = next(self._source)
                except StopIteration:
                    raise BodyFailed(
                        SizeMismatch(what=self._what, expected=self._size, actual=self.sent)
                    ) from None
                continue
            piece = self._pending[: min(remaining, CHUNK_SIZE)]
            self._pending = self._pending[len(piece) :]
            remaining -= len(piece)
            self.sent += len(piece)
            yield piece

    def body(self, count: int) -> BodySource:
        """A request body source for the next ``count`` bytes."""
        return lambda: self.take(count)

    def surplus(self) -> int:
        """Bytes the source still has after ``size`` (reads at most one more chunk)."""
        if self._pending:
            return len(self._pending)
        for chunk in self._source:
            if chunk:
                return len(chunk)
        return 0


def _upload_call(
    repo: Repository,
    method: str,
    url: str,
    headers: Headers = (),
    *,
    content: bytes | None = None,
    stream: BodySource | None = None,
) -> Call:
    """A request of an upload session: write scope, sent once (a retry is a new session)."""
    return repository_call(
        repo,
        method,
        url,
        action=PULL_PUSH,
        headers=headers,
        content=content,
        stream=stream,
        retry=False,
    )


def push_blob(
    session: Session,
    repo: Repository,
    descriptor: Descriptor,
    open_chunks: Callable[[], Iterable[bytes]],
    mount_from: Repository | None = None,
    *,
    monolithic_threshold: int = DEFAULT_MONOLITHIC_THRESHOLD,
    chunk_size: int = DEFAULT_UPLOAD_CHUNK_SIZE,
    known_absent: bool = False,
) -> Result[BlobPushed, RegistryError]:
    """Make the blob present in ``repo``: HEAD, then mount, then upload (see the module doc).

    ``open_chunks`` opens the content from its start (it is called again
    when an upload is retried).  ``known_absent``: the caller has just asked
    (``blob_size``) and the blob was not there; no second ``HEAD``.
    """
    if not known_absent:
        present = blob_size(session, repo, descriptor.digest, PULL_PUSH)
        if not isinstance(present, Success):
            return Failure(present.failure())
        if present.unwrap() is not None:
            return Success(BlobPushed(descriptor=descriptor, mode=PushMode.EXISTED))
    upload = _Upload(session, repo, descriptor, monolithic_threshold, max(1, chunk_size))
    attempts = session.connection.attempts()
    while True:
        outcome = upload.once(open_chunks, mount_from)
        if isinstance(outcome, Success) or not attempts.again(is_temporary(outcome.failure())):
            return outcome


class _Upload:
    """One blob's way into one repository: the requests of an upload session."""

    def __init__(
        self,
        session: Session,
        repo: Repository,
        descriptor: Descriptor,
        monolithic_threshold: int,
        chunk_size: int,
    ) -> None:
        self._session = session
        self._repo = repo
        self._descriptor = descriptor
        self._monolithic_threshold = monolithic_threshold
        self._chunk_size = chunk_size

    def once(
        self, open_chunks: Callable[[], Iterable[bytes]], mount_from: Repository | None
    ) -> Result[BlobPushed, RegistryError]:
        """Mount or upload, once, with a new session."""
        repo, descriptor = self._repo, self._descriptor
        digest = descriptor.digest
        target = f"/v2/{repo.repository}/blobs/uploads/"
        call = _upload_call(repo, "POST", target, (("Content-Length", "0"),), content=b"")
        mounting = (
            mount_from is not None and mount_from.registry == repo.registry and mount_from != repo
        )
        if mounting:
            assert mount_from is not None
            call = attrs.evolve(
                call,
                target=call.target + f"?mount={digest}&from={mount_from.repository}",
                scopes=call.scopes.union((mount_from.scope(PULL),)),
            )
        started = self._session.call_closed(call, (201, 202) if mounting else (202,))
        if not isinstance(started, Success):
            return Failure(started.failure())
        response = started.unwrap()
        if response.status_code == 201:
            return Success(BlobPushed(descriptor=descriptor, mode=PushMode.MOUNTED))
        session_url = location(response)
        if session_url is None:
            return Failure(protocol_failure(response, "the upload answer has no Location header"))
        what = f"blob {digest} for {repo}"
        feed = _Feed(open_chunks(), descriptor.size, what)
        if descriptor.size <= self._monolithic_threshold:
            uploaded = self._put(session_url, feed, descriptor.size)
        else:
            uploaded = self._chunked(session_url, feed)
        if not isinstance(uploaded, Success):
            self._cancel(session_url)
            return Failure(uploaded.failure())
        surplus = feed.surplus()
        if surplus:
            return Failure(
                SizeMismatch(what=what, expected=descriptor.size, actual=descriptor.size + surplus)
            )
        return Success(BlobPushed(descriptor=descriptor, mode=PushMode.UPLOADED))

    def _cancel(self, session_url: str) -> None:
        """Best effort ``DELETE`` of an upload session that failed (spec: "Canceling an Upload")."""
        sent = self._session.send(_upload_call(self._repo, "DELETE", session_url))
        if isinstance(sent, Success):
            sent.unwrap().close()

    def _put(self, session_url: str, feed: _Feed, count: int) -> Result[None, RegistryError]:
        """The closing ``PUT ?digest=``, carrying the last ``count`` bytes."""
        digest = str(self._descriptor.digest)
        url = str(httpx.URL(session_url).copy_merge_params({"digest": digest}))
        headers = (("Content-Type", OCTET), ("Content-Length", str(count)))
        if count:
            call = _upload_call(self._repo, "PUT", url, headers, stream=feed.body(count))
        else:
            call = _upload_call(self._repo, "PUT", url, headers, content=b"")
        return self._session.call_closed(call, (201, 204)).map(lambda _: None)

    def _chunked(self, session_url: str, feed: _Feed) -> Result[None, RegistryError]:
        offset = 0
        size = self._descriptor.size
        while offset < size:
            count = min(self._chunk_size, size - offset)
            headers = (
                ("Content-Type", OCTET),
                ("Content-Length", str(count)),
                ("Content-Range", f"{offset}-{offset + count - 1}"),
            )
            call = _upload_call(self._repo, "PATCH", session_url, headers, stream=feed.body(count))
            sent = self._session.call_closed(call, (202,))
            if not isinstance(sent, Success):
                return Failure(sent.failure())
            response = sent.unwrap()
            progress = parse_upload_range(response.headers.get("Range", ""))
            if progress is not None and progress != offset + count:
                return Failure(
                    protocol_failure(
                        response,
                        f"the registry holds {progress} bytes of the upload, "
                        f"expected {offset + count}",
                    )
                )
            next_url = location(response)
            if next_url is None:
                return Failure(protocol_failure(response, "the PATCH answer has no Location"))
            session_url = next_url
            offset += count
        return self._put(session_url, feed, 0)
