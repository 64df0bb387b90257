"""What a place holds, as data: the inventory document (``docs/formats/inventory.md``).

An inventory lists the blobs (configs and layers, each with its size) and the
manifests (image manifests and indexes) held by a registry repository, an
imgpkg tarball, an OCI layout or archive, or what a lock file names.  It is
made on the side that holds them (often inside an air gap) and carried to the
side that writes the next transfer: ``copy … --since INVENTORY`` then leaves
out every layer it lists (``imgpkg_pure.copy.delta``).

The file is JSON, versioned and canonical: ``encode_inventory`` is a function of
the value (fields in a fixed order, blob keys and manifests sorted by digest
string, two-space indentation, one trailing newline), so the same holdings give
the same bytes and the same digest (``inventory_digest``), which a delta records.
``parse_inventory`` is strict: an unknown or missing field, another ``kind`` or
``version``, a digest that does not parse, a size that is not a non-negative
integer, a repeated blob or manifest is refused with the field named.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, Final, final

from attrs import field, frozen
from returns.result import Failure, Result

from imgpkg_pure.digest import Digest, digest_of, parse_digest
from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.media_types import is_distributable
from imgpkg_pure.oci.values import Descriptor, ImageIndex, Manifest
from imgpkg_pure.strict_json import Refused, check_header, object_fields, read_document

__all__ = [
    "INVENTORY_KIND",
    "INVENTORY_VERSION",
    "Inventory",
    "encode_inventory",
    "inventory_digest",
    "looks_like_inventory",
    "make_inventory",
    "manifest_blobs",
    "parse_inventory",
]

INVENTORY_KIND: Final = "imgpkg-pure-inventory"
INVENTORY_VERSION: Final = 1
_FIELDS: Final = ("kind", "version", "source", "blobs", "manifests")
_INT64_MAX: Final = (1 << 63) - 1


def _blob_pairs(value: Iterable[tuple[Digest, int]]) -> tuple[tuple[Digest, int], ...]:
    """Blobs sorted by digest string, each once (the first size given wins)."""
    found: dict[Digest, int] = {}
    for digest, size in value:
        found.setdefault(digest, size)
    return tuple(sorted(found.items(), key=lambda pair: str(pair[0])))


def _digests(value: Iterable[Digest]) -> tuple[Digest, ...]:
    return tuple(sorted(set(value), key=str))


@final
@frozen(kw_only=True)
class Inventory:
    """The blobs (digest and size) and manifests a place holds; ``source`` says which place.

    Both collections are kept sorted by digest string, each digest once, so two
    inventories of the same holdings are equal (and encode to the same bytes).
    """

    source: str
    blobs: tuple[tuple[Digest, int], ...] = field(default=(), converter=_blob_pairs)
    manifests: tuple[Digest, ...] = field(default=(), converter=_digests)

    def sizes(self) -> dict[Digest, int]:
        """The blobs as a mapping, for lookups."""
        return dict(self.blobs)

    def holds(self) -> frozenset[Digest]:
        """Every digest held: blobs and manifests."""
        return frozenset(digest for digest, _ in self.blobs) | frozenset(self.manifests)

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.blobs)


def make_inventory(
    source: str, blobs: Iterable[Descriptor | tuple[Digest, int]], manifests: Iterable[Digest]
) -> Inventory:
    """An inventory of ``source`` from descriptors (or digest and size pairs) and manifests."""
    pairs = [(blob.digest, blob.size) if isinstance(blob, Descriptor) else blob for blob in blobs]
    return Inventory(source=source, blobs=pairs, manifests=manifests)


def manifest_blobs(document: Manifest | ImageIndex) -> tuple[Descriptor, ...]:
    """The blobs a manifest names that a repository holding it holds: its config and its
    distributable layers (a registry accepts a manifest only once those are there;
    a non-distributable layer is never uploaded).  An index names no blobs."""
    if isinstance(document, ImageIndex):
        return ()
    layers = tuple(layer for layer in document.layers if is_distributable(layer.media_type))
    return (document.config, *layers)


# --- the file ------------------------------------------------------------------------------


def encode_inventory(inventory: Inventory) -> bytes:
    """The canonical bytes of the inventory file (see the module doc)."""
    document = {
        "kind": INVENTORY_KIND,
        "version": INVENTORY_VERSION,
        "source": inventory.source,
        "blobs": {str(digest): size for digest, size in inventory.blobs},
        "manifests": [str(digest) for digest in inventory.manifests],
    }
    return (json.dumps(document, indent=2, ensure_ascii=True) + "\n").encode("ascii")


def inventory_digest(inventory: Inventory) -> Digest:
    """The sha256 of the inventory's canonical bytes: what a delta says it was made against."""
    return digest_of(encode_inventory(inventory))


def looks_like_inventory(head: bytes) -> bool:
    """Whether the first bytes of a file are those of a JSON object (an inventory, maybe),
    rather than of a tar: a tar starts with an entry name, never with ``{``."""
    return head.lstrip(b" \t\r\n").startswith(b"{")


def _digest(text: Any, path: str) -> Digest:
    if not isinstance(text, str):
        raise Refused(path, "expected a digest string")
    parsed = parse_digest(text)
    if isinstance(parsed, Failure):
        raise Refused(path, parsed.failure().reason)
    return parsed.unwrap()


def _size(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Refused(path, "expected a size (an integer)")
    if not 0 <= value <= _INT64_MAX:
        raise Refused(path, f"{value} is not a size (0 to 2^63-1)")
    return value


def _blobs(value: Any) -> Iterator[tuple[Digest, int]]:
    if not isinstance(value, dict):
        raise Refused("blobs", "expected an object of digest: size")
    for key, size in value.items():
        path = f"blobs.{key}"
        yield _digest(key, path), _size(size, path)


def _manifests(value: Any) -> list[Digest]:
    if not isinstance(value, list):
        raise Refused("manifests", "expected an array of digests")
    found: list[Digest] = []
    seen: set[Digest] = set()
    for index, item in enumerate(value):
        digest = _digest(item, f"manifests[{index}]")
        if digest in seen:
            raise Refused(f"manifests[{index}]", f"{digest} is listed twice")
        seen.add(digest)
        found.append(digest)
    return found


def _inventory(value: Any) -> Inventory:
    value = object_fields(value, "$", _FIELDS)
    check_header(value, INVENTORY_KIND, INVENTORY_VERSION)
    if not isinstance(value["source"], str):
        raise Refused("source", "expected a string")
    return Inventory(
        source=value["source"],
        blobs=_blobs(value["blobs"]),
        manifests=_manifests(value["manifests"]),
    )


def parse_inventory(raw: bytes, where: str) -> Result[Inventory, MalformedDocument]:
    """Read an inventory file strictly (see the module doc); ``where`` names it in errors."""
    return read_document(raw, where, _inventory)
