"""What imgpkg's YAML documents share (private): reading, checking and writing one.

Every document is read the same way (``parse_document``): sigs.k8s.io/yaml
decodes it into the document's Go struct (``DocumentKind.schema``, strict or
lenient), imgpkg's ``Validate()`` checks apiVersion and kind, then the
document's own checks build the value.  Decoding errors read
``<unmarshal prefix>: <Go error> (at <path>)``, validation errors
``<validate prefix>: <message> (at <path>)``.  Every document is written the
same way too (``encode_document``): apiVersion, kind and the fields, through
``encode_yaml``.

The field readers (``get_*``) take the decoded tree as it is: a field that
is absent (or was left alone) reads as Go's zero value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final, TypeVar, final

from attrs import field, frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.reference import Reference, parse_digest_reference
from imgpkg_pure.yaml_doc import (
    DocumentError,
    GoString,
    GoStruct,
    Schema,
    Tree,
    decode_yaml,
    encode_yaml,
)

API_VERSION: Final = "imgpkg.carvel.dev/v1alpha1"

Pairs = tuple[tuple[str, str], ...]

_T = TypeVar("_T")

# --- reading ----------------------------------------------------------------------------


@final
@frozen(kw_only=True)
class DocumentKind:
    """How one of imgpkg's documents is read: its kind, Go struct and error prefixes.

    ``validate`` prefixes ``Validate()``'s errors ('' for none, as for
    ImageLocations); None means apiVersion and kind are not checked at all
    (bundle.yml).
    """

    kind: str
    schema: GoStruct
    strict: bool
    unmarshal: str
    validate: str | None


@final
@frozen(kw_only=True)
class Invalid:
    """A ``Validate()`` problem: imgpkg's message and the field path where it is."""

    message: str
    path: str


def document_schema(
    go_type: str, *fields: tuple[str, Schema], lock_version: bool = False
) -> GoStruct:
    """A document's Go struct: ``apiVersion`` and ``kind``, then ``fields``.

    ``lock_version``: apiVersion and kind come from an embedded ``LockVersion``
    struct (imgpkg's lock files), which sigs.k8s.io/yaml treats differently.
    """
    return GoStruct(
        go_type=go_type,
        fields=(("apiVersion", GoString()), ("kind", GoString()), *fields),
        promoted=frozenset({"apiVersion", "kind"}) if lock_version else frozenset(),
    )


def parse_document(
    text: str | bytes,
    where: str,
    document: DocumentKind,
    build: Callable[[dict[str, Tree]], Result[_T, Invalid]],
) -> Result[_T, MalformedDocument]:
    """Decode ``text`` as ``document``, check its apiVersion and kind, then ``build`` it.

    ``where`` names the document (usually its path) in error values.
    """
    decoded = decode_yaml(text, document.schema, strict=document.strict)
    return decoded.alt(lambda error: _malformed(where, document.unmarshal, error)).bind(
        lambda tree: _validated(tree, document, build).alt(
            lambda problem: _invalid(where, document.validate or "", problem)
        )
    )


def _validated(
    tree: dict[str, Tree],
    document: DocumentKind,
    build: Callable[[dict[str, Tree]], Result[_T, Invalid]],
) -> Result[_T, Invalid]:
    if document.validate is not None:
        problem = _header_problem(tree, document.kind)
        if problem is not None:
            return Failure(problem)
    return build(tree)


def _at(path: str) -> str:
    return f" (at {path})" if path else ""


def _malformed(where: str, prefix: str, error: DocumentError) -> MalformedDocument:
    """A decoding error, worded as imgpkg words it, plus the field path."""
    return MalformedDocument(where=where, reason=f"{prefix}: {error.message}{_at(error.path)}")


def _invalid(where: str, prefix: str, problem: Invalid) -> MalformedDocument:
    """A validation error (``prefix`` may be empty, as for ImageLocations)."""
    lead = f"{prefix}: " if prefix else ""
    return MalformedDocument(where=where, reason=f"{lead}{problem.message}{_at(problem.path)}")


def _header_problem(tree: dict[str, Tree], kind: str) -> Invalid | None:
    """imgpkg's ``Validate()`` of apiVersion and kind."""
    if get_str(tree, "apiVersion") != API_VERSION:
        return Invalid(
            message=f"Validating apiVersion: Unknown version (known: {API_VERSION})",
            path="apiVersion",
        )
    if get_str(tree, "kind") != kind:
        return Invalid(message=f"Validating kind: Unknown kind (known: {kind})", path="kind")
    return None


def get_str(tree: dict[str, Tree], key: str) -> str:
    value = tree.get(key)
    return value if isinstance(value, str) else ""


def get_bool(tree: dict[str, Tree], key: str) -> bool:
    value = tree.get(key)
    return value if isinstance(value, bool) else False


def get_struct(tree: dict[str, Tree], key: str) -> dict[str, Tree]:
    value = tree.get(key)
    return value if isinstance(value, dict) else {}


def get_structs(tree: dict[str, Tree], key: str) -> list[dict[str, Tree]]:
    value = tree.get(key)
    if not isinstance(value, list):
        return []
    return [item if isinstance(item, dict) else {} for item in value]


def get_pairs(tree: dict[str, Tree], key: str) -> Pairs:
    value = tree.get(key)
    if not isinstance(value, dict):
        return ()
    return sorted_pairs(
        (name, item if isinstance(item, str) else "") for name, item in value.items()
    )


# --- images by digest -------------------------------------------------------------------


def _not_digest_form(text: str) -> str:
    return f"Expected ref to be in digest form, got '{text}'"


def get_digest_reference(entry: dict[str, Tree], path: str) -> Result[Reference, Invalid]:
    """The ``image`` field of ``entry`` (found at ``path``), which must be a digest reference.

    imgpkg's ``Validate()`` of a lock file's image (a ``name:tag@digest`` passes).
    """
    text = get_str(entry, "image")
    reference = parse_digest_reference(text).value_or(None)
    if reference is None:
        return Failure(Invalid(message=_not_digest_form(text), path=f"{path}.image"))
    return Success(reference)


def get_locked_image(tree: dict[str, Tree], key: str) -> Result[dict[str, Tree], Invalid]:
    """The struct at ``key`` of a one-image lock (BundleLock's ``bundle``, ImageLock's
    ``image``), whose ``image`` must be a digest reference."""
    entry = get_struct(tree, key)
    return get_digest_reference(entry, key).map(lambda _: entry)


def digest_reference(_instance: object, _attribute: object, value: str) -> None:
    """attrs validator: ``value`` is a digest reference."""
    if parse_digest_reference(value).value_or(None) is None:
        raise ValueError(_not_digest_form(value))


def reference_of(text: str) -> Reference:
    """Parse an image already validated as a digest reference."""
    reference = parse_digest_reference(text).value_or(None)
    if reference is None:  # pragma: no cover - ruled out by the validators
        raise AssertionError(f"not a digest reference: {text}")
    return reference


# --- values -----------------------------------------------------------------------------


def sorted_pairs(pairs: Iterable[tuple[str, str]]) -> Pairs:
    """A ``map[string]string`` as a sorted tuple of ``(key, value)`` pairs."""
    return tuple(sorted((str(key), str(value)) for key, value in pairs))


def unique_keys(_instance: object, _attribute: object, value: Pairs) -> None:
    """attrs validator: a map cannot hold a key twice."""
    keys = [key for key, _ in value]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate map keys in {keys!r}")


def non_empty(_instance: object, _attribute: object, value: str | None) -> None:
    """attrs validator: an optional string is None when absent, never ''."""
    if value == "":
        raise ValueError("use None, not '', for an absent value (Go omits empty strings)")


# --- one-image locks (BundleLock, ImageLock) ----------------------------------------------


def one_image_lock_kind(
    kind: str, go_type: str, key: str, entry: GoStruct, noun: str
) -> DocumentKind:
    """A lock file of one image under ``key``, read strictly and validated.

    apiVersion and kind come from an embedded ``LockVersion``; errors are prefixed
    ``Unmarshaling <noun>`` and ``Validating <noun>`` (imgpkg's words).
    """
    return DocumentKind(
        kind=kind,
        schema=document_schema(go_type, (key, entry), lock_version=True),
        strict=True,
        unmarshal=f"Unmarshaling {noun}",
        validate=f"Validating {noun}",
    )


@frozen(kw_only=True)
class LockedImage:
    """What a one-image lock holds: an image by digest, kept as written, and its tag."""

    image: str = field(validator=digest_reference)
    tag: str | None = field(default=None, validator=non_empty)

    @property
    def reference(self) -> Reference:
        """``image`` parsed (ggcr ``NewDigest``; a tag written before ``@`` is kept)."""
        return reference_of(self.image)


# --- writing ----------------------------------------------------------------------------


def omit_empty(values: Mapping[str, str | None]) -> dict[str, Tree]:
    """Go's ``omitempty`` for string fields: the fields that are neither None nor ''."""
    return {key: value for key, value in values.items() if value}


def encode_document(kind: str, fields: dict[str, Tree]) -> str:
    """The document as imgpkg writes it: ``---`` line, apiVersion, kind and ``fields``."""
    tree: dict[str, Tree] = {"apiVersion": API_VERSION, "kind": kind}
    tree.update(fields)
    return encode_yaml(tree)
