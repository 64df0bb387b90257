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

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import assert_never

from attrs import evolve, frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure, Result
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import Digest
from imgpkg_pure.oci.values import Descriptor
from imgpkg_pure.plan.planfile import decode_plan, encode_plan, plan_digest
from imgpkg_pure.plan.render import render_plan
from imgpkg_pure.plan.steps import (
    ArchiveSource,
    BlobAvailable,
    BlobSource,
    LayoutSource,
    LayoutTarget,
    Plan,
    Precondition,
    PutBlob,
    RegistrySource,
    RegistryTarget,
    TagPointsTo,
    TarballSource,
)
from imgpkg_pure.push import UsageError
from imgpkg_pure.reference import Reference, Repository
from imgpkg_pure.store.apply.interpreter import Env, apply_plan
from imgpkg_pure.store.content.atomic import write_atomically
from imgpkg_pure.store.content.blobstore import BlobReader, BlobStore
from imgpkg_pure.store.content.errors import StoreError, StoreIOFailure
from imgpkg_pure.store.content.local import LocalStore
from imgpkg_pure.store.registry import RegistryClient, RegistryOptions
from imgpkg_pure.store.transports.imgpkg_tar import ImgpkgTarball
from imgpkg_pure.store.transports.oci_archive import OciArchive
from imgpkg_pure.store.ui.console import Ui


@frozen(kw_only=True)
class StalePlan:
    """What a plan observed is no longer so; it must be made again."""

    reason: str

    @property
    def message(self) -> str:
        return f"Saved plan is stale: {self.reason}; run plan again"


@frozen(kw_only=True)
class PlanFileUnreadable:
    """A plan file that cannot be read."""

    path: str
    reason: str

    @property
    def message(self) -> str:
        return f"reading plan '{self.path}': {self.reason}"


def cache_root(environ: dict[str, str] | None = None) -> Path:
    """Where the local cache store lives (see the module doc)."""
    env = dict(os.environ) if environ is None else environ
    if env.get("IMGPKG_PURE_CACHE"):
        return Path(env["IMGPKG_PURE_CACHE"])
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "imgpkg-pure" / "store"


def cache_store() -> IOResult[BlobStore, StoreError]:
    """The local cache store (created on first use)."""
    root = cache_root()
    with contextlib.suppress(OSError):
        root.parent.mkdir(parents=True, exist_ok=True)
    return LocalStore.at(root)


def blob_preconditions(plan: Plan) -> tuple[Precondition, ...]:
    """Every source blob the plan will read must still be there at apply time."""
    seen: dict[tuple[str, str], Precondition] = {}
    for step in plan.steps:
        if isinstance(step, PutBlob) and step.source is not None:
            key = (str(step.source), str(step.descriptor.digest))
            seen.setdefault(key, BlobAvailable(source=step.source, digest=step.descriptor.digest))
    return tuple(seen.values())


def observe_present(plan: Plan, client: RegistryClient | None) -> Plan:
    """The plan with ``present`` filled in: the blobs its destinations already hold.

    Read-only: registries are asked with HEAD, and a layout that does not exist
    yet holds nothing (it is not created).
    """
    present: list[Digest] = []
    for step in plan.steps:
        if not isinstance(step, PutBlob):
            continue
        digest = step.descriptor.digest
        match step.target:
            case RegistryTarget(registry=registry, repository=repository):
                if client is None:
                    continue
                found = client.blob_exists(
                    Repository(registry=registry, repository=repository), digest
                )
                if (
                    not isinstance(found, IOFailure)
                    and unsafe_perform_io(found.unwrap()) is not None
                ):
                    present.append(digest)
            case LayoutTarget(path=path):
                if (Path(path) / "oci-layout").is_file() and _exists(
                    LocalStore.at(Path(path)).map(lambda store: store), digest
                ):
                    present.append(digest)
            case _:
                assert_never(step.target)
    return evolve(plan, present=tuple(dict.fromkeys(present)))


def tag_precondition(reference: Reference, digest: Digest) -> tuple[Precondition, ...]:
    """The source tag the plan resolved, when the source was given by tag."""
    if reference.digest is not None or reference.tag is None:
        return ()
    return (
        TagPointsTo(
            registry=reference.registry,
            repository=reference.repository,
            tag=reference.tag,
            digest=digest,
        ),
    )


def write_plan(ui: Ui, path: str, plan: Plan) -> int:
    """Write the plan file atomically and say where it is."""
    data = encode_plan(plan)
    written = write_atomically(path, data, new_mode=0o600)
    if isinstance(written, IOFailure):
        error = unsafe_perform_io(written.failure())
        ui.failed(type(error).__name__, error.message)
        return 1
    ui.result(f"Wrote plan '{path}' ({plan_digest(data)})")
    ui.succeeded()
    return 0


def dry_run(ui: Ui, plan: Plan) -> int:
    """Print what the plan would do, change nothing."""
    ui.block("\n".join(render_plan(plan)) + "\n")
    ui.succeeded()
    return 0


def _read(path: str) -> Result[Plan, object]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return Failure(PlanFileUnreadable(path=path, reason=exc.strerror or str(exc)))
    return decode_plan(data).alt(lambda error: error)


def run_show(ui: Ui, *, path: str) -> int:
    """``show PLAN``."""
    plan = _read(path)
    if isinstance(plan, Failure):
        error = plan.failure()
        ui.failed(type(error).__name__, getattr(error, "message", str(error)))
        return 1
    return dry_run(ui, plan.unwrap())


def _exists(reader: IOResult[BlobReader, object], digest: Digest) -> bool:
    if isinstance(reader, IOFailure):
        return False
    store = unsafe_perform_io(reader.unwrap())
    return bool(unsafe_perform_io(store.exists(digest).value_or(False)))


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
            return _exists(LocalStore.at(Path(path)).map(lambda s: s), digest)
        case TarballSource(path=path):
            return _exists(ImgpkgTarball.at(Path(path)).map(lambda t: t), digest)
        case ArchiveSource(path=path):
            return _exists(OciArchive.at(Path(path)).map(lambda a: a), digest)
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


def _open_layout(path: str) -> IOResult[BlobStore, StoreError]:
    return LocalStore.at(Path(path))


def fail(ui: Ui, error: object) -> int:
    message = getattr(error, "message", None)
    ui.failed(type(error).__name__, message if isinstance(message, str) else str(error))
    return 1


def run_apply(
    ui: Ui, *, path: str, registry: Result[RegistryOptions, UsageError], concurrency: int
) -> int:
    """``apply PLAN``: refuse corrupt, foreign-version or stale plans; then run the steps."""
    if isinstance(registry, Failure):
        return fail(ui, registry.failure())
    plan = _read(path)
    if isinstance(plan, Failure):
        return fail(ui, plan.failure())
    steps = plan.unwrap()
    staging = cache_store()
    if isinstance(staging, IOFailure):
        return fail(ui, unsafe_perform_io(staging.failure()))
    opened = RegistryClient.open(registry.unwrap())
    if isinstance(opened, IOFailure):
        return fail(ui, unsafe_perform_io(opened.failure()))
    with unsafe_perform_io(opened.unwrap()) as client:
        stale = check_preconditions(steps, client)
        if isinstance(stale, IOFailure):
            return fail(ui, unsafe_perform_io(stale.failure()))
        cache = unsafe_perform_io(staging.unwrap())
        env = Env(
            layout=_open_layout,
            staging=cache,
            cache=cache,
            registry=client,
            tarball=_opener(ImgpkgTarball.at),
            archive=_opener(OciArchive.at),
        )
        for line in steps.log:
            ui.log(line)
        applied = apply_plan(steps, env, concurrency=max(1, concurrency))
        if isinstance(applied, IOFailure):
            return fail(ui, unsafe_perform_io(applied.failure()))
    report = unsafe_perform_io(applied.unwrap())
    ui.result(
        f"Applied plan '{path}': {len(report.performed)} steps done, "
        f"{len(report.skipped)} already done"
    )
    if steps.result_name:
        ui.result(f"Result: {steps.result_name}")
    ui.succeeded()
    return 0


__all__ = [
    "Descriptor",
    "blob_preconditions",
    "cache_store",
    "check_preconditions",
    "dry_run",
    "run_apply",
    "run_show",
    "tag_precondition",
    "write_plan",
]
