"""Image references: ggcr's ``name`` rules as imgpkg uses them (spec §2.7, §1.2)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from returns.result import Failure, Result, Success

from imgpkg_pure.digest import Digest
from imgpkg_pure.errors import InvalidReference
from imgpkg_pure.reference import (
    Reference,
    Repository,
    is_insecure_by_default,
    parse_digest_reference,
    parse_reference,
    parse_repository,
    parse_tag,
    parse_tag_reference,
)

HEX = "8a18a353caab65c2e52f2e6b6838a8bf664dbd0c26e5136a3e3b85140e705842"
SHA = f"sha256:{HEX}"
SHA512 = "sha512:" + "c" * 128
REPO_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-./"

Parser = Callable[[str], Result[Reference, InvalidReference]]


def ok(result: Result[Reference, InvalidReference]) -> Reference:
    value = result.value_or(None)
    assert value is not None, result
    return value


def reason(result: Result[object, InvalidReference]) -> str:
    error = result.swap().value_or(None)
    assert error is not None, result
    return error.reason


# (input, fully qualified str(), ggcr Name())
CANONICAL = [
    ("ubuntu", "index.docker.io/library/ubuntu:latest", "index.docker.io/library/ubuntu:latest"),
    ("ubuntu:22.04", "index.docker.io/library/ubuntu:22.04", None),
    ("ubuntu:", "index.docker.io/library/ubuntu:latest", None),  # empty tag means latest
    ("library/ubuntu", "index.docker.io/library/ubuntu:latest", None),
    ("docker.io/x/y", "index.docker.io/x/y:latest", None),
    ("docker.io/ubuntu", "index.docker.io/library/ubuntu:latest", None),
    ("index.docker.io/ubuntu:1", "index.docker.io/library/ubuntu:1", None),
    ("user/app:v1", "index.docker.io/user/app:v1", None),
    ("gcr.io/ab", "gcr.io/ab:latest", None),  # no library/ outside Docker Hub
    ("localhost:5000/ab", "localhost:5000/ab:latest", None),
    ("localhost/xy", "localhost/xy:latest", None),
    ("localhost:5000", "index.docker.io/library/localhost:5000", None),  # ggcr: a tag!
    ("127.0.0.1:5000/a/b:tag", "127.0.0.1:5000/a/b:tag", None),
    ("Ex.Com:99/ab", "Ex.Com:99/ab:latest", None),  # registry case is kept
    ("[::1]:5000/foo:bar", "[::1]:5000/foo:bar", None),
    ("[::1]/foo", "[::1]/foo:latest", None),
    ("h.io:/cc", "h.io:/cc:latest", None),  # Go's url.Parse accepts an empty port
    ("ex.com/a//b:t", "ex.com/a//b:t", None),  # ggcr does not check path components
    (f"host.io/ab@{SHA}", f"host.io/ab@{SHA}", f"host.io/ab@{SHA}"),
    (f"ubuntu@{SHA}", f"index.docker.io/library/ubuntu@{SHA}", None),
    (
        f"name:tag@{SHA}",
        f"index.docker.io/library/name:tag@{SHA}",
        f"index.docker.io/library/name@{SHA}",
    ),
    (f"localhost:5077/fixtures/app:v1@{SHA}", f"localhost:5077/fixtures/app:v1@{SHA}", None),
    (f"gcr.io/ab@{SHA512}", f"gcr.io/ab@{SHA512}", None),  # sha512: imgpkg-pure extension
]


@pytest.mark.parametrize(("text", "canonical", "name"), CANONICAL)
def test_canonical_forms(text: str, canonical: str, name: str | None) -> None:
    reference = ok(parse_reference(text))
    assert str(reference) == canonical
    if name is not None:
        assert reference.name == name
    again = ok(parse_reference(canonical))
    assert again == reference
    assert str(again) == canonical


def test_components() -> None:
    reference = ok(parse_reference(f"docker.io/ubuntu:22.04@{SHA}"))
    assert reference.registry == "index.docker.io"
    assert reference.repository == "library/ubuntu"
    assert reference.tag == "22.04"
    assert reference.digest == Digest("sha256", HEX)
    assert reference.repository_name == "index.docker.io/library/ubuntu"
    assert reference.identifier == SHA
    assert reference.is_digest
    assert reference.context() == Repository(
        registry="index.docker.io", repository="library/ubuntu"
    )
    assert reference.scope("pull") == "repository:library/ubuntu:pull"


def test_tag_reference_defaults_to_latest() -> None:
    reference = ok(parse_tag_reference("ubuntu"))
    assert reference.tag == "latest"
    assert reference.digest is None
    assert reference.identifier == "latest"
    assert not reference.is_digest


def test_digest_reference_keeps_and_drops_tag() -> None:
    reference = ok(parse_digest_reference(f"name:tag@{SHA}"))
    assert reference.tag == "tag"
    assert str(reference.without_tag()) == f"index.docker.io/library/name@{SHA}"
    plain = ok(parse_digest_reference(f"name@{SHA}"))
    assert plain.tag is None
    assert plain.without_tag() == plain


def test_with_and_without() -> None:
    reference = ok(parse_reference("localhost:5000/ab:v1"))
    digest = Digest("sha256", HEX)
    both = reference.with_digest(digest)
    assert str(both) == f"localhost:5000/ab:v1@{SHA}"
    assert str(both.without_tag()) == f"localhost:5000/ab@{SHA}"
    assert str(both.without_digest()) == "localhost:5000/ab:v1"
    assert str(both.without_tag().without_digest()) == "localhost:5000/ab:latest"
    assert str(ok(reference.with_tag("v2"))) == "localhost:5000/ab:v2"
    assert "tag can only contain" in reason(reference.with_tag("bad tag"))
    repository = reference.context()
    assert str(repository) == "localhost:5000/ab"
    assert str(repository.digest(digest)) == f"localhost:5000/ab@{SHA}"
    assert str(ok(repository.tag("x"))) == "localhost:5000/ab:x"
    assert isinstance(repository.tag("-x"), Failure)


def test_reference_needs_tag_or_digest() -> None:
    with pytest.raises(ValueError, match="tag, a digest, or both"):
        Reference(registry="r.io", repository="ab", tag=None, digest=None)


ERRORS: list[tuple[Parser, str, str]] = [
    # repository charset and length (ggcr's texts)
    (
        parse_tag_reference,
        "UPPER/x",
        f"repository can only contain the characters `{REPO_CHARS}`: UPPER/x",
    ),
    (
        parse_tag_reference,
        "gcr.io/Project/app",
        f"repository can only contain the characters `{REPO_CHARS}`: Project/app",
    ),
    (
        parse_tag_reference,
        "localhost:5000/a",
        "repository must be between 2 and 255 characters in length: a",
    ),
    (
        parse_tag_reference,
        "r.io/" + "a" * 256,
        "repository must be between 2 and 255 characters in length: " + "a" * 256,
    ),
    (parse_tag_reference, "", "a repository name must be specified"),
    # push -b with a digest ref (spec §1.2, observed)
    (
        parse_tag_reference,
        f"127.0.0.1:5000/x/y@{SHA}",
        f"repository can only contain the characters `{REPO_CHARS}`: x/y@sha256",
    ),
    # tags
    (
        parse_tag_reference,
        "ab:bad!tag",
        "tag can only contain the characters "
        "`abcdefghijklmnopqrstuvwxyz0123456789_-.ABCDEFGHIJKLMNOPQRSTUVWXYZ`: bad!tag",
    ),
    (
        parse_tag_reference,
        "ab:" + "t" * 128,
        "tag must be between 1 and 127 characters in length: " + "t" * 128,
    ),
    (parse_tag_reference, "ab:.hidden", "tag must start with a letter, a digit or '_': .hidden"),
    (parse_tag_reference, "ab:-x", "tag must start with a letter, a digit or '_': -x"),
    # registries (Go net/url authority rules)
    (parse_tag_reference, "a b.io/cc", "registries must be valid RFC 3986 URI authorities: a b.io"),
    (parse_tag_reference, "h.io:x/cc", "registries must be valid RFC 3986 URI authorities: h.io:x"),
    (parse_tag_reference, "[::1/cc", "registries must be valid RFC 3986 URI authorities: [::1"),
    # digests
    (
        parse_digest_reference,
        "ab@sha256:abc",
        "digest must be between 71 and 71 characters in length: sha256:abc",
    ),
    (
        parse_digest_reference,
        "ab@sha256:" + "A" * 64,
        "digest can only contain the characters `sh:0123456789abcdef`: sha256:" + "A" * 64,
    ),
    (
        parse_digest_reference,
        "ubuntu:22.04",
        "a digest must contain exactly one '@' separator (e.g. registry/repository@digest) "
        "saw: ubuntu:22.04",
    ),
    (
        parse_digest_reference,
        f"ab@{SHA}@{SHA}",
        "a digest must contain exactly one '@' separator (e.g. registry/repository@digest) "
        f"saw: ab@{SHA}@{SHA}",
    ),
    # ParseReference: tag form, then digest form, then ggcr's generic message
    (parse_reference, "UPPER/x", "could not parse reference: UPPER/x"),
    (parse_reference, "", "could not parse reference: "),
    (parse_reference, "ab:bad!tag", "could not parse reference: ab:bad!tag"),
    # protocol prefixes (imgpkg's registry layer)
    (
        parse_reference,
        "http://x.io/y",
        "Reference 'http://x.io/y' should not include http:// protocol prefix",
    ),
    (
        parse_tag_reference,
        "https://x.io/y:1",
        "Reference 'https://x.io/y:1' should not include https:// protocol prefix",
    ),
    (
        parse_digest_reference,
        f"http://x.io/y@{SHA}",
        f"Reference 'http://x.io/y@{SHA}' should not include http:// protocol prefix",
    ),
]


@pytest.mark.parametrize(("parse", "text", "expected"), ERRORS)
def test_errors(parse: Parser, text: str, expected: str) -> None:
    result = parse(text)
    assert reason(result) == expected
    error = result.swap().value_or(None)
    assert error is not None
    assert error.value == text
    assert error.message == f"invalid image reference '{text}': {expected}"


def test_parse_repository() -> None:
    assert parse_repository("docker.io/ubuntu") == Success(
        Repository(registry="index.docker.io", repository="library/ubuntu")
    )
    assert str(parse_repository("localhost:5077/relocated/bundle").unwrap()) == (
        "localhost:5077/relocated/bundle"
    )
    assert "repository can only contain" in reason(parse_repository("Bad/Repo"))
    assert "protocol prefix" in reason(parse_repository("https://r.io/ab"))


def test_parse_tag() -> None:
    assert parse_tag("v1.0_rc-1") == Success("v1.0_rc-1")
    assert isinstance(parse_tag(""), Failure)
    assert isinstance(parse_tag("a" * 128), Failure)


@pytest.mark.parametrize(
    ("registry", "insecure"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("registry.local", True),
        ("registry.local:8443", True),
        ("foo.localhost:80", True),
        ("a.local:123456", False),  # more than five port digits
        ("127.0.0.1:5000", True),
        ("[::1]:5000", True),
        ("10.1.2.3:5000", True),
        ("172.16.0.1", True),
        ("172.31.255.255:1", True),
        ("172.32.0.1", False),
        ("192.168.1.1:5000", True),
        ("010.1.2.3", False),  # Go's ParseIP refuses leading zeros
        ("gcr.io", False),
        ("index.docker.io", False),
        ("localhostx:5000", False),
    ],
)
def test_insecure_by_default(registry: str, insecure: bool) -> None:
    assert is_insecure_by_default(registry) is insecure


def test_reference_insecure_property() -> None:
    assert ok(parse_reference("localhost:5077/fixtures/app:v1")).insecure_by_default
    assert not ok(parse_reference("ubuntu")).insecure_by_default
