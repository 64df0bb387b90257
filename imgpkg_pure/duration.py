"""Go duration strings (``30s``, ``1m30s``, ``250ms``), as the registry timeout flag takes them."""

from __future__ import annotations

import re

from returns.result import Failure, Result, Success

from imgpkg_pure.push import UsageError

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)"  # compiled on first use


def parse_go_duration(text: str, flag: str) -> Result[float, UsageError]:
    """Seconds in ``text`` (Go ``time.ParseDuration``: a sequence of number+unit, or ``0``)."""
    body = text[1:] if text[:1] in "+-" else text
    negative = text.startswith("-")
    invalid = UsageError(
        reason=f'invalid argument "{text}" for "{flag}" flag: time: invalid duration "{text}"'
    )
    if body == "0":
        return Success(0.0)
    if not body:
        return Failure(invalid)
    position = 0
    total = 0.0
    while position < len(body):
        match = re.compile(_PART).match(body, position)
        if match is None:
            return Failure(invalid)
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    return Success(-total if negative else total)
