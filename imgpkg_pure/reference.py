"""Image references, following the go-containerregistry ``name`` rules imgpkg relies on.

Spec: docs/imgpkg-reference.md §2.7 (and §1.2 for push's tag parsing).
imgpkg parses every reference with ggcr's ``name`` package (v0.20.2, weak
validation).  This module re-implements those rules as pure functions:

* The first ``/``-separated component is the registry when it contains ``.``
  or ``:`` or is exactly ``localhost``; otherwise the registry is
  ``index.docker.io``.  ``docker.io`` is an alias of ``index.docker.io``.
  Single-component Docker Hub repositories get the ``library/`` prefix.
* The registry must be a valid RFC 3986 authority, checked the way Go's
  ``net/url`` does it (``host[:port]``, ``[ipv6][:port]``, no userinfo,
  no ``%``, no ``?``/``#``).
* The repository holds only ``abcdefghijklmnopqrstuvwxyz0123456789_-./`` and is
  2 to 255 characters long, with ggcr's error texts.  (ggcr v0.20.2 really
  refuses one-character repositories: ``imgpkg push -b localhost:5000/a``
  fails with ``repository must be between 2 and 255 characters in length: a``;
  ggcr only lifted that limit later.)
* A tag is 1 to 127 characters of ``[A-Za-z0-9_.-]`` (ggcr) and, as the
  distribution grammar ``[\\w][\\w.-]{0,127}`` requires, starts with a word
  character.  A missing tag means ``latest`` for tag references.
* A digest is ``sha256:`` plus 64 lowercase hex characters.
* ``name:tag@digest`` parses as a digest reference that also keeps its tag.
* A string starting with ``http://`` or ``https://`` is refused with imgpkg's
  message ``Reference '<ref>' should not include <prefix> protocol prefix``.

Deliberate differences from ggcr v0.20.2, all of them documented here:

* ``localhost/x`` is read as registry ``localhost``, repository ``x`` (as the
  spec says and as ggcr does since its localhost fix); ggcr v0.20.2 itself
  reads it as ``index.docker.io/localhost/x``.
* ``sha512:<128 hex>`` digests are accepted (ggcr v0.20.2 only takes sha256).
* A tag must start with ``[A-Za-z0-9_]`` (ggcr v0.20.2 also takes ``.`` or
  ``-`` first, which no registry accepts).
* The 255-character limit also applies after the ``library/`` prefix is added
  (as newer ggcr does), so every parsed reference prints to a string that
  parses back to the same reference.

``str(reference)`` is the fully qualified form: ``registry/repository``
followed by ``:tag`` and/or ``@digest`` (both when both were given).
``reference.name`` is exactly ggcr's ``Name()``: the digest wins over the tag.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final, final

from attrs import evolve, field, frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.digest import Digest, parse_digest
from imgpkg_pure.errors import InvalidReference

__all__ = [
    "DEFAULT_REGISTRY",
    "DEFAULT_TAG",
    "Reference",
    "Repository",
    "is_insecure_by_default",
    "parse_digest_reference",
    "parse_reference",
    "parse_repository",
    "parse_tag",
    "parse_tag_reference",
]

DEFAULT_REGISTRY: Final = "index.docker.io"
DEFAULT_REGISTRY_ALIAS: Final = "docker.io"
DEFAULT_NAMESPACE: Final = "library"
DEFAULT_TAG: Final = "latest"

REPOSITORY_CHARS: Final = "abcdefghijklmnopqrstuvwxyz0123456789_-./"
TAG_CHARS: Final = "abcdefghijklmnopqrstuvwxyz0123456789_-.ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGEST_CHARS: Final = "sh:0123456789abcdef"

_REPOSITORY_SET: Final = frozenset(REPOSITORY_CHARS)
_TAG_SET: Final = frozenset(TAG_CHARS)
_DIGEST_SET: Final = frozenset(DIGEST_CHARS)
_TAG_FIRST: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")

# Characters Go's net/url accepts unescaped in a host (besides ASCII letters and
# digits): the RFC 3986 unreserved marks, the sub-delims, ':' and '[' ']' for
# ports and IPv6 literals, and '<' '>' '"' which Go also lets through.
_HOST_ASCII_OK: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:[]<>\""
)


@final
@frozen(kw_only=True)
class Repository:
    """A repository in a registry: ggcr's ``name.Repository``.

    ``registry`` is the normalised registry (``index.docker.io`` for Docker
    Hub) and ``repository`` the path inside it, with the ``library/`` prefix
    already applied.
    """

    registry: str
    repository: str

    @property
    def name(self) -> str:
        """``registry/repository`` (ggcr ``Repository.Name()``)."""
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        return self.name

    def scope(self, action: str) -> str:
        """The token scope for ``action`` (``pull``, ``push``, ``pull,push``)."""
        return f"repository:{self.repository}:{action}"

    def digest(self, digest: Digest) -> Reference:
        """The digest reference ``registry/repository@digest``."""
        return Reference(
            registry=self.registry, repository=self.repository, tag=None, digest=digest
        )

    def tag(self, tag: str) -> Result[Reference, InvalidReference]:
        """The tag reference ``registry/repository:tag``, if ``tag`` is a valid tag."""
        return parse_tag(tag).map(
            lambda valid: Reference(
                registry=self.registry, repository=self.repository, tag=valid, digest=None
            )
        )


def _has_identifier(instance: Reference, _attribute: object, value: Digest | None) -> None:
    if instance.tag is None and value is None:
        raise ValueError("a Reference needs a tag, a digest, or both")


@final
@frozen(kw_only=True)
class Reference:
    """A parsed image reference (ggcr ``name.Tag`` or ``name.Digest``).

    At least one of ``tag`` and ``digest`` is set.  A tag reference parsed
    without a tag has ``tag == "latest"``.
    """

    registry: str
    repository: str
    tag: str | None
    digest: Digest | None = field(validator=_has_identifier)

    @property
    def repository_name(self) -> str:
        """``registry/repository`` (ggcr ``Context().Name()``)."""
        return f"{self.registry}/{self.repository}"

    @property
    def name(self) -> str:
        """The fully qualified name as ggcr's ``Name()`` gives it.

        For a digest reference this is ``registry/repository@digest`` (a tag
        given together with the digest is dropped, as ggcr does); for a tag
        reference ``registry/repository:tag``.
        """
        if self.digest is not None:
            return f"{self.repository_name}@{self.digest}"
        return f"{self.repository_name}:{self.tag}"

    @property
    def identifier(self) -> str:
        """The digest string if there is a digest, else the tag (ggcr ``Identifier()``)."""
        if self.digest is not None:
            return str(self.digest)
        return self.tag if self.tag is not None else DEFAULT_TAG

    @property
    def is_digest(self) -> bool:
        """Whether this reference names content by digest."""
        return self.digest is not None

    @property
    def insecure_by_default(self) -> bool:
        """Whether imgpkg would also try plain HTTP for this reference's registry."""
        return is_insecure_by_default(self.registry)

    def __str__(self) -> str:
        text = self.repository_name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    def context(self) -> Repository:
        """The repository this reference points into (ggcr ``Context()``)."""
        return Repository(registry=self.registry, repository=self.repository)

    def scope(self, action: str) -> str:
        """The token scope for ``action`` on this reference's repository."""
        return self.context().scope(action)

    def with_digest(self, digest: Digest) -> Reference:
        """The same reference with ``digest`` set (the tag, if any, is kept)."""
        return evolve(self, digest=digest)

    def with_tag(self, tag: str) -> Result[Reference, InvalidReference]:
        """The same reference with ``tag`` set (the digest, if any, is kept)."""
        return parse_tag(tag).map(lambda valid: evolve(self, tag=valid))

    def without_tag(self) -> Reference:
        """The digest reference ``registry/repository@digest``, or ``self`` without a digest."""
        if self.digest is None:
            return self
        return evolve(self, tag=None)

    def without_digest(self) -> Reference:
        """The tag reference (``latest`` when there was no tag)."""
        return evolve(self, tag=self.tag if self.tag is not None else DEFAULT_TAG, digest=None)


# ---------------------------------------------------------------------------
# ggcr's element checks


def _check_element(
    name: str, element: str, *, allowed_display: str, allowed: frozenset[str], low: int, high: int
) -> str | None:
    """ggcr ``checkElement``: length in runes first, then the character set."""
    if not low <= len(element) <= high:
        return f"{name} must be between {low} and {high} characters in length: {element}"
    if any(ch not in allowed for ch in element):
        return f"{name} can only contain the characters `{allowed_display}`: {element}"
    return None


def _check_repository(repository: str) -> str | None:
    return _check_element(
        "repository",
        repository,
        allowed_display=REPOSITORY_CHARS,
        allowed=_REPOSITORY_SET,
        low=2,
        high=255,
    )


def _check_tag(tag: str) -> str | None:
    problem = _check_element(
        "tag", tag, allowed_display=TAG_CHARS, allowed=_TAG_SET, low=1, high=127
    )
    if problem is None and tag[0] not in _TAG_FIRST:
        return f"tag must start with a letter, a digit or '_': {tag}"
    return problem


def _valid_optional_port(port: str) -> bool:
    """Go ``validOptionalPort``: empty, or ``:`` followed by ASCII digits (maybe none)."""
    if port == "":
        return True
    return port[0] == ":" and all("0" <= ch <= "9" for ch in port[1:])


def _check_registry(name: str) -> str | None:
    """ggcr ``checkRegistry``: ``url.Parse("//" + name).Host`` must equal ``name``."""
    bad = f"registries must be valid RFC 3986 URI authorities: {name}"
    for ch in name:
        code = ord(ch)
        if code < 0x20 or code == 0x7F:
            return bad  # net/url: invalid control character in URL
        if code < 0x80 and ch not in _HOST_ASCII_OK:
            return bad  # '/', '?', '#', '@', '%', space, ... change or break the host
    if name.startswith("["):
        close = name.rfind("]")
        if close < 0 or not _valid_optional_port(name[close + 1 :]):
            return bad
        return None
    colon = name.rfind(":")
    if colon >= 0 and not _valid_optional_port(name[colon:]):
        return bad
    return None


def _prefix_problem(text: str) -> str | None:
    for prefix in ("http://", "https://"):
        if text.startswith(prefix):
            return f"Reference '{text}' should not include {prefix} protocol prefix"
    return None


def _fail(value: str, reason: str) -> Result[Reference, InvalidReference]:
    return Failure(InvalidReference(value=value, reason=reason))


def _split_repository(name: str) -> tuple[str, str]:
    """Split ``name`` into (registry as written, repository as written)."""
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "", name


def _repository(name: str) -> Repository | str:
    """ggcr ``NewRepository`` (weak validation); a string is an error text."""
    if name == "":
        return "a repository name must be specified"
    registry, repo = _split_repository(name)
    problem = _check_repository(repo)
    if problem is not None:
        return problem
    problem = _check_registry(registry)
    if problem is not None:
        return problem
    if registry in ("", DEFAULT_REGISTRY_ALIAS):
        registry = DEFAULT_REGISTRY
    if registry == DEFAULT_REGISTRY and "/" not in repo:
        repo = f"{DEFAULT_NAMESPACE}/{repo}"
        problem = _check_repository(repo)
        if problem is not None:
            return problem
    return Repository(registry=registry, repository=repo)


def _tagged(name: str) -> tuple[Repository, str | None] | str:
    """ggcr ``NewTag`` (weak validation): the repository and the explicit tag, if any."""
    base, tag = name, ""
    head, sep, last = name.rpartition(":")
    if sep and "/" not in last:
        base, tag = head, last
    if tag != "":
        problem = _check_tag(tag)
        if problem is not None:
            return problem
    repository = _repository(base)
    if isinstance(repository, str):
        return repository
    return repository, (tag if tag != "" else None)


def _digest_problem(text: str) -> Digest | str:
    """ggcr's digest check (``sh:0-9a-f``, 71 characters), then a strict parse.

    ``sha512:<128 hex>`` is accepted as an imgpkg-pure extension.
    """
    if not (text.startswith("sha512:") and len(text) == 7 + 128):
        problem = _check_element(
            "digest", text, allowed_display=DIGEST_CHARS, allowed=_DIGEST_SET, low=71, high=71
        )
        if problem is not None:
            return problem
    parsed = parse_digest(text)
    digest: Digest | None = parsed.value_or(None)
    if digest is not None:
        return digest
    reason: str = parsed.swap().map(lambda error: error.message).value_or(text)
    return reason


def _tag_reference(text: str) -> Reference | str:
    tagged = _tagged(text)
    if isinstance(tagged, str):
        return tagged
    repository, tag = tagged
    return Reference(
        registry=repository.registry,
        repository=repository.repository,
        tag=tag if tag is not None else DEFAULT_TAG,
        digest=None,
    )


def _digest_reference(text: str) -> Reference | str:
    parts = text.split("@")
    if len(parts) != 2:
        return (
            "a digest must contain exactly one '@' separator "
            f"(e.g. registry/repository@digest) saw: {text}"
        )
    base, digest_text = parts
    digest = _digest_problem(digest_text)
    if isinstance(digest, str):
        return digest
    tagged = _tagged(base)
    if isinstance(tagged, str):
        repository = _repository(base)
        if isinstance(repository, str):
            return repository
        tag = None
    else:
        repository, tag = tagged
    return Reference(
        registry=repository.registry, repository=repository.repository, tag=tag, digest=digest
    )


def parse_tag_reference(text: str) -> Result[Reference, InvalidReference]:
    """Parse a tag reference (ggcr ``name.NewTag``); a missing tag means ``latest``.

    This is how ``imgpkg push -b/-i`` reads its target, so a digest reference
    fails here with ggcr's repository error, e.g.
    ``repository can only contain the characters `…`: x/y@sha256``.
    """
    return _parsed(text, _tag_reference)


def parse_digest_reference(text: str) -> Result[Reference, InvalidReference]:
    """Parse a digest reference (ggcr ``name.NewDigest``): ``name[:tag]@digest``.

    A tag written before the digest is kept in ``Reference.tag``; use
    ``without_tag()`` or ``.name`` for ggcr's tag-less form.
    """
    return _parsed(text, _digest_reference)


def _parsed(
    text: str, parse: Callable[[str], Reference | str]
) -> Result[Reference, InvalidReference]:
    """``parse(text)`` after the prefix checks every form shares; a problem as the error."""
    problem = _prefix_problem(text)
    parsed = parse(text) if problem is None else problem
    if isinstance(parsed, str):
        return _fail(text, parsed)
    return Success(parsed)


def parse_reference(text: str) -> Result[Reference, InvalidReference]:
    """Parse a tag or digest reference (ggcr ``name.ParseReference``).

    The tag form is tried first, then the digest form.  When both fail the
    reason is ggcr's ``could not parse reference: <text>``.
    """
    problem = _prefix_problem(text)
    if problem is not None:
        return _fail(text, problem)
    as_tag = _tag_reference(text)
    if isinstance(as_tag, Reference):
        return Success(as_tag)
    as_digest = _digest_reference(text)
    if isinstance(as_digest, Reference):
        return Success(as_digest)
    return _fail(text, f"could not parse reference: {text}")


def parse_repository(text: str) -> Result[Repository, InvalidReference]:
    """Parse a repository name such as ``--to-repo`` (ggcr ``name.NewRepository``)."""
    problem = _prefix_problem(text)
    if problem is not None:
        return Failure(InvalidReference(value=text, reason=problem))
    repository = _repository(text)
    if isinstance(repository, str):
        return Failure(InvalidReference(value=text, reason=repository))
    return Success(repository)


def parse_tag(text: str) -> Result[str, InvalidReference]:
    """Check a bare tag (``[A-Za-z0-9_][A-Za-z0-9_.-]{0,126}``)."""
    problem = _check_tag(text)
    if problem is not None:
        return Failure(InvalidReference(value=text, reason=problem))
    return Success(text)


# ---------------------------------------------------------------------------
# "insecure by default" registries (ggcr Registry.Scheme(), §2.7)

# Patterns compiled on first use (``re``'s cache), not at import.
_LOCAL_SUFFIX: Final = r"(?a).*\.local(?:host)?(?::\d{1,5})?$"
_OCTET: Final = r"(0|[1-9][0-9]{0,2})"
_IPV4: Final = rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}"


def _ipv4(text: str) -> tuple[int, int, int, int] | None:
    """Go ``net.ParseIP`` for the dotted-quad form (leading zeros are refused)."""
    match = re.fullmatch(_IPV4, text)
    if match is None:
        return None
    a, b, c, d = (int(group) for group in match.groups())
    if max(a, b, c, d) > 255:
        return None
    return a, b, c, d


def _is_rfc1918(registry: str) -> bool:
    address = _ipv4(registry.partition(":")[0])
    if address is None:
        return False
    a, b = address[0], address[1]
    return a == 10 or (a == 172 and 16 <= b <= 31) or (a == 192 and b == 168)


def is_insecure_by_default(registry: str) -> bool:
    """Whether imgpkg also tries plain HTTP for ``registry`` without ``--registry-insecure``.

    True for ``localhost`` and ``localhost:<port>``, names matching
    ``.*\\.local(?:host)?(?::\\d{1,5})?$``, anything containing ``127.0.0.1``
    or ``::1``, and the RFC 1918 ranges 10/8, 172.16/12 and 192.168/16.
    ``registry`` is the registry part of a reference (``host[:port]``).
    """
    if registry == "localhost" or registry.startswith("localhost:"):
        return True
    if re.match(_LOCAL_SUFFIX, registry) is not None:
        return True
    if "127.0.0.1" in registry or "::1" in registry:
        return True
    return _is_rfc1918(registry)
