"""Error values of the registry client (``imgpkg_pure.store.registry.client``).

Every registry operation returns ``IOResult[T, RegistryError]``.  URLs in
error values are redacted: no userinfo, no query string (``_state`` upload
tokens, presigned-URL signatures and the like never reach a message).  The
tree::

    RegistryError
      RegistryFailure       the registry answered with an error status (codes from its JSON body)
      AuthFailure           credentials were refused, or a token could not be obtained
      TransportFailure      no HTTP answer: connection refused, TLS, timeout, broken stream
      KeychainFailure       credentials could not be resolved (env keychain, docker config, helper)
      CaCertFailure         a --registry-ca-cert-path file cannot be read or used
      ManifestTooLarge      a manifest bigger than the 4 MiB the client accepts
      BlobStreamIncomplete  a verified blob stream that was not read to its end
      OfflineUnavailable    --offline, and the local store does not hold what was asked
      DigestMismatch        (imgpkg_pure) content whose digest is not the expected one
      SizeMismatch          (imgpkg_pure) content whose size is not the expected one
      MalformedDocument     (imgpkg_pure) a JSON answer that is not what the spec says
"""

from __future__ import annotations

from http import HTTPStatus
from typing import final

from attrs import frozen

from imgpkg_pure.errors import DigestMismatch, Fact, MalformedDocument, SizeMismatch

__all__ = [
    "AuthFailure",
    "BlobStreamIncomplete",
    "CaCertFailure",
    "DigestMismatch",
    "KeychainFailure",
    "MalformedDocument",
    "ManifestTooLarge",
    "OfflineUnavailable",
    "RegistryError",
    "RegistryFailure",
    "SizeMismatch",
    "TransportFailure",
    "status_text",
]


def status_text(status: int) -> str:
    """``404 Not Found``: the status code with its reason phrase."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


@final
@frozen(kw_only=True)
class RegistryFailure:
    """A registry answered ``method url`` with an unexpected status.

    ``codes`` are the distribution-spec error codes of the body
    (``MANIFEST_UNKNOWN``, ``NAME_UNKNOWN``, ``BLOB_UNKNOWN``, ...); ``detail``
    is their messages (or the start of a non-JSON body).  ``temporary`` marks
    failures worth retrying: 5xx (except 501), 408 and 429.
    """

    status: int
    codes: tuple[str, ...]
    detail: str
    method: str
    url: str
    temporary: bool
    #: False where ``detail`` is our own account (a broken protocol, a layout read), not the
    #: registry's answer.
    answered: bool = True

    @property
    def message(self) -> str:
        """The registry's own words, as imgpkg (ggcr) prints them: ``GET url: CODE: message``,
        else ``GET url: unexpected status code 404 Not Found[: body]``."""
        prefix = f"{self.method} {self.url}: "
        if not self.answered:
            text = f"{prefix}{status_text(self.status)}"
            return f"{text}: {self.detail}" if self.detail else text
        if self.codes:
            several = "multiple errors returned: " if len(self.codes) > 1 else ""
            return f"{prefix}{several}{self.detail}"
        text = f"{prefix}unexpected status code {status_text(self.status)}"
        if self.detail:
            return f"{text}: {self.detail}"
        if self.method == "HEAD":
            return f"{text} (HEAD responses have no body, use GET for details)"
        return text


@final
@frozen(kw_only=True)
class AuthFailure:
    """``registry`` refused the credentials used, or no token could be had for them.

    ``credentials`` says where the credentials came from (never what they
    are): ``env IMGPKG_REGISTRY_HOSTNAME_0=…``, ``--registry-username``,
    ``docker-credential-x (docker config …)``, ``anonymous``.  ``reason`` is
    the failed exchange (``GET <url>: 401 Unauthorized: UNAUTHORIZED: …``).
    """

    registry: str
    credentials: str
    reason: str
    status: int | None = None
    codes: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        text = f"{self.reason} (registry {self.registry}, credentials: {self.credentials})"
        if self.credentials == "anonymous":
            text += (
                f"; no credentials were found for {self.registry}: set "
                "IMGPKG_REGISTRY_HOSTNAME/USERNAME/PASSWORD, --registry-username and "
                "--registry-password, or log in with docker"
            )
        return text


@final
@frozen(kw_only=True)
class TransportFailure(Fact):
    """``method url`` got no HTTP answer: ``reason`` says why (with a hint where one helps).

    ``temporary`` marks failures worth retrying (refused or reset connections,
    timeouts), not TLS verification or name resolution failures.
    """

    method: str
    url: str
    reason: str
    temporary: bool = False

    template = "{method} {url}: {reason}"


@final
@frozen(kw_only=True)
class KeychainFailure:
    """Credentials for ``registry`` could not be resolved (imgpkg's wording, §6.1); for
    ``registry`` ``*``, the keychain itself could not be set up (an unknown
    ``IMGPKG_ACTIVE_KEYCHAINS`` name, a bad ``IMGPKG_REGISTRY_*`` variable), said as imgpkg
    says it, without a registry."""

    registry: str
    reason: str

    @property
    def message(self) -> str:
        if self.registry == "*":
            return self.reason
        return f"Unable retrieve credentials for registry '{self.registry}': {self.reason}"


@final
@frozen(kw_only=True)
class CaCertFailure(Fact):
    """A ``--registry-ca-cert-path`` file that cannot be read or holds no usable certificate.

    ``stage`` is ``Reading`` (the file cannot be read) or ``Adding`` (it holds
    no certificate OpenSSL accepts), as in imgpkg's messages.
    """

    path: str
    stage: str
    reason: str

    template = "Creating registry HTTP transport: {stage} CA certificates from '{path}': {reason}"


@final
@frozen(kw_only=True)
class ManifestTooLarge:
    """A manifest above the size the client accepts (reading stopped at ``limit``)."""

    url: str
    limit: int
    size: int | None

    @property
    def message(self) -> str:
        if self.size is None:
            return f"manifest {self.url} is too large: more than the limit of {self.limit} bytes"
        return (
            f"manifest {self.url} is too large: {self.size} bytes, the limit is {self.limit} bytes"
        )


@final
@frozen(kw_only=True)
class BlobStreamIncomplete(Fact):
    """A blob stream closed before it was read to the end: it was not verified."""

    what: str
    read: int
    expected: int

    template = (
        "{what}: stream closed after {read} of {expected} bytes; the content was not verified"
    )


@final
@frozen(kw_only=True)
class OfflineUnavailable(Fact):
    """``--offline``: ``what`` (a manifest, a tag, a blob, a registry operation) cannot be
    served, because the local store ``store`` does not hold it (``reason`` says how)."""

    what: str
    store: str
    reason: str

    template = "--offline: {what}: {reason} (local store {store})"


RegistryError = (
    RegistryFailure
    | AuthFailure
    | TransportFailure
    | KeychainFailure
    | CaCertFailure
    | ManifestTooLarge
    | BlobStreamIncomplete
    | OfflineUnavailable
    | DigestMismatch
    | SizeMismatch
    | MalformedDocument
)
