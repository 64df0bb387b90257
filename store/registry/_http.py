"""The vocabulary of one registry exchange: requests, retry pacing and reading answers.

Private to ``imgpkg_pure.store.registry``.  It owns:

* the values the client's layers pass each other: :class:`Endpoint` (how a
  registry is reached) and :class:`Call` (one request, with the repository
  whose credentials and the scopes it needs);
* the retry rules (:class:`Attempts`): which failures are temporary (connection
  errors, broken or short bodies, 5xx except 501, 408, 429), exponential backoff
  with full jitter (a random pause up to 100 ms doubling to 5 s), ``Retry-After``
  in seconds or as an HTTP-date (honoured up to 60 s), all within the retry
  count and an overall deadline (``docs/reliability.md``);
* reading answers: error values for unexpected answers (with the distribution
  spec's error codes, ``spec.md`` "Error Codes"), the headers the operations
  read, and bounded body reads.

URLs in error values are always redacted (``imgpkg_pure.registry_wire.redact_url``).
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Iterable
from typing import Final, final

import httpx
from attrs import frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.digest import Digest, parse_digest
from imgpkg_pure.reference import Repository
from imgpkg_pure.registry_wire import (
    Challenge,
    Scopes,
    parse_error_body,
    parse_www_authenticate,
    redact_url,
)
from imgpkg_pure.store.registry.errors import (
    AuthFailure,
    ManifestTooLarge,
    RegistryError,
    RegistryFailure,
    TransportFailure,
)
from imgpkg_pure.store.registry.transport import describe_transport_error

__all__ = [
    "CHUNK_SIZE",
    "OCTET",
    "PULL",
    "PULL_PUSH",
    "BACKOFF_CAP_SECONDS",
    "RETRY_AFTER_CAP_SECONDS",
    "Attempts",
    "Pacing",
    "BodyFailed",
    "BodySource",
    "Call",
    "Endpoint",
    "Headers",
    "auth_failure",
    "backoff",
    "closed",
    "content_length",
    "failure_from",
    "header_digest",
    "is_temporary",
    "location",
    "media_type",
    "pick_challenge",
    "protocol_failure",
    "read_body",
    "repository_call",
    "retry_after",
    "short_body",
    "temporary_status",
    "transport_failure",
]

#: Streaming granularity for uploads and downloads.
CHUNK_SIZE: Final = 1 << 20
#: The longest ``Retry-After`` honoured (a longer one waits this long).
RETRY_AFTER_CAP_SECONDS: Final = 60.0
#: The first backoff ceiling, doubling with each try up to ``BACKOFF_CAP_SECONDS``.
BACKOFF_BASE_SECONDS: Final = 0.1
BACKOFF_CAP_SECONDS: Final = 5.0
#: The scope actions of reads and writes.
PULL: Final = "pull"
PULL_PUSH: Final = "pull,push"
OCTET: Final = "application/octet-stream"
_ERROR_BODY_LIMIT: Final = 64 << 10

Headers = tuple[tuple[str, str], ...]
#: Opens a request body (again, for each try).
BodySource = Callable[[], Iterable[bytes]]


# --- values ---------------------------------------------------------------------------------


@final
@frozen(kw_only=True)
class Endpoint:
    """How a registry is reached: scheme, and the challenge its ``/v2/`` answered (if any)."""

    registry: str
    scheme: str
    challenge: Challenge | None

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.registry}"


@final
@frozen(kw_only=True)
class Call:
    """One registry request: where, for which repository's credentials, with which scopes.

    ``target`` is ``/v2/...`` (relative to the registry's endpoint) or an
    absolute URL (upload locations).  ``stream`` opens the body anew for each
    try; ``retry`` False sends the request once, whatever happens.
    """

    method: str
    target: str
    registry: str
    repository: str
    scopes: Scopes
    headers: Headers = ()
    content: bytes | None = None
    stream: BodySource | None = None
    retry: bool = True


def repository_call(
    repo: Repository,
    method: str,
    target: str,
    *,
    action: str = PULL,
    headers: Headers = (),
    content: bytes | None = None,
    stream: BodySource | None = None,
    retry: bool = True,
) -> Call:
    """A call on ``repo`` that needs the ``action`` scope there (``pull`` or ``pull,push``)."""
    return Call(
        method=method,
        target=target,
        registry=repo.registry,
        repository=repo.repository,
        scopes=Scopes((repo.scope(action),)),
        headers=headers,
        content=content,
        stream=stream,
        retry=retry,
    )


class BodyFailed(Exception):
    """Raised inside a request body generator; the sender turns it back into its error value."""

    def __init__(self, error: RegistryError) -> None:
        super().__init__(error)
        self.error = error


# --- retries --------------------------------------------------------------------------------


def temporary_status(status: int) -> bool:
    return status in (408, 429) or (status >= 500 and status != 501)


def backoff(attempt: int) -> float:
    """The backoff ceiling before try ``attempt + 1``: 100 ms doubling, at most 5 s (attempt
    counts from 1).  The pause is a random fraction of it (full jitter)."""
    return float(min(BACKOFF_BASE_SECONDS * (2 ** (attempt - 1)), BACKOFF_CAP_SECONDS))


def retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """The answer's ``Retry-After`` in seconds (capped at 60 s), or None without a valid one.

    Seconds (``120``) or an HTTP-date (``Wed, 21 Oct 2015 07:28:00 GMT``, against
    ``now``, the wall clock in seconds since the epoch); a date in the past is 0.
    """
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_CAP_SECONDS)
    if not value or now is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(0.0, when.timestamp() - now), RETRY_AFTER_CAP_SECONDS)


def is_temporary(error: RegistryError) -> bool:
    match error:
        case RegistryFailure(temporary=temporary) | TransportFailure(temporary=temporary):
            return temporary
        case _:
            return False


def _ceiling(ceiling: float) -> float:
    """No jitter: the whole ceiling (the connection injects a random source)."""
    return ceiling


@final
@frozen(kw_only=True)
class Pacing:
    """The effects retries need, injected: ``sleep``; ``jitter`` (a pause in
    ``[0, ceiling]`` for a ceiling); ``clock`` (monotonic seconds, for the deadline);
    ``wall_clock`` (seconds since the epoch, for ``Retry-After`` dates)."""

    sleep: Callable[[float], None]
    jitter: Callable[[float], float] = _ceiling
    clock: Callable[[], float] = lambda: 0.0
    wall_clock: Callable[[], float] | None = None


class Attempts:
    """The tries of one request (or one whole blob transfer): how many, and the pauses.

    ``tries`` is the flags' ``retry_count`` (at least 1); ``enabled`` False
    allows one try only.  ``deadline`` (seconds from the first try) bounds the
    whole: no pause is started that would end past it.  :meth:`progressed`
    gives the tries back after a try that moved the transfer forward (a resumed
    download that got more bytes), so a long transfer over a flaky link is
    bounded by the deadline, not by how many times the link broke.
    """

    def __init__(
        self,
        tries: int,
        pacing: Pacing | Callable[[float], None],
        *,
        enabled: bool = True,
        deadline: float | None = None,
        on_overload: Callable[[], None] | None = None,
    ) -> None:
        self._tries = tries if enabled else 1
        self._pacing = pacing if isinstance(pacing, Pacing) else Pacing(sleep=pacing)
        self._attempt = 1
        self._start = self._pacing.clock()
        self._deadline = deadline
        self._on_overload = on_overload
        self.paused: list[float] = []

    @property
    def attempt(self) -> int:
        return self._attempt

    def progressed(self) -> None:
        """The last try moved the transfer forward: the count starts again (not the deadline)."""
        self._attempt = 1

    def again(self, temporary: bool, response: httpx.Response | None = None) -> bool:
        """Whether a failure is tried again; if so, closes ``response`` and waits first.

        The wait is the answer's ``Retry-After`` when it gives one, else a random
        pause up to the backoff ceiling.  A 429 or 503 also tells ``on_overload``.
        """
        overloaded = response is not None and response.status_code in (429, 503)
        if overloaded and self._on_overload is not None:
            self._on_overload()
        if not temporary or self._attempt >= self._tries:
            return False
        pacing = self._pacing
        told = None
        if response is not None:
            now = pacing.wall_clock() if pacing.wall_clock is not None else None
            told = retry_after(response, now)
        delay = pacing.jitter(backoff(self._attempt))
        if told is not None:
            delay = max(delay, told)  # at least what the server asked for
        if self._deadline is not None:
            spent = pacing.clock() - self._start
            if spent + delay > self._deadline:
                return False
        if response is not None:
            response.close()
        pacing.sleep(delay)
        self.paused.append(delay)
        self._attempt += 1
        return True


# --- reading answers ------------------------------------------------------------------------


def closed(response: httpx.Response) -> httpx.Response:
    """``response`` with its connection released (status and headers stay readable)."""
    response.close()
    return response


def media_type(response: httpx.Response) -> str:
    return str(response.headers.get("Content-Type", "")).split(";", 1)[0].strip()


def header_digest(response: httpx.Response) -> Digest | None:
    """The ``Docker-Content-Digest`` header, when it holds a valid digest."""
    return parse_digest(response.headers.get("Docker-Content-Digest", "")).value_or(None)


def content_length(response: httpx.Response) -> int | None:
    told = response.headers.get("Content-Length", "")
    return int(told) if told.isdigit() else None


def location(response: httpx.Response) -> str | None:
    """The ``Location`` header as an absolute URL (upload sessions)."""
    value = response.headers.get("Location")
    if not value:
        return None
    return str(response.request.url.join(value))


def pick_challenge(response: httpx.Response) -> Challenge | None:
    """The Bearer challenge of a 401 if there is one, else the first challenge."""
    found: list[Challenge] = []
    for value in response.headers.get_list("WWW-Authenticate"):
        parsed = parse_www_authenticate(value)
        if isinstance(parsed, Success):
            found.extend(parsed.unwrap())
    for challenge in found:
        if challenge.is_bearer:
            return challenge
    return found[0] if found else None


def transport_failure(
    method: str, url: str, error: httpx.TransportError | httpx.TooManyRedirects
) -> TransportFailure:
    """The error value for a request that got no HTTP answer."""
    reason, temporary = describe_transport_error(error)
    return TransportFailure(method=method, url=redact_url(url), reason=reason, temporary=temporary)


def protocol_failure(response: httpx.Response, detail: str) -> RegistryFailure:
    """An answer with an expected status that breaks the protocol otherwise."""
    return RegistryFailure(
        status=response.status_code,
        codes=(),
        detail=detail,
        method=response.request.method,
        url=redact_url(str(response.request.url)),
        temporary=False,
        answered=False,
    )


def failure_from(response: httpx.Response, method: str, url: str) -> RegistryFailure:
    """An error value for an unexpected answer, with the distribution error codes (closes it)."""
    data = bytearray()
    if method != "HEAD":
        try:
            data += response.content[:_ERROR_BODY_LIMIT]  # already read (unauthenticated calls)
        except httpx.ResponseNotRead:
            try:
                for chunk in response.iter_raw():
                    data += chunk
                    if len(data) >= _ERROR_BODY_LIMIT:
                        break
            except (httpx.TransportError, httpx.StreamError):
                pass
    response.close()
    entries = parse_error_body(bytes(data))
    if entries:
        detail = "; ".join(f"{e.code}: {e.message}" if e.message else e.code for e in entries)
    else:
        text = bytes(data[:300]).decode("utf-8", errors="replace")
        detail = " ".join(text.split())
    return RegistryFailure(
        status=response.status_code,
        codes=tuple(e.code for e in entries if e.code),
        detail=detail,
        method=method,
        url=redact_url(url),
        temporary=temporary_status(response.status_code),
    )


def auth_failure(
    registry: str, credentials: str, failure: RegistryFailure, prefix: str = ""
) -> AuthFailure:
    """``failure`` (a 401, or a refused token request) as refused credentials."""
    return AuthFailure(
        registry=registry,
        credentials=credentials,
        reason=prefix + failure.message,
        status=failure.status,
        codes=failure.codes,
    )


def read_body(response: httpx.Response, limit: int) -> Result[bytes, RegistryError]:
    """The whole body (at most ``limit`` bytes; more is ``ManifestTooLarge``); closes it.

    A body that breaks off, or ends short of its ``Content-Length``, is a temporary
    ``TransportFailure`` (worth another try).
    """
    method, url = response.request.method, redact_url(str(response.request.url))
    data = bytearray()
    try:
        for chunk in response.iter_raw():
            data += chunk
            if len(data) > limit:
                return Failure(ManifestTooLarge(url=url, limit=limit, size=None))
    except httpx.TransportError as error:
        return Failure(transport_failure(method, url, error))
    except httpx.StreamError as error:
        return Failure(TransportFailure(method=method, url=url, reason=str(error), temporary=True))
    finally:
        response.close()
    told = content_length(response)
    if told is not None and told != len(data):
        return Failure(short_body(method, url, len(data), told))
    return Success(bytes(data))


def short_body(method: str, url: str, read: int, told: int) -> TransportFailure:
    """A body whose length is not what its ``Content-Length`` said (temporary)."""
    return TransportFailure(
        method=method,
        url=url,
        reason=f"the body ended after {read} of the {told} bytes its Content-Length said",
        temporary=True,
    )
