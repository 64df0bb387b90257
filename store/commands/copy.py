"""``copy``: a bundle (with every image it references, nested bundles at any depth), an
image or index, or a lock file's images, from registries into one destination repository.

observe (walk the bundle graph as imgpkg does, §5.2; fetch every manifest,
index child and config) → build the locations image of every bundle (staged
locally) → plan (pure, ``imgpkg_pure.copy``) → apply: blobs concurrently
(skipped when present, mounted within a registry, else streamed through,
never held in memory), then manifests children first, then tags, then the
lock file.

Non-distributable (foreign) layers (§5.8) are left out unless
``--include-non-distributable-layers``; with it, the observe phase also asks
each image's source whether it holds them (``missing_foreign_layers``), and those it
lacks are read from their descriptor's ``urls`` (``UrlSource`` in the plan;
``imgpkg_pure.store.registry.foreign`` for the tarball writer), verified before use.

Sources and destinations may also be OCI image layouts (``oci:DIR``) and tars
of one (``oci-archive:FILE``, ``imgpkg_pure.store.transports.oci_archive``): a source archive is
indexed once and read like a layout; a destination archive is assembled as a
layout in a temporary directory beside the file, then written as one
deterministic tar and renamed into place.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from attrs import evolve, frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure, Success
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.copy import (
    ARCHIVE_PREFIX,
    LAYOUT_REGISTRY,
    ArchiveDestination,
    CopyIndex,
    CopyNode,
    CopyRequest,
    CopySnapshot,
    foreign_source,
    node_digest,
    parse_copy_request,
    plan_copy,
    skipped_layers,
)
from imgpkg_pure.digest import Digest
from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.plan.steps import (
    LayoutSource,
    LayoutTarget,
    LeftOut,
    Plan,
    Precondition,
    RegistrySource,
    UrlSource,
)
from imgpkg_pure.push import LayoutDestination, UsageError
from imgpkg_pure.reference import Reference, Repository, parse_reference
from imgpkg_pure.store.apply.interpreter import Env
from imgpkg_pure.store.apply.interpreter import apply_plan as run_plan
from imgpkg_pure.store.commands.copy_delta import Delta, observe_delta
from imgpkg_pure.store.commands.copy_walk import (
    BundleWalk,
    WalkFailed,
    build_locations_image,
    missing_foreign_layers,
    observe_sources,
    observe_tarball,
)
from imgpkg_pure.store.commands.mirroring import cache_location, open_client
from imgpkg_pure.store.commands.options import CopyOptions
from imgpkg_pure.store.commands.planning import (
    blob_preconditions,
    observe_present,
    tag_precondition,
    write_plan,
)
from imgpkg_pure.store.commands.planning import dry_run as print_dry_run
from imgpkg_pure.store.content.blobstore import BlobReader, BlobStore
from imgpkg_pure.store.content.errors import StoreError
from imgpkg_pure.store.content.leftovers import claim, release, sweep
from imgpkg_pure.store.content.staging import cache_store, open_layout, temporary_store
from imgpkg_pure.store.registry import ForeignBlob, RegistryClient, UrlFetcher
from imgpkg_pure.store.transports.layout import LayoutReader, Sources
from imgpkg_pure.store.ui.console import Ui
from imgpkg_pure.store.ui.progress import Progress

if TYPE_CHECKING:
    # The imgpkg tarball format, its transports, the archive transport and the delta's
    # rules are imported when used: a copy between registries loads none of them.
    from imgpkg_pure.image_build import BuiltImage
    from imgpkg_pure.imgpkg_tar import TarIOFailure
    from imgpkg_pure.oci.values import Descriptor
    from imgpkg_pure.store.transports.imgpkg_tar import ImgpkgTarball
    from imgpkg_pure.store.transports.imgpkg_tar_writer import HasMessage
    from imgpkg_pure.store.transports.oci_archive import OciArchive

    BlobSourceFn = Callable[[Descriptor], IOResult[Iterable[bytes], HasMessage]]


def _warn_skipped(
    ui: Ui, request: CopyRequest, snapshot: CopySnapshot, *, destination_refs: bool
) -> None:
    """imgpkg's warning about non-distributable layers (§5.8)."""
    found = skipped_layers(snapshot)
    if request.include_non_distributable:
        if not found:
            ui.log(
                "copy | Warning: '--include-non-distributable-layers' flag provided, but no "
                "images contained a non-distributable layer."
            )
        return
    if not found:
        return
    ui.log(
        "copy | Warning: Skipped the followings layer(s) due to it being non-distributable. "
        "If you would like to include non-distributable layers, use the "
        "--include-non-distributable-layers flag"
    )
    for image, layers in found:
        assert image.digest is not None
        if destination_refs and isinstance(request.destination, Repository):
            image_ref = str(request.destination.digest(image.digest))
        else:
            image_ref = request.shown(image)
        ui.log(f"copy |  - Image: {image_ref}")
        ui.log("copy |    Layers:")
        for layer in layers:
            ui.log(f"copy |      - {layer}")


def _foreign_chunks(blob: ForeignBlob) -> Iterator[bytes]:
    """A verified foreign layer's content, its temporary file removed once read or closed."""
    with blob:
        yield from blob()


def _blob_sources(
    snapshot: CopySnapshot,
    sources: Sources,
    layout: LayoutReader | None,
    foreign: UrlFetcher | None = None,
) -> Callable[[Descriptor], IOResult[Iterable[bytes], HasMessage]]:
    """Where ``--to-tar`` reads each layer: the repository (or layout) its image came from,
    or, for a non-distributable layer that source does not hold, the ``urls`` its
    manifest lists (``foreign_source``, as the plan of a copy to a repository)."""
    where: dict[Digest, tuple[Reference, Descriptor]] = {}

    def visit(node: CopyNode) -> None:
        if isinstance(node, CopyIndex):
            for child in node.children:
                visit(child)
        else:
            for desc in (node.manifest.config, *node.manifest.layers):
                where.setdefault(desc.digest, (node.source, desc))

    for item in snapshot.items:
        visit(item.node)

    def fetch(desc: Descriptor) -> IOResult[Iterable[bytes], HasMessage]:
        source, known = where[desc.digest]
        origin: RegistrySource | LayoutSource = (
            LayoutSource(path=layout.path)
            if layout is not None and source.registry == LAYOUT_REGISTRY
            else RegistrySource(registry=source.registry, repository=source.repository)
        )
        decided = foreign_source(snapshot, known, origin)
        if isinstance(decided, UrlSource) and foreign is not None:
            fetched = foreign.fetch(known, decided.urls)
            return fetched.map(_foreign_chunks).alt(lambda e: e)
        if source.registry == LAYOUT_REGISTRY and layout is not None:
            return layout.open_chunks(desc).map(lambda chunks: chunks).alt(lambda e: e)
        return (
            sources.client.open_blob(source.context(), desc)
            .map(lambda stream: stream)
            .alt(lambda e: e)
        )

    return fetch


def _to_tar(
    ui: Ui,
    request: CopyRequest,
    snapshot: CopySnapshot,
    fetch: BlobSourceFn,
    delta: Delta | None,
    *,
    dry_run: bool = False,
) -> int:
    from imgpkg_pure.copy.delta import marker_element, marker_image, render_tar_plan  # noqa: PLC0415
    from imgpkg_pure.copy.tarball import tar_manifest  # noqa: PLC0415
    from imgpkg_pure.imgpkg_tar import TarManifest, plan_tar  # noqa: PLC0415

    described = tar_manifest(snapshot, request.shown)
    if isinstance(described, Failure):
        return ui.fail(described.failure())
    manifest = described.unwrap()
    leave_out: frozenset[Digest] = frozenset()
    if delta is not None:  # the marker, and its sentinel layer, which no tar holds
        manifest = TarManifest(elements=(*manifest.elements, marker_element(delta.marker)))
        leave_out = delta.left_out_digests | {marker_image(delta.marker).sentinel.digest}
    if dry_run:
        planned = plan_tar(
            manifest,
            include_non_distributable=request.include_non_distributable,
            leave_out=leave_out,
        )
        left = None if delta is None else LeftOut(layers=delta.marker.left_out, reason=delta.reason)
        lines = render_tar_plan(
            request.to_tar or "", planned, len(described.unwrap().elements), left
        )
        ui.block("\n".join(lines) + "\n")
        ui.succeeded()
        return 0
    ui.log("copy | writing layers...")
    from imgpkg_pure.store.transports.imgpkg_tar import write_imgpkg_tar  # noqa: PLC0415

    written = write_imgpkg_tar(
        Path(request.to_tar or ""),
        manifest,
        fetch,
        include_non_distributable=request.include_non_distributable,
        resume=request.resume,
        concurrency=request.concurrency,
        leave_out=leave_out,
    )
    if isinstance(written, IOFailure):
        return ui.fail(unsafe_perform_io(written.failure()))
    report = unsafe_perform_io(written.unwrap())
    if report.reused:
        ui.log(f"copy | reused {len(report.reused)} layers from the tar already on disk")
    ui.log("copy | done: file 'manifest.json'")
    for digest in report.fetched:
        ui.log(f"copy | done: file '{digest.tag_form}.tar.gz'")
    if delta is not None:
        ui.result(delta.summary(request.since))
    _warn_skipped(ui, request, snapshot, destination_refs=False)
    ui.succeeded()
    return 0


def _archive_workspace(
    destination: ArchiveDestination,
) -> IOResult[tuple[Path, int | None], TarIOFailure]:
    """An empty directory beside the destination file, where its layout is assembled, and
    the lock this run holds on it; the ones killed runs left there are removed first."""
    from imgpkg_pure.imgpkg_tar import TarIOFailure  # noqa: PLC0415

    target = Path(destination.path)
    if target.is_dir():
        return IOFailure(
            TarIOFailure(tar=destination.path, operation="write it", reason="it is a directory")
        )
    prefix = f".{target.name}."
    sweep(target.parent, prefix, ".layout")
    try:
        made = claim(target.parent, prefix, ".layout")
    except OSError as exc:
        return IOFailure(
            TarIOFailure(
                tar=destination.path,
                operation="create a temporary layout beside it",
                reason=exc.strerror or str(exc),
            )
        )
    return IOSuccess(made)


def _opener(reader: BlobReader | None) -> Callable[[str], IOResult[BlobReader, StoreError]] | None:
    """The Env hook of a tar source indexed before planning (one per run)."""
    if reader is None:
        return None
    opened = reader

    def open_reader(_path: str) -> IOResult[BlobReader, StoreError]:
        return IOSuccess(opened)

    return open_reader


@frozen(kw_only=True)
class PlanMode:
    """``plan copy --out`` writes the plan; ``--dry-run`` prints it; neither applies it."""

    out: str | None = None
    dry_run: bool = False


def _run(
    ui: Ui,
    request: CopyRequest,
    client: RegistryClient,
    staging: BlobStore,
    mode: PlanMode | None = None,
) -> int:
    archive: OciArchive | None = None
    layout: LayoutReader | None = None
    if request.source_archive is not None:
        from imgpkg_pure.store.transports.oci_archive import OciArchive  # noqa: PLC0415

        indexed = OciArchive.at(Path(request.source_archive))
        if isinstance(indexed, IOFailure):
            return ui.fail(unsafe_perform_io(indexed.failure()))
        archive = unsafe_perform_io(indexed.unwrap())
        name = f"{ARCHIVE_PREFIX}{request.source_archive}"
        layout = LayoutReader.over(archive, path=request.source_archive, name=name)
    elif request.source_layout is not None:
        layout = LayoutReader(request.source_layout)
    sources = Sources(client, layout)
    tarball: ImgpkgTarball | None = None
    built: tuple[tuple[Digest, BuiltImage], ...] = ()
    walk = BundleWalk(sources, staging, request)
    try:
        if request.source_tar is not None:
            tarball, snapshot = observe_tarball(request)
        else:
            snapshot = observe_sources(walk, request)
            if request.include_non_distributable:
                absent = missing_foreign_layers(sources, snapshot)
                snapshot = evolve(snapshot, foreign_absent=absent)
        if request.to_tar is None:
            built = tuple(
                (bundle.digest, build_locations_image(bundle, staging, snapshot.platforms))
                for bundle in snapshot.bundles
            )
    except WalkFailed as failed:
        return ui.fail(failed.error, failed.context)
    observed = observe_delta(request, snapshot, client=client, tarball=tarball, layout=layout)
    if isinstance(observed, IOFailure):
        return ui.fail(unsafe_perform_io(observed.failure()))
    delta = unsafe_perform_io(observed.unwrap())
    if delta is not None:
        snapshot = evolve(snapshot, left_out=delta.left_out_digests)
    refs = sorted(request.shown(item.node.source) for item in snapshot.items)
    if request.source_tar is None:
        ui.log(f"copy | exporting {len(refs)} images...")
        for ref in refs:
            ui.log(f"copy | will export {ref}")
        ui.log(f"copy | exported {len(refs)} images")
    foreign: UrlFetcher | None = None
    if snapshot.foreign_absent:
        opened = UrlFetcher.open(client.options)
        if isinstance(opened, IOFailure):
            return ui.fail(unsafe_perform_io(opened.failure()))
        foreign = unsafe_perform_io(opened.unwrap())
    try:
        return _export(
            ui, request, snapshot, built, mode,
            sources=sources, staging=staging, layout=layout, tarball=tarball, archive=archive,
            foreign=foreign, delta=delta,
        )  # fmt: skip
    finally:
        if foreign is not None:
            foreign.close()


def _export(
    ui: Ui,
    request: CopyRequest,
    snapshot: CopySnapshot,
    built: tuple[tuple[Digest, BuiltImage], ...],
    mode: PlanMode | None,
    *,
    sources: Sources,
    staging: BlobStore,
    layout: LayoutReader | None,
    tarball: ImgpkgTarball | None,
    archive: OciArchive | None,
    foreign: UrlFetcher | None,
    delta: Delta | None = None,
) -> int:
    """Write what was observed to the destination: a tarball, a repository, a layout."""
    if request.to_tar is not None:
        fetch = _blob_sources(snapshot, sources, layout, foreign)
        dry_run = mode is not None and mode.dry_run
        return _to_tar(ui, request, snapshot, fetch, delta, dry_run=dry_run)
    env = Env(
        layout=open_layout,
        staging=staging,
        registry=sources.client,
        tarball=_opener(tarball),
        archive=_opener(archive),
        foreign=foreign,
    )
    destination = request.destination
    if not isinstance(destination, ArchiveDestination):
        code = _import(
            ui, request, snapshot, built, env, archive_layout=None, mode=mode, delta=delta
        )
    else:
        code = _import_to_archive(
            ui, request, snapshot, built, env, destination=destination, delta=delta
        )
    if code == 0 and not _planning_only(mode):
        if delta is not None:
            ui.result(delta.summary(request.since))
        ui.succeeded()
    return code


def _planning_only(mode: PlanMode | None) -> bool:
    """Whether the run only shows or writes its plan (which print their own ending)."""
    return mode is not None and (mode.dry_run or mode.out is not None)


def _import_to_archive(
    ui: Ui,
    request: CopyRequest,
    snapshot: CopySnapshot,
    built: tuple[tuple[Digest, BuiltImage], ...],
    env: Env,
    *,
    destination: ArchiveDestination,
    delta: Delta | None = None,
) -> int:
    """Copy into a layout assembled beside the destination file, then tar it into place."""
    workspace = _archive_workspace(destination)
    if isinstance(workspace, IOFailure):
        return ui.fail(unsafe_perform_io(workspace.failure()))
    assembled, lock = unsafe_perform_io(workspace.unwrap())
    try:
        code = _import(
            ui, request, snapshot, built, env, archive_layout=str(assembled), delta=delta
        )
        if code != 0:
            return code
        ui.log(f"copy | writing {destination}")
        from imgpkg_pure.store.transports.oci_archive import write_oci_archive  # noqa: PLC0415

        written = write_oci_archive(assembled, Path(destination.path))
        if isinstance(written, IOFailure):
            return ui.fail(unsafe_perform_io(written.failure()))
        return 0
    finally:
        shutil.rmtree(assembled, ignore_errors=True)
        release(lock)


def _with_delta(request: CopyRequest, plan: Plan, delta: Delta, archive_layout: str | None) -> Plan:
    """The plan of a differential copy: it says what it leaves out, and a delta layout
    (``--since`` into ``oci:DIR`` or ``oci-archive:FILE``) gets the marker root."""
    from imgpkg_pure.copy.delta import delta_plan  # noqa: PLC0415

    target: LayoutTarget | None = None
    if delta.writes_marker:
        if archive_layout is not None:
            target = LayoutTarget(path=archive_layout)
        elif isinstance(request.destination, LayoutDestination):
            target = LayoutTarget(path=request.destination.path)
    return delta_plan(plan, delta.marker, delta.reason, marker_target=target)


def _delta_preconditions(request: CopyRequest, delta: Delta) -> tuple[Precondition, ...]:
    """A delta's import plan: apply checks again that the destination holds what it
    leaves out."""
    from imgpkg_pure.copy.delta import delta_preconditions  # noqa: PLC0415

    destination = request.destination
    if isinstance(destination, LayoutDestination):
        return delta_preconditions(delta.marker, LayoutSource(path=destination.path))
    if isinstance(destination, ArchiveDestination):
        return ()
    source = RegistrySource(registry=destination.registry, repository=destination.repository)
    return delta_preconditions(delta.marker, source)


def _preconditions(
    request: CopyRequest, snapshot: CopySnapshot, plan: Plan
) -> tuple[Precondition, ...]:
    """What ``apply`` re-checks: the source tag (if given by tag) and every source blob."""
    found: tuple[Precondition, ...] = ()
    text = request.bundle or request.image
    if text and request.source_layout is None and request.source_archive is None:
        reference = parse_reference(text)
        tagged = [item for item in snapshot.items if item.tag]
        if isinstance(reference, Success) and tagged:
            found = tag_precondition(reference.unwrap(), node_digest(tagged[0].node))
    return found + blob_preconditions(plan)


def _import(
    ui: Ui,
    request: CopyRequest,
    snapshot: CopySnapshot,
    built: tuple[tuple[Digest, BuiltImage], ...],
    env: Env,
    *,
    archive_layout: str | None,
    mode: PlanMode | None = None,
    delta: Delta | None = None,
) -> int:
    """Plan the copy into its destination and run the plan; the exit code."""
    planned = plan_copy(request, snapshot, built, archive_layout=archive_layout)
    if isinstance(planned, Failure):
        return ui.fail(planned.failure())
    plan = planned.unwrap()
    if delta is not None:
        plan = _with_delta(request, plan, delta, archive_layout)
    if _planning_only(mode):
        assert mode is not None
        conditions = _preconditions(request, snapshot, plan)
        if delta is not None and not delta.writes_marker:
            conditions += _delta_preconditions(request, delta)
        plan = evolve(plan, preconditions=conditions)
        plan = observe_present(plan, env.registry)
        if mode.out is not None:
            return write_plan(ui, mode.out, plan, env.staging)
        return print_dry_run(ui, plan)
    ui.log(f"copy | importing {len(snapshot.items)} images...")
    progress = Progress(
        plan,
        prefix="copy | ",
        enabled=None if ui.tty and not ui.json_mode else False,
        limit=env.registry.transfers_limit if env.registry is not None else None,
    )
    try:
        applied = run_plan(plan, env, concurrency=request.concurrency, on_step=progress.on_step)
    finally:
        progress.finish()
    if isinstance(applied, IOFailure):
        return ui.fail(unsafe_perform_io(applied.failure()))
    ui.log("copy | Tagging images")
    _warn_skipped(ui, request, snapshot, destination_refs=True)
    return 0


def run_copy(options: CopyOptions, ui: Ui) -> int:
    """The copy command; returns the exit code."""
    request = parse_copy_request(
        image=options.image,
        bundle=options.bundle,
        lock=options.lock,
        tar=options.tar,
        to_repo=options.to_repo,
        to_tar=options.to_tar,
        lock_output=options.lock_output,
        concurrency=options.concurrency,
        include_non_distributable=options.include_non_distributable_layers,
        repo_based_tags=options.repo_based_tags,
        resume=options.resume,
        cosign_signatures=options.cosign_signatures,
        referrers=options.referrers,
        platforms=options.platforms,
        since=options.since,
    )
    if isinstance(request, Failure):
        return ui.fail(request.failure())
    opened = open_client(options.registry, options.cache, ui, offline=options.offline)
    if isinstance(opened, IOFailure):
        return ui.fail(unsafe_perform_io(opened.failure()))
    checked = request.unwrap()
    plan_out, dry_run = options.plan_out, options.dry_run
    archive = isinstance(checked.destination, ArchiveDestination)
    if (plan_out and (checked.to_tar is not None or archive)) or (dry_run and archive):
        return ui.fail(
            UsageError(
                reason="plan files are available for --to-repo REPO and --to-repo oci:DIR "
                "destinations (and --dry-run for those and --to-tar FILE)"
            ),
        )
    mode = PlanMode(out=plan_out, dry_run=dry_run)
    with unsafe_perform_io(opened.unwrap()) as client:
        if plan_out is not None:
            cache = cache_store(cache_location(options.cache.cache_dir))
            if isinstance(cache, IOFailure):
                return ui.fail(unsafe_perform_io(cache.failure()))
            return _run(ui, checked, client, unsafe_perform_io(cache.unwrap()), mode)
        with temporary_store() as staging:
            return _run(ui, checked, client, staging, mode)


__all__ = ["MalformedDocument", "node_digest", "run_copy"]
