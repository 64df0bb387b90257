"""ImagesLock: a bundle's ``.imgpkg/images.yml`` (also ``copy --lock`` input and output).

Spec: docs/imgpkg-reference.md §2.2 (YAML conventions: §2.1).
imgpkg's ``lockconfig.ImagesLock``::

    apiVersion: imgpkg.carvel.dev/v1alpha1   # required, exact
    kind: ImagesLock                         # required, exact
    images:                                  # optional; omitted on output when empty
    - image: <digest reference>              # required
      annotations: {<string>: <string>}      # optional map[string]string

Reading is strict, like ``yaml.UnmarshalStrict``: unknown fields and keys
written twice are errors.  Then imgpkg's ``Validate()`` runs: apiVersion,
kind, then every image must parse as a digest reference (a
``name:tag@digest`` is accepted and its tag dropped).  Every image is
normalised to ggcr's fully qualified ``registry/repository@digest``
(``ubuntu@…`` becomes ``index.docker.io/library/ubuntu@…``).  The order of
the images is kept.

Annotation values are Go strings: a YAML number or boolean is read as its
text the way sigs.k8s.io/yaml converts it (``5`` -> ``"5"``, ``yes`` ->
``"true"``); a mapping or list value is an error.
"""

from __future__ import annotations

from typing import Final, final

from attrs import evolve, field, frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.bundle._document import (
    DocumentKind,
    Invalid,
    Pairs,
    document_schema,
    encode_document,
    get_digest_reference,
    get_pairs,
    get_structs,
    parse_document,
    sorted_pairs,
    unique_keys,
)
from imgpkg_pure.digest import Digest
from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.reference import Reference, Repository
from imgpkg_pure.yaml_doc import GoSlice, GoString, GoStringMap, GoStruct, Tree

__all__ = [
    "IMAGES_LOCK_KIND",
    "ImageRef",
    "ImagesLock",
    "encode_images_lock",
    "parse_images_lock",
    "relocate_images_lock",
]

IMAGES_LOCK_KIND: Final = "ImagesLock"

_IMAGE_REF: Final = GoStruct(
    go_type="lockconfig.ImageRef",
    fields=(("image", GoString()), ("annotations", GoStringMap())),
)
_DOCUMENT: Final = DocumentKind(
    kind=IMAGES_LOCK_KIND,
    schema=document_schema(
        "lockconfig.ImagesLock",
        ("images", GoSlice(elem=_IMAGE_REF, go_type="[]lockconfig.ImageRef")),
        lock_version=True,
    ),
    strict=True,
    unmarshal="Unmarshaling images lock",
    validate="Validating images lock",
)


def _digest_only(_instance: object, _attribute: object, value: Reference) -> None:
    if value.digest is None or value.tag is not None:
        raise ValueError(f"an ImagesLock image must be a tag-less digest reference, got {value}")


@final
@frozen(kw_only=True)
class ImageRef:
    """One entry of an ImagesLock: a digest reference and its annotations."""

    image: Reference = field(validator=_digest_only)
    annotations: Pairs = field(default=(), converter=sorted_pairs, validator=unique_keys)

    @property
    def digest(self) -> Digest:
        """The image's digest (every entry has one)."""
        digest = self.image.digest
        if digest is None:  # pragma: no cover - ruled out by the validator
            raise AssertionError("ImageRef without digest")
        return digest

    def annotation(self, key: str) -> str | None:
        """The value of annotation ``key``, if present."""
        for name, value in self.annotations:
            if name == key:
                return value
        return None


@final
@frozen(kw_only=True)
class ImagesLock:
    """imgpkg's ImagesLock: the images a bundle refers to, in file order."""

    images: tuple[ImageRef, ...] = ()


def parse_images_lock(text: str | bytes, where: str) -> Result[ImagesLock, MalformedDocument]:
    """Read an ImagesLock as imgpkg does (strict, validated, images normalised).

    ``where`` names the document (usually its path) in error values.
    """
    return parse_document(text, where, _DOCUMENT, _images_lock)


def _images_lock(tree: dict[str, Tree]) -> Result[ImagesLock, Invalid]:
    images: list[ImageRef] = []
    for index, entry in enumerate(get_structs(tree, "images")):
        reference = get_digest_reference(entry, f"images[{index}]")
        if isinstance(reference, Failure):
            return reference
        images.append(
            ImageRef(
                image=reference.unwrap().without_tag(),
                annotations=get_pairs(entry, "annotations"),
            )
        )
    return Success(ImagesLock(images=tuple(images)))


def _entry_tree(entry: ImageRef) -> Tree:
    tree: dict[str, Tree] = {"image": str(entry.image)}
    if entry.annotations:
        tree["annotations"] = dict(entry.annotations)
    return tree


def encode_images_lock(lock: ImagesLock) -> str:
    """The ImagesLock as imgpkg writes it (``---`` line, sorted keys, images in order)."""
    images: dict[str, Tree] = {}
    if lock.images:
        images["images"] = [_entry_tree(entry) for entry in lock.images]
    return encode_document(IMAGES_LOCK_KIND, images)


def relocate_images_lock(lock: ImagesLock, repository: Repository) -> ImagesLock:
    """Every image moved into ``repository`` (same digests, same order and annotations).

    This is the rewrite ``imgpkg pull`` does when a bundle's images were
    copied next to it.
    """
    return ImagesLock(
        images=tuple(evolve(entry, image=repository.digest(entry.digest)) for entry in lock.images)
    )
