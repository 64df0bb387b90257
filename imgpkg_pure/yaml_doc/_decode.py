"""Reading: ``decode_yaml``, i.e. sigs.k8s.io/yaml's ``Unmarshal`` / ``UnmarshalStrict``.

Pass 1 (``_compose``) gives go-yaml's values; here they are converted to JSON
with the target Go type in hand (pass 2: map keys become strings, numbers and
booleans headed for a Go ``string`` become their text), JSON's refusal of
NaN and infinities is applied (pass 3), and encoding/json decodes the JSON
into the Go struct (pass 4: exact then case-insensitive field names, ``null``
leaves a field alone, type mismatches and, in strict mode, unknown fields
are errors).
"""

from __future__ import annotations

import math
from typing import TypeAlias, final

import yaml
from returns.result import Failure, Result, Success

from imgpkg_pure.yaml_doc._compose import GoYamlDecoder, compose, text_of
from imgpkg_pure.yaml_doc._go_text import format_float32, go_quote
from imgpkg_pure.yaml_doc._go_types import (
    Abort,
    DocumentError,
    GoBool,
    GoSlice,
    GoString,
    GoStringMap,
    GoStruct,
    Schema,
    Tree,
    join_path,
)
from imgpkg_pure.yaml_doc._yaml_values import YamlMap, go_repr, json_key

__all__ = ["decode_yaml"]

# ---------------------------------------------------------------------------
# Pass 2 and 3: YAML values -> JSON values, with the Go target type in hand

_Json: TypeAlias = "dict[str, _Json] | list[_Json] | str | int | float | bool | None"


def _to_json(value: object, target: Schema | None, path: str) -> _Json:
    if isinstance(value, YamlMap):
        out: dict[str, _Json] = {}
        for key, item in value.entries.values():
            name = json_key(key)
            if name is None:
                raise Abort(
                    DocumentError(
                        message="error converting YAML to JSON: unsupported map key of type: "
                        f"%!s(<nil>), key: <nil>, value: {go_repr(item)}",
                        path=path,
                    )
                )
            item_target: Schema | None = None
            if isinstance(target, GoStruct):
                found = target.field(name)
                if found is not None and found[0] not in target.promoted:
                    item_target = found[1]
            elif isinstance(target, GoStringMap):
                item_target = GoString()
            out[name] = _to_json(item, item_target, join_path(path, name))
        return out
    if isinstance(value, list):
        elem = target.elem if isinstance(target, GoSlice) else None
        return [_to_json(item, elem, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(target, GoString):
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return format_float32(value)
    if value is None or isinstance(value, (str, int, float)):
        return value
    raise Abort(  # pragma: no cover - pass 1 only produces the types above
        DocumentError(message="error converting YAML to JSON: unsupported value", path=path)
    )


def _check_finite(value: _Json, path: str) -> None:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        text = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
        raise Abort(
            DocumentError(
                message=f"error converting YAML to JSON: json: unsupported value: {text}",
                path=path,
            )
        )
    if isinstance(value, dict):
        for key in sorted(value):  # json.Marshal writes map keys sorted
            _check_finite(value[key], join_path(path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_finite(item, f"{path}[{index}]")


# ---------------------------------------------------------------------------
# Pass 4: encoding/json into the Go struct


def _json_kind(value: _Json) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    return "number"


@final
class _JsonDecoder:
    def __init__(self, *, strict: bool) -> None:
        self.strict = strict
        self.first_error: DocumentError | None = None

    def save(self, message: str, path: str) -> None:
        if self.first_error is None:
            self.first_error = DocumentError(
                message=f"error unmarshaling JSON: while decoding JSON: json: {message}", path=path
            )

    def type_error(
        self, value: _Json, go_type: str, context: tuple[str, str] | None, path: str
    ) -> None:
        if context is None:
            where = f"Go value of type {go_type}"
        else:
            where = f"Go struct field {context[0]}.{context[1]} of type {go_type}"
        self.save(f"cannot unmarshal {_json_kind(value)} into {where}", path)

    def decode(
        self, value: _Json, schema: Schema, context: tuple[str, str] | None, path: str
    ) -> Tree:
        """Decode ``value``; ``None`` means "leave the target alone" (JSON null or an error)."""
        if value is None:
            return None
        if isinstance(schema, GoString):
            if isinstance(value, str):
                return value
            self.type_error(value, "string", context, path)
            return None
        if isinstance(schema, GoBool):
            if isinstance(value, bool):
                return value
            self.type_error(value, "bool", context, path)
            return None
        if isinstance(schema, GoStringMap):
            if not isinstance(value, dict):
                self.type_error(value, "map[string]string", context, path)
                return None
            out_map: dict[str, Tree] = {}
            for key in sorted(value):
                item = value[key]
                decoded = self.decode(item, GoString(), context, join_path(path, key))
                out_map[key] = decoded if isinstance(decoded, str) else ""
            return out_map
        if isinstance(schema, GoSlice):
            if not isinstance(value, list):
                self.type_error(value, schema.go_type, context, path)
                return None
            return [
                self.element(item, schema.elem, context, f"{path}[{index}]")
                for index, item in enumerate(value)
            ]
        return self.struct(value, schema, context, path)

    def element(
        self, value: _Json, schema: Schema, context: tuple[str, str] | None, path: str
    ) -> Tree:
        decoded = self.decode(value, schema, context, path)
        if decoded is not None:
            return decoded
        return _zero(schema)

    def struct(
        self, value: _Json, schema: GoStruct, context: tuple[str, str] | None, path: str
    ) -> Tree:
        if not isinstance(value, dict):
            self.type_error(value, schema.go_type, context, path)
            return None
        out: dict[str, Tree] = {}
        for key in sorted(value):
            item_path = join_path(path, key)
            found = schema.field(key)
            if found is None:
                if self.strict:
                    self.save(f"unknown field {go_quote(key)}", item_path)
                continue
            name, field_schema = found
            field_path = name if context is None else f"{context[1]}.{name}"
            field_context = (schema.short_name, field_path)
            decoded = self.decode(value[key], field_schema, field_context, item_path)
            if decoded is None:
                continue
            previous = out.get(name)
            if isinstance(previous, dict) and isinstance(decoded, dict):
                decoded = {**previous, **decoded}
            out[name] = decoded
        return out


def _zero(schema: Schema) -> Tree:
    if isinstance(schema, GoString):
        return ""
    if isinstance(schema, GoBool):
        return False
    if isinstance(schema, GoStringMap):
        return {}
    if isinstance(schema, GoSlice):
        return []
    return {}


def decode_yaml(
    data: str | bytes, schema: GoStruct, *, strict: bool
) -> Result[dict[str, Tree], DocumentError]:
    """Decode ``data`` into ``schema`` as ``yaml.Unmarshal``/``UnmarshalStrict`` would.

    The result is a dict holding only the fields that were set (JSON-shaped
    values: str, bool, list, dict).  Never raises on foreign data.
    """
    return text_of(data).bind(lambda text: _decode_text(text, schema, strict=strict))


def _decode_text(
    text: str, schema: GoStruct, *, strict: bool
) -> Result[dict[str, Tree], DocumentError]:
    return compose(text).bind(lambda node: _decode_node(node, schema, strict=strict))


def _decode_node(
    node: yaml.Node | None, schema: GoStruct, *, strict: bool
) -> Result[dict[str, Tree], DocumentError]:
    try:
        decoder = GoYamlDecoder(strict=strict)
        value = None if node is None else decoder.value(node, "", 0)
        if decoder.duplicates:
            lines = "\n  ".join(message for message, _ in decoder.duplicates)
            return Failure(
                DocumentError(
                    message=f"error converting YAML to JSON: yaml: unmarshal errors:\n  {lines}",
                    path=decoder.duplicates[0][1],
                )
            )
        as_json = _to_json(value, schema, "")
        _check_finite(as_json, "")
    except Abort as failure:
        return Failure(failure.error)
    except RecursionError:
        return Failure(
            DocumentError(message="error converting YAML to JSON: yaml: nested too deeply", path="")
        )
    json_decoder = _JsonDecoder(strict=strict)
    decoded = json_decoder.decode(as_json, schema, None, "")
    if json_decoder.first_error is not None:
        return Failure(json_decoder.first_error)
    return Success(decoded if isinstance(decoded, dict) else {})
