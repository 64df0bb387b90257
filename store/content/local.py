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
"""

from __future__ import annotations

import errno
import fcntl
import functools
import hashlib
import io
import json
import os
import secrets
import stat as stat_mode
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Final, Literal, ParamSpec, Self, TypeVar

from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure, Success

from imgpkg_pure.digest import HEX_LENGTH, Algorithm, Digest, parse_digest
from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.media_types import OCI_INDEX
from imgpkg_pure.oci import Descriptor, ImageIndex, encode_index, parse_index
from imgpkg_pure.store.content import blobstore
from imgpkg_pure.store.content.blobstore import (
    CHUNK_SIZE,
    Committed,
    GcReport,
    Ingest,
    VerifyReport,
    check_root_name,
    digest_mismatch,
    ingest_subject,
    named,
    reachable,
    root_name,
    size_mismatch,
    with_root,
    without_root,
)
from imgpkg_pure.store.content.errors import (
    BlobCorrupt,
    BlobNotFound,
    IngestClosed,
    NotALayout,
    RootNotFound,
    StoreError,
    StoreIOFailure,
)

LAYOUT_FILE: Final = "oci-layout"
INDEX_FILE: Final = "index.json"
BLOBS_DIR: Final = "blobs"
INGEST_DIR: Final = "ingest"
LOCK_FILE: Final = ".lock"
LAYOUT_VERSION: Final = "1.0.0"
LAYOUT_BYTES: Final = b'{"imageLayoutVersion":"1.0.0"}'
#: The largest manifest or index a graph walk loads (distribution-spec suggests 4 MiB).
MAX_NODE_SIZE: Final = 4 << 20

#: Names a half-created layout of ours may hold before ``oci-layout`` is written.
_OWN_NAMES: Final = frozenset({BLOBS_DIR, INDEX_FILE, INGEST_DIR, LOCK_FILE})

_P = ParamSpec("_P")
_T = TypeVar("_T")
_State = Literal["open", "committed", "aborted"]


# --- thin primitives: the only places OSError is caught -------------------


class _Abort(Exception):
    """Internal: carries an error value out of nested helpers to the public method."""

    def __init__(self, error: StoreError) -> None:
        super().__init__(error)
        self.error = error


def _os_failure(operation: str, path: Path | str, exc: OSError) -> _Abort:
    reason = exc.strerror or str(exc)
    return _Abort(StoreIOFailure(operation=operation, path=str(path), reason=reason))


@contextmanager
def _os(operation: str, path: Path | str) -> Iterator[None]:
    """Turn an ``OSError`` raised inside into a ``StoreIOFailure`` naming ``path``."""
    try:
        yield
    except OSError as exc:
        raise _os_failure(operation, path, exc) from exc


def _effect(fn: Callable[_P, _T]) -> Callable[_P, IOResult[_T, StoreError]]:
    """Run ``fn``; its value becomes ``IOSuccess``, an ``_Abort`` becomes ``IOFailure``."""

    @functools.wraps(fn)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> IOResult[_T, StoreError]:
        try:
            return IOSuccess(fn(*args, **kwargs))
        except _Abort as abort:
            return IOFailure(abort.error)

    return run


def _fsync_dir(path: Path) -> None:
    with _os("sync directory", path):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _ensure_dir(path: Path) -> None:
    """Create ``path`` (and make its entry durable) if it is missing."""
    if path.is_dir():
        return
    with _os("create directory", path):
        path.mkdir(parents=True, exist_ok=True)
    _fsync_dir(path.parent)


def _unlink_quietly(path: Path) -> None:
    """Remove ``path``; already gone is fine, other failures are reported."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise _os_failure("remove", path, exc) from exc


def _touch_quietly(path: Path) -> None:
    """Refresh a blob's mtime (its gc grace); a blob owned by another user stays as it is."""
    with suppress(OSError):
        os.utime(path)


def _write_all(fd: int, data: bytes, path: Path) -> None:
    view = memoryview(data)
    with _os("write", path):
        while view:
            written = os.write(fd, view)
            view = view[written:]


def _hash_fd(fd: int, algorithm: Algorithm, path: Path) -> tuple[Digest, int]:
    """Hash a file from offset 0 in ``CHUNK_SIZE`` reads; its digest and length."""
    h = hashlib.new(algorithm)
    offset = 0
    with _os("read", path):
        while chunk := os.pread(fd, CHUNK_SIZE, offset):
            h.update(chunk)
            offset += len(chunk)
    return Digest(algorithm, h.hexdigest()), offset


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (created if missing)."""
    with _os("open lock file", lock_path):
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        with _os("lock", lock_path):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _new_locked_file(directory: Path, kind: str) -> tuple[int, Path]:
    """Create ``directory/<kind>-<random>`` exclusively and hold its ``flock``.

    gc may take the lock of a file between its creation and our ``flock``
    (it would look stale) and remove it; so after locking we check that the
    name still leads to our file, and start over if it does not.
    """
    while True:
        path = directory / f"{kind}-{secrets.token_hex(16)}"
        with _os("create ingest file", path):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            with _os("lock ingest file", path):
                fcntl.flock(fd, fcntl.LOCK_EX)
                mine = os.fstat(fd)
            try:
                current = os.stat(path)
            except FileNotFoundError:
                os.close(fd)
                continue
            except OSError as exc:
                raise _os_failure("stat ingest file", path, exc) from exc
            if (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
                return fd, path
            os.close(fd)
        except BaseException:
            os.close(fd)
            raise


def _remove_if_stale(path: Path) -> bool:
    """Remove an ingest file nobody holds a ``flock`` on; whether it was removed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise _os_failure("open ingest file", path, exc) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live writer holds it
        except OSError as exc:
            raise _os_failure("lock ingest file", path, exc) from exc
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False  # its writer committed or aborted meanwhile
        except OSError as exc:
            raise _os_failure("remove stale ingest file", path, exc) from exc
        return True
    finally:
        os.close(fd)


def _write_file_atomically(target: Path, data: bytes, scratch: Path) -> None:
    """Replace ``target`` by ``data``: temporary file in ``scratch``, fsync, rename, fsync."""
    _ensure_dir(scratch)
    fd, temp = _new_locked_file(scratch, target.name)
    try:
        _write_all(fd, data, temp)
        with _os("sync", temp):
            os.fsync(fd)
        with _os("replace", target):
            os.replace(temp, target)
        _fsync_dir(target.parent)
    except BaseException:
        _unlink_quietly(temp)
        raise
    finally:
        os.close(fd)


def _read_file(path: Path, operation: str) -> bytes | None:
    """The bytes of ``path``, or ``None`` when it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _os_failure(operation, path, exc) from exc


# --- the layout -----------------------------------------------------------


def _check_layout_file(root: Path) -> None:
    raw = _read_file(root / LAYOUT_FILE, "read")
    if raw is None:
        raise _Abort(NotALayout(path=str(root), reason=f"{LAYOUT_FILE} vanished"))
    try:
        version = json.loads(raw).get("imageLayoutVersion")
    except (ValueError, AttributeError):
        raise _Abort(
            NotALayout(path=str(root), reason=f"{LAYOUT_FILE} is not a JSON object")
        ) from None
    if version != LAYOUT_VERSION:
        raise _Abort(
            NotALayout(
                path=str(root),
                reason=f"unsupported imageLayoutVersion {version!r} (expected {LAYOUT_VERSION})",
            )
        )


def _prepare(root: Path) -> Path:
    """Create the layout at ``root``, or check the one there; refuse anything else."""
    if root.exists() and not root.is_dir():
        raise _Abort(NotALayout(path=str(root), reason="it exists and is not a directory"))
    with _os("create directory", root):
        root.mkdir(parents=True, exist_ok=True)
    with _os("list", root):
        entries = set(os.listdir(root))
    if LAYOUT_FILE not in entries and not entries <= _OWN_NAMES:
        shown = ", ".join(sorted(entries)[:5])
        raise _Abort(
            NotALayout(
                path=str(root),
                reason=f"the directory is not empty and has no {LAYOUT_FILE} file "
                f"(it holds {shown}{', …' if len(entries) > 5 else ''})",
            )
        )
    with _exclusive(root / LOCK_FILE):
        if (root / LAYOUT_FILE).exists():
            _check_layout_file(root)
        _ensure_dir(root / BLOBS_DIR / "sha256")
        _ensure_dir(root / INGEST_DIR)
        if not (root / INDEX_FILE).exists():
            _write_file_atomically(
                root / INDEX_FILE, encode_index((), OCI_INDEX), root / INGEST_DIR
            )
        if not (root / LAYOUT_FILE).exists():
            # Written last: its presence says the layout is complete.
            _write_file_atomically(root / LAYOUT_FILE, LAYOUT_BYTES, root / INGEST_DIR)
    return root


class LocalIngest:
    """A writer into a ``LocalStore``: a locked temporary file under ``ingest/``."""

    def __init__(self, store: LocalStore, fd: int, path: Path, algorithm: Algorithm) -> None:
        self._store = store
        self._file = io.FileIO(fd, "r+", closefd=True)  # closed (lock dropped) if leaked
        self._path = path
        self._algorithm: Algorithm = algorithm
        self._hash = hashlib.new(algorithm)
        self._offset = 0
        self._state: _State = "open"

    @property
    def ref(self) -> str:
        return self._path.name

    @property
    def offset(self) -> int:
        return self._offset

    def _check_open(self) -> None:
        if self._state != "open":
            raise _Abort(IngestClosed(ref=self.ref, state=self._state))

    def _discard(self) -> None:
        """Remove the temporary file, then drop its lock."""
        self._state = "aborted"
        try:
            _unlink_quietly(self._path)
        finally:
            self._file.close()

    @_effect
    def write(self, chunk: bytes) -> int:
        self._check_open()
        try:
            _write_all(self._file.fileno(), chunk, self._path)
        except _Abort:
            # Part of the chunk may be in the file but not in the hash: never commit it.
            self._discard()
            raise
        self._hash.update(chunk)
        self._offset += len(chunk)
        return self._offset

    @_effect
    def commit(
        self, expected_size: int | None = None, expected_digest: Digest | None = None
    ) -> Committed:
        self._check_open()
        try:
            return self._commit(expected_size, expected_digest)
        except BaseException:
            if self._state == "open":
                self._discard()
            raise

    def _commit(self, expected_size: int | None, expected_digest: Digest | None) -> Committed:
        fd = self._file.fileno()
        what = ingest_subject(self.ref, expected_digest)
        if (bad_size := size_mismatch(what, self._offset, expected_size)) is not None:
            raise _Abort(bad_size)
        if expected_digest is not None and expected_digest.algorithm != self._algorithm:
            actual, _ = _hash_fd(fd, expected_digest.algorithm, self._path)
        else:
            actual = Digest(self._algorithm, self._hash.hexdigest())
        if (bad_digest := digest_mismatch(actual, expected_digest)) is not None:
            raise _Abort(bad_digest)
        with _os("sync", self._path):
            os.fsync(fd)
            os.fchmod(fd, 0o444)
        existed = self._store._publish(self._path, actual)
        self._state = "committed"
        # The blob is visible now; a temporary name left behind is a stale ingest for gc.
        with suppress(OSError):
            os.unlink(self._path)
        self._file.close()
        return Committed(digest=actual, size=self._offset, already_existed=existed)

    def abort(self) -> IOResult[None, StoreError]:
        if self._state != "open":
            return IOSuccess(None)
        return _effect(self._discard)()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()


class LocalStore:
    """A ``BlobStore`` in an OCI image layout directory.

    Open one with ``LocalStore.at(root)``, which creates the layout when the
    directory is missing or empty and refuses a non-empty directory that is
    not a layout.  A ``LocalStore`` may be shared by threads, and several
    processes may use the same root at once.
    """

    def __init__(self, root: Path) -> None:
        """Wrap a root already prepared by ``LocalStore.at`` (no I/O here)."""
        self.root = root
        self._blobs = root / BLOBS_DIR
        self._ingest = root / INGEST_DIR
        self._index = root / INDEX_FILE
        self._lock = root / LOCK_FILE

    @classmethod
    def at(cls, root: Path) -> IOResult[LocalStore, StoreError]:
        """Open the layout at ``root``, creating it if the directory is missing or empty."""
        return _effect(_prepare)(Path(root)).map(cls)

    # --- internal ---------------------------------------------------------

    def blob_path(self, digest: Digest) -> Path:
        """Where a blob lives: ``blobs/<alg>/<hex>``."""
        return self._blobs / digest.algorithm / digest.hex

    def _publish(self, temp: Path, digest: Digest) -> bool:
        """Give the synced, read-only ``temp`` its blob name; whether the blob already existed."""
        target = self.blob_path(digest)
        _ensure_dir(target.parent)
        try:
            os.link(temp, target)
        except FileExistsError:
            _touch_quietly(target)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise _os_failure("store blob", target, exc) from exc
            # A file system without hard links: rename instead (same content if it exists).
            existed = target.exists()
            with _os("store blob", target):
                os.replace(temp, target)
        else:
            existed = False
        _fsync_dir(target.parent)
        return existed

    def _read_index(self) -> ImageIndex:
        raw = _read_file(self._index, "read")
        if raw is None:
            raise _Abort(NotALayout(path=str(self.root), reason=f"{INDEX_FILE} is missing"))
        parsed = parse_index(raw, str(self._index))
        if isinstance(parsed, Failure):
            raise _Abort(parsed.failure())
        return parsed.unwrap()

    def _write_index(self, index: ImageIndex, entries: tuple[Descriptor, ...]) -> None:
        raw = encode_index(entries, OCI_INDEX, index.annotations)
        _write_file_atomically(self._index, raw, self._ingest)

    def _update_roots(
        self, change: Callable[[tuple[Descriptor, ...]], tuple[Descriptor, ...]]
    ) -> None:
        with _exclusive(self._lock):
            index = self._read_index()
            entries = change(index.manifests)
            if entries != index.manifests:
                self._write_index(index, entries)

    def _scan(self) -> tuple[tuple[Digest, ...], tuple[str, ...]]:
        """The stored blobs, and the stray paths under ``blobs/`` that are not blobs."""
        digests: list[Digest] = []
        strays: list[str] = []
        with _os("list", self._blobs):
            algorithms = sorted(os.scandir(self._blobs), key=lambda e: e.name)
        for alg_entry in algorithms:
            if alg_entry.name not in HEX_LENGTH or not alg_entry.is_dir(follow_symlinks=False):
                strays.append(f"{BLOBS_DIR}/{alg_entry.name}")
                continue
            with _os("list", alg_entry.path):
                files = list(os.scandir(alg_entry.path))
            for entry in files:
                parsed = parse_digest(f"{alg_entry.name}:{entry.name}")
                if isinstance(parsed, Success) and entry.is_file(follow_symlinks=False):
                    digests.append(parsed.unwrap())
                else:
                    strays.append(f"{BLOBS_DIR}/{alg_entry.name}/{entry.name}")
        return tuple(sorted(digests)), tuple(sorted(strays))

    def _fetch_verified(self, digest: Digest) -> bytes | None:
        raw = _read_file(self.blob_path(digest), "read blob")
        if raw is None:
            return None
        h = hashlib.new(digest.algorithm, raw)
        if h.hexdigest() != digest.hex:
            raise _Abort(BlobCorrupt(digest=digest, actual=Digest(digest.algorithm, h.hexdigest())))
        return raw

    def _fetch_node(self, digest: Digest, *, verified: bool) -> bytes | MalformedDocument | None:
        """A manifest or index met on a graph walk; refuses to load an oversized one."""
        path = self.blob_path(digest)
        try:
            size = os.stat(path).st_size
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise _os_failure("stat blob", path, exc) from exc
        if size > MAX_NODE_SIZE:
            return MalformedDocument(
                where=f"manifest {digest}",
                reason=f"{size} bytes is more than a manifest may hold ({MAX_NODE_SIZE})",
            )
        return self._fetch_verified(digest) if verified else _read_file(path, "read blob")

    def _sweep_ingests(self) -> int:
        if not self._ingest.is_dir():
            return 0
        with _os("list", self._ingest):
            entries = [e for e in os.scandir(self._ingest) if e.is_file(follow_symlinks=False)]
        return sum(1 for e in entries if _remove_if_stale(Path(e.path)))

    # --- BlobReader -------------------------------------------------------

    @_effect
    def exists(self, digest: Digest) -> bool:
        path = self.blob_path(digest)
        try:
            return stat_mode.S_ISREG(os.stat(path).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            raise _os_failure("stat blob", path, exc) from exc

    @_effect
    def stat(self, digest: Digest) -> int:
        path = self.blob_path(digest)
        try:
            return os.stat(path).st_size
        except (FileNotFoundError, NotADirectoryError):
            raise _Abort(BlobNotFound(digest=digest)) from None
        except OSError as exc:
            raise _os_failure("stat blob", path, exc) from exc

    @_effect
    def open(self, digest: Digest) -> BinaryIO:
        path = self.blob_path(digest)
        try:
            return open(path, "rb")  # the caller owns and closes the stream
        except (FileNotFoundError, NotADirectoryError):
            raise _Abort(BlobNotFound(digest=digest)) from None
        except OSError as exc:
            raise _os_failure("open blob", path, exc) from exc

    @_effect
    def read_bytes(self, digest: Digest) -> bytes:
        raw = self._fetch_verified(digest)
        if raw is None:
            raise _Abort(BlobNotFound(digest=digest))
        return raw

    @_effect
    def iter_blobs(self) -> tuple[Digest, ...]:
        return self._scan()[0]

    # --- BlobIngester -----------------------------------------------------

    @_effect
    def ingest(self, algorithm: Algorithm = "sha256") -> Ingest:
        _ensure_dir(self._ingest)
        fd, path = _new_locked_file(self._ingest, "blob")
        return LocalIngest(self, fd, path, algorithm)

    def put_bytes(
        self, data: bytes, expected: Digest | None = None
    ) -> IOResult[Digest, StoreError]:
        return blobstore.put_bytes(self, data, expected)

    def put_stream(
        self,
        chunks: Iterable[bytes],
        expected_size: int | None = None,
        expected_digest: Digest | None = None,
    ) -> IOResult[Committed, StoreError]:
        return blobstore.put_stream(self, chunks, expected_size, expected_digest)

    # --- BlobDeleter ------------------------------------------------------

    @_effect
    def delete(self, digest: Digest) -> None:
        path = self.blob_path(digest)
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            raise _Abort(BlobNotFound(digest=digest)) from None
        except OSError as exc:
            raise _os_failure("remove blob", path, exc) from exc

    # --- RootStore --------------------------------------------------------

    @_effect
    def roots(self) -> tuple[Descriptor, ...]:
        return self._read_index().manifests

    @_effect
    def resolve(self, name: str) -> Descriptor:
        for entry in self._read_index().manifests:
            if root_name(entry) == name:
                return entry
        raise _Abort(RootNotFound(name=name))

    @_effect
    def set_root(self, name: str, descriptor: Descriptor) -> Descriptor:
        checked = check_root_name(name)
        if isinstance(checked, Failure):
            raise _Abort(checked.failure())
        entry = named(descriptor, name)
        with _exclusive(self._lock):
            if not self.blob_path(descriptor.digest).is_file():
                raise _Abort(BlobNotFound(digest=descriptor.digest))
            index = self._read_index()
            self._write_index(index, with_root(index.manifests, entry))
        return entry

    @_effect
    def remove_root(self, name: str) -> Descriptor:
        removed: list[Descriptor] = []

        def drop(entries: tuple[Descriptor, ...]) -> tuple[Descriptor, ...]:
            kept, gone = without_root(entries, name)
            if gone is None:
                raise _Abort(RootNotFound(name=name))
            removed.append(gone)
            return kept

        self._update_roots(drop)
        return removed[0]

    # --- maintenance ------------------------------------------------------

    @_effect
    def gc(self, *, grace_seconds: float = 0.0) -> GcReport:
        with _exclusive(self._lock):
            walk = reachable(
                self._read_index().manifests, lambda d: self._fetch_node(d, verified=True)
            )
            if walk.malformed:
                raise _Abort(walk.malformed[0])
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
                    raise _os_failure("stat blob", path, exc) from exc
                if now - info.st_mtime < grace_seconds:
                    spared += 1
                    continue
                _unlink_quietly(path)
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

    @_effect
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
                raise _os_failure("open blob", path, exc) from exc
            try:
                actual, _ = _hash_fd(fd, digest.algorithm, path)
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


__all__ = ["LAYOUT_FILE", "LocalIngest", "LocalStore"]
