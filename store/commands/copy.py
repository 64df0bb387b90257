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
each image's source whether it holds them (``_observe_foreign``), and those it
lacks are read from their descriptor's ``urls`` (``UrlSource`` in the plan;
``imgpkg_pure.store.registry.foreign`` for the tarball writer), verified before use.

Sources and destinations may also be OCI image layouts (``oci:DIR``) and tars
of one (``oci-archive:FILE``, ``imgpkg_pure.store.transports.oci_archive``): a source archive is
indexed once and read like a layout; a destination archive is assembled as a
layout in a temporary directory beside the file, then written as one
deterministic tar and renamed into place.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from attrs import evolve, frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure, Result, Success
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.bundle import BundleLock as BundleLockDoc
from imgpkg_pure.bundle import (
    ImageLocations,
    ImagesLock,
    parse_bundle_or_images_lock,
    parse_images_lock,
)
from imgpkg_pure.copy import (
    ARCHIVE_PREFIX,
    COSIGN_SUFFIXES,
    LAYOUT_REGISTRY,
    ArchiveDestination,
    BundleImages,
    CopyImage,
    CopyIndex,
    CopyItem,
    CopyNode,
    CopyRequest,
    CopySnapshot,
    cosign_tag,
    foreign_source,
    image_locations_text,
    node_digest,
    parse_copy_request,
    plan_copy,
    skipped_layers,
    snapshot_from_tar,
    source_root,
    tar_bundles,
    tar_manifest,
)
from imgpkg_pure.digest import Digest
from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.image_build import DOCKER_TYPES, BuiltImage, build_image
from imgpkg_pure.imgpkg_tar import TarIOFailure
from imgpkg_pure.layer import LayerOptions, plan_layer
from imgpkg_pure.media_types import DOCKER_LAYER_GZIP
from imgpkg_pure.oci.codec import parse_config, parse_manifest, parse_manifest_or_index
from imgpkg_pure.oci.values import Descriptor, ImageIndex, Manifest
from imgpkg_pure.plan.steps import LayoutSource, Plan, Precondition, RegistrySource, UrlSource
from imgpkg_pure.pull import PullRefused
from imgpkg_pure.push import UsageError
from imgpkg_pure.reference import Reference, Repository, parse_reference
from imgpkg_pure.store.apply.interpreter import Env
from imgpkg_pure.store.apply.interpreter import apply_plan as run_plan
from imgpkg_pure.store.commands.locations import fetch_locations
from imgpkg_pure.store.commands.options import CopyOptions
from imgpkg_pure.store.commands.planning import (
    blob_preconditions,
    observe_present,
    tag_precondition,
    write_plan,
)
from imgpkg_pure.store.commands.planning import dry_run as print_dry_run
from imgpkg_pure.store.content.blobstore import BlobReader, BlobStore, Ingest
from imgpkg_pure.store.content.errors import StoreError
from imgpkg_pure.store.content.staging import cache_store, open_layout, temporary_store
from imgpkg_pure.store.files.layer import build_layer
from imgpkg_pure.store.files.text import read_text_file
from imgpkg_pure.store.files.tree import observe_inputs
from imgpkg_pure.store.registry import ForeignBlob, RegistryClient, RegistryFailure, UrlFetcher
from imgpkg_pure.store.transports.imgpkg_tar import HasMessage, ImgpkgTarball, write_imgpkg_tar
from imgpkg_pure.store.transports.layout import LayoutReader, Sources
from imgpkg_pure.store.transports.oci_archive import OciArchive, write_oci_archive
from imgpkg_pure.store.ui.console import Ui
from imgpkg_pure.store.ui.progress import Progress

BlobSourceFn = Callable[[Descriptor], IOResult[Iterable[bytes], HasMessage]]


class _Failed(Exception):
    """Internal: carries an error value out of the recursive walk."""

    def __init__(self, error: object) -> None:
        super().__init__(error)
        self.error = error


_T = TypeVar("_T")


def _ok(result: IOResult[_T, Any]) -> _T:
    if isinstance(result, IOFailure):
        raise _Failed(unsafe_perform_io(result.failure()))
    return unsafe_perform_io(result.unwrap())


def _ok_pure(result: Result[_T, Any]) -> _T:
    if isinstance(result, Failure):
        raise _Failed(result.failure())
    return result.unwrap()


class _Walk:
    """Observe the copy sources into a ``CopySnapshot`` (imgpkg's bundle walk, §5.2)."""

    def __init__(self, client: Sources, staging: BlobStore, request: CopyRequest) -> None:
        self.client = client
        self.staging = staging
        self.request = request
        self.nodes: dict[str, tuple[CopyNode, bool]] = {}
        self.items: dict[str, CopyItem] = {}
        self.bundles: dict[Digest, BundleImages] = {}

    def node(self, reference: Reference) -> tuple[CopyNode, bool]:
        """The manifest or index at ``reference`` (children included) and whether it is a bundle."""
        key = str(reference)
        if key in self.nodes:
            return self.nodes[key]
        response = _ok(self.client.get_manifest(reference))
        raw, media_type, digest = response.raw, response.media_type, response.digest
        document = _ok_pure(parse_manifest_or_index(raw, f"manifest {reference}", media_type))
        source = reference.context().digest(digest)
        if isinstance(document, ImageIndex):
            children = tuple(
                self.node(source.context().digest(child.digest))[0] for child in document.manifests
            )
            found: tuple[CopyNode, bool] = (
                CopyIndex(source=source, index=document, children=children),
                False,
            )
        else:
            config_raw = bytearray()
            _ok(self.client.fetch_blob_to(source.context(), document.config, config_raw.extend))
            config = _ok_pure(parse_config(bytes(config_raw), f"config of {source}"))
            found = (
                CopyImage(source=source, manifest=document, config=config),
                config.is_bundle,
            )
        self.nodes[key] = found
        self.nodes[str(source)] = found
        return found

    def add(self, item: CopyItem) -> None:
        key = f"{item.node.source}:{item.tag or ''}"
        self.items.setdefault(key, item)

    def images_lock(self, bundle: CopyImage) -> ImagesLock:
        """A bundle's ``.imgpkg/images.yml``, read from its single layer (§5.2 step 1)."""
        layers = bundle.manifest.layers
        if len(layers) != 1:
            raise _Failed(
                PullRefused(
                    reason=f"Expected bundle to only have a single layer, got {len(layers)}"
                )
            )
        layer = layers[0]
        if layer.media_type != DOCKER_LAYER_GZIP:
            raise _Failed(
                PullRefused(
                    reason=f"Expected layer to have docker layer media type, was {layer.media_type}"
                )
            )
        if not unsafe_perform_io(self.staging.exists(layer.digest).value_or(False)):
            ingest = _ok(self.staging.ingest(layer.digest.algorithm))
            with ingest:
                _ok(self.client.fetch_blob_to(bundle.source.context(), layer, _writer(ingest)))
                _ok(ingest.commit(layer.size, layer.digest))
        return _read_images_lock(self.staging, bundle.manifest)

    def bundle(self, node: CopyImage, tag: str | None, orig_ref: str, root: bool) -> None:
        digest = node.manifest.digest
        self.add(
            CopyItem(node=node, tag=tag, orig_ref=orig_ref, is_bundle=True, is_root_bundle=root)
        )
        if digest in self.bundles:
            return
        lock = self.images_lock(node)
        locations = _ok(fetch_locations(self.client, node.source))
        assert locations is None or isinstance(locations, ImageLocations)
        entries: list[tuple[str, bool]] = []
        self.bundles[digest] = BundleImages(digest=digest, images=())
        for entry in lock.images:
            original = str(entry.image)
            assert entry.image.digest is not None
            candidates = [node.source.context().digest(entry.image.digest)]
            if str(candidates[0]) != original:
                candidates.append(entry.image)
            known = None if locations is None else locations.is_bundle(original)
            where = candidates[0] if known is False else self._first_existing(candidates)
            child, is_bundle = self.node(where)
            entries.append((original, is_bundle))
            if is_bundle and isinstance(child, CopyImage):
                self.bundle(child, None, original, root=False)
            else:
                self.add(
                    CopyItem(
                        node=child,
                        tag=None,
                        orig_ref=original,
                        is_bundle=False,
                        is_root_bundle=False,
                    )
                )
        self.bundles[digest] = BundleImages(digest=digest, images=tuple(entries))

    def _first_existing(self, candidates: list[Reference]) -> Reference:
        last: object = None
        for candidate in candidates:
            head = self.client.head_manifest(candidate)
            if isinstance(head, IOFailure):
                last = unsafe_perform_io(head.failure())
                continue
            if unsafe_perform_io(head.unwrap()) is not None:
                return candidate
        if last is None:
            last = PullRefused(reason=f"Checking image existence: {candidates[-1]} not found")
        raise _Failed(last)


def _check_bundle_layer(manifest: Manifest) -> Descriptor:
    layers = manifest.layers
    if len(layers) != 1:
        raise _Failed(
            PullRefused(reason=f"Expected bundle to only have a single layer, got {len(layers)}")
        )
    layer = layers[0]
    if layer.media_type != DOCKER_LAYER_GZIP:
        raise _Failed(
            PullRefused(
                reason=f"Expected layer to have docker layer media type, was {layer.media_type}"
            )
        )
    return layer


def _read_images_lock(blobs: BlobReader, manifest: Manifest) -> ImagesLock:
    """A bundle's ``.imgpkg/images.yml``, from its single layer held in ``blobs`` (§5.2)."""
    layer = _check_bundle_layer(manifest)
    handle = _ok(blobs.open(layer.digest))
    text = None
    try:
        with tarfile.open(fileobj=handle, mode="r|gz") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if os.path.dirname(name) == ".imgpkg" and os.path.basename(name) == "images.yml":
                    extracted = tar.extractfile(member)
                    text = extracted.read() if extracted is not None else None
                    break
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise _Failed(PullRefused(reason=f"Reading bundle layer {layer.digest}: {exc}")) from None
    finally:
        handle.close()
    if text is None:
        raise _Failed(PullRefused(reason="Expected to find .imgpkg/images.yml in bundle image"))
    where = f"ImagesLock from image with Digest '{manifest.digest}'"
    return _ok_pure(parse_images_lock(text, where))


def _writer(ingest: Ingest) -> Callable[[bytes], None]:
    def write(chunk: bytes) -> None:
        result = ingest.write(chunk)
        if isinstance(result, IOFailure):
            raise _Failed(unsafe_perform_io(result.failure()))

    return write


def _observe(walk: _Walk, request: CopyRequest) -> CopySnapshot:
    images_lock: ImagesLock | None = None
    if request.lock:
        text = _ok(read_text_file(request.lock))
        parsed = _ok_pure(parse_bundle_or_images_lock(text, request.lock))
        if isinstance(parsed, BundleLockDoc):
            node, is_bundle = walk.node(parsed.reference)
            if not is_bundle or not isinstance(node, CopyImage):
                raise _Failed(_NOT_A_BUNDLE)
            walk.bundle(node, parsed.tag, str(node.source), root=True)
        else:
            assert isinstance(parsed, ImagesLock)
            images_lock = parsed
            for entry in parsed.images:
                node, is_bundle = walk.node(entry.image)
                if is_bundle:
                    raise _Failed(
                        PullRefused(
                            reason="Unable to copy bundles using an Images Lock file "
                            "(hint: Create a bundle with these images)"
                        )
                    )
                walk.add(
                    CopyItem(
                        node=node, tag=None, orig_ref="", is_bundle=False, is_root_bundle=False
                    )
                )
    else:
        text = request.bundle or request.image or ""
        reference = source_root(request) or _ok_pure(parse_reference(text))
        node, is_bundle = walk.node(reference)
        user_tag = None if reference.digest is not None else (reference.tag or "latest")
        if request.bundle:
            if not is_bundle or not isinstance(node, CopyImage):
                raise _Failed(_NOT_A_BUNDLE)
            walk.bundle(node, user_tag, str(node.source), root=True)
        else:
            if is_bundle:
                raise _Failed(
                    PullRefused(
                        reason="Expected bundle flag when copying a bundle "
                        "(hint: Use -b instead of -i for bundles)"
                    )
                )
            walk.add(
                CopyItem(
                    node=node, tag=user_tag, orig_ref="", is_bundle=False, is_root_bundle=False
                )
            )
    if request.cosign_signatures:
        _add_signatures(walk)
    return CopySnapshot(
        items=tuple(walk.items.values()),
        bundles=tuple(walk.bundles.values()),
        images_lock=images_lock,
    )


def _add_signatures(walk: _Walk) -> None:
    """cosign artefacts beside every item (§5.4): ``.sig`` as imgpkg, plus ``.att``/``.sbom``.

    404 means none; 403 is ignored (imgpkg records it as access denied); any
    other error stops the copy.
    """
    for item in list(walk.items.values()):
        source = item.node.source
        digest = source.digest
        assert digest is not None
        for suffix in COSIGN_SUFFIXES:
            tag = cosign_tag(digest, suffix)
            where = Reference(
                registry=source.registry, repository=source.repository, tag=tag, digest=None
            )
            head = walk.client.head_manifest(where)
            if isinstance(head, IOFailure):
                error = unsafe_perform_io(head.failure())
                if isinstance(error, RegistryFailure) and error.status in (403, 404):
                    continue
                raise _Failed(error)
            found = unsafe_perform_io(head.unwrap())
            if found is None:
                continue
            node, _ = walk.node(source.context().digest(found.digest))
            walk.add(
                CopyItem(
                    node=node,
                    tag=tag,
                    orig_ref="",
                    is_bundle=False,
                    is_root_bundle=False,
                    is_signature=True,
                )
            )


_NOT_A_BUNDLE = PullRefused(
    reason="Expected bundle image but found plain image (hint: Did you use -i instead of -b?)"
)


def build_locations_image(bundle: BundleImages, staging: BlobStore) -> BuiltImage:
    """The locations image of a bundle, built as ``push -i`` of a directory holding only
    ``image-locations.yml`` (§2.5), its layer staged in ``staging``."""
    with tempfile.TemporaryDirectory(prefix="imgpkg-pure-locations-") as work:
        root = Path(work) / "locations"
        root.mkdir(mode=0o700)
        path = root / "image-locations.yml"
        path.write_text(image_locations_text(bundle), encoding="utf-8")
        path.chmod(0o600)
        inputs = _ok(observe_inputs([str(root)]))
        recipe = _ok_pure(plan_layer(inputs, LayerOptions(exclusions=())))
        layer = _ok(build_layer(recipe, inputs, staging))
    return build_image(layer.diff_id, layer.digest, layer.size, {}, DOCKER_TYPES)


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


def _from_tarball(request: CopyRequest) -> tuple[ImgpkgTarball, CopySnapshot]:
    """§5.10: the items and the bundle graph, from the tarball alone (no registry reads)."""
    tarball = _ok(ImgpkgTarball.at(Path(request.source_tar or "")))
    _ok_pure(tarball.check_layers(include_non_distributable=request.include_non_distributable))
    locks: list[tuple[Digest, ImagesLock]] = []
    for bundle in tar_bundles(tarball.manifest):
        manifest = _ok_pure(
            parse_manifest(bundle.manifest_raw, "bundle manifest", bundle.manifest_media_type)
        )
        locks.append((bundle.manifest_digest, _read_images_lock(tarball, manifest)))
    return tarball, _ok_pure(snapshot_from_tar(tarball.manifest, tuple(locks)))


def _observe_foreign(sources: Sources, snapshot: CopySnapshot) -> frozenset[Digest]:
    """The non-distributable layers their image's source does not hold (§5.8).

    Asked only with ``--include-non-distributable-layers``: a registry answers a
    ``HEAD`` on the blob, a layout looks for it.  Like ggcr, which tries the
    registry's blob endpoint before the layer's ``urls``, any failure to find it
    counts as not held.  Each layer is asked of the first image that lists it,
    the image whose source the plan reads it from.
    """
    absent: set[Digest] = set()
    asked: set[Digest] = set()
    for image, digests in skipped_layers(snapshot):
        for digest in digests:
            if digest in asked:
                continue
            asked.add(digest)
            if image.registry == LAYOUT_REGISTRY:
                held = _held(sources.head_manifest(image.context().digest(digest)))
            else:
                held = _held(sources.client.blob_exists(image.context(), digest))
            if not held:
                absent.add(digest)
    return frozenset(absent)


def _held(found: IOResult[object, object]) -> bool:
    return not isinstance(found, IOFailure) and unsafe_perform_io(found.unwrap()) is not None


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


def _to_tar(ui: Ui, request: CopyRequest, snapshot: CopySnapshot, fetch: BlobSourceFn) -> int:
    manifest = tar_manifest(snapshot, request.shown)
    if isinstance(manifest, Failure):
        return ui.fail(manifest.failure())
    ui.log("copy | writing layers...")
    written = write_imgpkg_tar(
        Path(request.to_tar or ""),
        manifest.unwrap(),
        fetch,
        include_non_distributable=request.include_non_distributable,
        resume=request.resume,
    )
    if isinstance(written, IOFailure):
        return ui.fail(unsafe_perform_io(written.failure()))
    report = unsafe_perform_io(written.unwrap())
    if report.reused:
        ui.log(f"copy | reused {len(report.reused)} layers from the tar already on disk")
    ui.log("copy | done: file 'manifest.json'")
    for digest in report.fetched:
        ui.log(f"copy | done: file '{digest.tag_form}.tar.gz'")
    _warn_skipped(ui, request, snapshot, destination_refs=False)
    ui.succeeded()
    return 0


def _archive_workspace(destination: ArchiveDestination) -> IOResult[Path, TarIOFailure]:
    """An empty directory beside the destination file, where its layout is assembled."""
    target = Path(destination.path)
    if target.is_dir():
        return IOFailure(
            TarIOFailure(tar=destination.path, operation="write it", reason="it is a directory")
        )
    try:
        made = tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".layout", dir=target.parent)
    except OSError as exc:
        return IOFailure(
            TarIOFailure(
                tar=destination.path,
                operation="create a temporary layout beside it",
                reason=exc.strerror or str(exc),
            )
        )
    return IOSuccess(Path(made))


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
    walk = _Walk(sources, staging, request)
    try:
        if request.source_tar is not None:
            tarball, snapshot = _from_tarball(request)
        else:
            snapshot = _observe(walk, request)
            if request.include_non_distributable:
                absent = _observe_foreign(sources, snapshot)
                snapshot = evolve(snapshot, foreign_absent=absent)
        if request.to_tar is None:
            built = tuple(
                (bundle.digest, build_locations_image(bundle, staging))
                for bundle in snapshot.bundles
            )
    except _Failed as failed:
        return ui.fail(failed.error)
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
            foreign=foreign,
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
) -> int:
    """Write what was observed to the destination: a tarball, a repository, a layout."""
    if request.to_tar is not None:
        return _to_tar(ui, request, snapshot, _blob_sources(snapshot, sources, layout, foreign))
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
        code = _import(ui, request, snapshot, built, env, archive_layout=None, mode=mode)
    else:
        code = _import_to_archive(ui, request, snapshot, built, env, destination=destination)
    if code == 0:
        ui.succeeded()
    return code


def _import_to_archive(
    ui: Ui,
    request: CopyRequest,
    snapshot: CopySnapshot,
    built: tuple[tuple[Digest, BuiltImage], ...],
    env: Env,
    *,
    destination: ArchiveDestination,
) -> int:
    """Copy into a layout assembled beside the destination file, then tar it into place."""
    workspace = _archive_workspace(destination)
    if isinstance(workspace, IOFailure):
        return ui.fail(unsafe_perform_io(workspace.failure()))
    assembled = unsafe_perform_io(workspace.unwrap())
    try:
        code = _import(ui, request, snapshot, built, env, archive_layout=str(assembled))
        if code != 0:
            return code
        ui.log(f"copy | writing {destination}")
        written = write_oci_archive(assembled, Path(destination.path))
        if isinstance(written, IOFailure):
            return ui.fail(unsafe_perform_io(written.failure()))
        return 0
    finally:
        shutil.rmtree(assembled, ignore_errors=True)


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
) -> int:
    """Plan the copy into its destination and run the plan; the exit code."""
    planned = plan_copy(request, snapshot, built, archive_layout=archive_layout)
    if isinstance(planned, Failure):
        return ui.fail(planned.failure())
    plan = planned.unwrap()
    if mode is not None and (mode.dry_run or mode.out is not None):
        plan = evolve(plan, preconditions=_preconditions(request, snapshot, plan))
        plan = observe_present(plan, env.registry)
        if mode.out is not None:
            return write_plan(ui, mode.out, plan)
        return print_dry_run(ui, plan)
    ui.log(f"copy | importing {len(snapshot.items)} images...")
    progress = Progress(
        plan, prefix="copy | ", enabled=None if ui.tty and not ui.json_mode else False
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
    )
    if isinstance(request, Failure):
        return ui.fail(request.failure())
    opened = RegistryClient.open(options.registry)
    if isinstance(opened, IOFailure):
        return ui.fail(unsafe_perform_io(opened.failure()))
    checked = request.unwrap()
    plan_out, dry_run = options.plan_out, options.dry_run
    if (dry_run or plan_out) and (
        checked.to_tar is not None or isinstance(checked.destination, ArchiveDestination)
    ):
        return ui.fail(
            UsageError(
                reason="--dry-run and plan files are available for --to-repo REPO and "
                "--to-repo oci:DIR destinations"
            ),
        )
    mode = PlanMode(out=plan_out, dry_run=dry_run)
    with unsafe_perform_io(opened.unwrap()) as client:
        if plan_out is not None:
            cache = cache_store()
            if isinstance(cache, IOFailure):
                return ui.fail(unsafe_perform_io(cache.failure()))
            return _run(ui, checked, client, unsafe_perform_io(cache.unwrap()), mode)
        with temporary_store() as staging:
            return _run(ui, checked, client, staging, mode)


__all__ = ["MalformedDocument", "node_digest", "run_copy"]
