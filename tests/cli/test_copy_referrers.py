"""``copy --referrers``: signatures, SBOMs and an attestation of the SBOM travel with a bundle.

The artefacts are built here (``tests.cli.supply_chain``): OCI image manifests with
``artifactType`` and ``subject``.  Two registries:

* Debian's ``docker-registry`` (distribution 2.8), which has no referrers API (it
  answers ``/v2/<name>/referrers/<digest>`` with 404 and sends no ``OCI-Subject``):
  the artefacts are listed in the referrers tag schema at the source, as cosign and
  oras list them there, and copy must keep that index at the destination;
* the same registry behind ``tests.cli.referrers_registry.ReferrersRegistry``, a test
  double that adds the referrers API (the only thing it adds): the artefacts are found
  through the API, and nothing is written under the tag schema.

Each copies the bundle repo → imgpkg tarball → repo and checks that every referrer
arrived, byte for byte, findable from its subject; skopeo copies and inspects what
was written.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from attrs import frozen
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.copy import REFERRER_LABEL
from imgpkg_pure.digest import parse_digest
from imgpkg_pure.reference import Repository
from imgpkg_pure.store.registry import RegistryClient, RegistryOptions
from tests.cli.helpers import run_cli
from tests.cli.imgpkg_tarball import upload_tarball
from tests.cli.referrers_registry import ReferrersRegistry
from tests.cli.supply_chain import (
    ATTESTATION,
    OCI_INDEX,
    SBOM,
    SIGNATURE,
    Pushed,
    attach,
    fallback_index,
    fallback_tag,
    manifest,
    multi_platform,
    push_bundle,
    push_image,
    put_manifest,
    tags,
)
from tests.registry_fixtures import RegistryServer


@frozen
class Chain:
    """What the source holds: a bundle of an image and a 3-platform index, and the
    artefacts attached to them (``referrers``: subject digest → its referrers)."""

    bundle: Pushed
    app: Pushed
    multi: Pushed
    children: list[Pushed]
    referrers: dict[str, list[Pushed]]

    @property
    def every_referrer(self) -> list[Pushed]:
        return [r for listed in self.referrers.values() for r in listed]


def _supply_chain(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    http: httpx.Client,
    host: str,
    repos: tuple[str, str],
    *,
    fallback: bool,
) -> Chain:
    """A signed, SBOM'd bundle at ``host``: ``repos`` are (images, bundle) repositories."""
    images, bundles = repos
    app = push_image(http, images, None, os="linux", arch="amd64")
    multi, children = multi_platform(http, images, None)
    signature = attach(http, images, app, SIGNATURE, b"signature of app", fallback=fallback)
    sbom = attach(
        http, images, app, SBOM, b'{"spdxVersion": "SPDX-2.3"}', fallback=fallback,
        annotations={"org.example.kind": "sbom"},
    )  # fmt: skip
    attestation = attach(http, images, sbom, ATTESTATION, b"sbom attested", fallback=fallback)
    arm_sbom = attach(http, images, children[1], SBOM, b'{"arm64": true}', fallback=fallback)
    push_bundle(
        capsys, tmp_path, f"{host}/{bundles}:v1",
        [f"{host}/{images}@{app.digest}", f"{host}/{images}@{multi.digest}"],
    )  # fmt: skip
    got = manifest(http, bundles, "v1")
    bundle = Pushed(
        descriptor={
            "mediaType": got.headers["Content-Type"],
            "digest": got.headers["Docker-Content-Digest"],
            "size": len(got.content),
        },
        raw=got.content,
    )
    bundle_signature = attach(http, bundles, bundle, SIGNATURE, b"bundle signed", fallback=fallback)
    return Chain(
        bundle=bundle,
        app=app,
        multi=multi,
        children=children,
        referrers={
            app.digest: [signature, sbom],
            sbom.digest: [attestation],
            children[1].digest: [arm_sbom],
            bundle.digest: [bundle_signature],
        },
    )


def _listed_at(http: httpx.Client, repo: str, digest: str, *, api: bool) -> list[str]:
    if api:
        got = http.get(f"/v2/{repo}/referrers/{digest}")
        got.raise_for_status()
        pages = [got.json()]
        while "Link" in got.headers:
            following = got.headers["Link"].split(";")[0].strip("<>")
            got = http.get(following)
            pages.append(got.json())
        return [entry["digest"] for page in pages for entry in page["manifests"]]
    index = fallback_index(http, repo, digest)
    return [] if index is None else [entry["digest"] for entry in index["manifests"]]


def _check_arrived(http: httpx.Client, repo: str, chain: Chain, *, api: bool) -> None:
    """Every referrer is at ``repo``, byte for byte, and listed for its subject."""
    for subject, referrers in chain.referrers.items():
        listed = _listed_at(http, repo, subject, api=api)
        assert sorted(listed) == sorted(r.digest for r in referrers), subject
        for referrer in referrers:
            got = manifest(http, repo, referrer.digest)
            assert got.status_code == 200, referrer.digest
            assert got.content == referrer.raw
            assert json.loads(got.content)["subject"]["digest"] == subject


def _copy_through_tar(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, host: str, source: str, destination: str
) -> Path:
    tarball = tmp_path / "bundle.tar"
    code, _, stderr = run_cli(
        capsys, "copy", "-b", f"{host}/{source}:v1", "--referrers", "--to-tar", str(tarball)
    )
    assert code == 0, stderr
    code, _, stderr = run_cli(
        capsys, "copy", "--tar", str(tarball), "--to-repo", f"{host}/{destination}"
    )
    assert code == 0, stderr
    return tarball


def _tar_elements(tarball: Path) -> list[dict[str, Any]]:
    with tarfile.open(tarball) as tar:
        handle = tar.extractfile("manifest.json")
        assert handle is not None
        elements: list[dict[str, Any]] = json.load(handle)
    return elements


def test_bundle_with_referrers_repo_tar_repo_through_the_tag_schema(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
) -> None:
    """No referrers API (docker-registry): found through, and kept in, the tag schema."""
    images, bundles, dst = (unique_repo_factory(n) for n in ("images", "bundle", "dst"))
    with registry.client() as http:
        assert http.get(f"/v2/{images}/referrers/sha256:{'0' * 64}").status_code == 404
        chain = _supply_chain(capsys, tmp_path, http, registry.host, (images, bundles),
                              fallback=True)  # fmt: skip
        # another tool's referrer already listed at the destination: it must stay listed
        theirs = attach(http, dst, chain.app, "application/x.theirs", b"x", fallback=True)
        tarball = _copy_through_tar(capsys, tmp_path, registry.host, bundles, dst)

        referrers = {
            element["Image"]["Manifest"]["Digest"]: element["Image"]
            for element in _tar_elements(tarball)
            if element["Image"] and REFERRER_LABEL in (element["Image"]["Labels"] or {})
        }
        assert set(referrers) == {r.digest for r in chain.every_referrer}
        for subject, listed in chain.referrers.items():
            for referrer in listed:
                element = referrers[referrer.digest]
                assert element["Tag"] == ""
                assert element["Labels"] == {REFERRER_LABEL: subject}
        with RegistryClient(RegistryOptions()) as client:  # imgpkg's reading of the tar
            plain = Repository(registry=registry.host, repository=f"{dst}-plain")
            pushed = upload_tarball(tarball, client, plain)
        assert {r.digest for r in chain.every_referrer} <= set(pushed)

        before = dict(chain.referrers)
        merged = _listed_at(http, dst, chain.app.digest, api=False)
        assert merged[0] == theirs.digest  # theirs first, as it was; ours appended
        chain.referrers[chain.app.digest] = [theirs, *before[chain.app.digest]]
        _check_arrived(http, dst, chain, api=False)
        chain.referrers[chain.app.digest] = before[chain.app.digest]

        # a rerun changes nothing (the tag schema's indexes keep one entry each)
        code, _, stderr = run_cli(
            capsys, "copy", "--tar", str(tarball), "--to-repo", f"{registry.host}/{dst}"
        )
        assert code == 0, stderr
        assert len(_listed_at(http, dst, chain.app.digest, api=False)) == 3

        # tag list hides the tag schema's tags unless asked, as it hides .imgpkg ones
        code, stdout, _ = run_cli(capsys, "tag", "list", "-i", f"{registry.host}/{dst}")
        assert code == 0
        assert fallback_tag(chain.app.digest) not in stdout and "v1" in stdout
        code, stdout, _ = run_cli(
            capsys, "tag", "list", "-i", f"{registry.host}/{dst}", "--imgpkg-internal-tags"
        )
        assert fallback_tag(chain.app.digest) in stdout

        # describe --referrers lists them under each image (artifact type, digest, size)
        code, stdout, stderr = run_cli(
            capsys, "describe", "-b", f"{registry.host}/{dst}:v1", "--referrers", "-o", "yaml"
        )
        assert code == 0, stderr
        sbom = chain.referrers[chain.app.digest][1]
        attestation = chain.referrers[sbom.digest][0]
        assert f"artifactType: {SBOM}" in stdout
        assert f"digest: {attestation.digest}" in stdout
        assert f'size: "{len(attestation.raw)}"' in stdout
        assert f"digest: {chain.referrers[chain.bundle.digest][0].digest}" in stdout
        code, stdout, stderr = run_cli(
            capsys, "describe", "-b", f"{registry.host}/{dst}:v1", "--referrers"
        )
        assert code == 0, stderr
        assert f"      - Digest: {sbom.digest}\n        Artifact Type: {SBOM}\n" in stdout
        assert f"        Referrers:\n          - Digest: {attestation.digest}\n" in stdout

        # the pulled bundle works as before
        code, _, stderr = run_cli(
            capsys, "pull", "-b", f"{registry.host}/{dst}:v1", "-o", str(tmp_path / "out")
        )
        assert code == 0, stderr

    # skopeo copies what was written: the image, and the attestation (an artefact)
    dst_ref = f"docker://{registry.host}/{dst}"
    for digest, name in ((chain.app.digest, "app"), (attestation.digest, "attestation")):
        done = subprocess.run(
            ["skopeo", "copy", "--src-tls-verify=false", "--preserve-digests",
             f"{dst_ref}@{digest}", f"oci:{tmp_path / 'skopeo'}:{name}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    inspected = subprocess.run(
        ["skopeo", "inspect", "--raw", f"oci:{tmp_path / 'skopeo'}:attestation"],
        capture_output=True, check=False,
    )  # fmt: skip
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)["subject"]["digest"] == sbom.digest


def test_bundle_with_referrers_repo_tar_repo_through_the_referrers_api(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
) -> None:
    """A registry with the referrers API (the test double of ``referrers_registry``, one
    entry a page): found through the API, indexed by the registry at the destination,
    no tag schema written anywhere."""
    images, bundles, dst = (unique_repo_factory(n) for n in ("images", "bundle", "dst"))
    with (
        ReferrersRegistry(registry.url, page_size=1) as api,
        httpx.Client(base_url=api.url, trust_env=False) as http,
    ):
        chain = _supply_chain(capsys, tmp_path, http, api.host, (images, bundles),
                                  fallback=False)  # fmt: skip
        asked = api.referrer_requests
        _copy_through_tar(capsys, tmp_path, api.host, bundles, dst)
        assert api.referrer_requests > asked
        _check_arrived(http, dst, chain, api=True)
        for repo in (images, bundles, dst):
            assert not [t for t in tags(http, repo) if len(t) == 71 and "." not in t]
        # the destination's own answers: OCI-Subject on a PUT, filtered listings
        filtered = http.get(
            f"/v2/{dst}/referrers/{chain.app.digest}", params={"artifactType": SBOM}
        )
        sbom = chain.referrers[chain.app.digest][1]
        assert [e["digest"] for e in filtered.json()["manifests"]] == [sbom.digest]
        with RegistryClient(RegistryOptions()) as client:  # pages followed, filter asked
            repo = Repository(registry=api.host, repository=dst)
            subject = parse_digest(chain.app.digest).unwrap()
            every = unsafe_perform_io(client.referrers(repo, subject).unwrap())
            only = unsafe_perform_io(client.referrers(repo, subject, SBOM).unwrap())
        assert every is not None and only is not None
        assert sorted(str(e.digest) for e in every) == sorted(
            r.digest for r in chain.referrers[chain.app.digest]
        )
        assert [str(e.digest) for e in only] == [sbom.digest]
        assert only[0].annotations.get("org.example.kind") == "sbom"


def test_referrers_into_an_oci_layout_and_out_again(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
) -> None:
    """An OCI layout keeps referrers as the tag schema does (a root ``sha256-<hex>``
    naming an index of them); skopeo reads that index; a copy out of the layout finds
    them there."""
    images, bundles, dst = (unique_repo_factory(n) for n in ("images", "bundle", "dst"))
    layout = tmp_path / "layout"
    with registry.client() as http:
        chain = _supply_chain(capsys, tmp_path, http, registry.host, (images, bundles),
                              fallback=True)  # fmt: skip
        code, _, stderr = run_cli(
            capsys, "copy", "-b", f"{registry.host}/{bundles}:v1", "--referrers",
            "--to-repo", f"oci:{layout}",
        )  # fmt: skip
        assert code == 0, stderr
        index = json.loads((layout / "index.json").read_text())
        roots = {
            entry["annotations"]["org.opencontainers.image.ref.name"]: entry
            for entry in index["manifests"]
        }
        for subject, referrers in chain.referrers.items():
            root = roots[fallback_tag(subject)]
            assert root["mediaType"] == OCI_INDEX
            inspected = subprocess.run(
                ["skopeo", "inspect", "--raw", f"oci:{layout}:{fallback_tag(subject)}"],
                capture_output=True, check=False,
            )  # fmt: skip
            assert inspected.returncode == 0, inspected.stderr
            listed = [e["digest"] for e in json.loads(inspected.stdout)["manifests"]]
            assert sorted(listed) == sorted(r.digest for r in referrers)
            for referrer in referrers:
                alg, hexpart = referrer.digest.split(":")
                assert (layout / "blobs" / alg / hexpart).read_bytes() == referrer.raw
        code, _, stderr = run_cli(
            capsys, "copy", "-b", f"oci:{layout}:v1", "--referrers",
            "--to-repo", f"{registry.host}/{dst}",
        )  # fmt: skip
        assert code == 0, stderr
        _check_arrived(http, dst, chain, api=False)
    archive = tmp_path / "bundle.oci.tar"  # a tar of a layout: the same roots
    code, _, stderr = run_cli(
        capsys, "copy", "-b", f"{registry.host}/{bundles}:v1", "--referrers",
        "--to-repo", f"oci-archive:{archive}",
    )  # fmt: skip
    assert code == 0, stderr
    inspected = subprocess.run(
        ["skopeo", "inspect", "--raw", f"oci-archive:{archive}:{fallback_tag(chain.app.digest)}"],
        capture_output=True, check=False,
    )  # fmt: skip
    assert inspected.returncode == 0, inspected.stderr
    listed = sorted(e["digest"] for e in json.loads(inspected.stdout)["manifests"])
    assert listed == sorted(r.digest for r in chain.referrers[chain.app.digest])


def test_a_tag_schema_tag_that_is_not_an_index_is_left_alone(
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
) -> None:
    images, dst = unique_repo_factory("images"), unique_repo_factory("dst")
    with registry.client() as http:
        app = push_image(http, images, "v1", os="linux", arch="amd64")
        attach(http, images, app, SIGNATURE, b"signed", fallback=True)
        squatter = push_image(http, dst, None, os="linux", arch="arm64")
        put_manifest(http, dst, fallback_tag(app.digest), json.loads(squatter.raw))
        code, _, stderr = run_cli(
            capsys, "copy", "-i", f"{registry.host}/{images}:v1", "--referrers",
            "--to-repo", f"{registry.host}/{dst}",
        )  # fmt: skip
        assert code == 1
        assert f"{dst}:{fallback_tag(app.digest)} holds a" in stderr
        assert "not the referrers index of the tag schema" in stderr
        assert manifest(http, dst, fallback_tag(app.digest)).content == squatter.raw
