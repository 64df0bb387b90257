"""Every decoder of outside data, fuzzed: a value or one of our error values, never an exception.

Outside data is whatever a registry, a tarball, a file the user points at or
the environment hands us: tar headers and PAX records, an imgpkg tarball's
``manifest.json`` and entry names, OCI manifests, indexes, configs and
descriptors, images.yml and the other lock and metadata files, plan files,
docker config files, ``WWW-Authenticate``, ``Link`` and upload ``Range``
headers, token and error bodies.  Each test feeds one decoder random bytes,
valid documents with random bytes changed (so the inputs get past the first
checks), and JSON of random shape; it passes when the decoder returns
normally: a success, or a failure carrying a message (``Result[..., str]``
decoders: a string).  Inputs are bounded (hypothesis sizes), and a YAML alias
bomb is checked separately against a memory bound.

CI runs the ``ci`` profile (100 examples a test); ``HYPOTHESIS_PROFILE=fuzz``
runs 10,000 (see ``docs/reliability.md`` for the last run and its times).
"""

from __future__ import annotations

import io
import json
import tarfile
import tracemalloc
from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Result, Success

from imgpkg_pure.bundle.any_lock import parse_bundle_or_images_lock
from imgpkg_pure.bundle.bundle_lock import parse_bundle_lock
from imgpkg_pure.bundle.bundle_yml import parse_bundle_metadata
from imgpkg_pure.bundle.image_locations import parse_image_locations
from imgpkg_pure.bundle.image_lock import parse_image_lock
from imgpkg_pure.bundle.images_lock import parse_images_lock
from imgpkg_pure.imgpkg_tar import decode_header, decode_name
from imgpkg_pure.imgpkg_tar._layout import parse_entry_name
from imgpkg_pure.imgpkg_tar._manifest import parse_tar_manifest
from imgpkg_pure.imgpkg_tar._tarfmt import parse_pax_records
from imgpkg_pure.oci.codec import (
    parse_config,
    parse_descriptor_json,
    parse_index,
    parse_manifest,
    parse_manifest_or_index,
)
from imgpkg_pure.plan import decode_plan
from imgpkg_pure.registry_auth import parse_docker_config
from imgpkg_pure.registry_wire import (
    parse_error_body,
    parse_link_next,
    parse_token_response,
    parse_upload_range,
    parse_www_authenticate,
)

D = "sha256:" + "a" * 64

MANIFEST = json.dumps(
    {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D, "size": 2},
     "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": D,
                 "size": 10, "urls": ["https://example.com/x"], "annotations": {"a": "b"}}],
     "annotations": {"org.opencontainers.image.title": "x"}}
).encode()  # fmt: skip
INDEX = json.dumps(
    {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
     "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": D,
                    "size": 7, "platform": {"architecture": "amd64", "os": "linux"}}]}
).encode()  # fmt: skip
CONFIG = json.dumps(
    {"architecture": "amd64", "os": "linux", "config": {"Labels": {"dev.carvel.imgpkg.bundle": ""}},
     "rootfs": {"type": "layers", "diff_ids": [D]}, "history": [{"created_by": "imgpkg"}]}
).encode()  # fmt: skip
IMAGES_YML = (
    "---\napiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImagesLock\nimages:\n"
    f"- image: registry.example.com/app@{D}\n  annotations:\n    kbld.carvel.dev/id: app\n"
).encode()
BUNDLE_LOCK = (
    "apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: BundleLock\nbundle:\n"
    f"  image: registry.example.com/b@{D}\n  tag: v1\n"
).encode()
IMAGE_LOCK = (
    f"apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImageLock\nimages:\n- image: r.io/a@{D}\n"
).encode()
LOCATIONS = (
    "apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImageLocations\nimages:\n"
    f"- image: r.io/a@{D}\n  isBundle: false\n"
).encode()
BUNDLE_YML = (
    b"apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: Bundle\nmetadata:\n  name: x\n"
    b"authors:\n- name: a\n  email: a@b\nwebsites:\n- url: https://x\n"
)
TAR_MANIFEST = json.dumps(
    [{"Layers": [f"sha256-{'a' * 64}.tar.gz"], "ImageRef": f"r.io/a@{D}",
      "Config": "", "Tags": ["v1"]}]
).encode()  # fmt: skip
DOCKER_CONFIG = json.dumps(
    {"auths": {"r.io": {"auth": "dTpw", "identitytoken": "t"}, "https://index.docker.io/v1/": {}},
     "credHelpers": {"gcr.io": "gcloud"}, "credsStore": "desktop"}
).encode()  # fmt: skip
TOKEN = json.dumps({"token": "t", "expires_in": 60, "refresh_token": "r"}).encode()
ERRORS = json.dumps({"errors": [{"code": "DENIED", "message": "no", "detail": {"x": 1}}]}).encode()


def _tar_header() -> bytes:
    info = tarfile.TarInfo("sha256-" + "a" * 64 + ".tar.gz")
    info.size = 10
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(b"x" * 10))
    return buffer.getvalue()[:512]


TAR_HEADER = _tar_header()


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` with a few random bytes replaced, inserted or cut."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(("replace", "insert", "cut")))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "replace" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif data:
            del data[at : at + draw(st.integers(1, 16))]
    return bytes(data)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def _json_like(seed: bytes) -> st.SearchStrategy[bytes]:
    """Random bytes, the seed mutated, random JSON, and the seed's own keys given random values."""
    obj = json.loads(seed)

    def reshaped(values: list[Any]) -> bytes:
        if isinstance(obj, dict):
            return json.dumps(dict(zip(obj, values, strict=False))).encode()
        return json.dumps([dict(zip(obj[0], values, strict=False))]).encode()

    keys = len(obj) if isinstance(obj, dict) else len(obj[0])
    return st.one_of(
        st.binary(max_size=2048),
        mutated(seed),
        JSON.map(lambda value: json.dumps(value).encode()),
        st.lists(JSON, min_size=keys, max_size=keys).map(reshaped),
    )


def _text_like(seed: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=2048),
        mutated(seed),
        st.text(max_size=400).map(str.encode),
        JSON.map(lambda value: json.dumps(value).encode()),  # JSON is YAML too
    )


def returns_normally(result: object) -> None:
    """A value, or a failure carrying our error value (a message, or a string)."""
    if isinstance(result, Success):
        return
    assert isinstance(result, Failure), result
    error = result.failure()
    message = error if isinstance(error, str) else error.message
    assert isinstance(message, str) and message


DocumentDecoder = Callable[[bytes, str], Result[Any, Any]]


@given(_json_like(MANIFEST))
def test_oci_manifest(raw: bytes) -> None:
    returns_normally(parse_manifest(raw, "manifest"))
    returns_normally(parse_manifest_or_index(raw, "manifest", None))


@given(_json_like(INDEX))
def test_oci_index(raw: bytes) -> None:
    returns_normally(parse_index(raw, "index"))
    returns_normally(
        parse_manifest_or_index(raw, "index", "application/vnd.oci.image.index.v1+json")
    )


@given(_json_like(CONFIG))
def test_oci_config(raw: bytes) -> None:
    returns_normally(parse_config(raw, "config"))


@given(_json_like(json.dumps(json.loads(MANIFEST)["layers"][0]).encode()))
def test_oci_descriptor(raw: bytes) -> None:
    returns_normally(parse_descriptor_json(raw, "descriptor"))


@given(_text_like(IMAGES_YML))
def test_images_lock(raw: bytes) -> None:
    returns_normally(parse_images_lock(raw, "images.yml"))
    returns_normally(parse_bundle_or_images_lock(raw, "lock"))


@given(_text_like(BUNDLE_LOCK))
def test_bundle_lock(raw: bytes) -> None:
    returns_normally(parse_bundle_lock(raw, "bundle.lock.yml"))


@given(_text_like(IMAGE_LOCK))
def test_image_lock(raw: bytes) -> None:
    returns_normally(parse_image_lock(raw, "image.lock.yml"))


@given(_text_like(LOCATIONS))
def test_image_locations(raw: bytes) -> None:
    returns_normally(parse_image_locations(raw, "image-locations.yml"))


@given(_text_like(BUNDLE_YML))
def test_bundle_metadata(raw: bytes) -> None:
    returns_normally(parse_bundle_metadata(raw, "bundle.yml"))


@given(_json_like(TAR_MANIFEST))
def test_imgpkg_tar_manifest_json(raw: bytes) -> None:
    returns_normally(parse_tar_manifest(raw, "manifest.json"))


@given(
    st.one_of(
        st.binary(min_size=512, max_size=512),
        mutated(TAR_HEADER).map(lambda b: (b + bytes(512))[:512]),
    )
)
def test_tar_header(block: bytes) -> None:
    returns_normally(decode_header(block))
    assert isinstance(decode_name(block[:100]), str)


@given(st.one_of(st.binary(max_size=600), mutated(b"30 path=" + b"a" * 20 + b"\n11 size=9\n")))
def test_pax_records(data: bytes) -> None:
    returns_normally(parse_pax_records(data))


@given(st.one_of(st.text(max_size=120), st.just("sha256-" + "a" * 64 + ".tar.gz")))
def test_tar_entry_name(name: str) -> None:
    returns_normally(parse_entry_name(name))


@given(st.one_of(st.binary(max_size=4096), mutated(b"IMGPKGPLAN")))
def test_plan_file(data: bytes) -> None:
    returns_normally(decode_plan(data))


@given(_json_like(DOCKER_CONFIG))
def test_docker_config(raw: bytes) -> None:
    returns_normally(parse_docker_config(raw, "config.json"))


HEADER_TEXT = st.one_of(
    st.text(max_size=300),
    mutated(
        b'Bearer realm="https://auth.example.com/token",service="r",scope="repository:a:pull"'
    ).map(lambda b: b.decode("latin-1")),
    mutated(b'<https://r.io/v2/a/tags/list?n=2&last=b>; rel="next"').map(
        lambda b: b.decode("latin-1")
    ),
)


@given(HEADER_TEXT)
def test_www_authenticate(header: str) -> None:
    returns_normally(parse_www_authenticate(header))


@given(HEADER_TEXT)
def test_link_and_range_headers(header: str) -> None:
    found = parse_link_next(header)
    assert found is None or isinstance(found, str)
    held = parse_upload_range(header)
    assert held is None or isinstance(held, int)


@given(_json_like(TOKEN))
def test_token_response(raw: bytes) -> None:
    returns_normally(parse_token_response(raw, "token"))


@given(_json_like(ERRORS))
def test_error_body(raw: bytes) -> None:
    entries = parse_error_body(raw)
    assert isinstance(entries, tuple)


def test_a_yaml_alias_bomb_is_bounded() -> None:
    """Nine levels of nine aliases each (a billion laughs): an error or a value, in bounded
    memory (go-yaml refuses excessive aliasing; so must we)."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, 10):
        refs = ",".join(f"*a{n - 1}" for _ in range(9))
        lines.append(f"a{n}: &a{n} [{refs}]")
    bomb = (
        "\n".join(lines) + "\napiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImagesLock\n"
    ).encode()
    tracemalloc.start()
    try:
        returns_normally(parse_images_lock(bomb, "images.yml"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, peak
