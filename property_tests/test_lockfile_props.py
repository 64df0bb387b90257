"""Laws of imgpkg's documents: decode . encode = id, deterministic encoding (spec §2.1-§2.5).

Determinism is checked against another interpreter (hash seed, environment, locale, time
zone) and against annotation order, not by encoding twice in one process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

from hypothesis import example, given
from hypothesis import strategies as st
from returns.result import Result

from imgpkg_pure.bundle import (
    BundleAuthor,
    BundleLock,
    BundleMetadata,
    BundleWebsite,
    ImageLocation,
    ImageLocations,
    ImageLock,
    ImageRef,
    ImagesLock,
    encode_bundle_lock,
    encode_bundle_metadata,
    encode_image_locations,
    encode_image_lock,
    encode_images_lock,
    parse_bundle_lock,
    parse_bundle_metadata,
    parse_image_locations,
    parse_image_lock,
    parse_images_lock,
)
from imgpkg_pure.errors import MalformedDocument
from property_tests.fresh_interpreter import (
    FRESH_INTERPRETER_SETTINGS,
    assert_same_in_fresh_interpreters,
)
from property_tests.test_reference_props import digest_references, digest_written

T = TypeVar("T")

#: Strings YAML makes hard: indicators, YAML 1.1 look-alikes, line breaks, quotes, BOMs.
TRICKY: Final = [
    "",
    " ",
    "true",
    "yes",
    "y",
    "~",
    "null",
    "1",
    "0x1F",
    "1_000",
    "1e3",
    ".inf",
    "1:20",
    "2001-12-14",
    "2001-12-14T21:59:43.10Z",
    "x: y",
    "a #b",
    "#c",
    "- x",
    "-",
    "? q",
    "---",
    "...",
    "'single'",
    '"double"',
    "it's",
    " lead",
    "trail ",
    "a\nb",
    "a\nb\n",
    "a\n\n",
    "\n",
    "\n lead",
    "a \nb",
    "tab\there",
    "\ufeffbom",
    "caf\u00e9 \u4e2d \U0001f600",
    "line\u2028sep",
    "nel\x85x",
    "del\x7f",
    "word " * 25,
    "kbld.carvel.dev/origins",
    "- local:\n    path: make_oci_layouts.py\n",
]

texts = st.one_of(
    st.sampled_from(TRICKY),
    st.text(max_size=60),
    st.text(alphabet=" \n\t:#'\"-?|>{}[],&*!%@`~\\abc\u00e9\u2028\ufeff", max_size=60),
    st.lists(st.sampled_from(TRICKY), min_size=2, max_size=4).map("".join),
)
# "<<" is YAML's merge key, in go-yaml as here: an annotation with that name cannot be read back.
keys = texts.filter(lambda key: key != "<<")
annotation_maps = st.dictionaries(keys, texts, max_size=5)
non_empty = texts.filter(bool)

image_refs = st.builds(
    lambda image, annotations: ImageRef(image=image, annotations=annotations.items()),
    digest_references,
    annotation_maps,
)
images_locks = st.builds(ImagesLock, images=st.lists(image_refs, max_size=4).map(tuple))
#: As written by a user (not normalised): BundleLock and ImageLock keep the text.
digest_texts = st.one_of(
    digest_written.map(lambda written: written.text),
    digest_references.map(str),
)
bundle_locks = st.builds(
    BundleLock,
    image=digest_texts,
    tag=st.one_of(st.none(), non_empty),
    other_tags=st.one_of(st.none(), non_empty),
)
image_locks = st.builds(ImageLock, image=digest_texts, tag=st.one_of(st.none(), non_empty))
image_locations = st.builds(
    ImageLocations,
    images=st.lists(
        st.builds(
            ImageLocation,
            image=st.one_of(digest_references.map(str), texts),
            is_bundle=st.booleans(),
        ),
        max_size=5,
    ),
)
bundle_metadata = st.builds(
    BundleMetadata,
    api_version=texts,
    kind=texts,
    metadata=annotation_maps.map(lambda mapping: tuple(mapping.items())),
    authors=st.lists(st.builds(BundleAuthor, name=texts, email=texts), max_size=3).map(tuple),
    websites=st.lists(st.builds(BundleWebsite, url=texts), max_size=3).map(tuple),
)


def decoded(result: Result[T, MalformedDocument]) -> T:
    value = result.value_or(None)
    assert value is not None, result
    return value


#: What go-yaml counts as a line break (the encoder follows it).
_YAML_BREAKS: Final = frozenset("\r\n\x85\u2028\u2029")


def check(
    value: Any,
    encode: Callable[[Any], str],
    parse: Callable[[str | bytes, str], Result[Any, MalformedDocument]],
    *,
    single_trailing_newline: bool = True,
) -> None:
    text = encode(value)
    assert text.startswith("---\n")
    # The last line ends in a line break; go-yaml's breaks include U+0085/2028/2029: a
    # kept (|+) block whose value ends in U+2028 ends with that, as go-yaml writes it.
    assert text[-1:] in _YAML_BREAKS
    if single_trailing_newline:
        assert not text.endswith("\n\n")
    back = decoded(parse(text, "doc.yml"))
    assert back == value  # decode . encode = id
    assert encode(back) == text  # the value read back (built another way) encodes the same
    assert decoded(parse(text.encode(), "doc.yml")) == value  # bytes in, same value


@given(images_locks)
def test_images_lock(lock: ImagesLock) -> None:
    check(lock, encode_images_lock, parse_images_lock)


@given(bundle_locks)
def test_bundle_lock(lock: BundleLock) -> None:
    check(lock, encode_bundle_lock, parse_bundle_lock)


@given(image_locks)
def test_image_lock(lock: ImageLock) -> None:
    check(lock, encode_image_lock, parse_image_lock)


@given(image_locations)
def test_image_locations(locations: ImageLocations) -> None:
    check(locations, encode_image_locations, parse_image_locations)
    images = [location.image for location in locations.images]
    assert images == sorted(images)


@given(bundle_metadata)
@example(
    BundleMetadata(
        api_version="", kind="", metadata=(), authors=(), websites=(BundleWebsite(url="\n\u2028"),)
    )
)
def test_bundle_metadata(metadata: BundleMetadata) -> None:
    check(metadata, encode_bundle_metadata, parse_bundle_metadata, single_trailing_newline=False)


def _encode_all(
    images_lock: ImagesLock,
    bundle_lock: BundleLock,
    image_lock: ImageLock,
    locations: ImageLocations,
    metadata: BundleMetadata,
) -> tuple[str, ...]:
    return (
        encode_images_lock(images_lock),
        encode_bundle_lock(bundle_lock),
        encode_image_lock(image_lock),
        encode_image_locations(locations),
        encode_bundle_metadata(metadata),
    )


@FRESH_INTERPRETER_SETTINGS
@given(
    st.lists(
        st.tuples(images_locks, bundle_locks, image_locks, image_locations, bundle_metadata),
        min_size=6,
        max_size=6,
    )
)
def test_encoding_is_the_same_in_another_interpreter(
    cases: list[tuple[ImagesLock, BundleLock, ImageLock, ImageLocations, BundleMetadata]],
) -> None:
    """Another hash seed, environment, locale and time zone give the same text."""
    assert_same_in_fresh_interpreters(_encode_all, cases)


@given(st.permutations(TRICKY[:12]), annotation_maps)
def test_annotation_order_does_not_matter(order: list[str], annotations: dict[str, str]) -> None:
    image = ImageRef(image=decoded(parse_images_lock(_one_image(), "x")).images[0].image)
    pairs = list(annotations.items()) + [(key, key) for key in order if key not in annotations]
    forward = ImagesLock(images=(ImageRef(image=image.image, annotations=pairs),))
    backward = ImagesLock(images=(ImageRef(image=image.image, annotations=reversed(pairs)),))
    assert encode_images_lock(forward) == encode_images_lock(backward)


def _one_image() -> str:
    return (
        "apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImagesLock\nimages:\n"
        "- image: a.io/bb@sha256:" + "a" * 64 + "\n"
    )


@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_parsers_never_raise(data: str | bytes) -> None:
    for parse in (
        parse_images_lock,
        parse_bundle_lock,
        parse_image_lock,
        parse_image_locations,
        parse_bundle_metadata,
    ):
        result: Result[object, MalformedDocument] = parse(data, "fuzz.yml")
        failure = result.swap().value_or(None)
        assert failure is None or failure.where == "fuzz.yml"
