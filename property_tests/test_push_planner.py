"""Planner and interpreter laws for push: determinism, order, idempotence, resumability.

The interpreter runs against ``MemoryStore`` (a real store, in memory): the
layer is staged first, as the push command stages it, then the plan applies.
"""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st
from returns.io import IOResult, IOSuccess
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import digest_of
from imgpkg_pure.image_build import DOCKER_TYPES, OCI_TYPES, BuiltImage, build_image
from imgpkg_pure.oci.values import Annotations
from imgpkg_pure.plan.planfile import decode_plan, encode_plan
from imgpkg_pure.plan.steps import Plan, PutBlob, PutManifest, Tag
from imgpkg_pure.push import LayoutDestination, PushRequest, parse_layout_destination, plan_push
from imgpkg_pure.store.apply.interpreter import Env, apply_plan, run_step
from imgpkg_pure.store.content.blobstore import BlobStore
from imgpkg_pure.store.content.errors import StoreError
from imgpkg_pure.store.content.memory import MemoryStore
from property_tests.fresh_interpreter import (
    FRESH_INTERPRETER_SETTINGS,
    assert_same_in_fresh_interpreters,
)

tags = st.from_regex(r"[A-Za-z0-9]{1,5}([._-][A-Za-z0-9]{1,5}){0,3}", fullmatch=True)
label_maps = st.dictionaries(
    st.from_regex(r"[a-z][a-z.]{0,10}", fullmatch=True), st.text(max_size=10), max_size=6
)


def _request(kind: str, tag: str, labels: dict[str, str]) -> PushRequest:
    return PushRequest(
        kind="bundle" if kind == "bundle" else "image",
        destination=LayoutDestination(path="/layouts/x", tag=tag),
        files=(),
        exclusions=(".git",),
        preserve_permissions=False,
        labels=Annotations.of(labels),
        lock_output=None,
        media_types=OCI_TYPES,
    )


def _stage(store: MemoryStore, layer: bytes, labels: dict[str, str], oci: bool) -> BuiltImage:
    digest = unsafe_perform_io(store.put_bytes(layer).unwrap())
    return build_image(
        digest_of(layer + b"tar"), digest, len(layer), labels, OCI_TYPES if oci else DOCKER_TYPES
    )


def _env(store: MemoryStore) -> Env:
    def layout(_path: str) -> IOResult[BlobStore, StoreError]:
        return IOSuccess(store)

    return Env(layout=layout)


push_cases = st.tuples(
    st.sampled_from(["image", "bundle"]), tags, label_maps, st.binary(max_size=64), st.booleans()
)


def _push_plan(kind: str, tag: str, labels: dict[str, str], layer: bytes) -> Plan:
    built = build_image(digest_of(layer), digest_of(layer + b"gz"), len(layer), labels)
    return plan_push(_request(kind, tag, labels), built)


@given(push_cases, st.randoms(use_true_random=False))
def test_plan_is_ordered_and_ignores_label_order(
    case: tuple[str, str, dict[str, str], bytes, bool], rng: random.Random
) -> None:
    """Labels given in another order (as a Go map would) give the same plan, byte for byte."""
    kind, tag, labels, layer, _oci = case
    plan = _push_plan(kind, tag, labels, layer)
    pairs = list(labels.items())
    rng.shuffle(pairs)
    reordered = _push_plan(kind, tag, dict(pairs), layer)
    assert reordered == plan
    assert encode_plan(reordered) == encode_plan(plan)
    # children before parents: both blobs, then the manifest, then the tag
    kinds = [type(step) for step in plan.steps]
    assert kinds == [PutBlob, PutBlob, PutManifest, Tag]
    built = build_image(digest_of(layer), digest_of(layer + b"gz"), len(layer), labels)
    assert plan.result == built.manifest


@FRESH_INTERPRETER_SETTINGS
@given(st.lists(push_cases.map(lambda case: case[:4]), min_size=20, max_size=20))
def test_plan_is_the_same_in_another_interpreter(
    cases: list[tuple[str, str, dict[str, str], bytes]],
) -> None:
    """Another hash seed, environment, locale and time zone give the same plan, byte for byte."""
    assert_same_in_fresh_interpreters(_push_plan, cases, encode_plan)


@given(push_cases)
def test_apply_is_idempotent(case: tuple[str, str, dict[str, str], bytes, bool]) -> None:
    kind, tag, labels, layer, oci = case
    store = MemoryStore()
    built = _stage(store, layer, labels, oci)
    plan = plan_push(_request(kind, tag, labels), built)
    first = unsafe_perform_io(apply_plan(plan, _env(store)).unwrap())
    assert len(first.skipped) == 1  # the staged layer
    resolved = unsafe_perform_io(store.resolve(tag).unwrap())
    assert resolved.digest == built.manifest.digest
    second = unsafe_perform_io(apply_plan(plan, _env(store)).unwrap())
    assert second.performed == ()
    assert len(second.skipped) == len(plan.steps)
    assert unsafe_perform_io(store.verify().unwrap()).ok


@given(push_cases, st.integers(0, 4))
def test_interrupted_apply_resumes_to_the_same_state(
    case: tuple[str, str, dict[str, str], bytes, bool], done: int
) -> None:
    kind, tag, labels, layer, oci = case
    whole, cut = MemoryStore(), MemoryStore()
    plan = plan_push(_request(kind, tag, labels), _stage(whole, layer, labels, oci))
    _stage(cut, layer, labels, oci)
    unsafe_perform_io(apply_plan(plan, _env(whole)).unwrap())
    for step in plan.steps[:done]:  # the run that was killed part-way
        unsafe_perform_io(run_step(_env(cut), step).unwrap())
    unsafe_perform_io(apply_plan(plan, _env(cut)).unwrap())
    assert unsafe_perform_io(cut.iter_blobs().unwrap()) == unsafe_perform_io(
        whole.iter_blobs().unwrap()
    )
    assert unsafe_perform_io(cut.roots().unwrap()) == unsafe_perform_io(whole.roots().unwrap())


@given(push_cases)
def test_plan_survives_its_file_encoding(
    case: tuple[str, str, dict[str, str], bytes, bool],
) -> None:
    kind, tag, labels, layer, _oci = case
    built = build_image(digest_of(layer), digest_of(layer + b"gz"), len(layer), labels)
    plan: Plan = plan_push(_request(kind, tag, labels), built, ("dir: .",))
    assert decode_plan(encode_plan(plan)).unwrap() == plan


@given(st.from_regex(r"[a-z0-9_./-]{1,20}", fullmatch=True).filter(lambda p: ":" not in p), tags)
def test_layout_destination_round_trip(path: str, tag: str) -> None:
    parsed = parse_layout_destination(f"oci:{path}:{tag}").unwrap()
    assert parsed == LayoutDestination(path=path, tag=tag)
    assert parse_layout_destination(str(parsed)).unwrap() == parsed
