"""Read an OCI image layout as if it were a registry repository (a copy source).

``copy -b oci:DIR:TAG`` and ``copy -i oci:DIR:TAG`` walk a layout with the
same code that walks registries: ``LayoutReader`` answers the few questions
the walk asks (manifest by tag or digest, does it exist, stream a blob), and
``Sources`` routes each reference to the layout or to the registry client.
References into a layout carry the registry name ``LAYOUT_REGISTRY``.

A layout is read through a ``LayoutStore``: the directory's ``LocalStore``
(``LayoutReader(path)``), or an indexed tar of a layout
(``LayoutReader.over(archive, path=…, name=…)``, for ``oci-archive:FILE:TAG``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from returns.io import IOFailure, IOResult, IOSuccess
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.copy import LAYOUT_REGISTRY
from imgpkg_pure.digest import Digest, digest_of, hasher
from imgpkg_pure.errors import DigestMismatch, MalformedDocument, SizeMismatch
from imgpkg_pure.oci.codec import document_media_type
from imgpkg_pure.oci.values import Descriptor
from imgpkg_pure.reference import Reference, Repository
from imgpkg_pure.store.content.blobstore import CHUNK_SIZE
from imgpkg_pure.store.content.errors import StoreError
from imgpkg_pure.store.content.local import MAX_NODE_SIZE, LocalStore
from imgpkg_pure.store.content.local_layout import LAYOUT_FILE
from imgpkg_pure.store.registry import (
    ManifestResponse,
    RegistryClient,
    RegistryError,
    RegistryFailure,
)


def _not_found(name: str, what: str) -> RegistryFailure:
    return RegistryFailure(
        status=404,
        codes=("MANIFEST_UNKNOWN",),
        detail=f"{what} not found in the OCI layout",
        method="READ",
        url=name,
        temporary=False,
        answered=False,
    )


def _unreadable(name: str, reason: str) -> RegistryFailure:
    return RegistryFailure(
        status=500,
        codes=(),
        detail=reason,
        method="READ",
        url=name,
        temporary=False,
        answered=False,
    )


def _read_failed(name: str, error: object) -> RegistryError:
    """A read from the layout failed: integrity errors as they are, others as a failed READ."""
    match error:
        case DigestMismatch() | SizeMismatch() | MalformedDocument():
            return error
        case _:
            message = getattr(error, "message", None)
            return _unreadable(name, message if isinstance(message, str) else str(error))


class LayoutStore(Protocol):
    """What ``LayoutReader`` reads: blobs by digest and roots by name (``LocalStore`` and
    ``imgpkg_pure.store.transports.oci_archive.OciArchive`` both are one)."""

    def exists(self, digest: Digest) -> IOResult[bool, StoreError]: ...

    def stat(self, digest: Digest) -> IOResult[int, StoreError]: ...

    def open(self, digest: Digest) -> IOResult[BinaryIO, StoreError]: ...

    def read_bytes(self, digest: Digest) -> IOResult[bytes, StoreError]: ...

    def resolve(self, name: str) -> IOResult[Descriptor, StoreError]: ...


class LayoutReader:
    """The registry questions a copy asks, answered from one OCI image layout."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = f"oci:{path}"
        self._store: LayoutStore | None = None

    @classmethod
    def over(cls, store: LayoutStore, *, path: str, name: str) -> LayoutReader:
        """A reader of a layout already opened (a tar of one at ``path``), called ``name``
        in messages (``oci-archive:FILE``)."""
        reader = cls(path)
        reader.name = name
        reader._store = store
        return reader

    def _open(self) -> IOResult[LayoutStore, RegistryError]:
        if self._store is not None:
            return IOSuccess(self._store)
        if not (Path(self.path) / LAYOUT_FILE).is_file():
            return IOFailure(_unreadable(self.name, "not an OCI image layout (no oci-layout file)"))
        opened = LocalStore.at(Path(self.path))
        if isinstance(opened, IOFailure):
            return IOFailure(_unreadable(self.name, unsafe_perform_io(opened.failure()).message))
        self._store = unsafe_perform_io(opened.unwrap())
        return IOSuccess(self._store)

    def _descriptor(self, ref: Reference) -> IOResult[Descriptor | None, RegistryError]:
        opened = self._open()
        if isinstance(opened, IOFailure):
            return IOFailure(unsafe_perform_io(opened.failure()))
        store = unsafe_perform_io(opened.unwrap())
        if ref.digest is not None:
            if not unsafe_perform_io(store.exists(ref.digest).value_or(False)):
                return IOSuccess(None)
            size = unsafe_perform_io(store.stat(ref.digest).value_or(0))
            return IOSuccess(Descriptor(media_type="", digest=ref.digest, size=size))
        resolved = store.resolve(ref.tag or "latest")
        if isinstance(resolved, IOFailure):
            return IOSuccess(None)
        return IOSuccess(unsafe_perform_io(resolved.unwrap()))

    def head_manifest(self, ref: Reference) -> IOResult[Descriptor | None, RegistryError]:
        return self._descriptor(ref)

    def get_manifest(self, ref: Reference) -> IOResult[ManifestResponse, RegistryError]:
        found = self._descriptor(ref)
        if isinstance(found, IOFailure):
            return IOFailure(unsafe_perform_io(found.failure()))
        descriptor = unsafe_perform_io(found.unwrap())
        if descriptor is None:
            return IOFailure(_not_found(self.name, ref.identifier))
        if descriptor.size > MAX_NODE_SIZE:
            return IOFailure(
                _unreadable(
                    self.name,
                    f"manifest {descriptor.digest} is {descriptor.size} bytes, more than the "
                    f"{MAX_NODE_SIZE} bytes a manifest may have",
                )
            )
        assert self._store is not None
        raw = self._store.read_bytes(descriptor.digest)
        if isinstance(raw, IOFailure):
            return IOFailure(_read_failed(self.name, unsafe_perform_io(raw.failure())))
        data = unsafe_perform_io(raw.unwrap())
        media_type = descriptor.media_type or document_media_type(data)
        return IOSuccess(ManifestResponse(raw=data, media_type=media_type, digest=digest_of(data)))

    def fetch_blob_to(
        self, repo: Repository, descriptor: Descriptor, write: Callable[[bytes], object]
    ) -> IOResult[Descriptor, RegistryError]:
        del repo  # a layout holds one set of blobs for every reference into it
        handle = self._open_blob(descriptor)
        if isinstance(handle, IOFailure):
            return IOFailure(unsafe_perform_io(handle.failure()))
        digest = hasher(descriptor.digest.algorithm)
        size = 0
        try:
            with unsafe_perform_io(handle.unwrap()) as stream:
                while chunk := stream.read(CHUNK_SIZE):
                    digest.update(chunk)
                    size += len(chunk)
                    write(chunk)
        except OSError as exc:  # an unreadable file, or a tar entry that failed verification
            return IOFailure(_read_failed(self.name, getattr(exc, "error", exc)))
        what = f"blob {descriptor.digest} in {self.name}"
        if size != descriptor.size:
            return IOFailure(SizeMismatch(what=what, expected=descriptor.size, actual=size))
        if digest.hexdigest() != descriptor.digest.hex:
            return IOFailure(
                DigestMismatch(
                    what=what,
                    expected=str(descriptor.digest),
                    actual=f"{descriptor.digest.algorithm}:{digest.hexdigest()}",
                )
            )
        return IOSuccess(descriptor)

    def open_chunks(self, descriptor: Descriptor) -> IOResult[Iterator[bytes], RegistryError]:
        """A blob as 1 MiB chunks, streamed from the layout (the consumer checks size and
        digest; a tar of a layout also checks the digest itself, raising ``OSError``)."""
        return self._open_blob(descriptor).map(_chunks)

    def _open_blob(self, descriptor: Descriptor) -> IOResult[BinaryIO, RegistryError]:
        opened = self._open()
        if isinstance(opened, IOFailure):
            return IOFailure(unsafe_perform_io(opened.failure()))
        handle = unsafe_perform_io(opened.unwrap()).open(descriptor.digest)
        if isinstance(handle, IOFailure):
            return IOFailure(_not_found(self.name, f"blob {descriptor.digest}"))
        return IOSuccess(unsafe_perform_io(handle.unwrap()))


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(CHUNK_SIZE):
            yield chunk


class Sources:
    """Routes each reference to its layout (``LAYOUT_REGISTRY``) or to the registry client."""

    def __init__(self, client: RegistryClient, layout: LayoutReader | None) -> None:
        self.client = client
        self.layout = layout

    def _reader(self, registry: str) -> LayoutReader | None:
        return self.layout if registry == LAYOUT_REGISTRY else None

    def get_manifest(self, ref: Reference) -> IOResult[ManifestResponse, RegistryError]:
        layout = self._reader(ref.registry)
        return self.client.get_manifest(ref) if layout is None else layout.get_manifest(ref)

    def head_manifest(self, ref: Reference) -> IOResult[Descriptor | None, RegistryError]:
        layout = self._reader(ref.registry)
        return self.client.head_manifest(ref) if layout is None else layout.head_manifest(ref)

    def fetch_blob_to(
        self, repo: Repository, descriptor: Descriptor, write: Callable[[bytes], object]
    ) -> IOResult[Descriptor, RegistryError]:
        layout = self._reader(repo.registry)
        if layout is None:
            return self.client.fetch_blob_to(repo, descriptor, write)
        return layout.fetch_blob_to(repo, descriptor, write)
