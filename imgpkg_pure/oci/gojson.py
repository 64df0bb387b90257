"""JSON text as Go's ``encoding/json`` writes it.

imgpkg's documents (configs, manifests, tarball ``manifest.json``) are made by
Go, and their digests are over those exact bytes.  Go writes compact JSON,
keeps non-ASCII characters as UTF-8, and escapes ``<``, ``>``, ``&``,
U+2028 and U+2029.  Objects are written in the order given (Go structs), or
sorted by key (Go maps); callers choose by passing a list of pairs or a dict.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TypeAlias

GoValue: TypeAlias = (
    "bool | int | str | Sequence[GoValue] | Mapping[str, GoValue] | GoObject | None"
)

_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


class GoObject:
    """An ordered JSON object (a Go struct): fields are written in the given order."""

    __slots__ = ("fields",)

    def __init__(self, fields: Sequence[tuple[str, GoValue]]) -> None:
        self.fields = tuple(fields)


def go_string(value: str) -> str:
    """A JSON string literal escaped as Go escapes it."""
    text = json.dumps(value, ensure_ascii=False)
    if any(c in text for c in _ESCAPES):
        text = "".join(_ESCAPES.get(c, c) for c in text)
    return text


def encode(value: GoValue) -> str:
    """Compact JSON text; dicts are sorted by key (Go maps), GoObject keeps its order."""
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts)


def encode_bytes(value: GoValue) -> bytes:
    """``encode`` as UTF-8 bytes."""
    return encode(value).encode("utf-8")


def _encode(value: GoValue, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, str):
        out.append(go_string(value))
    elif isinstance(value, GoObject):
        _encode_pairs(value.fields, out)
    elif isinstance(value, Mapping):
        _encode_pairs(sorted(value.items()), out)
    else:
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")


def _encode_pairs(pairs: Sequence[tuple[str, GoValue]], out: list[str]) -> None:
    out.append("{")
    for i, (key, item) in enumerate(pairs):
        if i:
            out.append(",")
        out.append(go_string(key))
        out.append(":")
        _encode(item, out)
    out.append("}")
