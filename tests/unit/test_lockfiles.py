"""imgpkg's documents against the files real imgpkg wrote (tests/fixtures/imgpkg) and its messages.

Spec: docs/imgpkg-reference.md §2.1-§2.5.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, TypeVar

import pytest
from returns.result import Result

from imgpkg_pure.bundle import (
    BundleLock,
    BundleMetadata,
    ImageLocation,
    ImageLocations,
    ImageLock,
    ImageRef,
    ImagesLock,
    encode_bundle_lock,
    encode_bundle_metadata,
    encode_image_locations,
    encode_image_lock,
    encode_images_lock,
    parse_bundle_lock,
    parse_bundle_metadata,
    parse_bundle_or_images_lock,
    parse_image_locations,
    parse_image_lock,
    parse_images_lock,
    relocate_images_lock,
)
from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.reference import Reference, Repository, parse_digest_reference, parse_repository
from imgpkg_pure.yaml_doc import Tree, encode_yaml

FIXTURES: Final = Path(__file__).resolve().parents[1] / "fixtures" / "imgpkg"
RELOCATED: Final = FIXTURES / "bundle-relocated"

APP: Final = "sha256:8a18a353caab65c2e52f2e6b6838a8bf664dbd0c26e5136a3e3b85140e705842"
LAYERED: Final = "sha256:576619875c4a385bc5d47b277f2ed4843d3acb42634c6dcd0f764f0a15ad6fc1"
MULTIARCH: Final = "sha256:85c400b7ea656c8b0351dd4af3a9e9ed1a52850798b48bdb9ab41937956bcbd9"
BUNDLE: Final = "sha256:0a9ea461066de1da4897bf80b6494692746408f1ec42f47c3bdc0a457eea8e0d"
TOOL: Final = "sha256:da614993ae194528a5cc396d86010d7843be21c94fabd259e79236be0a6ecf15"
OUTER: Final = "sha256:caae2b3f9e249aae701049e116b163f682a96cc8010bf41bf6bfba6bdd8eb0e9"

HEADER: Final = "apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImagesLock\n"
A_REF: Final = "a.io/bb@sha256:" + "a" * 64

T = TypeVar("T")


def ok(result: Result[T, MalformedDocument]) -> T:
    value = result.value_or(None)
    assert value is not None, result
    return value


def error(result: Result[Any, MalformedDocument]) -> MalformedDocument:
    failure: MalformedDocument | None = result.swap().value_or(None)
    assert failure is not None, result
    return failure


def ref(text: str) -> Reference:
    value = parse_digest_reference(text).value_or(None)
    assert value is not None
    return value


def repository(text: str) -> Repository:
    value = parse_repository(text).value_or(None)
    assert value is not None
    return value


def expected(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / "expected" / f"{name}.json").read_text())
    return loaded


def bundle_entry(name: str, digest: str) -> dict[str, Any]:
    for image in expected(name)["images"]:
        if image["kind"] == "bundle" and image["manifest_digest"] == digest:
            found: dict[str, Any] = image["bundle"]
            return found
    raise AssertionError(f"no bundle {digest} in expected/{name}.json")


# --- the fixtures -------------------------------------------------------------


def test_bundle_images_yml() -> None:
    path = FIXTURES / "src" / "bundle" / ".imgpkg" / "images.yml"
    lock = ok(parse_images_lock(path.read_bytes(), str(path)))
    assert [str(entry.image) for entry in lock.images] == [
        f"localhost:5077/fixtures/app@{APP}",
        f"localhost:5077/fixtures/layered@{LAYERED}",
        f"localhost:5077/fixtures/multiarch@{MULTIARCH}",
    ]
    app, layered, multiarch = lock.images
    assert app.annotations == (("kbld.carvel.dev/id", "fixtures/app:v1"),)
    assert layered.annotation("kbld.carvel.dev/id") == "fixtures/layered:v1"
    assert layered.annotation("kbld.carvel.dev/origins") == (
        "- local:\n    path: make_oci_layouts.py\n"
    )
    assert multiarch.annotations == ()
    assert str(app.image.digest) == APP


def test_outer_bundle_images_yml() -> None:
    path = FIXTURES / "src" / "outer-bundle" / ".imgpkg" / "images.yml"
    lock = ok(parse_images_lock(path.read_text(), str(path)))
    assert lock == ImagesLock(
        images=(
            ImageRef(
                image=ref(f"localhost:5077/fixtures/bundle@{BUNDLE}"),
                annotations=[("kbld.carvel.dev/id", "fixtures/bundle:v1")],
            ),
            ImageRef(
                image=ref(f"localhost:5077/fixtures/tool@{TOOL}"),
                annotations=[("kbld.carvel.dev/id", "fixtures/tool:v1")],
            ),
        )
    )


def test_original_images_yml_equals_the_pushed_one() -> None:
    original = ok(parse_images_lock((RELOCATED / "images.original.yml").read_text(), "o"))
    pushed = FIXTURES / "src" / "bundle" / ".imgpkg" / "images.yml"
    assert original == ok(parse_images_lock(pushed.read_text(), "p"))


def test_pull_rewrite_is_byte_for_byte() -> None:
    """images.original.yml relocated to the bundle's repo == what imgpkg pull wrote."""
    original = ok(parse_images_lock((RELOCATED / "images.original.yml").read_bytes(), "o"))
    relocated = relocate_images_lock(original, repository("localhost:5077/relocated/bundle"))
    assert [str(entry.image) for entry in relocated.images] == [
        f"localhost:5077/relocated/bundle@{APP}",
        f"localhost:5077/relocated/bundle@{LAYERED}",
        f"localhost:5077/relocated/bundle@{MULTIARCH}",
    ]
    written = encode_images_lock(relocated).encode()
    assert written == (RELOCATED / "images.pulled.yml").read_bytes()


def test_pulled_images_yml_round_trips() -> None:
    data = (RELOCATED / "images.pulled.yml").read_bytes()
    assert encode_images_lock(ok(parse_images_lock(data, "p"))).encode() == data


def test_bundle_lock_round_trips() -> None:
    data = (RELOCATED / "bundle.lock.yml").read_bytes()
    lock = ok(parse_bundle_lock(data, "bundle.lock.yml"))
    assert lock == BundleLock(image=f"localhost:5077/relocated/bundle@{BUNDLE}", tag="v1")
    assert encode_bundle_lock(lock).encode() == data


def test_image_locations_round_trips() -> None:
    data = (RELOCATED / "image-locations.yml").read_bytes()
    locations = ok(parse_image_locations(data, "image-locations.yml"))
    assert locations.images == (
        ImageLocation(image=f"localhost:5077/fixtures/app@{APP}", is_bundle=False),
        ImageLocation(image=f"localhost:5077/fixtures/layered@{LAYERED}", is_bundle=False),
        ImageLocation(image=f"localhost:5077/fixtures/multiarch@{MULTIARCH}", is_bundle=False),
    )
    assert encode_image_locations(locations).encode() == data


@pytest.mark.parametrize(("name", "digest"), [("bundle", BUNDLE), ("nested-bundle", OUTER)])
def test_copy_lock_output(name: str, digest: str) -> None:
    """``copy --tar … --to-repo {REPO} --lock-output`` (observed with imgpkg)."""
    repo = "127.0.0.1:5123/copied/here"
    want = expected(name)["roundtrip"]["lock_output"].replace("{REPO}", repo)
    assert encode_bundle_lock(BundleLock(image=f"{repo}@{digest}", tag="v1")) == want


def test_copy_lock_output_for_an_image() -> None:
    repo = "127.0.0.1:5123/copied/app"
    want = expected("image")["roundtrip"]["lock_output"].replace("{REPO}", repo)
    lock = ImagesLock(images=(ImageRef(image=ref(f"{repo}@{APP}")),))
    assert encode_images_lock(lock) == want


@pytest.mark.parametrize(
    ("name", "digest"), [("bundle", BUNDLE), ("nested-bundle", BUNDLE), ("nested-bundle", OUTER)]
)
def test_expected_pull_rewrites_and_locations(name: str, digest: str) -> None:
    entry = bundle_entry(name, digest)
    repo = "127.0.0.1:5123/relocated/x"
    lock = ok(parse_images_lock(entry["images_yml"], "images.yml"))
    want = entry["images_yml_after_pull_from_relocated_repo"].replace("{REPO}", repo)
    assert encode_images_lock(relocate_images_lock(lock, repository(repo))) == want
    locations_text = entry["image_locations_yml_after_copy"]
    locations = ok(parse_image_locations(locations_text, "image-locations.yml"))
    assert encode_image_locations(locations) == locations_text
    assert [location.image for location in locations.images] == sorted(
        str(image.image) for image in lock.images
    )


def test_nested_locations_mark_bundles() -> None:
    entry = bundle_entry("nested-bundle", OUTER)
    locations = ok(parse_image_locations(entry["image_locations_yml_after_copy"], "l"))
    assert locations.is_bundle(f"localhost:5077/fixtures/bundle@{BUNDLE}") is True
    assert locations.is_bundle(f"localhost:5077/fixtures/tool@{TOOL}") is False
    assert locations.is_bundle("nowhere.io/xx@" + APP) is None


@pytest.mark.parametrize("bundle", ["bundle", "outer-bundle"])
def test_bundle_yml(bundle: str) -> None:
    path = FIXTURES / "src" / bundle / ".imgpkg" / "bundle.yml"
    metadata = ok(parse_bundle_metadata(path.read_text(), str(path)))
    assert metadata.api_version == "imgpkg.carvel.dev/v1alpha1"
    assert metadata.kind == "Bundle"
    assert metadata.name == f"fixtures-{bundle}"
    assert metadata.authors[0].name == "Fixture Author"
    assert metadata.authors[0].email == "fixtures@example.com"
    assert metadata.websites[0].url.startswith("https://example.com/fixtures")
    assert ok(parse_bundle_metadata(encode_bundle_metadata(metadata), "again")) == metadata


def test_bundle_yml_typed_view() -> None:
    path = FIXTURES / "src" / "bundle" / ".imgpkg" / "bundle.yml"
    metadata = ok(parse_bundle_metadata(path.read_bytes(), str(path)))
    assert [(author.name, author.email) for author in metadata.authors] == [
        ("Fixture Author", "fixtures@example.com"),
        ("Second Author", ""),
    ]
    assert [site.url for site in metadata.websites] == [
        "https://example.com/fixtures",
        "example.org",
    ]
    assert encode_bundle_metadata(metadata) == (
        "---\n"
        "apiVersion: imgpkg.carvel.dev/v1alpha1\n"
        "authors:\n"
        "- email: fixtures@example.com\n"
        "  name: Fixture Author\n"
        "- name: Second Author\n"
        "kind: Bundle\n"
        "metadata:\n"
        "  name: fixtures-bundle\n"
        "websites:\n"
        "- url: https://example.com/fixtures\n"
        "- url: example.org\n"
    )


# --- strictness and imgpkg's messages -------------------------------------------------

UNMARSHAL = "Unmarshaling images lock: "
JSON_ERR = "error unmarshaling JSON: while decoding JSON: json: "


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            HEADER + f"images:\n- image: {A_REF}\n  another-key: x\n",
            UNMARSHAL + JSON_ERR + 'unknown field "another-key" (at images[0].another-key)',
        ),
        (HEADER + "extra: 1\n", UNMARSHAL + JSON_ERR + 'unknown field "extra" (at extra)'),
        (
            HEADER + f"images:\n- image: {A_REF}\n  image: {A_REF}\n",
            UNMARSHAL + "error converting YAML to JSON: yaml: unmarshal errors:\n"
            '  line 5: key "image" already set in map (at images[0])',
        ),
        (
            HEADER + "kind: ImagesLock\n",
            UNMARSHAL + "error converting YAML to JSON: yaml: unmarshal errors:\n"
            '  line 3: key "kind" already set in map',
        ),
        (
            "apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: BundleLock\n",
            "Validating images lock: Validating kind: Unknown kind (known: ImagesLock) (at kind)",
        ),
        (
            "apiVersion: imgpkg.carvel.dev/v1alpha2\nkind: ImagesLock\n",
            "Validating images lock: Validating apiVersion: Unknown version "
            "(known: imgpkg.carvel.dev/v1alpha1) (at apiVersion)",
        ),
        (
            "",  # an empty document decodes to the zero value, then fails validation
            "Validating images lock: Validating apiVersion: Unknown version "
            "(known: imgpkg.carvel.dev/v1alpha1) (at apiVersion)",
        ),
        (
            HEADER + f"images:\n- image: {A_REF}\n- image: ubuntu:22.04\n",
            "Validating images lock: Expected ref to be in digest form, got 'ubuntu:22.04' "
            "(at images[1].image)",
        ),
        (
            HEADER + "images:\n- annotations: {a: b}\n",
            "Validating images lock: Expected ref to be in digest form, got '' "
            "(at images[0].image)",
        ),
        (
            HEADER + f"images:\n- image: {A_REF}\n  annotations:\n    a: {{b: c}}\n",
            UNMARSHAL + JSON_ERR + "cannot unmarshal object into Go struct field "
            "ImageRef.images.annotations of type string (at images[0].annotations.a)",
        ),
        (
            HEADER + "images: {a: b}\n",
            UNMARSHAL + JSON_ERR + "cannot unmarshal object into Go struct field "
            "ImagesLock.images of type []lockconfig.ImageRef (at images)",
        ),
        (
            # apiVersion/kind come from the embedded LockVersion: not coerced to strings
            "apiVersion: 5\nkind: ImagesLock\n",
            UNMARSHAL + JSON_ERR + "cannot unmarshal number into Go struct field "
            "ImagesLock.apiVersion of type string (at apiVersion)",
        ),
        (
            "- a\n",
            UNMARSHAL
            + JSON_ERR
            + "cannot unmarshal array into Go value of type lockconfig.ImagesLock",
        ),
        (
            HEADER + "images: [\n",
            UNMARSHAL
            + "error converting YAML to JSON: yaml: line 3: did not find expected node content",
        ),
    ],
)
def test_images_lock_errors(text: str, reason: str) -> None:
    failure = error(parse_images_lock(text, "bundle/.imgpkg/images.yml"))
    assert failure.where == "bundle/.imgpkg/images.yml"
    assert failure.reason == reason
    assert failure.message == f"bundle/.imgpkg/images.yml: {reason}"


def test_images_lock_normalises_images() -> None:
    text = HEADER + (
        f"images:\n- image: ubuntu@{APP}\n- image: docker.io/x/y@{APP}\n"
        f"- image: name:tag@{APP}\n- image: localhost:5000/ab@{APP}\n"
    )
    lock = ok(parse_images_lock(text, "x"))
    assert [str(entry.image) for entry in lock.images] == [
        f"index.docker.io/library/ubuntu@{APP}",
        f"index.docker.io/x/y@{APP}",
        f"index.docker.io/library/name@{APP}",
        f"localhost:5000/ab@{APP}",
    ]
    assert "image: index.docker.io/library/ubuntu@" in encode_images_lock(lock)


def test_yaml_only_values_become_strings_as_sigs_yaml_does() -> None:
    text = HEADER + (
        f"images:\n- image: {A_REF}\n  annotations:\n"
        "    int: 5\n    hex: 0x1F\n    octal: 017\n    bool: yes\n    y: y\n"
        "    float: 1.5\n    big: 1e6\n    pi: 3.14159265358979\n    date: 2001-12-14\n"
        "    nothing: ~\n    quoted: '5'\n    5: five\n"
    )
    (entry,) = ok(parse_images_lock(text, "x")).images
    assert dict(entry.annotations) == {
        "int": "5",
        "hex": "31",
        "octal": "15",
        "bool": "true",
        "true": "true",  # the key `y` is a YAML 1.1 boolean too
        "float": "1.5",
        "big": "1e+06",
        "pi": "3.1415927",  # float32 formatting
        "date": "2001-12-14",  # timestamps keep their text
        "nothing": "",
        "quoted": "5",
        "5": "five",
    }


def test_case_insensitive_field_names_like_encoding_json() -> None:
    text = f"APIVERSION: imgpkg.carvel.dev/v1alpha1\nKind: ImagesLock\nImages:\n- IMAGE: {A_REF}\n"
    assert [str(entry.image) for entry in ok(parse_images_lock(text, "x")).images] == [A_REF]


def test_only_the_first_document_is_read() -> None:
    text = "---\n" + HEADER + "---\nnot: [valid\n"
    assert ok(parse_images_lock(text, "x")) == ImagesLock()


def test_merge_keys_and_anchors() -> None:
    text = (
        "base: &b {apiVersion: imgpkg.carvel.dev/v1alpha1}\n"  # unknown field: strict error
        "<<: *b\nkind: ImagesLock\n"
    )
    assert 'unknown field "base"' in error(parse_images_lock(text, "x")).reason
    lenient = (
        "base: &b {apiVersion: imgpkg.carvel.dev/v1alpha1, kind: ImageLocations}\n<<: *b\n"
        "images:\n- &i {image: x, isBundle: true}\n- *i\n"
    )
    locations = ok(parse_image_locations(lenient, "l"))
    assert locations.images == (ImageLocation(image="x", is_bundle=True),) * 2


def test_bytes_input() -> None:
    text = HEADER + f"images:\n- image: {A_REF}\n"
    assert ok(parse_images_lock(b"\xef\xbb\xbf" + text.encode(), "bom")).images[0].image == ref(
        A_REF
    )
    assert ok(parse_images_lock(text.encode("utf-16"), "utf16")).images[0].image == ref(A_REF)
    assert "invalid leading UTF-8 octet" in error(parse_images_lock(b"\xff\xfe\xfd", "x")).reason
    assert "invalid leading UTF-8 octet" in error(parse_images_lock(b"a: \xc3\x28", "x")).reason


@pytest.mark.parametrize(
    "garbage",
    [
        "\x00",
        "[",
        "{a: [",
        "*x",
        "a: *x",
        "a: &x [*x]",
        "? [a]\n: b",
        "[" * 400 + "]" * 400,
        "a: " + "- " * 300 + "x",
        "%YAML 2.0\n---\na: b",
        "a: !!int x",
        "a: !!binary '%%%'",
        "~: x",
        "a: b\n\tc: d",
        "\ufeff\ufeff",
    ],
)
def test_garbage_never_raises(garbage: str) -> None:
    for parse in (
        parse_images_lock,
        parse_bundle_lock,
        parse_image_lock,
        parse_image_locations,
        parse_bundle_metadata,
    ):
        result: Result[object, MalformedDocument] = parse(garbage, "g")
        failure = result.swap().value_or(None)
        if failure is not None:
            assert failure.where == "g"


def test_empty_images_lock_is_written_as_imgpkg_does() -> None:
    assert encode_images_lock(ImagesLock()) == (
        "---\napiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImagesLock\n"
    )


def test_emitter_matches_go_yaml() -> None:
    """Written by go-yaml v2.4.0 through sigs.k8s.io/yaml ``JSONToYAML`` (captured once)."""
    annotations = {
        "t": "true",
        "one": "1",
        "empty": "",
        "colon": "x: y",
        "hash": "a #b",
        "date": "2024-01-02",
        "b60": "1:20",
        "y": "y",
        "dash": "- x",
        "quote": "it's",
        "lead": " x",
        "bom": "\ufeffab",
        "tab": "a\tb",
        "emoji": "\U0001f600",
        "nl": "a\nb",
        "nltrail": "a\nb \n",
        "keep": "a\n\n",
        "a10": "x",
        "a9": "x",
        "A": "x",
        "_a": "x",
        "long": "word " * 30 + "end",
        "k" * 130: "v",
        "multi\nkey": "v",
        "uni": "caf\u00e9 \u4e2d",
    }
    lock = ImagesLock(
        images=(
            ImageRef(
                image=ref("index.docker.io/library/ubuntu@sha256:" + "a" * 64),
                annotations=annotations.items(),
            ),
        )
    )
    go_yaml = (
        "---\n"
        "apiVersion: imgpkg.carvel.dev/v1alpha1\n"
        "images:\n"
        "- annotations:\n"
        "    _a: x\n"
        "    A: x\n"
        "    a9: x\n"
        "    a10: x\n"
        '    b60: "1:20"\n'
        '    bom: "\\uFEFF\\x61\\x62"\n'
        "    colon: 'x: y'\n"
        "    dash: '- x'\n"
        '    date: "2024-01-02"\n'
        '    emoji: "\\U0001F600"\n'
        '    empty: ""\n'
        "    hash: 'a #b'\n"
        "    keep: |+\n"
        "      a\n"
        "\n"
        "    ? " + "k" * 130 + "\n"
        "    : v\n"
        "    lead: ' x'\n"
        "    long: word word word word word word word word word word word word word word word\n"
        "      word word word word word word word word word word word word word word word end\n"
        "    ? |-\n"
        "      multi\n"
        "      key\n"
        "    : v\n"
        "    nl: |-\n"
        "      a\n"
        "      b\n"
        '    nltrail: "a\\nb \\n"\n'
        '    one: "1"\n'
        "    quote: it's\n"
        '    t: "true"\n'
        '    tab: "a\\tb"\n'
        "    uni: caf\u00e9 \u4e2d\n"
        '    "y": "y"\n'
        "  image: index.docker.io/library/ubuntu@sha256:" + "a" * 64 + "\n"
        "kind: ImagesLock\n"
    )
    assert encode_images_lock(lock) == go_yaml
    assert ok(parse_images_lock(go_yaml, "x")) == lock


def test_emitter_edge_cases_match_go_yaml() -> None:
    """Written by go-yaml v2.4.0 through sigs.k8s.io/yaml ``JSONToYAML`` (captured once).

    Key order computed in Go's int64 (a 19-digit run wraps around), the empty
    key, a ``\\r`` or more than 128 bytes making a key complex, a single-quoted
    string ending in U+2028, a folded double-quoted line keeping a leading
    space with ``\\``, and no ``...`` after a final ``|+`` block.
    """
    tree: dict[str, Tree] = {
        "9223372036854775808": "wraps",
        "1": "one",
        "": "empty key",
        "cr\rkey": "v",
        "\u00e9" * 64: "128 bytes",
        "\u00e9" * 64 + "x": "129 bytes",
        "sep": "x\u2028",
        "tabbed": "\t" + "word " * 15 + " two  spaces  here and more words to wrap",
        "\u00ff": "end\n\n",
    }
    assert encode_yaml(tree) == (
        "---\n"
        '"": empty key\n'
        '"9223372036854775808": wraps\n'
        '"1": one\n'
        '? "cr\\rkey"\n'
        ": v\n"
        "sep: 'x\u2028'\n"
        'tabbed: "\\t' + "word " * 14 + "word\n"
        '  \\ two  spaces  here and more words to wrap"\n'
        + "\u00e9" * 64
        + ": 128 bytes\n"
        + "? "
        + "\u00e9" * 64
        + "x\n"
        ": 129 bytes\n"
        "\u00ff: |+\n"
        "  end\n"
        "\n"
    )


# --- BundleLock ------------------------------------------------------------------------


def test_bundle_lock_image_is_not_normalised() -> None:
    text = (
        "apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: BundleLock\n"
        f"bundle:\n  image: ubuntu:1@{APP}\n  tag: ''\n  otherTags: a,b\n"
    )
    lock = ok(parse_bundle_lock(text, "l"))
    assert lock == BundleLock(image=f"ubuntu:1@{APP}", tag=None, other_tags="a,b")
    assert str(lock.reference) == f"index.docker.io/library/ubuntu:1@{APP}"
    assert encode_bundle_lock(lock) == (
        "---\napiVersion: imgpkg.carvel.dev/v1alpha1\nbundle:\n"
        f"  image: ubuntu:1@{APP}\n  otherTags: a,b\nkind: BundleLock\n"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImagesLock\n",
            "Validating bundle lock: Validating kind: Unknown kind (known: BundleLock) (at kind)",
        ),
        (
            "apiVersion: x\nkind: BundleLock\n",
            "Validating bundle lock: Validating apiVersion: Unknown version "
            "(known: imgpkg.carvel.dev/v1alpha1) (at apiVersion)",
        ),
        (
            "apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: BundleLock\n"
            "bundle:\n  image: r.io/ab:v1\n",
            "Validating bundle lock: Expected ref to be in digest form, got 'r.io/ab:v1' "
            "(at bundle.image)",
        ),
        (
            "apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: BundleLock\n",
            "Validating bundle lock: Expected ref to be in digest form, got '' (at bundle.image)",
        ),
        (
            f"apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: BundleLock\nbundle:\n  image: {A_REF}\n"
            "  digest: x\n",
            "Unmarshaling bundle lock: " + JSON_ERR + 'unknown field "digest" (at bundle.digest)',
        ),
        (
            # pull --lock rejects an ImagesLock with a strict-unmarshal error
            HEADER + f"images:\n- image: {A_REF}\n",
            "Unmarshaling bundle lock: " + JSON_ERR + 'unknown field "images" (at images)',
        ),
    ],
)
def test_bundle_lock_errors(text: str, reason: str) -> None:
    assert error(parse_bundle_lock(text, "lock.yml")).reason == reason


def test_bundle_lock_values_are_checked() -> None:
    with pytest.raises(ValueError, match="digest form"):
        BundleLock(image="ubuntu:latest")
    with pytest.raises(ValueError, match="None"):
        BundleLock(image=A_REF, tag="")


def test_bundle_or_images_lock() -> None:
    bundle_text = (RELOCATED / "bundle.lock.yml").read_text()
    assert isinstance(ok(parse_bundle_or_images_lock(bundle_text, "l")), BundleLock)
    images_text = (RELOCATED / "images.pulled.yml").read_text()
    assert isinstance(ok(parse_bundle_or_images_lock(images_text, "l")), ImagesLock)
    failure = error(parse_bundle_or_images_lock(HEADER + "images:\n- image: x:1\n", "l"))
    assert failure.reason == (
        "Trying to read bundle or images lock file: Validating images lock: "
        "Expected ref to be in digest form, got 'x:1' (at images[0].image)"
    )


# --- ImageLock (imgpkg-pure extension) ---------------------------------------------------


def test_image_lock_round_trip() -> None:
    lock = ImageLock(image=f"localhost:5077/fixtures/app@{APP}", tag="v1")
    text = encode_image_lock(lock)
    assert text == (
        "---\napiVersion: imgpkg.carvel.dev/v1alpha1\nimage:\n"
        f"  image: localhost:5077/fixtures/app@{APP}\n  tag: v1\nkind: ImageLock\n"
    )
    assert ok(parse_image_lock(text, "l")) == lock
    assert lock.reference.repository == "fixtures/app"


def test_image_lock_errors() -> None:
    bundle_lock = (RELOCATED / "bundle.lock.yml").read_text()
    assert error(parse_image_lock(bundle_lock, "l")).reason == (
        "Unmarshaling image lock: " + JSON_ERR + 'unknown field "bundle" (at bundle)'
    )
    wrong_kind = "apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: BundleLock\n"
    assert error(parse_image_lock(wrong_kind, "l")).reason == (
        "Validating image lock: Validating kind: Unknown kind (known: ImageLock) (at kind)"
    )
    tag_ref = (
        "apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImageLock\nimage:\n  image: a.io/bb:1\n"
    )
    assert error(parse_image_lock(tag_ref, "l")).reason == (
        "Validating image lock: Expected ref to be in digest form, got 'a.io/bb:1' (at image.image)"
    )


# --- ImageLocations ------------------------------------------------------------------------


def test_image_locations_is_lenient() -> None:
    """imgpkg's own test: unknown fields are accepted."""
    text = (
        "apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImageLocations\nimages:\n"
        "- image: some.image.io/test@sha256:"
        "4c8b96d4fffdfae29258d94a22ae4ad1fe36139d47288b8960d9958d1e63a9d0\n"
        "  isBundle: true\n  some-other-key: value\n  isBundle: false\n"
    )
    (location,) = ok(parse_image_locations(text, "l")).images
    assert location.is_bundle is False  # lenient: a repeated key keeps the last value


def test_image_locations_errors() -> None:
    text = "apiVersion: imgpkg.carvel.dev/v1alpha2\nkind: ImageLocations\n"
    assert error(parse_image_locations(text, "l")).reason == (
        "Validating apiVersion: Unknown version (known: imgpkg.carvel.dev/v1alpha1) (at apiVersion)"
    )
    text = "apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImagesLock\n"
    assert error(parse_image_locations(text, "l")).reason == (
        "Validating kind: Unknown kind (known: ImageLocations) (at kind)"
    )
    text = (
        "apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImageLocations\n"
        "images:\n- isBundle: 'true'\n"
    )
    assert error(parse_image_locations(text, "l")).reason == (
        "Unmarshaling image locations config: " + JSON_ERR + "cannot unmarshal string into Go "
        "struct field ImageLocation.images.isBundle of type bool (at images[0].isBundle)"
    )


def test_image_locations_written_sorted() -> None:
    """imgpkg's own test (AsBytes produces deterministic result)."""
    digest = "sha256:4c8b96d4fffdfae29258d94a22ae4ad1fe36139d47288b8960d9958d1e63a9d0"
    locations = ImageLocations(
        images=[
            ImageLocation(image=f"z@{digest}", is_bundle=False),
            ImageLocation(image=f"a@{digest}", is_bundle=True),
            ImageLocation(image=f"b@{digest}", is_bundle=True),
        ]
    )
    assert encode_image_locations(locations) == (
        "---\napiVersion: imgpkg.carvel.dev/v1alpha1\nimages:\n"
        f"- image: a@{digest}\n  isBundle: true\n"
        f"- image: b@{digest}\n  isBundle: true\n"
        f"- image: z@{digest}\n  isBundle: false\n"
        "kind: ImageLocations\n"
    )


def test_empty_image_locations() -> None:
    text = encode_image_locations(ImageLocations())
    assert (
        text == "---\napiVersion: imgpkg.carvel.dev/v1alpha1\nimages: null\nkind: ImageLocations\n"
    )
    assert ok(parse_image_locations(text, "l")) == ImageLocations()


# --- bundle.yml ------------------------------------------------------------------------------


def test_bundle_metadata_lenient_and_typed() -> None:
    text = "kind: Whatever\nmetadata:\n  name: x\n  version: 1.0\nunknown: [1, 2]\nauthors:\n- {}\n"
    metadata = ok(parse_bundle_metadata(text, "bundle.yml"))
    assert metadata.kind == "Whatever"
    assert metadata.metadata == (("name", "x"), ("version", "1"))
    assert metadata.authors == (metadata.authors[0],)
    assert encode_bundle_metadata(BundleMetadata()) == "---\n{}\n"
    nested = "metadata:\n  name: {a: b}\n"
    assert error(parse_bundle_metadata(nested, "bundle.yml")).reason == (
        "Unmarshalling bundle metadata: " + JSON_ERR + "cannot unmarshal object into Go struct "
        "field BundleMetadata.metadata of type string (at metadata.name)"
    )
