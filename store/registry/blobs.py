"""Blobs in a registry: check for them, read them verified, and push them (mount or upload).

Spec: the OCI distribution spec, ``spec.md`` "Pulling blobs", "Checking if
content exists in the registry", "Pushing blobs" (monolithic ``POST`` +
``PUT``, and chunked ``POST`` + ``PATCH`` + ``PUT``), "Mounting a blob from
another repository" and "Canceling an Upload".

Reading: a blob is read as a :class:`imgpkg_pure.store.registry.verify.VerifiedStream`
(chunks as the connection delivers them, at most 1 MiB each), and only the
stream's successful verdict means the bytes are the descriptor's.  On a bad
network (``docs/reliability.md``):

* an answer whose ``Content-Length`` is not the descriptor's size is asked
  again (and fails as ``SizeMismatch`` once the tries are spent);
* a body that breaks off or ends short resumes with ``Range: bytes=N-`` from
  the ``N`` bytes already handed on (hashed by the stream, so the digest is
  still checked over the whole blob); a ``206`` must start at ``N``, a ``200``
  (a server that ignores ``Range``) is a fresh body whose first ``N`` bytes are
  skipped.  A try that got more bytes gives the tries back; the deadline
  still bounds the whole;
* blobs up to :data:`VERIFY_FIRST_LIMIT` (4 MiB: configs, small layers) are
  read whole and verified before any byte is handed on, so one that does not
  hash to its digest is fetched again without the caller ever seeing it.  A
  larger blob's bad digest is the stream's verdict; the caller, which wrote
  its bytes somewhere provisional, starts again.

Pushing (:func:`push_blob`):

* A blob already present is not sent again.  Where no other repository of the
  same registry can lend it, the question "is it there?" and the start of the
  upload are one request: ``POST ?mount=<digest>&from=<this repository>``.  A
  registry answers 201 when the repository holds the blob (distribution links it
  again, a no-op), else 202 with an upload session, so a new blob costs a POST and
  a PUT, not a HEAD, a POST and a PUT.  A registry that refuses such a mount (any
  answer to the POST that is not 201, 202 or a temporary failure, credentials
  refused included) is asked the usual way: ``HEAD``, then a plain ``POST``, so
  its errors are imgpkg's, word for word.  With ``mount_from`` (same registry, another
  repository) the ``HEAD`` comes first, then ``POST ?mount=&from=``; a 202 answer
  means the registry did not mount, and its upload session is used instead.
* Blobs up to ``monolithic_threshold`` bytes go in one ``PUT``; larger ones in
  ``PATCH`` requests of ``chunk_size`` bytes (``Content-Range``), whose
  ``Range`` answers must agree, then an empty ``PUT``.  Bodies are streamed in
  pieces of at most 1 MiB, exactly the descriptor's size: content that ends
  early stops the request (``SizeMismatch``), content that goes on is refused
  after the upload.
* Starting an upload (``POST``) is retried like a read (an abandoned session
  costs nothing).  A chunked upload whose ``PATCH`` fails asks the session
  where it is (``GET`` the upload URL, its ``Range`` header) and goes on from
  the offset the registry reports, re-reading the content up to there; the
  closing ``PUT`` of a completed upload is retried as it is (a ``404`` then
  means an earlier try went through: a ``HEAD`` says).  A monolithic upload
  that fails is retried with a new session, after a ``HEAD`` shows the blob
  did not arrive anyway; a failed session is cancelled (best effort ``DELETE``).
* Uploads and downloads hold a slot of the adaptive concurrency limit
  (``_throttle``) while they move bytes.

Why this module is longer than ~600 lines: reading and pushing share the try budget,
the deadline, the size and digest checks and the resumption rules above; kept together,
a change to one rule is seen by both sides.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Final, final

import attrs
import httpx
from attrs import frozen
from returns.io import IOFailure, IOResult
from returns.result import Failure, Result, Success

from imgpkg_pure.digest import Digest, digest_of
from imgpkg_pure.errors import SizeMismatch
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.reference import Repository
from imgpkg_pure.registry_wire import parse_upload_range, redact_url
from imgpkg_pure.store.registry._http import (
    CHUNK_SIZE,
    OCTET,
    PULL,
    PULL_PUSH,
    Attempts,
    BodyFailed,
    BodySource,
    Call,
    Headers,
    content_length,
    is_temporary,
    location,
    protocol_failure,
    repository_call,
    short_body,
    transport_failure,
)
from imgpkg_pure.store.registry._session import Session
from imgpkg_pure.store.registry.errors import (
    AuthFailure,
    RegistryError,
    RegistryFailure,
    TransportFailure,
)
from imgpkg_pure.store.registry.verify import VerifiedStream

__all__ = [
    "DEFAULT_MONOLITHIC_THRESHOLD",
    "DEFAULT_UPLOAD_CHUNK_SIZE",
    "VERIFY_FIRST_LIMIT",
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
#: Blobs up to this size are verified whole before any byte is handed on (fetched
#: again, unseen, when corrupt); larger ones stream.
VERIFY_FIRST_LIMIT: Final = 4 << 20


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


class _Broken(Exception):
    """Ends a blob body that could not be resumed; the stream's verdict is ``error``."""

    def __init__(self, error: RegistryError) -> None:
        super().__init__(error)
        self.error = error


def _content_range_start(header: str) -> int | None:
    """The first byte of a ``Content-Range: bytes START-END/TOTAL`` answer, or None."""
    unit, _, spec = header.strip().partition(" ")
    first, sep, _rest = spec.partition("-")
    if unit != "bytes" or not sep or not first.isdigit():
        return None
    return int(first)


class _BlobBody:
    """The raw bytes of one blob GET, resumed with ``Range`` when the body breaks off."""

    def __init__(
        self, session: Session, repo: Repository, descriptor: Descriptor, attempts: Attempts
    ) -> None:
        self._session = session
        self._repo = repo
        self._descriptor = descriptor
        self._attempts = attempts
        self._response: httpx.Response | None = None
        self._skip = 0
        self.delivered = 0
        self.what = f"blob {descriptor.digest} from {repo}"
        self.url = ""

    def open(self, offset: int = 0) -> Result[None, RegistryError]:
        """Send the GET (from ``offset`` with ``Range``), tried again while answers are bad."""
        while True:
            opened = self._open_once(offset)
            if isinstance(opened, Success):
                return opened
            error = opened.failure()
            worth = is_temporary(error) or isinstance(error, SizeMismatch)
            if not (worth and self._attempts.again(True)):
                return opened

    def _open_once(self, offset: int) -> Result[None, RegistryError]:
        repo, descriptor = self._repo, self._descriptor
        headers: Headers = (("Range", f"bytes={offset}-"),) if offset else ()
        call = repository_call(
            repo, "GET", f"/v2/{repo.repository}/blobs/{descriptor.digest}", headers=headers
        )
        sent = self._session.call(call, (200, 206) if offset else (200,), self._attempts)
        if not isinstance(sent, Success):
            return Failure(sent.failure())
        response = sent.unwrap()
        self.url = redact_url(str(response.request.url))
        told = content_length(response)
        if response.status_code == 206:
            start = _content_range_start(response.headers.get("Content-Range", ""))
            if start != offset:
                response.close()
                return Failure(
                    TransportFailure(
                        method="GET",
                        url=self.url,
                        reason=f"asked for bytes from {offset}, the answer starts at {start}",
                        temporary=True,
                    )
                )
            expected = descriptor.size - offset
            skip = 0
        else:
            expected, skip = descriptor.size, offset  # Range ignored: a fresh body
        if told is not None and told != expected:
            response.close()
            if offset == 0:
                return Failure(SizeMismatch(what=self.what, expected=descriptor.size, actual=told))
            return Failure(short_body("GET", self.url, told, expected))
        self._response, self._skip = response, skip
        return Success(None)

    def chunks(self) -> Iterator[bytes]:
        """The body's bytes from the start, resumed across breaks; raises ``_Broken``."""
        with self._session.connection.throttle.slot():
            credited = 0
            while True:
                error = yield from self._drain()
                if error is None:
                    return
                if self.delivered - credited >= CHUNK_SIZE:  # a real step forward
                    self._attempts.progressed()
                    credited = self.delivered
                if not self._attempts.again(True):
                    raise _Broken(error)
                reopened = self.open(self.delivered)
                if not isinstance(reopened, Success):
                    raise _Broken(reopened.failure())

    def _drain(self) -> Generator[bytes, None, RegistryError | None]:
        """Hand on the current answer's bytes; why it stopped short, or None when whole."""
        response = self._response
        assert response is not None
        failure: RegistryError | None = None
        try:
            for raw in response.iter_raw():
                chunk = raw
                if self._skip:
                    cut = min(self._skip, len(chunk))
                    self._skip -= cut
                    chunk = chunk[cut:]
                if chunk:
                    self.delivered += len(chunk)
                    yield chunk
        except httpx.TransportError as error:
            failure = transport_failure("GET", self.url, error)
        except httpx.StreamError as error:
            failure = TransportFailure(
                method="GET", url=self.url, reason=str(error), temporary=True
            )
        finally:
            self.close()
        size = self._descriptor.size
        if self.delivered >= size:
            return None  # all there (more is the verified stream's to refuse)
        return failure or short_body("GET", self.url, self.delivered, size)

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None


def _broken_error(error: Exception) -> RegistryError | None:
    return error.error if isinstance(error, _Broken) else None


def open_blob(
    session: Session, repo: Repository, descriptor: Descriptor
) -> Result[VerifiedStream, RegistryError]:
    """``GET /v2/<name>/blobs/<digest>`` as a :class:`VerifiedStream` (see the module doc)."""
    attempts = session.connection.attempts()
    while True:
        body = _BlobBody(session, repo, descriptor, attempts)
        opened = body.open()
        if not isinstance(opened, Success):
            return Failure(opened.failure())
        if descriptor.size > VERIFY_FIRST_LIMIT:
            return Success(
                VerifiedStream(
                    body.chunks(),
                    descriptor,
                    what=body.what,
                    close=body.close,
                    map_error=_broken_error,
                )
            )
        data = bytearray()
        try:
            for chunk in body.chunks():
                data += chunk
                if len(data) > descriptor.size:
                    break  # too long: the stream below says so
        except _Broken as broken:
            return Failure(broken.error)
        finally:
            body.close()
        whole = bytes(data)
        intact = (
            len(whole) == descriptor.size
            and digest_of(whole, descriptor.digest.algorithm) == descriptor.digest
        )
        if intact or not attempts.again(True):
            # Verified (or the tries are spent: the stream's verdict names the problem).
            pieces = (whole[i : i + CHUNK_SIZE] for i in range(0, max(1, len(whole)), CHUNK_SIZE))
            return Success(VerifiedStream(pieces, descriptor, what=body.what))


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

    def skip(self, count: int) -> None:
        """Pass over the first ``count`` bytes (a resumed upload goes on from there)."""
        for _ in self.take(count):
            pass

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
    retry: bool = False,
) -> Call:
    """A request of an upload session: write scope, sent once unless ``retry`` (a request
    that is safe to repeat: starting a session, asking where one is)."""
    return repository_call(
        repo,
        method,
        url,
        action=PULL_PUSH,
        headers=headers,
        content=content,
        stream=stream,
        retry=retry,
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
    when an upload is retried or resumed).  ``known_absent``: the caller has just
    asked (``blob_size``) and the blob was not there; no second ``HEAD``.
    """
    lender = mount_from if _lends(mount_from, repo) else None
    # Asked by mounting from the repository itself (see the module doc), unless the
    # caller already knows the blob is absent or another repository lends it.
    probing = not known_absent and lender is None
    if not known_absent and lender is not None:
        present = _present(session, repo, descriptor)
        if present is not None:
            return present
    upload = _Upload(session, repo, descriptor, monolithic_threshold, max(1, chunk_size))
    attempts = session.connection.attempts()
    with session.connection.throttle.slot():
        while True:
            outcome = upload.once(open_chunks, repo if probing else lender)
            if probing and _mount_refused(outcome):
                probing = False
                present = _present(session, repo, descriptor)
                if present is not None:
                    return present
                continue
            if isinstance(outcome, Success) or not attempts.again(is_temporary(outcome.failure())):
                return outcome
            if upload.arrived():  # the failed try went through after all
                return Success(BlobPushed(descriptor=descriptor, mode=PushMode.UPLOADED))


def _lends(mount_from: Repository | None, repo: Repository) -> bool:
    """Whether ``mount_from`` is another repository of ``repo``'s registry."""
    return mount_from is not None and mount_from.registry == repo.registry and mount_from != repo


def _present(
    session: Session, repo: Repository, descriptor: Descriptor
) -> Result[BlobPushed, RegistryError] | None:
    """``HEAD``: the answer when the blob is there (or the question failed), else None."""
    found = blob_size(session, repo, descriptor.digest, PULL_PUSH)
    if not isinstance(found, Success):
        return Failure(found.failure())
    if found.unwrap() is not None:
        return Success(BlobPushed(descriptor=descriptor, mode=PushMode.EXISTED))
    return None


def _mount_refused(outcome: Result[BlobPushed, RegistryError]) -> bool:
    """Whether a mount from the repository itself was refused (a registry that takes no
    such mount, or credentials it does not take): then it is asked as imgpkg asks, with a
    ``HEAD``, whose answer (and error, word for word) is imgpkg's."""
    if isinstance(outcome, Success):
        return False
    match outcome.failure():
        case AuthFailure():
            return True
        case RegistryFailure(method="POST", answered=True, temporary=False):
            return True
        case _:
            return False


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
        self._what = f"blob {descriptor.digest} for {repo}"
        #: Chunked uploads resumed at the registry's offset (counted for the tests).
        self.resumed = 0

    def arrived(self) -> bool:
        """Whether the blob is in the repository now (a ``HEAD``; False when it cannot say)."""
        found = blob_size(self._session, self._repo, self._descriptor.digest, PULL_PUSH)
        return isinstance(found, Success) and found.unwrap() is not None

    def once(
        self, open_chunks: Callable[[], Iterable[bytes]], mount_from: Repository | None
    ) -> Result[BlobPushed, RegistryError]:
        """Mount or upload, with a new session (chunks resumed within it)."""
        repo, descriptor = self._repo, self._descriptor
        digest = descriptor.digest
        target = f"/v2/{repo.repository}/blobs/uploads/"
        call = _upload_call(
            repo, "POST", target, (("Content-Length", "0"),), content=b"", retry=True
        )
        mounting = mount_from is not None and mount_from.registry == repo.registry
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
            # Mounted from another repository, or found in this one (a mount from itself).
            mode = PushMode.EXISTED if mount_from == repo else PushMode.MOUNTED
            return Success(BlobPushed(descriptor=descriptor, mode=mode))
        session_url = location(response)
        if session_url is None:
            return Failure(protocol_failure(response, "the upload answer has no Location header"))
        feed = _Feed(open_chunks(), descriptor.size, self._what)
        if descriptor.size <= self._monolithic_threshold:
            uploaded = self._put(session_url, feed, descriptor.size).map(lambda _: feed)
        else:
            uploaded = self._chunked(session_url, feed, open_chunks)
        if not isinstance(uploaded, Success):
            self._cancel(session_url)
            return Failure(uploaded.failure())
        surplus = uploaded.unwrap().surplus()
        if surplus:
            return Failure(
                SizeMismatch(
                    what=self._what, expected=descriptor.size, actual=descriptor.size + surplus
                )
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

    def _where(self, session_url: str) -> Result[tuple[int, str], RegistryError]:
        """Where the session is: the bytes the registry holds and the URL to go on with."""
        call = _upload_call(self._repo, "GET", session_url, retry=True)
        asked = self._session.call_closed(call, (204,))
        if not isinstance(asked, Success):
            return Failure(asked.failure())
        response = asked.unwrap()
        header = response.headers.get("Range", "")
        held = parse_upload_range(header) if header not in ("", "0-0", "bytes=0-0") else 0
        next_url = location(response) or session_url
        return Success((held or 0, next_url))

    def _chunked(
        self, session_url: str, feed: _Feed, open_chunks: Callable[[], Iterable[bytes]]
    ) -> Result[_Feed, RegistryError]:
        """``PATCH`` after ``PATCH``, resumed at the registry's offset, then the ``PUT``."""
        offset = 0
        size = self._descriptor.size
        attempts = self._session.connection.attempts()
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
                error = sent.failure()
                if not attempts.again(is_temporary(error)):
                    return Failure(error)
                where = self._where(session_url)
                if not isinstance(where, Success):
                    return Failure(error)  # the session is gone: a new one (push_blob)
                offset, session_url = where.unwrap()
                feed = _Feed(open_chunks(), size, self._what)
                try:
                    feed.skip(offset)
                except BodyFailed as failed:
                    return Failure(failed.error)
                self.resumed += 1
                continue
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
            attempts.progressed()  # tries bound failures in a row, not over the whole blob
        return self._finish(session_url, feed, attempts)

    def _finish(
        self, session_url: str, feed: _Feed, attempts: Attempts
    ) -> Result[_Feed, RegistryError]:
        """The empty closing ``PUT`` of a completed upload, repeated until it is answered."""
        while True:
            done = self._put(session_url, feed, 0)
            if isinstance(done, Success):
                return Success(feed)
            error = done.failure()
            if self.arrived():  # an earlier try went through; this one found no session
                return Success(feed)
            if not attempts.again(is_temporary(error)):
                return Failure(error)
