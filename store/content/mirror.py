"""The local store as a mirror of registries: one command's view of it (``StoreMirror``).

A command that talks to registries opens a ``StoreMirror`` over the cache
store (``staging.cache_root``) and gives it to its registry client, which
reads through it and writes through it (``imgpkg_pure.store.registry.mirror`` says
when it asks what; this class implements that protocol without importing the
registry room).  What it does with the store:

* **reads**: a manifest or blob asked for is first held in the run's lease
  (``mirror_records``), then looked for; manifests are read whole and
  verified, blobs are handed out as files (the client re-hashes them as they
  stream, and asks :meth:`drop` when one no longer matches);
* **writes**: content fetched or uploaded goes in through an ingest (hashed
  while written, checked against its digest, made visible atomically: the
  store's own commit), and each reference the run resolved is recorded as a
  root of the layout (``registry/repo:tag`` or ``registry/repo@digest``, the
  time in the ``dev.imgpkg-pure.resolved-at`` annotation), all in one
  ``index.json`` rewrite when the run ends;
* **the end** (:meth:`close`): the roots, the access-time lines, then the
  size bound enforced by eviction (``mirror_upkeep.enforce_bound``; only when
  the run stored something), then the lease let go.

What one run does costs few system calls per object: the lease is appended
to through a lock file opened once; a digest held and found (or stored) is
not looked for again; a blob up to ``MAX_WHOLE_SIZE`` (configs, manifests,
small layers) is kept in memory as it streams past and written whole, one
nameless file linked under its digest (``LocalStore.put_whole``), with no
ingest file or lock; nothing is synced to disk but ``index.json`` (every read
re-verifies).

Failures of the store never fail a command that could go on without it: a
store that cannot be written is a store that keeps nothing this time.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from attrs import evolve, frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Success
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import Digest
from imgpkg_pure.oci import Annotations, Descriptor
from imgpkg_pure.oci.codec import document_media_type
from imgpkg_pure.reference import Reference
from imgpkg_pure.store.content.blobstore import Ingest, check_root_name, root_name
from imgpkg_pure.store.content.errors import StoreError
from imgpkg_pure.store.content.local import MAX_NODE_SIZE, MAX_WHOLE_SIZE, LocalStore
from imgpkg_pure.store.content.local_files import StoreAbort
from imgpkg_pure.store.content.mirror_records import (
    RESOLVED_AT,
    Lease,
    append_accesses,
    rfc3339,
    root_name_of,
)

__all__ = ["MirrorStats", "StoreMirror"]


def _quiet(_text: str) -> None:
    """Where a mirror without a UI sends its lines."""


@frozen(kw_only=True)
class MirrorStats:
    """One run's traffic with the store: served from it (hits), fetched and kept (misses),
    written through (kept), dropped as corrupt; counts and bytes."""

    hits: int
    hit_bytes: int
    misses: int
    miss_bytes: int
    kept: int
    dropped: int


class StoreMirror:
    """The mirror of one run (see the module doc); thread-safe.

    ``max_size``: the bound enforced when the run ends (None: unbounded);
    ``note``: where lines for the user go (a tag served offline says so);
    ``clock``: seconds since the epoch (injectable for tests).
    """

    def __init__(
        self,
        store: LocalStore,
        *,
        offline: bool = False,
        max_size: int | None = None,
        note: Callable[[str], None] = _quiet,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._offline = offline
        self._max_size = max_size
        self._note = note
        self._clock = clock
        self._guard = threading.RLock()
        self._lease: Lease | None = None
        self._roots: dict[str, Descriptor] = {}
        self._pending: dict[str, Descriptor] = {}
        self._media: dict[Digest, str] = {}
        self._active: set[Digest] = set()
        # Digests this run holds in its lease and found stored (or stored itself): no gc or
        # prune takes them while the lease lives, so they are not looked for again.
        self._known: set[Digest] = set()
        self._accesses: list[tuple[float, str, Digest, int]] = []
        self._counts = {"hit": 0, "hit_bytes": 0, "miss": 0, "miss_bytes": 0, "kept": 0}
        self._dropped = 0
        self._closed = False

    @classmethod
    def open(
        cls,
        root: Path,
        *,
        offline: bool = False,
        max_size: int | None = None,
        note: Callable[[str], None] = _quiet,
    ) -> IOResult[StoreMirror, StoreError]:
        """The mirror over the store at ``root`` (created when missing), with its lease."""
        opened = LocalStore.at(root, durable=False)  # every read re-verifies: see ``local``
        if isinstance(opened, IOFailure):
            return IOFailure(unsafe_perform_io(opened.failure()))
        mirror = cls(
            unsafe_perform_io(opened.unwrap()), offline=offline, max_size=max_size, note=note
        )
        started = mirror._start()
        if isinstance(started, IOFailure):
            return IOFailure(unsafe_perform_io(started.failure()))
        return IOSuccess(mirror)

    def _start(self) -> IOResult[None, StoreError]:
        try:
            self._lease = Lease(self.store.root)
        except StoreAbort as abort:
            return IOFailure(abort.error)
        roots = self.store.roots()
        if isinstance(roots, IOSuccess):
            for entry in unsafe_perform_io(roots.unwrap()):
                name = root_name(entry)
                if name is not None:
                    self._roots[name] = entry
                self._media.setdefault(entry.digest, entry.media_type)
        return IOSuccess(None)

    # --- the protocol the registry client asks (imgpkg_pure.store.registry.mirror.Mirror) ---

    @property
    def offline(self) -> bool:
        return self._offline

    @property
    def location(self) -> str:
        return str(self.store.root)

    def _hold(self, digest: Digest) -> None:
        """Put ``digest`` in the lease before looking for it (see ``mirror_records``)."""
        lease = self._lease
        if lease is None:
            return
        with contextlib.suppress(StoreAbort):
            lease.hold(digest)

    def _access(self, kind: str, digest: Digest, size: int) -> None:
        with self._guard:
            self._accesses.append((self._clock(), kind, digest, size))
            if kind in ("hit", "miss"):
                self._counts[kind] += 1
                self._counts[f"{kind}_bytes"] += size
            elif kind == "kept":
                self._counts["kept"] += 1

    def _present(self, digest: Digest) -> bool:
        """Whether the store holds ``digest`` (which the caller holds in the lease)."""
        with self._guard:
            if digest in self._known:
                return True
        found = bool(unsafe_perform_io(self.store.exists(digest).value_or(False)))
        if found:
            self._stored(digest)
        return found

    def _stored(self, digest: Digest) -> None:
        """``digest``, held in the lease, is in the store (found there, or just put)."""
        with self._guard:
            self._known.add(digest)

    def holds(self, digest: Digest) -> bool:
        with self._guard:
            if digest in self._known:
                return True
        return bool(unsafe_perform_io(self.store.exists(digest).value_or(False)))

    def keeps(self, digests: Iterable[Digest]) -> bool:
        """Whether the store has every one of ``digests``, each put in the lease first (in
        one append): what this says is there stays there until the run ends."""
        wanted = tuple(dict.fromkeys(digests))
        lease = self._lease
        if lease is not None:
            with contextlib.suppress(StoreAbort):
                lease.hold_all(wanted)
        return all(self._present(digest) for digest in wanted)

    def manifest(self, digest: Digest) -> tuple[bytes, str] | None:
        self._hold(digest)
        size = self.store.stat(digest)
        if isinstance(size, IOFailure) or unsafe_perform_io(size.unwrap()) > MAX_NODE_SIZE:
            return None
        read = self.store.read_bytes(digest)
        if isinstance(read, IOFailure):
            self.drop(digest)  # unreadable or corrupt: fetched again when online
            return None
        raw = unsafe_perform_io(read.unwrap())
        self._stored(digest)
        self._access("hit", digest, len(raw))
        return raw, self._media_type(digest, raw)

    def _media_type(self, digest: Digest, raw: bytes) -> str:
        with self._guard:
            known = self._media.get(digest)
        if known:
            return known
        return document_media_type(raw)

    def _entry(self, name: str) -> Descriptor | None:
        with self._guard:
            return self._pending.get(name) or self._roots.get(name)

    def resolution(self, ref: Reference) -> tuple[Descriptor, str] | None:
        if ref.digest is not None:
            return None
        entry = self._entry(root_name_of(ref))
        if entry is None:
            return None
        return entry, entry.annotations.get(RESOLVED_AT) or "an unrecorded time"

    def recorded(self, ref: Reference) -> Descriptor | None:
        return self._entry(root_name_of(ref))

    def keep_manifest(
        self, ref: Reference, raw: bytes, descriptor: Descriptor, *, written: bool = False
    ) -> None:
        digest = descriptor.digest
        self._hold(digest)
        if not self._present(digest):
            put = self.store.put_whole((raw,), digest)
            if isinstance(put, IOFailure):
                return
            self._stored(digest)
            self._access("kept" if written else "miss", digest, len(raw))
        self.record(root_name_of(ref), descriptor)

    def record(self, name: str, descriptor: Descriptor) -> None:
        """Record the root ``name`` (``registry/repo:tag``, ``registry/repo@digest``, or a
        name an imported archive gave) as resolving to the stored ``descriptor``, now."""
        if not isinstance(check_root_name(name), Success):
            return  # a name image-layout cannot carry: the content is kept, unnamed
        stamp = Annotations.of({RESOLVED_AT: rfc3339(self._clock())})
        entry = evolve(descriptor, annotations=stamp)
        with self._guard:
            self._pending[name] = entry
            self._media[descriptor.digest] = descriptor.media_type

    def keep_blob(self, descriptor: Descriptor, handle: BinaryIO) -> IOResult[bool, StoreError]:
        """Store a blob read from ``handle`` (checked against ``descriptor`` before it becomes
        visible; closed afterwards); whether it was new (``store import``)."""
        digest = descriptor.digest
        self._hold(digest)
        with handle:
            if self._present(digest):
                return IOSuccess(False)
            chunks = iter(lambda: handle.read(1 << 20), b"")
            put = self.store.put_stream(chunks, descriptor.size, digest)
        if isinstance(put, IOFailure):
            return IOFailure(unsafe_perform_io(put.failure()))
        self._stored(digest)
        self._access("kept", digest, descriptor.size)
        return IOSuccess(True)

    def open_blob(self, descriptor: Descriptor) -> BinaryIO | None:
        self._hold(descriptor.digest)
        opened = self.store.open(descriptor.digest)
        if isinstance(opened, IOFailure):
            return None
        self._stored(descriptor.digest)
        self._access("hit", descriptor.digest, descriptor.size)
        return unsafe_perform_io(opened.unwrap())

    def drop(self, digest: Digest) -> None:
        with self._guard:
            self._known.discard(digest)
        removed = self.store.delete(digest)
        if isinstance(removed, IOSuccess):
            with self._guard:
                self._dropped += 1
                self._accesses.append((self._clock(), "dropped", digest, 0))

    def tee(self, descriptor: Descriptor) -> _TeeSink | None:
        digest = descriptor.digest
        with self._guard:
            if digest in self._active:
                return None
            self._active.add(digest)
        self._hold(digest)
        if self._present(digest):
            self._finished(digest)
            return None
        if descriptor.size <= MAX_WHOLE_SIZE:
            # kept in memory as it passes (the stream holds a blob this small whole anyway),
            # then written in one go: no ingest file, no lock, no rename
            return _TeeSink(self, None, descriptor)
        # The stream the sink sits behind hashes every chunk and commits it only on a good
        # verdict, so the ingest is spared a second hash of the same bytes.
        opened = self.store.ingest_vouched(digest)
        if isinstance(opened, IOFailure):
            self._finished(digest)
            return None
        return _TeeSink(self, unsafe_perform_io(opened.unwrap()), descriptor)

    def _finished(self, digest: Digest) -> None:
        with self._guard:
            self._active.discard(digest)

    def note(self, text: str) -> None:
        self._note(text)

    # --- the end of the run ---------------------------------------------------------------

    def stats(self) -> MirrorStats:
        with self._guard:
            c = self._counts
            return MirrorStats(
                hits=c["hit"],
                hit_bytes=c["hit_bytes"],
                misses=c["miss"],
                miss_bytes=c["miss_bytes"],
                kept=c["kept"],
                dropped=self._dropped,
            )

    def close(self) -> None:
        """Record the roots and the accesses, keep the store within its bound, let go of the
        lease.  Best effort: a store that cannot be written keeps what it has."""
        with self._guard:
            if self._closed:
                return
            self._closed = True
            pending = tuple(self._pending.items())
            accesses = tuple(self._accesses)
            grew = self._counts["miss"] + self._counts["kept"] > 0
        try:
            if pending:
                self.store.set_roots(pending)
            with contextlib.suppress(StoreAbort):
                append_accesses(self.store.root, accesses)
            # A run that stored nothing did not grow the store: it is spared the measure (a
            # walk of every blob), and a lowered bound waits for the next run that stores.
            if self._max_size is not None and grew:
                from imgpkg_pure.store.content.mirror_upkeep import enforce_bound  # noqa: PLC0415

                enforce_bound(self.store, self._max_size, ignore=self._lease)
        finally:
            if self._lease is not None:
                self._lease.release()


class _TeeSink:
    """The write-through of one blob streaming past (``registry.verify.BlobSink``): into an
    ingest, or (``ingest`` None: a small blob) into memory, stored whole at the commit."""

    def __init__(self, mirror: StoreMirror, ingest: Ingest | None, descriptor: Descriptor) -> None:
        self._mirror = mirror
        self._ingest = ingest
        self._pieces: list[bytes] = []
        self._taken = 0
        self._descriptor = descriptor
        self._broken = False
        self._done = False

    def write(self, chunk: bytes) -> None:
        if self._broken or self._done:
            return
        if self._ingest is None:
            self._taken += len(chunk)
            if self._taken > self._descriptor.size:
                self._broken, self._pieces = True, []  # more than it should be: keep nothing
            else:
                self._pieces.append(chunk)
            return
        if isinstance(self._ingest.write(chunk), IOFailure):
            self._broken = True  # a failed write aborted the ingest: keep nothing

    def commit(self) -> None:
        if self._done:
            return
        self._done = True
        digest = self._descriptor.digest
        try:
            if self._broken:
                return
            size = self._descriptor.size
            if self._ingest is not None:
                committed: IOResult[object, StoreError] = self._ingest.commit(size, digest)
            elif self._taken == size:
                committed = self._mirror.store.put_whole(self._pieces, digest, vouched=True)
            else:
                return  # short: a stream that ended early keeps nothing
            if isinstance(committed, IOSuccess):
                self._mirror._stored(digest)
                self._mirror._access("miss", digest, size)
        finally:
            self._pieces = []
            self._mirror._finished(digest)

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._pieces = []
        try:
            if self._ingest is not None:
                self._ingest.abort()
        finally:
            self._mirror._finished(self._descriptor.digest)
