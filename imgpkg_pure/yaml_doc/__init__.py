"""YAML as imgpkg reads and writes it: sigs.k8s.io/yaml v1.4 over go-yaml v2.4.

Spec: docs/imgpkg-reference.md §2.1.

Reading (``decode_yaml``) reproduces, in four passes, what
``yaml.Unmarshal`` / ``yaml.UnmarshalStrict`` of sigs.k8s.io/yaml do:

1. go-yaml v2 decodes the first document into plain values.  Plain scalars
   are resolved with go-yaml's YAML 1.1 table (``y``/``yes``/``on`` are
   booleans, ``0x1f``/``017``/``1_000`` are integers, timestamps stay
   strings, ...), quoted and block scalars are strings, ``<<`` merges maps.
   In strict mode a key written twice in one mapping is an error
   (``line N: key "k" already set in map``).
2. The values are converted to JSON with the target type in hand: map keys
   become strings, and numbers or booleans headed for a Go ``string`` become
   strings (``5`` -> ``"5"``, ``1.5`` -> ``"1.5"`` with float32 formatting,
   ``yes`` -> ``"true"``).
3. JSON cannot hold NaN or infinities that are left over.
4. encoding/json decodes into the Go struct: field names match exactly or
   case-insensitively, ``null`` leaves a field alone, a type mismatch is an
   error, and in strict mode so is an unknown field.

Error texts are the Go ones (``error converting YAML to JSON: ...``,
``error unmarshaling JSON: while decoding JSON: json: ...``); each error also
carries the field path where it happened.

Writing (``encode_yaml``) reproduces ``yaml.Marshal``.  The value goes
through JSON, so every map's keys are sorted, in go-yaml's "natural" order
(letters after other characters, digit runs compared as numbers).  Each
string gets the style go-yaml asks for: plain when a plain scalar reads back
as the same string, a ``|`` block when it holds a newline, double quotes
otherwise or when it holds a character go-yaml will only write escaped.
PyYAML's emitter then writes the events (block style, sequences flush with
their parent key, 2-space indentation, long lines folded at column 80,
single quotes where plain text would be misread), with a few methods
overridden where go-yaml's output differs from PyYAML's: simple keys, the
folding of quoted scalars, no ``---`` or ``...`` markers.  imgpkg adds the
``---`` line in front.

Parsing is delegated to PyYAML as well (libyaml's event parser when
available, under PyYAML's composer); only the node tree is used, never
PyYAML's constructors.

Both directions were checked against go-yaml v2.4.0 with sigs.k8s.io/yaml
(``JSONToYAML``, ``Unmarshal``, ``UnmarshalStrict``) on many thousands of
generated documents, errors included.  Known, deliberate differences, all in
strings no real lock file holds:

* imgpkg's writer passes strings through JSON and re-parses that JSON as
  YAML.  Go's ``json.Marshal`` leaves U+0085 (NEL) unescaped, and go-yaml
  then folds it like a line break, so imgpkg writes ``"x\u0085y"`` as
  ``x y``; strings holding DEL, U+FFFE or U+FFFF make imgpkg's writer fail.
  ``encode_yaml`` keeps such strings intact (escaped in double quotes).
* The key text of a ``%!s(<nil>)`` error uses sigs.k8s.io/yaml v1.4's
  lowercase ``unsupported map key``.
* A mapping key written ``<<`` is a YAML merge key, in go-yaml as here: an
  annotation named ``<<`` is written plainly and cannot be read back (as
  with imgpkg).
* go-yaml's key order is not always consistent (``1a`` < ``9a`` < ``10a``
  < ``1a``, or digit runs that overflow int64), and Go sorts the keys in
  its random map order, so for such keys imgpkg's output itself varies from
  run to run; ``natural_key_order`` returns one of its possible orders.

The modules, in the order a document goes through them:

* ``_go_types``: the Go types a document is read into (``Schema``), the
  JSON-shaped value (``Tree``) and ``DocumentError``;
* ``_resolve``: what a plain scalar means (YAML 1.1 tags, ``resolve_plain``);
* ``_compose``: pass 1, go-yaml's decoding into ``interface{}``, whose
  values, Go spellings and JSON keys are in ``_yaml_values``;
* ``_decode``: passes 2 to 4 and ``decode_yaml``;
* ``_key_order``: go-yaml's natural order of map keys;
* ``_emit``: the style of each string, the emitter and ``encode_yaml``;
* ``_go_text``: Go's quoting of strings and formatting of floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from imgpkg_pure.yaml_doc._go_text import go_quote
from imgpkg_pure.yaml_doc._go_types import (
    DocumentError,
    GoBool,
    GoSlice,
    GoString,
    GoStringMap,
    GoStruct,
    Schema,
    Tree,
)

if TYPE_CHECKING:
    from returns.result import Result

    from imgpkg_pure.yaml_doc._resolve import Scalar

# PyYAML, the composer, the emitter and the resolver's patterns load on first use: a
# command that reads and writes no YAML document does not pay for them at start-up.


def decode_yaml(
    data: str | bytes, schema: GoStruct, *, strict: bool
) -> Result[dict[str, Tree], DocumentError]:
    """``yaml.Unmarshal``/``UnmarshalStrict`` into ``schema`` (``_decode.decode_yaml``)."""
    from imgpkg_pure.yaml_doc import _decode  # noqa: PLC0415

    return _decode.decode_yaml(data, schema, strict=strict)


def encode_yaml(tree: Tree, *, document_marker: bool = True) -> str:
    """``yaml.Marshal`` with imgpkg's ``---`` line (``_emit.encode_yaml``)."""
    from imgpkg_pure.yaml_doc import _emit  # noqa: PLC0415

    return _emit.encode_yaml(tree, document_marker=document_marker)


def natural_key_order(keys: Sequence[str]) -> list[str]:
    """Keys in the order go-yaml v2 writes a map's keys (``_key_order``)."""
    from imgpkg_pure.yaml_doc import _key_order  # noqa: PLC0415

    return _key_order.natural_key_order(keys)


def resolve_plain(text: str) -> tuple[str, Scalar]:
    """The tag and value go-yaml v2 gives an untagged plain scalar (``_resolve``)."""
    from imgpkg_pure.yaml_doc import _resolve  # noqa: PLC0415

    return _resolve.resolve_plain(text)


__all__ = [
    "DocumentError",
    "GoBool",
    "GoSlice",
    "GoString",
    "GoStringMap",
    "GoStruct",
    "Schema",
    "Tree",
    "decode_yaml",
    "encode_yaml",
    "go_quote",
    "natural_key_order",
    "resolve_plain",
]
