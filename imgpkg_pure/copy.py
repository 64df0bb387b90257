"""What ``copy`` was asked to do, and the plan that relocates what was observed.

The shell walks the sources (bundles and their nested bundles, images,
indexes) into a ``CopySnapshot``; everything decided from it is here, pure:
the flag checks (§1.4), destination naming (§2.6, §5.5 to §5.7: ``sha256-<hex>.imgpkg``
tags or repo-based tags, the user's tag, locations images), the lock output
(§5.6), the non-distributable layer rule (§5.8), and the plan's steps.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import assert_never, final

from attrs import frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.bundle import (
    BundleLock,
    ImageLocation,
    ImageLocations,
    ImageRef,
    ImagesLock,
    encode_bundle_lock,
    encode_image_locations,
    encode_images_lock,
)
from imgpkg_pure.digest import Digest
from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.image_build import BuiltImage
from imgpkg_pure.imgpkg_tar import (
    ROOT_BUNDLE_LABELS,
    TarImage,
    TarIndex,
    TarManifest,
    describe_image,
    describe_index,
)
from imgpkg_pure.media_types import is_distributable
from imgpkg_pure.oci.codec import parse_config, parse_index, parse_manifest
from imgpkg_pure.oci.values import Annotations, Descriptor, ImageConfig, ImageIndex, Manifest
from imgpkg_pure.plan.steps import (
    ArchiveSource,
    LayoutSource,
    LayoutTarget,
    Plan,
    PutBlob,
    PutManifest,
    RegistrySource,
    RegistryTarget,
    Step,
    Tag,
    TarballSource,
    WriteLockFile,
)
from imgpkg_pure.push import (
    LAYOUT_PREFIX,
    LayoutDestination,
    UsageError,
    parse_layout_destination,
)
from imgpkg_pure.reference import Reference, Repository, parse_digest_reference, parse_repository

#: The registry name of references into an OCI layout copy source (never a real host:
#: ``.invalid`` is reserved, RFC 2606).
LAYOUT_REGISTRY = "oci-layout.invalid"
LAYOUT_REPOSITORY = "layout"

#: skopeo's ``oci-archive:`` transport: a tar of an OCI image layout.
ARCHIVE_PREFIX = "oci-archive:"

# A root name (``org.opencontainers.image.ref.name``) given as a tag: the rule of
# ``oci:PATH[:TAG]`` (``imgpkg_pure.push.parse_layout_destination``).
_ROOT_NAME = re.compile(r"(?=[\w][\w.-]{0,127}$)[A-Za-z0-9]+(?:(?:--|[-._])[A-Za-z0-9]+)*")


@final
@frozen(kw_only=True)
class ArchiveLocation:
    """``oci-archive:FILE[:TAG]``: a tar of an OCI image layout, and a root name in it.

    ``tag`` is None when the text names none (a source then reads ``latest``).
    """

    path: str
    tag: str | None

    def __str__(self) -> str:
        suffix = "" if self.tag is None else f":{self.tag}"
        return f"{ARCHIVE_PREFIX}{self.path}{suffix}"


@final
@frozen(kw_only=True)
class ArchiveDestination:
    """``--to-repo oci-archive:FILE``: write a tar of an OCI image layout to ``path``.

    The copied tags become the layout's root names, as for ``--to-repo oci:DIR``.
    """

    path: str

    def __str__(self) -> str:
        return f"{ARCHIVE_PREFIX}{self.path}"


def parse_archive_location(value: str) -> Result[ArchiveLocation, UsageError]:
    """Parse ``oci-archive:FILE[:TAG]`` (skopeo's ``oci-archive:`` transport syntax).

    The split is that of ``oci:PATH[:TAG]``: the text after the last ``:`` is the
    tag when it holds no ``/`` (and it must then be a valid root name); otherwise
    the whole rest is the file.
    """
    if not value.startswith(ARCHIVE_PREFIX):
        return Failure(UsageError(reason=f"'{value}' is not an oci-archive:FILE[:TAG] reference"))
    rest = value[len(ARCHIVE_PREFIX) :]
    path, sep, tag = rest.rpartition(":")
    if not sep or "/" in tag or not path:
        return (
            Success(ArchiveLocation(path=rest, tag=None))
            if rest
            else Failure(
                UsageError(reason=f"'{value}' names no file (expected oci-archive:FILE[:TAG])")
            )
        )
    if _ROOT_NAME.fullmatch(tag) is None:
        return Failure(
            UsageError(
                reason=f"invalid tag '{tag}' in '{value}' (expected letters and digits "
                "joined by single '.', '_' or '-', at most 128 characters)"
            )
        )
    return Success(ArchiveLocation(path=path, tag=tag))


# --- the request -------------------------------------------------------------------------


@final
@frozen(kw_only=True)
class CopyRequest:
    """A checked copy command line.

    ``destination`` is a registry repository, an OCI image layout directory
    (``--to-repo oci:DIR``) or a tar of one (``--to-repo oci-archive:FILE``): the
    same names (tags) become the layout's root names.  A ``-b``/``-i`` source in
    a layout names it in ``source_layout`` (a directory) or ``source_archive`` (a
    tar of one); references into either carry the registry ``LAYOUT_REGISTRY``.
    """

    image: str | None
    bundle: str | None
    lock: str | None
    destination: Repository | LayoutDestination | ArchiveDestination
    lock_output: str | None
    concurrency: int
    include_non_distributable: bool
    repo_based_tags: bool
    cosign_signatures: bool = False
    source_layout: str | None = None
    source_tar: str | None = None
    to_tar: str | None = None
    resume: bool = False
    source_archive: str | None = None

    def source_reference(self) -> str:
        """The ``-b``/``-i`` text, for messages."""
        return self.bundle or self.image or self.lock or ""

    def shown(self, reference: Reference) -> str:
        """A reference as users know it: ``oci:DIR@sha256:…`` or ``oci-archive:FILE@sha256:…``
        inside a layout source, the reference itself elsewhere."""
        if self.source_archive is not None and reference.registry == LAYOUT_REGISTRY:
            where = f"{ARCHIVE_PREFIX}{self.source_archive}"
            return f"{where}@{reference.digest}" if reference.digest else where
        return shown(reference, self.source_layout)


def layout_reference(tag: str) -> Reference:
    """A reference to root ``tag`` of the OCI layout source."""
    return Reference(registry=LAYOUT_REGISTRY, repository=LAYOUT_REPOSITORY, tag=tag, digest=None)


def shown(reference: Reference, layout: str | None) -> str:
    """A reference as users know it: ``oci:DIR@sha256:…`` inside a layout source."""
    if reference.registry == LAYOUT_REGISTRY and layout is not None:
        return f"oci:{layout}@{reference.digest}" if reference.digest else f"oci:{layout}"
    return str(reference)


def parse_copy_request(
    *,
    image: str | None,
    bundle: str | None,
    lock: str | None,
    tar: str | None,
    to_repo: str | None,
    to_tar: str | None,
    lock_output: str | None,
    concurrency: int,
    include_non_distributable: bool,
    repo_based_tags: bool,
    resume: bool,
    cosign_signatures: bool = False,
) -> Result[CopyRequest, UsageError]:
    """Check the copy flags in imgpkg's order (§1.4, "Validation")."""
    if sum(1 for v in (lock, tar, bundle, image) if v) != 1:
        return Failure(
            UsageError(
                reason="Expected either --lock, --bundle (-b), --image (-i), or --tar as a source"
            )
        )
    if sum(1 for v in (to_repo, to_tar) if v) != 1:
        return Failure(UsageError(reason="Expected either --to-tar or --to-repo"))
    if tar and to_tar:
        return Failure(
            UsageError(reason="Cannot use tar source (--tar) with tar destination (--to-tar)")
        )
    if to_tar and lock_output:
        return Failure(UsageError(reason="Cannot output lock file with tar destination"))
    if to_repo and resume:
        return Failure(UsageError(reason="Flag --resume can only be used when copying to tar"))
    if concurrency < 1:
        return Failure(UsageError(reason=f"--concurrency must be at least 1, got {concurrency}"))
    source_layout: str | None = None
    source_archive: str | None = None
    source_text = bundle or image or ""
    if source_text.startswith(ARCHIVE_PREFIX):
        archive = parse_archive_location(source_text)
        if isinstance(archive, Failure):
            return archive
        source_archive = archive.unwrap().path
    elif source_text.startswith(LAYOUT_PREFIX):
        source = parse_layout_destination(source_text)
        if isinstance(source, Failure):
            return source
        source_layout = source.unwrap().path
    destination: Repository | LayoutDestination | ArchiveDestination
    if to_tar:
        destination = LayoutDestination(path=to_tar, tag="latest")  # unused for tarballs
    elif (to_repo or "").startswith(ARCHIVE_PREFIX):
        written = parse_archive_location(to_repo or "")
        if isinstance(written, Failure):
            return written
        if written.unwrap().tag is not None:
            return Failure(
                UsageError(
                    reason=f"--to-repo '{to_repo}': an OCI archive destination takes no tag "
                    "(the copied tags become its root names)"
                )
            )
        if lock_output:
            return Failure(
                UsageError(
                    reason="--lock-output needs a registry destination: a lock file holds "
                    "registry references, and an OCI archive has none"
                )
            )
        destination = ArchiveDestination(path=written.unwrap().path)
    elif (to_repo or "").startswith(LAYOUT_PREFIX):
        layout = parse_layout_destination(to_repo or "")
        if isinstance(layout, Failure):
            return layout
        if layout.unwrap().tag != "latest" or (to_repo or "").endswith(":latest"):
            return Failure(
                UsageError(
                    reason=f"--to-repo '{to_repo}': an OCI layout destination takes no tag "
                    "(the copied tags become its root names)"
                )
            )
        if lock_output:
            return Failure(
                UsageError(
                    reason="--lock-output needs a registry destination: a lock file holds "
                    "registry references, and an OCI layout has none"
                )
            )
        destination = layout.unwrap()
    else:
        parsed = parse_repository(to_repo or "")
        if isinstance(parsed, Failure):
            return Failure(
                UsageError(reason=f"Building import repository ref: {parsed.failure().reason}")
            )
        destination = parsed.unwrap()
    return Success(
        CopyRequest(
            image=image,
            bundle=bundle,
            lock=lock,
            destination=destination,
            lock_output=lock_output,
            concurrency=concurrency,
            include_non_distributable=include_non_distributable,
            repo_based_tags=repo_based_tags,
            cosign_signatures=cosign_signatures,
            source_layout=source_layout,
            source_tar=tar,
            to_tar=to_tar,
            resume=resume,
            source_archive=source_archive,
        )
    )


def source_root(request: CopyRequest) -> Reference | None:
    """The reference a ``-b``/``-i`` layout source names (its root, ``latest`` by default);
    None when the source is not a layout (nor a tar of one)."""
    text = request.bundle or request.image or ""
    if request.source_archive is not None:
        archive = parse_archive_location(text)
        if isinstance(archive, Success):
            return layout_reference(archive.unwrap().tag or "latest")
    if request.source_layout is not None:
        layout = parse_layout_destination(text)
        if isinstance(layout, Success):
            return layout_reference(layout.unwrap().tag)
    return None


# --- what was observed ----------------------------------------------------------------------


@final
@frozen(kw_only=True)
class CopyImage:
    """An image manifest to copy, read from ``source`` (a digest reference)."""

    source: Reference
    manifest: Manifest
    config: ImageConfig | None = None


@final
@frozen(kw_only=True)
class CopyIndex:
    """An image index to copy, with every child it lists (nested indexes included)."""

    source: Reference
    index: ImageIndex
    children: tuple[CopyNode, ...]


CopyNode = CopyImage | CopyIndex


def node_digest(node: CopyNode) -> Digest:
    match node:
        case CopyImage(manifest=m):
            return m.digest
        case CopyIndex(index=i):
            return i.digest
    raise AssertionError(node)


def node_descriptor(node: CopyNode) -> Descriptor:
    match node:
        case CopyImage(manifest=m):
            return m.descriptor
        case CopyIndex(index=i):
            return i.descriptor
    raise AssertionError(node)


@final
@frozen(kw_only=True)
class CopyItem:
    """A top-level item: what imgpkg lists as ``will export …`` and tags at the destination."""

    node: CopyNode
    tag: str | None
    orig_ref: str
    is_bundle: bool
    is_root_bundle: bool
    is_signature: bool = False


@final
@frozen(kw_only=True)
class BundleImages:
    """A bundle of the graph and its ImagesLock entries: original reference and isBundle."""

    digest: Digest
    images: tuple[tuple[str, bool], ...]


@final
@frozen(kw_only=True)
class CopySnapshot:
    """Everything the copy sources hold, as observed."""

    items: tuple[CopyItem, ...]
    bundles: tuple[BundleImages, ...]
    images_lock: ImagesLock | None = None


# --- naming ------------------------------------------------------------------------------------

_CLEAN = re.compile(r"^[^a-zA-Z0-9_]+|[^a-zA-Z0-9._-]+")


def default_tag(digest: Digest) -> str:
    """``sha256-<hex>.imgpkg``."""
    return f"{digest.tag_form}.imgpkg"


def locations_tag(bundle: Digest) -> str:
    """``sha256-<bundle hex>.image-locations.imgpkg``."""
    return f"{bundle.tag_form}.image-locations.imgpkg"


def repo_based_tag(orig_ref: str, digest: Digest) -> str:
    """imgpkg's ``--repo-based-tags`` tag (§2.6): ``<cleaned repo path>-sha256-<hex>.imgpkg``."""
    name = orig_ref.split("@", 1)[0]
    path = "-".join(name.split("/")[1:])
    cleaned = _CLEAN.sub("", path)
    cleaned = _CLEAN.sub("", cleaned[-49:])
    tag = f"{cleaned}-{digest.tag_form}.imgpkg"
    if tag.startswith("-"):
        tag = tag[1:]
    return tag.replace(":", "-")


def upload_tag(item: CopyItem, repo_based: bool) -> str:
    digest = node_digest(item.node)
    if not repo_based:
        return default_tag(digest)
    source = item.orig_ref or str(item.node.source)
    return repo_based_tag(source, digest)


#: Tag suffixes of cosign's artefacts stored beside an image (``sha256-<hex>.<suffix>``).
COSIGN_SUFFIXES = ("sig", "att", "sbom")


def cosign_tag(digest: Digest, suffix: str) -> str:
    """``sha256-<hex>.sig`` (or ``.att``, ``.sbom``): where cosign keeps an image's artefacts."""
    return f"{digest.tag_form}.{suffix}"


def image_locations(bundle: BundleImages) -> ImageLocations:
    """The ImageLocations of a bundle: every image once (by digest), sorted by image (§2.5)."""
    seen: dict[str, ImageLocation] = {}
    for image, is_bundle in bundle.images:
        digest = image.rsplit("@", 1)[-1]
        seen.setdefault(digest, ImageLocation(image=image, is_bundle=is_bundle))
    return ImageLocations(images=tuple(seen.values()))


def image_locations_text(bundle: BundleImages) -> str:
    return encode_image_locations(image_locations(bundle))


# --- the plan ------------------------------------------------------------------------------------


def _walk(node: CopyNode) -> Iterator[CopyNode]:
    """Post-order: children before the index that lists them."""
    if isinstance(node, CopyIndex):
        for child in node.children:
            yield from _walk(child)
    yield node


def skipped_layers(snapshot: CopySnapshot) -> tuple[tuple[Reference, tuple[Digest, ...]], ...]:
    """Images with non-distributable layers (§5.8): the image and those layers' digests."""
    out: list[tuple[Reference, tuple[Digest, ...]]] = []
    seen: set[Digest] = set()
    for item in snapshot.items:
        for node in _walk(item.node):
            if isinstance(node, CopyImage) and node.manifest.digest not in seen:
                seen.add(node.manifest.digest)
                foreign = tuple(
                    layer.digest
                    for layer in node.manifest.layers
                    if not is_distributable(layer.media_type)
                )
                if foreign:
                    out.append((node.source, foreign))
    return tuple(out)


def _lock_text(snapshot: CopySnapshot, destination: Repository) -> Result[str, UsageError]:
    roots = [item for item in snapshot.items if item.is_root_bundle]
    if roots:
        root = roots[0]
        return Success(
            encode_bundle_lock(
                BundleLock(image=str(destination.digest(node_digest(root.node))), tag=root.tag)
            )
        )
    if any(item.is_bundle for item in snapshot.items):
        return Failure(
            UsageError(
                reason="Unable to determine correct root bundle to use for lock-output. "
                "hint: if copying from a tarball, try re-generating the tarball"
            )
        )
    if snapshot.images_lock is not None:
        relocated = tuple(
            ImageRef(image=destination.digest(_digest(entry.image)), annotations=entry.annotations)
            for entry in snapshot.images_lock.images
        )
        return Success(encode_images_lock(ImagesLock(images=relocated)))
    ordered = sorted(
        (item for item in snapshot.items if not item.is_signature),
        key=lambda item: str(item.node.source),
    )
    return Success(
        encode_images_lock(
            ImagesLock(
                images=tuple(
                    ImageRef(image=destination.digest(node_digest(item.node))) for item in ordered
                )
            )
        )
    )


def _digest(reference: Reference) -> Digest:
    if reference.digest is None:  # pragma: no cover - lock entries are digest references
        raise AssertionError(reference)
    return reference.digest


def plan_copy(
    request: CopyRequest,
    snapshot: CopySnapshot,
    locations: tuple[tuple[Digest, BuiltImage], ...],
    *,
    archive_layout: str | None = None,
) -> Result[Plan, UsageError]:
    """Every blob, then every manifest (children first), then tags, then the lock file.

    ``locations`` are the locations images built for the snapshot's bundles
    (their layers staged in the local store).  An ``oci-archive:`` destination is
    assembled as an OCI layout in ``archive_layout`` (a directory the shell
    makes, and tars once the plan has run).
    """
    dst = request.destination
    target: RegistryTarget | LayoutTarget
    match dst:
        case LayoutDestination(path=path):
            target = LayoutTarget(path=path)
        case ArchiveDestination():
            if archive_layout is None:
                raise AssertionError("an oci-archive destination needs archive_layout")
            target = LayoutTarget(path=archive_layout)
        case Repository(registry=registry, repository=repository):
            target = RegistryTarget(registry=registry, repository=repository)
        case _:
            assert_never(dst)
    blobs: dict[Digest, PutBlob] = {}
    manifests: dict[Digest, PutManifest] = {}
    for item in snapshot.items:
        for node in _walk(item.node):
            source: RegistrySource | LayoutSource | ArchiveSource | TarballSource
            if request.source_tar is not None:
                source = TarballSource(path=request.source_tar)
            elif node.source.registry == LAYOUT_REGISTRY and request.source_archive is not None:
                source = ArchiveSource(path=request.source_archive)
            elif node.source.registry == LAYOUT_REGISTRY and request.source_layout is not None:
                source = LayoutSource(path=request.source_layout)
            else:
                source = RegistrySource(
                    registry=node.source.registry, repository=node.source.repository
                )
            if isinstance(node, CopyImage):
                for desc in (node.manifest.config, *node.manifest.layers):
                    if not request.include_non_distributable and not is_distributable(
                        desc.media_type
                    ):
                        continue
                    blobs.setdefault(
                        desc.digest, PutBlob(target=target, descriptor=desc, source=source)
                    )
                raw = node.manifest.raw
            else:
                raw = node.index.raw
            desc = node_descriptor(node)
            manifests.setdefault(desc.digest, PutManifest(target=target, descriptor=desc, raw=raw))
    tags: list[Step] = []
    for item in snapshot.items:
        tags.append(
            Tag(
                target=target,
                tag=upload_tag(item, request.repo_based_tags),
                descriptor=node_descriptor(item.node),
            )
        )
    for bundle, built in locations:
        blobs.setdefault(built.layer.digest, PutBlob(target=target, descriptor=built.layer))
        blobs.setdefault(
            built.config.digest,
            PutBlob(target=target, descriptor=built.config, data=built.config_raw),
        )
        manifests.setdefault(
            built.manifest.digest,
            PutManifest(target=target, descriptor=built.manifest, raw=built.manifest_raw),
        )
        tags.append(Tag(target=target, tag=locations_tag(bundle), descriptor=built.manifest))
        tags.append(
            Tag(target=target, tag=default_tag(built.manifest.digest), descriptor=built.manifest)
        )
    user_tags = [
        Tag(target=target, tag=item.tag, descriptor=node_descriptor(item.node))
        for item in snapshot.items
        if item.tag
    ]
    steps: list[Step] = [*blobs.values(), *manifests.values(), *tags, *user_tags]
    if request.lock_output and isinstance(dst, Repository):
        text = _lock_text(snapshot, dst)
        if isinstance(text, Failure):
            return text
        steps.append(WriteLockFile(path=request.lock_output, text=text.unwrap()))
    return Success(
        Plan(
            command=f"copy --to-repo {_destination_text(dst)}",
            steps=tuple(steps),
            result=None,
            result_name=str(target),
        )
    )


def _destination_text(dst: Repository | LayoutDestination | ArchiveDestination) -> str:
    match dst:
        case LayoutDestination(path=path):
            return f"{LAYOUT_PREFIX}{path}"
        case ArchiveDestination() | Repository():
            return str(dst)
        case _:
            assert_never(dst)


# --- imgpkg tarballs ---------------------------------------------------------------------------


def _tar_node(element: TarImage | TarIndex) -> Result[CopyNode, MalformedDocument]:
    reference = parse_digest_reference(element.refs[0] if element.refs else "")
    if isinstance(reference, Failure):
        return Failure(
            MalformedDocument(
                where="manifest.json", reason=f"element without a digest reference: {element.refs}"
            )
        )
    source = reference.unwrap()
    if isinstance(element, TarImage):
        manifest = parse_manifest(
            element.manifest_raw, f"manifest of {source}", element.manifest_media_type
        )
        config = parse_config(element.config_raw, f"config of {source}")
        if isinstance(manifest, Failure):
            return Failure(manifest.failure())
        if isinstance(config, Failure):
            return Failure(config.failure())
        return Success(CopyImage(source=source, manifest=manifest.unwrap(), config=config.unwrap()))
    index = parse_index(element.raw, f"index {source}", element.media_type)
    if isinstance(index, Failure):
        return Failure(index.failure())
    children: list[CopyNode] = []
    nested: tuple[TarImage | TarIndex, ...] = (*element.images, *element.indexes)
    for child in nested:
        node = _tar_node(child)
        if isinstance(node, Failure):
            return node
        children.append(node.unwrap())
    by_digest = {node_digest(c): c for c in children}
    ordered = tuple(by_digest[m.digest] for m in index.unwrap().manifests if m.digest in by_digest)
    return Success(CopyIndex(source=source, index=index.unwrap(), children=ordered))


def tar_bundles(manifest: TarManifest) -> tuple[TarImage, ...]:
    """The images of a tarball that are bundles (config label), whose images.yml is needed."""
    out: list[TarImage] = []
    for element in manifest.elements:
        if isinstance(element, TarImage):
            config = parse_config(element.config_raw, "config")
            if isinstance(config, Success) and config.unwrap().is_bundle:
                out.append(element)
    return tuple(out)


def snapshot_from_tar(
    manifest: TarManifest, locks: tuple[tuple[Digest, ImagesLock], ...]
) -> Result[CopySnapshot, MalformedDocument]:
    """§5.10: every element is an item; the bundle graph comes from the tarball itself.

    ``locks`` are the ImagesLocks read from the bundles' layers (``tar_bundles``).
    Locations images are made only when a root bundle is present.
    """
    items: list[CopyItem] = []
    for element in manifest.elements:
        node = _tar_node(element)
        if isinstance(node, Failure):
            return node
        value = node.unwrap()
        is_bundle = (
            isinstance(value, CopyImage) and value.config is not None and value.config.is_bundle
        )
        items.append(
            CopyItem(
                node=value,
                tag=element.tag or None,
                orig_ref=element.orig_ref,
                is_bundle=is_bundle,
                is_root_bundle=element.is_root_bundle,
            )
        )
    bundle_digests = {node_digest(i.node) for i in items if i.is_bundle}
    bundles: tuple[BundleImages, ...] = ()
    if any(i.is_root_bundle for i in items):
        bundles = tuple(
            BundleImages(
                digest=digest,
                images=tuple(
                    (str(entry.image), _digest(entry.image) in bundle_digests)
                    for entry in lock.images
                ),
            )
            for digest, lock in locks
        )
    return Success(CopySnapshot(items=tuple(items), bundles=bundles))


def _describe(
    node: CopyNode, *, tag: str, orig_ref: str, labels: Annotations | None, ref: str
) -> Result[TarImage | TarIndex, MalformedDocument]:
    if isinstance(node, CopyImage):
        if node.config is None:  # pragma: no cover - the walk always fetches configs
            return Failure(MalformedDocument(where=ref, reason="config was not fetched"))
        return describe_image(
            ref=ref,
            manifest=node.manifest,
            config=node.config,
            tag=tag,
            orig_ref=orig_ref,
            labels=labels,
        ).map(lambda image: image)
    children: list[TarImage | TarIndex] = []
    for child in node.children:
        child_ref = f"{ref.rsplit('@', 1)[0]}@{node_digest(child)}"
        described = _describe(child, tag=tag, orig_ref=orig_ref, labels=labels, ref=child_ref)
        if isinstance(described, Failure):
            return described
        children.append(described.unwrap())
    return describe_index(
        ref=ref, index=node.index, children=children, tag=tag, orig_ref=orig_ref, labels=labels
    ).map(lambda index: index)


def tar_manifest(
    snapshot: CopySnapshot, shown_ref: Callable[[Reference], str]
) -> Result[TarManifest, MalformedDocument]:
    """The ``manifest.json`` of ``copy --to-tar`` for what was observed (§2.8)."""
    elements: list[TarImage | TarIndex] = []
    for item in snapshot.items:
        labels = ROOT_BUNDLE_LABELS if item.is_root_bundle else None
        described = _describe(
            item.node,
            tag=item.tag or "",
            orig_ref=item.orig_ref,
            labels=labels,
            ref=shown_ref(item.node.source),
        )
        if isinstance(described, Failure):
            return described
        elements.append(described.unwrap())
    return Success(TarManifest(elements=elements))
