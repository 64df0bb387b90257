"""``copy`` between real registries: bundles with nested bundles, images, lock files.

The source content is what the real imgpkg wrote (the fixtures' tarballs,
placed in a source repository as imgpkg copy places it); the expected
destination tags, lock output and locations files are those real imgpkg
produced (``expected/*.json``, ``roundtrip``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.copy import populate
from imgpkg_pure.reference import Repository
from imgpkg_pure.store.registry import RegistryClient, RegistryOptions
from tests.cli.helpers import FIXTURES, copy_fixture, run_cli, write_images_lock
from tests.cli.imgpkg_tarball import upload_tarball
from tests.registry_fixtures import RegistryServer
from tests.reverse_proxy import ProxyHandler, ReverseProxy


def _upload(name: str, registry: RegistryServer, repo: str) -> dict[str, Any]:
    """The tarball's content in ``repo``, the root also under its tag (as pushed upstream)."""
    expected: dict[str, Any] = json.loads((FIXTURES / "expected" / f"{name}.json").read_text())
    with RegistryClient(RegistryOptions()) as client:
        upload_tarball(
            FIXTURES / f"{name}.tar", client, Repository(registry=registry.host, repository=repo)
        )
    root = expected["root"]
    with registry.client() as http:
        accept = "application/vnd.docker.distribution.manifest.v2+json"
        got = http.get(f"/v2/{repo}/manifests/{root['digest']}", headers={"Accept": accept})
        put = http.put(
            f"/v2/{repo}/manifests/{root['tag']}",
            content=got.content,
            headers={"Content-Type": got.headers["Content-Type"]},
        )
        put.raise_for_status()
    return expected


APP = "sha256:8a18a353caab65c2e52f2e6b6838a8bf664dbd0c26e5136a3e3b85140e705842"


def _tags(registry: RegistryServer, repo: str) -> dict[str, str]:
    out: dict[str, str] = {}
    with registry.client() as client:
        for tag in client.get(f"/v2/{repo}/tags/list").json()["tags"]:
            head = client.head(
                f"/v2/{repo}/manifests/{tag}",
                headers={"Accept": ",".join([
                    "application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.oci.image.index.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json",
                ])},
            )  # fmt: skip
            out[tag] = head.headers["Docker-Content-Digest"]
    return out


def _locations_yml(registry: RegistryServer, repo: str, tag: str) -> str:
    with registry.client() as client:
        manifest = client.get(
            f"/v2/{repo}/manifests/{tag}",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        ).json()
        layer = client.get(f"/v2/{repo}/blobs/{manifest['layers'][0]['digest']}").content
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        members = [(m.name, m.mode) for m in tar.getmembers()]
        assert members == [(".", 0o700), ("image-locations.yml", 0o600)]
        handle = tar.extractfile("image-locations.yml")
        assert handle is not None
        return handle.read().decode()


@pytest.mark.parametrize("name", ["bundle", "nested-bundle"])
def test_copy_bundle_between_registries_as_imgpkg(  # noqa: PLR0917
    name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    registry_tls: RegistryServer,
    unique_repo_factory: Any,
) -> None:
    src, dst = unique_repo_factory("src"), unique_repo_factory("dst")
    expected = _upload(name, registry, src)
    root = expected["root"]
    lock = tmp_path / "lock.yml"
    assert registry_tls.ca_cert is not None
    code, stdout, stderr = run_cli(
        capsys, "copy", "--tty", "-b", f"{registry.host}/{src}:{root['tag']}",
        "--to-repo", f"{registry_tls.host}/{dst}", "--lock-output", str(lock),
        "--registry-ca-cert-path", str(registry_tls.ca_cert),
    )  # fmt: skip
    assert code == 0, stderr
    repo_ref = f"{registry_tls.host}/{dst}"
    assert lock.read_text() == expected["roundtrip"]["lock_output"].replace("{REPO}", repo_ref)
    assert "copy | Tagging images" in stdout and stdout.endswith("Succeeded\n")

    tags = _tags(registry_tls, dst)
    wanted = {t["tag"]: t["digest"] for t in expected["roundtrip"]["tags_in_repo"]}
    # Locations images carry our gzip bytes, so their own digests differ from imgpkg's.
    location_digests = {wanted[t] for t in wanted if t.endswith(".image-locations.imgpkg")}
    same = {t: d for t, d in wanted.items() if d not in location_digests}
    assert {t: tags[t] for t in same} == same
    ours = {tags[t] for t in tags if t.endswith(".image-locations.imgpkg")}
    assert len(ours) == len(location_digests)
    assert set(tags) - set(same) == {t for t in tags if t.endswith(".image-locations.imgpkg")} | {
        f"sha256-{d[7:]}.imgpkg" for d in ours
    }

    for image in expected["images"]:
        if image["kind"] == "bundle":
            tag = f"sha256-{image['manifest_digest'][7:]}.image-locations.imgpkg"
            assert (
                _locations_yml(registry_tls, dst, tag)
                == (image["bundle"]["image_locations_yml_after_copy"])
            )

    out = tmp_path / "pulled"
    code, stdout, stderr = run_cli(
        capsys, "pull", "--tty", "-r", "--lock", str(lock), "-o", str(out),
        "--registry-ca-cert-path", str(registry_tls.ca_cert),
    )  # fmt: skip
    assert code == 0, stderr
    bundle = next(i for i in expected["images"] if i.get("manifest_digest") == root["digest"])
    after = bundle["bundle"]["images_yml_after_pull_from_relocated_repo"]
    assert (out / ".imgpkg" / "images.yml").read_text() == after.replace("{REPO}", repo_ref)


def test_copy_within_one_registry_mounts_blobs(
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
) -> None:
    src, dst = unique_repo_factory("src"), unique_repo_factory("dst")
    _upload("bundle", registry, src)
    start = registry.log_size()
    code, _, stderr = run_cli(
        capsys, "copy", "-b", f"{registry.host}/{src}:v1", "--to-repo", f"{registry.host}/{dst}"
    )
    assert code == 0, stderr
    log = registry.read_log_since(start, max_lines=100_000)
    assert "mount=" in log
    # A second copy finds everything in place and uploads nothing.
    start = registry.log_size()
    code, _, stderr = run_cli(
        capsys, "copy", "-b", f"{registry.host}/{src}:v1", "--to-repo", f"{registry.host}/{dst}"
    )
    assert code == 0, stderr
    again = registry.read_log_since(start, max_lines=100_000)
    assert "PATCH" not in again and "blobs/uploads" not in again


def test_copy_image_and_repo_based_tags(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
) -> None:
    src, dst = unique_repo_factory("src-app"), unique_repo_factory("dst")
    app = copy_fixture("app", tmp_path)
    code, stdout, _ = run_cli(capsys, "push", "-i", f"{registry.host}/{src}:v1", "-f", str(app))
    digest = stdout.strip().split("@")[1].rstrip("'")
    lock = tmp_path / "lock.yml"
    code, _, stderr = run_cli(
        capsys, "copy", "-i", f"{registry.host}/{src}:v1", "--to-repo", f"{registry.host}/{dst}",
        "--repo-based-tags", "--lock-output", str(lock),
    )  # fmt: skip
    assert code == 0, stderr
    tags = _tags(registry, dst)
    path = src.replace("/", "-")[-49:]
    assert tags[f"{path}-sha256-{digest[7:]}.imgpkg"] == digest
    assert tags["v1"] == digest
    assert lock.read_text() == (
        "---\napiVersion: imgpkg.carvel.dev/v1alpha1\nimages:\n"
        f"- image: {registry.host}/{dst}@{digest}\nkind: ImagesLock\n"
    )


def test_copy_refusals(
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
) -> None:
    src = unique_repo_factory("src")
    _upload("bundle", registry, src)
    cases = [
        (["-i", f"{registry.host}/{src}:v1", "--to-repo", f"{registry.host}/xx"],
         "Expected bundle flag when copying a bundle"),
        (["-b", f"{registry.host}/{src}@{APP}", "--to-repo", f"{registry.host}/xx"],
         "Expected bundle image but found plain image"),
        (["--to-repo", "r.io/xx"], "Expected either --lock, --bundle (-b), --image (-i), or --tar"),
        (["-b", "r.io/a/b", "--to-repo", "r.io/xx", "--to-tar", "x.tar"],
         "Expected either --to-tar or --to-repo"),
        (["-b", "r.io/a/b", "--to-repo", "r.io/xx", "--resume"],
         "Flag --resume can only be used when copying to tar"),
        (["-b", "r.io/a/b", "--to-repo", "r.io/X"], "Building import repository ref:"),
        (["-b", "r.io/a/b", "--to-repo", "r.io/xx", "--concurrency", "0"],
         "--concurrency must be at least 1"),
    ]  # fmt: skip
    for args, message in cases:
        code, _, stderr = run_cli(capsys, "copy", *args)
        assert code == 1, args
        assert message in stderr, (args, stderr)
        assert stderr.count("\n") == 1 and "Traceback" not in stderr


def test_copy_images_lock(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
) -> None:
    src, dst = unique_repo_factory("src"), unique_repo_factory("dst")
    _upload("image", registry, src)
    digest = "sha256:8a18a353caab65c2e52f2e6b6838a8bf664dbd0c26e5136a3e3b85140e705842"
    lock_in = tmp_path / "images.yml"
    lock_in.write_text(
        "apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImagesLock\nimages:\n"
        f"- image: {registry.host}/{src}@{digest}\n  annotations:\n    kbld.carvel.dev/id: app\n"
    )
    lock_out = tmp_path / "out.yml"
    code, _, stderr = run_cli(
        capsys, "copy", "--lock", str(lock_in), "--to-repo", f"{registry.host}/{dst}",
        "--lock-output", str(lock_out),
    )  # fmt: skip
    assert code == 0, stderr
    assert lock_out.read_text() == (
        "---\napiVersion: imgpkg.carvel.dev/v1alpha1\nimages:\n- annotations:\n"
        f"    kbld.carvel.dev/id: app\n  image: {registry.host}/{dst}@{digest}\nkind: ImagesLock\n"
    )
    with httpx.Client() as client:
        assert client.head(f"{registry.url}/v2/{dst}/manifests/{digest}").status_code == 200


def test_copy_cosign_signatures(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
) -> None:
    src, dst = unique_repo_factory("src"), unique_repo_factory("dst")
    app = copy_fixture("app", tmp_path)
    _, stdout, _ = run_cli(capsys, "push", "-i", f"{registry.host}/{src}:v1", "-f", str(app))
    digest = stdout.strip().split("@")[1].rstrip("'")
    signature = tmp_path / "sig"
    signature.mkdir()
    (signature / "payload.json").write_text('{"critical": {}}')
    sig_tag = f"sha256-{digest[7:]}.sig"
    _, stdout, _ = run_cli(
        capsys, "push", "-i", f"{registry.host}/{src}:{sig_tag}", "-f", str(signature)
    )
    sig_digest = stdout.strip().split("@")[1].rstrip("'")
    lock = tmp_path / "lock.yml"
    code, _, stderr = run_cli(
        capsys, "copy", "-i", f"{registry.host}/{src}:v1", "--to-repo", f"{registry.host}/{dst}",
        "--cosign-signatures", "--lock-output", str(lock),
    )  # fmt: skip
    assert code == 0, stderr
    tags = _tags(registry, dst)
    assert tags[sig_tag] == sig_digest
    assert tags["v1"] == digest
    assert sig_digest not in lock.read_text()  # imgpkg lists the signature (§9.13); we do not
    code, _, stderr = run_cli(
        capsys, "copy", "-i", f"{registry.host}/{src}:v1", "--to-repo",
        f"{registry.host}/{dst}-nosig",
    )  # fmt: skip
    assert code == 0, stderr
    assert sig_tag not in _tags(registry, f"{dst}-nosig")


def test_copy_through_an_oci_layout(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
) -> None:
    """registry → OCI layout (air-gap transfer medium) → registry, every digest preserved."""
    src, dst = unique_repo_factory("src"), unique_repo_factory("dst")
    expected = _upload("nested-bundle", registry, src)
    root = expected["root"]
    layout = tmp_path / "layout"
    code, _, stderr = run_cli(
        capsys, "copy", "-b", f"{registry.host}/{src}:{root['tag']}", "--to-repo", f"oci:{layout}"
    )
    assert code == 0, stderr
    index = json.loads((layout / "index.json").read_text())
    names = {
        m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
        for m in index["manifests"]
    }
    wanted = {t["tag"]: t["digest"] for t in expected["roundtrip"]["tags_in_repo"]}
    for tag, digest in wanted.items():
        if not tag.endswith(".image-locations.imgpkg") and digest in names.values():
            assert names[tag] == digest
    assert names[root["tag"]] == root["digest"]
    layered = "sha256:576619875c4a385bc5d47b277f2ed4843d3acb42634c6dcd0f764f0a15ad6fc1"
    inspected = subprocess.run(
        ["skopeo", "inspect", "--raw", f"oci:{layout}:sha256-{layered[7:]}.imgpkg"],
        capture_output=True, check=False,
    )  # fmt: skip
    assert inspected.returncode == 0, inspected.stderr
    assert "sha256:" + hashlib.sha256(inspected.stdout).hexdigest() == layered

    lock = tmp_path / "lock.yml"
    code, stdout, stderr = run_cli(
        capsys, "copy", "--tty", "-b", f"oci:{layout}:{root['tag']}",
        "--to-repo", f"{registry.host}/{dst}", "--lock-output", str(lock),
    )  # fmt: skip
    assert code == 0, stderr
    assert f"copy | will export oci:{layout}@{root['digest']}" in stdout
    repo_ref = f"{registry.host}/{dst}"
    assert lock.read_text() == expected["roundtrip"]["lock_output"].replace("{REPO}", repo_ref)
    out = tmp_path / "pulled"
    code, _, stderr = run_cli(capsys, "pull", "-r", "--lock", str(lock), "-o", str(out))
    assert code == 0, stderr
    bundle = next(i for i in expected["images"] if i.get("manifest_digest") == root["digest"])
    after = bundle["bundle"]["images_yml_after_pull_from_relocated_repo"]
    assert (out / ".imgpkg" / "images.yml").read_text() == after.replace("{REPO}", repo_ref)


# --- the destination survey: one listing for a repository's many tags --------------------------


def _bundle_of_eight(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], host: str, repo: str
) -> str:
    with RegistryClient(RegistryOptions()) as client:
        refs = populate(client, host, 8, 8 * 3 * 1024)
    bundle = write_images_lock(tmp_path / "bundle", refs)
    ref = f"{host}/{repo}:v1"
    code, _, stderr = run_cli(capsys, "push", "-b", ref, "-f", str(bundle))
    assert code == 0, stderr
    return ref


def _to(log: str, repo: str, request: str) -> int:
    """Requests to ``repo``: ``request`` is the method and what follows the repository
    (``GET tags/list``, ``HEAD manifests/``)."""
    method, what = request.split(" ")
    return sum(1 for line in log.splitlines() if f'"{method} /v2/{repo}/{what}' in line)


def _copy_logged(
    capsys: pytest.CaptureFixture[str], registry: RegistryServer, source: str, to_repo: str
) -> str:
    """``copy -b source --to-repo to_repo``, which must succeed; what ``registry`` logged."""
    start = registry.log_size()
    code, _, stderr = run_cli(capsys, "copy", "-b", source, "--to-repo", to_repo)
    assert code == 0, stderr
    return registry.read_log_since(start, max_lines=100_000)


def test_a_new_repository_is_listed_once_instead_of_asked_for_each_tag(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
) -> None:
    source = _bundle_of_eight(tmp_path, capsys, registry.host, unique_repo_factory("src"))
    dst = unique_repo_factory("dst")
    first = _copy_logged(capsys, registry, source, f"{registry.host}/{dst}")
    assert _to(first, dst, "GET tags/list") == 1  # answered 404 NAME_UNKNOWN
    assert _to(first, dst, "HEAD manifests/") == 0  # no tag asked: none can be there
    puts = _to(first, dst, "PUT manifests/")
    assert puts >= 10  # eight images, the bundle, its locations
    # Again: the listing names the tags, so each is asked (where does it point?); all skip.
    again = _copy_logged(capsys, registry, source, f"{registry.host}/{dst}")
    assert _to(again, dst, "GET tags/list") == 1
    assert _to(again, dst, "HEAD manifests/") == puts
    assert _to(again, dst, "PUT manifests/") == 0
    assert "blobs/uploads" not in again


class _NoListing(ProxyHandler):
    """A registry that refuses tag listings (403 ``DENIED``, as one whose policy grants
    pull and push but not listing does) and forwards the rest."""

    def _handle(self) -> None:
        proxy: ReverseProxy = self.server.proxy  # type: ignore[attr-defined]
        body = self.read_body()
        if self.command == "GET" and "/tags/list" in self.path:
            error = {"errors": [{"code": "DENIED", "message": "listing is not allowed"}]}
            self.answer(403, [("Content-Type", "application/json")], json.dumps(error).encode())
            return
        upstream = proxy.forward(self.command, self.path, self.forwarded_headers(proxy), body)
        self.relay(proxy, upstream)


def test_a_refused_listing_falls_back_to_asking_each_tag(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
) -> None:
    source = _bundle_of_eight(tmp_path, capsys, registry.host, unique_repo_factory("src"))
    dst = unique_repo_factory("dst")
    with ReverseProxy(registry.url, _NoListing) as proxy:
        log = _copy_logged(capsys, registry, source, f"{proxy.host}/{dst}")
    puts = _to(log, dst, "PUT manifests/")
    assert puts >= 10
    assert _to(log, dst, "GET tags/list") == 0  # refused by the proxy, never forwarded
    assert _to(log, dst, "HEAD manifests/") == puts  # every tag asked, as before listings
