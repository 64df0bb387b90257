"""Round trips, determinism and corruption detection for the core's own codecs."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Success

from imgpkg_pure.digest import Digest, digest_of, parse_digest
from imgpkg_pure.errors import CorruptPlan, UnsupportedPlanVersion
from imgpkg_pure.image_build import build_image
from imgpkg_pure.media_types import OCI_MANIFEST
from imgpkg_pure.oci.codec import encode_index, encode_manifest, parse_index, parse_manifest
from imgpkg_pure.oci.gojson import encode
from imgpkg_pure.oci.values import Annotations, Descriptor
from imgpkg_pure.plan.planfile import decode_plan, encode_plan
from imgpkg_pure.plan.steps import Plan
from property_tests.strategies import annotation_sets, descriptors, digests, plans


@given(digests)
def test_digest_parse_format_round_trip(digest: Digest) -> None:
    assert parse_digest(str(digest)) == Success(digest)


@given(st.text(max_size=140))
def test_digest_parser_never_raises_and_is_strict(value: str) -> None:
    result = parse_digest(value)
    if isinstance(result, Success):
        assert str(result.unwrap()) == value


@given(st.binary(max_size=256))
def test_digest_of_matches_parsed_form(data: bytes) -> None:
    digest = digest_of(data)
    assert parse_digest(str(digest)) == Success(digest)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_go_json_is_valid_json_with_the_same_value(value: object) -> None:
    text = encode(value)  # type: ignore[arg-type]
    assert json.loads(text) == value
    for raw in ("<", ">", "&", "\u2028", "\u2029"):
        assert raw not in text


@given(descriptors, st.lists(descriptors, max_size=5), annotation_sets)
def test_manifest_encode_parse_round_trip(
    config: Descriptor, layers: list[Descriptor], ann: Annotations
) -> None:
    raw = encode_manifest(config, tuple(layers), OCI_MANIFEST, ann)
    manifest = parse_manifest(raw, "test").unwrap()
    assert manifest.raw == raw
    assert manifest.digest == digest_of(raw)
    assert manifest.config == config
    assert manifest.layers == tuple(layers)
    assert manifest.annotations == ann


@given(st.lists(descriptors, max_size=6), annotation_sets)
def test_index_encode_parse_round_trip(children: list[Descriptor], ann: Annotations) -> None:
    raw = encode_index(tuple(children), annotations=ann)
    index = parse_index(raw, "test").unwrap()
    assert index.manifests == tuple(children)
    assert index.annotations == ann
    assert encode_index(index.manifests, annotations=index.annotations) == raw


@given(st.binary(max_size=64))
def test_manifest_parser_never_raises(raw: bytes) -> None:
    result = parse_manifest(raw, "fuzz")
    assert isinstance(result, Success | Failure)


@given(plans)
def test_plan_file_round_trip_and_determinism(plan: Plan) -> None:
    data = encode_plan(plan)
    assert decode_plan(data) == Success(plan)
    assert encode_plan(plan) == data


@given(plans, st.data())
def test_plan_file_detects_any_flipped_byte(plan: Plan, data: st.DataObject) -> None:
    encoded = bytearray(encode_plan(plan))
    index = data.draw(st.integers(0, len(encoded) - 1))
    encoded[index] ^= data.draw(st.integers(1, 255))
    result = decode_plan(bytes(encoded))
    assert isinstance(result, Failure) or result == Success(plan)
    if isinstance(result, Failure):
        assert isinstance(result.failure(), CorruptPlan | UnsupportedPlanVersion)


@given(
    digests,
    digests,
    st.integers(0, 2**40),
    st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=4),
)
def test_built_image_is_deterministic_and_parses(
    diff_id: Digest, layer: Digest, size: int, labels: dict[str, str]
) -> None:
    first = build_image(diff_id, layer, size, labels)
    assert first == build_image(diff_id, layer, size, labels)
    manifest = parse_manifest(first.manifest_raw, "built").unwrap()
    assert manifest.config == first.config
    assert manifest.layers == (first.layer,)
