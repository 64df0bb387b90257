"""Reading this project's own JSON documents strictly: the inventory and a delta's document.

Both formats are ours (``docs/formats/inventory.md``, ``imgpkg_pure.copy.delta``), so a
reader refuses anything the writer never writes, naming the field: a key written twice,
``NaN`` and the infinities, an unknown or missing field, another ``kind`` or ``version``
(:func:`check_header`).  A document's field readers raise :class:`Refused` from any depth;
:func:`read_document` turns it, and bytes that are not UTF-8 JSON, into one
``MalformedDocument``.  (Go's documents, ``manifest.json`` and the OCI ones, follow Go's
rules instead: ``imgpkg_tar._manifest``, ``oci.codec``.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from returns.result import Failure, Result, Success

from imgpkg_pure.errors import MalformedDocument

__all__ = ["Refused", "check_header", "object_fields", "read_document"]

_T = TypeVar("_T")


class Refused(Exception):
    """A JSON path and why the value there is refused, carried out of nested field readers."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise Refused(key, "appears twice")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def object_fields(value: Any, path: str, names: tuple[str, ...]) -> dict[str, Any]:
    """``value`` as an object holding exactly the fields ``names`` (``path`` is ``$`` at the
    top, where field paths have no prefix)."""
    if not isinstance(value, dict):
        raise Refused(path, "expected an object")
    prefix = "" if path == "$" else f"{path}."
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise Refused(prefix + unknown[0], "unknown field")
    for name in names:
        if name not in value:
            raise Refused(prefix + name, "missing")
    return value


def check_header(obj: dict[str, Any], kind: str, version: int) -> None:
    """Refuse a document whose ``kind`` is not ``kind`` or whose ``version`` is not the
    integer ``version`` (this build reads that one only)."""
    if obj["kind"] != kind:
        raise Refused("kind", f"expected {kind!r}, got {obj['kind']!r}")
    found = obj["version"]
    if isinstance(found, bool) or not isinstance(found, int):
        raise Refused("version", f"expected an integer, got {found!r}")
    if found != version:
        raise Refused("version", f"{found} is not supported (this build reads version {version})")


def read_document(
    raw: bytes, where: str, build: Callable[[Any], _T]
) -> Result[_T, MalformedDocument]:
    """``build`` applied to the JSON value of ``raw``; ``where`` names the document in errors."""
    try:
        value = json.loads(
            raw.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_reject_constant
        )
        return Success(build(value))
    except Refused as refused:
        return Failure(MalformedDocument(where=where, reason=f"{refused.path}: {refused.reason}"))
    except UnicodeDecodeError as exc:
        return Failure(MalformedDocument(where=where, reason=f"not UTF-8 ({exc})"))
    except RecursionError:
        return Failure(MalformedDocument(where=where, reason="nested too deeply"))
    except ValueError as exc:
        return Failure(MalformedDocument(where=where, reason=f"not valid JSON ({exc})"))
