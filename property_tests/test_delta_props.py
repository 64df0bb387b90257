"""Laws of differential transfers (issue 14): the inventory file and the delta document
(round trip, determinism, near-misses refused naming the field), the choice of what to
leave out, the marker in a tarball, and plans that carry the saving."""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from returns.io import IOSuccess
from returns.result import Failure, Success
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.copy.delta import (
    DeltaMarker,
    encode_delta_document,
    marker_element,
    marker_image,
    parse_delta_document,
    select_delta,
    split_delta,
)
from imgpkg_pure.digest import Digest, digest_of
from imgpkg_pure.imgpkg_tar import (
    TarManifest,
    encode_tar_manifest,
    layer_entries,
    parse_tar_manifest,
    plan_tar,
)
from imgpkg_pure.inventory import (
    Inventory,
    encode_inventory,
    inventory_digest,
    looks_like_inventory,
    parse_inventory,
)
from imgpkg_pure.media_types import OCI_LAYER_GZIP
from imgpkg_pure.oci.values import Descriptor
from imgpkg_pure.plan.planfile import decode_plan, encode_plan
from imgpkg_pure.plan.steps import LeftOut, Plan
from imgpkg_pure.store.transports.imgpkg_tar import ImgpkgTarball
from property_tests.strategies import digests, plans
from property_tests.test_imgpkg_tar_props import _source, manifests, tarball_content

sizes = st.integers(0, 2**63 - 1)
sources = st.text(max_size=30)

inventories = st.builds(
    Inventory,
    source=sources,
    blobs=st.lists(st.tuples(digests, sizes), max_size=6),
    manifests=st.lists(digests, max_size=4),
)

layer_descriptors = st.builds(
    Descriptor,
    media_type=st.sampled_from(
        [OCI_LAYER_GZIP, "application/vnd.docker.image.rootfs.diff.tar.gzip"]
    ),
    digest=digests,
    size=sizes,
)
markers = st.builds(
    DeltaMarker,
    since=sources,
    inventory=digests,
    left_out=st.lists(layer_descriptors, max_size=5),
)


# --- the inventory file ----------------------------------------------------------------------


@given(inventories)
def test_inventory_round_trips(inventory: Inventory) -> None:
    raw = encode_inventory(inventory)
    assert parse_inventory(raw, "inv.json") == Success(inventory)
    assert looks_like_inventory(raw)


@given(inventories, st.randoms(use_true_random=False))
def test_inventory_bytes_depend_only_on_the_holdings(
    inventory: Inventory, rnd: random.Random
) -> None:
    blobs, manifests_ = list(inventory.blobs), list(inventory.manifests)
    rnd.shuffle(blobs)
    rnd.shuffle(manifests_)
    again = Inventory(source=inventory.source, blobs=blobs + blobs, manifests=manifests_ * 2)
    assert encode_inventory(again) == encode_inventory(inventory)
    assert (
        inventory_digest(again)
        == inventory_digest(inventory)
        == digest_of(encode_inventory(inventory))
    )


_D = "sha256:" + "a" * 64

#: (a change to the inventory document, the field the refusal must name)
INVENTORY_NEAR_MISSES: list[tuple[Callable[[dict[str, Any]], None], str]] = [
    (lambda d: d.update(kind="imgpkg-inventory"), "kind"),
    (lambda d: d.update(version=2), "version"),
    (lambda d: d.update(version="1"), "version"),
    (lambda d: d.update(version=True), "version"),
    (lambda d: d.update(source=7), "source"),
    (lambda d: d.pop("source"), "source"),
    (lambda d: d.update(extra=1), "extra"),
    (lambda d: d.update(blobs=[]), "blobs"),
    (lambda d: d["blobs"].update({_D: -1}), f"blobs.{_D}"),
    (lambda d: d["blobs"].update({_D: "5"}), f"blobs.{_D}"),
    (lambda d: d["blobs"].update({_D: True}), f"blobs.{_D}"),
    (lambda d: d["blobs"].update({_D: 2**63}), f"blobs.{_D}"),
    (lambda d: d["blobs"].update({"sha256:ABC": 1}), "blobs.sha256:ABC"),
    (lambda d: d["blobs"].update({"md5:" + "a" * 32: 1}), "blobs.md5:"),
    (lambda d: d.update(manifests={}), "manifests"),
    (lambda d: d.update(manifests=[_D, _D]), "manifests[1]"),
    (lambda d: d.update(manifests=[3]), "manifests[0]"),
]


@given(inventories, st.sampled_from(INVENTORY_NEAR_MISSES))
def test_inventory_near_misses_are_refused_naming_the_field(
    inventory: Inventory, miss: tuple[Callable[[dict[str, Any]], None], str]
) -> None:
    change, field = miss
    document = json.loads(encode_inventory(inventory))
    change(document)
    parsed = parse_inventory(json.dumps(document).encode(), "inv.json")
    assert isinstance(parsed, Failure)
    message = parsed.failure().message
    assert message.startswith("inv.json: ") and field in message, message


@example(b'{"kind": "imgpkg-pure-inventory", "kind": "x"}')
@example(b"\xff")
@example(b"[")
@given(st.binary(max_size=64))
def test_inventory_garbage_is_one_refusal(raw: bytes) -> None:
    assert isinstance(parse_inventory(raw, "x"), Failure)


# --- the delta document ----------------------------------------------------------------------


@given(markers)
def test_delta_document_round_trips_and_is_deterministic(marker: DeltaMarker) -> None:
    raw = encode_delta_document(marker)
    assert parse_delta_document(raw, "d") == Success(marker)
    reordered = DeltaMarker(
        since=marker.since, inventory=marker.inventory, left_out=tuple(reversed(marker.left_out))
    )
    assert encode_delta_document(reordered) == raw


DELTA_NEAR_MISSES: list[tuple[Callable[[dict[str, Any]], None], str]] = [
    (lambda d: d.update(kind="imgpkg-pure-inventory"), "kind"),
    (lambda d: d.update(version=0), "version"),
    (lambda d: d.update(inventory="sha256:1"), "inventory"),
    (lambda d: d.pop("since"), "since"),
    (lambda d: d.update(leftOut={}), "leftOut"),
    (lambda d: d.update(rootfs={}), "rootfs"),
    (lambda d: d["leftOut"].append({"digest": _D, "mediaType": "m", "size": -2}), "size"),
    (lambda d: d["leftOut"].append({"digest": _D, "mediaType": 1, "size": 2}), "mediaType"),
    (lambda d: d["leftOut"].append({"digest": "x", "mediaType": "m", "size": 2}), "digest"),
    (lambda d: d["leftOut"].append({"digest": _D, "size": 2}), "mediaType"),
    (
        lambda d: d["leftOut"].extend(
            [
                {"digest": _D, "mediaType": "m", "size": 2},
                {"digest": _D, "mediaType": "m", "size": 2},
            ]
        ),
        "digest",
    ),
]


@given(markers, st.sampled_from(DELTA_NEAR_MISSES))
def test_delta_document_near_misses_are_refused_naming_the_field(
    marker: DeltaMarker, miss: tuple[Callable[[dict[str, Any]], None], str]
) -> None:
    change, field = miss
    document = json.loads(encode_delta_document(marker))
    document["leftOut"] = [d for d in document["leftOut"] if d["digest"] != _D]
    change(document)
    parsed = parse_delta_document(json.dumps(document).encode(), "d")
    assert isinstance(parsed, Failure)
    assert field in parsed.failure().message, parsed.failure().message


# --- what to leave out -----------------------------------------------------------------------


@given(
    st.lists(layer_descriptors, max_size=8),
    st.sets(digests, max_size=6),
    st.sets(digests, max_size=3),
    st.data(),
)
def test_left_out_and_written_partition_the_layers(
    layers: list[Descriptor],
    held: set[Digest],
    keep: set[Digest],
    data: st.DataObject,
) -> None:
    # the held set and the kept set mostly name layers of the transfer
    if layers:
        held |= set(data.draw(st.lists(st.sampled_from([d.digest for d in layers]), max_size=6)))
        keep |= set(data.draw(st.lists(st.sampled_from([d.digest for d in layers]), max_size=2)))
    selection = select_delta(layers, held, keep)
    written = {d.digest for d in selection.written}
    left = {d.digest for d in selection.left_out}
    assert written | left == {d.digest for d in layers}
    assert not written & left
    assert all(d in held and d not in keep for d in left)  # nothing X lacks is left out
    assert all(d not in held or d in keep for d in written)
    assert select_delta(layers + layers[::-1], held, keep) == selection  # first one counts
    first: dict[Digest, int] = {}
    for desc in layers:
        first.setdefault(desc.digest, desc.size)
    assert selection.left_out_bytes == sum(first[d] for d in left)


# --- the marker in a tarball -----------------------------------------------------------------


@given(manifests, markers)
def test_the_marker_travels_in_manifest_json_and_is_split_off(
    manifest: TarManifest, marker: DeltaMarker
) -> None:
    with_marker = TarManifest(elements=(*manifest.elements, marker_element(marker)))
    raw = encode_tar_manifest(with_marker)
    parsed = parse_tar_manifest(raw, "manifest.json").unwrap()
    assert split_delta(parsed, "manifest.json") == Success((manifest, marker))
    assert split_delta(manifest, "manifest.json") == Success((manifest, None))
    sentinel = marker_image(marker).sentinel.digest
    entries = layer_entries(with_marker, leave_out=marker.digests | {sentinel})
    assert {layer.digest for layer in entries} == {
        layer.digest for layer in layer_entries(manifest) if layer.digest not in marker.digests
    }
    twice = TarManifest(elements=(*with_marker.elements, marker_element(marker)))
    assert isinstance(split_delta(twice, "m"), Failure)  # one marker at most


@settings(max_examples=30)
@given(tarball_content(), st.data())
def test_a_delta_tarball_reads_back_without_its_left_out_layers(
    content: tuple[TarManifest, list[bytes]], data: st.DataObject
) -> None:
    manifest, blobs = content
    distributable = list(layer_entries(manifest))
    left = data.draw(st.lists(st.sampled_from(distributable), unique=True)) if distributable else []
    marker = DeltaMarker(
        since="inv", inventory=digest_of(b"inv"), left_out=[layer.descriptor for layer in left]
    )
    delta = TarManifest(elements=(*manifest.elements, marker_element(marker)))
    leave_out = marker.digests | {marker_image(marker).sentinel.digest}
    from imgpkg_pure.store.transports.imgpkg_tar import write_imgpkg_tar  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "delta.tar"
        written = write_imgpkg_tar(path, delta, _source(blobs, []), leave_out=leave_out)
        assert isinstance(written, IOSuccess)
        assert path.stat().st_size == plan_tar(delta, leave_out=leave_out).size
        tarball = unsafe_perform_io(ImgpkgTarball.at(path).unwrap())
        assert tarball.manifest == manifest and tarball.delta == marker
        assert all(tarball.layer_entry(d) is None for d in leave_out)
        assert tarball.check_layers() == Success(tarball)  # the left-out layers are not "missing"


# --- plans -----------------------------------------------------------------------------------


@given(plans, st.lists(layer_descriptors, max_size=3), sources)
def test_plans_carry_what_they_leave_out(plan: Plan, layers: list[Descriptor], reason: str) -> None:
    from attrs import evolve  # noqa: PLC0415

    saving = evolve(plan, left_out=LeftOut(layers=tuple(layers), reason=reason))
    assert decode_plan(encode_plan(saving)) == Success(saving)
    assert decode_plan(encode_plan(evolve(plan, left_out=None))) == Success(
        evolve(plan, left_out=None)
    )
