"""Tars of OCI image layouts (``oci-archive:``): the reader, the writer, and the syntax.

* Reader: a small image built here is indexed and served (roots, blobs by
  digest, streamed and verified); ``./`` names, directories, PAX long names
  and trailing padding are read; hostile or broken archives are refused with
  one line naming the file and the entry (absolute names, ``..``, links,
  duplicates with different content, truncation at every offset, a missing
  ``oci-layout`` or ``index.json``, non-blob names under ``blobs/``); a blob
  whose bytes do not hash to its name is never handed out as valid.
* Writer: entry order, headers and end marker as documented; the same
  content gives the same bytes whatever the files' times; a corrupt blob in
  the layout leaves the destination untouched.
* ``parse_copy_request``: ``oci-archive:FILE[:TAG]`` sources and
  ``--to-repo oci-archive:FILE`` destinations, beside the ``oci:`` forms.

The archive builders here are shared with ``tests/cli/test_copy_oci_archive.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from attrs import frozen
from returns.io import IOFailure, IOSuccess
from returns.result import Failure, Success
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.copy import (
    ArchiveDestination,
    CopyRequest,
    layout_reference,
    parse_archive_location,
    parse_copy_request,
    source_root,
)
from imgpkg_pure.digest import Digest, parse_digest
from imgpkg_pure.errors import DigestMismatch, MalformedDocument
from imgpkg_pure.imgpkg_tar import (
    BadTarHeader,
    DuplicateEntry,
    TarChanged,
    TarTruncated,
    UnexpectedEntry,
)
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.push import LayoutDestination, UsageError
from imgpkg_pure.reference import Repository
from imgpkg_pure.store.content.blobstore import root_name
from imgpkg_pure.store.content.errors import BlobNotFound, RootNotFound, StoreIOFailure
from imgpkg_pure.store.content.local import LocalStore
from imgpkg_pure.store.transports.imgpkg_tar import CorruptEntryError
from imgpkg_pure.store.transports.oci_archive import (
    ArchiveError,
    NotAnArchive,
    OciArchive,
    blob_digest,
    member_name,
    write_oci_archive,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"

# --- building archives ---------------------------------------------------------------


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@frozen(kw_only=True)
class TinyImage:
    """A one-layer OCI image as layout files: ``files`` maps layout paths to bytes."""

    files: dict[str, bytes]
    manifest: str
    config: str
    layer: str

    def blob_path(self, digest: str) -> str:
        return "blobs/" + digest.replace(":", "/")


def tiny_image(seed: str = "hello", tag: str = "v1") -> TinyImage:
    """A small OCI-typed image whose root in ``index.json`` is named ``tag``."""
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = f"{seed}\n".encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    layer = gzip.compress(inner.getvalue(), mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [_sha(inner.getvalue())]},
            "config": {},
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _sha(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _sha(layer),
                    "size": len(layer),
                }
            ],
        },
        sort_keys=True,
    ).encode()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": _sha(manifest),
                    "size": len(manifest),
                    "annotations": {REF_NAME: tag},
                }
            ],
        }
    ).encode()
    files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": index}
    for blob in (layer, config, manifest):
        files["blobs/" + _sha(blob).replace(":", "/")] = blob
    return TinyImage(files=files, manifest=_sha(manifest), config=_sha(config), layer=_sha(layer))


@frozen(kw_only=True)
class Member:
    """One tar entry to write: a regular file (``data``), a directory or a link."""

    name: str
    data: bytes = b""
    kind: bytes = tarfile.REGTYPE
    link: str = ""


def members(files: dict[str, bytes], prefix: str = "") -> list[Member]:
    return [Member(name=prefix + name, data=data) for name, data in files.items()]


def write_tar(path: Path, entries: Iterable[Member], fmt: int = tarfile.PAX_FORMAT) -> Path:
    """A tar of ``entries`` exactly as given (no name clean-up, duplicates kept)."""
    with tarfile.open(path, mode="w", format=fmt) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type = entry.kind
            info.linkname = entry.link
            info.mode = 0o755 if entry.kind == tarfile.DIRTYPE else 0o644
            if entry.kind == tarfile.REGTYPE:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
            else:
                tar.addfile(info)
    return path


def archive_of(path: Path, image: TinyImage | None = None) -> Path:
    return write_tar(path, members((image or tiny_image()).files))


def _index(path: Path) -> OciArchive:
    opened = OciArchive.at(path)
    if isinstance(opened, IOFailure):
        pytest.fail(unsafe_perform_io(opened.failure()).message)
    return unsafe_perform_io(opened.unwrap())


def _refused(path: Path) -> ArchiveError:
    opened = OciArchive.at(path)
    assert not isinstance(opened, IOSuccess), "the archive was accepted"
    error = unsafe_perform_io(opened.failure())
    assert "\n" not in error.message
    assert error.message.startswith(str(path))
    return error


def _digest(text: str) -> Digest:
    return parse_digest(text).unwrap()


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("oci-layout", "oci-layout"),
        ("./index.json", "index.json"),
        ("././blobs/sha256/", "blobs/sha256"),
        ("blobs/", "blobs"),
        ("./", ""),
        (".", ""),
    ],
)
def test_member_names_accepted(name: str, expected: str) -> None:
    assert member_name(name) == Success(expected)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("/oci-layout", "absolute"),
        ("../index.json", "'..'"),
        ("blobs/../../etc/passwd", "'..'"),
        ("blobs//sha256/x", "empty or '.'"),
        ("blobs/./sha256", "empty or '.'"),
    ],
)
def test_member_names_refused(name: str, reason: str) -> None:
    result = member_name(name)
    assert isinstance(result, Failure)
    assert reason in result.failure()


def test_blob_names() -> None:
    hex64 = "a" * 64
    assert blob_digest("index.json") == Success(None)
    assert blob_digest(f"blobs/sha256/{hex64}") == Success(_digest(f"sha256:{hex64}"))
    assert blob_digest("blobs/blake3/" + "c" * 64) == Success(None)
    for bad in ("blobs/sha256", f"blobs/sha256/{hex64}/x", "blobs/sha256/abc", "blobs/sha512/aa"):
        assert isinstance(blob_digest(bad), Failure), bad


# --- reading ------------------------------------------------------------------------------


def test_roots_and_blobs_are_served(tmp_path: Path) -> None:
    image = tiny_image()
    archive = _index(archive_of(tmp_path / "a.tar", image))
    root = unsafe_perform_io(archive.resolve("v1").unwrap())
    assert str(root.digest) == image.manifest
    assert root_name(root) == "v1"
    assert unsafe_perform_io(archive.resolve("v2").failure()) == RootNotFound(name="v2")
    for digest in (image.manifest, image.config, image.layer):
        wanted = image.files[image.blob_path(digest)]
        assert archive.exists(_digest(digest)) == IOSuccess(True)
        assert archive.stat(_digest(digest)) == IOSuccess(len(wanted))
        assert archive.read_bytes(_digest(digest)) == IOSuccess(wanted)
        with unsafe_perform_io(archive.open(_digest(digest)).unwrap()) as stream:
            assert stream.read() == wanted
    missing = _digest("sha256:" + "0" * 64)
    assert archive.exists(missing) == IOSuccess(False)
    assert unsafe_perform_io(archive.open(missing).failure()) == BlobNotFound(digest=missing)
    assert unsafe_perform_io(archive.iter_blobs().unwrap()) == tuple(
        sorted((_digest(d) for d in (image.manifest, image.config, image.layer)), key=str)
    )


def test_dot_slash_names_directories_and_long_names_are_read(tmp_path: Path) -> None:
    image = tiny_image()
    entries = [
        Member(name="./", kind=tarfile.DIRTYPE),
        Member(name="./blobs/", kind=tarfile.DIRTYPE),
    ]
    entries += [Member(name="./blobs/sha256/", kind=tarfile.DIRTYPE)]
    entries += members(image.files, prefix="./")
    entries.append(Member(name="./extra/" + "n" * 150, data=b"other tools may add files"))
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        path = write_tar(tmp_path / f"{fmt}.tar", entries, fmt)
        archive = _index(path)
        assert str(unsafe_perform_io(archive.resolve("v1").unwrap()).digest) == image.manifest


def test_sha512_blobs_with_long_names_are_read(tmp_path: Path) -> None:
    blob = b"a config, named by sha512"
    digest = "sha512:" + hashlib.sha512(blob).hexdigest()
    files = dict(tiny_image().files)
    files["blobs/" + digest.replace(":", "/")] = blob
    archive = _index(write_tar(tmp_path / "a.tar", members(files)))
    assert archive.read_bytes(_digest(digest)) == IOSuccess(blob)


def test_trailing_zero_records_are_accepted(tmp_path: Path) -> None:
    path = archive_of(tmp_path / "a.tar")
    with path.open("ab") as handle:
        handle.write(b"\0" * 10240)
    _index(path)


def test_a_name_twice_with_the_same_content_is_accepted_and_kept_once(tmp_path: Path) -> None:
    """A repeated ``index.json`` and a repeated blob, each with the same bytes as the first
    copy: the archive is accepted, serves each once, and serves the same bytes."""
    image = tiny_image()
    layer_path = image.blob_path(image.layer)
    entries = [
        *members(image.files),
        Member(name="index.json", data=image.files["index.json"]),
        Member(name="./" + layer_path, data=image.files[layer_path]),
    ]
    archive = _index(write_tar(tmp_path / "a.tar", entries))
    assert archive.index_raw == image.files["index.json"]
    assert [str(root.digest) for root in unsafe_perform_io(archive.roots().unwrap())] == [
        image.manifest
    ]
    assert unsafe_perform_io(archive.iter_blobs().unwrap()) == tuple(
        sorted((_digest(d) for d in (image.manifest, image.config, image.layer)), key=str)
    )
    layer = _digest(image.layer)
    assert archive.stat(layer) == IOSuccess(len(image.files[layer_path]))
    assert archive.read_bytes(layer) == IOSuccess(image.files[layer_path])


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("/oci-layout", "absolute names are refused"),
        ("../escape", "'..' component"),
        ("blobs/sha256/../../../escape", "'..' component"),
    ],
)
def test_path_tricks_are_refused(tmp_path: Path, name: str, reason: str) -> None:
    entries = [*members(tiny_image().files), Member(name=name, data=b"x")]
    error = _refused(write_tar(tmp_path / "a.tar", entries))
    assert isinstance(error, UnexpectedEntry)
    assert error.entry == name
    assert reason in error.message


@pytest.mark.parametrize(
    ("kind", "shown"),
    [
        (tarfile.SYMTYPE, "symbolic link"),
        (tarfile.LNKTYPE, "hard link"),
        (tarfile.FIFOTYPE, "FIFO"),
        (tarfile.CHRTYPE, "character device"),
    ],
)
def test_links_and_special_files_are_refused(tmp_path: Path, kind: bytes, shown: str) -> None:
    image = tiny_image()
    target = image.blob_path(image.layer)
    entries = [*members(image.files), Member(name="blobs/sha256/link", kind=kind, link=target)]
    error = _refused(write_tar(tmp_path / "a.tar", entries))
    assert isinstance(error, UnexpectedEntry)
    assert shown in error.message
    assert "is not a regular file or a directory" in error.message


def test_a_link_in_place_of_a_blob_is_refused(tmp_path: Path) -> None:
    image = tiny_image()
    files = dict(image.files)
    del files[image.blob_path(image.layer)]
    entries = [
        *members(files),
        Member(name=image.blob_path(image.layer), kind=tarfile.SYMTYPE, link="/etc/passwd"),
    ]
    assert isinstance(_refused(write_tar(tmp_path / "a.tar", entries)), UnexpectedEntry)


def test_duplicates_with_different_content_are_refused(tmp_path: Path) -> None:
    image = tiny_image()
    other = tiny_image(tag="v2").files["index.json"]
    entries = [*members(image.files), Member(name="./index.json", data=other)]
    error = _refused(write_tar(tmp_path / "a.tar", entries))
    assert isinstance(error, DuplicateEntry)
    assert "appears twice with different content" in error.message


def test_a_name_that_is_a_file_and_a_directory_is_refused(tmp_path: Path) -> None:
    entries = [*members(tiny_image().files), Member(name="index.json/", kind=tarfile.DIRTYPE)]
    error = _refused(write_tar(tmp_path / "a.tar", entries))
    assert "both a file and a directory" in error.message


def test_other_files_under_blobs_are_refused(tmp_path: Path) -> None:
    entries = [*members(tiny_image().files), Member(name="blobs/sha256/notes.txt", data=b"x")]
    error = _refused(write_tar(tmp_path / "a.tar", entries))
    assert isinstance(error, UnexpectedEntry)
    assert "not a blob name" in error.message


@pytest.mark.parametrize("missing", ["oci-layout", "index.json"])
def test_missing_layout_files_are_refused(tmp_path: Path, missing: str) -> None:
    files = dict(tiny_image().files)
    del files[missing]
    error = _refused(write_tar(tmp_path / "a.tar", members(files)))
    assert isinstance(error, NotAnArchive)
    assert error.message == (
        f"{tmp_path / 'a.tar'}: not an OCI image layout archive: no {missing} entry"
    )


def test_unsupported_layout_version_is_refused(tmp_path: Path) -> None:
    files = {**tiny_image().files, "oci-layout": b'{"imageLayoutVersion":"2.0.0"}'}
    error = _refused(write_tar(tmp_path / "a.tar", members(files)))
    assert "unsupported imageLayoutVersion '2.0.0'" in error.message


def test_malformed_index_json_is_refused(tmp_path: Path) -> None:
    files = {**tiny_image().files, "index.json": b'{"manifests": 7}'}
    error = _refused(write_tar(tmp_path / "a.tar", members(files)))
    assert isinstance(error, MalformedDocument)
    assert error.where == f"{tmp_path / 'a.tar'}: index.json"


def test_not_a_tar_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.tar"
    path.write_bytes(b"this is not a tar" * 100)
    assert isinstance(_refused(path), BadTarHeader)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    error = unsafe_perform_io(OciArchive.at(tmp_path).failure())
    assert error.message == f"{tmp_path}: cannot read the archive: not a regular file"


def test_truncation_anywhere_is_refused(tmp_path: Path) -> None:
    whole = archive_of(tmp_path / "whole.tar").read_bytes()
    data_end = len(whole.rstrip(b"\0"))  # the last entry's data ends with '}'
    end = data_end + (-data_end % 512) + 1024  # Python pads the file further with zeros
    cut = tmp_path / "cut.tar"
    for size in [*range(0, end, 97), end - 1]:
        cut.write_bytes(whole[:size])
        error = _refused(cut)
        assert isinstance(error, TarTruncated | BadTarHeader), (size, error)
    cut.write_bytes(whole[:end])
    _index(cut)


def test_a_truncated_blob_names_its_entry(tmp_path: Path) -> None:
    image = tiny_image()
    layer = image.files[image.blob_path(image.layer)]
    files = {image.blob_path(image.layer): layer}
    whole = write_tar(tmp_path / "whole.tar", members(files)).read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(whole[: whole.index(layer) + 10])
    error = _refused(cut)
    assert isinstance(error, TarTruncated)
    assert image.blob_path(image.layer) in error.message


def _corrupt(tmp_path: Path) -> tuple[Path, TinyImage]:
    """An archive whose layer entry holds other bytes of the same length."""
    image = tiny_image()
    files = dict(image.files)
    name = image.blob_path(image.layer)
    files[name] = bytes(b ^ 0xFF for b in files[name])
    return write_tar(tmp_path / "corrupt.tar", members(files)), image


def test_a_blob_that_does_not_hash_to_its_name_is_never_handed_out(tmp_path: Path) -> None:
    path, image = _corrupt(tmp_path)
    archive = _index(path)  # the index pass reads no blob data
    layer = _digest(image.layer)
    failure = unsafe_perform_io(archive.read_bytes(layer).failure())
    assert isinstance(failure, DigestMismatch)
    assert failure.message.startswith(f"{path}: entry {image.blob_path(image.layer)}: digest")
    stream = unsafe_perform_io(archive.open(layer).unwrap())
    with stream, pytest.raises(CorruptEntryError) as raised:
        while stream.read(7):
            pass
    assert isinstance(raised.value.error, DigestMismatch)


def test_a_file_changed_after_indexing_is_refused(tmp_path: Path) -> None:
    image = tiny_image()
    path = archive_of(tmp_path / "a.tar", image)
    archive = _index(path)
    with path.open("ab") as handle:
        handle.write(b"\0" * 512)
    failure = unsafe_perform_io(archive.open(_digest(image.layer)).failure())
    assert isinstance(failure, StoreIOFailure)
    assert "changed" in failure.message
    assert TarChanged(tar=str(path), reason="size, inode or mtime differ").message in (
        failure.message
    )


# --- writing ------------------------------------------------------------------------------


def layout_of(root: Path, image: TinyImage, tags: Iterable[str] = ("v1",)) -> Path:
    """``image`` stored in a ``LocalStore`` layout at ``root``, rooted under ``tags``."""
    store = unsafe_perform_io(LocalStore.at(root).unwrap())
    for name, data in image.files.items():
        if name.startswith("blobs/"):
            unsafe_perform_io(store.put_bytes(data).unwrap())
    manifest = image.files[image.blob_path(image.manifest)]
    descriptor = Descriptor(
        media_type=OCI_MANIFEST, digest=_digest(image.manifest), size=len(manifest)
    )
    for tag in tags:
        unsafe_perform_io(store.set_root(tag, descriptor).unwrap())
    return root


def test_the_writer_writes_the_documented_tar(tmp_path: Path) -> None:
    image = tiny_image()
    layout = layout_of(tmp_path / "layout", image)
    path = tmp_path / "out.tar"
    report = unsafe_perform_io(write_oci_archive(layout, path).unwrap())
    data = path.read_bytes()
    assert report.size == len(data)
    assert data.endswith(b"\0" * 1024)
    blobs = sorted(image.blob_path(d) for d in (image.manifest, image.config, image.layer))
    with tarfile.open(path) as tar:
        got = tar.getmembers()
        assert [m.name for m in got] == [
            "oci-layout", "index.json", "blobs", "blobs/sha256", *blobs,
        ]  # fmt: skip
        for member in got:
            assert (member.uid, member.gid, member.mtime) == (0, 0, 0)
            assert (member.uname, member.gname) == ("", "")
            assert member.mode == (0o755 if member.isdir() else 0o644)
            if member.isfile() and member.name.startswith("blobs/"):
                handle = tar.extractfile(member)
                assert handle is not None
                assert handle.read() == image.files[member.name]
        index_member = tar.extractfile("index.json")
        assert index_member is not None
        assert index_member.read() == (layout / "index.json").read_bytes()
    assert [str(d) for d in report.blobs] == [
        b.replace("blobs/", "").replace("/", ":") for b in blobs
    ]
    archive = _index(path)
    assert str(unsafe_perform_io(archive.resolve("v1").unwrap()).digest) == image.manifest
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_same_content_gives_the_same_bytes(tmp_path: Path) -> None:
    image = tiny_image()
    one = layout_of(tmp_path / "one", image, ("v1", "other"))
    two = layout_of(tmp_path / "two", image, ("v1", "other"))
    for path in (two / "index.json", *(two / "blobs" / "sha256").iterdir()):
        os.utime(path, (1_000_000, 1_000_000), follow_symlinks=False)
    first, second = tmp_path / "first.tar", tmp_path / "second.tar"
    unsafe_perform_io(write_oci_archive(one, first).unwrap())
    unsafe_perform_io(write_oci_archive(two, second).unwrap())
    assert first.read_bytes() == second.read_bytes()
    unsafe_perform_io(write_oci_archive(one, first).unwrap())  # over an existing file
    assert first.read_bytes() == second.read_bytes()


def test_a_corrupt_layout_blob_leaves_the_destination_untouched(tmp_path: Path) -> None:
    image = tiny_image()
    layout = layout_of(tmp_path / "layout", image)
    blob = layout / image.blob_path(image.layer)
    blob.chmod(0o644)
    blob.write_bytes(bytes(b ^ 1 for b in blob.read_bytes()))
    path = tmp_path / "out.tar"
    path.write_bytes(b"previous")
    failure = unsafe_perform_io(write_oci_archive(layout, path).failure())
    assert isinstance(failure, DigestMismatch)
    assert path.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layout", "out.tar"]


def test_blobs_larger_than_a_chunk_are_streamed_both_ways(tmp_path: Path) -> None:
    blob = os.urandom(2 * (1 << 20) + 12345)
    image = tiny_image()
    layout = layout_of(tmp_path / "layout", image)
    store = unsafe_perform_io(LocalStore.at(layout).unwrap())
    digest = unsafe_perform_io(store.put_bytes(blob).unwrap())
    path = tmp_path / "out.tar"
    unsafe_perform_io(write_oci_archive(layout, path).unwrap())
    archive = _index(path)
    hashed = hashlib.sha256()
    reads = 0
    with unsafe_perform_io(archive.open(digest).unwrap()) as stream:
        while chunk := stream.read(1 << 20):
            hashed.update(chunk)
            reads += 1
    assert "sha256:" + hashed.hexdigest() == str(digest)
    assert reads == 3


def test_written_archives_round_trip_through_the_reader(tmp_path: Path) -> None:
    image = tiny_image(seed="round trip")
    layout = layout_of(tmp_path / "layout", image, ("v1", "sha256-x.imgpkg"))
    path = tmp_path / "out.tar"
    unsafe_perform_io(write_oci_archive(layout, path).unwrap())
    archive = _index(path)
    assert [root_name(d) for d in unsafe_perform_io(archive.roots().unwrap())] == [
        "v1",
        "sha256-x.imgpkg",
    ]
    assert archive.index_raw == (layout / "index.json").read_bytes()


# --- the syntax -----------------------------------------------------------------------------


def _request(**flags: Any) -> CopyRequest | UsageError:
    arguments: dict[str, Any] = {
        "image": None, "bundle": None, "lock": None, "tar": None, "to_repo": None,
        "to_tar": None, "lock_output": None, "concurrency": 1,
        "include_non_distributable": False, "repo_based_tags": False, "resume": False,
    }  # fmt: skip
    arguments.update(flags)
    result = parse_copy_request(**arguments)
    return result.unwrap() if isinstance(result, Success) else result.failure()


def test_archive_sources() -> None:
    tagged = _request(bundle="oci-archive:/data/b.tar:v1", to_repo="reg.io/dst")
    assert isinstance(tagged, CopyRequest)
    assert (tagged.source_archive, tagged.source_layout) == ("/data/b.tar", None)
    assert source_root(tagged) == layout_reference("v1")
    assert tagged.shown(layout_reference("v1")) == "oci-archive:/data/b.tar"
    untagged = _request(image="oci-archive:rel/i.tar", to_repo="reg.io/dst")
    assert isinstance(untagged, CopyRequest)
    assert untagged.source_archive == "rel/i.tar"
    assert source_root(untagged) == layout_reference("latest")
    registry = _request(image="reg.io/src:v1", to_repo="reg.io/dst")
    assert isinstance(registry, CopyRequest)
    assert source_root(registry) is None


def test_layout_sources_are_unchanged() -> None:
    request = _request(bundle="oci:/data/layout:v1", to_repo="reg.io/dst")
    assert isinstance(request, CopyRequest)
    assert (request.source_layout, request.source_archive) == ("/data/layout", None)
    assert source_root(request) == layout_reference("v1")
    digest = _digest("sha256:" + "b" * 64)
    inside = layout_reference("v1").context().digest(digest)
    assert request.shown(inside) == f"oci:/data/layout@{digest}"


def test_archive_destinations() -> None:
    request = _request(image="reg.io/src:v1", to_repo="oci-archive:/data/out.tar")
    assert isinstance(request, CopyRequest)
    assert request.destination == ArchiveDestination(path="/data/out.tar")
    layout = _request(image="reg.io/src:v1", to_repo="oci:/data/out")
    assert isinstance(layout, CopyRequest)
    assert layout.destination == LayoutDestination(path="/data/out", tag="latest")
    registry = _request(image="reg.io/src:v1", to_repo="reg.io/dst")
    assert isinstance(registry, CopyRequest)
    assert registry.destination == Repository(registry="reg.io", repository="dst")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            {"to_repo": "oci-archive:/data/out.tar:v1"},
            "--to-repo 'oci-archive:/data/out.tar:v1': an OCI archive destination takes no tag "
            "(the copied tags become its root names)",
        ),
        (
            {"to_repo": "oci-archive:/data/out.tar", "lock_output": "lock.yml"},
            "--lock-output needs a registry destination: a lock file holds registry "
            "references, and an OCI archive has none",
        ),
        (
            {"to_repo": "oci-archive:"},
            "'oci-archive:' names no file (expected oci-archive:FILE[:TAG])",
        ),
        (
            {"image": "oci-archive:/data/in.tar:bad tag", "to_repo": "reg.io/dst"},
            "invalid tag 'bad tag' in 'oci-archive:/data/in.tar:bad tag' (expected letters "
            "and digits joined by single '.', '_' or '-', at most 128 characters)",
        ),
    ],
)
def test_archive_syntax_errors(flags: dict[str, Any], message: str) -> None:
    flags.setdefault("image", "reg.io/src:v1")
    error = _request(**flags)
    assert isinstance(error, UsageError)
    assert error.message == message


def test_archive_locations() -> None:
    parsed = parse_archive_location("oci-archive:/a/b.tar:v1").unwrap()
    assert (parsed.path, parsed.tag, str(parsed)) == ("/a/b.tar", "v1", "oci-archive:/a/b.tar:v1")
    assert parse_archive_location("oci-archive:/a:b/c.tar").unwrap().path == "/a:b/c.tar"
    assert parse_archive_location("oci-archive:b.tar").unwrap().tag is None
    assert isinstance(parse_archive_location("oci:/a/b"), Failure)
