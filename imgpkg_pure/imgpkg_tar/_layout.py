"""The entries of an imgpkg tarball: their names, order and header bytes (reference §2.8).

A tarball is ``manifest.json`` followed by one entry per distinct layer blob,
named ``<algorithm>-<hex>.tar.gz`` and sorted by digest string; every header is
Go's ``archive/tar`` header for a regular file, mode 0644, uid/gid 0, mtime 0
(USTAR; PAX for a name over 100 bytes or a size of 8 GiB or more); the archive
ends with two zero blocks and no record padding.  Non-distributable layers
are left out unless asked for (``--include-non-distributable-layers``).

``plan_tar`` computes all of this, including the exact size of the file, so
the writer only streams bytes.  The helpers below also name the root bundle
(the label ``dev.carvel.imgpkg.copy.root-bundle``) and build elements from
parsed OCI documents.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Final, TypeAlias, final

from attrs import evolve, frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.digest import HEX_LENGTH, Algorithm, Digest
from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.imgpkg_tar._manifest import (
    TarImage,
    TarIndex,
    TarLayer,
    TarManifest,
    encode_tar_manifest,
)
from imgpkg_pure.layer.tar_header import END_OF_ARCHIVE, TYPE_REG, encode_header, padded_size
from imgpkg_pure.media_types import ROOT_BUNDLE_LABEL, is_layer
from imgpkg_pure.oci import Annotations, ImageConfig, ImageIndex, Manifest

MANIFEST_JSON: Final = "manifest.json"
ENTRY_MODE: Final = 0o644
#: The labels imgpkg puts on the root bundle of a ``copy -b`` tarball.
ROOT_BUNDLE_LABELS: Final = Annotations.of({ROOT_BUNDLE_LABEL: ""})

_LAYER_NAME = r"(sha256|sha512)-([0-9a-f]+)\.tar\.gz"  # compiled on first use
_DOCKER_LAYER: Final = "application/vnd.docker.image.rootfs.diff.tar"


# --- entry names -------------------------------------------------------------


@final
@frozen(kw_only=True)
class ManifestJsonName:
    """The ``manifest.json`` entry."""


@final
@frozen(kw_only=True)
class LayerEntryName:
    """A layer entry, named by the blob's digest."""

    digest: Digest


EntryName: TypeAlias = ManifestJsonName | LayerEntryName


def parse_entry_name(name: str) -> Result[EntryName, str]:
    """Classify an entry name; anything imgpkg never writes is refused with the reason.

    Only ``manifest.json`` and ``<algorithm>-<hex>.tar.gz`` (a registered
    algorithm, lowercase hex of its exact length) are accepted: the names are
    compared exactly, as imgpkg's reader compares them, so ``./manifest.json``
    or ``a/../manifest.json`` are refused rather than normalised.
    """
    if name == MANIFEST_JSON:
        return Success(ManifestJsonName())
    match = re.fullmatch(_LAYER_NAME, name)
    if match is not None and len(match[2]) == HEX_LENGTH[match[1]]:
        algorithm: Algorithm = "sha256" if match[1] == "sha256" else "sha512"
        return Success(LayerEntryName(digest=Digest(algorithm, match[2])))
    if not name:
        return Failure("empty name")
    if name.startswith("/"):
        return Failure("absolute path")
    if ".." in name.split("/"):
        return Failure("path with a '..' component")
    if "\\" in name or "\0" in name:
        return Failure("name with a backslash or NUL")
    return Failure("not a name imgpkg writes (manifest.json or <algorithm>-<hex>.tar.gz)")


def entry_header(name: str, size: int) -> bytes:
    """The header block(s) imgpkg writes before an entry of ``size`` bytes."""
    return encode_header(name, mode=ENTRY_MODE, size=size, typeflag=TYPE_REG)


# --- which layers --------------------------------------------------------------


def _distinct(layers: Iterable[TarLayer]) -> dict[Digest, TarLayer]:
    found: dict[Digest, TarLayer] = {}
    for layer in layers:
        found.setdefault(layer.digest, layer)
    return found


def layer_entries(
    manifest: TarManifest,
    *,
    include_non_distributable: bool = False,
    leave_out: Collection[Digest] = (),
) -> tuple[TarLayer, ...]:
    """The layer entries of the tarball, in order: distinct digests sorted by digest string.

    A digest is included when any image lists it with a distributable media
    type, or always with ``include_non_distributable``; never when it is in
    ``leave_out`` (a delta's left-out layers, ``imgpkg_pure.copy.delta``).  Of several
    listings of one digest the first included one (in element order) describes the entry.
    """
    wanted = [
        layer
        for layer in manifest.layers()
        if (include_non_distributable or layer.is_distributable) and layer.digest not in leave_out
    ]
    included = _distinct(wanted)
    return tuple(included[d] for d in sorted(included, key=str))


def skipped_layers(
    manifest: TarManifest, *, include_non_distributable: bool = False
) -> tuple[TarLayer, ...]:
    """The non-distributable layers left out of the tarball, sorted by digest string."""
    if include_non_distributable:
        return ()
    included = {layer.digest for layer in layer_entries(manifest)}
    left_out = _distinct(layer for layer in manifest.layers() if layer.digest not in included)
    return tuple(left_out[d] for d in sorted(left_out, key=str))


def missing_layers(
    manifest: TarManifest,
    present: Collection[Digest],
    *,
    include_non_distributable: bool = False,
) -> tuple[TarLayer, ...]:
    """Layers a ``copy --tar`` would need (with this flag) that have no entry in ``present``."""
    entries = layer_entries(manifest, include_non_distributable=include_non_distributable)
    return tuple(layer for layer in entries if layer.digest not in present)


# --- the whole file ------------------------------------------------------------


@final
@frozen(kw_only=True)
class TarPlan:
    """Everything the writer needs: ``manifest.json``, the layer entries, and the file size."""

    manifest_json: bytes
    layers: tuple[TarLayer, ...]
    skipped: tuple[TarLayer, ...]

    @property
    def entries(self) -> tuple[tuple[str, int], ...]:
        """``(name, size)`` of every entry, in file order."""
        head = ((MANIFEST_JSON, len(self.manifest_json)),)
        return head + tuple((layer.entry_name, layer.size) for layer in self.layers)

    @property
    def size(self) -> int:
        """The exact length of the tar file."""
        total = len(END_OF_ARCHIVE)
        for name, size in self.entries:
            total += len(entry_header(name, size)) + padded_size(size)
        return total


def plan_tar(
    manifest: TarManifest,
    *,
    include_non_distributable: bool = False,
    leave_out: Collection[Digest] = (),
) -> TarPlan:
    """The tarball imgpkg writes for ``manifest`` (see the module doc), without the layer
    entries ``leave_out`` names (a delta)."""
    return TarPlan(
        manifest_json=encode_tar_manifest(manifest),
        layers=layer_entries(
            manifest, include_non_distributable=include_non_distributable, leave_out=leave_out
        ),
        skipped=skipped_layers(manifest, include_non_distributable=include_non_distributable),
    )


# --- root bundle -----------------------------------------------------------------


def root_bundles(manifest: TarManifest) -> tuple[TarImage, ...]:
    """The top-level images carrying the root-bundle label (an index is never a bundle)."""
    return tuple(
        element
        for element in manifest.elements
        if isinstance(element, TarImage) and element.is_root_bundle
    )


def root_bundle(manifest: TarManifest) -> TarImage | None:
    """The root bundle, when exactly one element carries the label (``copy -b`` tarballs)."""
    found = root_bundles(manifest)
    return found[0] if len(found) == 1 else None


def with_root_bundle_label(image: TarImage) -> TarImage:
    """``image`` labelled as the root bundle (other labels kept)."""
    labels = {} if image.labels is None else image.labels.as_dict()
    return evolve(image, labels=Annotations.of(labels | ROOT_BUNDLE_LABELS.as_dict()))


# --- elements from OCI documents ----------------------------------------------


def _has_diff_id(media_type: str) -> bool:
    # ggcr's MediaType.IsLayer(): the types whose config lists a diffID.
    return is_layer(media_type) or media_type == _DOCKER_LAYER


def _utf8(raw: bytes, what: str) -> MalformedDocument | None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return MalformedDocument(
            where=what, reason=f"not UTF-8, so it cannot travel in manifest.json ({exc})"
        )
    return None


def describe_image(
    *,
    ref: str,
    manifest: Manifest,
    config: ImageConfig,
    tag: str = "",
    orig_ref: str = "",
    labels: Annotations | None = None,
) -> Result[TarImage, MalformedDocument]:
    """The ``ImageDescriptor`` imgpkg writes for an image fetched as ``ref`` (a digest ref).

    Each layer's ``DiffID`` comes from the config's ``rootfs.diff_ids`` at the
    same position; it is ``""`` for media types that are not layers (e.g.
    helm chart content), as in reference §2.8.
    """
    where = f"image {ref}"
    if manifest.config.digest != config.digest:
        return Failure(
            MalformedDocument(
                where=where,
                reason=f"config is {config.digest}, the manifest names {manifest.config.digest}",
            )
        )
    for raw, what in ((manifest.raw, where), (config.raw, f"{where} config")):
        problem = _utf8(raw, what)
        if problem is not None:
            return Failure(problem)
    # A config that lists no diffID for a layer (artifacts built by hand do this)
    # gets "" there, as non-layer media types do: the tarball stays readable, and
    # nothing reads DiffID back except to show it.
    layers = tuple(
        TarLayer(
            media_type=layer.media_type,
            digest=layer.digest,
            diff_id=(
                str(config.diff_ids[i])
                if _has_diff_id(layer.media_type) and i < len(config.diff_ids)
                else ""
            ),
            size=layer.size,
        )
        for i, layer in enumerate(manifest.layers)
    )
    return Success(
        TarImage(
            refs=(ref,),
            layers=layers,
            config_digest=config.digest,
            config_raw=config.raw,
            manifest_media_type=manifest.media_type,
            manifest_digest=manifest.digest,
            manifest_raw=manifest.raw,
            tag=tag,
            orig_ref=orig_ref,
            labels=labels,
        )
    )


def describe_index(
    *,
    ref: str,
    index: ImageIndex,
    children: Iterable[TarImage | TarIndex],
    tag: str = "",
    orig_ref: str = "",
    labels: Annotations | None = None,
) -> Result[TarIndex, MalformedDocument]:
    """The ``ImageIndexDescriptor`` for ``index`` with its described children.

    Every entry of the index needs a child with its digest; the children are
    put in the index's order, once per entry (imgpkg appends them in that
    order, images to ``Images`` and indexes to ``Indexes``).
    """
    where = f"index {ref}"
    problem = _utf8(index.raw, where)
    if problem is not None:
        return Failure(problem)
    by_digest: dict[Digest, TarImage | TarIndex] = {}
    for child in children:
        digest = child.manifest_digest if isinstance(child, TarImage) else child.digest
        if digest in by_digest:
            return Failure(MalformedDocument(where=where, reason=f"child {digest} given twice"))
        by_digest[digest] = child
    listed = [entry.digest for entry in index.manifests]
    extra = sorted(set(by_digest) - set(listed), key=str)
    if extra:
        return Failure(MalformedDocument(where=where, reason=f"{extra[0]} is not in the index"))
    images: list[TarImage] = []
    indexes: list[TarIndex] = []
    for digest in listed:
        found = by_digest.get(digest)
        if found is None:
            return Failure(MalformedDocument(where=where, reason=f"no description of {digest}"))
        if isinstance(found, TarImage):
            images.append(found)
        else:
            indexes.append(found)
    return Success(
        TarIndex(
            refs=(ref,),
            images=tuple(images),
            indexes=tuple(indexes),
            media_type=index.media_type,
            digest=index.digest,
            raw=index.raw,
            tag=tag,
            orig_ref=orig_ref,
            labels=labels,
        )
    )
