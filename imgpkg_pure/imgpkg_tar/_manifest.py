"""The ``manifest.json`` of an imgpkg tarball: values, parser and Go-exact encoder.

imgpkg-reference §2.8.  ``manifest.json`` is a Go ``encoding/json`` array of
``ImageOrImageIndexDescriptor`` values (``pkg/imgpkg/imagedesc/types.go``)::

    [{"ImageIndex": null | ImageIndexDescriptor, "Image": null | ImageDescriptor}, ...]

Config blobs, manifests and indexes travel inside it as ``Raw`` strings, the
exact bytes their digests are over; layers are separate tar entries.

Decoding follows Go's ``json.Unmarshal``: keys match struct fields exactly or
else case-insensitively, the last of two matching keys wins, unknown keys are
ignored, ``null`` leaves a field at its zero value, and missing ``Tag``,
``OrigRef`` and ``Labels`` keys (older imgpkg) read as ``""`` and ``null``.
It is stricter than Go in what it accepts as valid: digests must parse, every
image and index needs at least one ``Refs`` entry, and every ``Raw`` must hash
to its digest (a mismatch names the element).

Encoding reproduces ``json.Marshal`` of the Go structs byte for byte: compact,
fields in struct order, ``null`` for nil slices and maps (imgpkg builds
``Layers``, ``Images`` and ``Indexes`` by appending, so an empty one is nil),
map keys sorted, ``<``, ``>``, ``&``, U+2028 and U+2029 escaped, no trailing
newline.  Elements are kept in imgpkg's order (``AsBytes``): by ``Digest`` for
an index and by ``Manifest.Digest + "/" + Config.Digest`` for an image, plain
string comparison; equal keys (duplicates) are ordered by their encoding, so
the order is total and ``encode_tar_manifest`` is a function of the set of
elements.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import groupby
from typing import Any, Final, TypeAlias, TypedDict, TypeVar, final

from attrs import field, frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.digest import Digest, digest_of, parse_digest
from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.media_types import ROOT_BUNDLE_LABEL, is_distributable
from imgpkg_pure.oci import Annotations, Descriptor
from imgpkg_pure.oci.gojson import GoObject, GoValue, encode_bytes

_INT64_MAX: Final = (1 << 63) - 1
_T = TypeVar("_T")


def layer_entry_name(digest: Digest) -> str:
    """The tar entry holding a layer blob: ``<algorithm>-<hex>.tar.gz`` (whatever its type)."""
    return f"{digest.algorithm}-{digest.hex}.tar.gz"


def _non_empty(_instance: object, attribute: Any, value: tuple[str, ...]) -> None:
    if not value:
        raise ValueError(f"{attribute.name} must hold at least one reference")


def _utf8(_instance: object, attribute: Any, value: bytes) -> None:
    # A Go string holds these bytes; bytes that are not UTF-8 would be
    # replaced by U+FFFD when written and no longer hash to the digest.
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{attribute.name} is not UTF-8: {exc}") from None


@final
@frozen(kw_only=True)
class TarLayer:
    """``ImageLayerDescriptor``: one layer of an image, as listed in ``manifest.json``.

    ``diff_id`` is kept verbatim: a digest string, or whatever Go wrote for a
    layer type without one (``""``).
    """

    media_type: str
    digest: Digest
    diff_id: str
    size: int = field()

    @size.validator
    def _size_fits(self, _attribute: Any, value: int) -> None:
        if not 0 <= value <= _INT64_MAX:
            raise ValueError(f"layer size {value} is not an int64 >= 0")

    @property
    def entry_name(self) -> str:
        return layer_entry_name(self.digest)

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(media_type=self.media_type, digest=self.digest, size=self.size)

    @property
    def is_distributable(self) -> bool:
        return is_distributable(self.media_type)

    @property
    def diff_id_digest(self) -> Digest | None:
        """``diff_id`` as a digest, or None when it is not one."""
        return parse_digest(self.diff_id).value_or(None)


@frozen(kw_only=True)
class _Element:
    """What an image and an index of ``manifest.json`` both have: the references
    (``refs[0]`` names the element), the tag and original reference imgpkg
    records, and the labels (the root bundle is labelled so).

    ``labels`` is None for Go's nil map (``null``) and an ``Annotations``
    (possibly empty) for an object.
    """

    refs: tuple[str, ...] = field(validator=_non_empty)
    tag: str = ""
    orig_ref: str = ""
    labels: Annotations | None = None

    @property
    def ref(self) -> str:
        return self.refs[0]

    @property
    def is_root_bundle(self) -> bool:
        return self.labels is not None and ROOT_BUNDLE_LABEL in self.labels


@final
@frozen(kw_only=True)
class TarImage(_Element):
    """``ImageDescriptor``: an image manifest with its config, both as exact bytes.

    ``refs[0]`` is the source digest reference.
    """

    layers: tuple[TarLayer, ...] = ()
    config_digest: Digest
    config_raw: bytes = field(validator=_utf8)
    manifest_media_type: str
    manifest_digest: Digest
    manifest_raw: bytes = field(validator=_utf8)

    @property
    def sort_key(self) -> str:
        return f"{self.manifest_digest}/{self.config_digest}"

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(
            media_type=self.manifest_media_type,
            digest=self.manifest_digest,
            size=len(self.manifest_raw),
        )


@final
@frozen(kw_only=True)
class TarIndex(_Element):
    """``ImageIndexDescriptor``: an index with its exact bytes and every child, recursively."""

    images: tuple[TarImage, ...] = ()
    indexes: tuple[TarIndex, ...] = ()
    media_type: str
    digest: Digest
    raw: bytes = field(validator=_utf8)

    @property
    def sort_key(self) -> str:
        return str(self.digest)

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(media_type=self.media_type, digest=self.digest, size=len(self.raw))


TarElement: TypeAlias = TarImage | TarIndex


def _sort_key(element: TarElement) -> str:
    return element.sort_key


def canonical_order(elements: Iterable[TarElement]) -> tuple[TarElement, ...]:
    """imgpkg's element order (``ImageRefDescriptors.AsBytes``), made total by the encoding."""
    ordered: list[TarElement] = []
    for _, group in groupby(sorted(elements, key=_sort_key), key=_sort_key):
        same = list(group)
        if len(same) > 1:
            same.sort(key=lambda e: encode_bytes(_element_object(e)))
        ordered.extend(same)
    return tuple(ordered)


@final
@frozen(kw_only=True)
class TarManifest:
    """The elements of ``manifest.json``, always in canonical order (see the module doc)."""

    elements: tuple[TarElement, ...] = field(default=(), converter=canonical_order)

    def images(self) -> Iterator[TarImage]:
        """Every image, index children included (depth first, an index's children in order)."""
        for element in self.elements:
            if isinstance(element, TarImage):
                yield element
            else:
                yield from _index_images(element)

    def indexes(self) -> Iterator[TarIndex]:
        """Every index, nested ones included."""
        for element in self.elements:
            if isinstance(element, TarIndex):
                yield from _index_indexes(element)

    def layers(self) -> Iterator[TarLayer]:
        """Every layer of every image, in order (repeats included)."""
        for image in self.images():
            yield from image.layers

    def documents(self) -> dict[Digest, bytes]:
        """The raw configs, manifests and indexes held in ``manifest.json``, by digest."""
        docs: dict[Digest, bytes] = {}
        for image in self.images():
            docs.setdefault(image.config_digest, image.config_raw)
            docs.setdefault(image.manifest_digest, image.manifest_raw)
        for index in self.indexes():
            docs.setdefault(index.digest, index.raw)
        return docs


def _index_images(index: TarIndex) -> Iterator[TarImage]:
    for child in index.indexes:
        yield from _index_images(child)
    yield from index.images


def _index_indexes(index: TarIndex) -> Iterator[TarIndex]:
    yield index
    for child in index.indexes:
        yield from _index_indexes(child)


# --- encoding ---------------------------------------------------------------


_Fields: TypeAlias = list[tuple[str, GoValue]]


def _document_fields(media_type: str, digest: Digest, raw: bytes) -> _Fields:
    """A manifest or index as Go's ``ImageIndex``/``Manifest`` structs hold it."""
    return [("MediaType", media_type), ("Digest", str(digest)), ("Raw", raw.decode("utf-8"))]


def _origin_fields(element: TarElement) -> _Fields:
    """The tag, the original reference and the labels (the last fields of both kinds)."""
    labels = None if element.labels is None else element.labels.as_dict()
    return [("Tag", element.tag), ("OrigRef", element.orig_ref), ("Labels", labels)]


def _layer_object(layer: TarLayer) -> GoObject:
    return GoObject(
        [
            ("MediaType", layer.media_type),
            ("Digest", str(layer.digest)),
            ("DiffID", layer.diff_id),
            ("Size", layer.size),
        ]
    )


def _image_object(image: TarImage) -> GoObject:
    return GoObject(
        [
            ("Refs", list(image.refs)),
            ("Layers", [_layer_object(layer) for layer in image.layers] or None),
            (
                "Config",
                GoObject(
                    [
                        ("Digest", str(image.config_digest)),
                        ("Raw", image.config_raw.decode("utf-8")),
                    ]
                ),
            ),
            (
                "Manifest",
                GoObject(
                    _document_fields(
                        image.manifest_media_type, image.manifest_digest, image.manifest_raw
                    )
                ),
            ),
            *_origin_fields(image),
        ]
    )


def _index_object(index: TarIndex) -> GoObject:
    return GoObject(
        [
            ("Refs", list(index.refs)),
            ("Images", [_image_object(child) for child in index.images] or None),
            ("Indexes", [_index_object(child) for child in index.indexes] or None),
            *_document_fields(index.media_type, index.digest, index.raw),
            *_origin_fields(index),
        ]
    )


def _element_object(element: TarElement) -> GoObject:
    if isinstance(element, TarImage):
        return GoObject([("ImageIndex", None), ("Image", _image_object(element))])
    return GoObject([("ImageIndex", _index_object(element)), ("Image", None)])


def encode_tar_manifest(manifest: TarManifest) -> bytes:
    """``manifest.json`` exactly as imgpkg writes it (``json.Marshal``; see the module doc)."""
    return encode_bytes([_element_object(e) for e in manifest.elements] or None)


# --- decoding ---------------------------------------------------------------


class _Bad(Exception):
    """Internal: a JSON path and a reason, carried out of the nested readers."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason


@final
class _Object:
    """A JSON object as its key/value pairs in document order (Go matches keys itself)."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _fields(value: Any, path: str, names: tuple[str, ...]) -> Mapping[str, Any]:
    """Go's field matching: exact name, else case-insensitive; the last match wins."""
    if value is None:
        return {}
    if not isinstance(value, _Object):
        raise _Bad(path, "expected an object")
    folded = {name.casefold(): name for name in names}
    found: dict[str, Any] = {}
    for key, item in value.pairs:
        name = key if key in names else folded.get(key.casefold())
        if name is not None:
            found[name] = item
    return found


def _text(value: Any, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Bad(path, "expected a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _Bad(path, "string holds an unpaired surrogate escape") from None
    return value


def _raw(value: Any, path: str) -> bytes:
    return _text(value, path).encode("utf-8")


def _digest(value: Any, path: str) -> Digest:
    text = _text(value, path)
    parsed = parse_digest(text)
    if isinstance(parsed, Failure):
        reason = parsed.failure().reason if text else "missing digest"
        raise _Bad(path, reason)
    return parsed.unwrap()


def _size(value: Any, path: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(path, "expected an integer")
    if not 0 <= value <= _INT64_MAX:
        raise _Bad(path, f"{value} is not a size (0 to 2^63-1)")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(path, "expected an array")
    return value


def _each(
    obj: Mapping[str, Any], path: str, name: str, read: Callable[[Any, str], _T]
) -> tuple[_T, ...]:
    """The array (or null) in field ``name`` of ``obj``, each item read by ``read``."""
    where = f"{path}.{name}"
    return tuple(read(item, f"{where}[{i}]") for i, item in enumerate(_list(obj.get(name), where)))


def _refs(obj: Mapping[str, Any], path: str) -> tuple[str, ...]:
    refs = _each(obj, path, "Refs", _text)
    if not refs:
        raise _Bad(f"{path}.Refs", "expected at least one reference")
    return refs


def _label_map(value: Any, path: str) -> Annotations | None:
    if value is None:
        return None
    if not isinstance(value, _Object):
        raise _Bad(path, "expected an object")
    # Go stores into the map in document order: the last duplicate key wins.
    labels = {key: _text(item, f"{path}.{key}") for key, item in value.pairs}
    for key in labels:
        _text(key, path)
    return Annotations.of(labels)


def _check_raw(raw: bytes, digest: Digest, path: str, what: str) -> None:
    actual = digest_of(raw, digest.algorithm)
    if actual != digest:
        raise _Bad(path, f"{what} hashes to {actual}, not to its Digest {digest}")


_LAYER_FIELDS: Final = ("MediaType", "Digest", "DiffID", "Size")
_IMAGE_FIELDS: Final = ("Refs", "Layers", "Config", "Manifest", "Tag", "OrigRef", "Labels")
_CONFIG_FIELDS: Final = ("Digest", "Raw")
_MANIFEST_FIELDS: Final = ("MediaType", "Digest", "Raw")
_INDEX_FIELDS: Final = (
    "Refs",
    "Images",
    "Indexes",
    "MediaType",
    "Digest",
    "Raw",
    "Tag",
    "OrigRef",
    "Labels",
)
_ELEMENT_FIELDS: Final = ("ImageIndex", "Image")


def _layer(value: Any, path: str) -> TarLayer:
    if value is None:
        raise _Bad(path, "expected a layer, got null")
    obj = _fields(value, path, _LAYER_FIELDS)
    return TarLayer(
        media_type=_text(obj.get("MediaType"), f"{path}.MediaType"),
        digest=_digest(obj.get("Digest"), f"{path}.Digest"),
        diff_id=_text(obj.get("DiffID"), f"{path}.DiffID"),
        size=_size(obj.get("Size"), f"{path}.Size"),
    )


class _Origin(TypedDict):
    tag: str
    orig_ref: str
    labels: Annotations | None


def _read_origin(obj: Mapping[str, Any], path: str) -> _Origin:
    """``Tag``, ``OrigRef`` and ``Labels``: the last fields of both kinds, read last."""
    return _Origin(
        tag=_text(obj.get("Tag"), f"{path}.Tag"),
        orig_ref=_text(obj.get("OrigRef"), f"{path}.OrigRef"),
        labels=_label_map(obj.get("Labels"), f"{path}.Labels"),
    )


def _image(value: Any, path: str) -> TarImage:
    obj = _fields(value, path, _IMAGE_FIELDS)
    refs = _refs(obj, path)
    config = _fields(obj.get("Config"), f"{path}.Config", _CONFIG_FIELDS)
    manifest = _fields(obj.get("Manifest"), f"{path}.Manifest", _MANIFEST_FIELDS)
    image = TarImage(
        refs=refs,
        layers=_each(obj, path, "Layers", _layer),
        config_digest=_digest(config.get("Digest"), f"{path}.Config.Digest"),
        config_raw=_raw(config.get("Raw"), f"{path}.Config.Raw"),
        manifest_media_type=_text(manifest.get("MediaType"), f"{path}.Manifest.MediaType"),
        manifest_digest=_digest(manifest.get("Digest"), f"{path}.Manifest.Digest"),
        manifest_raw=_raw(manifest.get("Raw"), f"{path}.Manifest.Raw"),
        **_read_origin(obj, path),
    )
    named = f"image {image.ref}"
    _check_raw(image.manifest_raw, image.manifest_digest, f"{path}.Manifest.Raw", named)
    _check_raw(image.config_raw, image.config_digest, f"{path}.Config.Raw", f"{named} config")
    return image


def _index(value: Any, path: str) -> TarIndex:
    obj = _fields(value, path, _INDEX_FIELDS)
    refs = _refs(obj, path)
    index = TarIndex(
        refs=refs,
        images=_each(obj, path, "Images", _image),
        indexes=_each(obj, path, "Indexes", _index),
        media_type=_text(obj.get("MediaType"), f"{path}.MediaType"),
        digest=_digest(obj.get("Digest"), f"{path}.Digest"),
        raw=_raw(obj.get("Raw"), f"{path}.Raw"),
        **_read_origin(obj, path),
    )
    _check_raw(index.raw, index.digest, f"{path}.Raw", f"index {index.ref}")
    return index


def _element(value: Any, path: str) -> TarElement:
    obj = _fields(value, path, _ELEMENT_FIELDS)
    image, index = obj.get("Image"), obj.get("ImageIndex")
    if image is not None and index is not None:
        raise _Bad(path, "holds both an Image and an ImageIndex")
    if image is not None:
        return _image(image, f"{path}.Image")
    if index is not None:
        return _index(index, f"{path}.ImageIndex")
    raise _Bad(path, "holds neither an Image nor an ImageIndex")


def parse_tar_manifest(raw: bytes, where: str) -> Result[TarManifest, MalformedDocument]:
    """Decode ``manifest.json`` (Go's rules, see the module doc) and check every ``Raw``.

    ``where`` names the document in errors, e.g. ``bundle.tar: manifest.json``.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Failure(MalformedDocument(where=where, reason=f"$: not UTF-8 ({exc})"))
    try:
        value = json.loads(text, object_pairs_hook=_Object, parse_constant=_reject_constant)
    except ValueError as exc:
        return Failure(MalformedDocument(where=where, reason=f"$: not valid JSON ({exc})"))
    except RecursionError:
        return Failure(MalformedDocument(where=where, reason="$: nested too deeply"))
    try:
        elements = [_element(item, f"$[{i}]") for i, item in enumerate(_list(value, "$"))]
    except _Bad as bad:
        return Failure(MalformedDocument(where=where, reason=f"{bad.path}: {bad.reason}"))
    except RecursionError:
        return Failure(MalformedDocument(where=where, reason="$: indexes nested too deeply"))
    return Success(TarManifest(elements=elements))
