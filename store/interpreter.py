"""Apply a Plan: the only place where a plan's steps become effects.

Each step is idempotent (a blob or manifest already present is skipped, a tag
set again is the same tag), so an interrupted apply can simply be run again.
Every blob is verified against its descriptor before it becomes visible (the
store's commit checks size and digest).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import assert_never

from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.oci.values import Descriptor
from imgpkg_pure.plan.steps import (
    LayoutTarget,
    Plan,
    PutBlob,
    PutManifest,
    Step,
    Tag,
    Target,
    WriteLockFile,
)
from store.atomic import WriteFailure, write_atomically
from store.blobstore import CHUNK_SIZE, BlobReader, BlobStore
from store.errors import StoreError


@frozen(kw_only=True)
class StagedBlobMissing:
    """A plan step needs a staged blob that the local store does not hold."""

    descriptor: Descriptor

    @property
    def message(self) -> str:
        return (
            f"blob {self.descriptor.digest} is not in the local store "
            "(the plan was made elsewhere, or the store was cleaned); plan again"
        )


ApplyError = StoreError | WriteFailure | StagedBlobMissing


@frozen(kw_only=True)
class ApplyReport:
    """What apply did: one line per step performed, one per step skipped as already done."""

    performed: tuple[str, ...]
    skipped: tuple[str, ...]


@frozen(kw_only=True)
class Env:
    """What the interpreter needs from the outside world, passed in explicitly.

    ``layout`` opens (or creates) the OCI layout at a path; ``staging`` is the
    local store that holds blobs staged before planning.
    """

    layout: Callable[[str], IOResult[BlobStore, StoreError]]
    staging: BlobReader | None = None


def _chunks(reader: BlobReader, descriptor: Descriptor) -> IOResult[Iterator[bytes], StoreError]:
    def read_all(handle: object) -> Iterator[bytes]:
        assert hasattr(handle, "read") and hasattr(handle, "close")
        try:
            while chunk := handle.read(CHUNK_SIZE):
                yield chunk
        finally:
            handle.close()

    return reader.open(descriptor.digest).map(read_all)


def _widen(error: StoreError) -> ApplyError:
    return error


def _widen_write(error: WriteFailure) -> ApplyError:
    return error


def _store_for(env: Env, target: Target) -> IOResult[BlobStore, ApplyError]:
    match target:
        case LayoutTarget(path=path):
            return env.layout(path).alt(_widen)
        case _:
            assert_never(target)


def _put_blob(env: Env, step: PutBlob) -> IOResult[bool, ApplyError]:
    desc = step.descriptor

    def put(store: BlobStore) -> IOResult[bool, ApplyError]:
        present = store.exists(desc.digest)
        if unsafe_perform_io(present.value_or(False)):
            return IOSuccess(False)
        if step.data is not None:
            return (
                store.put_stream((step.data,), desc.size, desc.digest)
                .map(lambda _: True)
                .alt(_widen)
            )
        if env.staging is None:
            return IOFailure(StagedBlobMissing(descriptor=desc))
        staged = env.staging.exists(desc.digest)
        if not unsafe_perform_io(staged.value_or(False)):
            return IOFailure(StagedBlobMissing(descriptor=desc))
        return (
            _chunks(env.staging, desc)
            .bind(lambda chunks: store.put_stream(chunks, desc.size, desc.digest))
            .map(lambda _: True)
            .alt(_widen)
        )

    return _store_for(env, step.target).bind(put)


def _put_manifest(env: Env, step: PutManifest) -> IOResult[bool, ApplyError]:
    desc = step.descriptor

    def put(store: BlobStore) -> IOResult[bool, ApplyError]:
        if unsafe_perform_io(store.exists(desc.digest).value_or(False)):
            return IOSuccess(False)
        return (
            store.put_stream((step.raw,), desc.size, desc.digest).map(lambda _: True).alt(_widen)
        )

    return _store_for(env, step.target).bind(put)


def _tag(env: Env, step: Tag) -> IOResult[bool, ApplyError]:
    def point(store: BlobStore) -> IOResult[bool, ApplyError]:
        current = unsafe_perform_io(store.resolve(step.tag).value_or(None))
        if current is not None and current.digest == step.descriptor.digest:
            return IOSuccess(False)
        return store.set_root(step.tag, step.descriptor).map(lambda _: True).alt(_widen)

    return _store_for(env, step.target).bind(point)


def run_step(env: Env, step: Step) -> IOResult[bool, ApplyError]:
    """Perform one step; ``True`` when something changed, ``False`` when it was already done."""
    match step:
        case PutBlob():
            return _put_blob(env, step)
        case PutManifest():
            return _put_manifest(env, step)
        case Tag():
            return _tag(env, step)
        case WriteLockFile(path=path, text=text):
            written = write_atomically(path, text.encode("utf-8"))
            return written.map(lambda _: True).alt(_widen_write)
        case _:
            assert_never(step)


def describe_step(step: Step) -> str:
    """One line naming what a step does (for reports and ``show``)."""
    match step:
        case PutBlob(target=t, descriptor=d):
            return f"blob {d.digest} ({d.size} bytes) -> {t}"
        case PutManifest(target=t, descriptor=d):
            return f"manifest {d.digest} -> {t}"
        case Tag(target=t, tag=tag, descriptor=d):
            return f"tag {t}:{tag} -> {d.digest}"
        case WriteLockFile(path=path):
            return f"lock file {path}"
        case _:
            assert_never(step)


def apply_plan(plan: Plan, env: Env) -> IOResult[ApplyReport, ApplyError]:
    """Run the steps in order; stop at the first failure (a rerun resumes safely)."""
    performed: list[str] = []
    skipped: list[str] = []
    for step in plan.steps:
        outcome = run_step(env, step)
        if isinstance(outcome, IOFailure):
            return IOFailure(unsafe_perform_io(outcome.failure()))
        changed = unsafe_perform_io(outcome.unwrap())
        (performed if changed else skipped).append(describe_step(step))
    return IOSuccess(ApplyReport(performed=tuple(performed), skipped=tuple(skipped)))
