"""Plans as files: ``plan push|copy … --out PLAN``, ``show PLAN``, ``apply PLAN``, ``--dry-run``.

A plan written for later keeps the blobs it staged (the locations images of a
copy, the layer of a push) in the local cache store, an OCI layout at
``$IMGPKG_PURE_CACHE`` (default ``$XDG_CACHE_HOME/imgpkg-pure/store``, else
``~/.cache/imgpkg-pure/store``); ``apply`` reads them from there.

``apply`` decodes the file (refusing a corrupt file or another format
version), re-checks every precondition the plan recorded — a source tag that
has moved, a source blob that is gone — and refuses a stale plan before doing
anything; then it runs the steps like the commands do.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import assert_never

from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure, Result
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import Digest
from imgpkg_pure.errors import Fact
from imgpkg_pure.plan.planfile import decode_plan
from imgpkg_pure.plan.steps import (
    ArchiveSource,
    BlobAvailable,
    BlobSource,
    LayoutSource,
    Plan,
    RegistrySource,
    TagPointsTo,
    TarballSource,
    UrlSource,
)
from imgpkg_pure.reference import Reference, Repository
from imgpkg_pure.store.apply.interpreter import Env, apply_plan
from imgpkg_pure.store.commands.mirroring import cache_location, open_client
from imgpkg_pure.store.commands.options import ApplyOptions, ShowOptions
from imgpkg_pure.store.commands.planning import dry_run, stored
from imgpkg_pure.store.content.blobstore import BlobReader
from imgpkg_pure.store.content.errors import StoreError, StoreIOFailure
from imgpkg_pure.store.content.local import LocalStore
from imgpkg_pure.store.content.staging import cache_store, open_layout
from imgpkg_pure.store.registry import RegistryClient, UrlFetcher
from imgpkg_pure.store.transports.imgpkg_tar import ImgpkgTarball
from imgpkg_pure.store.transports.oci_archive import OciArchive
from imgpkg_pure.store.ui.console import Ui


@frozen(kw_only=True)
class StalePlan(Fact):
    """What a plan observed is no longer so; it must be made again."""

    reason: str

    template = "Saved plan is stale: {reason}; run plan again"


@frozen(kw_only=True)
class PlanFileUnreadable(Fact):
    """A plan file that cannot be read."""

    path: str
    reason: str

    template = "reading plan '{path}': {reason}"


def _read(path: str) -> Result[Plan, object]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return Failure(PlanFileUnreadable(path=path, reason=exc.strerror or str(exc)))
    return decode_plan(data).alt(lambda error: error)


def run_show(options: ShowOptions, ui: Ui) -> int:
    """``show PLAN``."""
    plan = _read(options.plan_file)
    if isinstance(plan, Failure):
        return ui.fail(plan.failure())
    return dry_run(ui, plan.unwrap())


def check_preconditions(plan: Plan, client: RegistryClient) -> IOResult[None, StalePlan]:
    """Re-check what the plan observed; the first difference makes it stale."""
    for condition in plan.preconditions:
        match condition:
            case TagPointsTo(registry=registry, repository=repository, tag=tag, digest=digest):
                ref = Reference(registry=registry, repository=repository, tag=tag, digest=None)
                now = client.head_manifest(ref)
                current = None if isinstance(now, IOFailure) else unsafe_perform_io(now.unwrap())
                if current is None or current.digest != digest:
                    seen = "gone" if current is None else str(current.digest)
                    where = f"{registry}/{repository}:{tag}"
                    return IOFailure(StalePlan(reason=f"{where} moved from {digest} to {seen}"))
            case BlobAvailable(source=source, digest=digest):
                if not _source_has(client, source, digest):
                    return IOFailure(
                        StalePlan(reason=f"source blob {digest} is no longer in {source}")
                    )
            case _:
                assert_never(condition)
    return IOSuccess(None)


def _source_has(client: RegistryClient, source: BlobSource, digest: Digest) -> bool:
    match source:
        case RegistrySource(registry=registry, repository=repository):
            repo = Repository(registry=registry, repository=repository)
            found = client.blob_exists(repo, digest)
            if isinstance(found, IOFailure):
                return False
            return unsafe_perform_io(found.unwrap()) is not None
        case LayoutSource(path=path):
            return stored(LocalStore.at(Path(path)).map(lambda s: s), digest)
        case TarballSource(path=path):
            return stored(ImgpkgTarball.at(Path(path)).map(lambda t: t), digest)
        case ArchiveSource(path=path):
            return stored(OciArchive.at(Path(path)).map(lambda a: a), digest)
        case UrlSource(urls=urls):
            with UrlFetcher(client.options) as fetcher:
                return fetcher.first_reachable(urls) is not None
        case _:
            assert_never(source)


def _opener(
    open_path: Callable[[Path], IOResult[object, object]],
) -> Callable[[str], IOResult[BlobReader, StoreError]]:
    cache: dict[str, BlobReader] = {}

    def open_reader(path: str) -> IOResult[BlobReader, StoreError]:
        if path not in cache:
            opened = open_path(Path(path))
            if isinstance(opened, IOFailure):
                error = unsafe_perform_io(opened.failure())
                return IOFailure(
                    StoreIOFailure(
                        operation="open", path=path, reason=getattr(error, "message", str(error))
                    )
                )
            cache[path] = unsafe_perform_io(opened.unwrap())  # type: ignore[assignment]
        return IOSuccess(cache[path])

    return open_reader


def run_apply(options: ApplyOptions, ui: Ui) -> int:
    """``apply PLAN``: refuse corrupt, foreign-version or stale plans; then run the steps."""
    path = options.plan_file
    plan = _read(path)
    if isinstance(plan, Failure):
        return ui.fail(plan.failure())
    steps = plan.unwrap()
    staging = cache_store(cache_location(options.cache.cache_dir))
    if isinstance(staging, IOFailure):
        return ui.fail(unsafe_perform_io(staging.failure()))
    opened = open_client(options.registry, options.cache, ui)
    if isinstance(opened, IOFailure):
        return ui.fail(unsafe_perform_io(opened.failure()))
    with unsafe_perform_io(opened.unwrap()) as client:
        stale = check_preconditions(steps, client)
        if isinstance(stale, IOFailure):
            return ui.fail(unsafe_perform_io(stale.failure()))
        cache = unsafe_perform_io(staging.unwrap())
        env = Env(
            layout=open_layout,
            staging=cache,
            cache=cache,
            registry=client,
            tarball=_opener(ImgpkgTarball.at),
            archive=_opener(OciArchive.at),
        )
        for line in steps.log:
            ui.log(line)
        applied = apply_plan(steps, env, concurrency=max(1, options.concurrency))
        if isinstance(applied, IOFailure):
            return ui.fail(unsafe_perform_io(applied.failure()))
    report = unsafe_perform_io(applied.unwrap())
    ui.result(
        f"Applied plan '{path}': {len(report.performed)} steps done, "
        f"{len(report.skipped)} already done"
    )
    if steps.result_name:
        ui.result(f"Result: {steps.result_name}")
    ui.succeeded()
    return 0


__all__ = ["PlanFileUnreadable", "StalePlan", "check_preconditions", "run_apply", "run_show"]
