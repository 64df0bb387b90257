"""The locations image of a bundle (reference §2.5): where its images were copied to.

``copy`` writes it next to a bundle; ``pull`` and ``describe`` read it to
find a relocated bundle's images.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Callable
from typing import Protocol

from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.bundle import ImageLocations, parse_image_locations
from imgpkg_pure.errors import Fact, MalformedDocument
from imgpkg_pure.media_types import DOCKER_LAYER_GZIP
from imgpkg_pure.oci.codec import parse_manifest_or_index
from imgpkg_pure.oci.values import Descriptor, Manifest
from imgpkg_pure.reference import Reference, Repository
from imgpkg_pure.store.registry import ManifestResponse, RegistryError, RegistryFailure

__all__ = ["LocationsError", "LocationsImageInvalid", "ManifestReader", "fetch_locations"]


#: The largest locations image layer read (it holds one small YAML file).
MAX_LOCATIONS_LAYER = 16 * 1024 * 1024


@frozen(kw_only=True)
class LocationsImageInvalid(Fact):
    """A locations image that is not what imgpkg writes (§2.5)."""

    reference: str
    reason: str

    template = "locations image '{reference}': {reason}"


LocationsError = RegistryError | MalformedDocument | LocationsImageInvalid


class ManifestReader(Protocol):
    """What reading a locations image needs: a registry client, or a layout reader."""

    def get_manifest(self, ref: Reference) -> IOResult[ManifestResponse, RegistryError]: ...

    def fetch_blob_to(
        self, repo: Repository, descriptor: Descriptor, write: Callable[[bytes], object]
    ) -> IOResult[Descriptor, RegistryError]: ...


def fetch_locations(
    client: ManifestReader, bundle: Reference
) -> IOResult[ImageLocations | None, LocationsError]:
    """The locations image of a bundle (§2.5), or None when there is none."""
    assert bundle.digest is not None
    tag = f"{bundle.digest.tag_form}.image-locations.imgpkg"
    where = Reference(registry=bundle.registry, repository=bundle.repository, tag=tag, digest=None)
    fetched = client.get_manifest(where)
    if isinstance(fetched, IOFailure):
        error = unsafe_perform_io(fetched.failure())
        if isinstance(error, RegistryFailure) and error.status in (401, 403, 404):
            return IOSuccess(None)
        return IOFailure(error)
    response = unsafe_perform_io(fetched.unwrap())
    parsed = parse_manifest_or_index(response.raw, f"manifest {where}", response.media_type)
    if isinstance(parsed, Failure):
        return IOFailure(parsed.failure())
    manifest = parsed.unwrap()
    if not isinstance(manifest, Manifest) or len(manifest.layers) != 1:
        count = len(manifest.layers) if isinstance(manifest, Manifest) else 0
        return IOFailure(
            LocationsImageInvalid(
                reference=str(where),
                reason=f"Expected locations OCI Image to only have a single layer, got {count}",
            )
        )
    layer = manifest.layers[0]
    if layer.media_type != DOCKER_LAYER_GZIP:
        return IOFailure(
            LocationsImageInvalid(
                reference=str(where),
                reason=f"Expected layer to have docker layer media type, was {layer.media_type}",
            )
        )
    if layer.size > MAX_LOCATIONS_LAYER:
        return IOFailure(LocationsImageInvalid(reference=str(where), reason="layer is too large"))
    data = bytearray()
    fetched_layer = client.fetch_blob_to(where.context(), layer, data.extend)
    if isinstance(fetched_layer, IOFailure):
        return IOFailure(unsafe_perform_io(fetched_layer.failure()))
    text = _locations_file(bytes(data))
    if text is None:
        return IOFailure(
            LocationsImageInvalid(
                reference=str(where),
                reason="Expected to find image-locations.yml in location image",
            )
        )
    return (
        IOResult.from_result(parse_image_locations(text, f"image-locations.yml of {where}"))
        .map(lambda locations: locations)
        .alt(lambda e: e)
    )


def _locations_file(layer: bytes) -> str | None:
    """The first ``image-locations.yml`` (by basename) in a gzip layer, as imgpkg reads it."""
    try:
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer)), mode="r:") as tar:
            for member in tar:
                if os.path.basename(member.name) == "image-locations.yml" and member.isfile():
                    handle = tar.extractfile(member)
                    return None if handle is None else handle.read().decode("utf-8")
    except (OSError, tarfile.TarError, EOFError, UnicodeDecodeError):
        return None
    return None
