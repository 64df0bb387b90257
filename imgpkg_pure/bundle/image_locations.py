"""ImageLocations: ``image-locations.yml``, the content of a bundle's locations image.

Spec: docs/imgpkg-reference.md §2.5 (YAML conventions: §2.1).
imgpkg's ``bundle.ImageLocationsConfig``::

    ---
    apiVersion: imgpkg.carvel.dev/v1alpha1
    images:
    - image: <the image's ORIGINAL location, as in the bundle's ImagesLock>
      isBundle: false
    kind: ImageLocations

Reading is lenient (``yaml.Unmarshal``): unknown fields are ignored and a key
written twice keeps its last value.  apiVersion and kind are then checked,
with messages that have no prefix (imgpkg returns ``Validate()``'s error as
is).  The image strings are not checked.

The entries are kept sorted by ``image`` string (imgpkg writes them so), which
makes the value canonical.  ``images`` has no ``omitempty`` in Go, so an empty
list is written as ``images: null``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, final

from attrs import field, frozen
from returns.result import Result, Success

from imgpkg_pure.bundle._document import (
    DocumentKind,
    Invalid,
    document_schema,
    encode_document,
    get_bool,
    get_str,
    get_structs,
    parse_document,
)
from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.yaml_doc import GoBool, GoSlice, GoString, GoStruct, Tree

__all__ = [
    "IMAGE_LOCATIONS_FILE",
    "IMAGE_LOCATIONS_KIND",
    "ImageLocation",
    "ImageLocations",
    "encode_image_locations",
    "parse_image_locations",
]

IMAGE_LOCATIONS_KIND: Final = "ImageLocations"
IMAGE_LOCATIONS_FILE: Final = "image-locations.yml"

_LOCATION: Final = GoStruct(
    go_type="bundle.ImageLocation",
    fields=(("image", GoString()), ("isBundle", GoBool())),
)
_DOCUMENT: Final = DocumentKind(
    kind=IMAGE_LOCATIONS_KIND,
    schema=document_schema(
        "bundle.ImageLocationsConfig",
        ("images", GoSlice(elem=_LOCATION, go_type="[]bundle.ImageLocation")),
    ),
    strict=False,
    unmarshal="Unmarshaling image locations config",
    validate="",  # imgpkg returns Validate()'s error as is
)


@final
@frozen(kw_only=True)
class ImageLocation:
    """One image of a bundle: where it was originally, and whether it is a bundle."""

    image: str
    is_bundle: bool


def _sorted_locations(locations: Iterable[ImageLocation]) -> tuple[ImageLocation, ...]:
    return tuple(sorted(locations, key=lambda location: location.image))


@final
@frozen(kw_only=True)
class ImageLocations:
    """imgpkg's ImageLocationsConfig; ``images`` is always sorted by ``image``."""

    images: tuple[ImageLocation, ...] = field(default=(), converter=_sorted_locations)

    def is_bundle(self, image: str) -> bool | None:
        """Whether ``image`` is recorded as a bundle; None if it is not listed."""
        for location in self.images:
            if location.image == image:
                return location.is_bundle
        return None


def parse_image_locations(
    text: str | bytes, where: str
) -> Result[ImageLocations, MalformedDocument]:
    """Read image-locations.yml as imgpkg does (lenient, then apiVersion/kind checked)."""
    return parse_document(text, where, _DOCUMENT, _image_locations)


def _image_locations(tree: dict[str, Tree]) -> Result[ImageLocations, Invalid]:
    return Success(
        ImageLocations(
            images=[
                ImageLocation(image=get_str(entry, "image"), is_bundle=get_bool(entry, "isBundle"))
                for entry in get_structs(tree, "images")
            ]
        )
    )


def encode_image_locations(locations: ImageLocations) -> str:
    """image-locations.yml as imgpkg writes it (entries sorted by image)."""
    images: Tree = [
        {"image": location.image, "isBundle": location.is_bundle} for location in locations.images
    ]
    return encode_document(IMAGE_LOCATIONS_KIND, {"images": images if locations.images else None})
