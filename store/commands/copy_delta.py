"""What ``copy`` observes for a differential transfer (``imgpkg_pure.copy.delta``).

Two cases, both decided before anything is written:

* ``--since X`` (making a delta): ``X`` is read as an inventory
  (``inventories.read_since``) and the layers of the copy it holds are chosen
  to be left out (``select_delta``; a bundle's ``.imgpkg`` layer stays).
* a delta as the source (``--tar DELTA``, ``-b oci:DELTA:TAG``, an archive):
  its marker says which layers it leaves out; those the source indeed lacks
  must all be at the destination.  They are asked for read-only, concurrently
  (``HEAD`` on a registry, a look into a layout), and the copy is refused with
  one line naming the first missing ones (``DeltaIncomplete``) when any is not.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, final

from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.copy import (
    LAYOUT_REGISTRY,
    LAYOUT_REPOSITORY,
    ArchiveDestination,
    CopyRequest,
    CopySnapshot,
    layout_reference,
)
from imgpkg_pure.digest import Digest
from imgpkg_pure.media_types import is_distributable
from imgpkg_pure.oci.codec import parse_manifest
from imgpkg_pure.push import LayoutDestination, UsageError
from imgpkg_pure.reference import Reference, Repository
from imgpkg_pure.store.content.local import LocalStore
from imgpkg_pure.store.content.local_layout import LAYOUT_FILE
from imgpkg_pure.store.registry import RegistryClient, RegistryError
from imgpkg_pure.store.transports.layout import LayoutReader

if TYPE_CHECKING:
    from imgpkg_pure.copy.delta import DeltaMarker
    from imgpkg_pure.store.transports.imgpkg_tar import ImgpkgTarball

# The delta's rules (``imgpkg_pure.copy.delta``: the tarball format, inventories, strict
# JSON) are imported where a delta is made, read or summed up: a full copy loads none.

__all__ = ["Delta", "observe_delta"]


@final
@frozen(kw_only=True)
class Delta:
    """A differential copy: the layers it leaves out (``marker``) and why.

    ``writes_marker``: this copy makes a delta (``--since``) and marks it; otherwise it
    imports one, whose left-out layers the destination was checked to hold.
    """

    marker: DeltaMarker
    writes_marker: bool
    reason: str

    @property
    def left_out_digests(self) -> frozenset[Digest]:
        return self.marker.digests

    def summary(self, since: str | None) -> str:
        """The closing line: how many layers and bytes were left out, and why."""
        from imgpkg_pure.copy.delta import layers_text  # noqa: PLC0415

        count, size = layers_text(len(self.marker.left_out)), self.marker.left_out_bytes
        if self.writes_marker:
            return (
                f"copy | left out {count} ({size} bytes) that {self.marker.since} "
                f"already holds (--since {since})"
            )
        return f"copy | {count} ({size} bytes) the delta leaves out: {self.reason}"


def _destination_name(request: CopyRequest) -> str:
    if request.to_tar is not None:
        return request.to_tar
    destination = request.destination
    if isinstance(destination, LayoutDestination):
        return f"oci:{destination.path}"
    return str(destination)


def _layout_marker(layout: LayoutReader) -> IOResult[DeltaMarker | None, object]:
    """The marker root of a layout source, if it has one."""
    from imgpkg_pure.copy.delta import DELTA_ROOT, is_marker, parse_delta_document  # noqa: PLC0415

    root = layout_reference(DELTA_ROOT)
    head = layout.head_manifest(root)
    if isinstance(head, IOFailure) or unsafe_perform_io(head.unwrap()) is None:
        return IOSuccess(None)
    got = layout.get_manifest(root)
    if isinstance(got, IOFailure):
        return IOFailure(unsafe_perform_io(got.failure()))
    response = unsafe_perform_io(got.unwrap())
    where = f"{layout.name}:{DELTA_ROOT}"
    manifest = parse_manifest(response.raw, where, response.media_type)
    if isinstance(manifest, Failure):
        return IOFailure(manifest.failure())
    if not is_marker(manifest.unwrap()):
        return IOSuccess(None)
    config = bytearray()
    repo = Repository(registry=LAYOUT_REGISTRY, repository=LAYOUT_REPOSITORY)
    fetched = layout.fetch_blob_to(repo, manifest.unwrap().config, config.extend)
    if isinstance(fetched, IOFailure):
        return IOFailure(unsafe_perform_io(fetched.failure()))
    parsed = parse_delta_document(bytes(config), f"{where}: delta document")
    if isinstance(parsed, Failure):
        return IOFailure(parsed.failure())
    return IOSuccess(parsed.unwrap())


def _layout_holds(layout: LayoutReader, digest: Digest) -> bool:
    ref = Reference(registry=LAYOUT_REGISTRY, repository=LAYOUT_REPOSITORY, tag=None, digest=digest)
    found = layout.head_manifest(ref)
    return not isinstance(found, IOFailure) and unsafe_perform_io(found.unwrap()) is not None


def destination_lacks(
    request: CopyRequest, client: RegistryClient, digests: Iterable[Digest]
) -> IOResult[tuple[Digest, ...], RegistryError]:
    """Which of ``digests`` the destination does not hold (asked read-only, in order).

    A registry is asked with ``HEAD``, ``--concurrency`` at a time; a layout that exists
    is looked into; a tarball or archive being written holds nothing yet.
    """
    wanted = list(digests)
    destination = request.destination
    if request.to_tar is not None or isinstance(destination, ArchiveDestination):
        return IOSuccess(tuple(wanted))
    if isinstance(destination, LayoutDestination):
        if not (Path(destination.path) / LAYOUT_FILE).is_file():
            return IOSuccess(tuple(wanted))
        opened = LocalStore.at(Path(destination.path))
        if isinstance(opened, IOFailure):
            return IOSuccess(tuple(wanted))
        store = unsafe_perform_io(opened.unwrap())
        return IOSuccess(
            tuple(d for d in wanted if not unsafe_perform_io(store.exists(d).value_or(False)))
        )
    repo = destination

    def ask(digest: Digest) -> IOResult[int | None, RegistryError]:
        return client.blob_exists(repo, digest)

    with ThreadPoolExecutor(max_workers=max(1, request.concurrency)) as pool:
        answers = list(pool.map(ask, wanted))
    missing: list[Digest] = []
    for digest, answer in zip(wanted, answers, strict=True):
        if isinstance(answer, IOFailure):
            return IOFailure(unsafe_perform_io(answer.failure()))
        if unsafe_perform_io(answer.unwrap()) is None:
            missing.append(digest)
    return IOSuccess(tuple(missing))


def _making(request: CopyRequest, snapshot: CopySnapshot, since: str) -> IOResult[Delta, object]:
    # The inventory readers (OCI layouts, archives, tarballs) load only for --since.
    from imgpkg_pure.copy.delta import delta_marker, select_delta, snapshot_layers  # noqa: PLC0415
    from imgpkg_pure.store.commands.inventories import read_since  # noqa: PLC0415

    inventory = read_since(since)
    if isinstance(inventory, IOFailure):
        return IOFailure(unsafe_perform_io(inventory.failure()))
    held = unsafe_perform_io(inventory.unwrap())
    layers, keep = snapshot_layers(snapshot)
    carried = [
        layer
        for layer in layers
        if request.include_non_distributable or is_distributable(layer.media_type)
    ]
    selection = select_delta(carried, held.holds(), keep)
    marker = delta_marker(selection, held)
    return IOSuccess(
        Delta(marker=marker, writes_marker=True, reason=f"{held.source} already holds them")
    )


def observe_delta(
    request: CopyRequest,
    snapshot: CopySnapshot,
    *,
    client: RegistryClient,
    tarball: ImgpkgTarball | None,
    layout: LayoutReader | None,
) -> IOResult[Delta | None, object]:
    """The delta this copy makes or imports (see the module doc); None for a full copy."""
    read: DeltaMarker | None = None
    name = ""
    if tarball is not None:
        read, name = tarball.delta, f"tarball {tarball.path}"
    elif layout is not None:
        found = _layout_marker(layout)
        if isinstance(found, IOFailure):
            return IOFailure(unsafe_perform_io(found.failure()))
        read, name = unsafe_perform_io(found.unwrap()), layout.name
    if request.since is not None:
        if read is not None:
            return IOFailure(
                UsageError(reason=f"{name} is a delta itself: --since cannot make a delta of one")
            )
        return _making(request, snapshot, request.since).map(lambda delta: delta)
    if read is None:
        return IOSuccess(None)
    from imgpkg_pure.copy.delta import DeltaIncomplete, DeltaMarker  # noqa: PLC0415

    if tarball is not None:
        lacking = [d for d in read.left_out if tarball.layer_entry(d.digest) is None]
    else:
        assert layout is not None
        lacking = [d for d in read.left_out if not _layout_holds(layout, d.digest)]
    where = _destination_name(request)
    missing = destination_lacks(request, client, (d.digest for d in lacking))
    if isinstance(missing, IOFailure):
        return IOFailure(unsafe_perform_io(missing.failure()))
    absent = unsafe_perform_io(missing.unwrap())
    if absent:
        return IOFailure(DeltaIncomplete(delta=name, destination=where, missing=absent))
    narrowed = DeltaMarker(since=read.since, inventory=read.inventory, left_out=lacking)
    return IOSuccess(Delta(marker=narrowed, writes_marker=False, reason=f"already in {where}"))
