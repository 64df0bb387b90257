"""What the mirror keeps beside the OCI layout: the access-time record and the leases.

``ROOT/access.log`` (the access-time record) is a text file of lines
``<unix-time> <kind> <digest> <size>``, ``kind`` one of ``hit`` (served from
the store), ``miss`` (fetched from a registry and kept), ``kept`` (written
through by an upload) and ``dropped`` (removed: corrupt, or evicted).  Runs
append their lines in one ``O_APPEND`` write at their end while holding a
shared ``flock`` on ``ROOT/.lock``; upkeep (gc, prune, verify) rewrites it
under the exclusive lock, one line per stored blob, the totals so far carried
in a first ``totals`` line, each blob's time as a ``used`` line.  Eviction
reads it for "least recently used"; a blob it does not mention counts as used
when its file was last written.

``ROOT/leases/lease-<random>`` is one per running command: created and
``flock``\\ ed exclusively for the command's life, it lists (one per line) the
digests the command has read or is writing.  A digest is added *before* the
command looks for the blob, under the shared lock; gc and prune hold the
exclusive lock while they read the leases and delete, so a blob a live
command uses is never taken from under it, and a lease nobody holds (its
command died) is removed.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from attrs import frozen
from returns.result import Success

from imgpkg_pure.digest import Digest, parse_digest
from imgpkg_pure.reference import Reference
from imgpkg_pure.store.content.local_files import (
    ensure_dir,
    new_locked_file,
    os_errors,
    remove_if_stale,
    shared,
    shared_on,
    write_all,
    write_file_atomically,
)
from imgpkg_pure.store.content.local_layout import INGEST_DIR, LOCK_FILE

__all__ = [
    "ACCESS_LOG",
    "KINDS",
    "LEASES_DIR",
    "RESOLVED_AT",
    "AccessRecord",
    "Lease",
    "append_accesses",
    "live_leases",
    "read_accesses",
    "rewrite_accesses",
    "root_name_of",
    "rfc3339",
]

ACCESS_LOG: Final = "access.log"
LEASES_DIR: Final = "leases"
#: The annotation on a root (an ``index.json`` entry) saying when the store recorded it.
RESOLVED_AT: Final = "dev.imgpkg-pure.resolved-at"
KINDS: Final = ("hit", "miss", "kept", "dropped")


def rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def root_name_of(ref: Reference) -> str:
    """The root a reference is recorded under: ``registry/repo:tag`` or ``registry/repo@digest``
    (skopeo reads ``oci:STORE:registry/repo:tag``)."""
    if ref.digest is not None:
        return f"{ref.repository_name}@{ref.digest}"
    return f"{ref.repository_name}:{ref.tag}"


@frozen(kw_only=True)
class AccessRecord:
    """What ``access.log`` says: when each blob was last used, and the totals per kind
    (counts and bytes) since the store was made."""

    last_used: dict[Digest, float]
    counts: dict[str, int]
    bytes: dict[str, int]


def append_accesses(root: Path, lines: Iterable[tuple[float, str, Digest, int]]) -> None:
    """Append a run's accesses in one write, under the shared lock (see the module doc)."""
    text = "".join(f"{when:.3f} {kind} {digest} {size}\n" for when, kind, digest, size in lines)
    if not text:
        return
    path = root / ACCESS_LOG
    with shared(root / LOCK_FILE):
        with os_errors("open", path):
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            write_all(fd, text.encode(), path)
        finally:
            os.close(fd)


def read_accesses(root: Path) -> AccessRecord:
    """Parse ``access.log`` (a missing file is an empty record; a bad line is skipped)."""
    last: dict[Digest, float] = {}
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    try:
        text = (root / ACCESS_LOG).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        parts = line.split()
        if parts[:1] == ["totals"]:
            for part in parts[1:]:
                key, _, value = part.partition("=")
                if value.isdigit():
                    if key.endswith("_bytes"):
                        sizes[key.removesuffix("_bytes")] += int(value)
                    else:
                        counts[key] += int(value)
            continue
        if len(parts) != 4 or parts[1] not in (*KINDS, "used") or not parts[3].isdigit():
            continue
        try:
            when = float(parts[0])
        except ValueError:
            continue
        parsed = parse_digest(parts[2])
        if not isinstance(parsed, Success):
            continue
        digest = parsed.unwrap()
        if parts[1] != "used":  # a rewritten file's per-blob time: counted in the totals
            counts[parts[1]] += 1
            sizes[parts[1]] += int(parts[3])
        if parts[1] != "dropped":
            last[digest] = max(when, last.get(digest, 0.0))
    return AccessRecord(last_used=last, counts=dict(counts), bytes=dict(sizes))


def rewrite_accesses(root: Path, record: AccessRecord, stored: dict[Digest, int]) -> None:
    """Replace ``access.log`` by its totals and one line per stored blob (the caller holds
    the exclusive lock)."""
    totals = " ".join(
        f"{kind}={record.counts.get(kind, 0)} {kind}_bytes={record.bytes.get(kind, 0)}"
        for kind in KINDS
    )
    lines = [f"totals {totals}\n"]
    for digest in sorted(stored):
        when = record.last_used.get(digest)
        if when is not None:
            lines.append(f"{when:.3f} used {digest} {stored[digest]}\n")
    write_file_atomically(root / ACCESS_LOG, "".join(lines).encode(), root / INGEST_DIR)


class Lease:
    """This run's lease (see the module doc): a locked file listing what the run uses.

    Thread-safe.  ``ROOT/.lock`` is opened once for the run's life, so adding a digest is
    three system calls (lock shared, append the line, unlock), not five."""

    def __init__(self, root: Path) -> None:
        directory = root / LEASES_DIR
        ensure_dir(directory)
        self._root = root
        self._lock_path = root / LOCK_FILE
        self._fd, self._path = new_locked_file(directory, "lease")
        try:
            with os_errors("open lock file", self._lock_path):
                self._lock_fd = os.open(
                    self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644
                )
        except BaseException:
            self._fd = self.release_file()
            raise
        self._held: set[Digest] = set()
        self._guard = threading.Lock()  # one holder of the open lock file at a time

    def hold(self, digest: Digest) -> None:
        """Add ``digest`` to the lease (once), under the shared lock."""
        self.hold_all((digest,))

    def hold_all(self, digests: Iterable[Digest]) -> None:
        """Add the digests not yet held, in one append, under the shared lock."""
        with self._guard:
            if self._fd < 0:
                return
            new = [d for d in dict.fromkeys(digests) if d not in self._held]
            if not new:
                return
            with shared_on(self._lock_fd, self._lock_path):
                write_all(self._fd, "".join(f"{d}\n" for d in new).encode(), self._path)
            self._held.update(new)

    @property
    def held(self) -> frozenset[Digest]:
        with self._guard:
            return frozenset(self._held)

    def release_file(self) -> int:
        """Remove the lease file and close it (its lock goes with it); -1."""
        with contextlib.suppress(OSError):
            os.unlink(self._path)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        return -1

    def release(self) -> None:
        """Remove the lease file, then let go of its lock (idempotent)."""
        with self._guard:
            if self._fd < 0:
                return
            self._fd = self.release_file()
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)


def live_leases(root: Path, *, ignore: Lease | None = None) -> frozenset[Digest]:
    """The digests every live lease holds; leases of dead runs are removed (the caller
    holds the exclusive lock).  ``ignore``: a lease of this process to leave out."""
    directory = root / LEASES_DIR
    held: set[Digest] = set()
    try:
        entries = [e for e in os.scandir(directory) if e.is_file(follow_symlinks=False)]
    except OSError:
        return frozenset()
    for entry in entries:
        path = Path(entry.path)
        if ignore is not None and path == ignore._path:
            continue
        if remove_if_stale(path):
            continue
        try:
            text = path.read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        for line in text.split():
            parsed = parse_digest(line)
            if isinstance(parsed, Success):
                held.add(parsed.unwrap())
    return frozenset(held)
