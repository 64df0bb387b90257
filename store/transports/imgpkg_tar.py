"""Read Go imgpkg's ``copy --to-tar`` tarballs (imgpkg-reference §2.8, §5.9, §5.10).

The format itself (``manifest.json``, entry names, order and headers) is
``imgpkg_pure.imgpkg_tar``; this module does the file work of reading, and is
the import path of the whole transport: the writer (``imgpkg_tar_writer``,
with ``resume`` in ``imgpkg_tar_resume``) is re-exported from here.

**Reading.**  ``ImgpkgTarball.open(path)`` (or ``ImgpkgTarball.at(path)``)
indexes the file in one sequential pass over its headers, seeking over the
data (``tar_members.scan_tar``): name, header offset, data offset and size of
every entry.  It refuses a truncated file (an entry's data, its padding or the
two zero blocks that end the archive missing), invalid headers, entries imgpkg
never writes (absolute names, ``..``, names other than ``manifest.json`` and
``<algorithm>-<hex>.tar.gz``, links, directories), two entries with one name
and different content, a missing or malformed ``manifest.json``, and a layer
entry whose size differs from the size ``manifest.json`` gives.  It then
serves blobs by seeking (nothing is extracted): layers from their entries,
configs, manifests and indexes from ``manifest.json``.  It implements
``imgpkg_pure.store.content.blobstore.BlobReader``.  Layer streams are verified while read: the
read that would deliver an entry's last bytes first checks the digest, and
raises ``CorruptEntryError`` (an ``OSError``) instead when the bytes do not
hash to the entry's name; so a consumer that has read to EOF has read
verified bytes.  A layer an image needs that has no entry is imgpkg's
``file <name> not found in tar (hint: …)`` (``LayerNotInTar``), reported when
the layer is asked for, or up front by ``check_layers``.

**Writing** and **resume**: see ``imgpkg_tar_writer`` and ``imgpkg_tar_resume``.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Final, ParamSpec, TypeVar, final, overload

from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure, Result, Success

from imgpkg_pure.copy.delta import DeltaMarker, split_delta
from imgpkg_pure.digest import Digest, parse_digest
from imgpkg_pure.errors import DigestMismatch, SizeMismatch
from imgpkg_pure.imgpkg_tar import (
    MANIFEST_JSON,
    LayerEntryName,
    LayerNotInTar,
    ManifestJsonMissing,
    ManifestJsonTooLarge,
    TarChanged,
    TarError,
    TarLayer,
    TarManifest,
    UnexpectedEntry,
    layer_entry_name,
    missing_layers,
    parse_entry_name,
    parse_tar_manifest,
    type_name,
)
from imgpkg_pure.store.content.blobstore import CHUNK_SIZE
from imgpkg_pure.store.content.errors import BlobCorrupt, BlobNotFound, StoreError, StoreIOFailure
from imgpkg_pure.store.transports.imgpkg_tar_writer import (
    BlobSource,
    HasMessage,
    TarWriteReport,
    blobs_from_reader,
    write_imgpkg_tar,
)
from imgpkg_pure.store.transports.tar_members import (
    REGULAR_TYPES,
    CorruptEntryError,
    FileIdentity,
    TarAbort,
    TarEntry,
    check_repeat,
    open_entry,
    open_regular,
    os_errors,
    read_at,
    scan_tar,
    store_error,
)

#: The largest ``manifest.json`` the reader holds in memory.
MAX_MANIFEST_JSON: Final = 256 << 20

_P = ParamSpec("_P")
_T = TypeVar("_T")


class _Abort(Exception):
    """Internal: carries the reader's own error value out of nested helpers."""

    def __init__(self, error: TarError) -> None:
        super().__init__(error)
        self.error = error


def _effect(fn: Callable[_P, _T]) -> Callable[_P, IOResult[_T, TarError]]:
    """Run ``fn``; its value becomes ``IOSuccess``, an abort becomes ``IOFailure``."""

    @functools.wraps(fn)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> IOResult[_T, TarError]:
        try:
            return IOSuccess(fn(*args, **kwargs))
        except (_Abort, TarAbort) as abort:
            return IOFailure(abort.error)

    return run


# --- the reader --------------------------------------------------------------


class _OpenTarOrBlob:
    """``ImgpkgTarball.open(path)`` indexes a tarball; ``tarball.open(digest)`` opens a blob.

    The class-level call is the constructor the CLI uses; the instance-level
    call is ``BlobReader.open``.  Both names are wanted, so this descriptor
    dispatches on how it is reached.
    """

    @overload
    def __get__(
        self, obj: None, owner: type[ImgpkgTarball]
    ) -> Callable[[Path], IOResult[ImgpkgTarball, TarError]]: ...

    @overload
    def __get__(
        self, obj: ImgpkgTarball, owner: type[ImgpkgTarball] | None = None
    ) -> Callable[[Digest], IOResult[BinaryIO, StoreError]]: ...

    def __get__(
        self, obj: ImgpkgTarball | None, owner: type[ImgpkgTarball] | None = None
    ) -> (
        Callable[[Path], IOResult[ImgpkgTarball, TarError]]
        | Callable[[Digest], IOResult[BinaryIO, StoreError]]
    ):
        if obj is None:
            return ImgpkgTarball.at
        return obj.open_stored


@final
class ImgpkgTarball:
    """An indexed imgpkg tarball: its ``manifest.json`` and where each entry's bytes are.

    Build it with ``ImgpkgTarball.open(path)`` / ``ImgpkgTarball.at(path)``.
    It holds no open file: each blob stream opens the file and checks it is
    still the file that was indexed (``TarChanged`` otherwise).
    """

    open = _OpenTarOrBlob()

    def __init__(
        self,
        *,
        path: Path,
        manifest: TarManifest,
        manifest_raw: bytes,
        entries: tuple[TarEntry, ...],
        identity: FileIdentity,
        delta: DeltaMarker | None = None,
    ) -> None:
        self._path = path
        self._delta = delta
        self._tar = str(path)
        self._manifest = manifest
        self._manifest_raw = manifest_raw
        self._entries = entries
        self._identity = identity
        self._layers: dict[Digest, TarEntry] = {}
        for entry in entries:
            name = parse_entry_name(entry.name).value_or(None)
            if isinstance(name, LayerEntryName):
                self._layers[name.digest] = entry
        self._documents = manifest.documents()

    @classmethod
    def at(cls, path: Path) -> IOResult[ImgpkgTarball, TarError]:
        """Index the tarball at ``path`` (see the module doc for what is refused)."""
        return _index_tarball(path)

    # --- what it holds -----------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    @property
    def manifest(self) -> TarManifest:
        return self._manifest

    @property
    def delta(self) -> DeltaMarker | None:
        """The delta document of a delta tarball (``imgpkg_pure.copy.delta``), else None.

        ``manifest`` holds every element but the marker."""
        return self._delta

    @property
    def manifest_raw(self) -> bytes:
        """The exact bytes of the ``manifest.json`` entry."""
        return self._manifest_raw

    @property
    def entries(self) -> tuple[TarEntry, ...]:
        """Every entry in file order (a repeated name, with the same content, once)."""
        return self._entries

    def layer_entry(self, digest: Digest) -> TarEntry | None:
        return self._layers.get(digest)

    def missing_layers(self, *, include_non_distributable: bool = False) -> tuple[TarLayer, ...]:
        """The layers a ``copy --tar`` with this flag needs that have no entry (those a
        delta says it leaves out excepted: the destination is asked for them)."""
        left_out = frozenset() if self._delta is None else self._delta.digests
        return missing_layers(
            self._manifest,
            self._layers.keys() | left_out,
            include_non_distributable=include_non_distributable,
        )

    def check_layers(
        self, *, include_non_distributable: bool = False
    ) -> Result[ImgpkgTarball, LayerNotInTar]:
        """This tarball, or imgpkg's error for the first needed layer it lacks."""
        missing = self.missing_layers(include_non_distributable=include_non_distributable)
        if missing:
            return Failure(LayerNotInTar(tar=self._tar, entry=missing[0].entry_name))
        return Success(self)

    # --- tar-level access (errors name the tar and the entry) ---------------

    def _open(self, digest: Digest) -> BinaryIO:
        document = self._documents.get(digest)
        if document is not None:
            return io.BytesIO(document)
        entry = self._layers.get(digest)
        if entry is None:
            raise _Abort(LayerNotInTar(tar=self._tar, entry=layer_entry_name(digest)))
        return open_entry(self._path, self._identity, entry, digest, "tar")

    def _consume(self, digest: Digest) -> None:
        with self._open(digest) as stream, os_errors(self._tar, "read"):
            while stream.read(CHUNK_SIZE):
                pass

    @_effect
    def open_blob(self, digest: Digest) -> BinaryIO:
        """A stream of a blob, verified as it is read (``CorruptEntryError`` at the end)."""
        return self._open(digest)

    @_effect
    def read_blob(self, digest: Digest) -> bytes:
        """A whole blob, verified (for small documents; layers are better streamed)."""
        with self._open(digest) as stream, os_errors(self._tar, "read"):
            return stream.read()

    @_effect
    def verify_blob(self, digest: Digest) -> Digest:
        """Hash one blob from the tar without handing its bytes out."""
        self._consume(digest)
        return digest

    @_effect
    def verify(self) -> tuple[Digest, ...]:
        """Hash every layer entry; the verified digests (sorted), or the first failure."""
        digests = tuple(sorted(self._layers, key=str))
        for digest in digests:
            self._consume(digest)
        return digests

    # --- BlobReader --------------------------------------------------------

    def exists(self, digest: Digest) -> IOResult[bool, StoreError]:
        return IOSuccess(digest in self._documents or digest in self._layers)

    def stat(self, digest: Digest) -> IOResult[int, StoreError]:
        document = self._documents.get(digest)
        if document is not None:
            return IOSuccess(len(document))
        entry = self._layers.get(digest)
        if entry is None:
            return IOFailure(BlobNotFound(digest=digest))
        return IOSuccess(entry.size)

    def open_stored(self, digest: Digest) -> IOResult[BinaryIO, StoreError]:
        """``BlobReader.open`` (reached as ``tarball.open(digest)``)."""
        return self.open_blob(digest).alt(self._store_error(digest))

    def read_bytes(self, digest: Digest) -> IOResult[bytes, StoreError]:
        return self.read_blob(digest).alt(self._store_error(digest))

    def iter_blobs(self) -> IOResult[tuple[Digest, ...], StoreError]:
        return IOSuccess(tuple(sorted(set(self._documents) | set(self._layers))))

    def _store_error(self, digest: Digest) -> Callable[[TarError], StoreError]:
        """Tar errors in the vocabulary of ``BlobReader``."""

        def convert(error: TarError) -> StoreError:
            match error:
                case LayerNotInTar():
                    return BlobNotFound(digest=digest)
                case DigestMismatch():
                    actual = parse_digest(error.actual).value_or(None)
                    if actual is None:
                        return error
                    return BlobCorrupt(digest=digest, actual=actual)
                case TarChanged():
                    return StoreIOFailure(
                        operation="read",
                        path=error.tar,
                        reason=f"the file changed since it was indexed ({error.reason})",
                    )
                case _:
                    return store_error(error)

        return convert


@_effect
def _index_tarball(path: Path) -> ImgpkgTarball:
    tar = str(path)
    fd, info = open_regular(path, tar, "tar")
    try:
        with os_errors(tar, "read the tar"):
            scan = scan_tar(fd, tar, info.st_size)
        if scan.problem is not None:
            raise _Abort(scan.problem)
        by_name: dict[str, TarEntry] = {}
        ordered: list[TarEntry] = []
        for entry in scan.entries:
            if entry.typeflag not in REGULAR_TYPES:
                raise _Abort(
                    UnexpectedEntry(
                        tar=tar,
                        entry=entry.name,
                        reason=f"type {type_name(entry.typeflag)} is not a regular file",
                    )
                )
            named = parse_entry_name(entry.name)
            if isinstance(named, Failure):
                raise _Abort(UnexpectedEntry(tar=tar, entry=entry.name, reason=named.failure()))
            with os_errors(tar, "read the tar"):
                if check_repeat(fd, tar, by_name.get(entry.name), entry):
                    continue
            by_name[entry.name] = entry
            ordered.append(entry)
        manifest_entry = by_name.get(MANIFEST_JSON)
        if manifest_entry is None:
            raise _Abort(ManifestJsonMissing(tar=tar))
        if manifest_entry.size > MAX_MANIFEST_JSON:
            raise _Abort(
                ManifestJsonTooLarge(tar=tar, size=manifest_entry.size, limit=MAX_MANIFEST_JSON)
            )
        with os_errors(tar, "read manifest.json"):
            raw = read_at(fd, manifest_entry.data_offset, manifest_entry.size)
        parsed = parse_tar_manifest(raw, f"{tar}: {MANIFEST_JSON}").bind(
            lambda whole: split_delta(whole, f"{tar}: {MANIFEST_JSON}")
        )
        if isinstance(parsed, Failure):
            raise _Abort(parsed.failure())
        manifest, delta = parsed.unwrap()
        for layer in manifest.layers():
            entry_found = by_name.get(layer.entry_name)
            if entry_found is not None and entry_found.size != layer.size:
                raise _Abort(
                    SizeMismatch(
                        what=f"{tar}: entry {layer.entry_name}",
                        expected=layer.size,
                        actual=entry_found.size,
                    )
                )
        return ImgpkgTarball(
            path=path,
            manifest=manifest,
            manifest_raw=raw,
            entries=tuple(ordered),
            identity=FileIdentity.of(info),
            delta=delta,
        )
    finally:
        os.close(fd)


__all__ = [
    "MAX_MANIFEST_JSON",
    "BlobSource",
    "CorruptEntryError",
    "HasMessage",
    "ImgpkgTarball",
    "TarEntry",
    "TarWriteReport",
    "blobs_from_reader",
    "write_imgpkg_tar",
]
