"""Plans that are shown or saved instead of applied: what ``--dry-run`` and ``plan X --out``
share across push, pull and copy.

A saved plan records its preconditions (the source tag it resolved, every
source blob it will read) so that ``apply`` can refuse it once stale, and what
its destinations already hold (``present``), so that ``show`` and
``--dry-run`` can say what would move.
"""

from __future__ import annotations

from pathlib import Path
from typing import assert_never

from attrs import evolve
from returns.io import IOFailure, IOResult
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import Digest
from imgpkg_pure.plan.render import layer_summary, left_out_summary, render_plan
from imgpkg_pure.plan.steps import (
    BlobAvailable,
    LayoutTarget,
    Plan,
    Precondition,
    PutBlob,
    RegistryTarget,
    TagPointsTo,
)
from imgpkg_pure.reference import Reference, Repository
from imgpkg_pure.store.content.atomic import write_atomically
from imgpkg_pure.store.content.blobstore import BlobReader
from imgpkg_pure.store.content.local import LocalStore
from imgpkg_pure.store.registry import RegistryClient
from imgpkg_pure.store.ui.console import Ui

__all__ = [
    "blob_preconditions",
    "dry_run",
    "observe_present",
    "stored",
    "tag_precondition",
    "write_plan",
]


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
                if (Path(path) / "oci-layout").is_file() and stored(
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


def write_plan(ui: Ui, path: str, plan: Plan, staging: BlobReader | None = None) -> int:
    """Write the plan file atomically and say where it is.

    The blobs the plan staged in the local store (``staging``) are recorded there as roots
    ``plans/<plan digest>@<blob digest>``, so that no gc, prune or size bound takes them
    before ``apply`` reads them (``docs/cache.md``)."""
    from imgpkg_pure.plan.planfile import encode_plan, plan_digest  # noqa: PLC0415 (msgpack)

    data = encode_plan(plan)
    written = write_atomically(path, data, new_mode=0o600)
    if isinstance(written, IOFailure):
        error = unsafe_perform_io(written.failure())
        return ui.fail(error)
    if isinstance(staging, LocalStore):
        name = f"plans/{plan_digest(data).removeprefix('sha256:')[:16]}"
        staged = tuple(
            (f"{name}@{step.descriptor.digest}", step.descriptor)
            for step in plan.steps
            if isinstance(step, PutBlob) and step.data is None and step.source is None
        )
        kept = staging.set_roots(staged)
        if isinstance(kept, IOFailure):
            return ui.fail(unsafe_perform_io(kept.failure()))
    ui.result(f"Wrote plan '{path}' ({plan_digest(data)})")
    for summary in (layer_summary(plan), left_out_summary(plan)):
        if summary is not None:
            ui.result(summary[:1].upper() + summary[1:])
    ui.succeeded()
    return 0


def dry_run(ui: Ui, plan: Plan) -> int:
    """Print what the plan would do, change nothing."""
    ui.block("\n".join(render_plan(plan)) + "\n")
    ui.succeeded()
    return 0


def stored(reader: IOResult[BlobReader, object], digest: Digest) -> bool:
    """Whether an opened store (a layout, a tarball, an archive) holds ``digest``."""
    if isinstance(reader, IOFailure):
        return False
    store = unsafe_perform_io(reader.unwrap())
    return bool(unsafe_perform_io(store.exists(digest).value_or(False)))
