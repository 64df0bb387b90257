"""Read an OCI image layout as if it were a registry repository (a copy source).

``copy -b oci:DIR:TAG`` and ``copy -i oci:DIR:TAG`` walk a layout with the
same code that walks registries: ``LayoutReader`` answers the few questions
the walk asks (manifest by tag or digest, does it exist, stream a blob), and
``Sources`` routes each reference to the layout or to the registry client.
References into a layout carry the registry name ``LAYOUT_REGISTRY``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from returns.io import IOFailure, IOResult, IOSuccess
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.copy import LAYOUT_REGISTRY
from imgpkg_pure.digest import digest_of, hasher
from imgpkg_pure.errors import DigestMismatch, SizeMismatch
from imgpkg_pure.media_types import OCI_INDEX, OCI_MANIFEST
from imgpkg_pure.oci.values import Descriptor
from imgpkg_pure.reference import Reference, Repository
from store.blobstore import CHUNK_SIZE
from store.local import LocalStore
from store.registry import ManifestResponse, RegistryClient, RegistryError, RegistryFailure


def _not_found(path: str, what: str) -> RegistryFailure:
    return RegistryFailure(
        status=404,
        codes=("MANIFEST_UNKNOWN",),
        detail=f"{what} not found in the OCI layout",
        method="READ",
        url=f"oci:{path}",
        temporary=False,
    )


def _unreadable(path: str, reason: str) -> RegistryFailure:
    return RegistryFailure(
        status=500, codes=(), detail=reason, method="READ", url=f"oci:{path}", temporary=False
    )


class LayoutReader:
    """The registry questions a copy asks, answered from one OCI image layout."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._store: LocalStore | None = None

    def _open(self) -> IOResult[LocalStore, RegistryError]:
        if self._store is not None:
            return IOSuccess(self._store)
        if not (Path(self.path) / "oci-layout").is_file():
            return IOFailure(_unreadable(self.path, "not an OCI image layout (no oci-layout file)"))
        opened = LocalStore.at(Path(self.path))
        if isinstance(opened, IOFailure):
            return IOFailure(_unreadable(self.path, unsafe_perform_io(opened.failure()).message))
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
            return IOFailure(_not_found(self.path, ref.identifier))
        assert self._store is not None
        raw = self._store.read_bytes(descriptor.digest)
        if isinstance(raw, IOFailure):
            return IOFailure(_unreadable(self.path, unsafe_perform_io(raw.failure()).message))
        data = unsafe_perform_io(raw.unwrap())
        media_type = descriptor.media_type or _declared(data)
        return IOSuccess(ManifestResponse(raw=data, media_type=media_type, digest=digest_of(data)))

    def fetch_blob_to(
        self, repo: Repository, descriptor: Descriptor, write: Callable[[bytes], object]
    ) -> IOResult[Descriptor, RegistryError]:
        del repo  # a layout holds one set of blobs for every reference into it
        opened = self._open()
        if isinstance(opened, IOFailure):
            return IOFailure(unsafe_perform_io(opened.failure()))
        handle = unsafe_perform_io(opened.unwrap()).open(descriptor.digest)
        if isinstance(handle, IOFailure):
            return IOFailure(_not_found(self.path, f"blob {descriptor.digest}"))
        digest = hasher(descriptor.digest.algorithm)
        size = 0
        with unsafe_perform_io(handle.unwrap()) as stream:
            while chunk := stream.read(CHUNK_SIZE):
                digest.update(chunk)
                size += len(chunk)
                write(chunk)
        what = f"blob {descriptor.digest} in oci:{self.path}"
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


def _declared(raw: bytes) -> str:
    try:
        value = json.loads(raw)
    except ValueError:
        return OCI_MANIFEST
    if isinstance(value, dict):
        declared = value.get("mediaType")
        if isinstance(declared, str):
            return declared
        if "manifests" in value:
            return OCI_INDEX
    return OCI_MANIFEST


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
