"""What a place holds, observed: inventories of repositories, tarballs, layouts and locks.

Shared by ``inventory`` (which prints one) and ``copy --since X`` (which reads
``X``: an inventory file, or a tarball, layout or archive inventoried on the
spot).  The values and the file format are ``imgpkg_pure.inventory``'s.

* A registry repository: every tag is listed and walked (indexes to their
  children), concurrently; a manifest counts with its config and distributable
  layers, since a registry accepts a manifest only once those are there.  A
  repository that does not exist holds nothing.
* An imgpkg tarball: the configs and manifests of ``manifest.json`` and every
  layer that has an entry (a delta's left-out layers are not held).
* An OCI layout or archive: every root walked, each blob counted only when the
  layout has it (a delta's marker root is passed over).
* A lock file: its images (and a bundle's whole graph) walked in their
  registry, as ``copy --lock`` walks them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, Protocol, final

from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure, Success
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.copy import ARCHIVE_PREFIX, CopyImage, CopySnapshot, parse_copy_request
from imgpkg_pure.copy.delta import DELTA_ROOT
from imgpkg_pure.copy.snapshot import walk
from imgpkg_pure.digest import Digest
from imgpkg_pure.errors import Fact
from imgpkg_pure.inventory import (
    Inventory,
    looks_like_inventory,
    make_inventory,
    manifest_blobs,
    parse_inventory,
)
from imgpkg_pure.oci.codec import parse_manifest_or_index
from imgpkg_pure.oci.values import Descriptor, ImageIndex, Manifest
from imgpkg_pure.push import LAYOUT_PREFIX
from imgpkg_pure.reference import Reference, Repository
from imgpkg_pure.store.commands.copy_walk import BundleWalk, WalkFailed, observe_sources
from imgpkg_pure.store.content.blobstore import root_name
from imgpkg_pure.store.content.errors import StoreError
from imgpkg_pure.store.content.local import LocalStore
from imgpkg_pure.store.content.local_layout import LAYOUT_FILE
from imgpkg_pure.store.content.staging import temporary_store
from imgpkg_pure.store.registry import RegistryClient, RegistryError, RegistryFailure
from imgpkg_pure.store.transports.layout import Sources

__all__ = [
    "InventoryFailed",
    "inventory_of_layout",
    "inventory_of_lock",
    "inventory_of_repository",
    "inventory_of_tarball",
    "read_since",
]


@final
@frozen(kw_only=True)
class InventoryFailed(Fact):
    """What could not be inventoried (``what``), and why."""

    what: str
    reason: str

    template = "{what}: {reason}"


def _message(error: object) -> str:
    message = getattr(error, "message", None)
    return message if isinstance(message, str) else str(error)


# --- a registry repository -------------------------------------------------------------------


def _parse(raw: bytes, where: str, media_type: str) -> Manifest | ImageIndex | None:
    parsed = parse_manifest_or_index(raw, where, media_type)
    return parsed.unwrap() if isinstance(parsed, Success) else None


def inventory_of_repository(
    client: RegistryClient, repo: Repository, concurrency: int
) -> IOResult[Inventory, RegistryError]:
    """Every tag of ``repo`` walked (see the module doc); ``concurrency`` tags at a time."""
    listed = client.list_tags(repo)
    if isinstance(listed, IOFailure):
        error = unsafe_perform_io(listed.failure())
        if isinstance(error, RegistryFailure) and error.status == 404:
            return IOSuccess(make_inventory(str(repo), (), ()))
        return IOFailure(error)
    tags = unsafe_perform_io(listed.unwrap())
    lock = threading.Lock()
    manifests: set[Digest] = set()
    blobs: list[Descriptor] = []

    def visit(reference: str, digest: Digest | None) -> RegistryError | None:
        """Walk one manifest (by tag, or by digest for an index's child); the first error."""
        with lock:
            if digest is not None and digest in manifests:
                return None
        ref = (
            repo.digest(digest)
            if digest is not None
            else Reference(
                registry=repo.registry, repository=repo.repository, tag=reference, digest=None
            )
        )
        got = client.get_manifest(ref)
        if isinstance(got, IOFailure):
            error: RegistryError = unsafe_perform_io(got.failure())
            if isinstance(error, RegistryFailure) and error.status == 404:
                return None  # deleted since it was listed, or a child the repository lacks
            return error
        response = unsafe_perform_io(got.unwrap())
        with lock:
            if response.digest in manifests:
                return None
            manifests.add(response.digest)
        document = _parse(response.raw, f"manifest {ref}", response.media_type)
        if document is None:
            return None  # a manifest this build cannot read: counted, its blobs are not
        with lock:
            blobs.extend(manifest_blobs(document))
        if isinstance(document, ImageIndex):
            for child in document.manifests:
                failed = visit("", child.digest)
                if failed is not None:
                    return failed
        return None

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        outcomes = list(pool.map(lambda tag: visit(tag, None), tags))
    for outcome in outcomes:
        if outcome is not None:
            return IOFailure(outcome)
    return IOSuccess(make_inventory(str(repo), blobs, manifests))


# --- an imgpkg tarball -----------------------------------------------------------------------


def inventory_of_tarball(path: str) -> IOResult[Inventory, InventoryFailed]:
    """The configs, manifests and layer entries of an imgpkg tarball."""
    from imgpkg_pure.store.transports.imgpkg_tar import ImgpkgTarball  # noqa: PLC0415

    opened = ImgpkgTarball.at(Path(path))
    if isinstance(opened, IOFailure):
        error = unsafe_perform_io(opened.failure())
        return IOFailure(InventoryFailed(what=path, reason=_message(error)))
    tarball = unsafe_perform_io(opened.unwrap())
    blobs: list[tuple[Digest, int]] = []
    manifests: list[Digest] = []
    for image in tarball.manifest.images():
        manifests.append(image.manifest_digest)
        blobs.append((image.config_digest, len(image.config_raw)))
        for layer in image.layers:
            entry = tarball.layer_entry(layer.digest)
            if entry is not None:
                blobs.append((layer.digest, entry.size))
    manifests.extend(index.digest for index in tarball.manifest.indexes())
    return IOSuccess(make_inventory(path, blobs, manifests))


# --- an OCI layout or archive ----------------------------------------------------------------


class _Layout(Protocol):
    """What a layout inventory reads (``LocalStore`` and ``OciArchive`` both are one)."""

    def roots(self) -> IOResult[tuple[Descriptor, ...], StoreError]: ...

    def exists(self, digest: Digest) -> IOResult[bool, StoreError]: ...

    def read_bytes(self, digest: Digest) -> IOResult[bytes, StoreError]: ...

    def open(self, digest: Digest) -> IOResult[BinaryIO, StoreError]: ...


def _walk_layout(store: _Layout, name: str) -> IOResult[Inventory, InventoryFailed]:
    roots = store.roots()
    if isinstance(roots, IOFailure):
        return IOFailure(InventoryFailed(what=name, reason=_message(roots.failure())))
    manifests: set[Digest] = set()
    blobs: list[Descriptor] = []

    def held(digest: Digest) -> bool:
        return bool(unsafe_perform_io(store.exists(digest).value_or(False)))

    pending = [root for root in unsafe_perform_io(roots.unwrap()) if root_name(root) != DELTA_ROOT]
    while pending:
        desc = pending.pop()
        if desc.digest in manifests or not held(desc.digest):
            continue
        raw = store.read_bytes(desc.digest)
        if isinstance(raw, IOFailure):
            return IOFailure(InventoryFailed(what=name, reason=_message(raw.failure())))
        manifests.add(desc.digest)
        document = _parse(unsafe_perform_io(raw.unwrap()), f"{name}@{desc.digest}", desc.media_type)
        if isinstance(document, ImageIndex):
            pending.extend(document.manifests)
        elif document is not None:
            blobs.extend(blob for blob in manifest_blobs(document) if held(blob.digest))
    return IOSuccess(make_inventory(name, blobs, manifests))


def inventory_of_layout(text: str) -> IOResult[Inventory, InventoryFailed]:
    """``oci:DIR`` (or a directory) or ``oci-archive:FILE``: every root, walked."""
    if text.startswith(ARCHIVE_PREFIX):
        from imgpkg_pure.store.transports.oci_archive import OciArchive  # noqa: PLC0415

        path = text[len(ARCHIVE_PREFIX) :]
        archive = OciArchive.at(Path(path))
        if isinstance(archive, IOFailure):
            return IOFailure(InventoryFailed(what=text, reason=_message(archive.failure())))
        return _walk_layout(unsafe_perform_io(archive.unwrap()), text)
    path = text.removeprefix(LAYOUT_PREFIX)
    name = f"{LAYOUT_PREFIX}{path}"
    if not (Path(path) / LAYOUT_FILE).is_file():
        return IOFailure(
            InventoryFailed(what=name, reason="not an OCI image layout (no oci-layout file)")
        )
    opened = LocalStore.at(Path(path))
    if isinstance(opened, IOFailure):
        return IOFailure(InventoryFailed(what=name, reason=_message(opened.failure())))
    return _walk_layout(unsafe_perform_io(opened.unwrap()), name)


# --- a lock file -----------------------------------------------------------------------------


def _snapshot_inventory(source: str, snapshot: CopySnapshot) -> Inventory:
    manifests: list[Digest] = []
    blobs: list[Descriptor] = []
    for item in snapshot.items:
        for node in walk(item.node):
            if isinstance(node, CopyImage):
                manifests.append(node.manifest.digest)
                blobs.extend(manifest_blobs(node.manifest))
            else:
                manifests.append(node.index.digest)
    return make_inventory(source, blobs, manifests)


def inventory_of_lock(
    path: str, client: RegistryClient, concurrency: int
) -> IOResult[Inventory, object]:
    """What a BundleLock or ImagesLock names, walked in its registry as ``copy --lock``."""
    request = parse_copy_request(
        image=None, bundle=None, lock=path, tar=None, to_repo=None, to_tar=path,
        lock_output=None, concurrency=max(1, concurrency), include_non_distributable=False,
        repo_based_tags=False, resume=False,
    )  # fmt: skip
    if isinstance(request, Failure):
        return IOFailure(request.failure())
    with temporary_store() as staging:
        walker = BundleWalk(Sources(client, None), staging, request.unwrap())
        try:
            snapshot = observe_sources(walker, request.unwrap())
        except WalkFailed as failed:
            error = failed.error
            reason = (
                _message(error) if failed.context is None else f"{failed.context}{_message(error)}"
            )
            return IOFailure(InventoryFailed(what=path, reason=reason))
    return IOSuccess(_snapshot_inventory(path, snapshot))


# --- --since X -------------------------------------------------------------------------------


def _read_head(path: Path) -> bytes | None:
    try:
        with path.open("rb") as handle:
            return handle.read(512)
    except OSError:
        return None


def _inventory_file(path: str) -> IOResult[Inventory, InventoryFailed]:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return IOFailure(InventoryFailed(what=path, reason=exc.strerror or str(exc)))
    parsed = parse_inventory(raw, path)
    if isinstance(parsed, Failure):
        return IOFailure(InventoryFailed(what=path, reason=parsed.failure().reason))
    return IOSuccess(parsed.unwrap())


def read_since(text: str) -> IOResult[Inventory, InventoryFailed]:
    """``--since X``: an inventory file, an imgpkg tarball, ``oci:DIR`` (or a directory
    holding a layout) or ``oci-archive:FILE``; a plain file is told by its first bytes."""
    readers: Iterable[Callable[[], IOResult[Inventory, InventoryFailed]]]
    if text.startswith((ARCHIVE_PREFIX, LAYOUT_PREFIX)) or Path(text).is_dir():
        readers = (lambda: inventory_of_layout(text),)
    else:
        head = _read_head(Path(text))
        if head is None:
            return IOFailure(InventoryFailed(what=text, reason="cannot be read"))
        if looks_like_inventory(head):
            readers = (lambda: _inventory_file(text),)
        else:
            readers = (
                lambda: inventory_of_tarball(text),
                lambda: inventory_of_layout(ARCHIVE_PREFIX + text),
            )
    first: InventoryFailed | None = None
    for read in readers:
        found = read()
        if not isinstance(found, IOFailure):
            return found
        first = first or unsafe_perform_io(found.failure())
    assert first is not None
    return IOFailure(
        InventoryFailed(
            what=f"--since '{text}'",
            reason="not an inventory, an imgpkg tarball, an OCI layout or an OCI archive "
            f"({first.message})",
        )
    )
