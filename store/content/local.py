"""``LocalStore``: the blob store on disk, laid out as an OCI image layout.

Layout (image-spec ``image-layout.md``)::

    <root>/oci-layout          {"imageLayoutVersion":"1.0.0"}
    <root>/index.json          the roots: an image index whose entries carry
                               org.opencontainers.image.ref.name
    <root>/blobs/<alg>/<hex>   content, read-only (0444)
    <root>/ingest/<kind>-<id>  writes in progress (containerd, oras); not part
                               of the layout proper, never read by other tools
    <root>/.lock               flock(2) target serialising index.json updates and gc

Write protocol (containerd ``content/local/writer.go``, oras ``content/oci``):

1. ``ingest()`` creates ``ingest/blob-<random>`` with ``O_EXCL`` and holds an
   exclusive ``flock`` on it for as long as the writer is open.
2. ``write`` appends and hashes; at most one chunk is held in memory.
3. ``commit`` checks the size, then the digest (re-hashing the file in 1 MiB
   reads when the expected digest uses another algorithm), then ``fsync``\\ s
   the file, makes it 0444 and ``link``\\ s it to ``blobs/<alg>/<hex>``
   (``link`` never replaces: if the name exists, the content is the same, and
   the commit is a success), ``fsync``\\ s the directory and removes the
   temporary name.  A failed check removes the temporary file.

So a blob name appears only once its complete, synced content is behind it.

Stale ingests: a writer killed mid-write (or dropped without commit/abort)
leaves its file in ``ingest/``, where no reader ever looks.  An ingest file is
*stale* exactly when no process holds its ``flock`` (the kernel drops the lock
of a dead process); ``gc`` removes every stale ingest file, whatever its age,
and never touches one whose writer is alive.

Roots: ``index.json`` is rewritten whole (temporary file in ``ingest/``,
``fsync``, ``rename``, ``fsync`` of the directory) while holding an exclusive
``flock`` on ``.lock``, so concurrent root updates from several processes are
serialised and none is lost.  ``gc`` holds the same lock, so the roots cannot
change under it.  Blob commits do not take it; a writer that stores blobs and
names their root later is protected from a concurrent gc only by
``gc(grace_seconds=…)``, which spares blobs whose file was written (or
re-committed) recently.

Entries of ``index.json`` written by other tools are kept, but fields this
codec does not model are dropped when the file is rewritten.

Modules: this one holds ``LocalStore``; ``local_ingest`` its writer,
``local_layout`` the layout names and set-up, ``local_files`` the file-system
primitives (locks, atomic replacement, the mapping of ``OSError``).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat as stat_mode
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, Final

from returns.io import IOFailure, IOResult
from returns.result import Failure, Success
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import HEX_LENGTH, Algorithm, Digest, parse_digest
from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.media_types import OCI_INDEX
from imgpkg_pure.oci import Descriptor, ImageIndex, encode_index, parse_index
from imgpkg_pure.store.content.blobstore import (
    BlobStore,
    GcReport,
    Ingest,
    VerifyReport,
    digest_mismatch,
    reachable,
    root_entry,
    root_name,
    with_root,
    without_root,
)
from imgpkg_pure.store.content.errors import (
    BlobCorrupt,
    BlobNotFound,
    NotALayout,
    RootNotFound,
    StoreError,
)
from imgpkg_pure.store.content.local_files import (
    StoreAbort,
    effect,
    ensure_dir,
    exclusive,
    fsync_dir,
    hash_fd,
    link_anonymous,
    new_locked_file,
    os_errors,
    os_failure,
    read_file,
    remove_if_stale,
    touch_quietly,
    unlink_quietly,
    write_anonymous,
    write_file_atomically,
)
from imgpkg_pure.store.content.local_ingest import LocalIngest
from imgpkg_pure.store.content.local_layout import (
    BLOBS_DIR,
    INDEX_FILE,
    INGEST_DIR,
    LAYOUT_FILE,
    LOCK_FILE,
    prepare_layout,
)

#: The largest manifest or index a graph walk loads (distribution-spec suggests 4 MiB).
MAX_NODE_SIZE: Final = 4 << 20
#: The largest blob :meth:`LocalStore.put_whole` takes (one read of a registry stream).
MAX_WHOLE_SIZE: Final = 4 << 20


class LocalStore(BlobStore):
    """A ``BlobStore`` in an OCI image layout directory.

    Open one with ``LocalStore.at(root)``, which creates the layout when the
    directory is missing or empty and refuses a non-empty directory that is
    not a layout.  A ``LocalStore`` may be shared by threads, and several
    processes may use the same root at once.
    """

    def __init__(self, root: Path, *, durable: bool = True) -> None:
        """Wrap a root already prepared by ``LocalStore.at`` (no I/O here).

        ``durable=False`` skips the ``fsync`` of each blob and of its directory (``index.json``
        is still synced): for the local mirror, whose every read re-verifies what it serves,
        so that a blob a power cut tore is found and fetched again (``docs/cache.md``)."""
        self.root = root
        self._durable = durable
        self._blobs = root / BLOBS_DIR
        self._ingest = root / INGEST_DIR
        self._index = root / INDEX_FILE
        self._lock = root / LOCK_FILE
        self._made: set[Path] = set()  # blob directories known to exist (``put_whole``)

    @classmethod
    def at(cls, root: Path, *, durable: bool = True) -> IOResult[LocalStore, StoreError]:
        """Open the layout at ``root``, creating it if the directory is missing or empty."""
        return effect(prepare_layout)(Path(root)).map(lambda r: cls(r, durable=durable))

    # --- internal ---------------------------------------------------------

    def blob_path(self, digest: Digest) -> Path:
        """Where a blob lives: ``blobs/<alg>/<hex>``."""
        return self._blobs / digest.algorithm / digest.hex

    def _publish(self, temp: Path, digest: Digest) -> bool:
        """Give the synced, read-only ``temp`` its blob name; whether the blob already existed."""
        target = self.blob_path(digest)
        ensure_dir(target.parent)
        try:
            os.link(temp, target)
        except FileExistsError:
            touch_quietly(target)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise os_failure("store blob", target, exc) from exc
            # A file system without hard links: rename instead (same content if it exists).
            existed = target.exists()
            with os_errors("store blob", target):
                os.replace(temp, target)
        else:
            existed = False
        if self._durable:
            fsync_dir(target.parent)
        return existed

    def _read_index(self) -> ImageIndex:
        raw = read_file(self._index, "read")
        if raw is None:
            raise StoreAbort(NotALayout(path=str(self.root), reason=f"{INDEX_FILE} is missing"))
        parsed = parse_index(raw, str(self._index))
        if isinstance(parsed, Failure):
            raise StoreAbort(parsed.failure())
        return parsed.unwrap()

    def _write_index(self, index: ImageIndex, entries: tuple[Descriptor, ...]) -> None:
        raw = encode_index(entries, OCI_INDEX, index.annotations)
        write_file_atomically(self._index, raw, self._ingest)

    def _update_roots(
        self, change: Callable[[tuple[Descriptor, ...]], tuple[Descriptor, ...]]
    ) -> None:
        with exclusive(self._lock):
            index = self._read_index()
            entries = change(index.manifests)
            if entries != index.manifests:
                self._write_index(index, entries)

    def _scan(self) -> tuple[tuple[Digest, ...], tuple[str, ...]]:
        """The stored blobs, and the stray paths under ``blobs/`` that are not blobs."""
        digests: list[Digest] = []
        strays: list[str] = []
        with os_errors("list", self._blobs):
            algorithms = sorted(os.scandir(self._blobs), key=lambda e: e.name)
        for alg_entry in algorithms:
            if alg_entry.name not in HEX_LENGTH or not alg_entry.is_dir(follow_symlinks=False):
                strays.append(f"{BLOBS_DIR}/{alg_entry.name}")
                continue
            with os_errors("list", alg_entry.path):
                files = sorted(os.scandir(alg_entry.path), key=lambda e: e.name)
            for entry in files:
                parsed = parse_digest(f"{alg_entry.name}:{entry.name}")
                if isinstance(parsed, Success) and entry.is_file(follow_symlinks=False):
                    digests.append(parsed.unwrap())
                else:
                    strays.append(f"{BLOBS_DIR}/{alg_entry.name}/{entry.name}")
        # sorted as Digest values sort (algorithm, then hex), by their names: comparing the
        # values themselves costs more than reading the directory
        return tuple(digests), tuple(sorted(strays))

    def _stat_blob(self, digest: Digest) -> os.stat_result | None:
        """The status of a blob's file, or None when there is no such blob."""
        path = self.blob_path(digest)
        try:
            return os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise os_failure("stat blob", path, exc) from exc

    def _fetch_verified(self, digest: Digest) -> bytes | None:
        raw = read_file(self.blob_path(digest), "read blob")
        if raw is None:
            return None
        actual = Digest(digest.algorithm, hashlib.new(digest.algorithm, raw).hexdigest())
        if actual != digest:
            raise StoreAbort(BlobCorrupt(digest=digest, actual=actual))
        return raw

    def _fetch_node(self, digest: Digest, *, verified: bool) -> bytes | MalformedDocument | None:
        """A manifest or index met on a graph walk; refuses to load an oversized one."""
        info = self._stat_blob(digest)
        if info is None:
            return None
        size = info.st_size
        if size > MAX_NODE_SIZE:
            return MalformedDocument(
                where=f"manifest {digest}",
                reason=f"{size} bytes is more than a manifest may hold ({MAX_NODE_SIZE})",
            )
        if verified:
            return self._fetch_verified(digest)
        return read_file(self.blob_path(digest), "read blob")

    def _sweep_ingests(self) -> int:
        if not self._ingest.is_dir():
            return 0
        with os_errors("list", self._ingest):
            entries = [e for e in os.scandir(self._ingest) if e.is_file(follow_symlinks=False)]
        return sum(1 for e in entries if remove_if_stale(Path(e.path)))

    # --- BlobReader -------------------------------------------------------

    @effect
    def exists(self, digest: Digest) -> bool:
        info = self._stat_blob(digest)
        return info is not None and stat_mode.S_ISREG(info.st_mode)

    @effect
    def stat(self, digest: Digest) -> int:
        info = self._stat_blob(digest)
        if info is None:
            raise StoreAbort(BlobNotFound(digest=digest))
        return info.st_size

    @effect
    def open(self, digest: Digest) -> BinaryIO:
        path = self.blob_path(digest)
        try:
            return open(path, "rb")  # the caller owns and closes the stream
        except (FileNotFoundError, NotADirectoryError):
            raise StoreAbort(BlobNotFound(digest=digest)) from None
        except OSError as exc:
            raise os_failure("open blob", path, exc) from exc

    @effect
    def read_bytes(self, digest: Digest) -> bytes:
        raw = self._fetch_verified(digest)
        if raw is None:
            raise StoreAbort(BlobNotFound(digest=digest))
        return raw

    @effect
    def iter_blobs(self) -> tuple[Digest, ...]:
        return self._scan()[0]

    # --- BlobIngester -----------------------------------------------------

    @effect
    def ingest(self, algorithm: Algorithm = "sha256") -> Ingest:
        ensure_dir(self._ingest)
        fd, path = new_locked_file(self._ingest, "blob")
        return LocalIngest(self._publish, fd, path, algorithm, durable=self._durable)

    @effect
    def ingest_vouched(self, digest: Digest) -> Ingest:
        """A writer for bytes its caller verifies against ``digest`` as they pass (the
        mirror's tee, behind a verified registry stream, commits only on the stream's
        successful verdict): it checks their size at commit, and does not hash them again."""
        ensure_dir(self._ingest)
        fd, path = new_locked_file(self._ingest, "blob")
        return LocalIngest(
            self._publish, fd, path, digest.algorithm, durable=self._durable, vouched=digest
        )

    @effect
    def put_whole(self, pieces: Sequence[bytes], digest: Digest, *, vouched: bool = False) -> bool:
        """Store a small blob held whole in memory (``pieces``, in order); whether it was
        there already.

        Checked against ``digest`` (hashed here unless its caller ``vouched`` for it: the
        mirror's tee, behind a verified stream), then written as one nameless file
        (``O_TMPFILE``) and linked under its digest: no ingest name, no ``flock``, nothing
        left behind by a process killed on the way.  Where the file system has no nameless
        files, an ingest does it (the write protocol above)."""
        size = sum(len(piece) for piece in pieces)
        if not vouched:
            hasher = hashlib.new(digest.algorithm)
            for piece in pieces:
                hasher.update(piece)
            actual = Digest(digest.algorithm, hasher.hexdigest())
            mismatch = digest_mismatch(actual, digest)
            if mismatch is not None:
                raise StoreAbort(mismatch)
        target = self.blob_path(digest)
        if target.parent not in self._made:
            ensure_dir(target.parent)
            ensure_dir(self._ingest)
            self._made.add(target.parent)
        fd = None
        if size <= MAX_WHOLE_SIZE:
            fd = write_anonymous(self._ingest, pieces, durable=self._durable)
        existed = None if fd is None else link_anonymous(fd, target)
        if existed is None:
            put = self.put_stream(pieces, size, digest)
            if isinstance(put, IOFailure):
                raise StoreAbort(unsafe_perform_io(put.failure()))
            return unsafe_perform_io(put.unwrap()).already_existed
        if self._durable and not existed:
            fsync_dir(target.parent)
        return existed

    # --- BlobDeleter ------------------------------------------------------

    @effect
    def delete(self, digest: Digest) -> None:
        path = self.blob_path(digest)
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            raise StoreAbort(BlobNotFound(digest=digest)) from None
        except OSError as exc:
            raise os_failure("remove blob", path, exc) from exc

    # --- RootStore --------------------------------------------------------

    @effect
    def roots(self) -> tuple[Descriptor, ...]:
        return self._read_index().manifests

    @effect
    def set_root(self, name: str, descriptor: Descriptor) -> Descriptor:
        checked = root_entry(name, descriptor)
        if isinstance(checked, Failure):
            raise StoreAbort(checked.failure())
        entry = checked.unwrap()
        with exclusive(self._lock):
            if not self.blob_path(descriptor.digest).is_file():
                raise StoreAbort(BlobNotFound(digest=descriptor.digest))
            index = self._read_index()
            self._write_index(index, with_root(index.manifests, entry))
        return entry

    @effect
    def remove_root(self, name: str) -> Descriptor:
        removed: list[Descriptor] = []

        def drop(entries: tuple[Descriptor, ...]) -> tuple[Descriptor, ...]:
            kept, gone = without_root(entries, name)
            if gone is None:
                raise StoreAbort(RootNotFound(name=name))
            removed.append(gone)
            return kept

        self._update_roots(drop)
        return removed[0]

    @effect
    def set_roots(self, entries: tuple[tuple[str, Descriptor], ...]) -> tuple[Descriptor, ...]:
        """Name several stored blobs as roots in one rewrite of ``index.json``; the entries
        written.  An entry whose blob is no longer stored (a concurrent prune took it) is
        left out rather than refused: the mirror records what is there."""
        checked: list[Descriptor] = []
        for name, descriptor in entries:
            entry = root_entry(name, descriptor)
            if isinstance(entry, Failure):
                raise StoreAbort(entry.failure())
            checked.append(entry.unwrap())
        written: list[Descriptor] = []

        def add(current: tuple[Descriptor, ...]) -> tuple[Descriptor, ...]:
            # as ``with_root`` once per entry, in one pass: a name in place, new ones appended
            placed: dict[str, Descriptor] = {}
            for entry in checked:
                if self.blob_path(entry.digest).is_file():
                    placed[root_name(entry) or ""] = entry
                    written.append(entry)
            out: list[Descriptor] = []
            seen: set[str] = set()
            for existing in current:
                name = root_name(existing)
                if name is None or name not in placed:
                    out.append(existing)
                elif name not in seen:
                    out.append(placed[name])
                    seen.add(name)
            out.extend(entry for name, entry in placed.items() if name not in seen)
            return tuple(out)

        if checked:
            self._update_roots(add)
        return tuple(written)

    # --- maintenance ------------------------------------------------------

    @effect
    def gc(self, *, grace_seconds: float = 0.0) -> GcReport:
        with exclusive(self._lock):
            walk = reachable(
                self._read_index().manifests, lambda d: self._fetch_node(d, verified=True)
            )
            if walk.malformed:
                raise StoreAbort(walk.malformed[0])
            stored, _ = self._scan()
            now = time.time()
            deleted: list[Digest] = []
            freed = 0
            spared = 0
            for digest in stored:
                if digest in walk.digests:
                    continue
                path = self.blob_path(digest)
                try:
                    info = os.stat(path)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    raise os_failure("stat blob", path, exc) from exc
                if now - info.st_mtime < grace_seconds:
                    spared += 1
                    continue
                unlink_quietly(path)
                deleted.append(digest)
                freed += info.st_size
            stale = self._sweep_ingests()
            return GcReport(
                kept=len(walk.digests.intersection(stored)),
                deleted=tuple(deleted),
                bytes_freed=freed,
                spared=spared,
                missing=tuple(sorted(walk.digests.difference(stored))),
                stale_ingests=stale,
            )

    @effect
    def verify(self) -> VerifyReport:
        stored, strays = self._scan()
        corrupt: list[BlobCorrupt] = []
        for digest in stored:
            path = self.blob_path(digest)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # deleted meanwhile
            except OSError as exc:
                raise os_failure("open blob", path, exc) from exc
            try:
                actual, _ = hash_fd(fd, digest.algorithm, path)
            finally:
                os.close(fd)
            if actual != digest:
                corrupt.append(BlobCorrupt(digest=digest, actual=actual))
        walk = reachable(
            self._read_index().manifests, lambda d: self._fetch_node(d, verified=False)
        )
        return VerifyReport(
            checked=len(stored),
            corrupt=tuple(corrupt),
            strays=strays,
            missing=tuple(sorted(walk.digests.difference(stored))),
            malformed=walk.malformed,
        )


__all__ = ["LAYOUT_FILE", "MAX_NODE_SIZE", "MAX_WHOLE_SIZE", "LocalIngest", "LocalStore"]
