"""Helpers shared by imgpkg's YAML documents (private)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.yaml_doc import DocumentError, Tree

API_VERSION: Final = "imgpkg.carvel.dev/v1alpha1"

Pairs = tuple[tuple[str, str], ...]


def sorted_pairs(pairs: Iterable[tuple[str, str]]) -> Pairs:
    """A ``map[string]string`` as a sorted tuple of ``(key, value)`` pairs."""
    return tuple(sorted((str(key), str(value)) for key, value in pairs))


def unique_keys(_instance: object, _attribute: object, value: Pairs) -> None:
    """attrs validator: a map cannot hold a key twice."""
    keys = [key for key, _ in value]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate map keys in {keys!r}")


def at(path: str) -> str:
    return f" (at {path})" if path else ""


def malformed(where: str, prefix: str, error: DocumentError) -> MalformedDocument:
    """A decoding error, worded as imgpkg words it, plus the field path."""
    return MalformedDocument(where=where, reason=f"{prefix}: {error.message}{at(error.path)}")


def invalid(where: str, prefix: str, message: str, path: str) -> MalformedDocument:
    """A validation error (``prefix`` may be empty, as for ImageLocations)."""
    lead = f"{prefix}: " if prefix else ""
    return MalformedDocument(where=where, reason=f"{lead}{message}{at(path)}")


def header_problem(tree: dict[str, Tree], kind: str) -> tuple[str, str] | None:
    """imgpkg's ``Validate()`` of apiVersion and kind: ``(message, path)`` or None."""
    if get_str(tree, "apiVersion") != API_VERSION:
        return f"Validating apiVersion: Unknown version (known: {API_VERSION})", "apiVersion"
    if get_str(tree, "kind") != kind:
        return f"Validating kind: Unknown kind (known: {kind})", "kind"
    return None


def get_str(tree: dict[str, Tree], key: str) -> str:
    value = tree.get(key)
    return value if isinstance(value, str) else ""


def get_bool(tree: dict[str, Tree], key: str) -> bool:
    value = tree.get(key)
    return value if isinstance(value, bool) else False


def get_struct(tree: dict[str, Tree], key: str) -> dict[str, Tree]:
    value = tree.get(key)
    return value if isinstance(value, dict) else {}


def get_structs(tree: dict[str, Tree], key: str) -> list[dict[str, Tree]]:
    value = tree.get(key)
    if not isinstance(value, list):
        return []
    return [item if isinstance(item, dict) else {} for item in value]


def get_pairs(tree: dict[str, Tree], key: str) -> Pairs:
    value = tree.get(key)
    if not isinstance(value, dict):
        return ()
    return sorted_pairs(
        (name, item if isinstance(item, str) else "") for name, item in value.items()
    )


def header(kind: str) -> dict[str, Tree]:
    return {"apiVersion": API_VERSION, "kind": kind}
