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

Writing (``encode_yaml``) reproduces ``yaml.Marshal``: the value goes through
JSON, so every map's keys are sorted (with go-yaml's "natural" order: letters
after other characters, digit runs compared as numbers), and go-yaml v2's
emitter writes it: block style, sequences flush with their parent key,
2-space indentation, line width 80 (long scalars fold at spaces), strings
quoted only when a plain scalar would not read back as the same string,
multi-line strings as ``|`` blocks when they can be.  The emitter below is a
port of the relevant parts of go-yaml's ``emitterc.go``, which is itself a
port of libyaml.  imgpkg adds the ``---`` line in front.

Parsing itself is delegated to PyYAML (libyaml's event parser when
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
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
from collections.abc import Mapping, Sequence
from functools import cmp_to_key
from typing import Final, TypeAlias, final

import yaml
from attrs import frozen
from returns.result import Failure, Result, Success

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

# ---------------------------------------------------------------------------
# Errors and schemas


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


# ---------------------------------------------------------------------------
# Small Go formatting helpers


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote`` (what ``%q`` and ``%#v`` print for a string)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable() and code != 0xFEFF:
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES: Final = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _float32(value: float) -> float:
    """Round a float64 to float32 the way Go's ``float32(v)`` does."""
    try:
        rounded: float = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        return math.copysign(math.inf, value)
    return rounded


def _format_float32(value: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'g', -1, 32)``."""
    return _format_g(value, single=True)


def _format_float64(value: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'g', -1, 64)`` (also what ``%v`` prints)."""
    return _format_g(value, single=False)


def _format_g(value: float, *, single: bool) -> str:
    if math.isnan(value):
        return "NaN"
    rounded = _float32(value) if single else value
    if math.isinf(rounded):
        return "+Inf" if rounded > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, rounded) < 0 else ""
    magnitude = abs(rounded)
    if magnitude == 0:
        return f"{sign}0"
    digits, point = "", 0
    for precision in range(1, 18):
        text = f"{magnitude:.{precision - 1}e}"
        back = float(text)
        if (_float32(back) if single else back) == magnitude:
            mantissa, _, exponent = text.partition("e")
            digits = mantissa.replace(".", "").rstrip("0") or "0"
            point = int(exponent) + 1
            break
    exp = point - 1
    if exp < -4 or exp >= 6:
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


# ---------------------------------------------------------------------------
# go-yaml v2 scalar resolution (resolve.go)

TAG_STR: Final = "tag:yaml.org,2002:str"
TAG_INT: Final = "tag:yaml.org,2002:int"
TAG_FLOAT: Final = "tag:yaml.org,2002:float"
TAG_BOOL: Final = "tag:yaml.org,2002:bool"
TAG_NULL: Final = "tag:yaml.org,2002:null"
TAG_TIMESTAMP: Final = "tag:yaml.org,2002:timestamp"
TAG_BINARY: Final = "tag:yaml.org,2002:binary"
TAG_MERGE: Final = "tag:yaml.org,2002:merge"

Scalar: TypeAlias = str | int | float | bool | None

_RESOLVE_MAP: Final[dict[str, tuple[str, Scalar]]] = {}
for _words, _tag, _value in (
    (("y", "Y", "yes", "Yes", "YES"), TAG_BOOL, True),
    (("true", "True", "TRUE"), TAG_BOOL, True),
    (("on", "On", "ON"), TAG_BOOL, True),
    (("n", "N", "no", "No", "NO"), TAG_BOOL, False),
    (("false", "False", "FALSE"), TAG_BOOL, False),
    (("off", "Off", "OFF"), TAG_BOOL, False),
    (("", "~", "null", "Null", "NULL"), TAG_NULL, None),
    ((".nan", ".NaN", ".NAN"), TAG_FLOAT, math.nan),
    ((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), TAG_FLOAT, math.inf),
    (("-.inf", "-.Inf", "-.INF"), TAG_FLOAT, -math.inf),
):
    for _word in _words:
        _RESOLVE_MAP[_word] = (_tag, _value)

_HINTS: Final = {
    **dict.fromkeys("0123456789", "D"),
    "+": "S",
    "-": "S",
    **dict.fromkeys("yYnNtTfFoO~", "M"),
    ".": ".",
}
_YAML_STYLE_FLOAT: Final = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DOT_FLOAT: Final = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")
_BASE60_FLOAT: Final = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_INT_DIGITS: Final = {
    2: re.compile(r"[01]+"),
    8: re.compile(r"[0-7]+"),
    10: re.compile(r"[0-9]+"),
    16: re.compile(r"[0-9a-fA-F]+"),
}
_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1
_UINT64_MAX: Final = (1 << 64) - 1

_TS_DATE: Final = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_TS_TIME: Final = re.compile(
    r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})([Tt ])([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})"
    r"(?:[.,][0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?"
)
_DAYS_IN_MONTH: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _valid_date(year: int, month: int, day: int) -> bool:
    if not 1 <= month <= 12:
        return False
    days = _DAYS_IN_MONTH[month - 1]
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        days = 29
    return 1 <= day <= days


def _is_timestamp(text: str) -> bool:
    """go-yaml v2 ``parseTimestamp``: the four layouts it tries with ``time.Parse``."""
    date = _TS_DATE.fullmatch(text)
    if date is not None:
        return _valid_date(int(date[1]), int(date[2]), int(date[3]))
    full = _TS_TIME.fullmatch(text)
    if full is None:
        return False
    separator, zone = full[4], full[8]
    if separator == " " and zone is not None:
        return False  # "2006-1-2 15:4:5.999999999" has no zone
    if separator != " " and zone is None:
        return False  # the "T" layouts require a zone
    if not _valid_date(int(full[1]), int(full[2]), int(full[3])):
        return False
    if int(full[5]) > 23 or int(full[6]) > 59 or int(full[7]) > 59:
        return False
    return zone is None or zone == "Z" or (int(zone[1:3]) <= 24 and int(zone[4:6]) <= 60)


def _go_parse_int(text: str, *, unsigned: bool) -> int | None:
    """``strconv.ParseInt(text, 0, 64)`` / ``ParseUint(text, 0, 64)``."""
    body, negative = text, False
    if body[:1] in ("+", "-"):
        if unsigned:
            return None
        negative = body[0] == "-"
        body = body[1:]
    base = 10
    if len(body) > 1 and body[0] == "0":
        prefix = body[1].lower()
        if prefix == "x":
            base, body = 16, body[2:]
        elif prefix == "o":
            base, body = 8, body[2:]
        elif prefix == "b":
            base, body = 2, body[2:]
        else:
            base, body = 8, body[1:]
    if _INT_DIGITS[base].fullmatch(body) is None:
        return None
    value = int(body, base)
    if negative:
        value = -value
    if unsigned:
        return value if value <= _UINT64_MAX else None
    return value if _INT64_MIN <= value <= _INT64_MAX else None


def resolve_plain(text: str) -> tuple[str, Scalar]:
    """go-yaml v2 ``resolve("", text)``: the tag and value of an untagged plain scalar.

    Timestamps are reported with ``TAG_TIMESTAMP`` but keep their text as the
    value, which is what go-yaml v2 does when decoding into ``interface{}``.
    """
    hint = "N" if text == "" else _HINTS.get(text[0])
    if hint is None:
        return TAG_STR, text
    known = _RESOLVE_MAP.get(text)
    if known is not None:
        return known
    if hint == ".":
        if _DOT_FLOAT.fullmatch(text) is not None:
            number = float(text)
            if not math.isinf(number):
                return TAG_FLOAT, number
    elif hint in ("D", "S"):
        if _is_timestamp(text):
            return TAG_TIMESTAMP, text
        plain = text.replace("_", "")
        signed = _go_parse_int(plain, unsigned=False)
        if signed is not None:
            return TAG_INT, signed
        unsigned = _go_parse_int(plain, unsigned=True)
        if unsigned is not None:
            return TAG_INT, unsigned
        if _YAML_STYLE_FLOAT.fullmatch(plain) is not None:
            number = float(plain)
            if not math.isinf(number):
                return TAG_FLOAT, number
    return TAG_STR, text


def _is_base60_float(text: str) -> bool:
    if text == "" or not (text[0] in "+-" or "0" <= text[0] <= "9") or ":" not in text:
        return False
    return _BASE60_FLOAT.fullmatch(text) is not None


# ---------------------------------------------------------------------------
# Pass 1: compose with PyYAML, decode like go-yaml v2 into interface{}

_PLAIN: Final = "tag:imgpkg-pure:plain"
_MAX_DEPTH: Final = 200
_MAX_NODES: Final = 1_000_000

try:
    from yaml._yaml import CParser as _EventSource  # libyaml's parser (events only)
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser as _EventSource  # type: ignore[assignment]


class _Loader(yaml.composer.Composer, _EventSource, yaml.resolver.Resolver):
    """libyaml's event parser under PyYAML's Python composer, adjusted to go-yaml.

    * Untagged plain scalars get a marker tag, so go-yaml's rules resolve them.
    * An anchor may be defined again (go-yaml lets the later one win; PyYAML's
      composer would refuse the document).
    """

    def __init__(self, stream: str) -> None:
        _EventSource.__init__(self, stream)
        yaml.composer.Composer.__init__(self)
        yaml.resolver.Resolver.__init__(self)

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if anchor is not None and not isinstance(event, yaml.AliasEvent):
            self.anchors.pop(anchor, None)
        node: yaml.Node | None = super().compose_node(parent, index)
        return node

    def resolve(self, kind: type[yaml.Node], value: str | None, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return _PLAIN
        resolved: str = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        return resolved


@final
class _YamlMap:
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


class _Fail(Exception):
    """Internal: aborts a decoding pass with a DocumentError (never escapes this module)."""

    def __init__(self, error: DocumentError) -> None:
        super().__init__(error.message)
        self.error = error


def _join(path: str, key: str) -> str:
    return key if path == "" else f"{path}.{key}"


@final
class _GoYamlDecoder:
    def __init__(self, *, strict: bool) -> None:
        self.strict = strict
        self.duplicates: list[tuple[str, str]] = []  # (go message, path)
        self.count = 0
        self.active: set[int] = set()

    def fail(self, message: str, path: str) -> _Fail:
        return _Fail(
            DocumentError(message=f"error converting YAML to JSON: yaml: {message}", path=path)
        )

    def value(self, node: yaml.Node, path: str, depth: int) -> object:
        self.count += 1
        if self.count > _MAX_NODES:
            raise self.fail("document contains excessive aliasing", path)
        if depth > _MAX_DEPTH:
            raise self.fail(f"exceeded max depth of {_MAX_DEPTH}", path)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.active:
            raise self.fail("anchor value contains itself", path)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [
                    self.value(child, f"{path}[{index}]", depth + 1)
                    for index, child in enumerate(node.value)
                ]
            if isinstance(node, yaml.MappingNode):
                out = _YamlMap()
                self.mapping(node, out, path, depth)
                return out
        finally:
            self.active.discard(id(node))
        raise self.fail("unsupported node", path)  # pragma: no cover

    def scalar(self, node: yaml.ScalarNode, path: str) -> Scalar:
        text: str = node.value
        tag: str = node.tag
        if tag == _PLAIN:
            return resolve_plain(text)[1]
        if tag in (TAG_STR, "!"):
            return text
        if tag == TAG_BINARY:
            try:
                return base64.b64decode(text.encode(), validate=False).decode("utf-8", "replace")
            except (binascii.Error, ValueError) as error:
                message = f"!!binary value contains invalid base64 data: {error}"
                raise self.fail(message, path) from None
        if tag in (TAG_INT, TAG_FLOAT, TAG_BOOL, TAG_NULL):
            resolved_tag, resolved = resolve_plain(text)
            if resolved_tag == tag:
                return resolved
            if tag == TAG_FLOAT and resolved_tag == TAG_INT and isinstance(resolved, int):
                return float(resolved)
            short = "!!" + tag.rpartition(":")[2]
            raise self.fail(f"cannot decode !!str `{text}` as a {short}", path)
        return text  # !!timestamp and unknown tags: the text itself

    def key(self, node: yaml.Node, path: str) -> Scalar:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail("invalid map key: a mapping or sequence cannot be a key", path)
        return self.scalar(node, path)

    def mapping(self, node: yaml.MappingNode, out: _YamlMap, path: str, depth: int) -> None:
        pairs: list[tuple[yaml.Node, yaml.Node]] = node.value
        for key_node, value_node in pairs:
            if _is_merge(key_node):
                self.merge(value_node, out, path, depth)
                continue
            key = self.key(key_node, path)
            value = self.value(value_node, _join(path, _key_text(key)), depth + 1)
            if self.strict and out.has(key):
                # go-yaml's setMapIndex: report (at the value's line), keep the first value
                line = value_node.start_mark.line + 1
                self.duplicates.append(
                    (f"line {line}: key {_go_repr(key)} already set in map", path)
                )
                continue
            out.set(key, value)

    def merge(self, node: yaml.Node, out: _YamlMap, path: str, depth: int) -> None:
        want = "map merge requires map or sequence of maps as the value"
        if isinstance(node, yaml.MappingNode):
            self.merged(node, out, path, depth)
            return
        if isinstance(node, yaml.SequenceNode):
            for child in reversed(node.value):
                if not isinstance(child, yaml.MappingNode):
                    raise self.fail(want, path)
                self.merged(child, out, path, depth)
            return
        raise self.fail(want, path)

    def merged(self, node: yaml.MappingNode, out: _YamlMap, path: str, depth: int) -> None:
        if id(node) in self.active:
            raise self.fail("anchor value contains itself", path)
        self.active.add(id(node))
        try:
            self.mapping(node, out, path, depth + 1)
        finally:
            self.active.discard(id(node))


def _is_merge(node: yaml.Node) -> bool:
    return (
        isinstance(node, yaml.ScalarNode) and node.value == "<<" and node.tag in (_PLAIN, TAG_MERGE)
    )


def _key_text(key: Scalar) -> str:
    converted = _json_key(key)
    return converted if converted is not None else "null"


def _compose(text: str) -> Result[yaml.Node | None, DocumentError]:
    loader = _Loader(text)
    try:
        # Only the first document is read, as go-yaml's Unmarshal does.
        first: yaml.Node | None = loader.get_node() if loader.check_node() else None
    except yaml.MarkedYAMLError as error:
        problem = error.problem or error.context or "unknown problem parsing YAML content"
        return Failure(
            DocumentError(
                message=f"error converting YAML to JSON: yaml: {_where(error)}{problem}", path=""
            )
        )
    except (yaml.YAMLError, RecursionError, ValueError) as error:
        return Failure(
            DocumentError(message=f"error converting YAML to JSON: yaml: {error}", path="")
        )
    finally:
        loader.dispose()
    return Success(first)


def _where(error: yaml.MarkedYAMLError) -> str:
    """go-yaml's ``parser.fail`` line prefix.

    It prints the 0-based line of the problem (plus one for scanner errors),
    falls back to the context's line, and prints nothing when that is 0.
    """
    line = 0
    problem, context = error.problem_mark, error.context_mark
    if problem is not None and problem.line != 0:
        line = problem.line
        if isinstance(error, yaml.scanner.ScannerError):
            line += 1
    elif context is not None and context.line != 0:
        line = context.line
    return f"line {line}: " if line != 0 else ""


def _text_of(data: str | bytes) -> Result[str, DocumentError]:
    if isinstance(data, str):
        return Success(data)
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return Success(data.decode("utf-16"))
        return Success(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return Failure(
            DocumentError(
                message="error converting YAML to JSON: yaml: invalid leading UTF-8 octet",
                path="",
            )
        )


# ---------------------------------------------------------------------------
# Pass 2 and 3: YAML values -> JSON values, with the Go target type in hand

_Json: TypeAlias = "dict[str, _Json] | list[_Json] | str | int | float | bool | None"


def _json_key(key: Scalar) -> str | None:
    """sigs.k8s.io/yaml's map-key conversion; ``None`` for an unsupported key."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        text = _format_float32(key)
        return {"+Inf": ".inf", "-Inf": "-.inf", "NaN": ".nan"}.get(text, text)
    return None


def _go_repr(value: object) -> str:
    """Roughly Go's ``%#v`` of a value go-yaml decoded into ``interface{}``."""
    if isinstance(value, str):
        return go_quote(value)
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return hex(value) if value > _INT64_MAX else str(value)  # %#v of a uint64 is hex
    if isinstance(value, float):
        return _format_float64(value)
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(_go_repr(item) for item in value) + "}"
    if isinstance(value, _YamlMap):
        inner = ", ".join(f"{_go_repr(k)}:{_go_repr(v)}" for k, v in value.entries.values())
        return "map[interface {}]interface {}{" + inner + "}"
    return repr(value)


def _to_json(value: object, target: Schema | None, path: str) -> _Json:
    if isinstance(value, _YamlMap):
        out: dict[str, _Json] = {}
        for key, item in value.entries.values():
            name = _json_key(key)
            if name is None:
                raise _Fail(
                    DocumentError(
                        message="error converting YAML to JSON: unsupported map key of type: "
                        f"%!s(<nil>), key: <nil>, value: {_go_repr(item)}",
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
            out[name] = _to_json(item, item_target, _join(path, name))
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
            return _format_float32(value)
    if value is None or isinstance(value, (str, int, float)):
        return value
    raise _Fail(  # pragma: no cover - pass 1 only produces the types above
        DocumentError(message="error converting YAML to JSON: unsupported value", path=path)
    )


def _check_finite(value: _Json, path: str) -> None:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        text = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
        raise _Fail(
            DocumentError(
                message=f"error converting YAML to JSON: json: unsupported value: {text}",
                path=path,
            )
        )
    if isinstance(value, dict):
        for key in sorted(value):  # json.Marshal writes map keys sorted
            _check_finite(value[key], _join(path, key))
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
                decoded = self.decode(item, GoString(), context, _join(path, key))
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
            item_path = _join(path, key)
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
    return _text_of(data).bind(lambda text: _decode_text(text, schema, strict=strict))


def _decode_text(
    text: str, schema: GoStruct, *, strict: bool
) -> Result[dict[str, Tree], DocumentError]:
    return _compose(text).bind(lambda node: _decode_node(node, schema, strict=strict))


def _decode_node(
    node: yaml.Node | None, schema: GoStruct, *, strict: bool
) -> Result[dict[str, Tree], DocumentError]:
    try:
        decoder = _GoYamlDecoder(strict=strict)
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
    except _Fail as failure:
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


# ---------------------------------------------------------------------------
# Writing: sorted like go-yaml's keyList, emitted like go-yaml v2's emitter


def _key_less(a: str, b: str) -> bool:
    """go-yaml v2 ``keyList.Less`` for two string keys."""
    for index in range(min(len(a), len(b))):
        ca, cb = a[index], b[index]
        if ca == cb:
            continue
        a_letter, b_letter = ca.isalpha(), cb.isalpha()
        if a_letter and b_letter:
            return ca < cb
        if a_letter or b_letter:
            return b_letter
        an = bn = 0
        if ca == "0" or cb == "0":
            back = index - 1
            while back >= 0 and a[back].isdecimal():
                if a[back] != "0":
                    an = bn = 1
                    break
                back -= 1
        ai = index
        while ai < len(a) and a[ai].isdecimal():
            an = an * 10 + ord(a[ai]) - 48
            ai += 1
        bi = index
        while bi < len(b) and b[bi].isdecimal():
            bn = bn * 10 + ord(b[bi]) - 48
            bi += 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return ca < cb
    return len(a) < len(b)


def natural_key_order(keys: Sequence[str]) -> list[str]:
    """Keys in the order go-yaml v2 writes a map's keys."""

    def compare(a: str, b: str) -> int:
        if _key_less(a, b):
            return -1
        if _key_less(b, a):
            return 1
        return 0

    return sorted(keys, key=cmp_to_key(compare))


_PLAIN_STYLE: Final = "plain"
_SINGLE_STYLE: Final = "single"
_DOUBLE_STYLE: Final = "double"
_LITERAL_STYLE: Final = "literal"
_BEST_INDENT: Final = 2
_BEST_WIDTH: Final = 80
_BREAKS: Final = frozenset("\r\n\x85\u2028\u2029")
_DOUBLE_ESCAPES: Final = {
    "\x00": "0",
    "\x07": "a",
    "\x08": "b",
    "\x09": "t",
    "\x0a": "n",
    "\x0b": "v",
    "\x0c": "f",
    "\x0d": "r",
    "\x1b": "e",
    '"': '"',
    "\\": "\\",
    "\x85": "N",
    "\xa0": "_",
    "\u2028": "L",
    "\u2029": "P",
}


def _printable(ch: str) -> bool:
    """go-yaml ``is_printable`` (no astral characters, no NEL, no BOM)."""
    code = ord(ch)
    return (
        code == 0x0A
        or 0x20 <= code <= 0x7E
        or 0xA0 <= code <= 0xD7FF
        or (0xE000 <= code <= 0xFFFD and code != 0xFEFF)
    )


@final
@frozen(kw_only=True)
class _Analysis:
    multiline: bool
    flow_plain_allowed: bool
    block_plain_allowed: bool
    single_quoted_allowed: bool
    block_allowed: bool


def _analyze(value: str) -> _Analysis:
    """go-yaml ``yaml_emitter_analyze_scalar``."""
    if value == "":
        return _Analysis(
            multiline=False,
            flow_plain_allowed=False,
            block_plain_allowed=True,
            single_quoted_allowed=True,
            block_allowed=False,
        )
    block_indicators = flow_indicators = line_breaks = special = False
    leading_space = leading_break = trailing_space = trailing_break = False
    break_space = space_break = previous_space = previous_break = False
    if value.startswith(("---", "...")):
        block_indicators = flow_indicators = True
    preceded_by_whitespace = True
    length = len(value)
    for index, ch in enumerate(value):
        followed_by_whitespace = index + 1 >= length or value[index + 1] in " \t"
        if index == 0:
            if ch in "#,[]{}&*!|>'\"%@`":
                flow_indicators = block_indicators = True
            elif ch in "?:":
                flow_indicators = True
                if followed_by_whitespace:
                    block_indicators = True
            elif ch == "-" and followed_by_whitespace:
                flow_indicators = block_indicators = True
        elif ch in ",?[]{}":
            flow_indicators = True
        elif ch == ":":
            flow_indicators = True
            if followed_by_whitespace:
                block_indicators = True
        elif ch == "#" and preceded_by_whitespace:
            flow_indicators = block_indicators = True
        if not _printable(ch):
            special = True
        if ch == " ":
            if index == 0:
                leading_space = True
            if index == length - 1:
                trailing_space = True
            if previous_break:
                break_space = True
            previous_space, previous_break = True, False
        elif ch in _BREAKS:
            line_breaks = True
            if index == 0:
                leading_break = True
            if index == length - 1:
                trailing_break = True
            if previous_space:
                space_break = True
            previous_space, previous_break = False, True
        else:
            previous_space = previous_break = False
        preceded_by_whitespace = ch in " \t\x00" or ch in _BREAKS
    flow_plain = block_plain = single = block = True
    if leading_space or leading_break or trailing_space or trailing_break:
        flow_plain = block_plain = False
    if trailing_space:
        block = False
    if break_space:
        flow_plain = block_plain = single = False
    if space_break or special:
        flow_plain = block_plain = single = block = False
    if line_breaks:
        flow_plain = block_plain = False
    if flow_indicators:
        flow_plain = False
    if block_indicators:
        block_plain = False
    return _Analysis(
        multiline=line_breaks,
        flow_plain_allowed=flow_plain,
        block_plain_allowed=block_plain,
        single_quoted_allowed=single,
        block_allowed=block,
    )


def _requested_style(value: str) -> str:
    """go-yaml v2 ``encoder.stringv``: which style it asks the emitter for."""
    if "\n" in value:
        return _LITERAL_STYLE
    tag, _ = resolve_plain(value)
    if tag == TAG_STR and not _is_base60_float(value):
        return _PLAIN_STYLE
    return _DOUBLE_STYLE


@final
class _Emitter:
    """The block-style subset of go-yaml v2's emitter, state for one document."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.column = 0
        self.indent = -1
        self.indents: list[int] = []
        self.whitespace = True
        self.indention = True
        self.flow_level = 0
        self.mapping_context = False
        self.simple_key_context = False

    # -- low-level writers
    def put(self, text: str) -> None:
        self.out.append(text)
        self.column += len(text)

    def put_break(self) -> None:
        self.out.append("\n")
        self.column = 0

    def write_break(self, ch: str) -> None:
        if ch == "\n":
            self.put_break()
        else:
            self.out.append(ch)
            self.column = 0

    def write_indent(self) -> None:
        indent = max(self.indent, 0)
        if (
            not self.indention
            or self.column > indent
            or (self.column == indent and not self.whitespace)
        ):
            self.put_break()
        if self.column < indent:
            self.put(" " * (indent - self.column))
        self.whitespace = True
        self.indention = True

    def write_indicator(
        self, indicator: str, need_whitespace: bool, is_whitespace: bool, is_indention: bool
    ) -> None:
        if need_whitespace and not self.whitespace:
            self.put(" ")
        self.put(indicator)
        self.whitespace = is_whitespace
        self.indention = self.indention and is_indention

    def increase_indent(self, *, flow: bool, indentless: bool) -> None:
        self.indents.append(self.indent)
        if self.indent < 0:
            self.indent = _BEST_INDENT if flow else 0
        elif not indentless:
            self.indent += _BEST_INDENT

    def pop_indent(self) -> None:
        self.indent = self.indents.pop()

    # -- nodes
    def node(self, value: Tree, *, mapping: bool, simple_key: bool) -> None:
        self.mapping_context = mapping
        self.simple_key_context = simple_key
        if isinstance(value, dict):
            self.mapping(value)
        elif isinstance(value, list):
            self.sequence(value)
        elif isinstance(value, bool):
            self.scalar("true" if value else "false", _PLAIN_STYLE)
        elif value is None:
            self.scalar("null", _PLAIN_STYLE)
        else:
            self.scalar(value, _requested_style(value))

    def mapping(self, value: Mapping[str, Tree]) -> None:
        if self.flow_level > 0 or not value:
            self.write_indicator("{", True, True, False)
            self.increase_indent(flow=True, indentless=False)
            self.flow_level += 1
            if value:  # pragma: no cover - imgpkg's documents never nest flow maps
                raise ValueError("non-empty flow mappings are not supported")
            self.flow_level -= 1
            self.pop_indent()
            self.write_indicator("}", False, False, False)
            return
        self.increase_indent(flow=False, indentless=False)
        for key in natural_key_order(list(value)):
            self.write_indent()
            key_analysis = _analyze(key)
            simple = not key_analysis.multiline and len(key.encode("utf-8")) <= 128
            if simple:
                self.node(key, mapping=True, simple_key=True)
                self.write_indicator(":", False, False, False)
            else:
                self.write_indicator("?", True, False, True)
                self.node(key, mapping=True, simple_key=False)
                self.write_indent()
                self.write_indicator(":", True, False, True)
            self.node(value[key], mapping=True, simple_key=False)
        self.pop_indent()

    def sequence(self, value: Sequence[Tree]) -> None:
        if self.flow_level > 0 or not value:
            self.write_indicator("[", True, True, False)
            self.increase_indent(flow=True, indentless=False)
            self.flow_level += 1
            if value:  # pragma: no cover - imgpkg's documents never nest flow sequences
                raise ValueError("non-empty flow sequences are not supported")
            self.flow_level -= 1
            self.pop_indent()
            self.write_indicator("]", False, False, False)
            return
        self.increase_indent(flow=False, indentless=self.mapping_context and not self.indention)
        for item in value:
            self.write_indent()
            self.write_indicator("-", True, False, True)
            self.node(item, mapping=False, simple_key=False)
        self.pop_indent()

    def scalar(self, value: str, requested: str) -> None:
        analysis = _analyze(value)
        style = requested
        if self.simple_key_context and analysis.multiline:
            style = _DOUBLE_STYLE
        if style == _PLAIN_STYLE:
            if (self.flow_level > 0 and not analysis.flow_plain_allowed) or (
                self.flow_level == 0 and not analysis.block_plain_allowed
            ):
                style = _SINGLE_STYLE
            if value == "" and (self.flow_level > 0 or self.simple_key_context):
                style = _SINGLE_STYLE
        if style == _SINGLE_STYLE and not analysis.single_quoted_allowed:
            style = _DOUBLE_STYLE
        if style == _LITERAL_STYLE and (
            not analysis.block_allowed or self.flow_level > 0 or self.simple_key_context
        ):
            style = _DOUBLE_STYLE
        self.increase_indent(flow=True, indentless=False)
        allow_breaks = not self.simple_key_context
        if style == _PLAIN_STYLE:
            self.write_plain(value, allow_breaks)
        elif style == _SINGLE_STYLE:
            self.write_single_quoted(value, allow_breaks)
        elif style == _DOUBLE_STYLE:
            self.write_double_quoted(value, allow_breaks)
        else:
            self.write_literal(value)
        self.pop_indent()

    # -- scalar writers
    def write_plain(self, value: str, allow_breaks: bool) -> None:
        if not self.whitespace:
            self.put(" ")
        spaces = breaks = False
        length = len(value)
        for index, ch in enumerate(value):
            if ch == " ":
                next_is_space = index + 1 < length and value[index + 1] == " "
                if allow_breaks and not spaces and self.column > _BEST_WIDTH and not next_is_space:
                    self.write_indent()
                else:
                    self.put(ch)
                spaces = True
            elif ch in _BREAKS:
                if not breaks and ch == "\n":
                    self.put_break()
                self.write_break(ch)
                self.indention = True
                breaks = True
            else:
                if breaks:
                    self.write_indent()
                self.put(ch)
                self.indention = False
                spaces = breaks = False
        self.whitespace = False
        self.indention = False

    def write_single_quoted(self, value: str, allow_breaks: bool) -> None:
        self.write_indicator("'", True, False, False)
        spaces = breaks = False
        length = len(value)
        for index, ch in enumerate(value):
            if ch == " ":
                if (
                    allow_breaks
                    and not spaces
                    and self.column > _BEST_WIDTH
                    and 0 < index < length - 1
                    and value[index + 1] != " "
                ):
                    self.write_indent()
                else:
                    self.put(ch)
                spaces = True
            elif ch in _BREAKS:
                if not breaks and ch == "\n":
                    self.put_break()
                self.write_break(ch)
                self.indention = True
                breaks = True
            else:
                if breaks:
                    self.write_indent()
                if ch == "'":
                    self.put("'")
                self.put(ch)
                self.indention = False
                spaces = breaks = False
        self.write_indicator("'", False, False, False)
        self.whitespace = False
        self.indention = False

    def write_double_quoted(self, value: str, allow_breaks: bool) -> None:
        self.write_indicator('"', True, False, False)
        spaces = False
        length = len(value)
        # go-yaml's is_bom(value, i) looks at the start of the value whatever i
        # is, so a value that starts with a BOM has every character escaped.
        escape_all = value.startswith("\ufeff")
        for index, ch in enumerate(value):
            if escape_all or not _printable(ch) or ch in _BREAKS or ch in ('"', "\\"):
                escape = _DOUBLE_ESCAPES.get(ch)
                code = ord(ch)
                if escape is not None:
                    self.put("\\" + escape)
                elif code <= 0xFF:
                    self.put(f"\\x{code:02X}")
                elif code <= 0xFFFF:
                    self.put(f"\\u{code:04X}")
                else:
                    self.put(f"\\U{code:08X}")
                spaces = False
            elif ch == " ":
                fold = allow_breaks and not spaces and self.column > _BEST_WIDTH
                if fold and 0 < index < length - 1:
                    self.write_indent()
                    if value[index + 1] == " ":
                        self.put("\\")
                else:
                    self.put(ch)
                spaces = True
            else:
                self.put(ch)
                spaces = False
        self.write_indicator('"', False, False, False)
        self.whitespace = False
        self.indention = False

    def write_literal(self, value: str) -> None:
        self.write_indicator("|", True, False, False)
        if value[:1] == " " or value[:1] in _BREAKS:
            self.write_indicator(str(_BEST_INDENT), False, False, False)
        chomp = ""
        if value == "" or value[-1] not in _BREAKS:
            chomp = "-"
        elif len(value) == 1 or value[-2] in _BREAKS:
            chomp = "+"
        if chomp:
            self.write_indicator(chomp, False, False, False)
        self.put_break()
        self.indention = True
        self.whitespace = True
        breaks = True
        for ch in value:
            if ch in _BREAKS:
                self.write_break(ch)
                self.indention = True
                breaks = True
            else:
                if breaks:
                    self.write_indent()
                self.put(ch)
                self.indention = False
                breaks = False

    def document(self, value: Tree) -> str:
        self.node(value, mapping=False, simple_key=False)
        self.write_indent()
        return "".join(self.out)


def encode_yaml(tree: Tree, *, document_marker: bool = True) -> str:
    """``yaml.Marshal`` of an already JSON-shaped value, with imgpkg's ``---`` line in front.

    ``tree`` must already have Go's ``omitempty`` applied (absent keys are not
    written); ``None`` is written as ``null``.
    """
    body = _Emitter().document(tree)
    return f"---\n{body}" if document_marker else body
