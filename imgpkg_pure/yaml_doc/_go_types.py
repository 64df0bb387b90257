"""The Go side of a document: the types it decodes into, the decoded value, the errors.

``Schema`` describes the Go struct a document is read into (the field types
sigs.k8s.io/yaml and encoding/json care about); ``Tree`` is the JSON-shaped
value that comes out (or goes into ``encode_yaml``); ``DocumentError`` is a
Go-worded error with the field path where it happened.
"""

from __future__ import annotations

from typing import Final, TypeAlias, final

from attrs import frozen

__all__ = [
    "Abort",
    "DocumentError",
    "GoBool",
    "GoSlice",
    "GoString",
    "GoStringMap",
    "GoStruct",
    "Schema",
    "Tree",
    "join_path",
]


@final
@frozen(kw_only=True)
class DocumentError:
    """A Go-worded YAML/JSON error and the field path where it happened ('' = whole document)."""

    message: str
    path: str


@final
@frozen
class GoString:
    """A Go ``string`` field."""


@final
@frozen
class GoBool:
    """A Go ``bool`` field."""


@final
@frozen
class GoStringMap:
    """A Go ``map[string]string`` field."""


@final
@frozen(kw_only=True)
class GoSlice:
    """A Go slice field; ``go_type`` is its Go spelling, e.g. ``[]lockconfig.ImageRef``."""

    elem: Schema
    go_type: str


@final
@frozen(kw_only=True)
class GoStruct:
    """A Go struct: its Go type (``lockconfig.ImagesLock``) and JSON field names.

    ``promoted`` names the fields that come from an embedded struct (imgpkg's
    ``LockVersion``: apiVersion and kind).  sigs.k8s.io/yaml looks up the
    target of such a field as ``t.Field(f.index[0])``, i.e. the embedded
    struct, so it does not turn a YAML number or boolean into a string for
    them: ``kind: 5`` is a JSON decoding error there, while it reads as
    ``"5"`` for an ordinary string field.
    """

    go_type: str
    fields: tuple[tuple[str, Schema], ...]
    promoted: frozenset[str] = frozenset()

    @property
    def short_name(self) -> str:
        return self.go_type.rpartition(".")[2]

    def field(self, key: str) -> tuple[str, Schema] | None:
        """encoding/json's field lookup: exact name first, else case-insensitive."""
        for name, schema in self.fields:
            if name == key:
                return name, schema
        folded = _fold(key)
        for name, schema in self.fields:
            if _fold(name) == folded:
                return name, schema
        return None


Schema: TypeAlias = GoString | GoBool | GoStringMap | GoSlice | GoStruct

# A decoded (pass 4) or to-be-encoded document: JSON-shaped Python values.
Tree: TypeAlias = "dict[str, Tree] | list[Tree] | str | bool | None"

_FOLD_SPECIAL: Final = {"\u212a": "k", "\u017f": "s"}


def _fold(text: str) -> str:
    """Go's ``bytes.EqualFold`` reduced to what can match an ASCII field name."""
    return "".join(_FOLD_SPECIAL.get(ch, ch.lower() if ch.isascii() else ch) for ch in text)


class Abort(Exception):
    """Internal: aborts a decoding pass with a DocumentError (``decode_yaml`` catches it)."""

    def __init__(self, error: DocumentError) -> None:
        super().__init__(error.message)
        self.error = error


def join_path(path: str, key: str) -> str:
    return key if path == "" else f"{path}.{key}"
