"""Extracting an image's layers into a directory: the effectful half of ``pull``.

``extract_image`` streams each layer blob from a ``BlobReader``, decodes it
(``layer_reader``: gzip, zstd or plain tar, decided by the blob's first bytes
as go-containerregistry decides, read in streaming mode) and applies its
entries bottom-up with OCI whiteouts into a fresh temporary directory
(``extract_tree``; the decisions are the pure core's, ``imgpkg_pure.extract``,
see ``docs/formats/extraction.md``).

Safety:

* Everything is written inside a fresh temporary directory next to the output
  (same parent, so the final ``rename`` stays on one file system), through
  directory file descriptors opened with ``O_NOFOLLOW``: nothing is ever
  created, changed or removed through a symbolic link, and no path can leave
  it (extraction itself never creates symbolic links).
* The output is replaced only once every layer was applied and verified
  against its descriptor (size and digest, hashed while streaming): an
  existing output is renamed aside, the new tree renamed into place, and only
  then is the old one deleted (``output_dir.replace_output``).  A failure at
  any earlier point removes the temporary directory and leaves the old output
  exactly as it was.
* Output directories whose replacement would be a disaster (``/``, the
  working directory, the home directory, or an ancestor of either) are
  refused first, after resolving symbolic links (``resolve_output``).

Memory does not grow with layer size: blobs are read, decompressed and copied
in chunks of ``CHUNK_SIZE``; what grows with the number of entries is the
planner's tree of paths (no content).

This module runs the whole extraction and is the import path of all of it:
the error values (``extract_errors``), the layer decoding (``layer_reader``)
and the output directory rules (``output_dir``) are re-exported here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import BinaryIO, Protocol

from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess

from imgpkg_pure.digest import Digest
from imgpkg_pure.extract import FinalTree, ModeRule
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.store.apply.extract_errors import (
    CorruptLayer,
    ExtractAbort,
    ExtractError,
    ExtractIOFailure,
    UnsupportedLayer,
    guarded,
    os_errors,
)
from imgpkg_pure.store.apply.extract_tree import (
    DIR_FLAGS,
    ExtractedLayer,
    Extraction,
    SkippedEntry,
)
from imgpkg_pure.store.apply.layer_reader import (
    DOCKER_LAYER_TAR,
    GZIP_LAYER_TYPES,
    TAR_LAYER_TYPES,
    declared_compression,
    layer_compression,
)
from imgpkg_pure.store.apply.output_dir import (
    OutputTarget,
    check_output,
    current_umask,
    remove_tree,
    replace_output,
    resolve_output,
    short_name,
)
from imgpkg_pure.store.content.errors import StoreError
from imgpkg_pure.store.content.leftovers import claim, release, sweep


@frozen(kw_only=True)
class ExtractReport:
    """What ``extract_image`` did.

    ``output`` is the directory written (absolute, resolved); ``tree`` the
    tree it now holds; ``replaced`` whether an earlier output was replaced;
    ``warnings`` what went wrong after the new output was in place (the old
    one could not be fully deleted, for instance).
    """

    output: str
    layers: tuple[ExtractedLayer, ...]
    tree: FinalTree
    skipped: tuple[SkippedEntry, ...]
    replaced: bool
    warnings: tuple[str, ...]


class LayerBlobs(Protocol):
    """Where the layers are read: any ``BlobReader``, or a source streaming them."""

    def open(self, digest: Digest) -> IOResult[BinaryIO, StoreError]: ...


def _apply(
    extraction: Extraction, descriptor: Descriptor, blob: BinaryIO
) -> IOResult[None, ExtractError]:
    def run() -> None:
        with blob:
            extraction.apply_layer(descriptor, blob)

    return guarded(run)


def _next_layer(
    extraction: Extraction,
    blobs: LayerBlobs,
    descriptor: Descriptor,
    position: tuple[int, int],
    on_layer: Callable[[int, int, Descriptor], None] | None,
    _: None,
) -> IOResult[None, ExtractError]:
    if on_layer is not None:
        on_layer(*position, descriptor)
    opened: IOResult[BinaryIO, ExtractError] = blobs.open(descriptor.digest)
    return opened.bind(partial(_apply, extraction, descriptor))


def _complete(extraction: Extraction, temp: Path, target: OutputTarget) -> ExtractReport:
    tree = extraction.finish()
    warnings = replace_output(temp, target)
    return ExtractReport(
        output=str(target.path),
        layers=tuple(extraction.layers),
        tree=tree,
        skipped=tuple(extraction.skipped),
        replaced=target.exists,
        warnings=warnings,
    )


def _extract(
    layers: Sequence[Descriptor],
    blobs: LayerBlobs,
    target: OutputTarget,
    *,
    rule: ModeRule,
    umask: int,
    on_layer: Callable[[int, int, Descriptor], None] | None,
) -> IOResult[ExtractReport, ExtractError]:
    parent = target.path.parent
    with os_errors("create directory", str(parent)):
        os.makedirs(parent, 0o777, exist_ok=True)
    prefix = f".{short_name(target.path.name)}.extract-"
    sweep(parent, prefix)  # what a killed run left (store/content/leftovers.py)
    with os_errors("create a directory in", str(parent)):
        temp, lock = claim(parent, prefix)
    try:
        with os_errors("open", str(temp)):
            root_fd = os.open(temp, DIR_FLAGS)
        extraction = Extraction(root_fd, target.path, rule, umask)
        try:
            result: IOResult[None, ExtractError] = IOSuccess(None)
            for number, descriptor in enumerate(layers, start=1):
                position = (number, len(layers))
                step = partial(_next_layer, extraction, blobs, descriptor, position, on_layer)
                result = result.bind(step)
            return result.bind(lambda _: guarded(partial(_complete, extraction, temp, target)))
        finally:
            extraction.close()
            os.close(root_fd)
    finally:
        if os.path.lexists(temp):
            with contextlib.suppress(OSError):
                remove_tree(temp)
        release(lock)


def extract_image(
    layers: Sequence[Descriptor],
    blobs: LayerBlobs,
    output_dir: Path,
    *,
    cwd: Path,
    home: Path,
    modes: ModeRule = ModeRule.IMGPKG,
    umask: int | None = None,
    on_layer: Callable[[int, int, Descriptor], None] | None = None,
) -> IOResult[ExtractReport, ExtractError]:
    """Extract ``layers`` (manifest order, bottom first) into ``output_dir``, replacing it.

    ``output_dir`` is resolved against ``cwd`` and checked (``resolve_output``);
    ``home`` is the user's home directory (never replaced).  Files get modes
    by ``modes`` and the ``umask`` (the process umask when ``None``).
    ``on_layer(n, total, descriptor)`` is called before layer ``n`` (1 =
    bottom) is applied.  On any failure the previous output is left untouched.
    """
    mask = current_umask() if umask is None else umask
    try:
        target = check_output(output_dir, cwd, home)
        return _extract(layers, blobs, target, rule=modes, umask=mask, on_layer=on_layer)
    except ExtractAbort as abort:
        return IOFailure(abort.error)


__all__ = [
    "DOCKER_LAYER_TAR",
    "GZIP_LAYER_TYPES",
    "TAR_LAYER_TYPES",
    "CorruptLayer",
    "ExtractError",
    "ExtractIOFailure",
    "ExtractReport",
    "ExtractedLayer",
    "OutputTarget",
    "SkippedEntry",
    "UnsupportedLayer",
    "current_umask",
    "declared_compression",
    "extract_image",
    "layer_compression",
    "resolve_output",
]
