"""Hypothesis strategies for the core's values (digests, descriptors, documents, plans)."""

from __future__ import annotations

from hypothesis import strategies as st

from imgpkg_pure.digest import Digest
from imgpkg_pure.media_types import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_NONDIST_GZIP,
    OCI_MANIFEST,
)
from imgpkg_pure.oci.values import Annotations, Descriptor, Platform
from imgpkg_pure.plan.steps import (
    ArchiveSource,
    BlobAvailable,
    ExtractImage,
    LayoutSource,
    LayoutTarget,
    Plan,
    PutBlob,
    PutManifest,
    RegistrySource,
    RegistryTarget,
    Step,
    Tag,
    TagPointsTo,
    TarballSource,
    WriteLockFile,
)

digests = st.one_of(
    st.binary(min_size=32, max_size=32).map(lambda b: Digest("sha256", b.hex())),
    st.binary(min_size=64, max_size=64).map(lambda b: Digest("sha512", b.hex())),
)

text = st.text(max_size=20)
keys = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30
)
annotation_sets = st.dictionaries(keys, text, max_size=4).map(Annotations.of)

platforms = st.builds(
    Platform,
    architecture=st.sampled_from(["amd64", "arm64", "s390x", ""]),
    os=st.sampled_from(["linux", "windows", ""]),
    os_version=st.none() | st.just("10.0.17763.1234"),
    os_features=st.lists(st.sampled_from(["win32k", "x"]), max_size=2).map(tuple),
    variant=st.none() | st.sampled_from(["v7", "v8"]),
    features=st.lists(st.sampled_from(["sse4"]), max_size=1).map(tuple),
)

media_types = st.sampled_from(
    [
        OCI_MANIFEST,
        OCI_INDEX,
        OCI_CONFIG,
        OCI_LAYER,
        OCI_LAYER_GZIP,
        OCI_LAYER_NONDIST_GZIP,
        DOCKER_MANIFEST,
        DOCKER_CONFIG,
        DOCKER_LAYER_GZIP,
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
    ]
)

descriptors = st.builds(
    Descriptor,
    media_type=media_types,
    digest=digests,
    size=st.integers(min_value=0, max_value=2**53),
    annotations=annotation_sets,
    platform=st.none() | platforms,
    urls=st.lists(st.just("https://example.com/blob"), max_size=1).map(tuple),
    artifact_type=st.none() | st.just("application/vnd.example+type"),
    data=st.none(),
)

layout_targets = st.one_of(
    st.builds(LayoutTarget, path=st.text(min_size=1, max_size=40)),
    st.builds(
        RegistryTarget,
        registry=st.sampled_from(["127.0.0.1:5000", "index.docker.io", "r.example.com"]),
        repository=st.from_regex(r"[a-z0-9]+(/[a-z0-9]+){0,2}", fullmatch=True),
    ),
)

steps: st.SearchStrategy[Step] = st.one_of(
    st.builds(
        PutBlob,
        target=layout_targets,
        descriptor=descriptors,
        data=st.none() | st.binary(),
        source=st.none()
        | st.builds(LayoutSource, path=st.text(min_size=1, max_size=20))
        | st.builds(ArchiveSource, path=st.text(min_size=1, max_size=20))
        | st.builds(TarballSource, path=st.text(min_size=1, max_size=20))
        | st.builds(
            RegistrySource,
            registry=st.sampled_from(["127.0.0.1:5000", "index.docker.io"]),
            repository=st.from_regex(r"[a-z0-9]+(/[a-z0-9]+){0,2}", fullmatch=True),
        ),
    ),
    st.builds(PutManifest, target=layout_targets, descriptor=descriptors, raw=st.binary()),
    st.builds(Tag, target=layout_targets, tag=keys, descriptor=descriptors),
    st.builds(WriteLockFile, path=st.text(min_size=1), text=st.text()),
    st.builds(
        ExtractImage,
        source=st.builds(
            RegistrySource,
            registry=st.just("127.0.0.1:5000"),
            repository=st.just("a/b"),
        ),
        layers=st.lists(descriptors, max_size=3).map(tuple),
        output=st.text(min_size=1, max_size=20),
    ),
)

blob_sources = st.one_of(
    st.builds(LayoutSource, path=st.text(min_size=1, max_size=20)),
    st.builds(TarballSource, path=st.text(min_size=1, max_size=20)),
    st.builds(
        RegistrySource,
        registry=st.sampled_from(["127.0.0.1:5000", "index.docker.io"]),
        repository=st.from_regex(r"[a-z0-9]+(/[a-z0-9]+){0,2}", fullmatch=True),
    ),
)

preconditions = st.one_of(
    st.builds(
        TagPointsTo,
        registry=st.sampled_from(["127.0.0.1:5000", "r.example.com"]),
        repository=st.from_regex(r"[a-z0-9]+(/[a-z0-9]+){0,2}", fullmatch=True),
        tag=st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True),
        digest=digests,
    ),
    st.builds(BlobAvailable, source=blob_sources, digest=digests),
)

plans = st.builds(
    Plan,
    command=text,
    steps=st.lists(steps, max_size=8).map(tuple),
    result=st.none() | descriptors,
    result_name=text,
    log=st.lists(text, max_size=4).map(tuple),
    preconditions=st.lists(preconditions, max_size=4).map(tuple),
    present=st.lists(digests, max_size=3).map(tuple),
)
