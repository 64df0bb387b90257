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

from attrs import frozen
from returns.result import Result

from imgpkg_pure.bundle._document import (
    Invalid,
    LockedImage,
    encode_document,
    get_locked_image,
    get_str,
    omit_empty,
    one_image_lock_kind,
    parse_document,
)
from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.yaml_doc import GoString, GoStruct, Tree

__all__ = [
    "IMAGE_LOCK_KIND",
    "ImageLock",
    "encode_image_lock",
    "parse_image_lock",
]

IMAGE_LOCK_KIND: Final = "ImageLock"

_IMAGE_LOCK_REF: Final = GoStruct(
    go_type="lockconfig.ImageLockRef",
    fields=(("image", GoString()), ("tag", GoString())),
)
_DOCUMENT: Final = one_image_lock_kind(
    IMAGE_LOCK_KIND, "lockconfig.ImageLock", "image", _IMAGE_LOCK_REF, "image lock"
)


@final
@frozen(kw_only=True)
class ImageLock(LockedImage):
    """A plain image by digest, plus the tag it was pushed with (imgpkg-pure extension).

    ``image``, ``tag`` and ``reference`` as for every one-image lock (``LockedImage``).
    """


def parse_image_lock(text: str | bytes, where: str) -> Result[ImageLock, MalformedDocument]:
    """Read an ImageLock (strict, validated, image kept verbatim)."""
    return parse_document(text, where, _DOCUMENT, _image_lock)


def _image_lock(tree: dict[str, Tree]) -> Result[ImageLock, Invalid]:
    return get_locked_image(tree, "image").map(
        lambda entry: ImageLock(image=get_str(entry, "image"), tag=get_str(entry, "tag") or None)
    )


def encode_image_lock(lock: ImageLock) -> str:
    """The ImageLock in imgpkg's lock-file style."""
    return encode_document(
        IMAGE_LOCK_KIND, {"image": omit_empty({"image": lock.image, "tag": lock.tag})}
    )
