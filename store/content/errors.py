"""Error values of the local blob store (``blobstore``, ``local``, ``memory`` beside this module).

Errors are data: store operations return ``IOResult[T, StoreError]``.  Every
value has a ``message`` property, one line that names the thing that is wrong.
Integrity failures reuse the pure core's ``DigestMismatch`` / ``SizeMismatch``,
and documents that do not parse (``index.json``, a manifest reached by gc)
reuse ``MalformedDocument``.  The tree::

    StoreError
      BlobNotFound       no blob with this digest in the store
      BlobCorrupt        a stored blob whose bytes no longer hash to its name
      RootNotFound       no root (index.json entry) with this ref name
      InvalidRootName    a root name outside the image-layout ref.name grammar
      IngestClosed       a write/commit on an ingest already committed or aborted
      NotALayout         a directory that is not (and cannot become) an image layout
      StoreIOFailure     the operating system refused an operation (path, reason)
      DigestMismatch     (imgpkg_pure) committed bytes with another digest
      SizeMismatch       (imgpkg_pure) committed bytes with another length
      MalformedDocument  (imgpkg_pure) index.json or a reachable manifest is not JSON we read
"""

from __future__ import annotations

from attrs import frozen

from imgpkg_pure.digest import Digest
from imgpkg_pure.errors import DigestMismatch, Fact, MalformedDocument, SizeMismatch


@frozen(kw_only=True)
class BlobNotFound(Fact):
    """The store holds no blob with this digest."""

    digest: Digest

    template = "blob {digest} not found in the store"


@frozen(kw_only=True)
class BlobCorrupt(Fact):
    """A stored blob whose content does not hash to the digest it is stored under."""

    digest: Digest
    actual: Digest

    template = "blob {digest} is corrupt: its content hashes to {actual}"


@frozen(kw_only=True)
class RootNotFound(Fact):
    """No ``index.json`` entry carries this ``org.opencontainers.image.ref.name``."""

    name: str

    template = "root '{name}' not found in the store"


@frozen(kw_only=True)
class InvalidRootName(Fact):
    """A root name that does not follow the image-layout ``ref.name`` grammar."""

    name: str
    reason: str

    template = "invalid root name '{name}': {reason}"


@frozen(kw_only=True)
class IngestClosed(Fact):
    """A write or commit on an ingest that was already committed or aborted."""

    ref: str
    state: str

    template = "ingest {ref} is already {state}"


@frozen(kw_only=True)
class NotALayout(Fact):
    """A path that is not an OCI image layout and that the store refuses to take over."""

    path: str
    reason: str

    template = "{path} is not an OCI image layout: {reason}"


@frozen(kw_only=True)
class StoreIOFailure(Fact):
    """The operating system refused a store operation on ``path``."""

    operation: str
    path: str
    reason: str

    template = "cannot {operation} {path}: {reason}"


StoreError = (
    BlobNotFound
    | BlobCorrupt
    | RootNotFound
    | InvalidRootName
    | IngestClosed
    | NotALayout
    | StoreIOFailure
    | DigestMismatch
    | SizeMismatch
    | MalformedDocument
)

__all__ = [
    "BlobCorrupt",
    "BlobNotFound",
    "DigestMismatch",
    "IngestClosed",
    "InvalidRootName",
    "MalformedDocument",
    "NotALayout",
    "RootNotFound",
    "SizeMismatch",
    "StoreError",
    "StoreIOFailure",
]
