"""The blob store vocabulary: narrow capabilities, their values, and shared helpers.

The capabilities follow oras-go's ``content`` package and containerd's
content store, split so a function asks for the narrowest one it needs:

* ``BlobReader``: ``exists``, ``stat``, ``open``, ``read_bytes``, ``iter_blobs``
  (oras ``ReadOnlyStorage``);
* ``BlobIngester``: ``ingest`` plus the conveniences ``put_bytes`` and
  ``put_stream`` (oras ``Pusher``, containerd ``Ingester``);
* ``BlobDeleter``: ``delete``;
* ``RootStore``: ``roots``, ``resolve``, ``set_root``, ``remove_root``: the
  ``index.json`` entries of an image layout, each named by its
  ``org.opencontainers.image.ref.name`` annotation (oras ``TagResolver``);
* ``BlobStore``: all of the above plus ``gc`` and ``verify``.

The ingest lifecycle (containerd ``content.go``): ``ingest()`` opens a writer;
bytes written to it are invisible to every reader until ``commit`` succeeds.
``commit`` checks the size first, then the digest; a failed check discards the
bytes and returns ``SizeMismatch`` / ``DigestMismatch`` naming the expected
digest.  Committing content that is already stored is a success
(``Committed.already_existed``), never an error.  ``abort`` discards the
bytes; leaving the ``with`` block of an uncommitted writer aborts it.

Every implementation (``local.LocalStore``, ``memory.MemoryStore`` beside this module)
passes the contract suite in ``tests/contracts/store_contract.py``.  Both subclass
``BlobStore``, and so inherit what is written here once: ``put_bytes`` and
``put_stream`` over ``ingest``, ``resolve`` over ``roots``, and their writers'
``with`` block (``Ingest``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import BinaryIO, Final, Protocol, Self

from attrs import evolve, frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure, Result, Success

from imgpkg_pure.digest import Algorithm, Digest
from imgpkg_pure.errors import DigestMismatch, MalformedDocument, SizeMismatch
from imgpkg_pure.graph import has_successors, successors
from imgpkg_pure.media_types import REF_NAME_ANNOTATION
from imgpkg_pure.oci import Annotations, Descriptor
from imgpkg_pure.store.content.errors import (
    BlobCorrupt,
    InvalidRootName,
    RootNotFound,
    StoreError,
)

#: Streaming granularity: no store operation holds more than this much of a blob at once.
CHUNK_SIZE: Final = 1 << 20


# --- values ---------------------------------------------------------------


@frozen(kw_only=True)
class Committed:
    """The outcome of a successful commit: what is now stored, and whether it already was."""

    digest: Digest
    size: int
    already_existed: bool


@frozen(kw_only=True)
class GcReport:
    """What ``gc`` did.

    ``kept`` counts the stored blobs reachable from the roots; ``deleted``
    lists the unreachable blobs removed (``bytes_freed`` is their total size);
    ``spared`` counts unreachable blobs kept because they were written within
    the grace period; ``missing`` lists digests the roots reach that the store
    does not hold (for example non-distributable layers); ``stale_ingests``
    counts abandoned partial writes removed.
    """

    kept: int
    deleted: tuple[Digest, ...]
    bytes_freed: int
    spared: int
    missing: tuple[Digest, ...]
    stale_ingests: int


@frozen(kw_only=True)
class VerifyReport:
    """What ``verify`` found after re-hashing every stored blob.

    ``corrupt`` lists the blobs whose bytes no longer hash to their name,
    ``strays`` the files under ``blobs/`` whose names are not digests,
    ``missing`` the digests reachable from the roots that are not stored, and
    ``malformed`` the reachable manifests and indexes that do not parse.
    """

    checked: int
    corrupt: tuple[BlobCorrupt, ...]
    strays: tuple[str, ...]
    missing: tuple[Digest, ...]
    malformed: tuple[MalformedDocument, ...]

    @property
    def ok(self) -> bool:
        return not (self.corrupt or self.strays or self.missing or self.malformed)


# --- capabilities ---------------------------------------------------------


class Ingest(Protocol):
    """An open write into the store (containerd ``Writer``); invisible until committed.

    One writer is used by one thread at a time.
    """

    @property
    def ref(self) -> str:
        """A name for this ingest, unique within the store (for messages)."""
        ...

    @property
    def offset(self) -> int:
        """How many bytes have been written so far."""
        ...

    def write(self, chunk: bytes) -> IOResult[int, StoreError]:
        """Append ``chunk``; the new offset.  A failed write aborts the ingest."""
        ...

    def commit(
        self, expected_size: int | None = None, expected_digest: Digest | None = None
    ) -> IOResult[Committed, StoreError]:
        """Check size, then digest, then make the blob visible under its digest.

        Whatever the outcome, the ingest is finished: a failed commit discards the bytes.
        """
        ...

    def abort(self) -> IOResult[None, StoreError]:
        """Discard what was written; a no-op once committed or aborted."""
        ...

    # An implementation that subclasses ``Ingest`` inherits these two: leaving the
    # ``with`` block aborts (a no-op after a commit).

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()


class BlobReader(Protocol):
    """Read access (oras ``ReadOnlyStorage``)."""

    def exists(self, digest: Digest) -> IOResult[bool, StoreError]:
        """Whether a blob with this digest is visible."""
        ...

    def stat(self, digest: Digest) -> IOResult[int, StoreError]:
        """The size of a stored blob, or ``BlobNotFound``."""
        ...

    def open(self, digest: Digest) -> IOResult[BinaryIO, StoreError]:
        """A readable binary stream of the blob (use it as a context manager)."""
        ...

    def read_bytes(self, digest: Digest) -> IOResult[bytes, StoreError]:
        """The whole blob, verified against its digest (``BlobCorrupt``); for small documents."""
        ...

    def iter_blobs(self) -> IOResult[tuple[Digest, ...], StoreError]:
        """Every visible blob, sorted."""
        ...


class BlobIngester(Protocol):
    """Write access (oras ``Pusher``, containerd ``Ingester``).

    ``put_bytes`` and ``put_stream`` are written here once, over ``ingest``: an
    implementation that subclasses ``BlobIngester`` inherits them.
    """

    def ingest(self, algorithm: Algorithm = "sha256") -> IOResult[Ingest, StoreError]:
        """Open a writer hashing with ``algorithm`` (a commit expecting another re-hashes)."""
        ...

    def put_bytes(
        self, data: bytes, expected: Digest | None = None
    ) -> IOResult[Digest, StoreError]:
        """Store ``data`` (checked against ``expected`` when given); its digest."""
        return self.put_stream((data,), len(data), expected).map(lambda c: c.digest)

    def put_stream(
        self,
        chunks: Iterable[bytes],
        expected_size: int | None = None,
        expected_digest: Digest | None = None,
    ) -> IOResult[Committed, StoreError]:
        """Store the concatenation of ``chunks``, holding one chunk at a time.

        The chunks are written one by one and committed; the writer is aborted
        on any failure.
        """
        algorithm: Algorithm = "sha256" if expected_digest is None else expected_digest.algorithm

        def feed(writer: Ingest) -> IOResult[Committed, StoreError]:
            with writer:
                status: IOResult[int, StoreError] = IOSuccess(0)
                for chunk in chunks:
                    status = writer.write(chunk)
                    if isinstance(status, IOFailure):
                        break
                return status.bind(lambda _: writer.commit(expected_size, expected_digest))

        return self.ingest(algorithm).bind(feed)


class BlobDeleter(Protocol):
    """Removal of single blobs (oras ``Deleter``); roots are left as they are."""

    def delete(self, digest: Digest) -> IOResult[None, StoreError]:
        """Remove a stored blob, or ``BlobNotFound``."""
        ...


class RootStore(Protocol):
    """The named roots: ``index.json`` entries carrying ``org.opencontainers.image.ref.name``."""

    def roots(self) -> IOResult[tuple[Descriptor, ...], StoreError]:
        """Every ``index.json`` entry, in file order (named or not)."""
        ...

    def resolve(self, name: str) -> IOResult[Descriptor, StoreError]:
        """The root named ``name``, or ``RootNotFound``.

        Written here once, over ``roots``: an implementation that subclasses
        ``RootStore`` inherits it.
        """

        def find(entries: tuple[Descriptor, ...]) -> IOResult[Descriptor, StoreError]:
            for entry in entries:
                if root_name(entry) == name:
                    return IOSuccess(entry)
            return IOFailure(RootNotFound(name=name))

        return self.roots().bind(find)

    def set_root(self, name: str, descriptor: Descriptor) -> IOResult[Descriptor, StoreError]:
        """Name a stored blob as a root, replacing a root of the same name; the entry written."""
        ...

    def remove_root(self, name: str) -> IOResult[Descriptor, StoreError]:
        """Remove the root named ``name``; the entry removed, or ``RootNotFound``."""
        ...


class BlobStore(BlobReader, BlobIngester, BlobDeleter, RootStore, Protocol):
    """A content-addressed store with named roots, garbage collection and verification."""

    def gc(self, *, grace_seconds: float = 0.0) -> IOResult[GcReport, StoreError]:
        """Delete every blob not reachable from the roots.

        Blobs committed (or re-committed) less than ``grace_seconds`` ago are
        spared, so a writer that has stored blobs but not yet named their root
        does not lose them to a concurrent gc.
        """
        ...

    def verify(self) -> IOResult[VerifyReport, StoreError]:
        """Re-hash every blob and report the corrupt ones (and strays and missing children)."""
        ...


# --- helpers shared by the implementations -------------------------------


@frozen(kw_only=True)
class Reachability:
    """What a walk from the roots found.

    ``digests`` holds every digest reachable from the roots (the roots
    included, stored or not); ``malformed`` lists the reachable manifests and
    indexes whose bytes did not parse, whose children are therefore unknown.
    """

    digests: frozenset[Digest]
    malformed: tuple[MalformedDocument, ...]


def reachable(
    roots: Iterable[Descriptor],
    fetch: Callable[[Digest], bytes | MalformedDocument | None],
) -> Reachability:
    """Walk the content graph from ``roots`` (oras ``Successors``, repeated).

    ``fetch`` returns a node's bytes, ``None`` when the store does not hold it
    (its digest still counts as reachable; it has no known children), or a
    ``MalformedDocument`` when the store will not load it.  It is called only
    for manifests and indexes, once per digest.
    """
    seen: set[Digest] = set()
    expanded: set[Digest] = set()  # a digest may be reached as a leaf and as a manifest
    malformed: list[MalformedDocument] = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        seen.add(node.digest)
        if node.digest in expanded or not has_successors(node.media_type):
            continue
        expanded.add(node.digest)
        raw = fetch(node.digest)
        if raw is None:
            continue
        if isinstance(raw, MalformedDocument):
            malformed.append(raw)
            continue
        children = successors(node, raw)
        if isinstance(children, Failure):
            malformed.append(children.failure())
        else:
            stack.extend(children.unwrap())
    return Reachability(digests=frozenset(seen), malformed=tuple(malformed))


def size_mismatch(what: str, actual: int, expected: int | None) -> SizeMismatch | None:
    """The size check of a commit (made before the digest check)."""
    if expected is None or actual == expected:
        return None
    return SizeMismatch(what=what, expected=expected, actual=actual)


def digest_mismatch(actual: Digest, expected: Digest | None) -> DigestMismatch | None:
    """The digest check of a commit, naming the expected digest."""
    if expected is None or actual == expected:
        return None
    return DigestMismatch(what=f"blob {expected}", expected=str(expected), actual=str(actual))


def ingest_subject(ref: str, expected_digest: Digest | None) -> str:
    """How a commit's errors name what was being stored."""
    return f"blob {expected_digest}" if expected_digest is not None else f"ingest {ref}"


def check_commit(
    ref: str,
    size: int,
    hashed: Digest,
    *,
    expected_size: int | None,
    expected_digest: Digest | None,
    rehash: Callable[[Algorithm], Digest],
) -> Result[Digest, SizeMismatch | DigestMismatch]:
    """The checks of a commit, in order: the size, then the digest; the digest committed.

    ``hashed`` is what the writer hashed while bytes arrived; when the expected
    digest uses another algorithm, ``rehash`` hashes the bytes again with it.
    """
    what = ingest_subject(ref, expected_digest)
    if (bad_size := size_mismatch(what, size, expected_size)) is not None:
        return Failure(bad_size)
    if expected_digest is not None and expected_digest.algorithm != hashed.algorithm:
        actual = rehash(expected_digest.algorithm)
    else:
        actual = hashed
    if (bad_digest := digest_mismatch(actual, expected_digest)) is not None:
        return Failure(bad_digest)
    return Success(actual)


# image-spec annotations.md, org.opencontainers.image.ref.name:
#   ref       ::= component ("/" component)*
#   component ::= alphanum (separator alphanum)*
#   alphanum  ::= [A-Za-z0-9]+
#   separator ::= [-._:@+] | "--"
_COMPONENT = r"[A-Za-z0-9]+(?:(?:--|[-._:@+])[A-Za-z0-9]+)*"
_REF_NAME = rf"{_COMPONENT}(?:/{_COMPONENT})*"  # compiled on first use


def check_root_name(name: str) -> Result[str, InvalidRootName]:
    """A root name must follow the ``ref.name`` grammar of image-spec ``annotations.md``."""
    if re.fullmatch(_REF_NAME, name) is None:
        return Failure(
            InvalidRootName(
                name=name,
                reason="expected components of [A-Za-z0-9] joined by one of -._:@+ or --, "
                "separated by '/'",
            )
        )
    return Success(name)


def root_entry(name: str, descriptor: Descriptor) -> Result[Descriptor, InvalidRootName]:
    """``descriptor`` as the ``index.json`` entry of the root ``name``, once the name is checked."""
    return check_root_name(name).map(lambda _: named(descriptor, name))


def root_name(descriptor: Descriptor) -> str | None:
    """The ``org.opencontainers.image.ref.name`` of an ``index.json`` entry, if any."""
    return descriptor.annotations.get(REF_NAME_ANNOTATION)


def named(descriptor: Descriptor, name: str) -> Descriptor:
    """``descriptor`` carrying ``name`` as its ref-name annotation (other annotations kept)."""
    merged = descriptor.annotations.as_dict() | {REF_NAME_ANNOTATION: name}
    return evolve(descriptor, annotations=Annotations.of(merged))


def with_root(entries: tuple[Descriptor, ...], entry: Descriptor) -> tuple[Descriptor, ...]:
    """``entries`` with ``entry`` in place of every entry of the same name (first position kept)."""
    name = root_name(entry)
    out: list[Descriptor] = []
    placed = False
    for existing in entries:
        if root_name(existing) != name:
            out.append(existing)
        elif not placed:
            out.append(entry)
            placed = True
    if not placed:
        out.append(entry)
    return tuple(out)


def without_root(
    entries: tuple[Descriptor, ...], name: str
) -> tuple[tuple[Descriptor, ...], Descriptor | None]:
    """``entries`` without those named ``name``, and the first one removed (if any)."""
    kept = tuple(e for e in entries if root_name(e) != name)
    removed = next((e for e in entries if root_name(e) == name), None)
    return kept, removed


__all__ = [
    "CHUNK_SIZE",
    "BlobDeleter",
    "BlobIngester",
    "BlobReader",
    "BlobStore",
    "Committed",
    "GcReport",
    "Ingest",
    "Reachability",
    "RootStore",
    "VerifyReport",
    "check_commit",
    "check_root_name",
    "digest_mismatch",
    "ingest_subject",
    "named",
    "reachable",
    "root_entry",
    "root_name",
    "size_mismatch",
    "with_root",
    "without_root",
]
