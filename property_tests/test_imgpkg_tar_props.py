"""Laws of the imgpkg tarball codec and of its reader and writer.

* ``parse ∘ encode = id`` on ``TarManifest`` values, and the encoding is Go's:
  compact, struct key order, ``null`` for nil, HTML characters escaped.
* The encoding depends only on the set of elements (canonical order).
* A changed ``Raw`` is refused, naming the element.
* The layer entries are distinct, sorted, and leave out exactly the
  non-distributable layers.
* Header blocks decode to what was encoded (PAX for long names and ≥ 8 GiB).
* Writing then reading gives every blob back, verified; the file has the
  planned size; writing is deterministic; every proper prefix is refused as
  truncated; resuming from any prefix gives the same bytes and fetches only
  what the prefix lacked.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure, Result, Success
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import Algorithm, Digest, digest_of
from imgpkg_pure.imgpkg_tar import (
    MAX_SPECIAL_SIZE,
    TarError,
    TarImage,
    TarIndex,
    TarLayer,
    TarManifest,
    TarTruncated,
    decode_header,
    encode_tar_manifest,
    entry_header,
    layer_entries,
    layer_entry_name,
    parse_pax_records,
    parse_tar_manifest,
    plan_tar,
    skipped_layers,
)
from imgpkg_pure.media_types import (
    DOCKER_LAYER_FOREIGN,
    DOCKER_LAYER_GZIP,
    OCI_LAYER_GZIP,
    OCI_LAYER_NONDIST,
    is_distributable,
)
from imgpkg_pure.oci import Annotations, Descriptor
from imgpkg_pure.store.content.errors import BlobNotFound, StoreError
from imgpkg_pure.store.transports.imgpkg_tar import ImgpkgTarball, TarWriteReport, write_imgpkg_tar

_V = TypeVar("_V")
_E = TypeVar("_E")

# --- strategies -------------------------------------------------------------------

# Text that exercises Go's escaping: HTML characters, U+2028/9, controls, non-ASCII.
tricky_text = st.text(
    alphabet=st.sampled_from(list('ab<>&"\\/\n\t\x00\x1f\x7f\u2028\u2029é€😀 {}:,')),
    max_size=24,
)
refs = st.lists(tricky_text.map(lambda t: "r.io/repo@" + t), min_size=1, max_size=2).map(tuple)
labels = st.none() | st.dictionaries(tricky_text, tricky_text, max_size=3).map(Annotations.of)
algorithms: st.SearchStrategy[Algorithm] = st.sampled_from(["sha256", "sha512"])
layer_media_types = st.sampled_from(
    [OCI_LAYER_GZIP, DOCKER_LAYER_GZIP, DOCKER_LAYER_FOREIGN, OCI_LAYER_NONDIST, "x/helm<&>"]
)


@st.composite
def raws(draw: st.DrawFn) -> tuple[bytes, Digest]:
    raw = draw(tricky_text).encode("utf-8")
    return raw, digest_of(raw, draw(algorithms))


@st.composite
def layers(draw: st.DrawFn, blobs: list[bytes] | None = None) -> TarLayer:
    data = draw(st.sampled_from(blobs)) if blobs else draw(st.binary(max_size=8))
    return TarLayer(
        media_type=draw(layer_media_types),
        digest=digest_of(data, draw(algorithms)) if not blobs else digest_of(data),
        diff_id=draw(st.sampled_from(["", str(digest_of(data + b"u"))])),
        size=len(data) if blobs else draw(st.integers(0, 2**63 - 1)),
    )


@st.composite
def images(draw: st.DrawFn, blobs: list[bytes] | None = None) -> TarImage:
    config, config_digest = draw(raws())
    manifest, manifest_digest = draw(raws())
    return TarImage(
        refs=draw(refs),
        layers=tuple(draw(st.lists(layers(blobs), max_size=3))),
        config_digest=config_digest,
        config_raw=config,
        manifest_media_type=draw(tricky_text),
        manifest_digest=manifest_digest,
        manifest_raw=manifest,
        tag=draw(tricky_text),
        orig_ref=draw(tricky_text),
        labels=draw(labels),
    )


def indexes(depth: int = 2) -> st.SearchStrategy[TarIndex]:
    children = st.lists(indexes(depth - 1), max_size=2) if depth > 0 else st.just([])

    @st.composite
    def build(draw: st.DrawFn) -> TarIndex:
        raw, digest = draw(raws())
        return TarIndex(
            refs=draw(refs),
            images=tuple(draw(st.lists(images(), max_size=2))),
            indexes=tuple(draw(children)),
            media_type=draw(tricky_text),
            digest=digest,
            raw=raw,
            tag=draw(tricky_text),
            orig_ref=draw(tricky_text),
            labels=draw(labels),
        )

    return build()


manifests = st.lists(st.one_of(images(), indexes()), max_size=4).map(
    lambda elements: TarManifest(elements=elements)
)


# --- codec laws -------------------------------------------------------------------------


@given(manifests)
def test_parse_inverts_encode(manifest: TarManifest) -> None:
    encoded = encode_tar_manifest(manifest)
    assert parse_tar_manifest(encoded, "m") == Success(manifest)


@given(manifests, st.randoms())
def test_encoding_depends_only_on_the_set_of_elements(
    manifest: TarManifest, random: object
) -> None:
    shuffled = list(manifest.elements)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    again = TarManifest(elements=shuffled)
    assert again == manifest
    assert encode_tar_manifest(again) == encode_tar_manifest(manifest)


@given(manifests)
def test_elements_are_in_imgpkgs_order(manifest: TarManifest) -> None:
    parsed = parse_tar_manifest(encode_tar_manifest(manifest), "m").unwrap()
    keys = [element.sort_key for element in parsed.elements]
    assert keys == sorted(keys)


_IMAGE_KEYS = ["Refs", "Layers", "Config", "Manifest", "Tag", "OrigRef", "Labels"]
_INDEX_KEYS = [
    "Refs",
    "Images",
    "Indexes",
    "MediaType",
    "Digest",
    "Raw",
    "Tag",
    "OrigRef",
    "Labels",
]


_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _check_go_shape(value: object, keys: list[str]) -> None:
    assert isinstance(value, dict)
    assert list(value) == keys


@given(manifests)
def test_encoding_is_go_json(manifest: TarManifest) -> None:
    encoded = encode_tar_manifest(manifest)
    text = encoded.decode("utf-8")
    for character in "<>&\u2028\u2029\n":
        assert character not in text
    assert not text.endswith("\n")
    value = json.loads(text)
    if not manifest.elements:
        assert value is None
        return
    assert isinstance(value, list)
    reference = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for character, escape in _GO_ESCAPES.items():
        reference = reference.replace(character, escape)
    assert reference == text
    for item, element in zip(value, manifest.elements, strict=True):
        assert list(item) == ["ImageIndex", "Image"]
        if isinstance(element, TarImage):
            assert item["ImageIndex"] is None
            _check_go_shape(item["Image"], _IMAGE_KEYS)
            assert (item["Image"]["Layers"] is None) == (not element.layers)
            assert (item["Image"]["Labels"] is None) == (element.labels is None)
        else:
            assert item["Image"] is None
            _check_go_shape(item["ImageIndex"], _INDEX_KEYS)
            assert (item["ImageIndex"]["Images"] is None) == (not element.images)
            assert (item["ImageIndex"]["Indexes"] is None) == (not element.indexes)


@given(st.lists(images(), min_size=1, max_size=3), st.data())
def test_a_changed_raw_is_refused_naming_the_element(
    elements: list[TarImage], data: st.DataObject
) -> None:
    manifest = TarManifest(elements=elements)
    value = json.loads(encode_tar_manifest(manifest))
    position = data.draw(st.integers(0, len(value) - 1))
    where = data.draw(st.sampled_from(["Config", "Manifest"]))
    value[position]["Image"][where]["Raw"] += "!"
    result = parse_tar_manifest(json.dumps(value).encode(), "t.tar: manifest.json")
    assert isinstance(result, Failure)
    message = result.failure().message
    assert f"$[{position}].Image.{where}.Raw" in message
    assert value[position]["Image"]["Refs"][0].replace("\n", "\\n") in message.replace("\n", "\\n")


@given(manifests, st.booleans())
def test_layer_entries(manifest: TarManifest, include: bool) -> None:
    entries = layer_entries(manifest, include_non_distributable=include)
    names = [str(layer.digest) for layer in entries]
    assert names == sorted(set(names))
    every = {layer.digest for layer in manifest.layers()}
    kept = {layer.digest for layer in entries}
    skipped = {
        layer.digest for layer in skipped_layers(manifest, include_non_distributable=include)
    }
    assert kept | skipped == every
    assert not kept & skipped
    distributable = {
        layer.digest for layer in manifest.layers() if is_distributable(layer.media_type)
    }
    assert kept == (every if include else distributable)


layer_names = st.one_of(
    st.binary(min_size=32, max_size=32).map(lambda b: layer_entry_name(Digest("sha256", b.hex()))),
    st.binary(min_size=64, max_size=64).map(lambda b: layer_entry_name(Digest("sha512", b.hex()))),
    st.just("manifest.json"),
)


@given(layer_names, st.integers(0, 2**40))
def test_headers_decode_to_what_was_encoded(name: str, size: int) -> None:
    blocks = entry_header(name, size)
    path, length = None, None
    if len(blocks) > 512:
        extended = decode_header(blocks[:512]).unwrap()
        assert extended.typeflag == b"x"
        assert extended.size <= MAX_SPECIAL_SIZE
        records = dict(parse_pax_records(blocks[512 : 512 + extended.size]).unwrap())
        path, length = records.get("path"), records.get("size")
    header = decode_header(blocks[-512:]).unwrap()
    assert (path or header.name) == name
    assert (int(length) if length else header.size) == size
    assert (header.mode, header.typeflag) == (0o644, b"0")
    assert (len(blocks) > 512) == (len(name) > 100 or size >= 8 << 30)


# --- files ------------------------------------------------------------------------


blob_pool = st.lists(st.binary(max_size=2000), min_size=1, max_size=5, unique=True)


@st.composite
def tarball_content(draw: st.DrawFn) -> tuple[TarManifest, list[bytes]]:
    blobs = draw(blob_pool)
    elements = draw(st.lists(images(blobs), min_size=1, max_size=3))
    return TarManifest(elements=elements), blobs


def _source(
    blobs: list[bytes], asked: list[Digest]
) -> Callable[[Descriptor], IOResult[Iterable[bytes], StoreError]]:
    by_digest = {digest_of(b): b for b in blobs}

    def fetch(descriptor: Descriptor) -> IOResult[Iterable[bytes], StoreError]:
        asked.append(descriptor.digest)
        data = by_digest.get(descriptor.digest)
        if data is None:
            return IOFailure(BlobNotFound(digest=descriptor.digest))
        return IOSuccess([data[i : i + 700] for i in range(0, len(data), 700)])

    return fetch


def _write(
    path: Path, manifest: TarManifest, blobs: list[bytes], asked: list[Digest], **kwargs: Any
) -> TarWriteReport:
    fetch = _source(blobs, asked)
    result = write_imgpkg_tar(path, manifest, fetch, **kwargs)
    assert isinstance(result, IOSuccess), unsafe_perform_io(result.failure()).message
    report: TarWriteReport = unsafe_perform_io(result.unwrap())
    return report


def _run(result: IOResult[_V, _E]) -> Result[_V, _E]:
    if isinstance(result, IOFailure):
        return Failure(unsafe_perform_io(result.failure()))
    return Success(unsafe_perform_io(result.unwrap()))


def _open(path: Path) -> Result[ImgpkgTarball, TarError]:
    return _run(ImgpkgTarball.open(path))


@settings(max_examples=40)
@given(tarball_content(), st.booleans())
def test_write_then_read(content: tuple[TarManifest, list[bytes]], include: bool) -> None:
    manifest, blobs = content
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "t.tar"
        report = _write(path, manifest, blobs, [], include_non_distributable=include)
        data = path.read_bytes()
        assert (
            len(data) == report.size == plan_tar(manifest, include_non_distributable=include).size
        )
        tarball = _open(path).unwrap()
        assert tarball.manifest == manifest
        assert tarball.manifest_raw == encode_tar_manifest(manifest)
        assert _run(tarball.verify()) == Success(report.layers)
        for digest in report.layers:
            blob = _run(tarball.read_bytes(digest)).unwrap()
            assert digest_of(blob) == digest
        assert tarball.check_layers(include_non_distributable=include) == Success(tarball)
        _write(path, manifest, blobs, [], include_non_distributable=include)
        assert path.read_bytes() == data


@settings(max_examples=25)
@given(tarball_content(), st.data())
def test_every_proper_prefix_is_truncated_and_resumable(
    content: tuple[TarManifest, list[bytes]], data: st.DataObject
) -> None:
    manifest, blobs = content
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "t.tar"
        _write(path, manifest, blobs, [])
        full = path.read_bytes()
        ends = {e.name: e.data_offset + e.size for e in _open(path).unwrap().entries}
        cut = data.draw(st.integers(0, len(full) - 1))
        path.write_bytes(full[:cut])
        error = _open(path)
        assert isinstance(error, Failure)
        assert isinstance(error.failure(), TarTruncated)
        asked: list[Digest] = []
        report = _write(path, manifest, blobs, asked, resume=True)
        assert path.read_bytes() == full
        present = {d for d in report.layers if ends[layer_entry_name(d)] <= cut}
        assert set(report.reused) == present
        assert set(asked) == set(report.layers) - present
