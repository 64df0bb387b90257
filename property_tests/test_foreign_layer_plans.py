"""Non-distributable layers in plans (reference §5.8): the ``urls`` blob source.

* Plan files holding ``UrlSource`` (in ``put-blob``, ``extract-image`` and
  ``blob-available``) round-trip, encode deterministically and detect any
  flipped byte, like every other plan.
* The copy planner's rule: without ``--include-non-distributable-layers`` no
  foreign layer is put; with it, each is put once, read from its ``urls`` exactly
  when its source was observed not to hold it and it lists some, and never from
  ``urls`` when the source is an imgpkg tarball.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Success

from imgpkg_pure.copy import CopyImage, CopyItem, CopyRequest, CopySnapshot, plan_copy
from imgpkg_pure.digest import Digest
from imgpkg_pure.media_types import (
    DOCKER_LAYER_FOREIGN,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_LAYER_NONDIST,
    OCI_LAYER_NONDIST_GZIP,
    OCI_MANIFEST,
    is_distributable,
)
from imgpkg_pure.oci.codec import encode_manifest, parse_manifest
from imgpkg_pure.oci.values import Descriptor
from imgpkg_pure.plan.planfile import decode_plan, encode_plan
from imgpkg_pure.plan.steps import (
    BlobAvailable,
    ExtractImage,
    Plan,
    PutBlob,
    RegistrySource,
    Step,
    TarballSource,
    UrlSource,
)
from imgpkg_pure.reference import Repository
from property_tests.strategies import descriptors, digests, layout_targets, plans

url_sources = st.builds(
    UrlSource,
    urls=st.lists(
        st.sampled_from(
            [
                "https://mcr.microsoft.com/v2/windows/blobs/sha256:00",
                "http://127.0.0.1:8080/b?sig=x&exp=1",
                "https://ünïcode.example/path",
                "",
            ]
        ),
        max_size=3,
    ).map(tuple),
)

url_steps: st.SearchStrategy[Step] = st.one_of(
    st.builds(PutBlob, target=layout_targets, descriptor=descriptors, source=url_sources),
    st.builds(
        ExtractImage,
        source=url_sources,
        layers=st.lists(descriptors, max_size=2).map(tuple),
        output=st.text(min_size=1, max_size=10),
    ),
)


@st.composite
def plans_with_urls(draw: st.DrawFn) -> Plan:
    base = draw(plans)
    extra = draw(st.lists(url_steps, min_size=1, max_size=4))
    checks = draw(st.lists(st.builds(BlobAvailable, source=url_sources, digest=digests)))
    steps = list(base.steps)
    for step in extra:
        steps.insert(draw(st.integers(0, len(steps))), step)
    return Plan(
        command=base.command,
        steps=tuple(steps),
        result=base.result,
        result_name=base.result_name,
        log=base.log,
        preconditions=(*base.preconditions, *checks),
        present=base.present,
    )


@given(plans_with_urls())
def test_plan_files_with_url_sources_round_trip(plan: Plan) -> None:
    data = encode_plan(plan)
    assert decode_plan(data) == Success(plan)
    assert encode_plan(plan) == data


@given(plans_with_urls(), st.data())
def test_plan_files_with_url_sources_detect_any_flipped_byte(
    plan: Plan, data: st.DataObject
) -> None:
    encoded = bytearray(encode_plan(plan))
    at = data.draw(st.integers(0, len(encoded) - 1))
    encoded[at] ^= data.draw(st.integers(1, 255))
    result = decode_plan(bytes(encoded))
    assert isinstance(result, Failure) or result == Success(plan)


# --- the copy planner --------------------------------------------------------------------

SRC = Repository(registry="127.0.0.1:5000", repository="src/app")
DST = Repository(registry="127.0.0.1:6000", repository="dst/all")
FOREIGN_TYPES = (DOCKER_LAYER_FOREIGN, OCI_LAYER_NONDIST_GZIP, OCI_LAYER_NONDIST)
blob_digests = st.binary(min_size=32, max_size=32).map(lambda b: Digest("sha256", b.hex()))
urls = st.lists(st.sampled_from(["https://a.example/l", "https://b.example/l"]), max_size=2)


def _image(draw: st.DrawFn, ids: list[Digest]) -> CopyImage:
    """An image whose blobs take their digests from ``ids`` (so no two blobs share one)."""
    config = Descriptor(media_type=OCI_CONFIG, digest=ids.pop(), size=2)
    layers = tuple(
        Descriptor(
            media_type=draw(st.sampled_from((OCI_LAYER_GZIP, *FOREIGN_TYPES))),
            digest=ids.pop(),
            size=draw(st.integers(0, 10**9)),
            urls=tuple(draw(urls)),
        )
        for _ in range(draw(st.integers(1, 4)))
    )
    manifest = parse_manifest(encode_manifest(config, layers, OCI_MANIFEST), "m").unwrap()
    assert manifest.layers == layers
    return CopyImage(source=SRC.digest(manifest.digest), manifest=manifest)


@st.composite
def snapshots(draw: st.DrawFn) -> CopySnapshot:
    ids = draw(st.lists(blob_digests, min_size=15, max_size=15, unique=True))
    found = [_image(draw, ids) for _ in range(draw(st.integers(1, 3)))]
    items = tuple(
        CopyItem(node=node, tag=None, orig_ref="", is_bundle=False, is_root_bundle=False)
        for node in found
    )
    foreign = sorted(
        {
            layer.digest
            for image in found
            for layer in image.manifest.layers
            if not is_distributable(layer.media_type)
        },
        key=str,
    )
    absent = draw(st.sets(st.sampled_from(foreign))) if foreign else set()
    return CopySnapshot(items=items, bundles=(), foreign_absent=frozenset(absent))


def _request(include: bool, tarball: bool) -> CopyRequest:
    return CopyRequest(
        image=None if tarball else "x", bundle=None, lock=None, destination=DST,
        lock_output=None, concurrency=5, include_non_distributable=include,
        repo_based_tags=False, source_tar="in.tar" if tarball else None,
    )  # fmt: skip


@given(snapshots(), st.booleans(), st.booleans())
def test_foreign_layers_come_from_their_urls_only_when_the_source_lacks_them(
    snapshot: CopySnapshot, include: bool, tarball: bool
) -> None:
    plan = plan_copy(_request(include, tarball), snapshot, ()).unwrap()
    puts = {s.descriptor.digest: s for s in plan.steps if isinstance(s, PutBlob)}
    foreign = {
        layer.digest: layer
        for item in snapshot.items
        if isinstance(item.node, CopyImage)
        for layer in item.node.manifest.layers
        if not is_distributable(layer.media_type)
    }
    if not include:
        assert not set(foreign) & set(puts)
        return
    assert set(foreign) <= set(puts)
    for digest, layer in foreign.items():
        source = puts[digest].source
        if tarball:
            assert source == TarballSource(path="in.tar")
        elif digest in snapshot.foreign_absent and layer.urls:
            assert source == UrlSource(urls=layer.urls)
        else:
            assert source == RegistrySource(registry=SRC.registry, repository=SRC.repository)
    for step in puts.values():  # distributable blobs never come from urls
        if step.descriptor.digest not in foreign:
            assert not isinstance(step.source, UrlSource)
