"""Referrers, pure: the tag schema, merging a referrers index, the copy plan's
``PutReferrers`` steps, their plan-file form, and the tarball labels (both ways)."""

from __future__ import annotations

import json

from returns.result import Success

from imgpkg_pure.copy import (
    REFERRER_LABEL,
    SELECTED_FROM_LABEL,
    CopyImage,
    CopyItem,
    CopyRequest,
    CopySnapshot,
    parse_copy_request,
    plan_copy,
    snapshot_from_tar,
    tar_manifest,
)
from imgpkg_pure.digest import digest_of, parse_digest
from imgpkg_pure.media_types import OCI_EMPTY, OCI_INDEX, OCI_MANIFEST
from imgpkg_pure.oci.codec import encode_index, parse_config, parse_index, parse_manifest
from imgpkg_pure.oci.values import Annotations, Descriptor
from imgpkg_pure.plan.planfile import decode_plan, encode_plan
from imgpkg_pure.plan.steps import PutManifest, PutReferrers, Tag, WriteLockFile
from imgpkg_pure.reference import Reference
from imgpkg_pure.referrers import (
    fallback_tag,
    is_fallback_tag,
    merge_referrers,
    referrer_entry,
    with_artifact_types,
)
from imgpkg_pure.tags import is_internal_tag, listed_tags

_REPO = Reference(registry="src.example", repository="app", tag=None, digest=digest_of(b"r"))
_EMPTY = Descriptor(media_type=OCI_EMPTY, digest=digest_of(b"{}"), size=2)


def _manifest(payload: str, subject: Descriptor | None, artifact_type: str | None) -> CopyImage:
    layer = Descriptor(media_type="text/plain", digest=digest_of(payload.encode()), size=1)
    document: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_EMPTY, "digest": str(_EMPTY.digest), "size": 2},
        "layers": [{"mediaType": layer.media_type, "digest": str(layer.digest), "size": 1}],
    }
    if artifact_type is not None:
        document["artifactType"] = artifact_type
    if subject is not None:
        document["subject"] = {
            "mediaType": subject.media_type,
            "digest": str(subject.digest),
            "size": subject.size,
        }
    raw = json.dumps(document).encode()
    manifest = parse_manifest(raw, "test").unwrap()
    return CopyImage(
        source=_REPO.context().digest(manifest.digest),
        manifest=manifest,
        config=parse_config(b"{}", "config").unwrap(),
    )


def test_fallback_tag_is_the_tag_schema() -> None:
    sha256 = parse_digest("sha256:" + "ab" * 32).unwrap()
    assert fallback_tag(sha256) == "sha256-" + "ab" * 32
    sha512 = parse_digest("sha512:" + "cd" * 64).unwrap()
    assert fallback_tag(sha512) == "sha512-" + "cd" * 32  # cut to 64 characters
    assert is_fallback_tag(fallback_tag(sha256)) and is_fallback_tag(fallback_tag(sha512))
    assert not is_fallback_tag(fallback_tag(sha256) + ".sig")
    assert not is_fallback_tag(fallback_tag(sha256) + ".imgpkg")
    assert not is_fallback_tag("v1")


def test_tag_list_hides_fallback_tags_unless_asked() -> None:
    tags = ["v1", "sha256-" + "a" * 64, "sha256-" + "a" * 64 + ".sig", "x.imgpkg"]
    assert listed_tags(tags, include_internal=False) == ("sha256-" + "a" * 64 + ".sig", "v1")
    assert len(listed_tags(tags, include_internal=True)) == 4
    assert is_internal_tag("sha256-" + "b" * 64)


def test_referrer_entry_takes_the_artifact_type_else_the_config_media_type() -> None:
    subject = Descriptor(media_type=OCI_MANIFEST, digest=digest_of(b"s"), size=1)
    typed = _manifest("a", subject, "application/spdx+json")
    assert referrer_entry(typed.manifest).artifact_type == "application/spdx+json"
    untyped = _manifest("b", subject, None)
    entry = referrer_entry(untyped.manifest)
    assert entry.artifact_type == OCI_EMPTY
    assert (entry.digest, entry.size) == (untyped.manifest.digest, len(untyped.manifest.raw))


def test_merge_keeps_what_is_listed_and_appends_what_is_not() -> None:
    theirs = Descriptor(media_type=OCI_MANIFEST, digest=digest_of(b"t"), size=3, artifact_type="x")
    ours = Descriptor(media_type=OCI_MANIFEST, digest=digest_of(b"o"), size=4, artifact_type="y")
    existing = parse_index(
        encode_index((theirs,), OCI_INDEX, Annotations.of({"k": "v"})), "existing"
    ).unwrap()
    merged = merge_referrers(existing, (ours, theirs, ours))
    assert merged is not None
    index = parse_index(merged, "merged").unwrap()
    assert [d.digest for d in index.manifests] == [theirs.digest, ours.digest]
    assert index.annotations.get("k") == "v"
    assert merge_referrers(index, (ours,)) is None  # nothing to add: nothing written
    fresh = merge_referrers(None, (ours,))
    assert fresh is not None
    assert [d.digest for d in parse_index(fresh, "fresh").unwrap().manifests] == [ours.digest]
    assert with_artifact_types((theirs, ours), frozenset({"y"})) == (ours,)
    assert with_artifact_types((theirs, ours), frozenset()) == (theirs, ours)


def _request(destination: str = "dst.example/app") -> CopyRequest:
    return parse_copy_request(
        image="src.example/app:v1", bundle=None, lock=None, tar=None, to_repo=destination,
        to_tar=None, lock_output="lock.yml", concurrency=5, include_non_distributable=False,
        repo_based_tags=False, resume=False, referrers=True,
    ).unwrap()  # fmt: skip


def _snapshot() -> tuple[CopySnapshot, CopyImage, CopyImage, CopyImage, CopyImage]:
    image = _manifest("image", None, None)
    signature = _manifest("sig", image.manifest.descriptor, "application/sig")
    sbom = _manifest("sbom", image.manifest.descriptor, "application/spdx+json")
    attestation = _manifest("att", sbom.manifest.descriptor, "application/in-toto")
    items = [
        CopyItem(node=image, tag="v1", orig_ref="", is_bundle=False, is_root_bundle=False),
        *(
            CopyItem(
                node=node, tag=None, orig_ref="", is_bundle=False, is_root_bundle=False,
                referrer_of=subject.manifest.digest,
            )
            for node, subject in ((attestation, sbom), (signature, image), (sbom, image))
        ),
    ]  # fmt: skip
    return CopySnapshot(items=tuple(items), bundles=()), image, signature, sbom, attestation


def test_plan_puts_referrers_subject_first_without_tags_or_lock_entries() -> None:
    snapshot, image, signature, sbom, attestation = _snapshot()
    request = _request()
    plan = plan_copy(request, snapshot, ()).unwrap()
    manifests = [s.descriptor.digest for s in plan.steps if isinstance(s, PutManifest)]
    assert manifests == [image.manifest.digest]  # referrers are stored by their own steps
    referrers = [s for s in plan.steps if isinstance(s, PutReferrers)]
    assert [s.subject.digest for s in referrers] == [image.manifest.digest, sbom.manifest.digest]
    assert [r.entry.digest for r in referrers[0].referrers] == [
        signature.manifest.digest,
        sbom.manifest.digest,
    ]
    assert referrers[1].referrers[0].raw == attestation.manifest.raw
    assert referrers[1].referrers[0].entry.artifact_type == "application/in-toto"
    tagged = {s.descriptor.digest for s in plan.steps if isinstance(s, Tag)}
    assert tagged == {image.manifest.digest}
    lock = next(s for s in plan.steps if isinstance(s, WriteLockFile))
    assert str(image.manifest.digest) in lock.text
    assert str(sbom.manifest.digest) not in lock.text
    first_referrers = plan.steps.index(referrers[0])
    assert all(not isinstance(s, Tag) for s in plan.steps[:first_referrers])
    assert decode_plan(encode_plan(plan)) == Success(plan)  # the plan file keeps them


def test_tarball_labels_referrers_and_narrowed_indexes_and_reads_them_back() -> None:
    snapshot, image, _signature, sbom, attestation = _snapshot()
    index_digest = digest_of(b"an index")
    items = tuple(
        CopyItem(
            node=item.node, tag=item.tag, orig_ref="", is_bundle=False, is_root_bundle=False,
            selected_from=(index_digest,),
        )
        if item.node is image
        else item
        for item in snapshot.items
    )  # fmt: skip
    manifest = tar_manifest(CopySnapshot(items=items, bundles=()), str).unwrap()
    labels = {element.refs[0].rpartition("@")[2]: element.labels for element in manifest.elements}
    assert labels[str(image.manifest.digest)] == Annotations.of(
        {SELECTED_FROM_LABEL: str(index_digest)}
    )
    assert labels[str(attestation.manifest.digest)] == Annotations.of(
        {REFERRER_LABEL: str(sbom.manifest.digest)}
    )
    assert all(element.tag in ("", "v1") for element in manifest.elements)
    read = snapshot_from_tar(manifest, ()).unwrap()
    by_digest = {item.node.source.digest: item for item in read.items}
    assert by_digest[attestation.manifest.digest].referrer_of == sbom.manifest.digest
    assert by_digest[image.manifest.digest].selected_from == (index_digest,)
    assert by_digest[image.manifest.digest].referrer_of is None
