"""How apply groups steps into phases: tags and referrers that must not run together."""

from __future__ import annotations

from imgpkg_pure.digest import digest_of
from imgpkg_pure.media_types import OCI_INDEX, OCI_MANIFEST
from imgpkg_pure.oci.codec import encode_index, encode_manifest
from imgpkg_pure.oci.values import Descriptor
from imgpkg_pure.plan.steps import PutManifest, PutReferrers, Referrer, RegistryTarget, Step, Tag
from imgpkg_pure.store.apply.schedule import phases

_TARGET = RegistryTarget(registry="r.example", repository="app")


def _manifest(seed: str) -> PutManifest:
    config = Descriptor(media_type="application/json", digest=digest_of(seed.encode()), size=1)
    raw = encode_manifest(config, (), OCI_MANIFEST)
    descriptor = Descriptor(media_type=OCI_MANIFEST, digest=digest_of(raw), size=len(raw))
    return PutManifest(target=_TARGET, descriptor=descriptor, raw=raw)


def test_a_tag_of_an_image_and_a_tag_of_an_index_listing_it_run_apart() -> None:
    image, other = _manifest("image"), _manifest("other")
    raw = encode_index((image.descriptor,), OCI_INDEX)
    index = PutManifest(
        target=_TARGET,
        descriptor=Descriptor(media_type=OCI_INDEX, digest=digest_of(raw), size=len(raw)),
        raw=raw,
    )
    steps: list[Step] = [
        image, other, index,
        Tag(target=_TARGET, tag="image", descriptor=image.descriptor),
        Tag(target=_TARGET, tag="other", descriptor=other.descriptor),
        Tag(target=_TARGET, tag="index", descriptor=index.descriptor),
    ]  # fmt: skip
    assert phases(steps) == [(0, 1), (2,), (3, 4), (5,)]


def test_referrers_of_a_referrer_wait_for_it() -> None:
    image, sbom, attestation, signature = (_manifest(n) for n in ("i", "s", "a", "g"))

    def put(subject: PutManifest, *referrers: PutManifest) -> PutReferrers:
        listed = tuple(Referrer(entry=r.descriptor, raw=r.raw) for r in referrers)
        return PutReferrers(target=_TARGET, subject=subject.descriptor, referrers=listed)

    steps: list[Step] = [image, put(image, sbom), put(signature, attestation), put(sbom, image)]
    assert phases(steps) == [(0,), (1, 2), (3,)]
