"""``store``: the local store itself (``docs/cache.md``): ls, du, verify, gc, prune, import,
and what ``store export`` asks of ``copy``.

Every subcommand works on the store ``--cache DIR`` names (else the environment's,
``mirroring.cache_location``) and prints a table with ``--json``.  The upkeep is
``imgpkg_pure.store.content.mirror_upkeep``'s; the eviction rules the pure core's
(``imgpkg_pure.cache_policy``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.cache_policy import format_size, parse_age, parse_size
from imgpkg_pure.errors import Fact
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.oci.codec import parse_config, parse_manifest_or_index
from imgpkg_pure.oci.values import ImageIndex
from imgpkg_pure.push import UsageError
from imgpkg_pure.reference import parse_reference
from imgpkg_pure.store.commands.mirroring import cache_location, open_client
from imgpkg_pure.store.commands.options import (
    CacheFlags,
    CopyOptions,
    StoreExportOptions,
    StoreGcOptions,
    StoreImportOptions,
    StoreListOptions,
    StorePruneOptions,
    StoreUsageOptions,
    StoreVerifyOptions,
)
from imgpkg_pure.store.content import mirror_upkeep
from imgpkg_pure.store.content.errors import StoreError
from imgpkg_pure.store.content.local import LocalStore
from imgpkg_pure.store.content.mirror import StoreMirror
from imgpkg_pure.store.content.mirror_upkeep import UpkeepReport
from imgpkg_pure.store.registry import RegistryOptions
from imgpkg_pure.store.ui.console import Ui
from imgpkg_pure.tags import Column, Table

__all__ = [
    "export_as_copy",
    "run_store_du",
    "run_store_gc",
    "run_store_import",
    "run_store_ls",
    "run_store_prune",
    "run_store_verify",
]


@frozen(kw_only=True)
class StoreCorrupt(Fact):
    """``store verify`` found (and removed) blobs that no longer match their digest."""

    count: int
    store: str

    template = "{count} corrupt blob(s) found in the local store {store}, and removed"


@frozen(kw_only=True)
class ImportRefused(Fact):
    """A file ``store import`` cannot read as an imgpkg tarball or an OCI archive."""

    path: str
    reason: str

    template = "cannot import {path}: {reason}"


def _table(title: str, headers: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> Table:
    return Table(
        title=title,
        content=title,
        columns=tuple(Column(title=h) for h in headers),
        rows=tuple(rows),
    )


def _open(cache_dir: str | None) -> IOResult[LocalStore, StoreError]:
    return LocalStore.at(cache_location(cache_dir))


def _show(ui: Ui, table: Table, lines: list[str], failure: Fact | None = None) -> int:
    """The table in JSON mode (and with a TTY), the summary lines otherwise too; then the
    command fails with ``failure``, or succeeds."""
    if ui.json_mode or ui.tty:
        ui.table(table)
    if not ui.json_mode and lines:
        ui.block("".join(f"{line}\n" for line in lines))
    if failure is not None:
        return ui.fail(failure)
    ui.succeeded()
    return 0


def run_store_ls(options: StoreListOptions, ui: Ui) -> int:
    """``store ls``: every recorded reference, its digest and what the store holds of it."""
    listed = _open(options.cache_dir).bind(mirror_upkeep.list_roots)
    if isinstance(listed, IOFailure):
        return ui.fail(unsafe_perform_io(listed.failure()))
    rows = [
        (
            r.name,
            str(r.digest),
            str(r.stored_bytes),
            format_size(r.stored_bytes),
            "complete" if r.complete else "partial",
            r.recorded_at or "",
        )
        for r in unsafe_perform_io(listed.unwrap())
    ]
    table = _table(
        "References",
        ("Reference", "Digest", "Bytes", "Size", "Content", "Recorded"),
        rows,
    )
    ui.table(table)
    ui.succeeded()
    return 0


def run_store_du(options: StoreUsageOptions, ui: Ui) -> int:
    """``store du``: the store's size and its traffic (hits, misses) so far."""
    measured = _open(options.cache_dir).bind(mirror_upkeep.usage)
    if isinstance(measured, IOFailure):
        return ui.fail(unsafe_perform_io(measured.failure()))
    u = unsafe_perform_io(measured.unwrap())
    c, b = u.counts, u.traffic_bytes
    row = (
        u.path,
        str(u.blobs),
        str(u.bytes),
        format_size(u.bytes),
        str(u.roots),
        str(u.rooted_bytes),
        str(c.get("hit", 0)),
        str(b.get("hit", 0)),
        str(c.get("miss", 0)),
        str(b.get("miss", 0)),
        str(c.get("kept", 0)),
        str(c.get("dropped", 0)),
    )
    headers = (
        "Path", "Blobs", "Bytes", "Size", "References", "Referenced bytes",
        "Hits", "Hit bytes", "Misses", "Miss bytes", "Written through", "Dropped",
    )  # fmt: skip
    lines = [
        f"{u.path}: {format_size(u.bytes)} in {u.blobs} blobs, {u.roots} references "
        f"({format_size(u.rooted_bytes)} referenced)",
        f"served from the store: {c.get('hit', 0)} ({format_size(b.get('hit', 0))}); "
        f"fetched and kept: {c.get('miss', 0)} ({format_size(b.get('miss', 0))}); "
        f"written through: {c.get('kept', 0)}; dropped: {c.get('dropped', 0)}",
    ]
    return _show(ui, _table("Usage", headers, [row]), lines)


def run_store_verify(options: StoreVerifyOptions, ui: Ui) -> int:
    """``store verify``: re-hash every blob in parallel; exit 1 when any was corrupt."""
    opened = _open(options.cache_dir)
    if isinstance(opened, IOFailure):
        return ui.fail(unsafe_perform_io(opened.failure()))
    store = unsafe_perform_io(opened.unwrap())
    workers = options.concurrency if options.concurrency > 0 else None
    checked = mirror_upkeep.verify(store, workers=workers)
    if isinstance(checked, IOFailure):
        return ui.fail(unsafe_perform_io(checked.failure()))
    outcome = unsafe_perform_io(checked.unwrap())
    rows = [(str(bad.digest), str(bad.actual), "removed") for bad in outcome.corrupt]
    table = _table("Corrupt blobs", ("Digest", "Hashes to", "Action"), rows)
    lines = [f"corrupt: {bad.digest} (hashes to {bad.actual}), removed" for bad in outcome.corrupt]
    lines += [f"stray: {stray}" for stray in outcome.strays]
    lines.append(
        f"verified {outcome.checked} blobs ({format_size(outcome.bytes)}): "
        f"{len(outcome.corrupt)} corrupt; {len(outcome.missing)} referenced blobs not held "
        "(a mirror holds what was used)"
    )
    corrupt = StoreCorrupt(count=len(outcome.corrupt), store=str(store.root))
    return _show(ui, table, lines, corrupt if outcome.corrupt else None)


def _upkeep_lines(verb: str, report: UpkeepReport) -> tuple[Table, list[str]]:
    row = (
        str(len(report.deleted)),
        str(report.bytes_freed),
        str(len(report.roots_removed)),
        str(report.blobs_after),
        str(report.bytes_after),
        str(report.held),
    )
    headers = ("Removed", "Bytes freed", "References removed", "Blobs", "Bytes", "Held")
    lines = [
        f"{verb} {len(report.deleted)} blobs ({format_size(report.bytes_freed)}) and "
        f"{len(report.roots_removed)} references; the store holds {report.blobs_after} blobs "
        f"({format_size(report.bytes_after)})"
        + (f"; {report.held} held by running commands" if report.held else "")
    ]
    return _table(verb, headers, [row]), lines


def run_store_gc(options: StoreGcOptions, ui: Ui) -> int:
    """``store gc``: remove what no recorded reference reaches (and no running command holds)."""
    done = _open(options.cache_dir).bind(mirror_upkeep.gc)
    if isinstance(done, IOFailure):
        return ui.fail(unsafe_perform_io(done.failure()))
    return _show(ui, *_upkeep_lines("Removed", unsafe_perform_io(done.unwrap())))


def run_store_prune(options: StorePruneOptions, ui: Ui) -> int:
    """``store prune``: least recently used first, recorded references last."""
    if options.max_size is None and options.older_than is None:
        return ui.fail(UsageError(reason="Expected --max-size SIZE or --older-than DURATION"))
    size = None if options.max_size is None else parse_size(options.max_size, "--max-size")
    age = None if options.older_than is None else parse_age(options.older_than, "--older-than")
    for parsed in (size, age):
        if isinstance(parsed, Failure):
            return ui.fail(parsed.failure())
    done = _open(options.cache_dir).bind(
        lambda store: mirror_upkeep.prune(
            store,
            max_size=None if size is None else size.unwrap(),
            older_than=None if age is None else age.unwrap(),
            now=time.time(),
        )
    )
    if isinstance(done, IOFailure):
        return ui.fail(unsafe_perform_io(done.failure()))
    return _show(ui, *_upkeep_lines("Evicted", unsafe_perform_io(done.unwrap())))


# --- export and import ------------------------------------------------------------------------


def export_as_copy(options: StoreExportOptions, ui: Ui) -> CopyOptions | int:
    """What ``store export REF`` is: ``copy --offline`` of REF as a bundle (``-b``) or an
    image (``-i``), whichever the store holds; or the exit code of why it cannot be."""
    if (options.to_tar is None) == (options.to_repo is None):
        return ui.fail(UsageError(reason="Expected exactly one of --to-tar and --to-repo"))
    if options.to_repo is not None and not options.to_repo.startswith(("oci:", "oci-archive:")):
        return ui.fail(
            UsageError(reason="--to-repo of store export is an OCI layout: oci:DIR[:TAG]")
        )
    parsed = parse_reference(options.reference)
    if isinstance(parsed, Failure):
        return ui.fail(parsed.failure())
    reference = parsed.unwrap()
    flags = CacheFlags(cache_dir=options.cache_dir)
    opened = open_client(RegistryOptions(), flags, ui, offline=True)
    if isinstance(opened, IOFailure):
        return ui.fail(unsafe_perform_io(opened.failure()))
    with unsafe_perform_io(opened.unwrap()) as client:
        fetched = client.get_manifest(reference)
        if isinstance(fetched, IOFailure):
            return ui.fail(unsafe_perform_io(fetched.failure()))
        response = unsafe_perform_io(fetched.unwrap())
        document = parse_manifest_or_index(
            response.raw, f"manifest {reference}", response.media_type
        )
        if isinstance(document, Failure):
            return ui.fail(document.failure())
        is_bundle = False
        found = document.unwrap()
        if not isinstance(found, ImageIndex):
            raw = bytearray()
            got = client.fetch_blob_to(reference.context(), found.config, raw.extend)
            if isinstance(got, IOFailure):
                return ui.fail(unsafe_perform_io(got.failure()))
            config = parse_config(bytes(raw), f"config of {reference}")
            if isinstance(config, Failure):
                return ui.fail(config.failure())
            is_bundle = config.unwrap().is_bundle
    text = options.reference
    return CopyOptions(
        bundle=text if is_bundle else None,
        image=None if is_bundle else text,
        to_tar=options.to_tar,
        to_repo=options.to_repo,
        offline=True,
        cache=flags,
    )


def _import_tarball(mirror: StoreMirror, path: Path) -> IOResult[tuple[int, int], object]:
    """An imgpkg tarball's images, indexes and the layers it holds; (new blobs, references)."""
    from imgpkg_pure.store.transports.imgpkg_tar import ImgpkgTarball  # noqa: PLC0415

    indexed = ImgpkgTarball.at(path)
    if isinstance(indexed, IOFailure):
        return IOFailure(unsafe_perform_io(indexed.failure()))
    tarball = unsafe_perform_io(indexed.unwrap())
    new = 0
    names = 0
    for image in tarball.manifest.images():
        for layer in image.layers:
            if tarball.layer_entry(layer.digest) is None:
                continue  # left out of the tarball (non-distributable, or a delta's)
            handle = tarball.open_stored(layer.digest)
            if isinstance(handle, IOFailure):
                return IOFailure(unsafe_perform_io(handle.failure()))
            descriptor = Descriptor(
                media_type=layer.media_type, digest=layer.digest, size=layer.size
            )
            kept = mirror.keep_blob(descriptor, unsafe_perform_io(handle.unwrap()))
            if isinstance(kept, IOFailure):
                return IOFailure(unsafe_perform_io(kept.failure()))
            new += int(unsafe_perform_io(kept.unwrap()))
        config = mirror.store.put_bytes(image.config_raw, image.config_digest)
        if isinstance(config, IOFailure):
            return IOFailure(unsafe_perform_io(config.failure()))
        names += _keep_element(mirror, image.refs, image.tag, image.manifest_raw, image.descriptor)
    for index in tarball.manifest.indexes():
        names += _keep_element(mirror, index.refs, index.tag, index.raw, index.descriptor)
    return IOSuccess((new, names))


def _keep_element(
    mirror: StoreMirror, refs: tuple[str, ...], tag: str, raw: bytes, descriptor: Descriptor
) -> int:
    """A manifest and the references the tarball gives it (its tag too); how many."""
    count = 0
    for text in refs:
        parsed = parse_reference(text)
        if isinstance(parsed, Failure):
            continue
        ref = parsed.unwrap()
        mirror.keep_manifest(ref, raw, descriptor, written=True)
        count += 1
        if tag and count == 1:
            tagged = ref.context().tag(tag)
            if not isinstance(tagged, Failure):
                mirror.keep_manifest(tagged.unwrap(), raw, descriptor, written=True)
                count += 1
    return count


def _import_archive(mirror: StoreMirror, path: Path) -> IOResult[tuple[int, int], object]:
    """Every blob of an OCI archive, and its roots under the names it gives them."""
    from imgpkg_pure.store.transports.oci_archive import OciArchive  # noqa: PLC0415

    indexed = OciArchive.at(path)
    if isinstance(indexed, IOFailure):
        return IOFailure(unsafe_perform_io(indexed.failure()))
    archive = unsafe_perform_io(indexed.unwrap())
    new = 0
    for digest in unsafe_perform_io(archive.iter_blobs().value_or(())):
        size = unsafe_perform_io(archive.stat(digest).value_or(0))
        handle = archive.open(digest)
        if isinstance(handle, IOFailure):
            return IOFailure(unsafe_perform_io(handle.failure()))
        descriptor = Descriptor(media_type="", digest=digest, size=size)
        kept = mirror.keep_blob(descriptor, unsafe_perform_io(handle.unwrap()))
        if isinstance(kept, IOFailure):
            return IOFailure(unsafe_perform_io(kept.failure()))
        new += int(unsafe_perform_io(kept.unwrap()))
    names = 0
    for entry in unsafe_perform_io(archive.roots().value_or(())):
        name = entry.annotations.get("org.opencontainers.image.ref.name")
        if name:
            mirror.record(
                name, Descriptor(media_type=entry.media_type, digest=entry.digest, size=entry.size)
            )
            names += 1
    return IOSuccess((new, names))


def run_store_import(options: StoreImportOptions, ui: Ui) -> int:
    """``store import FILE``: an imgpkg tarball, or (``oci-archive:FILE``, or a tar holding
    ``oci-layout``) an OCI archive, into the store, with the references it records."""
    if not options.source:
        return ui.fail(
            UsageError(reason="Expected a file to import (an imgpkg tarball or oci-archive:FILE)")
        )
    archive = options.source.startswith("oci-archive:")
    path = Path(options.source.removeprefix("oci-archive:"))
    if not path.is_file():
        return ui.fail(ImportRefused(path=str(path), reason="no such file"))
    opened = StoreMirror.open(cache_location(options.cache_dir))
    if isinstance(opened, IOFailure):
        return ui.fail(unsafe_perform_io(opened.failure()))
    mirror = unsafe_perform_io(opened.unwrap())
    try:
        done = _import_archive(mirror, path) if archive else _import_tarball(mirror, path)
        if isinstance(done, IOFailure) and not archive:
            tried = _import_archive(mirror, path)
            if not isinstance(tried, IOFailure):
                done = tried
    finally:
        mirror.close()
    if isinstance(done, IOFailure):
        return ui.fail(unsafe_perform_io(done.failure()))
    new, names = unsafe_perform_io(done.unwrap())
    table = _table(
        "Imported", ("File", "New blobs", "References"), [(str(path), str(new), str(names))]
    )
    return _show(ui, table, [f"imported {path}: {new} new blobs, {names} references recorded"])
