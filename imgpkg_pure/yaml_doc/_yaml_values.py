"""What go-yaml v2 decodes into ``interface{}``, and how Go prints and converts it.

Pass 1 (``_compose``) builds these values: scalars (``Scalar``), lists and
``YamlMap``.  ``go_repr`` is Go's ``%#v`` of them (in duplicate-key and
map-key errors) and ``json_key`` is sigs.k8s.io/yaml's conversion of a map
key to a JSON object key (pass 2, ``_decode``).
"""

from __future__ import annotations

import math
from typing import final

from imgpkg_pure.yaml_doc._go_text import format_float32, format_float64, go_quote
from imgpkg_pure.yaml_doc._resolve import INT64_MAX, Scalar

__all__ = ["YamlMap", "go_repr", "json_key"]


@final
class YamlMap:
    """A decoded YAML mapping: keys keep their YAML type, later writes win."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: dict[tuple[str, object], tuple[Scalar, object]] = {}

    @staticmethod
    def identity(key: Scalar) -> tuple[str, object]:
        if isinstance(key, float) and math.isnan(key):
            return ("nan", object())  # NaN never equals a key already in a Go map
        return (type(key).__name__, key)

    def has(self, key: Scalar) -> bool:
        return self.identity(key) in self.entries

    def set(self, key: Scalar, value: object) -> None:
        identity = self.identity(key)
        self.entries.pop(identity, None)
        self.entries[identity] = (key, value)


def json_key(key: Scalar) -> str | None:
    """sigs.k8s.io/yaml's map-key conversion; ``None`` for an unsupported key."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        text = format_float32(key)
        return {"+Inf": ".inf", "-Inf": "-.inf", "NaN": ".nan"}.get(text, text)
    return None


def go_repr(value: object) -> str:
    """Roughly Go's ``%#v`` of a value go-yaml decoded into ``interface{}``."""
    if isinstance(value, str):
        return go_quote(value)
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return hex(value) if value > INT64_MAX else str(value)  # %#v of a uint64 is hex
    if isinstance(value, float):
        return format_float64(value)
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(go_repr(item) for item in value) + "}"
    if isinstance(value, YamlMap):
        inner = ", ".join(f"{go_repr(k)}:{go_repr(v)}" for k, v in value.entries.values())
        return "map[interface {}]interface {}{" + inner + "}"
    return repr(value)
