"""Go's text for strings and floats: ``strconv.Quote`` and ``strconv.FormatFloat``.

Error messages quote keys and values the way Go prints them, and numbers
headed for a Go ``string`` field are formatted as Go formats a float32.
"""

from __future__ import annotations

import math
import struct
from typing import Final

__all__ = ["format_float32", "format_float64", "go_quote"]


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


def format_float32(value: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'g', -1, 32)``."""
    return _format_g(value, single=True)


def format_float64(value: float) -> str:
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
