"""What ``copy`` reads before it plans: the bundle graph walked as imgpkg walks it (§5.2).

Every manifest, index child and config of the sources (registries, OCI
layouts, OCI archives) is fetched once; each bundle's ``.imgpkg/images.yml``
is read from its layer, its images found next to it or where the lock says,
nested bundles recursed into; cosign signatures and non-distributable layers
are looked up on request.  The result is a ``CopySnapshot`` for the planner
(``imgpkg_pure.copy``).  Failures leave the walk as :class:`WalkFailed`,
carrying imgpkg's context (``Reading Images from Bundle``).

Why this module is longer than ~600 lines: the walk's order is imgpkg's (§5.2) and its
fetches run concurrently into one cache that is then visited in lock order; the walk,
its local-store shortcut, the referrers and the cosign lookups share that cache, the
first-error rule and the leases, and are read together to see that the order holds.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import evolve
from returns.io import IOFailure, IOResult
from returns.result import Failure, Result
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.copy import (
    COSIGN_SUFFIXES,
    LAYOUT_REGISTRY,
    PLATFORM_SELECTION_FILE,
    BundleImages,
    CopyImage,
    CopyIndex,
    CopyItem,
    CopyNode,
    CopyRequest,
    CopySnapshot,
    PlatformSelection,
    cosign_tag,
    encode_platform_selection,
    image_locations_text,
    narrow_snapshot,
    skipped_layers,
    source_root,
)
from imgpkg_pure.copy.platforms import with_bundle_selections
from imgpkg_pure.copy.snapshot import merge_items, node_digest
from imgpkg_pure.copy.snapshot import walk as walk_nodes
from imgpkg_pure.digest import Digest
from imgpkg_pure.image_build import DOCKER_TYPES, BuiltImage, build_image
from imgpkg_pure.media_types import DOCKER_LAYER_GZIP
from imgpkg_pure.oci.codec import parse_config, parse_manifest, parse_manifest_or_index
from imgpkg_pure.oci.values import Descriptor, ImageIndex, Manifest
from imgpkg_pure.platform import matches_any
from imgpkg_pure.pull import PullRefused
from imgpkg_pure.reference import Reference, parse_reference
from imgpkg_pure.store.commands.locations import fetch_bundle_locations
from imgpkg_pure.store.commands.referrers import ReferrerFinder, is_referrer
from imgpkg_pure.store.content.blobstore import BlobReader, BlobStore, Ingest
from imgpkg_pure.store.files.text import read_text_file
from imgpkg_pure.store.registry import ManifestResponse, RegistryFailure
from imgpkg_pure.store.transports.layout import Sources

if TYPE_CHECKING:  # a bundle's documents load with a bundle or a lock; a tarball's reader with it
    from imgpkg_pure.bundle import ImagesLock
    from imgpkg_pure.store.transports.imgpkg_tar import ImgpkgTarball


class WalkFailed(Exception):
    """Carries an error value out of the recursive walk, with imgpkg's ``context`` (what was
    being done) where it gives one."""

    def __init__(self, error: object, context: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.context = context


#: imgpkg's context for what goes wrong while a bundle's images are read.
_READING = "Reading Images from Bundle: "

_T = TypeVar("_T")


def _ok(result: IOResult[_T, Any]) -> _T:
    if isinstance(result, IOFailure):
        raise WalkFailed(unsafe_perform_io(result.failure()))
    return unsafe_perform_io(result.unwrap())


def _ok_pure(result: Result[_T, Any]) -> _T:
    if isinstance(result, Failure):
        raise WalkFailed(result.failure())
    return result.unwrap()


class BundleWalk:
    """Observe the copy sources into a ``CopySnapshot`` (imgpkg's bundle walk, §5.2)."""

    def __init__(self, client: Sources, staging: BlobStore, request: CopyRequest) -> None:
        self.client = client
        self.staging = staging
        self.request = request
        self.nodes: dict[str, tuple[CopyNode, bool]] = {}
        self.items: dict[str, CopyItem] = {}
        self.bundles: dict[Digest, BundleImages] = {}
        self.located: dict[tuple[object, ...], tuple[CopyNode, bool] | WalkFailed] = {}
        #: The platforms a source bundle was narrowed to by an earlier ``copy --platform``.
        self.source_platforms: tuple[str, ...] = ()

    def node(self, reference: Reference) -> tuple[CopyNode, bool]:
        """The manifest or index at ``reference`` (children included) and whether it is a bundle."""
        key = str(reference)
        if key in self.nodes:
            return self.nodes[key]
        return self._node_from(reference, _ok(self.client.get_manifest(reference)))

    def _node_from(self, reference: Reference, response: ManifestResponse) -> tuple[CopyNode, bool]:
        key = str(reference)
        raw, media_type, digest = response.raw, response.media_type, response.digest
        document = _ok_pure(parse_manifest_or_index(raw, f"manifest {reference}", media_type))
        source = reference.context().digest(digest)
        if isinstance(document, ImageIndex):
            platforms = self.request.platforms
            wanted = tuple(
                child
                for child in document.manifests
                if not platforms or child.platform is None or matches_any(platforms, child.platform)
            )  # with --platform, children that cannot match are never fetched
            children = tuple(
                self.node(source.context().digest(child.digest))[0] for child in wanted
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
        key = _item_key(item)
        known = self.items.get(key)
        self.items[key] = item if known is None else merge_items(known, item)

    def root_bundle(self, reference: Reference, tag: str | None) -> None:
        """The bundle at ``reference`` as a root of the copy (refused when it is a plain image)."""
        node, is_bundle = self.node(reference)
        if not is_bundle or not isinstance(node, CopyImage):
            raise WalkFailed(_NOT_A_BUNDLE)
        self.bundle(node, tag, str(node.source), root=True)

    def plain_image(self, reference: Reference, tag: str | None, *, refusal: str) -> None:
        """The image or index at ``reference`` as an item of the copy (``refusal`` when it is
        a bundle: the command line named it as an image)."""
        node, is_bundle = self.node(reference)
        if is_bundle:
            raise WalkFailed(PullRefused(reason=refusal))
        self.add(CopyItem(node=node, tag=tag, orig_ref="", is_bundle=False, is_root_bundle=False))

    def images_lock(self, bundle: CopyImage) -> ImagesLock:
        """A bundle's ``.imgpkg/images.yml``, read from its single layer (§5.2 step 1),
        or the first of several (``push --layering=auto``)."""
        from imgpkg_pure.layer import bundle_lock_layer  # noqa: PLC0415 (bundles only)

        layers = bundle.manifest.layers
        layer = bundle_lock_layer(layers)
        if layer is None:
            raise WalkFailed(
                PullRefused(
                    reason=f"Expected bundle to only have a single layer, got {len(layers)}"
                )
            )
        if layer.media_type != DOCKER_LAYER_GZIP:
            raise WalkFailed(
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
        from imgpkg_pure.bundle import ImageLocations  # noqa: PLC0415 (bundles only)

        digest = node.manifest.digest
        self.add(
            CopyItem(node=node, tag=tag, orig_ref=orig_ref, is_bundle=True, is_root_bundle=root)
        )
        if digest in self.bundles:
            return
        try:
            lock = self.images_lock(node)
        except WalkFailed as failed:
            raise WalkFailed(failed.error, _READING + "Reading ImagesLock file") from None
        found = _ok(fetch_bundle_locations(self.client, node.source))
        locations = None if found is None else found.locations
        selection = None if found is None else found.selection
        assert locations is None or isinstance(locations, ImageLocations)
        if selection is not None and selection.platforms:
            self.source_platforms = selection.platforms
        entries: list[tuple[str, bool]] = []
        self.bundles[digest] = BundleImages(digest=digest, images=())
        wanted: list[tuple[list[Reference], bool]] = []
        for entry in lock.images:
            original = str(entry.image)
            assert entry.image.digest is not None
            copied = _copied(selection, original)
            if copied is not None:  # an earlier --platform copied this in the index's place
                wanted.append(([node.source.context().digest(copied)], True))
                continue
            candidates = [node.source.context().digest(entry.image.digest)]
            if str(candidates[0]) != original:
                candidates.append(entry.image)
            known = None if locations is None else locations.is_bundle(original)
            wanted.append((candidates, known is False))
        self._prefetch(wanted)
        for entry, (candidates, first) in zip(lock.images, wanted, strict=True):
            original = str(entry.image)
            child, is_bundle = self._locate(candidates, first=first)
            entries.append((original, is_bundle))
            if is_bundle and isinstance(child, CopyImage):
                self.bundle(child, None, original, root=False)
            else:
                narrowed = _copied(selection, original) is not None
                self.add(
                    CopyItem(
                        node=child,
                        tag=None,
                        orig_ref=original,
                        is_bundle=False,
                        is_root_bundle=False,
                        selected_from=(entry.digest,) if narrowed else (),
                    )
                )
        self.bundles[digest] = BundleImages(digest=digest, images=tuple(entries))

    def _locate(self, candidates: list[Reference], *, first: bool) -> tuple[CopyNode, bool]:
        """The node of the first candidate the source holds (§5.2: the bundle's own
        repository first, then where the lock says).

        Each candidate is asked with one ``GET`` of its manifest (no ``HEAD`` first); a
        candidate whose manifest cannot be fetched is passed over, as a failed ``HEAD``
        is.  When none answers, the ``HEAD`` walk runs to give imgpkg's error.  With
        ``first`` (the locations image says where it is) only the first is asked.
        """
        key = (first, *map(str, candidates))
        known = self.located.get(key)
        if known is not None:
            if isinstance(known, WalkFailed):
                raise known
            return known
        try:
            found = self._locate_now(candidates, first=first)
        except WalkFailed as failed:
            self.located[key] = failed
            raise
        self.located[key] = found
        return found

    def _locate_now(self, candidates: list[Reference], *, first: bool) -> tuple[CopyNode, bool]:
        if first:
            return self.node(candidates[0])
        held = self._held_whole(candidates)
        if held is not None:
            return held
        for candidate in candidates:
            key = str(candidate)
            if key in self.nodes:
                return self.nodes[key]
            fetched = self.client.get_manifest(candidate)
            if not isinstance(fetched, IOFailure):
                return self._node_from(candidate, unsafe_perform_io(fetched.unwrap()))
        return self.node(self._first_existing(candidates))

    def _held_whole(self, candidates: list[Reference]) -> tuple[CopyNode, bool] | None:
        """An image the local store saw at a later candidate and holds whole (manifests,
        configs, every layer), found there with no request at all; else None.

        Where a copy finds an image decides only where it reads what the store lacks (and
        whence a destination on that registry mounts), so the walk need not ask the
        bundle's repository first, one ``HEAD`` per image, when nothing will be read: the
        store saw the image where it says, and keeps every blob (in this run's lease) until
        the copy ends.  imgpkg's order stays whenever a blob must be fetched, and for a
        bundle (its locations image is looked for where it is found).
        """
        mirror = self.client.client.mirror
        first = candidates[0]
        if mirror is None or first.registry == LAYOUT_REGISTRY:
            return None  # a layout is asked locally
        if mirror.recorded(first) is not None:
            return None  # what the store saw there is served unasked
        seen = next((ref for ref in candidates[1:] if mirror.recorded(ref) is not None), None)
        if seen is None:
            return None
        try:
            found = self.node(seen)
        except WalkFailed:
            return None
        if found[1] or not mirror.keeps(_digests_of(found[0])):
            return None
        return found

    def _prefetch(self, wanted: list[tuple[list[Reference], bool]]) -> None:
        """Fetch the nodes of a bundle's images ``concurrency`` at a time, into the cache.

        The walk then visits them in lock order as before (same items, same order, same
        first error): a failure here is left for that visit to meet again.
        """
        if len(wanted) < 2 or self.request.concurrency < 2:
            return

        def fetch(item: tuple[list[Reference], bool]) -> None:
            with contextlib.suppress(WalkFailed):
                self._locate(item[0], first=item[1])

        with ThreadPoolExecutor(max_workers=self.request.concurrency) as pool:
            for _ in pool.map(fetch, wanted):
                pass

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
            last = PullRefused(reason=f"{candidates[-1]} not found")
        raise WalkFailed(last, _READING + "Checking image existence")


def _digests_of(node: CopyNode) -> list[Digest]:
    """Every manifest and blob a copy of ``node`` reads: its manifests (an index's children
    too), configs and layers."""
    digests: list[Digest] = []
    for each in walk_nodes(node):
        digests.append(node_digest(each))
        if isinstance(each, CopyImage):
            digests.append(each.manifest.config.digest)
            digests.extend(layer.digest for layer in each.manifest.layers)
    return digests


def _copied(selection: PlatformSelection | None, image: str) -> Digest | None:
    return None if selection is None else selection.copied(image)


def _check_bundle_layer(manifest: Manifest) -> Descriptor:
    from imgpkg_pure.layer import bundle_lock_layer  # noqa: PLC0415 (bundles only)

    layers = manifest.layers
    layer = bundle_lock_layer(layers)
    if layer is None:
        raise WalkFailed(
            PullRefused(reason=f"Expected bundle to only have a single layer, got {len(layers)}")
        )
    if layer.media_type != DOCKER_LAYER_GZIP:
        raise WalkFailed(
            PullRefused(
                reason=f"Expected layer to have docker layer media type, was {layer.media_type}"
            )
        )
    return layer


def _read_images_lock(blobs: BlobReader, manifest: Manifest) -> ImagesLock:
    """A bundle's ``.imgpkg/images.yml``, from its single layer held in ``blobs`` (§5.2)."""
    import tarfile  # noqa: PLC0415 (bundles only)

    from imgpkg_pure.bundle import parse_images_lock  # noqa: PLC0415 (bundles only)

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
        raise WalkFailed(
            PullRefused(reason=f"Reading bundle layer {layer.digest}: {exc}")
        ) from None
    finally:
        handle.close()
    if text is None:
        raise WalkFailed(PullRefused(reason="Expected to find .imgpkg/images.yml in bundle image"))
    where = f"ImagesLock from image with Digest '{manifest.digest}'"
    return _ok_pure(parse_images_lock(text, where))


def _writer(ingest: Ingest) -> Callable[[bytes], None]:
    def write(chunk: bytes) -> None:
        result = ingest.write(chunk)
        if isinstance(result, IOFailure):
            raise WalkFailed(unsafe_perform_io(result.failure()))

    return write


def observe_sources(walk: BundleWalk, request: CopyRequest) -> CopySnapshot:
    images_lock: ImagesLock | None = None
    if request.lock:
        from imgpkg_pure.bundle import BundleLock as BundleLockDoc  # noqa: PLC0415 (--lock only)
        from imgpkg_pure.bundle import ImagesLock, parse_bundle_or_images_lock  # noqa: PLC0415

        text = _ok(read_text_file(request.lock))
        parsed = _ok_pure(parse_bundle_or_images_lock(text, request.lock))
        if isinstance(parsed, BundleLockDoc):
            walk.root_bundle(parsed.reference, parsed.tag)
        else:
            assert isinstance(parsed, ImagesLock)
            images_lock = parsed
            for entry in parsed.images:
                walk.plain_image(
                    entry.image,
                    None,
                    refusal="Unable to copy bundles using an Images Lock file "
                    "(hint: Create a bundle with these images)",
                )
    else:
        text = request.bundle or request.image or ""
        reference = source_root(request) or _ok_pure(parse_reference(text))
        user_tag = None if reference.digest is not None else (reference.tag or "latest")
        if request.bundle:
            walk.root_bundle(reference, user_tag)
        else:
            walk.plain_image(
                reference,
                user_tag,
                refusal="Expected bundle flag when copying a bundle "
                "(hint: Use -b instead of -i for bundles)",
            )
    snapshot = _narrowed(
        CopySnapshot(
            items=tuple(walk.items.values()),
            bundles=tuple(walk.bundles.values()),
            images_lock=images_lock,
        ),
        request,
        walk.source_platforms,
    )
    walk.items = {_item_key(item): item for item in snapshot.items}
    if request.cosign_signatures:
        _add_signatures(walk)
    if request.referrers:
        _add_referrers(walk)
    return evolve(snapshot, items=tuple(walk.items.values()))


def _item_key(item: CopyItem) -> str:
    return f"{item.node.source}:{item.tag or ''}"


def _narrowed(
    snapshot: CopySnapshot, request: CopyRequest, source_platforms: tuple[str, ...]
) -> CopySnapshot:
    """``--platform``: every index narrowed (``imgpkg_pure.copy.platforms``); without it,
    what an earlier narrowing recorded (a bundle's selection, a tarball's labels) is
    carried on with the platforms it was made for."""
    if request.platforms:
        return _ok_pure(narrow_snapshot(snapshot, request.platforms))
    return evolve(with_bundle_selections(snapshot), platforms=source_platforms)


def _add_referrers(walk: BundleWalk) -> None:
    """``--referrers``: every manifest copied (index children included) is asked for its
    referrers, and each referrer for its own, level by level, ``concurrency`` at a time.

    Each referrer is an item of its own (``referrer_of`` its subject), fetched like any
    image (manifest, config); an entry whose manifest does not name the subject is passed
    over.  A referrer reached twice is copied once.
    """
    finder = ReferrerFinder(walk.client.client, walk.client)
    level: list[CopyNode] = []
    seen: set[Digest] = set()
    for item in list(walk.items.values()):
        for node in walk_nodes(item.node):
            if node_digest(node) not in seen:
                seen.add(node_digest(node))
                level.append(node)

    def find(subject: CopyNode) -> list[tuple[CopyNode, CopyNode]]:
        entries = _ok(finder.entries(subject.source))
        found: list[tuple[CopyNode, CopyNode]] = []
        for entry in entries:
            node, _ = walk.node(subject.source.context().digest(entry.digest))
            document = node.manifest if isinstance(node, CopyImage) else node.index
            if is_referrer(document, node_digest(subject)):
                found.append((subject, node))
        return found

    workers = max(1, walk.request.concurrency)
    while level:
        if workers > 1 and len(level) > 1:
            with ThreadPoolExecutor(max_workers=min(workers, len(level))) as pool:
                results = list(pool.map(find, level))
        else:
            results = [find(subject) for subject in level]
        following: list[CopyNode] = []
        for found in results:
            for subject, node in found:
                walk.add(
                    CopyItem(
                        node=node,
                        tag=None,
                        orig_ref="",
                        is_bundle=False,
                        is_root_bundle=False,
                        referrer_of=node_digest(subject),
                    )
                )
                if node_digest(node) not in seen:
                    seen.add(node_digest(node))
                    following.append(node)
        level = following


def _add_signatures(walk: BundleWalk) -> None:
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
                raise WalkFailed(error)
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


def build_locations_image(
    bundle: BundleImages, staging: BlobStore, platforms: tuple[str, ...] = ()
) -> BuiltImage:
    """The locations image of a bundle, built as ``push -i`` of a directory holding only
    ``image-locations.yml`` (§2.5), its layer staged in ``staging``.

    When ``--platform`` narrowed some of the bundle's images, the directory also holds
    ``platform-selection.yml`` (after ``image-locations.yml`` in the layer, where imgpkg,
    which reads the first entry of that name, never looks).
    """
    # The layer recipe and writer (gzip, tar) load for a bundle's locations image only.
    from imgpkg_pure.layer import LayerOptions, plan_layer  # noqa: PLC0415
    from imgpkg_pure.store.files.layer import build_layer  # noqa: PLC0415
    from imgpkg_pure.store.files.tree import observe_inputs  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="imgpkg-pure-locations-") as work:
        root = Path(work) / "locations"
        root.mkdir(mode=0o700)
        path = root / "image-locations.yml"
        path.write_text(image_locations_text(bundle), encoding="utf-8")
        path.chmod(0o600)
        if bundle.selected:
            selection = PlatformSelection(platforms=platforms, images=bundle.selected)
            extra = root / PLATFORM_SELECTION_FILE
            extra.write_text(encode_platform_selection(selection), encoding="utf-8")
            extra.chmod(0o600)
        inputs = _ok(observe_inputs([str(root)]))
        recipe = _ok_pure(plan_layer(inputs, LayerOptions(exclusions=())))
        layer = _ok(build_layer(recipe, inputs, staging))
    return build_image(layer.diff_id, layer.digest, layer.size, {}, DOCKER_TYPES)


def observe_tarball(request: CopyRequest) -> tuple[ImgpkgTarball, CopySnapshot]:
    """§5.10: the items and the bundle graph, from the tarball alone (no registry reads)."""
    from imgpkg_pure.copy.tarball import snapshot_from_tar, tar_bundles  # noqa: PLC0415
    from imgpkg_pure.store.transports.imgpkg_tar import ImgpkgTarball  # noqa: PLC0415

    tarball = _ok(ImgpkgTarball.at(Path(request.source_tar or "")))
    _ok_pure(tarball.check_layers(include_non_distributable=request.include_non_distributable))
    locks: list[tuple[Digest, ImagesLock]] = []
    for bundle in tar_bundles(tarball.manifest):
        manifest = _ok_pure(
            parse_manifest(bundle.manifest_raw, "bundle manifest", bundle.manifest_media_type)
        )
        locks.append((bundle.manifest_digest, _read_images_lock(tarball, manifest)))
    snapshot = _ok_pure(snapshot_from_tar(tarball.manifest, tuple(locks)))
    if request.platforms:
        snapshot = _ok_pure(narrow_snapshot(snapshot, request.platforms))
    return tarball, snapshot


def missing_foreign_layers(sources: Sources, snapshot: CopySnapshot) -> frozenset[Digest]:
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
