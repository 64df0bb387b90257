"""The copy plan: every blob, every manifest, the tags and the lock output (§5.5 to §5.8).

``plan_copy`` turns what was observed (``CopySnapshot``) into the steps that
relocate it to the destination (a registry repository, an OCI layout or an
``oci-archive:`` tar), named by ``naming``; ``skipped_layers`` applies the
non-distributable layer rule (§5.8) and ``--lock-output`` gets the BundleLock
or ImagesLock of the copied references (§5.6).

Non-distributable layers (§5.8) are left out unless
``--include-non-distributable-layers``; with it, each is read from its image's
source like any blob, except one the source was observed not to hold
(``CopySnapshot.foreign_absent``): that one is read from its descriptor's
``urls`` (``UrlSource``).  A tarball source is never asked for urls: a foreign
layer missing from it is imgpkg's ``file … not found in tar`` error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, assert_never

from attrs import evolve
from returns.result import Failure, Result, Success

from imgpkg_pure.copy.layouts import LAYOUT_REGISTRY, ArchiveDestination
from imgpkg_pure.copy.naming import default_tag, locations_tag, upload_tag
from imgpkg_pure.copy.platforms import selected_digests
from imgpkg_pure.copy.request import CopyRequest
from imgpkg_pure.copy.snapshot import (
    CopyImage,
    CopySnapshot,
    node_descriptor,
    node_digest,
    walk,
)
from imgpkg_pure.digest import Digest
from imgpkg_pure.image_build import BuiltImage
from imgpkg_pure.media_types import is_distributable
from imgpkg_pure.oci.values import Descriptor
from imgpkg_pure.plan.steps import (
    ArchiveSource,
    LayoutSource,
    LayoutTarget,
    Plan,
    PutBlob,
    PutManifest,
    PutReferrers,
    Referrer,
    RegistrySource,
    RegistryTarget,
    Step,
    Tag,
    TarballSource,
    Target,
    UrlSource,
    WriteLockFile,
)
from imgpkg_pure.push import LAYOUT_PREFIX, LayoutDestination, UsageError
from imgpkg_pure.reference import Reference, Repository
from imgpkg_pure.referrers import referrer_entry

if TYPE_CHECKING:  # a bundle's documents load when one is copied, pushed or pulled
    from imgpkg_pure.bundle import ImagesLock

__all__ = ["foreign_source", "plan_copy", "skipped_layers"]

CopySource = RegistrySource | LayoutSource | ArchiveSource | TarballSource


def foreign_source(
    snapshot: CopySnapshot, desc: Descriptor, source: CopySource
) -> CopySource | UrlSource:
    """Where a non-distributable layer is read (§5.8): its image's source, unless that
    source was observed not to hold it and its descriptor lists ``urls``.

    A layer without ``urls`` stays with its source, whose own answer is the error.
    """
    match source:
        case TarballSource():
            return source
        case RegistrySource() | LayoutSource() | ArchiveSource():
            if desc.digest in snapshot.foreign_absent and desc.urls:
                return UrlSource(urls=desc.urls)
            return source
        case _:
            assert_never(source)


def skipped_layers(snapshot: CopySnapshot) -> tuple[tuple[Reference, tuple[Digest, ...]], ...]:
    """Images with non-distributable layers (§5.8): the image and those layers' digests."""
    out: list[tuple[Reference, tuple[Digest, ...]]] = []
    seen: set[Digest] = set()
    for item in snapshot.items:
        for node in walk(item.node):
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
    from imgpkg_pure.bundle import (  # noqa: PLC0415 (--lock-output only)
        BundleLock,
        ImageRef,
        ImagesLock,
        encode_bundle_lock,
        encode_images_lock,
        relocate_images_lock,
    )

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
        relocated = relocate_images_lock(snapshot.images_lock, destination)
        return Success(encode_images_lock(_selected(relocated, selected_digests(snapshot))))
    ordered = sorted(
        (item for item in snapshot.items if not item.is_signature and item.referrer_of is None),
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


def _selected(lock: ImagesLock, copied: dict[Digest, Digest]) -> ImagesLock:
    """``--platform``'s lock rule: an index narrowed is listed as what was copied for it."""
    from imgpkg_pure.bundle import ImagesLock  # noqa: PLC0415 (--lock-output only)

    if not copied:
        return lock
    return ImagesLock(
        images=tuple(
            evolve(entry, image=entry.image.with_digest(copied[entry.digest]))
            if entry.digest in copied
            else entry
            for entry in lock.images
        )
    )


def _blob_step(
    target: RegistryTarget | LayoutTarget, desc: Descriptor, source: CopySource, node: CopyImage
) -> PutBlob:
    """A blob's step: its source, except an image config read during the walk, which
    is carried inline (it is not fetched twice) unless it can be mounted (same registry)."""
    config = node.config
    step = PutBlob(target=target, descriptor=desc, source=source)
    if config is not None and config.digest == desc.digest and step.mount_from is None:
        return PutBlob(target=target, descriptor=desc, data=config.raw)
    return step


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
        for node in walk(item.node):
            source: CopySource
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
                    if desc.digest in snapshot.left_out and desc is not node.manifest.config:
                        continue
                    if not is_distributable(desc.media_type):
                        if not request.include_non_distributable:
                            continue
                        blobs.setdefault(
                            desc.digest,
                            PutBlob(
                                target=target,
                                descriptor=desc,
                                source=foreign_source(snapshot, desc, source),
                            ),
                        )
                        continue
                    blobs.setdefault(desc.digest, _blob_step(target, desc, source, node))
                raw = node.manifest.raw
            else:
                raw = node.index.raw
            desc = node_descriptor(node)
            if node is item.node and item.referrer_of is not None:
                continue  # stored by its PutReferrers step
            manifests.setdefault(desc.digest, PutManifest(target=target, descriptor=desc, raw=raw))
    tags: list[Step] = []
    for item in snapshot.items:
        if item.referrer_of is not None:
            continue
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
    referrers = _referrer_steps(target, snapshot)
    steps: list[Step] = [
        *blobs.values(),
        *manifests.values(),
        *referrers,
        *tags,
        *user_tags,
    ]
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


def _referrer_steps(target: Target, snapshot: CopySnapshot) -> list[PutReferrers]:
    """One ``PutReferrers`` per subject, subjects before their own referrers (a signature
    of an SBOM after the SBOM), referrers in snapshot order."""
    by_subject: dict[Digest, list[Referrer]] = {}
    subjects: dict[Digest, Descriptor] = {}
    for item in snapshot.items:
        if item.referrer_of is None:
            continue
        document = item.node.manifest if isinstance(item.node, CopyImage) else item.node.index
        if document.subject is None:  # pragma: no cover - the walk checks it
            continue
        listed = by_subject.setdefault(item.referrer_of, [])
        if all(r.entry.digest != document.digest for r in listed):
            listed.append(Referrer(entry=referrer_entry(document), raw=document.raw))
        subjects.setdefault(item.referrer_of, document.subject)
    parent = {r.entry.digest: subject for subject, rs in by_subject.items() for r in rs}

    def depth(subject: Digest) -> int:
        seen: set[Digest] = set()
        while subject in parent and subject not in seen:
            seen.add(subject)
            subject = parent[subject]
        return len(seen)

    ordered = sorted(by_subject, key=depth)
    return [
        PutReferrers(target=target, subject=subjects[subject], referrers=tuple(by_subject[subject]))
        for subject in ordered
    ]


def _destination_text(dst: Repository | LayoutDestination | ArchiveDestination) -> str:
    match dst:
        case LayoutDestination(path=path):
            return f"{LAYOUT_PREFIX}{path}"
        case ArchiveDestination() | Repository():
            return str(dst)
        case _:
            assert_never(dst)
