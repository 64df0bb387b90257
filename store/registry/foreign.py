"""Non-distributable (foreign) layers read from their descriptor's ``urls`` (reference §5.8).

A foreign layer (``application/vnd.docker.image.rootfs.foreign.diff.tar.gzip``,
``application/vnd.oci.image.layer.nondistributable.v1.tar[+gzip]``) need not be
held by the registry that serves its manifest: its descriptor lists ``urls``
where the content lives.  ggcr's remote layer (``Compressed``) reads such a
layer from the registry's blob endpoint and then from each URL in order; copy
with ``--include-non-distributable-layers`` asks the source registry first and
comes here only for the layers it lacks.

:class:`UrlFetcher` does the ``GET``s with the registry flags' HTTP setup
(``imgpkg_pure.store.registry.transport``: TLS trust and CA files, proxies,
timeouts, the ``--debug`` log, retries of temporary failures) and never sends
registry credentials.  A URL that cannot be read (no answer, a status other
than 200) passes the turn to the next one; a URL that answers with other bytes
than the descriptor's (size or digest) is an error naming the digest and the
URL, as ggcr's verifying reader fails the read.  The content is verified
*before* anything uses it: it is spooled into an anonymous temporary file, and
:class:`ForeignBlob` (callable: chunks from the start, as often as asked) serves
it only once size and digest matched.
"""

from __future__ import annotations

import os
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import BinaryIO, TextIO, final

import httpx
from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess

from imgpkg_pure.digest import Digest, hasher
from imgpkg_pure.errors import Fact
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.registry_wire import redact_url
from imgpkg_pure.store.registry._closing import Closing
from imgpkg_pure.store.registry._connection import Connection
from imgpkg_pure.store.registry._http import CHUNK_SIZE, temporary_status, transport_failure
from imgpkg_pure.store.registry.errors import CaCertFailure
from imgpkg_pure.store.registry.options import RegistryOptions

__all__ = [
    "ForeignBlob",
    "ForeignLayerError",
    "ForeignLayerMismatch",
    "ForeignLayerUnavailable",
    "UrlFetcher",
]


@final
@frozen(kw_only=True)
class ForeignLayerUnavailable(Fact):
    """No URL of a foreign layer served it (``reason`` says what each one answered)."""

    digest: Digest
    reason: str

    template = "Fetching non-distributable layer {digest} from its urls: {reason}"


@final
@frozen(kw_only=True)
class ForeignLayerMismatch(Fact):
    """A URL of a foreign layer served other bytes than the descriptor names."""

    digest: Digest
    url: str
    reason: str

    template = "Fetching non-distributable layer {digest} from {url}: {reason}"


ForeignLayerError = ForeignLayerUnavailable | ForeignLayerMismatch | CaCertFailure


@final
class ForeignBlob(Closing):
    """A foreign layer's verified content, held in an anonymous temporary file.

    Calling it gives the content from its start in chunks of at most 1 MiB (a
    registry upload reopens it when retried); ``url`` is where it came from.
    The file goes away on :meth:`close` (or when the value is collected).
    """

    def __init__(self, descriptor: Descriptor, url: str, handle: BinaryIO) -> None:
        self.descriptor = descriptor
        self.url = url
        self._handle = handle
        self._finalizer = weakref.finalize(self, handle.close)

    def __call__(self) -> Iterator[bytes]:
        fd = self._handle.fileno()
        offset = 0
        while offset < self.descriptor.size:
            chunk = os.pread(fd, min(CHUNK_SIZE, self.descriptor.size - offset), offset)
            if not chunk:
                raise OSError(f"temporary copy of {self.descriptor.digest} ended early")
            offset += len(chunk)
            yield chunk

    def close(self) -> None:
        self._finalizer()


class _Mismatch(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UrlFetcher(Closing):
    """``GET`` for foreign layers' ``urls`` with the registry flags' HTTP setup (module doc).

    ``environ`` is the environment the proxy rules read (default: ``os.environ``);
    ``sleep`` and ``debug_stream`` as for ``RegistryClient``.  A CA file that
    cannot be used is returned by :meth:`open`, and by every fetch.
    """

    def __init__(
        self,
        options: RegistryOptions | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        debug_stream: TextIO | None = None,
    ) -> None:
        env = dict(os.environ) if environ is None else dict(environ)
        self._connection = Connection(
            options if options is not None else RegistryOptions(),
            env,
            sleep=sleep,
            debug_stream=debug_stream,
        )

    @classmethod
    def open(
        cls,
        options: RegistryOptions | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> IOResult[UrlFetcher, CaCertFailure]:
        """A fetcher, or the error of its TLS setup (``--registry-ca-cert-path``)."""
        fetcher = cls(options, environ=environ)
        error = fetcher._connection.setup_error
        if error is not None:
            fetcher.close()
            return IOFailure(error)
        return IOSuccess(fetcher)

    def close(self) -> None:
        self._connection.close()

    # -- operations -----------------------------------------------------------------------

    def fetch(
        self, descriptor: Descriptor, urls: tuple[str, ...] | None = None
    ) -> IOResult[ForeignBlob, ForeignLayerError]:
        """The layer from the first of ``urls`` (default: the descriptor's) that serves it.

        Verified against the descriptor's size and digest before it is returned;
        a URL serving other bytes is :class:`ForeignLayerMismatch` (the next URL is
        not tried, as ggcr's verifying reader fails the read).
        """
        setup = self._connection.setup_error
        if setup is not None:
            return IOFailure(setup)
        wanted = descriptor.urls if urls is None else urls
        if not wanted:
            return IOFailure(
                ForeignLayerUnavailable(
                    digest=descriptor.digest, reason="the descriptor lists no urls"
                )
            )
        reasons: list[str] = []
        for url in wanted:
            try:
                found = self._download(descriptor, url)
            except _Mismatch as mismatch:
                return IOFailure(
                    ForeignLayerMismatch(
                        digest=descriptor.digest, url=redact_url(url), reason=mismatch.reason
                    )
                )
            if isinstance(found, str):
                reasons.append(found)
                continue
            return IOSuccess(found)
        return IOFailure(
            ForeignLayerUnavailable(digest=descriptor.digest, reason="; ".join(reasons))
        )

    def first_reachable(self, urls: tuple[str, ...]) -> str | None:
        """The first of ``urls`` that answers a ``GET`` with 200 (nothing is read), or None."""
        if self._connection.setup_error is not None:
            return None
        for url in urls:
            response = self._open(url)
            if isinstance(response, str):
                continue
            response.close()
            return url
        return None

    # -- one URL --------------------------------------------------------------------------

    def _open(self, url: str) -> httpx.Response | str:
        """The open 200 answer of ``GET url`` (temporary failures tried again), or why not."""
        attempts = self._connection.attempts()
        while True:
            try:
                response = self._connection.stream("GET", url, {}, None)
            except (httpx.TransportError, httpx.TooManyRedirects) as error:
                failure = transport_failure("GET", url, error)
                if attempts.again(failure.temporary):
                    continue
                return failure.message
            except (httpx.InvalidURL, ValueError) as error:
                return f"{redact_url(url)}: invalid URL ({error})"
            if response.status_code == httpx.codes.OK:
                return response
            if attempts.again(temporary_status(response.status_code), response):
                continue
            response.close()
            phrase = response.reason_phrase or httpx.codes.get_reason_phrase(response.status_code)
            return f"GET {redact_url(url)}: {response.status_code} {phrase}".rstrip()

    def _download(self, descriptor: Descriptor, url: str) -> ForeignBlob | str:
        """The verified content served at ``url``, or why it could not be read.

        Raises ``_Mismatch`` when the URL serves other bytes than the descriptor's.
        """
        attempts = self._connection.attempts()
        while True:
            response = self._open(url)
            if isinstance(response, str):
                return response
            handle = tempfile.TemporaryFile()  # noqa: SIM115 - owned by the ForeignBlob
            try:
                _spool(response, descriptor, handle)
            except (httpx.TransportError, httpx.TooManyRedirects) as error:
                handle.close()
                failure = transport_failure("GET", url, error)
                if attempts.again(failure.temporary):
                    continue
                return failure.message
            except BaseException:
                handle.close()
                raise
            finally:
                response.close()
            return ForeignBlob(descriptor, url, handle)


def _spool(response: httpx.Response, descriptor: Descriptor, handle: BinaryIO) -> None:
    """Copy the answer into ``handle``, checking it is the descriptor's content."""
    size = descriptor.size
    told = response.headers.get("Content-Length", "")
    if told.isdigit() and int(told) != size:
        raise _Mismatch(f"the server sends {told} bytes, the descriptor says {size}")
    digest = hasher(descriptor.digest.algorithm)
    count = 0
    for chunk in response.iter_raw(CHUNK_SIZE):
        count += len(chunk)
        if count > size:
            raise _Mismatch(f"the server sends more than the descriptor's {size} bytes")
        digest.update(chunk)
        handle.write(chunk)
    if count != size:
        raise _Mismatch(f"the server sent {count} bytes, the descriptor says {size}")
    actual = Digest(descriptor.digest.algorithm, digest.hexdigest())
    if actual != descriptor.digest:
        raise _Mismatch(f"the content has digest {actual}, not {descriptor.digest}")
    handle.flush()
