"""Copy planner laws: determinism, order (blobs, then manifests children-first, then tags),
deduplication, naming; and imgpkg's repo-based tag examples."""

from __future__ import annotations

from hypothesis import given
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
from imgpkg_pure.plan.steps import PutBlob, PutManifest, RegistrySource, Tag, WriteLockFile
from imgpkg_pure.reference import Reference, Repository

SRC = Repository(registry="127.0.0.1:5000", repository="src/app")
DST = Repository(registry="127.0.0.1:6000", repository="dst/all")

blob_digests = st.binary(min_size=32, max_size=32).map(lambda b: Digest("sha256", b.hex()))


@st.composite
def images(draw: st.DrawFn) -> CopyImage:
    config = Descriptor(
        media_type=OCI_CONFIG, digest=draw(blob_digests), size=draw(st.integers(1, 999))
    )
    layers = tuple(
        Descriptor(
            media_type=draw(
                st.sampled_from([OCI_LAYER_GZIP, OCI_LAYER_GZIP, DOCKER_LAYER_FOREIGN])
            ),
            digest=draw(blob_digests),
            size=draw(st.integers(0, 10**9)),
        )
        for _ in range(draw(st.integers(0, 3)))
    )
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


@given(snapshots(), st.booleans(), st.booleans())
def test_plan_is_deterministic_ordered_and_deduplicated(
    snapshot: CopySnapshot, include: bool, repo_based: bool
) -> None:
    plan = plan_copy(_request(include, repo_based), snapshot, ()).unwrap()
    assert plan == plan_copy(_request(include, repo_based), snapshot, ()).unwrap()
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


@given(st.from_regex(r"[a-z0-9.:-]{1,20}/[a-zA-Z0-9._/:@-]{0,80}", fullmatch=True), blob_digests)
def test_repo_based_tags_are_valid_tags(orig: str, digest: Digest) -> None:
    tag = repo_based_tag(orig, digest)
    prefix = tag.removesuffix(f"sha256-{digest.hex}.imgpkg")
    assert len(prefix) <= 50
    assert Reference(registry="r.io", repository="x/y", tag=tag, digest=None).tag == tag
    assert ":" not in tag and "/" not in tag
