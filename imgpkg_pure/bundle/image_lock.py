"""ImageLock: the lock file ``push -i --lock-output`` writes.  An imgpkg-pure extension.

imgpkg's issue list says ``push --lock-output`` writes "a BundleLock or
ImageLock", but imgpkg's ``lockconfig`` package (v0.43, and every version
since lock files moved there in v0.3) only has ``BundleLock`` and
``ImagesLock``; ``imgpkg push -i … --lock-output`` fails with
``Lock output is not compatible with image, use bundle for lock output``
(spec §1.2).  An ``ImageLock`` kind did exist in early imgpkg (``cmd``
package, ``apiVersion: imgpkg.k14s.io/v1alpha1``, ``spec.images[].url``),
written by the old ``copy --lock-output`` for images; it was dropped and is
not read here.

So this kind is defined by analogy with BundleLock (§2.3), with the same
conventions (strict reading, ``Validate()``-style checks and messages,
sigs.k8s.io/yaml-style output)::

    ---
    apiVersion: imgpkg.carvel.dev/v1alpha1
    image:
      image: <digest reference>   # required, kept as written
      tag: v1                     # omitted when empty
    kind: ImageLock

Go imgpkg cannot read this file: ``pull --lock`` and ``copy --lock`` reject
it with a strict-unmarshal error, exactly as they reject an ImagesLock given
to ``pull --lock``.
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
from imgpkg_pure.bundle.bundle_lock import reference_of
from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.reference import Reference, parse_digest_reference
from imgpkg_pure.yaml_doc import GoString, GoStruct, Tree, decode_yaml, encode_yaml

__all__ = [
    "IMAGE_LOCK_KIND",
    "ImageLock",
    "encode_image_lock",
    "parse_image_lock",
]

IMAGE_LOCK_KIND: Final = "ImageLock"

_UNMARSHAL: Final = "Unmarshaling image lock"
_VALIDATE: Final = "Validating image lock"

_IMAGE_LOCK_REF: Final = GoStruct(
    go_type="lockconfig.ImageLockRef",
    fields=(("image", GoString()), ("tag", GoString())),
)
_SCHEMA: Final = GoStruct(
    go_type="lockconfig.ImageLock",
    fields=(("apiVersion", GoString()), ("kind", GoString()), ("image", _IMAGE_LOCK_REF)),
    promoted=frozenset({"apiVersion", "kind"}),  # as if LockVersion were embedded
)


def _digest_reference(_instance: object, _attribute: object, value: str) -> None:
    if parse_digest_reference(value).value_or(None) is None:
        raise ValueError(f"Expected ref to be in digest form, got '{value}'")


def _non_empty(_instance: object, _attribute: object, value: str | None) -> None:
    if value == "":
        raise ValueError("use None, not '', for an absent tag (Go omits empty strings)")


@final
@frozen(kw_only=True)
class ImageLock:
    """A plain image by digest, plus the tag it was pushed with (imgpkg-pure extension)."""

    image: str = field(validator=_digest_reference)
    tag: str | None = field(default=None, validator=_non_empty)

    @property
    def reference(self) -> Reference:
        """``image`` parsed (ggcr ``NewDigest``)."""
        return reference_of(self.image)


def parse_image_lock(text: str | bytes, where: str) -> Result[ImageLock, MalformedDocument]:
    """Read an ImageLock (strict, validated, image kept verbatim)."""
    decoded = decode_yaml(text, _SCHEMA, strict=True)
    return decoded.alt(lambda error: malformed(where, _UNMARSHAL, error)).bind(
        lambda tree: _validated(tree, where)
    )


def _validated(tree: dict[str, Tree], where: str) -> Result[ImageLock, MalformedDocument]:
    problem = header_problem(tree, IMAGE_LOCK_KIND)
    if problem is not None:
        return Failure(invalid(where, _VALIDATE, *problem))
    entry = get_struct(tree, "image")
    image = get_str(entry, "image")
    if parse_digest_reference(image).value_or(None) is None:
        return Failure(
            invalid(
                where, _VALIDATE, f"Expected ref to be in digest form, got '{image}'", "image.image"
            )
        )
    return Success(ImageLock(image=image, tag=get_str(entry, "tag") or None))


def encode_image_lock(lock: ImageLock) -> str:
    """The ImageLock in imgpkg's lock-file style."""
    entry: dict[str, Tree] = {"image": lock.image}
    if lock.tag is not None:
        entry["tag"] = lock.tag
    tree = header(IMAGE_LOCK_KIND)
    tree["image"] = entry
    return encode_yaml(tree)
