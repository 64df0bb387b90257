"""imgpkg's ``copy --to-tar`` tarballs: the fixtures the real imgpkg wrote, both ways, and
hostile or broken tarballs built here.

* ``manifest.json``: parse then encode gives the fixture's bytes back.
* Whole tar: writing the parsed manifest with the fixture's own blobs (read
  back through the reader) gives the fixture file byte for byte.
* Reader: roots, items, digests, diffIDs and entries agree with
  ``expected/*.json``.
* Refusals: truncation at many offsets, bad headers, path tricks, links,
  duplicates, a missing ``manifest.json`` or layer, bad JSON, ``Raw`` that
  does not hash to its digest, a flipped byte in a layer.
* Writer: non-distributable layers, source failures and mismatches (no tar is
  left behind), resume from partial tars.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from attrs import evolve
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure, Result, Success
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import Digest, digest_of, parse_digest
from imgpkg_pure.errors import DigestMismatch, MalformedDocument, SizeMismatch
from imgpkg_pure.imgpkg_tar import (
    MISSING_LAYER_HINT,
    BadTarHeader,
    BlobUnavailable,
    DuplicateEntry,
    LayerEntryName,
    LayerNotInTar,
    ManifestJsonMissing,
    ManifestJsonName,
    ResumeUnreadable,
    TarError,
    TarImage,
    TarIndex,
    TarLayer,
    TarManifest,
    TarTruncated,
    UnexpectedEntry,
    decode_header,
    describe_image,
    describe_index,
    encode_tar_manifest,
    entry_header,
    layer_entries,
    layer_entry_name,
    parse_entry_name,
    parse_tar_manifest,
    plan_tar,
    root_bundle,
    root_bundles,
    skipped_layers,
    with_root_bundle_label,
)
from imgpkg_pure.layer.tar_header import END_OF_ARCHIVE, padding
from imgpkg_pure.media_types import DOCKER_LAYER_FOREIGN, OCI_LAYER_GZIP, ROOT_BUNDLE_LABEL
from imgpkg_pure.oci import Annotations, Descriptor, parse_config, parse_index, parse_manifest
from imgpkg_pure.store.content.blobstore import CHUNK_SIZE, BlobReader
from imgpkg_pure.store.content.errors import BlobCorrupt, BlobNotFound, StoreError
from imgpkg_pure.store.transports.imgpkg_tar import (
    CorruptEntryError,
    HasMessage,
    ImgpkgTarball,
    TarWriteReport,
    write_imgpkg_tar,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "imgpkg"
NAMES = ("image", "bundle", "nested-bundle")
_V = TypeVar("_V")
_E = TypeVar("_E")


def _expected(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "expected" / f"{name}.json").read_text())
    return data


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _io(result: IOResult[_V, _E]) -> Result[_V, _E]:
    if isinstance(result, IOFailure):
        return Failure(unsafe_perform_io(result.failure()))
    return Success(unsafe_perform_io(result.unwrap()))


def _open(path: Path) -> Result[ImgpkgTarball, TarError]:
    return _io(ImgpkgTarball.open(path))


def _tarball(path: Path) -> ImgpkgTarball:
    return _open(path).unwrap()


def _error(path: Path) -> TarError:
    result = _open(path)
    assert isinstance(result, Failure), f"{path} should have been refused"
    error: TarError = result.failure()
    return error


def _manifest_json(name: str) -> bytes:
    with tarfile.open(FIXTURES / f"{name}.tar") as tar:
        handle = tar.extractfile("manifest.json")
        assert handle is not None
        return handle.read()


def _entry(name: str, data: bytes) -> bytes:
    return entry_header(name, len(data)) + data + padding(len(data))


def _tar(*entries: tuple[str, bytes], end: bool = True) -> bytes:
    return b"".join(_entry(name, data) for name, data in entries) + (END_OF_ARCHIVE if end else b"")


def _write(tmp_path: Path, data: bytes, name: str = "t.tar") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- the fixtures: manifest.json ------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_manifest_json_round_trips_byte_for_byte(name: str) -> None:
    raw = _manifest_json(name)
    assert _sha256(raw) == _expected(name)["manifest_json"]["sha256"]
    manifest = parse_tar_manifest(raw, f"{name}.tar: manifest.json").unwrap()
    assert encode_tar_manifest(manifest) == raw


@pytest.mark.parametrize("name", NAMES)
def test_manifest_json_element_order(name: str) -> None:
    expected = _expected(name)["manifest_json"]
    manifest = parse_tar_manifest(_manifest_json(name), name).unwrap()
    assert len(manifest.elements) == expected["elements"]
    order = [
        str(e.manifest_digest if isinstance(e, TarImage) else e.digest) for e in manifest.elements
    ]
    assert order == expected["order"]


@pytest.mark.parametrize("name", NAMES)
def test_plan_gives_the_fixture_entries(name: str) -> None:
    expected = _expected(name)["tar"]
    manifest = parse_tar_manifest(_manifest_json(name), name).unwrap()
    plan = plan_tar(manifest)
    assert [n for n, _ in plan.entries] == [e["name"] for e in expected["entries"]]
    assert [s for _, s in plan.entries] == [e["size"] for e in expected["entries"]]
    assert plan.size == expected["size"]
    assert plan.skipped == ()


# --- the fixtures: whole tar, both ways ------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_rewriting_a_fixture_is_byte_identical(name: str, tmp_path: Path) -> None:
    source = FIXTURES / f"{name}.tar"
    tarball = _tarball(source)
    out = tmp_path / f"{name}.tar"
    report = _io(write_imgpkg_tar(out, tarball.manifest, tarball)).unwrap()
    data = out.read_bytes()
    assert data == source.read_bytes()
    assert _sha256(data) == _expected(name)["tar"]["sha256"]
    assert report.size == len(data)
    assert report.fetched == report.layers
    assert report.reused == ()
    assert [layer_entry_name(d) for d in report.layers] == [
        e["name"] for e in _expected(name)["tar"]["entries"][1:]
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.tar"]


def test_writing_with_a_callable_source_is_byte_identical(tmp_path: Path) -> None:
    source = FIXTURES / "bundle.tar"
    tarball = _tarball(source)
    asked: list[Digest] = []

    def blobs(descriptor: Descriptor) -> IOResult[Iterable[bytes], HasMessage]:
        asked.append(descriptor.digest)
        return tarball.read_bytes(descriptor.digest).map(lambda data: [data[:100], data[100:]])

    out = tmp_path / "b.tar"
    _io(write_imgpkg_tar(out, tarball.manifest, blobs)).unwrap()
    assert out.read_bytes() == source.read_bytes()
    assert asked == sorted(asked, key=str)


def test_created_file_mode_follows_the_umask(tmp_path: Path) -> None:
    tarball = _tarball(FIXTURES / "image.tar")
    old = os.umask(0o027)
    try:
        _io(write_imgpkg_tar(tmp_path / "x.tar", tarball.manifest, tarball)).unwrap()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.tar").stat().st_mode) == 0o640


# --- the fixtures: reader ---------------------------------------------------------


def _items(expected: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in expected:
        yield item
        yield from _items(item.get("children", []))


@pytest.mark.parametrize("name", NAMES)
def test_reader_entries(name: str) -> None:
    tarball = _tarball(FIXTURES / f"{name}.tar")
    expected = _expected(name)["tar"]["entries"]
    assert [e.name for e in tarball.entries] == [e["name"] for e in expected]
    assert [e.size for e in tarball.entries] == [e["size"] for e in expected]
    assert _sha256(tarball.manifest_raw) == expected[0]["sha256"]
    for entry in expected[1:]:
        digest = parse_digest(entry["sha256"]).unwrap()
        assert _sha256(_io(tarball.read_bytes(digest)).unwrap()) == entry["sha256"]
    assert all(e.data_offset % 512 == 0 for e in tarball.entries)


@pytest.mark.parametrize("name", NAMES)
def test_reader_root(name: str) -> None:
    expected = _expected(name)["root"]
    manifest = _tarball(FIXTURES / f"{name}.tar").manifest
    bundle = root_bundle(manifest)
    root: TarImage | TarIndex
    if expected["kind"] == "bundle":
        assert bundle is not None
        assert root_bundles(manifest) == (bundle,)
        assert bundle.labels == Annotations.of({ROOT_BUNDLE_LABEL: ""})
        root = bundle
    else:
        assert bundle is None
        (root,) = manifest.elements
    assert root.ref == expected["ref"]
    assert root.tag == expected["tag"]
    assert isinstance(root, TarImage)
    assert str(root.manifest_digest) == expected["digest"]


def _check_image(tarball: ImgpkgTarball, image: TarImage, expected: dict[str, Any]) -> None:
    assert image.ref == expected["ref"]
    assert str(image.manifest_digest) == expected["manifest_digest"]
    assert image.manifest_media_type == expected["manifest_media_type"]
    assert len(image.manifest_raw) == expected["manifest_size"]
    assert str(image.config_digest) == expected["config_digest"]
    config = parse_config(image.config_raw, image.ref).unwrap()
    assert config.labels.as_dict() == expected["config_labels"]
    assert ("bundle" if config.is_bundle else "image") == expected["kind"]
    manifest = parse_manifest(image.manifest_raw, image.ref).unwrap()
    assert manifest.config.media_type == expected["config_media_type"]
    assert [
        (str(layer.digest), layer.media_type, layer.size, layer.diff_id, layer.entry_name)
        for layer in image.layers
    ] == [
        (e["digest"], e["media_type"], e["size"], e["diff_id"], e["tar_entry"])
        for e in expected["layers"]
    ]
    for layer in image.layers:
        assert _io(tarball.stat(layer.digest)).unwrap() == layer.size
        assert digest_of(_io(tarball.read_bytes(layer.digest)).unwrap()) == layer.digest
    assert _io(tarball.read_bytes(image.manifest_digest)).unwrap() == image.manifest_raw
    assert _io(tarball.read_bytes(image.config_digest)).unwrap() == image.config_raw


def _check_tar_fields(element: TarImage | TarIndex, expected: dict[str, Any]) -> None:
    assert element.tag == expected["tar_tag"]
    assert element.orig_ref == expected["tar_orig_ref"]
    labels = None if element.labels is None else element.labels.as_dict()
    assert labels == expected["tar_labels"]


@pytest.mark.parametrize("name", NAMES)
def test_reader_items(name: str) -> None:
    tarball = _tarball(FIXTURES / f"{name}.tar")
    expected = _expected(name)["images"]
    assert len(tarball.manifest.elements) == len(expected)
    for element, item in zip(tarball.manifest.elements, expected, strict=True):
        _check_tar_fields(element, item)
        if isinstance(element, TarImage):
            _check_image(tarball, element, item)
            continue
        assert item["kind"] == "index"
        assert element.ref == item["ref"]
        assert str(element.digest) == item["digest"]
        assert element.media_type == item["media_type"]
        assert len(element.raw) == item["size"]
        assert element.indexes == ()
        assert len(element.images) == len(item["children"])
        for child, expected_child in zip(element.images, item["children"], strict=True):
            _check_image(tarball, child, expected_child)
            _check_tar_fields(child, expected_child)
        assert _io(tarball.read_bytes(element.digest)).unwrap() == element.raw


@pytest.mark.parametrize("name", NAMES)
def test_reader_is_a_blob_reader(name: str) -> None:
    tarball = _tarball(FIXTURES / f"{name}.tar")
    reader: BlobReader = tarball
    blobs = _io(reader.iter_blobs()).unwrap()
    assert list(blobs) == sorted(blobs)
    documents = tarball.manifest.documents()
    layers = {layer.digest for layer in tarball.manifest.layers()}
    assert set(blobs) == set(documents) | layers
    for digest in blobs:
        assert _io(reader.exists(digest)).unwrap()
        with _io(reader.open(digest)).unwrap() as stream:
            data = stream.read()
        assert digest_of(data, digest.algorithm) == digest
        assert _io(reader.stat(digest)).unwrap() == len(data)
    absent = Digest("sha256", "0" * 64)
    assert _io(reader.exists(absent)).unwrap() is False
    assert _io(reader.stat(absent)).failure() == BlobNotFound(digest=absent)
    assert _io(reader.open(absent)).failure() == BlobNotFound(digest=absent)
    assert _io(tarball.verify()).unwrap() == tuple(sorted(layers, key=str))
    assert tarball.check_layers() == Success(tarball)


def test_descriptions_from_oci_documents_match_the_fixtures() -> None:
    manifest = _tarball(FIXTURES / "nested-bundle.tar").manifest
    for element in manifest.elements:
        if isinstance(element, TarIndex):
            children = [_redescribe(child) for child in element.images]
            index = parse_index(element.raw, element.ref).unwrap()
            again = describe_index(
                ref=element.ref,
                index=index,
                children=reversed(children),
                tag=element.tag,
                orig_ref=element.orig_ref,
                labels=element.labels,
            )
            assert again == Success(element)
        else:
            assert _redescribe(element) == element


def _redescribe(image: TarImage) -> TarImage:
    return describe_image(
        ref=image.ref,
        manifest=parse_manifest(image.manifest_raw, image.ref).unwrap(),
        config=parse_config(image.config_raw, image.ref).unwrap(),
        tag=image.tag,
        orig_ref=image.orig_ref,
        labels=image.labels,
    ).unwrap()


def test_describe_refuses_inconsistent_documents() -> None:
    manifest = _tarball(FIXTURES / "bundle.tar").manifest
    images = list(manifest.images())
    one, other = images[0], images[1]
    result = describe_image(
        ref=one.ref,
        manifest=parse_manifest(one.manifest_raw, "m").unwrap(),
        config=parse_config(other.config_raw, "c").unwrap(),
    )
    assert isinstance(result, Failure)
    assert "the manifest names" in result.failure().message
    index = next(manifest.indexes())
    missing = describe_index(
        ref=index.ref, index=parse_index(index.raw, "i").unwrap(), children=index.images[:1]
    )
    assert isinstance(missing, Failure)
    assert "no description of" in missing.failure().message
    extra = describe_index(
        ref=index.ref, index=parse_index(index.raw, "i").unwrap(), children=[*index.images, one]
    )
    assert isinstance(extra, Failure)
    assert "is not in the index" in extra.failure().message


def test_root_bundle_label_helpers() -> None:
    manifest = _tarball(FIXTURES / "bundle.tar").manifest
    plain = next(e for e in manifest.elements if isinstance(e, TarImage) and not e.is_root_bundle)
    labelled = with_root_bundle_label(plain)
    assert labelled.is_root_bundle
    assert labelled.labels == Annotations.of({ROOT_BUNDLE_LABEL: ""})
    both = with_root_bundle_label(evolve(plain, labels=Annotations.of({"a": "b"})))
    assert both.labels == Annotations.of({"a": "b", ROOT_BUNDLE_LABEL: ""})
    two = TarManifest(elements=[*manifest.elements, labelled])
    assert len(root_bundles(two)) == 2
    assert root_bundle(two) is None


# --- manifest.json codec details ---------------------------------------------------


def _first_image(name: str = "image") -> dict[str, Any]:
    image: dict[str, Any] = json.loads(_manifest_json(name))[0]["Image"]
    return image


def _parse(value: Any) -> Result[TarManifest, MalformedDocument]:
    return parse_tar_manifest(json.dumps(value).encode(), "t.tar: manifest.json")


def test_old_tarballs_without_tag_origref_labels() -> None:
    image = _first_image()
    for key in ("Tag", "OrigRef", "Labels"):
        del image[key]
    image["Unknown"] = {"x": [1, 2]}
    manifest = _parse([{"Image": image, "ImageIndex": None, "Extra": 1}]).unwrap()
    (element,) = manifest.elements
    assert isinstance(element, TarImage)
    assert (element.tag, element.orig_ref, element.labels) == ("", "", None)
    assert encode_tar_manifest(manifest).endswith(b'"Tag":"","OrigRef":"","Labels":null}}]')


def test_keys_match_case_insensitively_like_go() -> None:
    image = _first_image()
    image["tag"] = image.pop("Tag")
    image["REFS"] = image.pop("Refs")
    element = _parse([{"image": image}]).unwrap().elements[0]
    assert isinstance(element, TarImage)
    assert element.tag == "v1"
    assert element.ref.startswith("localhost:5077/fixtures/app@")


def test_empty_manifest_is_null() -> None:
    assert encode_tar_manifest(TarManifest()) == b"null"
    assert parse_tar_manifest(b"null", "m") == Success(TarManifest())
    assert parse_tar_manifest(b"[]", "m") == Success(TarManifest())


def test_go_escaping_in_raw_strings() -> None:
    image = _first_image()
    config = json.loads(image["Config"]["Raw"])
    config["config"] = {"Labels": {"x": "<a & b>\u2028"}}
    raw = json.dumps(config, ensure_ascii=False, separators=(",", ":")).encode()
    element = _parse([{"Image": image}]).unwrap().elements[0]
    assert isinstance(element, TarImage)
    changed = evolve(element, config_raw=raw, config_digest=digest_of(raw))
    encoded = encode_tar_manifest(TarManifest(elements=[changed]))
    assert b"\\u003ca \\u0026 b\\u003e\\u2028" in encoded
    assert parse_tar_manifest(encoded, "m").unwrap().elements == (changed,)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b"[{", "not valid JSON"),
        (b"\xff[]", "not UTF-8"),
        (b"[NaN]", "not valid JSON"),
        (b"{}", "$: expected an array"),
        (b"[{}]", "$[0]: holds neither an Image nor an ImageIndex"),
        (b'[{"Image":{},"ImageIndex":{}}]', "$[0]: holds both"),
        (b'[{"Image":{"Refs":[]}}]', "$[0].Image.Refs: expected at least one reference"),
        (b'[{"Image":{"Refs":["r"]}}]', "$[0].Image.Config.Digest: missing digest"),
        (b'[{"Image":{"Refs":["r"],"Layers":[null]}}]', "$[0].Image.Layers[0]: expected a layer"),
        (b'[{"Image":{"Refs":["\\ud800"]}}]', "unpaired surrogate"),
    ],
)
def test_malformed_manifest_json(document: bytes, reason: str) -> None:
    result = parse_tar_manifest(document, "t.tar: manifest.json")
    assert isinstance(result, Failure)
    assert reason in result.failure().message
    assert result.failure().message.startswith("t.tar: manifest.json: ")


def test_layer_size_must_be_an_int64() -> None:
    image = _first_image()
    image["Layers"][0]["Size"] = 1.5
    assert "expected an integer" in _parse([{"Image": image}]).failure().message
    image["Layers"][0]["Size"] = -1
    assert "is not a size" in _parse([{"Image": image}]).failure().message


@pytest.mark.parametrize("where", ["Config", "Manifest"])
def test_raw_that_does_not_hash_to_its_digest_names_the_element(where: str) -> None:
    image = _first_image()
    image[where]["Raw"] = image[where]["Raw"].replace('"', "'", 1)
    message = _parse([{"Image": image}]).failure().message
    assert f"$[0].Image.{where}.Raw:" in message
    assert "localhost:5077/fixtures/app@sha256:8a18a353" in message
    assert "not to its Digest" in message


def test_index_raw_that_does_not_hash_to_its_digest() -> None:
    element = json.loads(_manifest_json("bundle"))[2]
    element["ImageIndex"]["Raw"] += " "
    message = _parse([element]).failure().message
    assert "$[0].ImageIndex.Raw: index localhost:5077/fixtures/multiarch@" in message
    child = json.loads(_manifest_json("bundle"))[2]
    child["ImageIndex"]["Images"][1]["Config"]["Raw"] += " "
    message = _parse([child]).failure().message
    assert "$[0].ImageIndex.Images[1].Config.Raw:" in message


def test_canonical_order_whatever_the_input_order() -> None:
    manifest = parse_tar_manifest(_manifest_json("nested-bundle"), "m").unwrap()
    shuffled = TarManifest(elements=reversed(manifest.elements))
    assert shuffled == manifest
    assert encode_tar_manifest(shuffled) == _manifest_json("nested-bundle")
    duplicate = manifest.elements[0]
    twice = TarManifest(elements=[duplicate, *manifest.elements])
    assert twice.elements[:2] == (duplicate, duplicate)


# --- entries and layers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil", "'..'"),
        ("a/../manifest.json", "'..'"),
        ("/etc/passwd", "absolute path"),
        ("/manifest.json", "absolute path"),
        ("./manifest.json", "not a name imgpkg writes"),
        ("manifest.json/", "not a name imgpkg writes"),
        ("sha256-abc.tar.gz", "not a name imgpkg writes"),
        ("sha256-" + "A" * 64 + ".tar.gz", "not a name imgpkg writes"),
        ("sha384-" + "a" * 96 + ".tar.gz", "not a name imgpkg writes"),
        ("sha512-" + "a" * 64 + ".tar.gz", "not a name imgpkg writes"),
        ("dir\\x", "backslash"),
        ("", "empty name"),
    ],
)
def test_entry_names_refused(name: str, reason: str) -> None:
    result = parse_entry_name(name)
    assert isinstance(result, Failure)
    assert reason in result.failure()


def test_entry_names_accepted() -> None:
    assert parse_entry_name("manifest.json") == Success(ManifestJsonName())
    digest = Digest("sha512", "ab" * 64)
    assert parse_entry_name(layer_entry_name(digest)) == Success(LayerEntryName(digest=digest))


def _layer(data: bytes, media_type: str = OCI_LAYER_GZIP) -> TarLayer:
    return TarLayer(media_type=media_type, digest=digest_of(data), diff_id="", size=len(data))


def _image(*layers: TarLayer, ref: str = "r.io/a@x", config: bytes = b"{}") -> TarImage:
    manifest_raw = json.dumps({"layers": [str(layer.digest) for layer in layers], "r": ref})
    return TarImage(
        refs=(ref,),
        layers=layers,
        config_digest=digest_of(config),
        config_raw=config,
        manifest_media_type="application/vnd.oci.image.manifest.v1+json",
        manifest_digest=digest_of(manifest_raw.encode()),
        manifest_raw=manifest_raw.encode(),
    )


BLOBS = {name: name.encode() * 300 for name in ("alpha", "beta", "gamma", "foreign")}


def _blob_layers() -> dict[str, TarLayer]:
    return {
        name: _layer(data, DOCKER_LAYER_FOREIGN if name == "foreign" else OCI_LAYER_GZIP)
        for name, data in BLOBS.items()
    }


def _sample_manifest() -> TarManifest:
    layers = _blob_layers()
    return TarManifest(
        elements=[
            _image(layers["alpha"], layers["beta"], ref="r.io/one@1"),
            _image(layers["beta"], layers["foreign"], layers["gamma"], ref="r.io/two@2"),
        ]
    )


def test_layer_entries_are_distinct_sorted_and_distributable() -> None:
    manifest = _sample_manifest()
    layers = _blob_layers()
    without = layer_entries(manifest)
    assert [layer.digest for layer in without] == sorted(
        (layers[n].digest for n in ("alpha", "beta", "gamma")), key=str
    )
    assert skipped_layers(manifest) == (layers["foreign"],)
    with_all = layer_entries(manifest, include_non_distributable=True)
    assert len(with_all) == 4
    assert skipped_layers(manifest, include_non_distributable=True) == ()


def test_headers_are_imgpkgs() -> None:
    header = entry_header("manifest.json", 1473)
    decoded = decode_header(header).unwrap()
    assert (decoded.name, decoded.size, decoded.mode, decoded.typeflag) == (
        "manifest.json",
        1473,
        0o644,
        b"0",
    )
    with open(FIXTURES / "image.tar", "rb") as handle:
        assert handle.read(512) == header
    big = entry_header("sha256-" + "a" * 64 + ".tar.gz", 8 << 30)
    assert len(big) == 3 * 512
    assert b"size=8589934592" in big[:1024]
    long_name = entry_header("sha512-" + "a" * 128 + ".tar.gz", 5)
    assert len(long_name) == 3 * 512
    assert b"path=sha512-" in long_name[:1024]


# --- refusals ---------------------------------------------------------------------


def _fixture_bytes(name: str = "image") -> bytes:
    return (FIXTURES / f"{name}.tar").read_bytes()


IMAGE_CUTS = [0, 1, 100, 511, 512, 1000, 1985, 1986, 2047, 2048, 2559, 2560, 2700, 3041, 3071]
IMAGE_CUTS += [3072, 3500, 3584, 4000, 4095]


@pytest.mark.parametrize("cut", IMAGE_CUTS)
def test_truncated_tar_is_refused(cut: int, tmp_path: Path) -> None:
    path = _write(tmp_path, _fixture_bytes()[:cut])
    error = _error(path)
    assert isinstance(error, TarTruncated), error
    assert error.message.startswith(f"{path}: truncated tar: ")
    assert error.file_size == cut


def test_truncated_messages_name_the_entry(tmp_path: Path) -> None:
    data = _fixture_bytes()
    inside_layer = _error(_write(tmp_path, data[:2700]))
    assert isinstance(inside_layer, TarTruncated)
    assert inside_layer.entry.startswith("sha256-51e366d7")
    assert "needs 482 bytes" in inside_layer.message
    end = _error(_write(tmp_path, data[:3584]))
    assert "the end-of-archive marker" in end.message


def test_truncated_pax_entry_is_refused(tmp_path: Path) -> None:
    name = "sha256-" + "1" * 64 + ".tar.gz"
    path = _write(tmp_path, _entry("manifest.json", b"null") + entry_header(name, 8 << 30))
    error = _error(path)
    assert isinstance(error, TarTruncated)
    assert error.entry == name
    assert error.needed == 8 << 30


def test_sparse_eight_gib_entry_is_indexed_without_reading_it(tmp_path: Path) -> None:
    size = (8 << 30) + 3
    layer = TarLayer(
        media_type=OCI_LAYER_GZIP, digest=Digest("sha256", "1" * 64), diff_id="", size=size
    )
    manifest = TarManifest(elements=[_image(layer)])
    plan = plan_tar(manifest)
    path = tmp_path / "big.tar"
    with open(path, "wb") as handle:
        handle.write(_entry("manifest.json", plan.manifest_json))
        handle.write(entry_header(layer.entry_name, size))
        handle.seek(size + len(padding(size)), os.SEEK_CUR)
        handle.write(END_OF_ARCHIVE)
    assert path.stat().st_size == plan.size
    tarball = _tarball(path)
    assert _io(tarball.stat(layer.digest)).unwrap() == size
    entry = tarball.layer_entry(layer.digest)
    assert entry is not None
    assert entry.header_offset == 512 + len(plan.manifest_json) + len(
        padding(len(plan.manifest_json))
    )
    assert entry.data_offset == entry.header_offset + 3 * 512


def test_not_a_tar(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, b"hello world\n" * 100))
    assert isinstance(error, BadTarHeader)
    assert "checksum" in error.message


def test_bad_checksum_is_refused(tmp_path: Path) -> None:
    data = bytearray(_fixture_bytes())
    data[2048 + 10] ^= 0x01  # in the layer entry's name
    error = _error(_write(tmp_path, bytes(data)))
    assert isinstance(error, BadTarHeader)
    assert error.offset == 2048


def test_garbage_after_a_zero_block_is_refused(tmp_path: Path) -> None:
    data = _fixture_bytes()[:3072] + b"\0" * 512 + b"x" * 512
    error = _error(_write(tmp_path, data))
    assert isinstance(error, BadTarHeader)
    assert "zero block followed by" in error.message


def test_zero_padding_after_the_end_marker_is_accepted(tmp_path: Path) -> None:
    path = _write(tmp_path, _fixture_bytes() + b"\0" * 6144)
    assert len(_tarball(path).entries) == 2


@pytest.mark.parametrize(
    "name", ["../evil", "/etc/passwd", "foo.txt", "./manifest.json", "x/../../evil"]
)
def test_path_tricks_are_refused(name: str, tmp_path: Path) -> None:
    data = _tar(("manifest.json", _manifest_json("image")), (name, b"evil"))
    error = _error(_write(tmp_path, data))
    assert isinstance(error, UnexpectedEntry)
    assert error.entry == name
    assert f"refusing entry '{name}'" in error.message


def test_refusal_messages_stay_on_one_line(tmp_path: Path) -> None:
    data = _tar(("manifest.json", _manifest_json("image")), ("evil\nname\x1b[2J", b"x"))
    error = _error(_write(tmp_path, data))
    assert isinstance(error, UnexpectedEntry)
    assert "\n" not in error.message
    assert "evil\\nname\\x1b[2J" in error.message
    assert "the file is empty" in _error(_write(tmp_path, b"", "empty.tar")).message


def _python_tar(members: list[tuple[tarfile.TarInfo, bytes]], fmt: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("kind", "shown"),
    [
        (tarfile.SYMTYPE, "symbolic link"),
        (tarfile.DIRTYPE, "directory"),
        (tarfile.LNKTYPE, "hard link"),
    ],
)
def test_links_and_directories_are_refused(kind: bytes, shown: str, tmp_path: Path) -> None:
    raw = _manifest_json("image")
    manifest_info = tarfile.TarInfo("manifest.json")
    manifest_info.size = len(raw)
    link = tarfile.TarInfo(layer_entry_name(Digest("sha256", "2" * 64)))
    link.type = kind
    link.linkname = "/etc/passwd"
    data = _python_tar([(manifest_info, raw), (link, b"")], tarfile.USTAR_FORMAT)
    error = _error(_write(tmp_path, data))
    assert isinstance(error, UnexpectedEntry)
    assert shown in error.message


def test_gnu_long_names_are_read(tmp_path: Path) -> None:
    # Python's tarfile writes a GNU ``L`` entry for a name over 100 bytes.
    raw = _manifest_json("image")
    data = b"x" * 10
    layer = TarLayer(
        media_type=OCI_LAYER_GZIP, digest=digest_of(data, "sha512"), diff_id="", size=10
    )
    manifest = TarManifest(elements=[_image(layer)])
    raw = encode_tar_manifest(manifest)
    infos = []
    for name, content in (("manifest.json", raw), (layer.entry_name, data)):
        info = tarfile.TarInfo(name)
        info.size = len(content)
        infos.append((info, content))
    tarball = _tarball(_write(tmp_path, _python_tar(infos, tarfile.GNU_FORMAT)))
    assert _io(tarball.read_bytes(layer.digest)).unwrap() == data
    pax = _tarball(_write(tmp_path, _python_tar(infos, tarfile.PAX_FORMAT), "pax.tar"))
    assert _io(pax.read_bytes(layer.digest)).unwrap() == data


def test_duplicate_entries_with_different_content_are_refused(tmp_path: Path) -> None:
    base = _fixture_bytes()[:3072]
    layer_entry = base[2048:3072]
    flipped = bytearray(layer_entry)
    flipped[512] ^= 0xFF
    error = _error(_write(tmp_path, base + bytes(flipped) + END_OF_ARCHIVE))
    assert isinstance(error, DuplicateEntry)
    assert error.entry.startswith("sha256-51e366d7")
    manifest_twice = _tar(("manifest.json", _manifest_json("image")), ("manifest.json", b"[]"))
    assert isinstance(_error(_write(tmp_path, manifest_twice, "m.tar")), DuplicateEntry)


def test_duplicate_entries_with_the_same_content_are_accepted(tmp_path: Path) -> None:
    base = _fixture_bytes()[:3072]
    tarball = _tarball(_write(tmp_path, base + base[2048:3072] + END_OF_ARCHIVE))
    assert [e.name for e in tarball.entries] == [
        "manifest.json",
        "sha256-51e366d79aa026e061e75a5d4dc7de38b731c5c402e2a7752eb13074294c4980.tar.gz",
    ]


def test_missing_manifest_json(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, _tar(("sha256-" + "3" * 64 + ".tar.gz", b"x"))))
    assert isinstance(error, ManifestJsonMissing)
    assert "manifest.json not found" in error.message
    assert isinstance(_error(_write(tmp_path, END_OF_ARCHIVE, "e.tar")), ManifestJsonMissing)


def test_bad_manifest_json(tmp_path: Path) -> None:
    path = _write(tmp_path, _tar(("manifest.json", b'[{"Image":')))
    error = _error(path)
    assert isinstance(error, MalformedDocument)
    assert error.message.startswith(f"{path}: manifest.json: $: not valid JSON")


def test_manifest_json_with_a_bad_raw(tmp_path: Path) -> None:
    image = _first_image()
    image["Manifest"]["Raw"] = image["Manifest"]["Raw"] + "\n"
    raw = json.dumps([{"Image": image, "ImageIndex": None}]).encode()
    error = _error(_write(tmp_path, _tar(("manifest.json", raw))))
    assert isinstance(error, MalformedDocument)
    assert "image localhost:5077/fixtures/app@sha256:8a18a353" in error.message


def test_layer_entry_of_the_wrong_size(tmp_path: Path) -> None:
    raw = _manifest_json("image")
    layer = _fixture_bytes()[2560 : 2560 + 482]
    error = _error(
        _write(tmp_path, _tar(("manifest.json", raw), (_tarball_layer_name(), layer[:-1])))
    )
    assert isinstance(error, SizeMismatch)
    assert "expected 482 bytes, got 481" in error.message


def _tarball_layer_name() -> str:
    return "sha256-51e366d79aa026e061e75a5d4dc7de38b731c5c402e2a7752eb13074294c4980.tar.gz"


def test_missing_layer_is_imgpkgs_error_when_needed(tmp_path: Path) -> None:
    path = _write(tmp_path, _tar(("manifest.json", _manifest_json("image"))))
    tarball = _tarball(path)
    digest = next(tarball.manifest.layers()).digest
    expected = LayerNotInTar(tar=str(path), entry=_tarball_layer_name())
    assert tarball.check_layers() == Failure(expected)
    assert expected.go_message == (
        f"file {_tarball_layer_name()} not found in tar ({MISSING_LAYER_HINT})"
    )
    assert expected.message == expected.go_message  # imgpkg's words, no path in front
    assert _io(tarball.open_blob(digest)).failure() == expected
    assert _io(tarball.open(digest)).failure() == BlobNotFound(digest=digest)
    assert [layer.digest for layer in tarball.missing_layers()] == [digest]
    report = write_imgpkg_tar(tmp_path / "again.tar", tarball.manifest, tarball)
    failure = _io(report).failure()
    assert isinstance(failure, BlobUnavailable)
    assert "not found" in failure.message
    assert not (tmp_path / "again.tar").exists()


def test_missing_non_distributable_layer_is_needed_only_with_the_flag(tmp_path: Path) -> None:
    manifest = _sample_manifest()
    layers = _blob_layers()
    source = _dict_source(BLOBS)
    path = tmp_path / "nd.tar"
    report = _io(write_imgpkg_tar(path, manifest, source)).unwrap()
    assert report.skipped == (layers["foreign"].digest,)
    tarball = _tarball(path)
    assert tarball.check_layers() == Success(tarball)
    assert isinstance(tarball.check_layers(include_non_distributable=True), Failure)
    assert tarball.missing_layers(include_non_distributable=True) == (layers["foreign"],)
    full = tmp_path / "full.tar"
    report = _io(write_imgpkg_tar(full, manifest, source, include_non_distributable=True)).unwrap()
    assert report.skipped == ()
    assert len(report.layers) == 4
    assert _tarball(full).check_layers(include_non_distributable=True).map(
        lambda _: True
    ) == Success(True)


def test_flipped_byte_in_a_layer_is_never_handed_out_as_valid(tmp_path: Path) -> None:
    data = bytearray(_fixture_bytes())
    data[2560 + 100] ^= 0x01
    path = _write(tmp_path, bytes(data))
    tarball = _tarball(path)  # indexing reads no layer data
    digest = next(tarball.manifest.layers()).digest
    with _io(tarball.open(digest)).unwrap() as stream, pytest.raises(CorruptEntryError) as raised:
        stream.read()
    assert isinstance(raised.value.error, DigestMismatch)
    assert raised.value.error.what == f"{path}: entry {_tarball_layer_name()}"
    corrupt = _io(tarball.read_bytes(digest)).failure()
    assert isinstance(corrupt, BlobCorrupt)
    assert corrupt.digest == digest
    assert isinstance(_io(tarball.read_blob(digest)).failure(), DigestMismatch)
    assert isinstance(_io(tarball.verify_blob(digest)).failure(), DigestMismatch)
    assert isinstance(_io(tarball.verify()).failure(), DigestMismatch)
    out = tmp_path / "copy.tar"
    failure = _io(write_imgpkg_tar(out, tarball.manifest, tarball)).failure()
    assert isinstance(failure, DigestMismatch)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.tar"]


def test_streams_read_in_small_pieces(tmp_path: Path) -> None:
    data = os.urandom(3 * CHUNK_SIZE + 17)
    layer = _layer(data)
    path = tmp_path / "s.tar"
    _io(write_imgpkg_tar(path, TarManifest(elements=[_image(layer)]), _dict_source({"x": data})))
    tarball = _tarball(path)
    pieces = []
    with _io(tarball.open(layer.digest)).unwrap() as stream:
        while piece := stream.read(CHUNK_SIZE):
            pieces.append(len(piece))
    assert max(pieces) <= CHUNK_SIZE
    assert sum(pieces) == len(data)


def test_a_corrupt_large_layer_fails_on_its_last_read(tmp_path: Path) -> None:
    data = os.urandom(2 * CHUNK_SIZE + 5)
    layer = _layer(data)
    path = tmp_path / "l.tar"
    _io(write_imgpkg_tar(path, TarManifest(elements=[_image(layer)]), _dict_source({"x": data})))
    tarball = _tarball(path)
    entry = tarball.layer_entry(layer.digest)
    assert entry is not None
    with open(path, "r+b") as handle:
        handle.seek(entry.data_offset + entry.size - 1)
        handle.write(bytes([data[-1] ^ 1]))
    tarball = _tarball(path)
    with _io(tarball.open(layer.digest)).unwrap() as stream:
        assert stream.read(CHUNK_SIZE) == data[:CHUNK_SIZE]
        assert stream.read(CHUNK_SIZE) == data[CHUNK_SIZE : 2 * CHUNK_SIZE]
        with pytest.raises(CorruptEntryError):
            stream.read(CHUNK_SIZE)


def test_a_tar_changed_after_indexing_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, _fixture_bytes())
    tarball = _tarball(path)
    path.write_bytes(_fixture_bytes() + b"\0" * 512)
    digest = next(tarball.manifest.layers()).digest
    failure = _io(tarball.open_blob(digest)).failure()
    assert "changed since it was read" in failure.message


def test_a_directory_is_not_a_tar(tmp_path: Path) -> None:
    error = _error(tmp_path)
    assert "not a regular file" in error.message
    assert "No such file" in _error(tmp_path / "absent.tar").message


# --- writer ----------------------------------------------------------------------


def _dict_source(
    blobs: dict[str, bytes], asked: list[Digest] | None = None
) -> Callable[[Descriptor], IOResult[Iterable[bytes], StoreError]]:
    by_digest = {digest_of(data): data for data in blobs.values()}

    def fetch(descriptor: Descriptor) -> IOResult[Iterable[bytes], StoreError]:
        if asked is not None:
            asked.append(descriptor.digest)
        data = by_digest.get(descriptor.digest)
        if data is None:
            return IOFailure(BlobNotFound(digest=descriptor.digest))
        return IOSuccess([data[i : i + 1000] for i in range(0, len(data), 1000)])

    return fetch


def test_writer_refuses_wrong_bytes_and_leaves_nothing(tmp_path: Path) -> None:
    manifest = _sample_manifest()
    path = tmp_path / "w.tar"
    path.write_bytes(b"previous content")
    layers = _blob_layers()

    def wrong(data: bytes) -> Callable[[Descriptor], IOResult[Iterable[bytes], StoreError]]:
        def fetch(descriptor: Descriptor) -> IOResult[Iterable[bytes], StoreError]:
            if descriptor.digest == layers["beta"].digest:
                return IOSuccess([data])
            return _dict_source(BLOBS)(descriptor)

        return fetch

    cases: list[tuple[bytes, type[DigestMismatch | SizeMismatch]]] = [
        (BLOBS["beta"][:-1] + b"X", DigestMismatch),
        (BLOBS["beta"] + b"X", SizeMismatch),
        (BLOBS["beta"][:-1], SizeMismatch),
    ]
    for data, error_type in cases:
        failure = _io(write_imgpkg_tar(path, manifest, wrong(data))).failure()
        assert isinstance(failure, error_type), failure
        assert failure.message.startswith(f"{path}: entry {layers['beta'].entry_name}")
        assert path.read_bytes() == b"previous content"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["w.tar"]


def test_writer_reports_source_failures(tmp_path: Path) -> None:
    path = tmp_path / "w.tar"

    def raising(_descriptor: Descriptor) -> IOResult[Iterable[bytes], StoreError]:
        def chunks() -> Iterator[bytes]:
            yield b"abc"
            raise OSError("connection reset")

        return IOSuccess(chunks())

    failure = _io(write_imgpkg_tar(path, _sample_manifest(), raising)).failure()
    assert isinstance(failure, BlobUnavailable)
    assert "connection reset" in failure.message
    empty = _io(write_imgpkg_tar(path, _sample_manifest(), _dict_source({}))).failure()
    assert isinstance(empty, BlobUnavailable)
    assert "not found in the store" in empty.message
    assert list(tmp_path.iterdir()) == []


def test_writer_io_failure(tmp_path: Path) -> None:
    failure = _io(
        write_imgpkg_tar(
            tmp_path / "no" / "such" / "dir.tar", _sample_manifest(), _dict_source(BLOBS)
        )
    ).failure()
    assert "cannot create a temporary file" in failure.message


def test_sha512_layers_get_pax_names(tmp_path: Path) -> None:
    data = b"sha512 content"
    layer = TarLayer(
        media_type=OCI_LAYER_GZIP, digest=digest_of(data, "sha512"), diff_id="", size=len(data)
    )
    path = tmp_path / "512.tar"

    def fetch(_descriptor: Descriptor) -> IOResult[Iterable[bytes], StoreError]:
        return IOSuccess([data])

    _io(write_imgpkg_tar(path, TarManifest(elements=[_image(layer)]), fetch)).unwrap()
    with tarfile.open(path) as tar:
        assert tar.getnames() == ["manifest.json", layer.entry_name]
    assert _io(_tarball(path).read_bytes(layer.digest)).unwrap() == data


# --- resume --------------------------------------------------------------------------


def _write_sample(path: Path, asked: list[Digest] | None = None, **kwargs: Any) -> TarWriteReport:
    result = write_imgpkg_tar(path, _sample_manifest(), _dict_source(BLOBS, asked), **kwargs)
    report: TarWriteReport = _io(result).unwrap()
    return report


def test_resume_reuses_every_complete_layer(tmp_path: Path) -> None:
    complete = tmp_path / "complete.tar"
    _write_sample(complete)
    full = complete.read_bytes()
    tarball = _tarball(complete)
    ends = {e.name: e.data_offset + e.size for e in tarball.entries}
    for cut in (0, 100, 512, 1500, 3000, 3500, 4000, 5000, len(full) - 600, len(full)):
        path = tmp_path / f"cut-{cut}.tar"
        path.write_bytes(full[:cut])
        asked: list[Digest] = []
        report = _write_sample(path, asked, resume=True)
        assert path.read_bytes() == full
        kept = {d for d in report.layers if ends[layer_entry_name(d)] <= cut}
        assert set(report.reused) == kept
        assert set(asked) == set(report.layers) - kept
        assert report.fetched == tuple(asked)


def test_resume_refetches_corrupt_or_zero_filled_layers(tmp_path: Path) -> None:
    path = tmp_path / "r.tar"
    _write_sample(path)
    full = path.read_bytes()
    tarball = _tarball(path)
    damaged = bytearray(full)
    layer_entries_ = [e for e in tarball.entries if e.name != "manifest.json"]
    first, second = layer_entries_[0], layer_entries_[1]
    damaged[first.data_offset] ^= 0xFF
    damaged[second.data_offset : second.data_offset + second.size] = b"\0" * second.size
    path.write_bytes(bytes(damaged))
    asked: list[Digest] = []
    report = _write_sample(path, asked, resume=True)
    assert path.read_bytes() == full
    assert {layer_entry_name(d) for d in asked} == {first.name, second.name}
    assert len(report.reused) == len(report.layers) - 2


def test_resume_without_a_previous_tar_writes_everything(tmp_path: Path) -> None:
    asked: list[Digest] = []
    report = _write_sample(tmp_path / "new.tar", asked, resume=True)
    assert report.reused == ()
    assert set(asked) == set(report.layers)


def test_resume_refuses_a_file_that_is_not_a_tar(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"my precious notes\n" * 100)
    result = write_imgpkg_tar(path, _sample_manifest(), _dict_source(BLOBS), resume=True)
    failure = _io(result).failure()
    assert isinstance(failure, ResumeUnreadable)
    assert failure.message.startswith(f"Reading previously created tar '{path}': ")
    assert path.read_bytes() == b"my precious notes\n" * 100


def test_failed_resume_keeps_the_previous_tar(tmp_path: Path) -> None:
    path = tmp_path / "p.tar"
    _write_sample(path)
    partial = path.read_bytes()[:3000]
    path.write_bytes(partial)
    result = write_imgpkg_tar(path, _sample_manifest(), _dict_source({}), resume=True)
    assert isinstance(_io(result).failure(), BlobUnavailable)
    assert path.read_bytes() == partial
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.tar"]
