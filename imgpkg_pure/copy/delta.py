"""Differential transfers: carry only the layers the other side lacks.

``copy … --to-tar DELTA --since X`` (and ``--to-repo oci:DIR|oci-archive:FILE``)
writes every manifest and config of what it copies but only the layers the
inventory ``X`` does not hold (``select_delta``).  A bundle's ``.imgpkg`` layer is
always carried: the import reads ``images.yml`` from it.

A delta says so inside, with a **marker**: one more image, labelled
``dev.carvel.imgpkg-pure.delta``, whose config is the *delta document* (the
layers left out, and the inventory they were left out against) and whose single
layer is a *sentinel*, a blob that is written nowhere.

* In an imgpkg tarball the marker is one more element of ``manifest.json``.
  imgpkg imports a tarball with one ggcr ``MultiWrite``, which uploads every
  blob of every image (skipping those the destination has) and only then, once
  all succeeded, any manifest.  The sentinel is in no tar and at no destination,
  so imgpkg stops at it with its own ``file sha256-….tar.gz not found in tar``
  before it writes any manifest or tag.  imgpkg-pure's reader takes the marker
  out of the elements (``split_delta``) and keeps its document.
* In an OCI layout (or an archive of one) the marker is the root
  ``imgpkg-pure-delta``: a tool asked for it fails on the sentinel; the other
  roots read as usual, their left-out layers absent.

Importing a delta first checks, read-only, that the destination holds every
layer the delta leaves out (``DeltaIncomplete`` otherwise, naming the first).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Any, Final, final

from attrs import evolve, field, frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.copy.snapshot import CopyImage, CopySnapshot, walk
from imgpkg_pure.digest import Digest, digest_of, parse_digest
from imgpkg_pure.errors import Fact, MalformedDocument
from imgpkg_pure.imgpkg_tar import TarImage, TarLayer, TarManifest, TarPlan
from imgpkg_pure.inventory import Inventory, inventory_digest
from imgpkg_pure.layer.layering import bundle_lock_layer
from imgpkg_pure.media_types import OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST
from imgpkg_pure.oci.codec import encode_manifest
from imgpkg_pure.oci.values import Annotations, Descriptor, Manifest
from imgpkg_pure.plan.steps import (
    BlobAvailable,
    BlobSource,
    LayoutTarget,
    LeftOut,
    Plan,
    Precondition,
    PutBlob,
    PutManifest,
    Step,
    Tag,
)
from imgpkg_pure.strict_json import Refused, check_header, object_fields, read_document

__all__ = [
    "DELTA_KIND",
    "DELTA_LABEL",
    "DELTA_ROOT",
    "DELTA_VERSION",
    "MARKER_REPOSITORY",
    "SHOWN_MISSING",
    "DeltaIncomplete",
    "DeltaMarker",
    "DeltaSelection",
    "MarkerImage",
    "delta_marker",
    "delta_plan",
    "delta_preconditions",
    "encode_delta_document",
    "is_marker",
    "layers_text",
    "marker_element",
    "marker_image",
    "marker_steps",
    "parse_delta_document",
    "render_tar_plan",
    "select_delta",
    "snapshot_layers",
    "split_delta",
]

#: The label (tarball element) and annotation (marker manifest) that mark a delta.
DELTA_LABEL: Final = "dev.carvel.imgpkg-pure.delta"
DELTA_KIND: Final = "imgpkg-pure-delta"
DELTA_VERSION: Final = 1
#: The root name of the marker in a delta OCI layout.
DELTA_ROOT: Final = "imgpkg-pure-delta"
#: Where the marker element of a tarball says it comes from: a name no registry has
#: (``.invalid`` is reserved, RFC 2606), so imgpkg's mount shortcut never applies.
MARKER_REPOSITORY: Final = "imgpkg-pure-delta.invalid/delta"
_SENTINEL_PREFIX: Final = b"imgpkg-pure delta sentinel, written nowhere: "
_FIELDS: Final = ("kind", "version", "since", "inventory", "leftOut")
_LAYER_FIELDS: Final = ("digest", "mediaType", "size")
_INT64_MAX: Final = (1 << 63) - 1


def _plain(descriptors: Iterable[Descriptor]) -> tuple[Descriptor, ...]:
    """Media type, digest and size only; each digest once (the first wins), sorted by digest."""
    found: dict[Digest, Descriptor] = {}
    for desc in descriptors:
        found.setdefault(
            desc.digest, Descriptor(media_type=desc.media_type, digest=desc.digest, size=desc.size)
        )
    return tuple(found[digest] for digest in sorted(found, key=str))


def _total(descriptors: Iterable[Descriptor]) -> int:
    return sum(desc.size for desc in descriptors)


# --- choosing what to leave out --------------------------------------------------------------


@final
@frozen(kw_only=True)
class DeltaSelection:
    """The distinct layers of a transfer, split: those ``written`` and those ``left_out``
    (held by the other side).  Both sorted by digest; together every layer, once."""

    written: tuple[Descriptor, ...] = field(converter=_plain)
    left_out: tuple[Descriptor, ...] = field(converter=_plain)

    @property
    def written_bytes(self) -> int:
        return _total(self.written)

    @property
    def left_out_bytes(self) -> int:
        return _total(self.left_out)

    @property
    def left_out_digests(self) -> frozenset[Digest]:
        return frozenset(desc.digest for desc in self.left_out)


def select_delta(
    layers: Iterable[Descriptor], held: Collection[Digest], keep: Collection[Digest] = ()
) -> DeltaSelection:
    """Leave out every layer ``held`` lists, except those in ``keep``; write the rest."""
    distinct = _plain(layers)
    return DeltaSelection(
        written=(d for d in distinct if d.digest not in held or d.digest in keep),
        left_out=(d for d in distinct if d.digest in held and d.digest not in keep),
    )


def snapshot_layers(snapshot: CopySnapshot) -> tuple[tuple[Descriptor, ...], frozenset[Digest]]:
    """Every layer of every image a copy carries, and those a delta must keep anyway: each
    bundle's ``.imgpkg`` layer, which an import reads ``images.yml`` from."""
    layers: list[Descriptor] = []
    keep: set[Digest] = set()
    for item in snapshot.items:
        for node in walk(item.node):
            if not isinstance(node, CopyImage):
                continue
            layers.extend(node.manifest.layers)
            if item.is_bundle and node is item.node:
                lock_layer = bundle_lock_layer(node.manifest.layers)
                if lock_layer is not None:
                    keep.add(lock_layer.digest)
    return tuple(layers), frozenset(keep)


# --- the delta document ----------------------------------------------------------------------


@final
@frozen(kw_only=True)
class DeltaMarker:
    """What a delta leaves out, and what it was made against: the inventory's ``since``
    (its source) and ``inventory`` (the digest of its canonical bytes)."""

    since: str
    inventory: Digest
    left_out: tuple[Descriptor, ...] = field(converter=_plain)

    @property
    def left_out_bytes(self) -> int:
        return _total(self.left_out)

    @property
    def digests(self) -> frozenset[Digest]:
        return frozenset(desc.digest for desc in self.left_out)


def delta_marker(selection: DeltaSelection, inventory: Inventory) -> DeltaMarker:
    return DeltaMarker(
        since=inventory.source, inventory=inventory_digest(inventory), left_out=selection.left_out
    )


def encode_delta_document(marker: DeltaMarker) -> bytes:
    """The delta document: compact JSON, keys sorted, layers sorted by digest.

    Its keys match no field of an image config, so Go's decoder (imgpkg) reads it
    as an empty config rather than failing on it.
    """
    document = {
        "kind": DELTA_KIND,
        "version": DELTA_VERSION,
        "since": marker.since,
        "inventory": str(marker.inventory),
        "leftOut": [
            {"digest": str(d.digest), "mediaType": d.media_type, "size": d.size}
            for d in marker.left_out
        ],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode(
        "ascii"
    )


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise Refused(path, "expected a string")
    return value


def _digest(value: Any, path: str) -> Digest:
    parsed = parse_digest(_string(value, path))
    if isinstance(parsed, Failure):
        raise Refused(path, parsed.failure().reason)
    return parsed.unwrap()


def _layer(value: Any, path: str) -> Descriptor:
    obj = object_fields(value, path, _LAYER_FIELDS)
    size = obj["size"]
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= _INT64_MAX:
        raise Refused(f"{path}.size", f"expected a size (0 to 2^63-1), got {size!r}")
    return Descriptor(
        media_type=_string(obj["mediaType"], f"{path}.mediaType"),
        digest=_digest(obj["digest"], f"{path}.digest"),
        size=size,
    )


def _marker(value: Any) -> DeltaMarker:
    obj = object_fields(value, "$", _FIELDS)
    check_header(obj, DELTA_KIND, DELTA_VERSION)
    layers = obj["leftOut"]
    if not isinstance(layers, list):
        raise Refused("leftOut", "expected an array")
    read = [_layer(item, f"leftOut[{i}]") for i, item in enumerate(layers)]
    seen: set[Digest] = set()
    for i, desc in enumerate(read):
        if desc.digest in seen:
            raise Refused(f"leftOut[{i}].digest", f"{desc.digest} is listed twice")
        seen.add(desc.digest)
    return DeltaMarker(
        since=_string(obj["since"], "since"),
        inventory=_digest(obj["inventory"], "inventory"),
        left_out=read,
    )


def parse_delta_document(raw: bytes, where: str) -> Result[DeltaMarker, MalformedDocument]:
    """Read a delta document strictly: every field named in what is refused."""
    return read_document(raw, where, _marker)


# --- the marker image ------------------------------------------------------------------------


@final
@frozen(kw_only=True)
class MarkerImage:
    """The marker as an OCI image: its config (the delta document), its sentinel layer
    (never written) and its manifest, annotated ``dev.carvel.imgpkg-pure.delta``."""

    config: Descriptor
    config_raw: bytes
    sentinel: Descriptor
    manifest: Descriptor
    manifest_raw: bytes


def marker_image(marker: DeltaMarker) -> MarkerImage:
    config_raw = encode_delta_document(marker)
    config = Descriptor(media_type=OCI_CONFIG, digest=digest_of(config_raw), size=len(config_raw))
    sentinel_bytes = _SENTINEL_PREFIX + str(config.digest).encode("ascii")
    sentinel = Descriptor(
        media_type=OCI_LAYER_GZIP, digest=digest_of(sentinel_bytes), size=len(sentinel_bytes)
    )
    annotations = Annotations.of({DELTA_LABEL: str(config.digest)})
    manifest_raw = encode_manifest(config, (sentinel,), OCI_MANIFEST, annotations)
    manifest = Descriptor(
        media_type=OCI_MANIFEST, digest=digest_of(manifest_raw), size=len(manifest_raw)
    )
    return MarkerImage(
        config=config,
        config_raw=config_raw,
        sentinel=sentinel,
        manifest=manifest,
        manifest_raw=manifest_raw,
    )


def marker_element(marker: DeltaMarker) -> TarImage:
    """The marker as one more element of a tarball's ``manifest.json``."""
    image = marker_image(marker)
    return TarImage(
        refs=(f"{MARKER_REPOSITORY}@{image.manifest.digest}",),
        layers=(
            TarLayer(
                media_type=image.sentinel.media_type,
                digest=image.sentinel.digest,
                diff_id=str(image.sentinel.digest),
                size=image.sentinel.size,
            ),
        ),
        config_digest=image.config.digest,
        config_raw=image.config_raw,
        manifest_media_type=OCI_MANIFEST,
        manifest_digest=image.manifest.digest,
        manifest_raw=image.manifest_raw,
        labels=Annotations.of({DELTA_LABEL: ""}),
    )


def is_marker(manifest: Manifest) -> bool:
    """Whether a manifest is a delta's marker (its annotation names the delta document)."""
    return DELTA_LABEL in manifest.annotations


def split_delta(
    manifest: TarManifest, where: str
) -> Result[tuple[TarManifest, DeltaMarker | None], MalformedDocument]:
    """A tarball's elements without the marker, and the marker's document (None: not a delta).

    Refused: two markers, or a marker whose config is not a delta document.
    """
    markers = [
        element
        for element in manifest.elements
        if isinstance(element, TarImage)
        and element.labels is not None
        and DELTA_LABEL in element.labels
    ]
    if not markers:
        return Success((manifest, None))
    if len(markers) > 1:
        return Failure(
            MalformedDocument(where=where, reason=f"{len(markers)} delta markers (one at most)")
        )
    found = markers[0]
    document = parse_delta_document(found.config_raw, f"{where}: delta marker {found.ref}")
    if isinstance(document, Failure):
        return Failure(document.failure())
    rest = TarManifest(elements=[e for e in manifest.elements if e is not found])
    return Success((rest, document.unwrap()))


# --- importing one ---------------------------------------------------------------------------


#: How many missing digests the refusal names.
SHOWN_MISSING: Final = 3


@final
@frozen(kw_only=True)
class DeltaIncomplete(Fact):
    """A delta's import would need layers it leaves out that the destination lacks."""

    delta: str
    destination: str
    missing: tuple[Digest, ...]

    template = ""

    @property
    def message(self) -> str:
        shown = ", ".join(str(d) for d in self.missing[:SHOWN_MISSING])
        more = len(self.missing) - SHOWN_MISSING
        tail = f" (and {more} more)" if more > 0 else ""
        return (
            f"{self.delta} is a delta, and {self.destination} lacks {len(self.missing)} of "
            f"the layers it leaves out: {shown}{tail}; import first what it was made "
            "against, or a full transfer"
        )


def layers_text(count: int) -> str:
    """``1 layer``, ``3 layers``."""
    return f"{count} layer" if count == 1 else f"{count} layers"


# --- plans -----------------------------------------------------------------------------------


def marker_steps(marker: DeltaMarker, target: LayoutTarget) -> tuple[Step, ...]:
    """The steps that write the marker into a delta layout: its config (the delta
    document), its manifest and the root ``imgpkg-pure-delta`` (never the sentinel)."""
    image = marker_image(marker)
    return (
        PutBlob(target=target, descriptor=image.config, data=image.config_raw),
        PutManifest(target=target, descriptor=image.manifest, raw=image.manifest_raw),
        Tag(target=target, tag=DELTA_ROOT, descriptor=image.manifest),
    )


def delta_plan(
    plan: Plan, marker: DeltaMarker, reason: str, *, marker_target: LayoutTarget | None
) -> Plan:
    """A copy plan that leaves out the marker's layers: it says so (``show``), and writes the
    marker when it makes a delta layout (``marker_target``)."""
    extra = () if marker_target is None else marker_steps(marker, marker_target)
    return evolve(
        plan,
        steps=(*plan.steps, *extra),
        left_out=LeftOut(layers=marker.left_out, reason=reason),
    )


def delta_preconditions(marker: DeltaMarker, destination: BlobSource) -> tuple[Precondition, ...]:
    """What ``apply`` checks again before importing a delta: the destination still holds
    every layer the delta leaves out."""
    return tuple(BlobAvailable(source=destination, digest=d.digest) for d in marker.left_out)


def render_tar_plan(
    path: str, plan: TarPlan, elements: int, left_out: LeftOut | None
) -> tuple[str, ...]:
    """``copy --to-tar … --dry-run``: what the tarball would hold, and what it leaves out."""
    layers = sum(layer.size for layer in plan.layers)
    lines = [
        f"Plan: copy --to-tar {path}",
        f"  {len(plan.layers)} layers to write, {layers} bytes; the tarball is {plan.size} bytes",
        f"  {elements} images and indexes in manifest.json ({len(plan.manifest_json)} bytes"
        + (", with the delta marker)" if left_out is not None else ")"),
    ]
    if left_out is not None:
        lines.append(
            f"  left out: {layers_text(len(left_out.layers))}, {left_out.size} bytes "
            f"({left_out.reason})"
        )
    if plan.skipped:
        lines.append(f"  {len(plan.skipped)} non-distributable layers skipped")
    lines.append("Layers:")
    lines.extend(f"  + {layer.digest} ({layer.size} bytes)" for layer in plan.layers)
    if left_out is not None:
        lines.extend(
            f"  = {layer.digest} ({layer.size} bytes) left out" for layer in left_out.layers
        )
    return tuple(lines)
