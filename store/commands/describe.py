"""``describe``: the images and bundles a bundle holds (reference §1.5, §5.12).

observe the root (it must be a bundle) → walk the bundle graph as copy does
(§5.2): read every bundle's ``.imgpkg/images.yml`` from its single layer
(streamed and verified, never held whole), its locations image, and for
every image the first place it exists (next to the bundle, then its
ImagesLock reference; a locations image that says "not a bundle" is trusted
without a lookup) → per bundle, with ``--cosign-artifacts``, the
``sha256-<hex>.sig`` of the bundle and of each of its images, and the
locations image as an ``Internal`` entry → with ``--layers``, the layer
digests of everything (an index: its linux/amd64 child) → the pure
Description and its text or YAML (``imgpkg_pure.describe``), one block.

imgpkg fetches layers with ggcr's default keychain, ignoring its own
registry flags and credentials (§5.12 item 5); here every request goes
through the one registry client, flags and credentials included.  An index
without a linux/amd64 child is listed without layers (imgpkg fails).
"""

from __future__ import annotations

import posixpath
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeVar

from returns.io import IOFailure, IOResult
from returns.result import Failure, Result
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.bundle import ImageLocations, ImageRef, ImagesLock, parse_images_lock
from imgpkg_pure.copy import PlatformSelection
from imgpkg_pure.describe import (
    BundleFacts,
    DescribeRefused,
    Found,
    ReferrerInfo,
    check_output_type,
    describe,
    render_text,
    render_yaml,
    without_annotations,
)
from imgpkg_pure.layer import bundle_lock_layer
from imgpkg_pure.media_types import DOCKER_LAYER_GZIP
from imgpkg_pure.oci.values import ImageIndex, Manifest
from imgpkg_pure.push import UsageError
from imgpkg_pure.reference import Reference, parse_reference
from imgpkg_pure.store.apply.layer_reader import READ_ERRORS, ChunksReader, open_layer_archive
from imgpkg_pure.store.commands.locations import fetch_bundle_locations
from imgpkg_pure.store.commands.mirroring import open_client
from imgpkg_pure.store.commands.observing import Observed, observe
from imgpkg_pure.store.commands.options import DescribeOptions
from imgpkg_pure.store.commands.referrers import ReferrerFinder
from imgpkg_pure.store.registry import AuthFailure, RegistryClient, RegistryFailure
from imgpkg_pure.store.ui.console import Ui

#: The largest ``.imgpkg/images.yml`` read from a bundle layer.
MAX_IMAGES_YML: Final = 16 * 1024 * 1024
#: The platform whose layers an index shows (ggcr's default platform).
INDEX_PLATFORM: Final = ("linux", "amd64")

_T = TypeVar("_T")
_R = TypeVar("_R")


class _Failed(Exception):
    """Internal: carries an error value out of the walk."""

    def __init__(self, error: object) -> None:
        super().__init__(error)
        self.error = error


def _message(error: object) -> str:
    message = getattr(error, "message", None)
    return message if isinstance(message, str) else str(error)


def _refused(prefix: str, error: object) -> _Failed:
    return _Failed(DescribeRefused(reason=f"{prefix}: {_message(error)}"))


def _ok(result: IOResult[_T, Any], prefix: str | None) -> _T:
    if isinstance(result, IOFailure):
        error = unsafe_perform_io(result.failure())
        raise _Failed(error) if prefix is None else _refused(prefix, error)
    return unsafe_perform_io(result.unwrap())


def _ok_pure(result: Result[_T, Any], prefix: str | None) -> _T:
    if isinstance(result, Failure):
        raise _Failed(result.failure()) if prefix is None else _refused(prefix, result.failure())
    return result.unwrap()


def _status(error: object) -> int | None:
    if isinstance(error, RegistryFailure | AuthFailure):
        return error.status
    return None


def _images_yml(reader: ChunksReader, media_type: str) -> bytes | None:
    """The first ``.imgpkg/images.yml`` of a layer's tar stream (gzip, zstd or plain), as
    imgpkg finds it."""
    archive = open_layer_archive(reader, media_type)
    if archive is None:
        return None
    with archive:
        for member in archive:
            name = member.name.removeprefix("./")
            if posixpath.dirname(name) != ".imgpkg" or posixpath.basename(name) != "images.yml":
                continue
            if member.size > MAX_IMAGES_YML:
                raise _Failed(DescribeRefused(reason=".imgpkg/images.yml is too large"))
            handle = archive.extractfile(member)
            return None if handle is None else handle.read()
    return None


class _Walk:
    """One describe run: the client, the options, and what was observed."""

    def __init__(
        self,
        client: RegistryClient,
        *,
        layers: bool,
        cosign: bool,
        concurrency: int,
        referrers: bool = False,
    ) -> None:
        self.client = client
        self.layers = layers
        self.cosign = cosign
        self.concurrency = concurrency
        self.finder = ReferrerFinder(client, client) if referrers else None
        self.graph: dict[str, BundleFacts] = {}
        self._nodes: dict[tuple[str, bool], Observed] = {}
        self._lock = threading.Lock()

    def _parallel(self, work: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
        if len(items) <= 1 or self.concurrency == 1:
            return [work(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items))) as pool:
            return list(pool.map(work, items))

    # -- observing -----------------------------------------------------------------------

    def observe(
        self, reference: Reference, *, config: bool = True, prefix: str | None = None
    ) -> Observed:
        """The manifest or index at ``reference`` (and, if asked, an image's config).

        A failure is raised as is, or wrapped as ``<prefix>: <cause>``.
        """
        key = (str(reference), config)
        with self._lock:
            known = self._nodes.get(key)
        if known is not None:
            return known
        node = _ok(observe(self.client, reference, config=config), prefix)
        with self._lock:
            self._nodes[key] = node
        return node

    def layers_of(self, node: Observed) -> tuple[str, ...]:
        """Layer digests: an image's own, an index's linux/amd64 child's (none if it has none)."""
        if not self.layers:
            return ()
        document = node.document
        if isinstance(document, ImageIndex):
            for child in document.manifests:
                platform = child.platform
                if platform is not None and (platform.os, platform.architecture) == INDEX_PLATFORM:
                    where = node.reference.context().digest(child.digest)
                    found = self.observe(where, config=False, prefix=f"Getting layers of '{where}'")
                    if isinstance(found.document, Manifest):
                        return tuple(str(layer.digest) for layer in found.document.layers)
                    return ()
            return ()
        return tuple(str(layer.digest) for layer in document.layers)

    def _layers_at(self, where: Reference) -> tuple[str, ...]:
        return self.layers_of(
            self.observe(where, config=False, prefix=f"Getting layers of '{where}'")
        )

    def images_lock(self, bundle: Observed) -> ImagesLock:
        """A bundle's ``.imgpkg/images.yml``, from its single layer (§5.2 step 1)."""
        prefix = f"Retrieving images for bundle '{bundle.reference}'"
        document = bundle.document
        assert isinstance(document, Manifest)
        layer = bundle_lock_layer(document.layers)
        if layer is None:
            raise _Failed(
                DescribeRefused(
                    reason=f"{prefix}: Expected bundle to only have a single layer, "
                    f"got {len(document.layers)}"
                )
            )
        if layer.media_type != DOCKER_LAYER_GZIP:
            raise _Failed(
                DescribeRefused(
                    reason=f"{prefix}: Expected layer to have docker layer media type, "
                    f"was {layer.media_type}"
                )
            )
        stream = _ok(self.client.open_blob(bundle.reference.context(), layer), prefix)
        with stream:
            reader = ChunksReader(iter(stream))
            try:
                text = _images_yml(reader, layer.media_type)
            except READ_ERRORS as exc:
                raise _Failed(
                    DescribeRefused(reason=f"{prefix}: reading layer {layer.digest}: {exc}")
                ) from None
            reader.drain()
        _ok(stream.verdict(), prefix)
        if text is None:
            raise _Failed(
                DescribeRefused(
                    reason=f"{prefix}: Expected to find .imgpkg/images.yml in bundle image"
                )
            )
        where = f"ImagesLock from image with Digest '{document.digest}'"
        return _ok_pure(parse_images_lock(text, where), prefix)

    def referrers_of(
        self, location: Reference | None, seen: frozenset[str] = frozenset()
    ) -> tuple[ReferrerInfo, ...]:
        """``--referrers``: the referrers of the manifest at ``location``, and theirs."""
        if self.finder is None or location is None or location.digest is None:
            return ()
        if str(location.digest) in seen:
            return ()
        prefix = f"Retrieving referrers of '{location}'"
        entries = _ok(self.finder.entries(location), prefix)
        inner = seen | {str(location.digest)}
        return tuple(
            ReferrerInfo(
                artifact_type=entry.artifact_type or "",
                digest=str(entry.digest),
                size=entry.size,
                referrers=self.referrers_of(location.context().digest(entry.digest), inner),
            )
            for entry in entries
        )

    # -- one bundle's content ----------------------------------------------------------

    def _first_existing(self, candidates: list[Reference]) -> Reference:
        last = f"{candidates[-1]}: not found"
        for candidate in candidates:
            head = self.client.head_manifest(candidate)
            if isinstance(head, IOFailure):
                last = _message(unsafe_perform_io(head.failure()))
                continue
            if unsafe_perform_io(head.unwrap()) is not None:
                return candidate
        raise _Failed(DescribeRefused(reason=f"Checking image existence: {last}"))

    def entry(
        self,
        bundle: Observed,
        entry: ImageRef,
        locations: ImageLocations | None,
        selection: PlatformSelection | None = None,
    ) -> tuple[Found, Observed | None]:
        """Where an ImagesLock image is, and whether it is a bundle (§5.2 steps 2-4).

        An image an earlier ``copy --platform`` narrowed is where its selection says.
        """
        origin = str(entry.image)
        assert entry.image.digest is not None
        copied = None if selection is None else selection.copied(origin)
        candidates = [bundle.reference.context().digest(copied or entry.image.digest)]
        if str(candidates[0]) != origin and copied is None:
            candidates.append(entry.image)
        known = None if locations is None else locations.is_bundle(origin)
        if known is False or copied is not None:
            where = candidates[0]
            layers = self._layers_at(where) if self.layers else ()
            found = Found(
                kind="Image",
                origin=origin,
                location=where,
                annotations=entry.annotations,
                layers=layers,
                referrers=self.referrers_of(where),
            )
            return found, None
        where = self._first_existing(candidates)
        node = self.observe(where, prefix=f"Checking if '{where}' is a bundle")
        found = Found(
            kind="Bundle" if node.is_bundle else "Image",
            origin=origin,
            location=where,
            annotations=entry.annotations,
            layers=() if node.is_bundle else self.layers_of(node),
            referrers=() if node.is_bundle else self.referrers_of(node.reference),
        )
        return found, node

    def signature(self, subject: Reference) -> Found | None:
        """The cosign ``sha256-<hex>.sig`` beside ``subject``; an error entry on 403."""
        assert subject.digest is not None
        tag = f"{subject.digest.tag_form}.sig"
        where = Reference(
            registry=subject.registry, repository=subject.repository, tag=tag, digest=None
        )
        head = self.client.head_manifest(where)
        if isinstance(head, IOFailure):
            error = unsafe_perform_io(head.failure())
            if _status(error) == 403:
                return Found(
                    kind="Signature", origin=str(where), location=None, error="access denied"
                )
            if _status(error) == 404:
                return None
            raise _refused(f"Fetching signature for image '{subject}'", error)
        descriptor = unsafe_perform_io(head.unwrap())
        if descriptor is None:
            return None
        location = subject.context().digest(descriptor.digest)
        layers = self._layers_at(location) if self.layers else ()
        return Found(
            kind="Signature",
            origin=str(location),
            location=location,
            annotations=(("tag", tag),),
            layers=layers,
        )

    def internal(self, bundle: Observed) -> Found | None:
        """The bundle's locations image as an ``Internal`` entry, if it has one."""
        assert bundle.reference.digest is not None
        tag = f"{bundle.reference.digest.tag_form}.image-locations.imgpkg"
        where = Reference(
            registry=bundle.reference.registry,
            repository=bundle.reference.repository,
            tag=tag,
            digest=None,
        )
        descriptor = _ok(
            self.client.head_manifest(where), f"Retrieving images for bundle '{bundle.reference}'"
        )
        if descriptor is None:
            return None
        location = bundle.reference.context().digest(descriptor.digest)
        layers = self._layers_at(location) if self.layers else ()
        return Found(kind="Internal", origin=str(location), location=location, layers=layers)

    def bundle(self, node: Observed) -> None:
        """Walk ``node`` and, after it, every nested bundle it holds (each once)."""
        key = str(node.reference)
        if key in self.graph:
            return
        lock = self.images_lock(node)
        prefix = f"Retrieving images for bundle '{node.reference}'"
        found = _ok(fetch_bundle_locations(self.client, node.reference), prefix)
        locations = None if found is None else found.locations
        selection = None if found is None else found.selection
        resolved = self._parallel(lambda e: self.entry(node, e, locations, selection), lock.images)
        content = [found for found, _ in resolved]
        if self.cosign:
            located = [node.reference] + [f.location for f in content if f.location is not None]
            subjects = list({str(where): where for where in located}.values())
            content.extend(s for s in self._parallel(self.signature, subjects) if s is not None)
        if locations is not None:
            internal = self.internal(node)
            if internal is not None:
                content.append(internal)
        self.graph[key] = BundleFacts(
            location=node.reference,
            layers=self.layers_of(node),
            content=tuple(content),
            referrers=self.referrers_of(node.reference),
        )
        for _, child in resolved:
            if child is not None and child.is_bundle:
                self.bundle(child)


def _describe(ui: Ui, text: str, walk: _Walk, output_type: str, show_annotations: bool) -> int:
    reference = parse_reference(text)
    if isinstance(reference, Failure):
        return ui.fail(UsageError(reason=f"Parsing '{text}': {reference.failure().reason}"))
    try:
        root = walk.observe(reference.unwrap())
    except _Failed as failed:
        return ui.fail(
            DescribeRefused(
                reason=f"Unable to check if {text} is a bundle: {_message(failed.error)}"
            ),
        )
    if not root.is_bundle:
        return ui.fail(
            DescribeRefused(reason=f"Only bundles can be described, and {text} is not a bundle")
        )
    try:
        walk.bundle(root)
    except _Failed as failed:
        return ui.fail(
            DescribeRefused(reason=f"Retrieving Images from bundle: {_message(failed.error)}")
        )
    description = describe(root.reference, walk.graph)
    if not show_annotations:
        description = without_annotations(description)
    ui.block(render_yaml(description) if output_type == "yaml" else render_text(description))
    ui.succeeded()
    return 0


def run_describe(options: DescribeOptions, ui: Ui) -> int:
    """The describe command; returns the exit code."""
    bundle, concurrency, output_type = options.bundle, options.concurrency, options.output_type
    refused = check_output_type(output_type)
    if refused is not None:
        return ui.fail(refused)
    if concurrency < 1:
        return ui.fail(UsageError(reason=f"--concurrency must be at least 1, got {concurrency}"))
    if not bundle:
        return ui.fail(UsageError(reason="Expected a bundle reference (--bundle, -b)"))
    opened = open_client(options.registry, options.cache, ui, offline=options.offline)
    if isinstance(opened, IOFailure):
        return ui.fail(unsafe_perform_io(opened.failure()))
    with unsafe_perform_io(opened.unwrap()) as client:
        walk = _Walk(
            client,
            layers=options.layers,
            cosign=options.cosign_artifacts,
            concurrency=concurrency,
            referrers=options.referrers,
        )
        return _describe(ui, bundle, walk, output_type, options.show_annotations)


__all__ = ["run_describe"]
