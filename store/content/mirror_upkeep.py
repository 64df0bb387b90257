"""Keeping the mirror healthy and bounded: list, measure, verify, gc, prune.

These are the effects of the ``store`` commands and of the size bound every
command enforces when it ends.  The decisions (what to evict, in what order)
are the pure core's (``imgpkg_pure.cache_policy``); this module observes the
store, asks, and deletes.

Locks (``mirror_records`` explains the lease protocol): :func:`gc` and
:func:`prune` (and so :func:`enforce_bound`) hold the exclusive ``flock`` on
``ROOT/.lock`` from their first look at the roots to their last deletion, so
no root can change under them and no running command can start holding a blob
they are about to delete; they spare every blob a live lease lists.
:func:`verify` takes no lock: it only deletes blobs that no longer match their
name, which no reader may be served anyway.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from attrs import evolve, frozen

from imgpkg_pure.cache_policy import BlobUse, Eviction, evict_older_than, evict_to_size
from imgpkg_pure.digest import Digest
from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.store.content.blobstore import reachable, root_name
from imgpkg_pure.store.content.errors import BlobCorrupt
from imgpkg_pure.store.content.local import LocalStore
from imgpkg_pure.store.content.local_files import (
    StoreAbort,
    effect,
    exclusive,
    hash_fd,
    unlink_quietly,
)
from imgpkg_pure.store.content.mirror_records import (
    RESOLVED_AT,
    AccessRecord,
    Lease,
    append_accesses,
    live_leases,
    read_accesses,
    rewrite_accesses,
)

__all__ = [
    "RootListing",
    "StoreUsage",
    "UpkeepReport",
    "VerifyOutcome",
    "enforce_bound",
    "gc",
    "list_roots",
    "prune",
    "usage",
    "verify",
]


@frozen(kw_only=True)
class RootListing:
    """One recorded reference: its name, what it resolves to, when the store recorded it,
    and the bytes the store holds of what it reaches (``complete``: all of it)."""

    name: str
    digest: Digest
    media_type: str
    recorded_at: str | None
    stored_bytes: int
    stored_blobs: int
    complete: bool


@frozen(kw_only=True)
class StoreUsage:
    """The store's size: every blob, and how much of it the roots reach; with the totals of
    its traffic since it was made (from ``access.log``)."""

    path: str
    blobs: int
    bytes: int
    roots: int
    rooted_bytes: int
    counts: dict[str, int]
    traffic_bytes: dict[str, int]


@frozen(kw_only=True)
class UpkeepReport:
    """What a gc or a prune deleted, and what the store holds afterwards."""

    deleted: tuple[Digest, ...]
    bytes_freed: int
    blobs_after: int
    bytes_after: int
    roots_removed: tuple[str, ...]
    held: int
    stale_ingests: int


@frozen(kw_only=True)
class VerifyOutcome:
    """What a verify found: ``corrupt`` blobs were removed; ``missing`` are digests the
    roots reach that the store does not hold (a mirror holds what was used, so this is no
    fault); ``malformed`` reachable manifests that do not parse."""

    checked: int
    bytes: int
    corrupt: tuple[BlobCorrupt, ...]
    strays: tuple[str, ...]
    missing: tuple[Digest, ...]
    malformed: tuple[MalformedDocument, ...]

    @property
    def ok(self) -> bool:
        return not (self.corrupt or self.strays or self.malformed)


def _stored(store: LocalStore) -> dict[Digest, tuple[int, float]]:
    """Every stored blob's size and modification time."""
    found: dict[Digest, tuple[int, float]] = {}
    digests, _ = store._scan()
    for digest in digests:
        try:
            info = os.stat(store.blob_path(digest))
        except OSError:
            continue  # removed meanwhile
        found[digest] = (info.st_size, info.st_mtime)
    return found


def _walk(store: LocalStore, roots: Iterable[Descriptor]) -> frozenset[Digest]:
    return reachable(roots, lambda d: store._fetch_node(d, verified=False)).digests


def _collect(
    store: LocalStore, choose: Callable[[list[BlobUse]], Eviction], ignore: Lease | None
) -> UpkeepReport:
    """Delete what ``choose`` picks, holding the exclusive lock (see the module doc); then
    drop the roots whose manifest went, and rewrite the access record."""
    root = store.root
    with exclusive(store._lock):
        index = store._read_index()
        rooted = _walk(store, index.manifests)
        stored = _stored(store)
        held = live_leases(root, ignore=ignore)
        record = read_accesses(root)
        uses = [
            BlobUse(
                digest=digest,
                size=size,
                last_used=max(record.last_used.get(digest, 0.0), mtime),
                rooted=digest in rooted,
                held=digest in held,
            )
            for digest, (size, mtime) in stored.items()
        ]
        eviction = choose(uses)
        freed = 0
        for digest in eviction.evict:
            unlink_quietly(store.blob_path(digest))
            freed += stored.pop(digest)[0]
        kept_roots = tuple(e for e in index.manifests if e.digest in stored)
        removed = tuple(
            name for e in index.manifests if e.digest not in stored and (name := root_name(e))
        )
        if kept_roots != index.manifests:
            store._write_index(index, kept_roots)
        counts = dict(record.counts)
        counts["dropped"] = counts.get("dropped", 0) + len(eviction.evict)
        rewrite_accesses(
            root, evolve(record, counts=counts), {d: size for d, (size, _) in stored.items()}
        )
        stale = store._sweep_ingests()
    return UpkeepReport(
        deleted=eviction.evict,
        bytes_freed=freed,
        blobs_after=len(stored),
        bytes_after=sum(size for size, _ in stored.values()),
        roots_removed=removed,
        held=sum(1 for use in uses if use.held and use.digest in stored),
        stale_ingests=stale,
    )


@effect
def gc(store: LocalStore) -> UpkeepReport:
    """Delete every blob no root reaches and no running command holds."""

    def unreachable(uses: list[BlobUse]) -> Eviction:
        gone = [u for u in uses if not u.rooted and not u.held]
        return Eviction(
            evict=tuple(u.digest for u in gone),
            size_after=sum(u.size for u in uses) - sum(u.size for u in gone),
        )

    return _collect(store, unreachable, None)


@effect
def prune(
    store: LocalStore,
    *,
    max_size: int | None = None,
    older_than: float | None = None,
    now: float,
    ignore: Lease | None = None,
) -> UpkeepReport:
    """Evict least recently used blobs (rooted ones last, held ones never): those last used
    more than ``older_than`` seconds before ``now``, then until at most ``max_size`` bytes
    are left."""

    def choose(uses: list[BlobUse]) -> Eviction:
        picked: list[Digest] = []
        left = uses
        if older_than is not None:
            aged = evict_older_than(left, now - older_than)
            picked.extend(aged.evict)
            gone = set(aged.evict)
            left = [u for u in left if u.digest not in gone]
        if max_size is not None:
            picked.extend(evict_to_size(left, max_size).evict)
        chosen = set(picked)
        return Eviction(
            evict=tuple(picked), size_after=sum(u.size for u in uses if u.digest not in chosen)
        )

    return _collect(store, choose, ignore)


def enforce_bound(store: LocalStore, max_size: int, *, ignore: Lease | None = None) -> None:
    """Keep the store within ``max_size`` (the end of every command): a quick measure
    without the lock, a prune only when over (best effort: failures keep what is there)."""
    try:
        total = sum(size for size, _ in _stored(store).values())
    except StoreAbort:
        return
    if total <= max_size:
        return
    prune(store, max_size=max_size, now=time.time(), ignore=ignore)


def _hash_one(store: LocalStore, digest: Digest) -> tuple[Digest, Digest | None, int]:
    """(digest, what its file hashes to, size); None when the file went meanwhile."""
    path = store.blob_path(digest)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return digest, None, 0
    try:
        actual, size = hash_fd(fd, digest.algorithm, path)
    finally:
        os.close(fd)
    return digest, actual, size


@effect
def verify(store: LocalStore, *, workers: int | None = None) -> VerifyOutcome:
    """Re-hash every blob, ``workers`` at a time (hashing releases the GIL); remove the
    corrupt ones (a reader would be refused them anyway) and record their removal."""
    digests, strays = store._scan()
    count = workers or max(2, os.cpu_count() or 2)
    corrupt: list[BlobCorrupt] = []
    total = 0
    checked = 0
    with ThreadPoolExecutor(max_workers=count) as pool:
        for digest, actual, size in pool.map(lambda d: _hash_one(store, d), digests):
            if actual is None:
                continue
            checked += 1
            total += size
            if actual != digest:
                corrupt.append(BlobCorrupt(digest=digest, actual=actual))
    for bad in corrupt:
        unlink_quietly(store.blob_path(bad.digest))
    now = time.time()
    append_accesses(store.root, ((now, "dropped", bad.digest, 0) for bad in corrupt))
    walk = reachable(store._read_index().manifests, lambda d: store._fetch_node(d, verified=False))
    held = set(digests) - {bad.digest for bad in corrupt}
    return VerifyOutcome(
        checked=checked,
        bytes=total,
        corrupt=tuple(corrupt),
        strays=strays,
        missing=tuple(sorted(walk.digests.difference(held))),
        malformed=walk.malformed,
    )


@effect
def usage(store: LocalStore) -> StoreUsage:
    """The store's size, what its roots reach, and its traffic so far."""
    stored = _stored(store)
    roots = store._read_index().manifests
    rooted = _walk(store, roots)
    record: AccessRecord = read_accesses(store.root)
    return StoreUsage(
        path=str(store.root),
        blobs=len(stored),
        bytes=sum(size for size, _ in stored.values()),
        roots=len(roots),
        rooted_bytes=sum(size for d, (size, _) in stored.items() if d in rooted),
        counts=record.counts,
        traffic_bytes=record.bytes,
    )


@effect
def list_roots(store: LocalStore) -> tuple[RootListing, ...]:
    """Every recorded reference, sorted by name, with what the store holds of it."""
    stored = _stored(store)
    listed: list[RootListing] = []
    for entry in store._read_index().manifests:
        reached = _walk(store, (entry,))
        held = [d for d in reached if d in stored]
        listed.append(
            RootListing(
                name=root_name(entry) or "",
                digest=entry.digest,
                media_type=entry.media_type,
                recorded_at=entry.annotations.get(RESOLVED_AT),
                stored_bytes=sum(stored[d][0] for d in held),
                stored_blobs=len(held),
                complete=len(held) == len(reached),
            )
        )
    return tuple(sorted(listed, key=lambda r: r.name))
