"""``copy`` and non-distributable (foreign) layers (reference §5.8), against real servers.

The source image is pushed to a real loopback registry with real digests
(distribution refuses manifests whose layers list ``urls`` unless its
``validation.manifests.urls.allow`` says otherwise, so this module runs its own
``docker-registry`` with that setting added to the shared fixtures' config):
a regular layer, and a foreign layer whose descriptor lists ``urls`` on a
small HTTP server (``http.server`` on loopback).  The foreign blob is in the
source repository for some tests and absent for others; with
``--include-non-distributable-layers`` an absent one is read from its
``urls``, verified.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from attrs import frozen

from imgpkg_pure.imgpkg_tar import MISSING_LAYER_HINT
from tests.cli.helpers import run_cli
from tests.registry_fixtures import RegistryServer, find_registry_binary, running_registry

DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER: Final = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN: Final = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
OCI_LAYER: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_NONDIST_GZIP: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_NONDIST: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar"

SKIPPED_WARNING: Final = (
    "copy | Warning: Skipped the followings layer(s) due to it being non-distributable. "
    "If you would like to include non-distributable layers, use the "
    "--include-non-distributable-layers flag"
)
NOTHING_FOREIGN_WARNING: Final = (
    "copy | Warning: '--include-non-distributable-layers' flag provided, but no images "
    "contained a non-distributable layer."
)
FLAG: Final = "--include-non-distributable-layers"


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tar(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


# --- the HTTP server behind the foreign layer's urls -------------------------------------


class BlobServer:
    """Serves ``routes`` (path → bytes) on loopback, ``redirects`` (path → path) with a 302;
    every other path is 404.  ``hits`` lists the paths asked for, in order.
    """

    def __init__(self) -> None:
        self.routes: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits.append(self.path)
                if self.path in server.redirects:
                    self.send_response(302)
                    self.send_header("Location", server.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = server.routes.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                del format, args

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{path}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A plain-HTTP registry that accepts foreign layers' ``urls`` (http and https)."""
    root = tmp_path_factory.mktemp("registry-foreign")
    shim = root / "docker-registry-allowing-urls"
    shim.write_text(
        "#!/bin/sh\n"
        "# append validation.manifests.urls.allow to the config, then run the registry\n"
        "printf 'validation:\\n  manifests:\\n    urls:\\n      allow:\\n"
        '      - ^https?://\\n\' >> "$2"\n'
        f'exec "{find_registry_binary()}" "$@"\n'
    )
    shim.chmod(0o755)
    with running_registry(root / "server", binary=shim) as server:
        yield server


@pytest.fixture
def blob_server() -> Iterator[BlobServer]:
    server = BlobServer()
    try:
        yield server
    finally:
        server.close()


# --- the source image ----------------------------------------------------------------------


@frozen(kw_only=True)
class Image:
    ref: str  # repo:tag
    repo: str  # host/repo
    digest: str  # the manifest digest
    foreign: bytes
    foreign_digest: str
    layer_digest: str
    raw: bytes

    @property
    def foreign_entry(self) -> str:
        return f"sha256-{self.foreign_digest[7:]}.tar.gz"


def _push_blob(http: httpx.Client, repo: str, data: bytes) -> None:
    started = http.post(f"/v2/{repo}/blobs/uploads/")
    assert started.status_code == 202, started.text
    location = httpx.URL(started.headers["Location"]).copy_add_param("digest", _sha(data))
    put = http.put(location, content=data)
    assert put.status_code == 201, put.text


def _source_image(
    registry: RegistryServer,
    repo: str,
    urls: list[str],
    *,
    held: bool,
    media_type: str = DOCKER_FOREIGN,
    seed: str = "foreign",
) -> Image:
    """An image whose first layer is foreign (as in Windows images); its blob in the
    repository only when ``held``."""
    oci = media_type != DOCKER_FOREIGN
    foreign_tar = _tar("Files/foreign.txt", f"{seed} base layer\n".encode() * 50)
    foreign = foreign_tar if media_type == OCI_NONDIST else gzip.compress(foreign_tar, mtime=0)
    layer_tar = _tar("Files/app.txt", f"{seed} app\n".encode())
    layer = gzip.compress(layer_tar, mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "windows",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [_sha(foreign_tar), _sha(layer_tar)]},
        },
        sort_keys=True,
    ).encode()
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
            "size": len(config),
            "digest": _sha(config),
        },
        "layers": [
            {"mediaType": media_type, "size": len(foreign), "digest": _sha(foreign), "urls": urls},
            {
                "mediaType": OCI_LAYER if oci else DOCKER_LAYER,
                "size": len(layer),
                "digest": _sha(layer),
            },
        ],
    }
    raw = json.dumps(manifest, indent=3).encode()
    with registry.client() as http:
        _push_blob(http, repo, config)
        _push_blob(http, repo, layer)
        if held:
            _push_blob(http, repo, foreign)
        put = http.put(
            f"/v2/{repo}/manifests/v1",
            content=raw,
            headers={"Content-Type": manifest["mediaType"]},
        )
        assert put.status_code == 201, put.text
    return Image(
        ref=f"{registry.host}/{repo}:v1",
        repo=f"{registry.host}/{repo}",
        digest=_sha(raw),
        foreign=foreign,
        foreign_digest=_sha(foreign),
        layer_digest=_sha(layer),
        raw=raw,
    )


def _blob(registry: RegistryServer, repo: str, digest: str) -> bytes | None:
    with registry.client() as http:
        got = http.get(f"/v2/{repo}/blobs/{digest}")
    return got.content if got.status_code == 200 else None


def _manifest(registry: RegistryServer, repo: str, digest: str) -> bytes:
    with registry.client() as http:
        got = http.get(
            f"/v2/{repo}/manifests/{digest}",
            headers={"Accept": f"{DOCKER_MANIFEST},{OCI_MANIFEST}"},
        )
    assert got.status_code == 200, got.text
    return got.content


def _entries(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        out: dict[str, bytes] = {}
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            assert handle is not None
            out[member.name] = handle.read()
        return out


def _skipped_block(image_ref: str, layer: str) -> str:
    return "\n".join(
        [SKIPPED_WARNING, f"copy |  - Image: {image_ref}", "copy |    Layers:",
         f"copy |      - {layer}"]
    ) + "\n"  # fmt: skip


# --- the tests -----------------------------------------------------------------------------


def test_repo_to_tar_to_repo_without_the_flag_keeps_the_layer_foreign(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
    blob_server: BlobServer,
) -> None:
    src, dst = unique_repo_factory("src"), unique_repo_factory("dst")
    image = _source_image(registry, src, [blob_server.url("/foreign")], held=True)
    blob_server.routes["/foreign"] = image.foreign
    tar = tmp_path / "image.tar"

    code, stdout, stderr = run_cli(capsys, "copy", "--tty", "-i", image.ref, "--to-tar", str(tar))
    assert code == 0, stderr
    # imgpkg names the source image for a tar destination
    assert _skipped_block(f"{image.repo}@{image.digest}", image.foreign_digest) in stdout
    assert stdout.endswith("Succeeded\n")
    entries = _entries(tar)
    assert image.foreign_entry not in entries
    assert f"sha256-{image.layer_digest[7:]}.tar.gz" in entries

    code, stdout, stderr = run_cli(
        capsys, "copy", "--tty", "--tar", str(tar), "--to-repo", f"{registry.host}/{dst}"
    )
    assert code == 0, stderr
    tagging = stdout.index("copy | Tagging images")
    warning = stdout.index(SKIPPED_WARNING)
    assert tagging < warning
    # ... and the destination image for a repository destination
    assert _skipped_block(f"{registry.host}/{dst}@{image.digest}", image.foreign_digest) in stdout
    assert _manifest(registry, dst, image.digest) == image.raw
    assert _blob(registry, dst, image.foreign_digest) is None
    assert _blob(registry, dst, image.layer_digest) is not None

    # the same tar with the flag: imgpkg's words exactly, and nothing is written
    other = unique_repo_factory("other")
    code, stdout, stderr = run_cli(
        capsys, "copy", "--tar", str(tar), "--to-repo", f"{registry.host}/{other}", FLAG
    )
    assert code == 1
    assert stderr == (
        f"imgpkg-pure: Error: file {image.foreign_entry} not found in tar ({MISSING_LAYER_HINT})\n"
    )
    assert MISSING_LAYER_HINT == (
        "hint: This may be because when copying to a tarball, the "
        "--include-non-distributable-layers flag should have been provided."
    )
    with registry.client() as http:
        assert http.get(f"/v2/{other}/tags/list").status_code == 404
    assert blob_server.hits == []  # nothing asks the urls without the flag


def test_repo_to_tar_to_repo_with_the_flag_reads_the_source_registry(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
    blob_server: BlobServer,
) -> None:
    src, dst = unique_repo_factory("src"), unique_repo_factory("dst")
    image = _source_image(registry, src, [blob_server.url("/foreign")], held=True)
    tar = tmp_path / "image.tar"

    code, stdout, stderr = run_cli(
        capsys, "copy", "--tty", "-i", image.ref, "--to-tar", str(tar), FLAG
    )
    assert code == 0, stderr
    assert "Warning" not in stdout
    assert _entries(tar)[image.foreign_entry] == image.foreign
    assert blob_server.hits == []  # the registry held it: its urls were not needed

    code, stdout, stderr = run_cli(
        capsys, "copy", "--tty", "--tar", str(tar), "--to-repo", f"{registry.host}/{dst}", FLAG
    )
    assert code == 0, stderr
    assert "Warning" not in stdout
    assert _blob(registry, dst, image.foreign_digest) == image.foreign
    assert _manifest(registry, dst, image.digest) == image.raw
    assert blob_server.hits == []


@pytest.mark.parametrize("media_type", [DOCKER_FOREIGN, OCI_NONDIST_GZIP, OCI_NONDIST])
def test_repo_without_the_blob_to_tar_with_the_flag_reads_the_urls(  # noqa: PLR0917
    media_type: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
    blob_server: BlobServer,
) -> None:
    src, dst = unique_repo_factory("src"), unique_repo_factory("dst")
    urls = [blob_server.url("/gone"), blob_server.url("/foreign")]
    image = _source_image(registry, src, urls, held=False, media_type=media_type, seed=media_type)
    assert _blob(registry, src, image.foreign_digest) is None
    blob_server.routes["/foreign"] = image.foreign
    tar = tmp_path / "image.tar"

    code, stdout, stderr = run_cli(
        capsys, "copy", "--tty", "-i", image.ref, "--to-tar", str(tar), FLAG
    )
    assert code == 0, stderr
    assert "Warning" not in stdout
    assert _entries(tar)[image.foreign_entry] == image.foreign
    assert blob_server.hits == ["/gone", "/foreign"]  # each URL in order

    code, _, stderr = run_cli(
        capsys, "copy", "--tar", str(tar), "--to-repo", f"{registry.host}/{dst}", FLAG
    )
    assert code == 0, stderr
    assert _blob(registry, dst, image.foreign_digest) == image.foreign
    assert blob_server.hits == ["/gone", "/foreign"]  # the tar had it


def test_repo_to_repo_and_layout_with_the_flag_upload_from_the_urls(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
    blob_server: BlobServer,
) -> None:
    src, dst = unique_repo_factory("src"), unique_repo_factory("dst")
    image = _source_image(registry, src, [blob_server.url("/foreign")], held=False)
    blob_server.routes["/foreign"] = image.foreign

    code, stdout, stderr = run_cli(
        capsys, "copy", "--tty", "-i", image.ref, "--to-repo", f"{registry.host}/{dst}", FLAG
    )
    assert code == 0, stderr
    assert "Warning" not in stdout
    assert _blob(registry, dst, image.foreign_digest) == image.foreign
    assert _manifest(registry, dst, image.digest) == image.raw

    layout = tmp_path / "layout"
    code, _, stderr = run_cli(capsys, "copy", "-i", image.ref, "--to-repo", f"oci:{layout}", FLAG)
    assert code == 0, stderr
    stored = layout / "blobs" / "sha256" / image.foreign_digest[7:]
    assert stored.read_bytes() == image.foreign
    assert blob_server.hits == ["/foreign", "/foreign"]

    # without the flag, into a layout: the manifest keeps the layer, no blob is written
    bare = tmp_path / "bare"
    code, _, stderr = run_cli(capsys, "copy", "-i", image.ref, "--to-repo", f"oci:{bare}")
    assert code == 0, stderr
    assert (bare / "blobs" / "sha256" / image.digest[7:]).read_bytes() == image.raw
    assert not (bare / "blobs" / "sha256" / image.foreign_digest[7:]).exists()
    assert blob_server.hits == ["/foreign", "/foreign"]


def test_a_saved_plan_reads_the_urls_and_rechecks_them(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
    blob_server: BlobServer,
) -> None:
    src, dst = unique_repo_factory("src"), unique_repo_factory("dst")
    url = blob_server.url("/foreign")
    image = _source_image(registry, src, [url], held=False)
    blob_server.routes["/foreign"] = image.foreign
    plan = tmp_path / "copy.plan"
    args = ["-i", image.ref, "--to-repo", f"{registry.host}/{dst}", FLAG]

    code, _, stderr = run_cli(capsys, "plan", "copy", *args, "--out", str(plan))
    assert code == 0, stderr
    code, stdout, stderr = run_cli(capsys, "show", str(plan))
    assert code == 0, stderr
    assert f"  urls {url} holds {image.foreign_digest}\n" in stdout
    assert f"+ blob {image.foreign_digest} ({len(image.foreign)} bytes, from urls {url})" in stdout
    assert blob_server.hits == []  # planning reads nothing from the urls

    code, _, stderr = run_cli(capsys, "apply", str(plan))
    assert code == 0, stderr
    assert _blob(registry, dst, image.foreign_digest) == image.foreign

    # the URL stops serving: a plan for a new destination is stale before it starts
    other = unique_repo_factory("other")
    code, _, stderr = run_cli(
        capsys, "plan", "copy", "-i", image.ref, "--to-repo", f"{registry.host}/{other}",
        FLAG, "--out", str(plan),
    )  # fmt: skip
    assert code == 0, stderr
    del blob_server.routes["/foreign"]
    code, _, stderr = run_cli(capsys, "apply", str(plan))
    assert code == 1
    assert stderr == (
        f"imgpkg-pure: Error: Saved plan is stale: source blob {image.foreign_digest} "
        f"is no longer in urls {url}; run plan again\n"
    )


@pytest.mark.parametrize("destination", ["tar", "repo"])
def test_a_url_serving_other_bytes_is_one_error_line(  # noqa: PLR0917
    destination: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
    blob_server: BlobServer,
) -> None:
    src, dst = unique_repo_factory("src"), unique_repo_factory("dst")
    bad, good = blob_server.url("/bad"), blob_server.url("/good")
    image = _source_image(registry, src, [bad, good], held=False)
    wrong = bytes(reversed(image.foreign))  # same size, other digest
    blob_server.routes["/bad"] = wrong
    blob_server.routes["/good"] = image.foreign
    tar = tmp_path / "image.tar"
    target = ["--to-tar", str(tar)] if destination == "tar" else [
        "--to-repo", f"{registry.host}/{dst}"]  # fmt: skip

    code, _, stderr = run_cli(capsys, "copy", "-i", image.ref, *target, FLAG)
    assert code == 1
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("imgpkg-pure: Error: ")
    expected = (
        f"Fetching non-distributable layer {image.foreign_digest} from {bad}: "
        f"the content has digest {_sha(wrong)}, not {image.foreign_digest}"
    )
    assert lines[0].endswith(expected)
    assert blob_server.hits == ["/bad"]  # other bytes are an error, not a reason to go on
    assert not tar.exists()
    assert _blob(registry, dst, image.foreign_digest) is None


def test_no_url_serves_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
    blob_server: BlobServer,
) -> None:
    src = unique_repo_factory("src")
    image = _source_image(registry, src, [blob_server.url("/a"), blob_server.url("/b")], held=False)
    code, _, stderr = run_cli(
        capsys, "copy", "-i", image.ref, "--to-tar", str(tmp_path / "t.tar"), FLAG
    )
    assert code == 1
    assert stderr.count("\n") == 1
    assert (
        f"Fetching non-distributable layer {image.foreign_digest} from its urls: "
        f"GET {blob_server.url('/a')}: 404 Not Found; GET {blob_server.url('/b')}: 404 Not Found"
    ) in stderr


def test_the_flag_without_foreign_layers_warns(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
) -> None:
    src, dst = unique_repo_factory("src"), unique_repo_factory("dst")
    tree = tmp_path / "in"
    tree.mkdir()
    (tree / "a.txt").write_text("a")
    assert run_cli(capsys, "push", "-i", f"{registry.host}/{src}:v1", "-f", str(tree))[0] == 0
    for target in (["--to-tar", str(tmp_path / "t.tar")], ["--to-repo", f"{registry.host}/{dst}"]):
        code, stdout, stderr = run_cli(
            capsys, "copy", "--tty", "-i", f"{registry.host}/{src}:v1", *target, FLAG
        )
        assert code == 0, stderr
        assert f"{NOTHING_FOREIGN_WARNING}\n" in stdout
        assert SKIPPED_WARNING not in stdout
        code, stdout, stderr = run_cli(
            capsys, "copy", "--tty", "-i", f"{registry.host}/{src}:v1", *target
        )
        assert code == 0, stderr
        assert "Warning" not in stdout
