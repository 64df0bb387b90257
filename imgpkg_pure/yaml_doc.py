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
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
from collections.abc import Iterator, Sequence
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
# What an untagged plain scalar means to go-yaml v2 (YAML 1.1 rules)

TAG_STR: Final = "tag:yaml.org,2002:str"
TAG_INT: Final = "tag:yaml.org,2002:int"
TAG_FLOAT: Final = "tag:yaml.org,2002:float"
TAG_BOOL: Final = "tag:yaml.org,2002:bool"
TAG_NULL: Final = "tag:yaml.org,2002:null"
TAG_TIMESTAMP: Final = "tag:yaml.org,2002:timestamp"
TAG_BINARY: Final = "tag:yaml.org,2002:binary"
TAG_MERGE: Final = "tag:yaml.org,2002:merge"

Scalar: TypeAlias = str | int | float | bool | None


def _spellings(tag: str, value: Scalar, *words: str) -> dict[str, tuple[str, Scalar]]:
    return dict.fromkeys(words, (tag, value))


# Whole words with a fixed meaning: YAML 1.1 booleans, nulls and special floats.
_KEYWORDS: Final[dict[str, tuple[str, Scalar]]] = {
    **_spellings(TAG_BOOL, True, "y", "Y", "yes", "Yes", "YES", "on", "On", "ON"),
    **_spellings(TAG_BOOL, True, "true", "True", "TRUE"),
    **_spellings(TAG_BOOL, False, "n", "N", "no", "No", "NO", "off", "Off", "OFF"),
    **_spellings(TAG_BOOL, False, "false", "False", "FALSE"),
    **_spellings(TAG_NULL, None, "", "~", "null", "Null", "NULL"),
    **_spellings(TAG_FLOAT, math.nan, ".nan", ".NaN", ".NAN"),
    **_spellings(TAG_FLOAT, math.inf, ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"),
    **_spellings(TAG_FLOAT, -math.inf, "-.inf", "-.Inf", "-.INF"),
}
_NUMBER_START: Final = frozenset("0123456789+-")
_FLOAT_SYNTAX: Final = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_POINT_FLOAT_SYNTAX: Final = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")
_SEXAGESIMAL_SYNTAX: Final = re.compile(r"[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?")
_DIGITS_IN_BASE: Final = {
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
    """Whether go-yaml v2 reads ``text`` as a timestamp.

    It accepts a date (``2006-1-2``), a date and time with a zone after ``T``
    or ``t`` (``2006-1-2T15:4:5Z``, ``...+07:00``) or a date and time without a
    zone after a space, the time optionally with a fraction; Go's ``time.Parse``
    then rejects days, hours, minutes, seconds and zone offsets out of range.
    """
    date = _TS_DATE.fullmatch(text)
    if date is not None:
        return _valid_date(int(date[1]), int(date[2]), int(date[3]))
    full = _TS_TIME.fullmatch(text)
    if full is None:
        return False
    separator, zone = full[4], full[8]
    if separator == " " and zone is not None:
        return False
    if separator != " " and zone is None:
        return False
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
    if _DIGITS_IN_BASE[base].fullmatch(body) is None:
        return None
    value = int(body, base)
    if negative:
        value = -value
    if unsigned:
        return value if value <= _UINT64_MAX else None
    return value if _INT64_MIN <= value <= _INT64_MAX else None


def _finite(text: str) -> float | None:
    number = float(text)
    return None if math.isinf(number) else number


def resolve_plain(text: str) -> tuple[str, Scalar]:
    """The tag and value go-yaml v2 gives an untagged plain scalar.

    * The words in ``_KEYWORDS`` (``yes``, ``Off``, ``~``, ``.inf``, ...) mean
      what that table says.
    * ``.`` followed by digits and an optional exponent is a float (``.5``).
    * Text that starts with a digit, ``+`` or ``-`` is a timestamp if
      ``_is_timestamp`` says so.  Otherwise its underscores are dropped and
      it is an integer if Go's ``strconv`` reads it as an int64 or uint64
      literal (decimal, ``0x``, ``0o``, ``0b`` or leading-``0`` octal), else a
      float if it has float syntax.
    * Floats too large for a float64 and everything else are strings.

    Timestamps are reported with ``TAG_TIMESTAMP`` but keep their text as the
    value, which is what go-yaml v2 does when decoding into ``interface{}``.
    """
    known = _KEYWORDS.get(text)
    if known is not None:
        return known
    if text.startswith("."):
        number = _finite(text) if _POINT_FLOAT_SYNTAX.fullmatch(text) else None
        return (TAG_STR, text) if number is None else (TAG_FLOAT, number)
    if text[:1] not in _NUMBER_START:
        return TAG_STR, text
    if _is_timestamp(text):
        return TAG_TIMESTAMP, text
    compact = text.replace("_", "")
    integer = _go_parse_int(compact, unsigned=False)
    if integer is None:
        integer = _go_parse_int(compact, unsigned=True)
    if integer is not None:
        return TAG_INT, integer
    number = _finite(compact) if _FLOAT_SYNTAX.fullmatch(compact) else None
    return (TAG_STR, text) if number is None else (TAG_FLOAT, number)


def _is_sexagesimal(text: str) -> bool:
    """YAML 1.1 base-60 float syntax (``1:20``, ``-3:25:45.5``).

    go-yaml v2 reads such text as a string, but quotes it when writing one.
    """
    return _SEXAGESIMAL_SYNTAX.fullmatch(text) is not None


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
# Writing: the order of map keys, and the style of each string


_DIGIT_RUN: Final = re.compile(r"\d*")  # \d: any Unicode decimal digit, as Go's unicode.IsDigit
_DIGIT_RUN_BEFORE: Final = re.compile(r"\d*\Z")


def _as_int64(value: int) -> int:
    """``value`` wrapped into Go's int64 range, as overflowing int64 arithmetic does."""
    return (value - _INT64_MIN) % (1 << 64) + _INT64_MIN


def _digit_run(text: str, start: int) -> str:
    found = _DIGIT_RUN.match(text, start)
    return found[0] if found is not None else ""


def _digits_value(digits: str, lead: int) -> int:
    value = lead
    for digit in digits:
        value = _as_int64(value * 10 + ord(digit) - ord("0"))
    return value


def _key_less(a: str, b: str) -> bool:
    """Whether go-yaml v2 writes map key ``a`` before map key ``b``.

    The keys are compared where they first differ; a key that is a prefix of
    the other comes first.  At that position:

    * two letters compare by code point, and a letter comes after anything
      that is not a letter;
    * otherwise the runs of decimal digits that start there (possibly empty)
      are compared as numbers, then by length, then the two characters by
      code point.  When one of the two characters is ``0`` and the digits just
      before it (the same in both keys) are not all zeros, each run counts as
      if a ``1`` were written in front of it.  The numbers are computed in
      Go's int64, so an overlong run wraps around.
    """
    index = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
    if index is None:
        return len(a) < len(b)
    x, y = a[index], b[index]
    if x.isalpha() or y.isalpha():
        return y.isalpha() and (not x.isalpha() or x < y)
    before = _DIGIT_RUN_BEFORE.search(a, 0, index)
    lead = 1 if "0" in (x, y) and before is not None and before[0].strip("0") else 0
    a_run, b_run = _digit_run(a, index), _digit_run(b, index)
    a_value, b_value = _digits_value(a_run, lead), _digits_value(b_run, lead)
    if a_value != b_value:
        return a_value < b_value
    if len(a_run) != len(b_run):
        return len(a_run) < len(b_run)
    return x < y


def natural_key_order(keys: Sequence[str]) -> list[str]:
    """Keys in the order go-yaml v2 writes a map's keys."""

    def compare(a: str, b: str) -> int:
        if _key_less(a, b):
            return -1
        if _key_less(b, a):
            return 1
        return 0

    return sorted(keys, key=cmp_to_key(compare))


# go-yaml writes only these characters as they are; any other one (control
# characters, DEL, NEL, the BOM, U+FFFE/U+FFFF, lone surrogates and anything
# beyond the Basic Multilingual Plane) forces double quotes and is escaped.
_NOT_RAW: Final = re.compile("[^\n\x20-\x7e\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd]")
# What go-yaml counts as line breaks (PyYAML leaves out "\r").
_LINE_BREAKS: Final = frozenset("\r\n\x85\u2028\u2029")
_MAX_SIMPLE_KEY_BYTES: Final = 128
_LINE_WIDTH: Final = 80

# PyYAML scalar styles
_PLAIN_STYLE: Final = None
_DOUBLE_QUOTED: Final = '"'
_LITERAL: Final = "|"


def _string_style(value: str) -> str | None:
    """The style go-yaml v2 writes ``value`` in, as far as we have to ask for it.

    * A string holding a character that cannot be written raw is double-quoted.
    * A string holding a newline is a literal block (``|``); the emitter falls
      back to double quotes where a block cannot hold it (a trailing space, a
      space next to a line break, a key, ...).
    * A string that reads back as itself when written plainly (and is not in
      base-60 float syntax) is plain; the emitter falls back to single quotes,
      then double quotes, when plain text would be misread (``- x``,
      ``a: b``, a leading space, ...).
    * Anything else (``"true"``, ``"1.5"``, ``"null"``, ``""``) is double-quoted.
    """
    if _NOT_RAW.search(value):
        return _DOUBLE_QUOTED
    if "\n" in value:
        return _LITERAL
    tag, _ = resolve_plain(value)
    return _PLAIN_STYLE if tag == TAG_STR and not _is_sexagesimal(value) else _DOUBLE_QUOTED


def _escaped(ch: str) -> str:
    short: str | None = yaml.emitter.Emitter.ESCAPE_REPLACEMENTS.get(ch)
    if short is not None:
        return "\\" + short
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02X}"
    if code <= 0xFFFF:
        return f"\\u{code:04X}"
    return f"\\U{code:08X}"


def _is_break(ch: str) -> bool:
    return ch in _LINE_BREAKS


class _GoYamlEmitter(yaml.emitter.Emitter):
    """PyYAML's emitter, changed where go-yaml v2 writes differently.

    * The document never starts with ``---`` (not even for an empty scalar).
    * A key stays a simple ``key: value`` key when it holds no line break
      (``\\r`` included) and is at most 128 bytes of UTF-8; the empty key is
      simple too.
    * Quoted scalars fold long lines differently (see ``_fold_here``), and a
      single-quoted scalar ending in a line break gets its closing quote
      without indentation before it.
    """

    def check_empty_document(self) -> bool:
        return False

    def check_simple_key(self) -> bool:
        event = self.event
        if isinstance(event, yaml.ScalarEvent):
            text: str = event.value
            short = len(text.encode("utf-8")) <= _MAX_SIMPLE_KEY_BYTES
            return short and not any(map(_is_break, text))
        simple: bool = super().check_simple_key()
        return simple

    def _put(self, text: str) -> None:
        self.column += len(text)
        self.stream.write(text)

    def _fold_here(self, text: str, index: int, split: bool) -> bool:
        """Whether the space at ``text[index]`` becomes a line break.

        It does when folding is allowed (not in a key), the line already goes
        past the width, the space is neither the first nor the last character
        and it does not follow another space.
        """
        return (
            split
            and self.column > self.best_width
            and 0 < index < len(text) - 1
            and text[index - 1] != " "
        )

    def write_single_quoted(self, text: str, split: bool = True) -> None:
        """``'``-quoted: ``'`` doubled, line breaks written as they are.

        A space is folded only when the next character is not a space too
        (spaces at the start of a line would be lost).  The line after a run
        of line breaks is indented; a ``\\n`` run gets one extra line break,
        as a single ``\\n`` inside quotes would read as a space.
        """
        self.write_indicator("'", True)
        previous = ""
        for index, ch in enumerate(text):
            if (
                ch == " "
                and text[index + 1 : index + 2] != " "
                and self._fold_here(text, index, split)
            ):
                self.write_indent()
            elif _is_break(ch):
                if ch == "\n" and not (previous and _is_break(previous)):
                    self.write_line_break()
                self.write_line_break(ch)
            else:
                if previous and _is_break(previous):
                    self.write_indent()
                self._put("''" if ch == "'" else ch)
            previous = ch
        self.write_indicator("'", False)

    def write_double_quoted(self, text: str, split: bool = True) -> None:
        """``"``-quoted: ``"``, ``\\``, line breaks and ``_NOT_RAW`` characters escaped.

        When the text starts with a BOM, go-yaml escapes every character.  A
        folded space is replaced by the line break; if the next character is
        a space as well, the new line starts with ``\\`` so that it is kept.
        (PyYAML instead ends the folded line with ``\\``.)
        """
        self.write_indicator('"', True)
        escape_all = text.startswith("\ufeff")
        for index, ch in enumerate(text):
            if escape_all or ch in '"\\' or _is_break(ch) or _NOT_RAW.match(ch):
                self._put(_escaped(ch))
            elif ch == " " and self._fold_here(text, index, split):
                self.write_indent()
                if text[index + 1] == " ":
                    self._put("\\")
            else:
                self._put(ch)
        self.write_indicator('"', False)


@final
class _Text:
    """Where the emitter writes: PyYAML only needs ``write``."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)


def _scalar_event(text: str, style: str | None) -> yaml.ScalarEvent:
    return yaml.ScalarEvent(anchor=None, tag=None, implicit=(True, True), value=text, style=style)


def _node_events(value: Tree) -> Iterator[yaml.Event]:
    if isinstance(value, dict):
        yield yaml.MappingStartEvent(anchor=None, tag=None, implicit=True, flow_style=False)
        for key in natural_key_order(list(value)):
            yield _scalar_event(key, _string_style(key))
            yield from _node_events(value[key])
        yield yaml.MappingEndEvent()
    elif isinstance(value, list):
        yield yaml.SequenceStartEvent(anchor=None, tag=None, implicit=True, flow_style=False)
        for item in value:
            yield from _node_events(item)
        yield yaml.SequenceEndEvent()
    elif isinstance(value, bool):
        yield _scalar_event("true" if value else "false", _PLAIN_STYLE)
    elif value is None:
        yield _scalar_event("null", _PLAIN_STYLE)
    else:
        yield _scalar_event(value, _string_style(value))


def encode_yaml(tree: Tree, *, document_marker: bool = True) -> str:
    """``yaml.Marshal`` of an already JSON-shaped value, with imgpkg's ``---`` line in front.

    ``tree`` must already have Go's ``omitempty`` applied (absent keys are not
    written); ``None`` is written as ``null``.
    """
    out = _Text()
    emitter = _GoYamlEmitter(out, indent=2, width=_LINE_WIDTH, allow_unicode=True, line_break="\n")
    # No StreamEndEvent: after a ``|+`` block or a plain scalar at the end of
    # the document PyYAML would close the stream with ``...``; go-yaml does not.
    events = [
        yaml.StreamStartEvent(),
        yaml.DocumentStartEvent(explicit=False),
        *_node_events(tree),
        yaml.DocumentEndEvent(explicit=False),
    ]
    try:
        for event in events:
            emitter.emit(event)
    finally:
        emitter.dispose()
    body = "".join(out.parts)
    return f"---\n{body}" if document_marker else body
