"""The order in which go-yaml v2 writes a map's keys ("natural" order)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cmp_to_key
from typing import Final

from imgpkg_pure.yaml_doc._resolve import INT64_MIN

__all__ = ["natural_key_order"]

_DIGIT_RUN: Final = re.compile(r"\d*")  # \d: any Unicode decimal digit, as Go's unicode.IsDigit
_DIGIT_RUN_BEFORE: Final = re.compile(r"\d*\Z")


def _as_int64(value: int) -> int:
    """``value`` wrapped into Go's int64 range, as overflowing int64 arithmetic does."""
    return (value - INT64_MIN) % (1 << 64) + INT64_MIN


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
