"""``pull``: an image or bundle from a registry into a directory (reference §4).

observe (manifest, config) → decide (pure, §4.1) → download the layers into a
temporary staging store, verified → extract (``imgpkg_pure.store.apply.extract``: safe paths,
OCI whiteouts, atomic replacement of the output) → for a bundle, the
relocation check and the rewrite of ``.imgpkg/images.yml`` (pure decisions in
``imgpkg_pure.pull``), and with ``-r`` the nested bundles into
``.imgpkg/bundles/sha256-<hex>/``.

Why this module is longer than ~600 lines: the stages share one run (client, staging
store, UI, what was already pulled) and imgpkg's error context, and the order of their
refusals is imgpkg's (source checked before the output is touched, §4); split apart,
each piece would pass the same half-dozen values back and forth.  The decisions
themselves are pure and live in ``imgpkg_pure.pull``.
"""

from __future__ import annotations

import io
import platform as host
from pathlib import Path
from typing import BinaryIO, cast

from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure, Result
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.bundle import (
    ImageLocations,
    ImagesLock,
    encode_images_lock,
    parse_bundle_lock,
    parse_images_lock,
    relocate_images_lock,
)
from imgpkg_pure.copy import select_lock
from imgpkg_pure.digest import Digest
from imgpkg_pure.errors import DigestMismatch, MalformedDocument, SizeMismatch
from imgpkg_pure.layer import bundle_lock_layer
from imgpkg_pure.oci.values import Descriptor, ImageIndex, Manifest
from imgpkg_pure.plan.steps import (
    BlobAvailable,
    ExtractImage,
    Plan,
    Precondition,
    RegistrySource,
    Step,
    TagPointsTo,
    WriteLockFile,
)
from imgpkg_pure.platform import host_platform
from imgpkg_pure.pull import (
    PullRefused,
    PullRequest,
    choose_child,
    decide,
    lock_update_message,
    nested_bundle_dir,
    parse_pull_request,
    primary_location,
    relocated_lock,
    relocation_candidates,
)
from imgpkg_pure.push import UsageError
from imgpkg_pure.reference import Reference
from imgpkg_pure.store.apply.extract import ExtractError, extract_image, resolve_output
from imgpkg_pure.store.apply.layer_reader import READ_ERRORS, ChunksReader, open_layer_archive
from imgpkg_pure.store.commands.locations import LocationsImageInvalid, fetch_bundle_locations
from imgpkg_pure.store.commands.mirroring import cache_location, open_client
from imgpkg_pure.store.commands.observing import Observed, observe
from imgpkg_pure.store.commands.options import PullOptions
from imgpkg_pure.store.commands.planning import dry_run as print_dry_run
from imgpkg_pure.store.commands.planning import write_plan
from imgpkg_pure.store.content.atomic import WriteFailure, write_atomically
from imgpkg_pure.store.content.blobstore import CHUNK_SIZE, BlobStore
from imgpkg_pure.store.content.errors import BlobNotFound, StoreError
from imgpkg_pure.store.content.staging import cache_store, temporary_store
from imgpkg_pure.store.files.text import read_text_file
from imgpkg_pure.store.registry import (
    BlobStreamIncomplete,
    RegistryClient,
    RegistryError,
    RegistryFailure,
    VerifiedStream,
)
from imgpkg_pure.store.ui.console import Ui

PullError = (
    UsageError
    | PullRefused
    | RegistryError
    | StoreError
    | ExtractError
    | WriteFailure
    | MalformedDocument
    | LocationsImageInvalid
)


def _io(result: Result[object, PullError]) -> IOResult[object, PullError]:
    return IOResult.from_result(result)


class _Pull:
    """One pull run: the client, the staging store, the UI, and what was already pulled."""

    def __init__(
        self, ui: Ui, client: RegistryClient, staging: BlobStore, request: PullRequest
    ) -> None:
        self.ui = ui
        self.client = client
        self.staging = staging
        self.request = request
        self.seen: set[str] = set()
        self.printed_nested_header = False

    # -- observing ---------------------------------------------------------------------

    def observe(self, reference: Reference) -> IOResult[Observed, PullError]:
        return observe(self.client, reference)

    # -- downloading and extracting ---------------------------------------------------

    def _download(self, reference: Reference, layer: Descriptor) -> IOResult[None, PullError]:
        if unsafe_perform_io(self.staging.exists(layer.digest).value_or(False)):
            return IOSuccess(None)
        opened = self.client.open_blob(reference.context(), layer)
        if isinstance(opened, IOFailure):
            return IOFailure(unsafe_perform_io(opened.failure()))
        ingest_opened = self.staging.ingest(layer.digest.algorithm)
        if isinstance(ingest_opened, IOFailure):
            return IOFailure(unsafe_perform_io(ingest_opened.failure()))
        with (
            unsafe_perform_io(opened.unwrap()) as stream,
            unsafe_perform_io(ingest_opened.unwrap()) as ingest,
        ):
            for chunk in stream:
                written = ingest.write(chunk)
                if isinstance(written, IOFailure):
                    return IOFailure(unsafe_perform_io(written.failure()))
            verdict = stream.verdict()
            if isinstance(verdict, IOFailure):
                return IOFailure(unsafe_perform_io(verdict.failure()))
            committed = ingest.commit(layer.size, layer.digest)
            if isinstance(committed, IOFailure):
                return IOFailure(unsafe_perform_io(committed.failure()))
        return IOSuccess(None)

    def extract(self, observed: Observed, output: Path, indent: str) -> IOResult[None, PullError]:
        """Extract the image's layers into ``output``, each streamed from the registry
        straight into the extraction (verified as it is read; one pass, no staged copy).

        What the user sees is what downloading every layer first, then extracting,
        shows: the ``Extracting layer`` lines are held until every layer was read and
        verified; a layer the registry served wrong is reported as its download's
        error, before any line; an extraction error comes after the lines of the
        layers up to the one that failed, once the layers after it were checked too.
        """
        document = observed.document
        assert isinstance(document, Manifest)
        lines: list[str] = []

        def log_layer(n: int, total: int, descriptor: Descriptor) -> None:
            lines.append(f"{indent}Extracting layer '{descriptor.digest}' ({n}/{total})")

        tries, attempt = self.client.options.tries, 1
        while True:
            lines.clear()
            source = _StreamedLayers(self.client, self.staging, observed.reference)
            source.expect(document.layers)
            extracted = extract_image(
                document.layers,
                source,
                output,
                cwd=Path.cwd(),
                home=Path.home(),
                on_layer=log_layer,
            )
            served = source.failure(document.layers) if isinstance(extracted, IOFailure) else None
            # A layer served corrupt (or short) is fetched again with the whole extraction: a
            # failed one leaves nothing behind (issue 11).
            if not (isinstance(served, DigestMismatch | SizeMismatch) and attempt < tries):
                break
            attempt += 1
        if isinstance(extracted, IOFailure):
            error = unsafe_perform_io(extracted.failure())
            if served is not None:
                return IOFailure(served)
            for layer in document.layers[len(lines) :]:
                downloaded = self._download(observed.reference, layer)
                if isinstance(downloaded, IOFailure):
                    return downloaded
            for line in lines:
                self.ui.log(line)
            return IOFailure(error)
        for line in lines:
            self.ui.log(line)
        report = unsafe_perform_io(extracted.unwrap())
        for skipped in report.skipped:
            self.ui.log(f"{indent}Warning: {skipped.message}")
        for warning in report.warnings:
            self.ui.log(f"{indent}Warning: {warning}")
        return IOSuccess(None)

    # -- bundles -------------------------------------------------------------------------

    def bundle(
        self, observed: Observed, output: Path, root: Path, indent: str, label: str
    ) -> IOResult[bool, PullError]:
        """Pull one bundle into ``output``; whether its images were found relocated."""
        self.ui.log(f"{indent}{label} '{observed.reference}'")
        extracted = self.extract(observed, output, indent + "  ")
        if isinstance(extracted, IOFailure):
            return IOFailure(unsafe_perform_io(extracted.failure()))
        images_yml = output / ".imgpkg" / "images.yml"
        text = read_text_file(str(images_yml))
        if isinstance(text, IOFailure):
            return IOFailure(unsafe_perform_io(text.failure()))
        parsed = parse_images_lock(unsafe_perform_io(text.unwrap()), str(images_yml))
        if isinstance(parsed, Failure):
            return IOFailure(parsed.failure())
        lock = parsed.unwrap()
        checked = relocation_check(self.client, observed.reference, lock)
        if isinstance(checked, IOFailure):
            return IOFailure(unsafe_perform_io(checked.failure()))
        rewritten, locations = unsafe_perform_io(checked.unwrap())
        relocated = rewritten is not None
        if self.request.recursive:
            nested = self.nested(
                lock=lock,
                locations=locations,
                parent=observed,
                relocated=relocated,
                root=root,
                indent=indent,
            )
            if isinstance(nested, IOFailure):
                return nested
        if rewritten is not None:
            written = write_atomically(str(images_yml), encode_images_lock(rewritten).encode())
            if isinstance(written, IOFailure):
                return IOFailure(unsafe_perform_io(written.failure()))
        return IOSuccess(relocated)

    def nested(
        self,
        *,
        lock: ImagesLock,
        locations: ImageLocations | None,
        parent: Observed,
        relocated: bool,
        root: Path,
        indent: str,
    ) -> IOResult[bool, PullError]:
        repository = parent.reference.context()
        for entry in lock.images:
            original = str(entry.image)
            known = None if locations is None else locations.is_bundle(original)
            if known is False:
                continue
            where = primary_location(entry.image, repository, relocated)
            observed = self.observe(where)
            if isinstance(observed, IOFailure):
                return IOFailure(unsafe_perform_io(observed.failure()))
            child = unsafe_perform_io(observed.unwrap())
            if not child.is_bundle:
                continue
            if not self.printed_nested_header:
                self.ui.log("")
                self.ui.log("Nested bundles")
                self.printed_nested_header = True
            inner = indent + "  "
            if original in self.seen:
                self.ui.log(f"{inner}Pulling nested bundle '{where}'")
                self.ui.log(f"{inner}  Skipped, already downloaded")
                continue
            self.seen.add(original)
            assert child.reference.digest is not None
            target = root / nested_bundle_dir(child.reference.digest)
            pulled = self.bundle(child, target, root, inner, "Pulling nested bundle")
            if isinstance(pulled, IOFailure):
                return pulled
        return IOSuccess(True)


class _StreamReader(ChunksReader):
    """A registry blob stream (a :class:`VerifiedStream`) as a readable file."""

    def __init__(self, stream: VerifiedStream) -> None:
        super().__init__(iter(stream))
        self._stream = stream

    def close(self) -> None:
        self._stream.close()
        super().close()


class _VerifyingReader(io.BufferedReader):
    """A registry stream, buffered; the extraction counts it and leaves the digest to
    the stream (which holds back the last chunk of a blob that does not match)."""

    verifies_itself = True


class _StreamedLayers:
    """The layers of one image for ``extract_image``: from the staging store when it
    holds them, else streamed from the registry (each stream kept for its verdict)."""

    def __init__(self, client: RegistryClient, staging: BlobStore, reference: Reference) -> None:
        self._client = client
        self._staging = staging
        self._reference = reference
        self._streams: dict[Digest, VerifiedStream] = {}
        self._layers: dict[Digest, Descriptor] = {}
        self._refused: dict[Digest, RegistryError] = {}

    def open(self, digest: Digest) -> IOResult[BinaryIO, StoreError]:
        if unsafe_perform_io(self._staging.exists(digest).value_or(False)):
            return self._staging.open(digest)
        descriptor = self._layers[digest]
        opened = self._client.open_blob(self._reference.context(), descriptor)
        if isinstance(opened, IOFailure):
            self._refused[digest] = unsafe_perform_io(opened.failure())
            return IOFailure(BlobNotFound(digest=digest))
        stream = unsafe_perform_io(opened.unwrap())
        self._streams[digest] = stream
        return IOSuccess(cast(BinaryIO, _VerifyingReader(_StreamReader(stream), CHUNK_SIZE)))

    def failure(self, layers: tuple[Descriptor, ...]) -> RegistryError | None:
        """The first layer the registry served wrong (size, digest, a broken read), if any."""
        for layer in layers:
            refused = self._refused.get(layer.digest)
            if refused is not None:
                return refused
            stream = self._streams.get(layer.digest)
            if stream is None:
                continue
            verdict = stream.verdict()
            if isinstance(verdict, IOFailure):
                error: RegistryError = unsafe_perform_io(verdict.failure())
                if not isinstance(error, BlobStreamIncomplete):
                    return error
        return None

    def expect(self, layers: tuple[Descriptor, ...]) -> None:
        for layer in layers:
            self._layers[layer.digest] = layer


def _platform_child(pull: _Pull, observed: Observed) -> IOResult[Observed, PullError]:
    """``pull -i`` of an index: the child for ``--platform`` (default: this machine's,
    Go's names: ``x86_64`` is ``amd64``, ``aarch64`` ``arm64``), nested indexes followed."""
    specs = pull.request.platforms or (host_platform(host.system(), host.machine()),)
    seen: set[str] = set()
    while isinstance(observed.document, ImageIndex) and str(observed.reference) not in seen:
        seen.add(str(observed.reference))
        chosen = choose_child(observed.document, str(observed.reference), specs)
        if isinstance(chosen, Failure):
            return IOFailure(chosen.failure())
        child, spec = chosen.unwrap()
        pull.ui.log(f"Selected platform {spec} of index '{observed.reference}'")
        found = pull.observe(observed.reference.context().digest(child.digest))
        if isinstance(found, IOFailure):
            return found
        observed = unsafe_perform_io(found.unwrap())
    return IOSuccess(observed)


def _reference_of(request: PullRequest) -> IOResult[Reference, PullError]:
    if request.reference is not None:
        return IOSuccess(request.reference)
    path = request.lock_path or ""
    text = read_text_file(path)
    if isinstance(text, IOFailure):
        return IOFailure(unsafe_perform_io(text.failure()))
    parsed = parse_bundle_lock(unsafe_perform_io(text.unwrap()), path)
    if isinstance(parsed, Failure):
        return IOFailure(parsed.failure())
    return IOSuccess(parsed.unwrap().reference)


def relocation_check(
    client: RegistryClient, bundle: Reference, lock: ImagesLock
) -> IOResult[tuple[ImagesLock | None, ImageLocations | None], PullError]:
    """§4.3 step 3-4: the bundle's locations image, else each image looked up next to the
    bundle; the rewritten ImagesLock when the bundle counts as relocated (else None)."""
    located = fetch_bundle_locations(client, bundle)
    if isinstance(located, IOFailure):
        return IOFailure(unsafe_perform_io(located.failure()))
    found_locations = unsafe_perform_io(located.unwrap())
    locations = None if found_locations is None else found_locations.locations
    selection = None if found_locations is None else found_locations.selection
    repository = bundle.context()
    found: list[bool] = []
    if locations is None:
        for candidate in relocation_candidates(lock, repository):
            head = client.head_manifest(candidate)
            if isinstance(head, IOFailure):
                error = unsafe_perform_io(head.failure())
                if isinstance(error, RegistryFailure) and error.status in (401, 403, 404):
                    found.append(False)
                    continue
                return IOFailure(error)
            found.append(unsafe_perform_io(head.unwrap()) is not None)
    rewritten = relocated_lock(
        lock, repository, has_locations_image=locations is not None, found=tuple(found)
    )
    if rewritten is not None and selection is not None:
        # ``copy --platform`` copied a child (or a narrowed index) in an index's place:
        # the pulled images.yml names what is there (docs/formats/referrers-and-platforms.md)
        rewritten = relocate_images_lock(select_lock(lock, selection), repository)
    return IOSuccess((rewritten, locations))


def _relocation(
    pull: _Pull, observed: Observed
) -> IOResult[tuple[ImagesLock, ImagesLock | None, ImageLocations | None], PullError]:
    """A bundle's ImagesLock (read from its layer, fetched into the staging store), its
    rewrite when its images are next to it (§4.3), and its locations image."""
    document = observed.document
    assert isinstance(document, Manifest)
    for layer in document.layers:
        downloaded = pull._download(observed.reference, layer)
        if isinstance(downloaded, IOFailure):
            return IOFailure(unsafe_perform_io(downloaded.failure()))
    read = _images_lock_from(pull.staging, document)
    if isinstance(read, Failure):
        return IOFailure(read.failure())
    lock = read.unwrap()
    return relocation_check(pull.client, observed.reference, lock).map(
        lambda checked: (lock, checked[0], checked[1])
    )


def _plan_pull(
    pull: _Pull, observed: Observed, action: str, output: str
) -> IOResult[Plan, PullError]:
    """The pull as a plan: extract steps (the root, then nested bundles with ``-r``), then
    the rewrites of relocated bundles' ``images.yml`` (§4.3, §4.4)."""
    extracts: list[Step] = []
    rewrites: list[Step] = []
    layers: list[tuple[Reference, Descriptor]] = []

    def visit(node: Observed, out: str) -> IOResult[None, PullError]:
        document = node.document
        assert isinstance(document, Manifest)
        source = RegistrySource(
            registry=node.reference.registry, repository=node.reference.repository
        )
        extracts.append(ExtractImage(source=source, layers=document.layers, output=out))
        layers.extend((node.reference, layer) for layer in document.layers)
        if action == "image":
            return IOSuccess(None)
        relocation = _relocation(pull, node)
        if isinstance(relocation, IOFailure):
            return IOFailure(unsafe_perform_io(relocation.failure()))
        lock, rewritten, locations = unsafe_perform_io(relocation.unwrap())
        if rewritten is not None:
            rewrites.append(
                WriteLockFile(path=f"{out}/.imgpkg/images.yml", text=encode_images_lock(rewritten))
            )
        if not pull.request.recursive:
            return IOSuccess(None)
        for entry in lock.images:
            original = str(entry.image)
            if original in pull.seen:
                continue
            known = None if locations is None else locations.is_bundle(original)
            if known is False:
                continue
            where = primary_location(entry.image, node.reference.context(), rewritten is not None)
            child = pull.observe(where)
            if isinstance(child, IOFailure):
                return IOFailure(unsafe_perform_io(child.failure()))
            nested = unsafe_perform_io(child.unwrap())
            if not nested.is_bundle:
                continue
            pull.seen.add(original)
            assert nested.reference.digest is not None
            done = visit(nested, f"{output}/{nested_bundle_dir(nested.reference.digest)}")
            if isinstance(done, IOFailure):
                return done
        return IOSuccess(None)

    pull.seen.add(str(observed.reference))
    visited = visit(observed, output)
    if isinstance(visited, IOFailure):
        return IOFailure(unsafe_perform_io(visited.failure()))
    preconditions: list[Precondition] = []
    reference = pull.request.reference
    if reference is not None and reference.digest is None and reference.tag is not None:
        assert observed.reference.digest is not None
        preconditions.append(
            TagPointsTo(
                registry=reference.registry,
                repository=reference.repository,
                tag=reference.tag,
                digest=observed.reference.digest,
            )
        )
    for ref, layer in layers:
        source = RegistrySource(registry=ref.registry, repository=ref.repository)
        preconditions.append(BlobAvailable(source=source, digest=layer.digest))
    return IOSuccess(
        Plan(
            command=f"pull -{action[0]} {observed.reference} -o {output}",
            steps=(*extracts, *rewrites),
            result_name=output,
            preconditions=tuple(dict.fromkeys(preconditions)),
        )
    )


def _images_lock_from(staging: BlobStore, manifest: Manifest) -> Result[ImagesLock, object]:
    """A bundle's images.yml read from its (staged) single layer, of any compression, or
    from the first of several (``push --layering=auto``)."""
    layer = bundle_lock_layer(manifest.layers)
    if layer is None:
        return Failure(
            PullRefused(
                reason=f"Expected bundle to only have a single layer, got {len(manifest.layers)}"
            )
        )
    opened = staging.open(layer.digest)
    if isinstance(opened, IOFailure):
        return Failure(unsafe_perform_io(opened.failure()))
    handle = unsafe_perform_io(opened.unwrap())
    try:
        archive = open_layer_archive(handle, layer.media_type)
        if archive is not None:
            with archive:
                for member in archive:
                    name = member.name.removeprefix("./")
                    if name == ".imgpkg/images.yml":
                        extracted = archive.extractfile(member)
                        if extracted is not None:
                            return parse_images_lock(extracted.read(), name).alt(lambda e: e)
    except READ_ERRORS as exc:
        return Failure(PullRefused(reason=f"Reading bundle layer {layer.digest}: {exc}"))
    finally:
        handle.close()
    return Failure(PullRefused(reason="Expected to find .imgpkg/images.yml in bundle image"))


def _run(
    ui: Ui,
    request: PullRequest,
    client: RegistryClient,
    staging: BlobStore,
    *,
    dry_run: bool = False,
    plan_out: str | None = None,
) -> int:
    pull = _Pull(ui, client, staging, request)
    reference = _reference_of(request)
    if isinstance(reference, IOFailure):
        return ui.fail(unsafe_perform_io(reference.failure()))
    # As imgpkg: the source is looked at first, so a missing image is reported as such
    # even when the output is unusable; the output is still refused before anything is written.
    observed_io = pull.observe(unsafe_perform_io(reference.unwrap()))
    if isinstance(observed_io, IOFailure):
        return ui.fail(unsafe_perform_io(observed_io.failure()), "Fetching image")
    checked = resolve_output(Path(request.output), cwd=Path.cwd(), home=Path.home())
    if isinstance(checked, IOFailure):
        return ui.fail(unsafe_perform_io(checked.failure()))
    observed = unsafe_perform_io(observed_io.unwrap())
    if request.source == "image" and isinstance(observed.document, ImageIndex):
        picked = _platform_child(pull, observed)
        if isinstance(picked, IOFailure):
            return ui.fail(unsafe_perform_io(picked.failure()))
        observed = unsafe_perform_io(picked.unwrap())
    action = decide(
        request.source,
        isinstance(observed.document, Manifest),
        observed.is_bundle,
        request.image_is_bundle_check,
    )
    if isinstance(action, Failure):
        return ui.fail(action.failure())
    output = Path(request.output)
    if dry_run or plan_out is not None:
        planned = _plan_pull(pull, observed, action.unwrap(), request.output)
        if isinstance(planned, IOFailure):
            return ui.fail(unsafe_perform_io(planned.failure()))
        plan = unsafe_perform_io(planned.unwrap())
        if plan_out is not None:
            return write_plan(ui, plan_out, plan)
        return print_dry_run(ui, plan)
    if action.unwrap() == "image":
        ui.log(f"Pulling image '{observed.reference}'")
        done = pull.extract(observed, output, "")
        if isinstance(done, IOFailure):
            return ui.fail(unsafe_perform_io(done.failure()))
        ui.succeeded()
        return 0
    pull.seen.add(str(observed.reference))
    relocated = pull.bundle(observed, output, output, "", "Pulling bundle")
    if isinstance(relocated, IOFailure):
        return ui.fail(unsafe_perform_io(relocated.failure()))
    ui.log("")
    ui.log("Locating image lock file images...")
    ui.log(lock_update_message(observed.reference.context(), unsafe_perform_io(relocated.unwrap())))
    ui.succeeded()
    return 0


def run_pull(options: PullOptions, ui: Ui) -> int:
    """The pull command; returns the exit code."""
    request = parse_pull_request(
        image=options.image,
        bundle=options.bundle,
        lock=options.lock,
        output=options.output,
        recursive=options.recursive,
        image_is_bundle_check=options.image_is_bundle_check,
        platforms=options.platforms,
    )
    if isinstance(request, Failure):
        return ui.fail(request.failure())
    opened = open_client(options.registry, options.cache, ui, offline=options.offline)
    if isinstance(opened, IOFailure):
        return ui.fail(unsafe_perform_io(opened.failure()))
    with unsafe_perform_io(opened.unwrap()) as client, temporary_store() as staging:
        if options.plan_out is not None:
            cache = cache_store(cache_location(options.cache.cache_dir))
            if isinstance(cache, IOFailure):
                return ui.fail(unsafe_perform_io(cache.failure()))
            staged = unsafe_perform_io(cache.unwrap())
            return _run(ui, request.unwrap(), client, staged, plan_out=options.plan_out)
        return _run(ui, request.unwrap(), client, staging, dry_run=options.dry_run)


__all__ = ["run_pull"]
