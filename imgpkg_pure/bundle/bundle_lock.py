"""BundleLock: ``push --lock-output``, ``copy --lock-output``, ``pull --lock``, ``copy --lock``.

Spec: docs/imgpkg-reference.md §2.3 (YAML conventions: §2.1), §1.2.
imgpkg's ``lockconfig.BundleLock``::

    apiVersion: imgpkg.carvel.dev/v1alpha1
    bundle:
      image: <digest reference>   # required
      tag: v1                     # omitted when empty
      otherTags: ...              # a plain string; omitted when empty
    kind: BundleLock

``otherTags`` is not in the spec text but is a field of imgpkg's ``BundleRef``
struct (``json:"otherTags,omitempty"``), so strict reading accepts it and it
is kept.  Reading is strict (unknown fields and repeated keys are errors),
then ``Validate()`` checks apiVersion, kind and that ``bundle.image`` parses
as a digest reference.  Unlike the ImagesLock, ``bundle.image`` is **not**
normalised: it is kept exactly as written (``reference`` gives the parsed
form).
"""

from __future__ import annotations

from typing import Final, final

from attrs import field, frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.bundle._document import (
    get_str,
    get_struct,
    header,
    header_problem,
    invalid,
    malformed,
)
from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.reference import Reference, parse_digest_reference
from imgpkg_pure.yaml_doc import GoString, GoStruct, Tree, decode_yaml, encode_yaml

__all__ = [
    "BUNDLE_LOCK_KIND",
    "BundleLock",
    "encode_bundle_lock",
    "parse_bundle_lock",
]

BUNDLE_LOCK_KIND: Final = "BundleLock"

_UNMARSHAL: Final = "Unmarshaling bundle lock"
_VALIDATE: Final = "Validating bundle lock"

_BUNDLE_REF: Final = GoStruct(
    go_type="lockconfig.BundleRef",
    fields=(("image", GoString()), ("tag", GoString()), ("otherTags", GoString())),
)
_SCHEMA: Final = GoStruct(
    go_type="lockconfig.BundleLock",
    fields=(("apiVersion", GoString()), ("kind", GoString()), ("bundle", _BUNDLE_REF)),
    promoted=frozenset({"apiVersion", "kind"}),  # from the embedded LockVersion
)


def _digest_reference(_instance: object, _attribute: object, value: str) -> None:
    if parse_digest_reference(value).value_or(None) is None:
        raise ValueError(f"Expected ref to be in digest form, got '{value}'")


def _non_empty(_instance: object, _attribute: object, value: str | None) -> None:
    if value == "":
        raise ValueError("use None, not '', for an absent value (Go omits empty strings)")


def reference_of(text: str) -> Reference:
    """Parse an image already validated as a digest reference."""
    reference = parse_digest_reference(text).value_or(None)
    if reference is None:  # pragma: no cover - ruled out by the validators
        raise AssertionError(f"not a digest reference: {text}")
    return reference


@final
@frozen(kw_only=True)
class BundleLock:
    """imgpkg's BundleLock: a bundle by digest, plus the tag it was pushed or copied with."""

    image: str = field(validator=_digest_reference)
    tag: str | None = field(default=None, validator=_non_empty)
    other_tags: str | None = field(default=None, validator=_non_empty)

    @property
    def reference(self) -> Reference:
        """``image`` parsed (ggcr ``NewDigest``; a tag written before ``@`` is kept)."""
        return reference_of(self.image)


def parse_bundle_lock(text: str | bytes, where: str) -> Result[BundleLock, MalformedDocument]:
    """Read a BundleLock as imgpkg does (strict, validated, image kept verbatim)."""
    decoded = decode_yaml(text, _SCHEMA, strict=True)
    return decoded.alt(lambda error: malformed(where, _UNMARSHAL, error)).bind(
        lambda tree: _validated(tree, where)
    )


def _validated(tree: dict[str, Tree], where: str) -> Result[BundleLock, MalformedDocument]:
    problem = header_problem(tree, BUNDLE_LOCK_KIND)
    if problem is not None:
        return Failure(invalid(where, _VALIDATE, *problem))
    bundle = get_struct(tree, "bundle")
    image = get_str(bundle, "image")
    if parse_digest_reference(image).value_or(None) is None:
        return Failure(
            invalid(
                where,
                _VALIDATE,
                f"Expected ref to be in digest form, got '{image}'",
                "bundle.image",
            )
        )
    return Success(
        BundleLock(
            image=image,
            tag=get_str(bundle, "tag") or None,
            other_tags=get_str(bundle, "otherTags") or None,
        )
    )


def encode_bundle_lock(lock: BundleLock) -> str:
    """The BundleLock as imgpkg writes it."""
    bundle: dict[str, Tree] = {"image": lock.image}
    if lock.tag is not None:
        bundle["tag"] = lock.tag
    if lock.other_tags is not None:
        bundle["otherTags"] = lock.other_tags
    tree = header(BUNDLE_LOCK_KIND)
    tree["bundle"] = bundle
    return encode_yaml(tree)
