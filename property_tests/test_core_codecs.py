"""Round trips, determinism and corruption detection for the core's own codecs."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from hypothesis import event, example, given
from hypothesis import strategies as st
from returns.result import Failure, Success

from imgpkg_pure.digest import Digest, digest_of, parse_digest
from imgpkg_pure.errors import CorruptPlan, UnsupportedPlanVersion
from imgpkg_pure.image_build import build_image
from imgpkg_pure.media_types import OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST
from imgpkg_pure.oci.codec import encode_index, encode_manifest, parse_index, parse_manifest
from imgpkg_pure.oci.gojson import encode
from imgpkg_pure.oci.values import Annotations, Descriptor
from imgpkg_pure.plan.planfile import decode_plan, encode_plan
from imgpkg_pure.plan.steps import Plan
from property_tests.strategies import annotation_sets, descriptors, digests, plans


@given(digests)
def test_digest_parse_format_round_trip(digest: Digest) -> None:
    assert parse_digest(str(digest)) == Success(digest)


# image-spec descriptor.md "Digests": the registered algorithms with their exact lowercase
# hex encodings.  Written here, so the product's parser is judged by the spec, not by itself.
DIGEST_GRAMMAR = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")

digest_texts = st.one_of(
    st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex()),
    st.binary(min_size=64, max_size=64).map(lambda b: "sha512:" + b.hex()),
)


@st.composite
def digest_near_misses(draw: st.DrawFn) -> str:
    """A valid digest with one small change (which may happen to keep it valid)."""
    text = draw(digest_texts)
    algorithm, _, encoded = text.partition(":")
    at = draw(st.integers(0, len(encoded) - 1))
    odd = draw(st.sampled_from(["A", "F", "g", "z", ":", " ", "\n", "\u0663", "0", "a"]))
    return draw(
        st.sampled_from(
            [
                f"{algorithm}:{encoded[:at]}{odd}{encoded[at + 1 :]}",  # one character changed
                f"{algorithm}:{encoded[:at]}{encoded[at + 1 :]}",  # one character dropped
                f"{algorithm}:{encoded[:at]}{odd}{encoded[at:]}",  # one character added
                f"{algorithm}:{encoded.upper()}",
                f"{algorithm}{encoded}",
                f"{algorithm}:{encoded}{odd}",
                f"{odd}{algorithm}:{encoded}",
                f"{algorithm.upper()}:{encoded}",
                f"sha384:{encoded}",
                f"sha-256:{encoded}",
                f"{'sha512' if algorithm == 'sha256' else 'sha256'}:{encoded}",
                f"{algorithm}::{encoded}",
            ]
        )
    )


@example("sha256:" + "a" * 64)
@example("sha512:" + "0" * 128)
@example("sha256:" + "A" * 64)
@example("sha256:" + "a" * 64 + "\n")
@example("sha256:" + "a" * 63)
@example("sha512:" + "a" * 64)
@example("md5:" + "a" * 32)
@example("")
@given(st.one_of(digest_texts, digest_near_misses(), st.text(max_size=140)))
def test_digest_parser_never_raises_and_is_strict(value: str) -> None:
    result = parse_digest(value)
    if DIGEST_GRAMMAR.fullmatch(value):
        event("valid")
        assert isinstance(result, Success), result
        digest = result.unwrap()
        assert str(digest) == value
        assert f"{digest.algorithm}:{digest.hex}" == value
    else:
        event("invalid")
        assert isinstance(result, Failure), value
        assert result.failure().value == value


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


def _json_object(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except ValueError:
        return False


@given(st.binary(max_size=64))
def test_manifest_parser_refuses_what_is_not_a_json_object(raw: bytes) -> None:
    result = parse_manifest(raw, "fuzz")
    if not _json_object(raw):
        assert isinstance(result, Failure)
        assert result.failure().where == "fuzz"
        assert result.failure().reason.startswith("$: ")


hex64 = st.binary(min_size=32, max_size=32).map(lambda b: b.hex())
json_descriptors = st.fixed_dictionaries(
    {
        "mediaType": st.sampled_from([OCI_CONFIG, OCI_LAYER_GZIP, "application/x.test"]),
        "digest": hex64.map(lambda h: "sha256:" + h),
        "size": st.integers(0, 2**53),
    },
    optional={"annotations": st.dictionaries(st.text(max_size=8), st.text(max_size=8))},
)
json_manifests = st.fixed_dictionaries(
    {
        "schemaVersion": st.just(2),
        "config": json_descriptors,
        "layers": st.lists(json_descriptors, max_size=3),
    },
    optional={
        "mediaType": st.just(OCI_MANIFEST),
        "annotations": st.dictionaries(st.text(max_size=8), st.text(max_size=8)),
    },
)


def _dumps(document: object, style: int) -> bytes:
    """The document in one of several spellings (spacing, key order)."""
    match style:
        case 0:
            return json.dumps(document).encode()
        case 1:
            return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
        case _:
            return json.dumps(document, indent=style, ensure_ascii=False).encode()


def _descriptor_of(obj: dict[str, object]) -> tuple[object, ...]:
    return (obj["mediaType"], obj["digest"], obj["size"], obj.get("annotations") or {})


@given(json_manifests, st.integers(0, 3))
def test_manifest_written_by_hand_parses_to_what_it_says(
    document: dict[str, Any], style: int
) -> None:
    raw = _dumps(document, style)
    manifest = parse_manifest(raw, "doc").unwrap()
    assert manifest.raw == raw
    assert str(manifest.digest) == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert manifest.media_type == OCI_MANIFEST
    assert _descriptor_of(document["config"]) == (
        manifest.config.media_type,
        str(manifest.config.digest),
        manifest.config.size,
        manifest.config.annotations.as_dict(),
    )
    assert [_descriptor_of(layer) for layer in document["layers"]] == [
        (layer.media_type, str(layer.digest), layer.size, layer.annotations.as_dict())
        for layer in manifest.layers
    ]
    assert manifest.annotations.as_dict() == (document.get("annotations") or {})


# One change each that image-spec forbids, and the JSON path the error must name.
NEAR_MISSES: list[tuple[str, Callable[[dict[str, Any]], object]]] = [
    ("$.schemaVersion", lambda d: d.pop("schemaVersion")),
    ("$.schemaVersion", lambda d: d.update(schemaVersion=1)),
    ("$.schemaVersion", lambda d: d.update(schemaVersion="2")),
    ("$.mediaType", lambda d: d.update(mediaType="application/vnd.oci.image.index.v1+json")),
    ("$.config", lambda d: d.pop("config")),
    ("$.config", lambda d: d.update(config=[])),
    ("$.config.size", lambda d: d["config"].update(size=-1)),
    ("$.config.size", lambda d: d["config"].update(size="12")),
    ("$.config.size", lambda d: d["config"].update(size=True)),
    ("$.config.size", lambda d: d["config"].update(size=1.5)),
    ("$.config.digest", lambda d: d["config"].update(digest=d["config"]["digest"].upper())),
    ("$.config.digest", lambda d: d["config"].update(digest=d["config"]["digest"][:-1])),
    ("$.config.digest", lambda d: d["config"].pop("digest")),
    ("$.config.mediaType", lambda d: d["config"].pop("mediaType")),
    ("$.layers", lambda d: d.update(layers={})),
    ("$.layers[0]", lambda d: d.update(layers=["sha256:" + "a" * 64])),
    ("$.annotations.k", lambda d: d.update(annotations={"k": 1})),
]


@given(json_manifests, st.integers(0, 3), st.sampled_from(NEAR_MISSES))
def test_manifest_near_misses_are_refused_naming_the_field(
    document: dict[str, Any],
    style: int,
    near_miss: tuple[str, Callable[[dict[str, Any]], object]],
) -> None:
    path, change = near_miss
    change(document)
    result = parse_manifest(_dumps(document, style), "doc")
    assert isinstance(result, Failure), document
    assert result.failure().where == "doc"
    assert result.failure().reason.startswith(path + ": "), result.failure().reason


@given(json_manifests)
def test_truncated_manifest_is_refused(document: dict[str, Any]) -> None:
    raw = _dumps(document, 1)
    for cut in (1, len(raw) // 2, len(raw) - 1):
        result = parse_manifest(raw[:cut], "doc")
        assert isinstance(result, Failure)
        assert result.failure().reason.startswith("$: not valid JSON")


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
