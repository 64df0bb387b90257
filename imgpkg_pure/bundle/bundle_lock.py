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
from returns.result import Result

from imgpkg_pure.bundle._document import (
    Invalid,
    LockedImage,
    encode_document,
    get_locked_image,
    get_str,
    non_empty,
    omit_empty,
    one_image_lock_kind,
    parse_document,
)
from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.yaml_doc import GoString, GoStruct, Tree

__all__ = [
    "BUNDLE_LOCK_KIND",
    "BundleLock",
    "encode_bundle_lock",
    "parse_bundle_lock",
]

BUNDLE_LOCK_KIND: Final = "BundleLock"

_BUNDLE_REF: Final = GoStruct(
    go_type="lockconfig.BundleRef",
    fields=(("image", GoString()), ("tag", GoString()), ("otherTags", GoString())),
)
_DOCUMENT: Final = one_image_lock_kind(
    BUNDLE_LOCK_KIND, "lockconfig.BundleLock", "bundle", _BUNDLE_REF, "bundle lock"
)


@final
@frozen(kw_only=True)
class BundleLock(LockedImage):
    """imgpkg's BundleLock: a bundle by digest, plus the tag it was pushed or copied with.

    ``image``, ``tag`` and ``reference`` as for every one-image lock (``LockedImage``).
    """

    other_tags: str | None = field(default=None, validator=non_empty)


def parse_bundle_lock(text: str | bytes, where: str) -> Result[BundleLock, MalformedDocument]:
    """Read a BundleLock as imgpkg does (strict, validated, image kept verbatim)."""
    return parse_document(text, where, _DOCUMENT, _bundle_lock)


def _bundle_lock(tree: dict[str, Tree]) -> Result[BundleLock, Invalid]:
    return get_locked_image(tree, "bundle").map(
        lambda bundle: BundleLock(
            image=get_str(bundle, "image"),
            tag=get_str(bundle, "tag") or None,
            other_tags=get_str(bundle, "otherTags") or None,
        )
    )


def encode_bundle_lock(lock: BundleLock) -> str:
    """The BundleLock as imgpkg writes it."""
    bundle = omit_empty({"image": lock.image, "tag": lock.tag, "otherTags": lock.other_tags})
    return encode_document(BUNDLE_LOCK_KIND, {"bundle": bundle})
