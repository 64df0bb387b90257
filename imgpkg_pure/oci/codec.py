"""Decode and encode image-spec JSON documents.

Decoders take the raw bytes and keep them (``Manifest.raw``); they check
types field by field and report the JSON path of the first problem, naming
the document.  Encoders write Go-compatible compact JSON (``gojson``) in
ggcr's field order, so documents we author hash the same as imgpkg's.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any, TypedDict, TypeVar

from returns.result import Failure, Result, Success

from imgpkg_pure.digest import Digest, digest_of, parse_digest
from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.media_types import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    is_index,
    is_manifest,
)
from imgpkg_pure.oci.gojson import GoObject, GoValue, encode_bytes
from imgpkg_pure.oci.values import (
    EMPTY_ANNOTATIONS,
    Annotations,
    Descriptor,
    ImageConfig,
    ImageIndex,
    Manifest,
    Platform,
)

_T = TypeVar("_T")


class _Bad(Exception):
    """Internal: carries a path and reason out of the nested field readers."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason


def _obj(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _Bad(path, "expected an object")
    return value


def _str(obj: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise _Bad(f"{path}.{key}", "required field is missing")
        return None
    if not isinstance(value, str):
        raise _Bad(f"{path}.{key}", "expected a string")
    return value


def _req_str(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = _str(obj, key, path)
    assert value is not None
    return value


def _int(obj: Mapping[str, Any], key: str, path: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(f"{path}.{key}", "expected an integer")
    if value < 0:
        raise _Bad(f"{path}.{key}", "must not be negative")
    return value


def _digest(text: str, path: str) -> Digest:
    result = parse_digest(text)
    if isinstance(result, Failure):
        raise _Bad(path, result.failure().reason)
    return result.unwrap()


def _str_list(value: object, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Bad(path, "expected a list of strings")
    return tuple(value)


def _annotations(value: object, path: str) -> Annotations:
    if value is None:
        return EMPTY_ANNOTATIONS
    obj = _obj(value, path)
    for k, v in obj.items():
        if not isinstance(v, str):
            raise _Bad(f"{path}.{k}", "expected a string value")
    return Annotations.of(obj)


def _platform(value: object, path: str) -> Platform | None:
    if value is None:
        return None
    obj = _obj(value, path)
    return Platform(
        architecture=_req_str(obj, "architecture", path),
        os=_req_str(obj, "os", path),
        os_version=_str(obj, "os.version", path, required=False),
        os_features=_str_list(obj.get("os.features"), f"{path}.os.features"),
        variant=_str(obj, "variant", path, required=False),
        features=_str_list(obj.get("features"), f"{path}.features"),
    )


def _descriptor(value: object, path: str) -> Descriptor:
    obj = _obj(value, path)
    digest = _digest(_req_str(obj, "digest", path), f"{path}.digest")
    size = _int(obj, "size", path)
    data: bytes | None = None
    if (encoded := _str(obj, "data", path, required=False)) is not None:
        try:
            data = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise _Bad(f"{path}.data", "not valid base64") from None
        if len(data) != size or digest_of(data, digest.algorithm) != digest:
            raise _Bad(f"{path}.data", "does not match the descriptor's size and digest")
    return Descriptor(
        media_type=_req_str(obj, "mediaType", path),
        digest=digest,
        size=size,
        annotations=_annotations(obj.get("annotations"), f"{path}.annotations"),
        platform=_platform(obj.get("platform"), f"{path}.platform"),
        urls=_str_list(obj.get("urls"), f"{path}.urls"),
        artifact_type=_str(obj, "artifactType", path, required=False),
        data=data,
    )


def _load(raw: bytes) -> Mapping[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Bad("$", f"not valid JSON ({exc})") from None
    return _obj(value, "$")


def _parsed(where: str, read: Callable[[], _T]) -> Result[_T, MalformedDocument]:
    """``read()``, or the first problem it met, naming the document ``where``."""
    try:
        return Success(read())
    except _Bad as bad:
        return Failure(MalformedDocument(where=where, reason=f"{bad.path}: {bad.reason}"))


def parse_descriptor_json(raw: bytes, where: str) -> Result[Descriptor, MalformedDocument]:
    """A lone descriptor document (as in a plan or ``index.json`` entry)."""
    return _parsed(where, lambda: _descriptor(_load(raw), "$"))


def _document(
    raw: bytes, media_type: str | None, default: str, accepts: Callable[[str], bool], kind: str
) -> tuple[Mapping[str, Any], str]:
    """Load a manifest-like document; check its media type and schema version."""
    obj = _load(raw)
    mt = _str(obj, "mediaType", "$", required=False) or media_type or default
    if not accepts(mt):
        raise _Bad("$.mediaType", f"'{mt}' is not an {kind} media type")
    if obj.get("schemaVersion") != 2:
        raise _Bad("$.schemaVersion", "expected 2")
    return obj, mt


class _DocumentFields(TypedDict):
    """The fields of ``ManifestDocument``: what a manifest and an index both have."""

    raw: bytes
    digest: Digest
    media_type: str
    subject: Descriptor | None
    artifact_type: str | None
    annotations: Annotations


def _document_fields(raw: bytes, obj: Mapping[str, Any], media_type: str) -> _DocumentFields:
    """The ``ManifestDocument`` fields of a loaded document.

    Read after the fields of the kind itself, in this order: the first problem found
    is the one reported.
    """
    subject = obj.get("subject")
    return _DocumentFields(
        raw=raw,
        digest=digest_of(raw),
        media_type=media_type,
        subject=None if subject is None else _descriptor(subject, "$.subject"),
        artifact_type=_str(obj, "artifactType", "$", required=False),
        annotations=_annotations(obj.get("annotations"), "$.annotations"),
    )


def _list_field(obj: Mapping[str, Any], key: str) -> list[Any]:
    value = obj.get(key)
    if not isinstance(value, list):
        raise _Bad(f"$.{key}", "expected a list")
    return value


def _descriptors(items: list[Any], key: str) -> tuple[Descriptor, ...]:
    return tuple(_descriptor(v, f"$.{key}[{i}]") for i, v in enumerate(items))


def _manifest(raw: bytes, media_type: str | None) -> Manifest:
    obj, mt = _document(raw, media_type, OCI_MANIFEST, is_manifest, "image manifest")
    layers = _list_field(obj, "layers")
    return Manifest(
        config=_descriptor(obj.get("config"), "$.config"),
        layers=_descriptors(layers, "layers"),
        **_document_fields(raw, obj, mt),
    )


def _index(raw: bytes, media_type: str | None) -> ImageIndex:
    obj, mt = _document(raw, media_type, OCI_INDEX, is_index, "image index")
    children = _list_field(obj, "manifests")
    return ImageIndex(
        manifests=_descriptors(children, "manifests"), **_document_fields(raw, obj, mt)
    )


def parse_manifest(
    raw: bytes, where: str, media_type: str | None = None
) -> Result[Manifest, MalformedDocument]:
    """An image manifest; ``media_type`` is the one the transport reported, if any."""
    return _parsed(where, lambda: _manifest(raw, media_type))


def parse_index(
    raw: bytes, where: str, media_type: str | None = None
) -> Result[ImageIndex, MalformedDocument]:
    """An image index or Docker manifest list."""
    return _parsed(where, lambda: _index(raw, media_type))


def parse_manifest_or_index(
    raw: bytes, where: str, media_type: str | None = None
) -> Result[Manifest | ImageIndex, MalformedDocument]:
    """Dispatch on the document's own ``mediaType``, else the transport's, else its shape."""
    loaded = _parsed(where, lambda: _load(raw))
    if isinstance(loaded, Failure):
        return loaded
    obj = loaded.unwrap()
    declared = obj.get("mediaType") if isinstance(obj.get("mediaType"), str) else None
    mt = declared or media_type
    if mt is None:
        mt = OCI_INDEX if "manifests" in obj else OCI_MANIFEST
    if is_index(mt):
        return parse_index(raw, where, mt).map(lambda i: i)
    return parse_manifest(raw, where, mt).map(lambda m: m)


def declared_media_type(raw: bytes) -> str | None:
    """The document's own ``mediaType`` (a non-empty string), else None: not a JSON object,
    or it says none."""
    return _declared(_object_or_none(raw))


def document_media_type(raw: bytes) -> str:
    """The media type a manifest or index is served with where nothing else records one
    (a layout or store entry known by digest only): its own ``mediaType``, else an index
    when it has ``manifests``, else a manifest (as ``parse_manifest_or_index`` reads it)."""
    obj = _object_or_none(raw)
    if obj is None:
        return OCI_MANIFEST
    return _declared(obj) or (OCI_INDEX if "manifests" in obj else OCI_MANIFEST)


def _declared(obj: Mapping[str, object] | None) -> str | None:
    value = obj.get("mediaType") if obj is not None else None
    return value if isinstance(value, str) and value else None


def _object_or_none(raw: bytes) -> Mapping[str, object] | None:
    try:
        value = json.loads(raw)
    except ValueError:  # UnicodeDecodeError included
        return None
    return value if isinstance(value, dict) else None


def parse_config(raw: bytes, where: str) -> Result[ImageConfig, MalformedDocument]:
    """An image config: platform, diffIDs and labels (``config.Labels``)."""
    return _parsed(where, lambda: _config(raw))


def _config(raw: bytes) -> ImageConfig:
    obj = _load(raw)
    rootfs = obj.get("rootfs")
    diff_ids: tuple[Digest, ...] = ()
    if rootfs is not None:
        ids = _obj(rootfs, "$.rootfs").get("diff_ids")
        diff_ids = tuple(
            _digest(s, f"$.rootfs.diff_ids[{i}]")
            for i, s in enumerate(_str_list(ids, "$.rootfs.diff_ids"))
        )
    inner = obj.get("config")
    labels = EMPTY_ANNOTATIONS
    if inner is not None:
        labels = _annotations(_obj(inner, "$.config").get("Labels"), "$.config.Labels")
    return ImageConfig(
        raw=raw,
        digest=digest_of(raw),
        architecture=_str(obj, "architecture", "$", required=False) or "",
        os=_str(obj, "os", "$", required=False) or "",
        variant=_str(obj, "variant", "$", required=False),
        diff_ids=diff_ids,
        labels=labels,
    )


# --- encoding -------------------------------------------------------------


def descriptor_object(desc: Descriptor) -> GoObject:
    """A descriptor in ggcr's field order, empty optional fields left out."""
    fields: list[tuple[str, GoValue]] = [
        ("mediaType", desc.media_type),
        ("size", desc.size),
        ("digest", str(desc.digest)),
    ]
    if desc.data is not None:
        fields.append(("data", base64.b64encode(desc.data).decode("ascii")))
    if desc.urls:
        fields.append(("urls", list(desc.urls)))
    if desc.annotations:
        fields.append(("annotations", desc.annotations.as_dict()))
    if desc.platform is not None:
        fields.append(("platform", _platform_object(desc.platform)))
    if desc.artifact_type is not None:
        fields.append(("artifactType", desc.artifact_type))
    return GoObject(fields)


def _platform_object(p: Platform) -> GoObject:
    fields: list[tuple[str, GoValue]] = [("architecture", p.architecture), ("os", p.os)]
    if p.os_version:
        fields.append(("os.version", p.os_version))
    if p.os_features:
        fields.append(("os.features", list(p.os_features)))
    if p.variant:
        fields.append(("variant", p.variant))
    if p.features:
        fields.append(("features", list(p.features)))
    return GoObject(fields)


def encode_manifest(
    config: Descriptor,
    layers: tuple[Descriptor, ...],
    media_type: str = DOCKER_MANIFEST,
    annotations: Annotations = EMPTY_ANNOTATIONS,
) -> bytes:
    """Manifest bytes exactly as ggcr writes them (reference §3.6)."""
    fields: list[tuple[str, GoValue]] = [
        ("schemaVersion", 2),
        ("mediaType", media_type),
        ("config", descriptor_object(config)),
        ("layers", [descriptor_object(d) for d in layers]),
    ]
    if annotations:
        fields.append(("annotations", annotations.as_dict()))
    return encode_bytes(GoObject(fields))


def encode_index(
    manifests: tuple[Descriptor, ...],
    media_type: str | None = OCI_INDEX,
    annotations: Annotations = EMPTY_ANNOTATIONS,
) -> bytes:
    """An image index (also the ``index.json`` of an image layout)."""
    fields: list[tuple[str, GoValue]] = [("schemaVersion", 2)]
    if media_type is not None:
        fields.append(("mediaType", media_type))
    fields.append(("manifests", [descriptor_object(d) for d in manifests]))
    if annotations:
        fields.append(("annotations", annotations.as_dict()))
    return encode_bytes(GoObject(fields))


__all__ = [
    "DOCKER_MANIFEST_LIST",
    "declared_media_type",
    "descriptor_object",
    "document_media_type",
    "encode_index",
    "encode_manifest",
    "parse_config",
    "parse_descriptor_json",
    "parse_index",
    "parse_manifest",
    "parse_manifest_or_index",
]
