"""Apply a Plan: the only place where a plan's steps become effects.

Each step is idempotent (a blob or manifest already present is skipped, a tag
that already points at the right manifest is left alone), so an interrupted
apply can simply be run again.  Every blob is verified against its
descriptor before it becomes visible: the local store's commit checks size
and digest, and a registry checks the digest of every upload.

Why this module is longer than ~600 lines: it is the one place where a plan becomes
effects, by design (``docs/architecture.md``); every step kind's handler sits beside
the others so that idempotence and verification are seen to hold for all of them in
one reading.  Scheduling is ``store.apply.schedule``; staging is ``store.content``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, assert_never

from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.errors import Fact, MalformedDocument
from imgpkg_pure.oci.values import Descriptor
from imgpkg_pure.plan.steps import (
    ArchiveSource,
    ExtractImage,
    LayoutSource,
    LayoutTarget,
    Plan,
    PutBlob,
    PutManifest,
    PutReferrers,
    RegistrySource,
    RegistryTarget,
    Step,
    Tag,
    TarballSource,
    Target,
    UrlSource,
    WriteLockFile,
)
from imgpkg_pure.reference import Reference, Repository
from imgpkg_pure.store.apply.referrers import (
    ReferrersTagInvalid,
    put_referrers_in_layout,
    put_referrers_in_registry,
)
from imgpkg_pure.store.apply.schedule import UNASKED, phases, survey
from imgpkg_pure.store.content.atomic import WriteFailure, write_atomically
from imgpkg_pure.store.content.blobstore import CHUNK_SIZE, BlobReader, BlobStore
from imgpkg_pure.store.content.errors import StoreError
from imgpkg_pure.store.registry import (
    ForeignLayerError,
    PushMode,
    RegistryClient,
    RegistryError,
    RegistryOptions,
    UrlFetcher,
)

if TYPE_CHECKING:  # extraction's errors (and the extraction rules under them): pull plans only
    from imgpkg_pure.store.apply.extract_errors import ExtractError


@frozen(kw_only=True)
class StagedBlobMissing(Fact):
    """A plan step needs a staged blob that the local store does not hold."""

    descriptor: Descriptor

    template = (
        "blob {descriptor.digest} is not in the local store "
        "(the plan was made elsewhere, or the store was cleaned); plan again"
    )


@frozen(kw_only=True)
class NoRegistryAccess(Fact):
    """A plan step targets a registry, but apply was given no registry client."""

    target: str

    template = "cannot reach {target}: no registry client was configured for this apply"


class SourceBlobInvalid(Exception):
    """Internal: a source blob could not be read, or failed verification, while streamed.

    ``refetch``: a registry's answer that did not verify (corrupt, short, broken off):
    the blob is fetched again, up to the registry's tries (:func:`_refetching`).
    """

    def __init__(self, message: str, *, refetch: bool = False) -> None:
        super().__init__(message)
        self.refetch = refetch


def _refetching(
    tries: int, attempt: Callable[[], IOResult[bool, ApplyError]]
) -> IOResult[bool, ApplyError]:
    """``attempt()``, again while a registry source fails verification (never kept)."""
    for _ in range(max(1, tries) - 1):
        try:
            return attempt()
        except SourceBlobInvalid as invalid:
            if not invalid.refetch:
                raise
    return attempt()


def _tries(env: Env) -> int:
    return env.registry.options.tries if env.registry is not None else 1


@frozen(kw_only=True)
class SourceBlobFailed(Fact):
    """A blob read from a copy's source failed (unreadable, or not the bytes it claims)."""

    reason: str

    template = "{reason}"


if TYPE_CHECKING:  # for annotations only, as ``ExtractError`` loads with pull plans
    ApplyError = (
        StoreError
        | WriteFailure
        | StagedBlobMissing
        | RegistryError
        | NoRegistryAccess
        | SourceBlobFailed
        | ExtractError
        | ForeignLayerError
        | ReferrersTagInvalid
        | MalformedDocument
    )


@frozen(kw_only=True)
class ApplyReport:
    """What apply did: one line per step performed, one per step skipped as already done."""

    performed: tuple[str, ...]
    skipped: tuple[str, ...]


@frozen(kw_only=True)
class Env:
    """What the interpreter needs from the outside world, passed in explicitly.

    ``layout`` opens (or creates) the OCI layout at a path; ``staging`` is the
    local store that holds blobs staged before planning; ``registry`` talks to
    registries (one client for the whole run); ``tarball`` opens an imgpkg
    tarball source and ``archive`` a tar of an OCI layout (each indexed once);
    ``foreign`` fetches non-distributable layers from their ``urls`` (without it,
    one is made from the registry client's options for each such layer).
    """

    layout: Callable[[str], IOResult[BlobStore, StoreError]]
    staging: BlobReader | None = None
    registry: RegistryClient | None = None
    tarball: Callable[[str], IOResult[BlobReader, StoreError]] | None = None
    cache: BlobStore | None = None
    archive: Callable[[str], IOResult[BlobReader, StoreError]] | None = None
    foreign: UrlFetcher | None = None


def _read_chunks(handle: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := handle.read(CHUNK_SIZE):
            yield chunk
    finally:
        handle.close()


def _widen(error: StoreError) -> ApplyError:
    return error


def _widen_write(error: WriteFailure) -> ApplyError:
    return error


def _widen_registry(error: RegistryError) -> ApplyError:
    return error


def _layout(env: Env, target: LayoutTarget) -> IOResult[BlobStore, ApplyError]:
    return env.layout(target.path).alt(_widen)


def _client(env: Env, target: RegistryTarget) -> IOResult[RegistryClient, ApplyError]:
    if env.registry is None:
        return IOFailure(NoRegistryAccess(target=str(target)))
    return IOSuccess(env.registry)


def _repository(target: RegistryTarget) -> Repository:
    return Repository(registry=target.registry, repository=target.repository)


def _from_registry(
    client: RegistryClient, source: RegistrySource, desc: Descriptor
) -> Callable[[], Iterable[bytes]]:
    repo = Repository(registry=source.registry, repository=source.repository)

    def reopen() -> Iterator[bytes]:
        opened = client.open_blob(repo, desc)
        if isinstance(opened, IOFailure):
            raise SourceBlobInvalid(unsafe_perform_io(opened.failure()).message)
        with unsafe_perform_io(opened.unwrap()) as stream:
            yield from stream
            verdict = stream.verdict()
            if isinstance(verdict, IOFailure):
                raise SourceBlobInvalid(unsafe_perform_io(verdict.failure()).message, refetch=True)

    return reopen


def _from_store(store: BlobReader, desc: Descriptor) -> Callable[[], Iterable[bytes]]:
    """Re-openable chunks of a stored blob; a read failure (a corrupt tarball entry, an
    I/O error) surfaces as ``SourceBlobInvalid`` naming the blob."""

    def reopen() -> Iterator[bytes]:
        opened = store.open(desc.digest)
        if isinstance(opened, IOFailure):
            raise SourceBlobInvalid(unsafe_perform_io(opened.failure()).message)
        try:
            yield from _read_chunks(unsafe_perform_io(opened.unwrap()))
        except OSError as exc:
            error = getattr(exc, "error", None)
            message = getattr(error, "message", None)
            raise SourceBlobInvalid(
                message if isinstance(message, str) else f"reading blob {desc.digest}: {exc}"
            ) from None

    return reopen


def _from_file(
    opener: Callable[[str], IOResult[BlobReader, StoreError]] | None,
    path: str,
    name: str,
    desc: Descriptor,
) -> IOResult[Callable[[], Iterable[bytes]], ApplyError]:
    """A blob of a tar source (an imgpkg tarball, an OCI archive), opened by the Env's hook."""
    if opener is None:
        return IOFailure(NoRegistryAccess(target=name))
    opened = opener(path)
    if isinstance(opened, IOFailure):
        return IOFailure(unsafe_perform_io(opened.failure()))
    return IOSuccess(_from_store(unsafe_perform_io(opened.unwrap()), desc))


def _widen_foreign(error: ForeignLayerError) -> ApplyError:
    return error


def _from_urls(
    env: Env, desc: Descriptor, urls: tuple[str, ...]
) -> IOResult[Callable[[], Iterable[bytes]], ApplyError]:
    """A non-distributable layer from the first of its ``urls`` that serves it (§5.8).

    The content is verified (size, digest) into a temporary file before it is
    used; the file goes away with the returned chunk source.
    """
    if env.foreign is not None:
        fetched = env.foreign.fetch(desc, urls)
    else:
        options = env.registry.options if env.registry is not None else RegistryOptions()
        with UrlFetcher(options) as fetcher:
            fetched = fetcher.fetch(desc, urls)
    return fetched.map(_chunk_source).alt(_widen_foreign)


def _chunk_source(blob: Callable[[], Iterable[bytes]]) -> Callable[[], Iterable[bytes]]:
    return blob


def _source(env: Env, step: PutBlob) -> IOResult[Callable[[], Iterable[bytes]], ApplyError]:
    """Where a blob's bytes come from: inline data, a source (a registry, a layout, a tar,
    a foreign layer's urls), or the staging store."""
    desc = step.descriptor
    if step.data is not None:
        data = step.data
        return IOSuccess(lambda: (data,))
    match step.source:
        case RegistrySource():
            if env.registry is None:
                return IOFailure(NoRegistryAccess(target=str(step.source)))
            return IOSuccess(_from_registry(env.registry, step.source, desc))
        case LayoutSource(path=path):
            layout = env.layout(path)
            if isinstance(layout, IOFailure):
                return IOFailure(unsafe_perform_io(layout.failure()))
            return IOSuccess(_from_store(unsafe_perform_io(layout.unwrap()), desc))
        case ArchiveSource(path=path):
            return _from_file(env.archive, path, str(step.source), desc)
        case TarballSource(path=path):
            return _from_file(env.tarball, path, str(step.source), desc)
        case UrlSource(urls=urls):
            return _from_urls(env, desc, urls)
        case None:
            pass
    staging = env.staging
    if staging is None or not unsafe_perform_io(staging.exists(desc.digest).value_or(False)):
        return IOFailure(StagedBlobMissing(descriptor=desc))

    def reopen() -> Iterable[bytes]:
        opened = staging.open(desc.digest)
        if isinstance(opened, IOFailure):
            raise OSError(unsafe_perform_io(opened.failure()).message)
        return _read_chunks(unsafe_perform_io(opened.unwrap()))

    return IOSuccess(reopen)


def _store_if_missing(
    store: BlobStore,
    desc: Descriptor,
    source: Callable[[], IOResult[Callable[[], Iterable[bytes]], ApplyError]],
    tries: int = 1,
) -> IOResult[bool, ApplyError]:
    """Put a blob into a local store unless it is there; whether it was put.

    The store's commit checks size and digest; a source that fails while
    streamed is ``SourceBlobFailed``.
    """
    if unsafe_perform_io(store.exists(desc.digest).value_or(False)):
        return IOSuccess(False)
    try:
        return _refetching(
            tries,
            lambda: source().bind(
                lambda chunks: (
                    store.put_stream(chunks(), desc.size, desc.digest)
                    .map(lambda _: True)
                    .alt(_widen)
                )
            ),
        )
    except SourceBlobInvalid as invalid:
        return IOFailure(SourceBlobFailed(reason=str(invalid)))


def _put_blob(env: Env, step: PutBlob) -> IOResult[bool, ApplyError]:
    desc = step.descriptor
    target = step.target
    match target:
        case LayoutTarget():
            return _layout(env, target).bind(
                lambda store: _store_if_missing(
                    store, desc, lambda: _source(env, step), _tries(env)
                )
            )
        case RegistryTarget():
            repo = _repository(target)

            def push(client: RegistryClient) -> IOResult[bool, ApplyError]:
                source = step.source
                mount = None
                if isinstance(source, RegistrySource) and source.registry == target.registry:
                    mount = Repository(registry=source.registry, repository=source.repository)
                # Whether the blob is there is asked by the upload's first request
                # (push_blob mounts it from the repository itself, blobs.py), once its
                # source is at hand.  Asked first, with a HEAD: when another repository
                # lends it (a mount), when the source is dear to open (a foreign layer's
                # urls are fetched to open them), or when it cannot be opened (a delta
                # tarball, a staging store may lack what the destination already has).
                opened: IOResult[Callable[[], Iterable[bytes]], ApplyError] | None = None
                if mount is None and not isinstance(source, UrlSource):
                    opened = _source(env, step)
                asks_first = opened is None or isinstance(opened, IOFailure)
                if asks_first:
                    exists = client.blob_exists(repo, desc.digest).alt(_widen_registry)
                    if isinstance(exists, IOFailure):
                        return exists.map(lambda _: False)
                    if unsafe_perform_io(exists.unwrap()) is not None:
                        return IOSuccess(False)
                    if opened is not None:
                        return opened.map(lambda _: False)  # the source's failure

                def attempt() -> IOResult[bool, ApplyError]:
                    nonlocal opened
                    chunks = opened if opened is not None else _source(env, step)
                    opened = None  # a retry opens the source anew
                    return chunks.bind(
                        lambda chunks: (
                            client.push_blob(repo, desc, chunks, mount, known_absent=asks_first)
                            .map(lambda pushed: pushed.mode != PushMode.EXISTED)
                            .alt(_widen_registry)
                        )
                    )

                try:
                    return _refetching(_tries(env), attempt)
                except SourceBlobInvalid as invalid:
                    return IOFailure(SourceBlobFailed(reason=str(invalid)))

            return _client(env, target).bind(push)
        case _:
            assert_never(target)


def _put_manifest(env: Env, step: PutManifest) -> IOResult[bool, ApplyError]:
    desc = step.descriptor
    target = step.target
    match target:
        case LayoutTarget():
            return _layout(env, target).bind(
                lambda store: _store_if_missing(store, desc, lambda: IOSuccess(lambda: (step.raw,)))
            )
        case RegistryTarget():
            repo = _repository(target)

            def push(client: RegistryClient) -> IOResult[bool, ApplyError]:
                found = client.head_manifest(repo.digest(desc.digest)).alt(_widen_registry)
                if isinstance(found, IOFailure):
                    return found.map(lambda _: False)
                if unsafe_perform_io(found.unwrap()) is not None:
                    return IOSuccess(False)
                return (
                    client.put_manifest(repo, desc.digest, step.raw, desc.media_type)
                    .map(lambda _: True)
                    .alt(_widen_registry)
                )

            return _client(env, target).bind(push)
        case _:
            assert_never(target)


def _put_referrers(env: Env, step: PutReferrers) -> IOResult[bool, ApplyError]:
    """The referrers of one subject, stored and findable (``imgpkg_pure.store.apply.referrers``)."""
    target = step.target
    match target:
        case LayoutTarget():
            return _layout(env, target).bind(
                lambda store: put_referrers_in_layout(store, str(target), step).alt(_widen_any)
            )
        case RegistryTarget():
            repo = _repository(target)
            return _client(env, target).bind(
                lambda client: put_referrers_in_registry(client, repo, step).alt(_widen_any)
            )
        case _:
            assert_never(target)


def _widen_any(error: ApplyError) -> ApplyError:
    return error


def _tag(
    env: Env,
    step: Tag,
    current: Descriptor | object | None = UNASKED,
    raw: tuple[bytes, str] | None = None,
) -> IOResult[bool, ApplyError]:
    """Point a tag at its manifest.  ``current``: where the tag was seen to point (the
    survey asked already); ``raw``: the manifest's bytes and media type from the plan
    (``PUT`` by tag without fetching them back)."""
    desc = step.descriptor
    target = step.target
    match target:
        case LayoutTarget():

            def point(store: BlobStore) -> IOResult[bool, ApplyError]:
                current = unsafe_perform_io(store.resolve(step.tag).value_or(None))
                if current is not None and current.digest == desc.digest:
                    return IOSuccess(False)
                return store.set_root(step.tag, desc).map(lambda _: True).alt(_widen)

            return _layout(env, target).bind(point)
        case RegistryTarget():
            repo = _repository(target)

            def tag(client: RegistryClient) -> IOResult[bool, ApplyError]:
                tagged = Reference(
                    registry=repo.registry, repository=repo.repository, tag=step.tag, digest=None
                )
                now = current
                if now is UNASKED:
                    asked = client.head_manifest(tagged).alt(_widen_registry)
                    if isinstance(asked, IOFailure):
                        return asked.map(lambda _: False)
                    now = unsafe_perform_io(asked.unwrap())
                if isinstance(now, Descriptor) and now.digest == desc.digest:
                    return IOSuccess(False)
                if raw is not None:
                    return (
                        client.put_manifest(repo, step.tag, raw[0], raw[1])
                        .map(lambda _: True)
                        .alt(_widen_registry)
                    )
                return (
                    client.get_manifest(repo.digest(desc.digest))
                    .bind(
                        lambda manifest: client.put_manifest(
                            repo, step.tag, manifest.raw, manifest.media_type
                        )
                    )
                    .map(lambda _: True)
                    .alt(_widen_registry)
                )

            return _client(env, target).bind(tag)
        case _:
            assert_never(target)


def run_step(env: Env, step: Step) -> IOResult[bool, ApplyError]:
    """Perform one step; ``True`` when something changed, ``False`` when it was already done."""
    match step:
        case PutBlob():
            return _put_blob(env, step)
        case PutManifest():
            return _put_manifest(env, step)
        case PutReferrers():
            return _put_referrers(env, step)
        case Tag():
            return _tag(env, step)
        case WriteLockFile(path=path, text=text):
            written = write_atomically(path, text.encode("utf-8"))
            return written.map(lambda _: True).alt(_widen_write)
        case ExtractImage():
            return _extract(env, step)
        case _:
            assert_never(step)


def _extract(env: Env, step: ExtractImage) -> IOResult[bool, ApplyError]:
    """Fetch the layers the cache lacks (verified), then extract them into the output."""
    cache = env.cache
    if cache is None:
        raise TypeError("an ExtractImage step needs Env.cache (the local cache store)")
    for layer in step.layers:
        fetch = PutBlob(target=LayoutTarget(path=""), descriptor=layer, source=step.source)
        stored = _store_if_missing(cache, layer, partial(_source, env, fetch))
        if isinstance(stored, IOFailure):
            return IOFailure(unsafe_perform_io(stored.failure()))
    from imgpkg_pure.store.apply.extract import extract_image  # noqa: PLC0415 (pull plans only)

    extracted = extract_image(
        step.layers, cache, Path(step.output), cwd=Path.cwd(), home=Path.home()
    )
    return extracted.map(lambda _: True).alt(_widen_extract)


def _widen_extract(error: ExtractError) -> ApplyError:
    return error


def _where(target: Target) -> str:
    return str(target)


def describe_step(step: Step) -> str:
    """One line naming what a step does (for reports and ``show``)."""
    match step:
        case PutBlob(target=t, descriptor=d):
            return f"blob {d.digest} ({d.size} bytes) -> {_where(t)}"
        case PutManifest(target=t, descriptor=d):
            return f"manifest {d.digest} -> {_where(t)}"
        case PutReferrers(target=t, subject=d, referrers=referrers):
            return f"{len(referrers)} referrers of {d.digest} -> {_where(t)}"
        case Tag(target=t, tag=tag, descriptor=d):
            return f"tag {_where(t)}:{tag} -> {d.digest}"
        case WriteLockFile(path=path):
            return f"lock file {path}"
        case ExtractImage(layers=layers, output=output):
            return f"extract {len(layers)} layers into {output}"
        case _:
            assert_never(step)


def apply_plan(
    plan: Plan,
    env: Env,
    concurrency: int = 1,
    on_step: Callable[[Step, bool], None] | None = None,
) -> IOResult[ApplyReport, ApplyError]:
    """Run the steps in plan order; stop at the first failure (a rerun resumes safely).

    Steps run in phases of independent steps, up to ``concurrency`` at a time, after
    a survey of the destination's tags that skips what is already there
    (``imgpkg_pure.store.apply.schedule``); a manifest is never written before its
    blobs, nor an index before its manifests.  ``on_step(step, changed)`` is called
    after each successful step, from the thread that ran it.
    """
    performed: list[str] = []
    skipped: list[str] = []
    workers = max(1, concurrency)
    steps = plan.steps

    with ThreadPoolExecutor(max_workers=workers) as pool:
        known = survey(steps, env.registry, pool if workers > 1 else None)

        def run(index: int) -> IOResult[bool, ApplyError]:
            step = steps[index]
            if index in known.done or index in known.stored_by:
                outcome: IOResult[bool, ApplyError] = IOSuccess(False)
            elif isinstance(step, Tag) and index in known.current:
                outcome = _tag(env, step, known.current[index], known.raw.get(index))
            else:
                outcome = run_step(env, step)
            if on_step is not None and not isinstance(outcome, IOFailure):
                if index in known.stored_by:
                    return outcome  # reported with the tag that stores it
                on_step(step, unsafe_perform_io(outcome.unwrap()))
                for stored in known.stores.get(index, ()):
                    on_step(steps[stored], True)
            return outcome

        for phase in phases(steps):
            if len(phase) == 1 or workers == 1:
                outcomes = [run(index) for index in phase]
            else:
                outcomes = list(pool.map(run, phase))
            for index, outcome in zip(phase, outcomes, strict=True):
                if isinstance(outcome, IOFailure):
                    return IOFailure(unsafe_perform_io(outcome.failure()))
                if index in known.stored_by:
                    continue  # reported with the tag that stores it
                changed = unsafe_perform_io(outcome.unwrap())
                (performed if changed else skipped).append(describe_step(steps[index]))
                for stored in known.stores.get(index, ()):
                    performed.append(describe_step(steps[stored]))
    return IOSuccess(ApplyReport(performed=tuple(performed), skipped=tuple(skipped)))
