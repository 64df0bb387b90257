"""What an untagged plain scalar means to go-yaml v2 (YAML 1.1 rules).

``resolve_plain`` gives the tag and value go-yaml reads from plain text
(``yes`` is a boolean, ``0x1f`` an integer, ``2006-1-2`` a timestamp, ...);
the writer asks it whether a string can be written plainly.
"""

from __future__ import annotations

import math
import re
from typing import Final, TypeAlias

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "TAG_BINARY",
    "TAG_BOOL",
    "TAG_FLOAT",
    "TAG_INT",
    "TAG_MERGE",
    "TAG_NULL",
    "TAG_STR",
    "TAG_TIMESTAMP",
    "Scalar",
    "is_sexagesimal",
    "resolve_plain",
]

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
INT64_MIN: Final = -(1 << 63)
INT64_MAX: Final = (1 << 63) - 1
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
    return value if INT64_MIN <= value <= INT64_MAX else None


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


def is_sexagesimal(text: str) -> bool:
    """YAML 1.1 base-60 float syntax (``1:20``, ``-3:25:45.5``).

    go-yaml v2 reads such text as a string, but quotes it when writing one.
    """
    return _SEXAGESIMAL_SYNTAX.fullmatch(text) is not None
