"""Properties of ``--platform``: parsing, normalising, matching, picking, narrowing an index.

The rules are containerd's (``imgpkg_pure.platform``): what a Go tool calls a
platform, imgpkg-pure calls the same; the narrowing rule of ``copy --platform``
(``imgpkg_pure.copy.platforms``) keeps an index whole exactly when every child
matches, copies the child alone when one does, and otherwise a new index of the
matching children in the original order.
"""

from __future__ import annotations

from hypothesis import assume, example, given
from hypothesis import strategies as st
from returns.result import Failure, Success

from imgpkg_pure.copy.platforms import narrow_index, node_platform
from imgpkg_pure.copy.snapshot import CopyImage, CopyIndex, node_digest
from imgpkg_pure.digest import digest_of
from imgpkg_pure.media_types import OCI_INDEX, OCI_MANIFEST
from imgpkg_pure.oci.codec import encode_index, encode_manifest, parse_index, parse_manifest
from imgpkg_pure.oci.values import Descriptor, Platform
from imgpkg_pure.platform import (
    PlatformSpec,
    host_platform,
    matches,
    normalize,
    parse_platform,
    pick,
)
from imgpkg_pure.reference import Reference

_OS = st.sampled_from(["linux", "Linux", "windows", "darwin", "macos", "freebsd"])
_ARCH = st.sampled_from(
    ["amd64", "x86_64", "x86-64", "arm64", "aarch64", "arm", "armhf", "armel", "armv7l",
     "386", "i386", "i686", "ppc64le", "s390x", "riscv64"]
)  # fmt: skip
_VARIANT = st.sampled_from([None, "v5", "v6", "v7", "v8", "8", "v8.0", "7", "v1"])
_TEXT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_.-", min_size=1, max_size=8)


@st.composite
def triples(draw: st.DrawFn) -> tuple[str, str, str | None]:
    return draw(_OS | _TEXT), draw(_ARCH | _TEXT), draw(_VARIANT | st.none())


@given(triples())
@example(("linux", "aarch64", "v8"))
@example(("linux", "armhf", None))
def test_normalize_is_idempotent(triple: tuple[str, str, str | None]) -> None:
    once = normalize(*triple)
    assert normalize(once.os, once.architecture, once.variant) == once


@given(triples())
def test_parse_of_str_is_the_spec(triple: tuple[str, str, str | None]) -> None:
    spec = normalize(*triple)
    assert parse_platform(str(spec)) == Success(spec)


@given(st.text(max_size=20))
@example("linux")
@example("linux/")
@example("/amd64")
@example("linux/amd64/v8/extra")
def test_parse_refuses_what_is_not_os_arch_variant(text: str) -> None:
    parts = text.split("/")
    if len(parts) in (2, 3) and all(part.strip() for part in parts):
        assert isinstance(parse_platform(text), Success)
    else:
        parsed = parse_platform(text)
        assert isinstance(parsed, Failure)
        assert parsed.failure().message.startswith(f"--platform '{text}': expected os/arch")


@given(triples())
def test_a_spec_matches_its_own_platform(triple: tuple[str, str, str | None]) -> None:
    os, arch, variant = triple
    spec = normalize(os, arch, variant)
    assert matches(spec, Platform(os=os, architecture=arch, variant=variant))


@given(triples(), triples())
def test_matching_without_a_variant_ignores_variants(
    asked: tuple[str, str, str | None], found: tuple[str, str, str | None]
) -> None:
    spec = normalize(asked[0], asked[1], None)
    platform = Platform(os=found[0], architecture=found[1], variant=found[2])
    other = normalize(*found)
    expected = (other.os, other.architecture) == (spec.os, spec.architecture)
    if spec.variant is None:  # an architecture that implies a variant (armhf) asks for it
        assert matches(spec, platform) == expected
    else:
        assert matches(spec, platform) == (expected and other.variant == spec.variant)


def test_host_platform_maps_uname_as_go_does() -> None:
    assert str(host_platform("Linux", "x86_64")) == "linux/amd64"
    assert str(host_platform("Linux", "aarch64")) == "linux/arm64"
    assert str(host_platform("Linux", "armv7l")) == "linux/arm/v7"
    assert str(host_platform("Darwin", "arm64")) == "darwin/arm64"
    assert str(host_platform("Linux", "i686")) == "linux/386"


@given(st.lists(triples(), min_size=0, max_size=6), triples())
def test_pick_takes_a_matching_child_preferring_the_exact_variant(
    children: list[tuple[str, str, str | None]], asked: tuple[str, str, str | None]
) -> None:
    spec = normalize(*asked)
    platforms = [Platform(os=o, architecture=a, variant=v) for o, a, v in children]
    position = pick(spec, platforms)
    matching = [i for i, p in enumerate(platforms) if matches(spec, p)]
    if not matching:
        assert position is None
        return
    assert position in matching
    exact = [i for i in matching if normalize(*children[i]).variant == spec.variant]
    assert position == (exact[0] if exact else matching[0])


# --- narrowing an index -------------------------------------------------------------------

_SOURCE = Reference(registry="r.example", repository="app", tag=None, digest=digest_of(b"x"))


def _image(seed: int, platform: tuple[str, str, str | None]) -> CopyImage:
    config = Descriptor(media_type="application/vnd.oci.image.config.v1+json",
                        digest=digest_of(f"config {seed} {platform}".encode()), size=2)  # fmt: skip
    raw = encode_manifest(config, (), OCI_MANIFEST)
    manifest = parse_manifest(raw, "test").unwrap()
    return CopyImage(source=_SOURCE.context().digest(manifest.digest), manifest=manifest)


def _index(children: list[tuple[CopyImage, tuple[str, str, str | None]]]) -> CopyIndex:
    descriptors = tuple(
        Descriptor(
            media_type=OCI_MANIFEST,
            digest=node_digest(child),
            size=len(child.manifest.raw),
            platform=Platform(os=o, architecture=a, variant=v),
        )
        for child, (o, a, v) in children
    )
    index = parse_index(encode_index(descriptors, OCI_INDEX), "test").unwrap()
    return CopyIndex(
        source=_SOURCE.context().digest(index.digest),
        index=index,
        children=tuple(child for child, _ in children),
    )


@given(
    st.lists(st.tuples(_OS, _ARCH, _VARIANT), min_size=1, max_size=5, unique=True),
    st.lists(triples(), min_size=1, max_size=3),
)
def test_narrowing_keeps_exactly_the_matching_children_in_order(
    platforms: list[tuple[str, str, str | None]], asked: list[tuple[str, str, str | None]]
) -> None:
    images = [(_image(n, p), p) for n, p in enumerate(platforms)]
    assume(len({node_digest(image) for image, _ in images}) == len(images))
    node = _index(images)
    specs = tuple(normalize(*a) for a in asked)
    wanted = [
        image
        for image, (o, a, v) in images
        if any(matches(spec, Platform(os=o, architecture=a, variant=v)) for spec in specs)
    ]
    narrowed = narrow_index(node, specs)
    if not wanted:
        assert isinstance(narrowed, Failure)
        assert str(node.source) in narrowed.failure().message
        return
    result = narrowed.unwrap()
    if len(wanted) == len(images):
        assert result is node  # whole: the original digest
    elif len(wanted) == 1:
        assert result == wanted[0]  # one child: the child itself
    else:
        assert isinstance(result, CopyIndex)
        assert [d.digest for d in result.index.manifests] == [node_digest(w) for w in wanted]
        assert result.index.digest == digest_of(result.index.raw)
        assert result.source.digest == result.index.digest
        assert result.children == tuple(wanted)
        for descriptor in result.index.manifests:
            original = next(d for d in node.index.manifests if d.digest == descriptor.digest)
            assert descriptor == original  # entries kept as they were (platform included)


def test_a_child_without_a_descriptor_platform_is_decided_by_its_config() -> None:
    image = _image(0, ("linux", "amd64", None))
    descriptor = Descriptor(media_type=OCI_MANIFEST, digest=node_digest(image), size=1)
    assert node_platform(descriptor, image) is None  # no config read: nothing says
    spec = PlatformSpec(os="linux", architecture="amd64")
    assert not matches(spec, Platform(os="linux", architecture="arm64"))
