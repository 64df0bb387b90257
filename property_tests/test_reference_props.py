"""Laws of image references: parse . str = id, and normalisation is idempotent (spec §2.7)."""

from __future__ import annotations

from typing import Final

from attrs import frozen
from hypothesis import given
from hypothesis import strategies as st

from imgpkg_pure.digest import Digest
from imgpkg_pure.reference import (
    Reference,
    parse_digest_reference,
    parse_reference,
    parse_tag_reference,
)

LOWER_ALNUM: Final = "abcdefghijklmnopqrstuvwxyz0123456789"
TAG_REST: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
TAG_FIRST: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"

ports = st.integers(min_value=1, max_value=65535).map(lambda port: f":{port}")
labels = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-",
    min_size=1,
    max_size=10,
).filter(lambda label: not label.startswith("-") and not label.endswith("-"))
hostnames = st.lists(labels, min_size=2, max_size=4).map(".".join)
octets = st.integers(min_value=0, max_value=255).map(str)
ipv4 = st.tuples(octets, octets, octets, octets).map(".".join)

registries = st.one_of(
    st.tuples(hostnames, st.one_of(st.just(""), ports)).map("".join),
    st.tuples(st.just("localhost"), st.one_of(st.just(""), ports)).map("".join),
    st.tuples(ipv4, st.one_of(st.just(""), ports)).map("".join),
    st.tuples(st.just("[::1]"), st.one_of(st.just(""), ports)).map("".join),
    st.sampled_from(["docker.io", "index.docker.io"]),
)

alnum_runs = st.text(alphabet=LOWER_ALNUM, min_size=1, max_size=8)


@st.composite
def components(draw: st.DrawFn, *, separators: tuple[str, ...]) -> str:
    """A distribution-spec path component: ``[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*``."""
    parts = draw(st.lists(alnum_runs, min_size=1, max_size=3))
    text = parts[0]
    for part in parts[1:]:
        text += draw(st.sampled_from(separators)) + part
    return text


any_component = components(separators=(".", "_", "__", "-", "--"))
hub_first_component = components(separators=("_", "__", "-", "--")).filter(
    lambda part: part != "localhost"
)
repositories = (
    st.lists(any_component, min_size=1, max_size=4)
    .map("/".join)
    .filter(lambda r: 2 <= len(r) <= 240)
)
hub_repositories = (
    st.tuples(hub_first_component, st.lists(any_component, max_size=2))
    .map(lambda parts: "/".join([parts[0], *parts[1]]))
    .filter(lambda r: 2 <= len(r) <= 240)
)
tags = st.tuples(st.sampled_from(TAG_FIRST), st.text(alphabet=TAG_REST, max_size=126)).map("".join)
digests = st.one_of(
    st.binary(min_size=32, max_size=32).map(lambda data: Digest("sha256", data.hex())),
    st.binary(min_size=64, max_size=64).map(lambda data: Digest("sha512", data.hex())),
)


@frozen
class Written:
    """A reference as a user writes it, and the fully qualified form it must print as."""

    text: str
    canonical: str
    tag: str | None
    digest: Digest | None


def _written(
    registry: str | None, repository: str, tag: str | None, digest: Digest | None
) -> Written:
    text = repository if registry is None else f"{registry}/{repository}"
    qualified = registry if registry not in (None, "docker.io") else "index.docker.io"
    path = repository
    if qualified == "index.docker.io" and "/" not in repository:
        path = f"library/{repository}"
    canonical = f"{qualified}/{path}"
    if tag is not None:
        text += f":{tag}"
        canonical += f":{tag}"
    if digest is not None:
        text += f"@{digest}"
        canonical += f"@{digest}"
    if tag is None and digest is None:
        canonical += ":latest"
    return Written(text=text, canonical=canonical, tag=tag, digest=digest)


written_references = st.one_of(
    st.builds(
        _written,
        registries,
        repositories,
        st.one_of(st.none(), tags),
        st.one_of(st.none(), digests),
    ),
    st.builds(
        _written,
        st.none(),
        hub_repositories,
        st.one_of(st.none(), tags),
        st.one_of(st.none(), digests),
    ),
)
digest_written = written_references.filter(lambda written: written.digest is not None)


def parsed(text: str) -> Reference:
    value = parse_reference(text).value_or(None)
    assert value is not None, text
    return value


#: Tag-less digest references, normalised (what an ImagesLock holds).
digest_references = digest_written.map(lambda written: parsed(written.text).without_tag())


@given(written_references)
def test_parse_prints_canonical_and_round_trips(written: Written) -> None:
    reference = parsed(written.text)
    assert str(reference) == written.canonical
    assert reference.digest == written.digest
    assert reference.tag == (written.tag if written.tag or written.digest else "latest")
    assert parsed(str(reference)) == reference


@given(written_references)
def test_the_specific_parsers_agree(written: Written) -> None:
    reference = parsed(written.text)
    if written.digest is not None:
        assert parse_digest_reference(written.text).value_or(None) == reference
        assert parse_tag_reference(written.text).value_or(None) is None
    else:
        assert parse_tag_reference(written.text).value_or(None) == reference
        assert parse_digest_reference(written.text).value_or(None) is None


@given(written_references)
def test_ggcr_name_and_context(written: Written) -> None:
    reference = parsed(written.text)
    assert reference.name.startswith(reference.repository_name)
    assert str(reference.context()) == reference.repository_name
    if reference.digest is not None:
        assert reference.name == f"{reference.repository_name}@{reference.digest}"
        assert parsed(reference.name) == reference.without_tag()
    else:
        assert reference.name == str(reference)


@given(written_references, digests)
def test_with_digest_without_tag(written: Written, digest: Digest) -> None:
    reference = parsed(written.text)
    moved = reference.with_digest(digest)
    assert moved.digest == digest
    assert moved.tag == reference.tag
    assert str(moved.without_tag()) == f"{reference.repository_name}@{digest}"
    assert parsed(str(moved)) == moved
    assert reference.context().digest(digest) == moved.without_tag()


reference_like = st.text(alphabet="ab0:/@._-Al[]" + "sh256cdef", max_size=40)


@given(st.one_of(reference_like, st.text(max_size=40)))
def test_normalisation_is_idempotent(text: str) -> None:
    for parse in (parse_reference, parse_tag_reference, parse_digest_reference):
        reference = parse(text).value_or(None)  # never raises
        if reference is not None:
            assert parsed(str(reference)) == reference
            assert str(parsed(str(reference))) == str(reference)
