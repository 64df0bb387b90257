"""Copy planner laws: determinism, order (blobs, then manifests children-first, then tags),
deduplication, naming; and imgpkg's repo-based tag examples."""

from __future__ import annotations

import hashlib
import random
import re
import string
from collections import Counter

from hypothesis import example, given
from hypothesis import strategies as st

from imgpkg_pure.copy import (
    CopyImage,
    CopyIndex,
    CopyItem,
    CopyNode,
    CopyRequest,
    CopySnapshot,
    plan_copy,
    repo_based_tag,
)
from imgpkg_pure.digest import Digest, parse_digest
from imgpkg_pure.media_types import (
    DOCKER_LAYER_FOREIGN,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
)
from imgpkg_pure.oci.codec import encode_index, encode_manifest, parse_index, parse_manifest
from imgpkg_pure.oci.values import Descriptor
from imgpkg_pure.plan.planfile import encode_plan
from imgpkg_pure.plan.steps import (
    Plan,
    PutBlob,
    PutManifest,
    RegistrySource,
    Tag,
    WriteLockFile,
)
from imgpkg_pure.reference import Repository
from property_tests.fresh_interpreter import (
    FRESH_INTERPRETER_SETTINGS,
    assert_same_in_fresh_interpreters,
)

SRC = Repository(registry="127.0.0.1:5000", repository="src/app")
DST = Repository(registry="127.0.0.1:6000", repository="dst/all")

blob_digests = st.binary(min_size=32, max_size=32).map(lambda b: Digest("sha256", b.hex()))


def _blob(kind: int, raw: bytes) -> Descriptor:
    """The descriptor of the blob named by ``raw``: content-addressed, so one digest always
    has one media type and size, as in a real registry (kind 0 is a config)."""
    digest = Digest("sha256", hashlib.sha256(bytes([kind]) + raw).hexdigest())
    if kind == 0:
        return Descriptor(media_type=OCI_CONFIG, digest=digest, size=1 + raw[0] % 999)
    media_type = (OCI_LAYER_GZIP, OCI_LAYER_GZIP, DOCKER_LAYER_FOREIGN)[raw[1] % 3]
    return Descriptor(media_type=media_type, digest=digest, size=int.from_bytes(raw[2:6]))


# Few distinct names, so images often share configs and layers.
blob_names = st.integers(0, 7).map(lambda n: hashlib.sha256(bytes([n])).digest())


@st.composite
def images(draw: st.DrawFn) -> CopyImage:
    config = _blob(0, draw(blob_names))
    layers = tuple(_blob(1, draw(blob_names)) for _ in range(draw(st.integers(0, 3))))
    manifest = parse_manifest(encode_manifest(config, layers, OCI_MANIFEST), "m").unwrap()
    return CopyImage(source=SRC.digest(manifest.digest), manifest=manifest)


@st.composite
def nodes(draw: st.DrawFn) -> CopyNode:
    if draw(st.booleans()):
        return draw(images())
    children = tuple(draw(st.lists(images(), min_size=1, max_size=3)))
    raw = encode_index(tuple(c.manifest.descriptor for c in children))
    index = parse_index(raw, "i").unwrap()
    return CopyIndex(source=SRC.digest(index.digest), index=index, children=children)


@st.composite
def snapshots(draw: st.DrawFn) -> CopySnapshot:
    items = tuple(
        CopyItem(node=node, tag=draw(st.none() | st.just("v1")), orig_ref="", is_bundle=False,
                 is_root_bundle=False)
        for node in draw(st.lists(nodes(), min_size=1, max_size=4))
    )  # fmt: skip
    return CopySnapshot(items=items, bundles=())


def _request(include: bool, repo_based: bool) -> CopyRequest:
    return CopyRequest(
        image="x", bundle=None, lock=None, destination=DST, lock_output="lock.yml",
        concurrency=5, include_non_distributable=include, repo_based_tags=repo_based,
    )  # fmt: skip


def _plan_of(snapshot: CopySnapshot, include: bool, repo_based: bool) -> Plan:
    return plan_copy(_request(include, repo_based), snapshot, ()).unwrap()


def _check_order_and_deduplication(plan: Plan, include: bool) -> None:
    kinds = [type(step) for step in plan.steps]
    order = [PutBlob, PutManifest, Tag, WriteLockFile]
    assert kinds == sorted(kinds, key=order.index)
    blob_digests = [s.descriptor.digest for s in plan.steps if isinstance(s, PutBlob)]
    assert len(blob_digests) == len(set(blob_digests))
    for step in plan.steps:
        if isinstance(step, PutBlob):
            assert include or step.descriptor.media_type != DOCKER_LAYER_FOREIGN
            assert isinstance(step.source, RegistrySource)
            assert step.source.repository == SRC.repository
    written: set[Digest] = set()
    for step in plan.steps:  # an index only after the manifests it lists
        if isinstance(step, PutManifest):
            if step.descriptor.media_type != OCI_MANIFEST:
                index = parse_index(step.raw, "i").unwrap()
                assert {m.digest for m in index.manifests} <= written
            written.add(step.descriptor.digest)


@given(snapshots(), st.booleans(), st.booleans(), st.randoms(use_true_random=False))
def test_plan_is_ordered_deduplicated_and_ignores_item_order(
    snapshot: CopySnapshot, include: bool, repo_based: bool, rng: random.Random
) -> None:
    """The order the items were found in changes the order of like steps, never which
    steps there are, their kind order, or the lock file."""
    plan = _plan_of(snapshot, include, repo_based)
    _check_order_and_deduplication(plan, include)
    items = list(snapshot.items)
    rng.shuffle(items)
    shuffled = _plan_of(CopySnapshot(items=tuple(items), bundles=()), include, repo_based)
    _check_order_and_deduplication(shuffled, include)
    assert Counter(shuffled.steps) == Counter(plan.steps)
    locks = [[s for s in p.steps if isinstance(s, WriteLockFile)] for p in (plan, shuffled)]
    assert locks[0] == locks[1]
    assert len(locks[0]) == 1


@FRESH_INTERPRETER_SETTINGS
@given(st.lists(st.tuples(snapshots(), st.booleans(), st.booleans()), min_size=20, max_size=20))
def test_plan_is_the_same_in_another_interpreter(
    cases: list[tuple[CopySnapshot, bool, bool]],
) -> None:
    """Another hash seed, environment, locale and time zone give the same plan, byte for byte."""
    assert_same_in_fresh_interpreters(_plan_of, cases, encode_plan)


@given(snapshots())
def test_every_item_gets_its_upload_tag_and_user_tag(snapshot: CopySnapshot) -> None:
    plan = plan_copy(_request(False, False), snapshot, ()).unwrap()
    tags = {(s.tag, s.descriptor.digest) for s in plan.steps if isinstance(s, Tag)}
    for item in snapshot.items:
        digest = item.node.source.digest
        assert digest is not None
        assert (f"sha256-{digest.hex}.imgpkg", digest) in tags
        if item.tag:
            assert (item.tag, digest) in tags


def test_repo_based_tags_follow_imgpkg() -> None:
    digest = parse_digest("sha256:" + "19" * 32).unwrap()
    tail = f"sha256-{digest.hex}.imgpkg"
    assert repo_based_tag("127.0.0.1:5000/src/full@sha256:x", digest) == f"src-full-{tail}"
    assert repo_based_tag("registry.foo.bar/some/application/app", digest) == (
        f"some-application-app-{tail}"
    )
    long = "r.io/" + "a" * 60 + "/b"
    assert repo_based_tag(long, digest) == "a" * 47 + f"-b-{tail}"
    assert repo_based_tag("r.io/--x", digest) == f"x-{tail}"
    assert repo_based_tag("r.io/a:b", digest) == f"ab-{tail}"


# distribution-spec "Pulling manifests": a tag is at most 128 characters of this grammar.
# Written here, not taken from the product, so the product's own checker is not the judge.
TAG_GRAMMAR = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")


# Repository paths short and long: imgpkg keeps at most the last 49 cleaned characters, so
# the long ones (many segments, separators near the cut) are what test the length rules.
_segments = st.text(
    alphabet=string.ascii_letters + string.digits + "._:@-", min_size=1, max_size=40
)
origins = st.one_of(
    st.from_regex(r"[a-z0-9.:-]{1,20}/[a-zA-Z0-9._/:@-]{0,80}", fullmatch=True),
    st.builds(
        lambda host, segments: host + "/" + "/".join(segments),
        st.from_regex(r"[a-z0-9.-]{1,20}", fullmatch=True),
        st.lists(_segments, min_size=1, max_size=6),
    ),
)


@example("r.io/" + "a" * 80, Digest("sha256", "0" * 64))
@example("r.io/" + "a" * 47 + "/-._b" + "c" * 30, Digest("sha256", "0" * 64))
@given(origins, blob_digests)
def test_repo_based_tags_are_valid_tags(orig: str, digest: Digest) -> None:
    tag = repo_based_tag(orig, digest)
    assert TAG_GRAMMAR.fullmatch(tag), tag
    assert tag.endswith(f"sha256-{digest.hex}.imgpkg")
    prefix = tag.removesuffix(f"sha256-{digest.hex}.imgpkg")
    assert len(prefix) <= 50
