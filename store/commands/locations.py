"""The locations image of a bundle (reference §2.5): where its images were copied to.

``copy`` writes it next to a bundle; ``pull`` and ``describe`` read it to
find a relocated bundle's images.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.copy import (
    PLATFORM_SELECTION_FILE,
    PlatformSelection,
    parse_platform_selection,
)
from imgpkg_pure.errors import Fact, MalformedDocument
from imgpkg_pure.media_types import DOCKER_LAYER_GZIP
from imgpkg_pure.oci.codec import parse_manifest_or_index
from imgpkg_pure.oci.values import Descriptor, Manifest
from imgpkg_pure.reference import Reference, Repository
from imgpkg_pure.store.registry import ManifestResponse, RegistryError, RegistryFailure

if TYPE_CHECKING:  # a bundle's documents load when one is copied, pushed or pulled
    from imgpkg_pure.bundle import ImageLocations

__all__ = [
    "BundleLocations",
    "LocationsError",
    "LocationsImageInvalid",
    "ManifestReader",
    "fetch_bundle_locations",
    "fetch_locations",
]


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


@frozen(kw_only=True)
class BundleLocations:
    """What a bundle's locations image says: imgpkg's ImageLocations and, when ``copy
    --platform`` narrowed some of its images, which digests were copied in their place
    (``platform-selection.yml``, beside ``image-locations.yml`` in the one layer)."""

    locations: ImageLocations
    selection: PlatformSelection | None = None


def fetch_locations(
    client: ManifestReader, bundle: Reference
) -> IOResult[ImageLocations | None, LocationsError]:
    """The locations image of a bundle (§2.5), or None when there is none."""
    return fetch_bundle_locations(client, bundle).map(
        lambda found: None if found is None else found.locations
    )


def fetch_bundle_locations(
    client: ManifestReader, bundle: Reference
) -> IOResult[BundleLocations | None, LocationsError]:
    """The locations image of a bundle (§2.5) with its platform selection, or None."""
    from imgpkg_pure.bundle import IMAGE_LOCATIONS_FILE, parse_image_locations  # noqa: PLC0415 (bundles only)

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
    files = _layer_files(bytes(data))
    text = files.get(IMAGE_LOCATIONS_FILE)
    if text is None:
        return IOFailure(
            LocationsImageInvalid(
                reference=str(where),
                reason="Expected to find image-locations.yml in location image",
            )
        )
    read_locations = parse_image_locations(text, f"image-locations.yml of {where}")
    if isinstance(read_locations, Failure):
        return IOFailure(read_locations.failure())
    selection: PlatformSelection | None = None
    selection_text = files.get(PLATFORM_SELECTION_FILE)
    if selection_text is not None:
        read = parse_platform_selection(selection_text, f"{PLATFORM_SELECTION_FILE} of {where}")
        if isinstance(read, Failure):
            return IOFailure(read.failure())
        selection = read.unwrap()
    return IOSuccess(BundleLocations(locations=read_locations.unwrap(), selection=selection))


def _layer_files(layer: bytes) -> dict[str, str]:
    """The first ``image-locations.yml`` (by basename, as imgpkg reads it) and the first
    ``platform-selection.yml`` of a gzip layer, by basename."""
    import gzip  # noqa: PLC0415 (bundles only, as ``tarfile``)
    import tarfile  # noqa: PLC0415

    from imgpkg_pure.bundle import IMAGE_LOCATIONS_FILE  # noqa: PLC0415 (bundles only)

    wanted = {IMAGE_LOCATIONS_FILE, PLATFORM_SELECTION_FILE}
    found: dict[str, str] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer)), mode="r:") as tar:
            for member in tar:
                name = os.path.basename(member.name)
                if name in wanted and name not in found and member.isfile():
                    handle = tar.extractfile(member)
                    if handle is not None:
                        found[name] = handle.read().decode("utf-8")
    except (OSError, tarfile.TarError, EOFError, UnicodeDecodeError):
        return found
    return found
