"""Pure rendering of ``describe`` and ``tag list`` against what the real imgpkg printed.

``bundle-relocated/describe.yml`` and ``tag-list*.txt`` were written by
imgpkg v0.43 (see ``tests/fixtures/imgpkg/MAKE.md``); the facts behind them
are rebuilt here and must render byte for byte the same.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

import imgpkg_pure.describe as describe_module
from imgpkg_pure.describe import (
    BundleFacts,
    Found,
    check_output_type,
    describe,
    render_text,
    render_yaml,
)
from imgpkg_pure.reference import Reference, parse_reference
from imgpkg_pure.tags import (
    Column,
    Table,
    header_key,
    listed_tags,
    render_table,
    render_table_data,
    table_document,
    tag_table,
)

RELOCATED = Path(__file__).resolve().parents[1] / "fixtures" / "imgpkg" / "bundle-relocated"


def ref(text: str) -> Reference:
    return parse_reference(text).unwrap()


def digest(char: str) -> str:
    return "sha256:" + char * 64


# --- describe: imgpkg's own output ----------------------------------------------------------


def _fixture_facts() -> tuple[Reference, dict[str, BundleFacts]]:
    """The facts behind ``describe.yml``, read back from it."""
    doc: dict[str, Any] = yaml.safe_load((RELOCATED / "describe.yml").read_text())
    root = ref(doc["image"])
    content = tuple(
        Found(
            kind=info["imageType"],
            origin=info["origin"],
            location=ref(info["image"]),
            annotations=info.get("annotations", {}),
            layers=tuple(layer["digest"] for layer in info["layers"]),
        )
        for info in doc["content"]["images"].values()
    )
    layers = tuple(layer["digest"] for layer in doc["layers"])
    return root, {str(root): BundleFacts(location=root, layers=layers, content=content)}


def test_yaml_is_byte_for_byte_imgpkgs() -> None:
    root, graph = _fixture_facts()
    assert render_yaml(describe(root, graph)) == (RELOCATED / "describe.yml").read_text()


REPO = "localhost:5077/relocated/bundle"
SRC = "localhost:5077/fixtures"
MULTI = "sha256:85c400b7ea656c8b0351dd4af3a9e9ed1a52850798b48bdb9ab41937956bcbd9"
APP = "sha256:8a18a353caab65c2e52f2e6b6838a8bf664dbd0c26e5136a3e3b85140e705842"
LAYERED = "sha256:576619875c4a385bc5d47b277f2ed4843d3acb42634c6dcd0f764f0a15ad6fc1"
LOCATIONS = "sha256:ae09e75fdcfb81d59a67ba5bf42b95db423771a973e3410a30578cbae7308fb4"

FIXTURE_TEXT = f"""\
Bundle SHA: sha256:0a9ea461066de1da4897bf80b6494692746408f1ec42f47c3bdc0a457eea8e0d

Images:
  - Image: {REPO}@{MULTI}
    Type: Image
    Origin: {SRC}/multiarch@{MULTI}
    Layers:
      - Digest: sha256:1b7d6ead3bd539e3b182c7c0255703ad628f7c0c71cf8343ced17fb6d19fddbb
  - Image: {REPO}@{APP}
    Type: Image
    Origin: {SRC}/app@{APP}
    Layers:
      - Digest: sha256:51e366d79aa026e061e75a5d4dc7de38b731c5c402e2a7752eb13074294c4980
    Annotations:
      kbld.carvel.dev/id: fixtures/app:v1
  - Image: {REPO}@{LAYERED}
    Type: Image
    Origin: {SRC}/layered@{LAYERED}
    Layers:
      - Digest: sha256:2c5b322738f9bd4d84b4a23ac930e11c2b21c1778a9aa3c620f115183adf38a2
      - Digest: sha256:15f58ffa9bc6c49964c63f37cc2ddb830b3ee18d03803fb371f91297011f3d00
      - Digest: sha256:4afc7031bdf953742ff488cf6495a65b1aec0d09de950ce4b618a8f24e2fd383
    Annotations:
      kbld.carvel.dev/id: fixtures/layered:v1
      kbld.carvel.dev/origins: - local:
          path: make_oci_layouts.py
      \n\
  - Image: {REPO}@{LOCATIONS}
    Type: Internal
    Layers:
      - Digest: sha256:7c123aa20297b59e96453eef61596596891eb7588091f789ccfa41fd0e4608c3
"""


def test_text_of_the_fixture() -> None:
    """imgpkg's text shape (§5.12), in the YAML form's key order; a multi-line annotation value
    gets the prefix of every nested logger on its following lines, and a blank-ish line after."""
    root, graph = _fixture_facts()
    assert render_text(describe(root, graph)) == FIXTURE_TEXT


def test_output_is_stable_whatever_the_order_observed() -> None:
    root, graph = _fixture_facts()
    facts = graph[str(root)]
    outputs = {
        (render_yaml(d), render_text(d))
        for d in (
            describe(
                root,
                {str(root): BundleFacts(location=root, layers=facts.layers, content=order)},
            )
            for order in itertools.permutations(facts.content)
        )
    }
    assert len(outputs) == 1


# --- describe: nested bundles, failed entries, empty bundles -----------------------------


def _nested() -> tuple[Reference, dict[str, BundleFacts]]:
    root = ref(f"reg.io/rr@{digest('a')}")
    b1, b2, b3 = (ref(f"reg.io/rr@{digest(c)}") for c in "bcd")

    def image(char: str, name: str) -> Found:
        return Found(
            kind="Image",
            origin=f"other.io/{name}@{digest(char)}",
            location=ref(f"reg.io/rr@{digest(char)}"),
        )

    def bundle(at: Reference, name: str, **extra: Any) -> Found:
        return Found(kind="Bundle", origin=f"other.io/{name}@{at.digest}", location=at, **extra)

    graph = {
        str(root): BundleFacts(
            location=root,
            content=(
                image("3", "i"),
                bundle(b2, "b2"),
                Found(
                    kind="Signature",
                    origin=f"reg.io/rr:sha256-{'3' * 64}.sig",
                    location=None,
                    error="access denied",
                ),
                bundle(b1, "b1", annotations={"id": "b1", "a": "x"}),
            ),
        ),
        str(b1): BundleFacts(
            location=b1,
            layers=(digest("f"),),
            content=(image("5", "j"), bundle(b3, "b3")),
        ),
        str(b2): BundleFacts(location=b2),
        str(b3): BundleFacts(location=b3, content=(image("6", "k"),)),
    }
    return root, graph


NESTED_TEXT = f"""\
Bundle SHA: {digest("a")}

Images:
  - Image: reg.io/rr@{digest("b")}
    Type: Bundle
    Origin: other.io/b1@{digest("b")}
    Layers:
      - Digest: {digest("f")}
    Annotations:
      a: x
      id: b1
    Images:
    - Image: reg.io/rr@{digest("d")}
      Type: Bundle
      Origin: other.io/b3@{digest("d")}
      Images:
      - Image: reg.io/rr@{digest("6")}
        Type: Image
        Origin: other.io/k@{digest("6")}
    - Image: reg.io/rr@{digest("5")}
      Type: Image
      Origin: other.io/j@{digest("5")}

  - Image: reg.io/rr@{digest("c")}
    Type: Bundle
    Origin: other.io/b2@{digest("c")}
  - Image: \n\
    Type: Signature
  - Image: reg.io/rr@{digest("3")}
    Type: Image
    Origin: other.io/i@{digest("3")}
"""


def test_text_of_nested_bundles() -> None:
    """Bundles first, a blank line between bundles, nested ``Images:`` flush with their ``- ``."""
    root, graph = _nested()
    assert render_text(describe(root, graph)) == NESTED_TEXT


def test_yaml_of_nested_bundles() -> None:
    root, graph = _nested()
    text = render_yaml(describe(root, graph))
    assert text.startswith(f"sha: {digest('a')}\ncontent:\n  bundles:\n")
    doc = yaml.safe_load(text)
    assert doc["metadata"] == {} and "layers" not in doc and "annotations" not in doc
    assert doc["origin"] == doc["image"] == f"reg.io/rr@{digest('a')}"
    b1 = doc["content"]["bundles"][digest("b")]
    assert b1["annotations"] == {"a": "x", "id": "b1"}
    assert b1["layers"] == [{"digest": digest("f")}]
    assert b1["content"]["bundles"][digest("d")]["content"]["images"][digest("6")] == {
        "image": f"reg.io/rr@{digest('6')}",
        "imageType": "Image",
        "origin": f"other.io/k@{digest('6')}",
    }
    b2 = doc["content"]["bundles"][digest("c")]
    assert b2 == {
        "content": {},
        "image": f"reg.io/rr@{digest('c')}",
        "metadata": {},
        "origin": f"other.io/b2@{digest('c')}",
    }
    assert "    content: {}\n" in text and "    metadata: {}\n" in text
    failed = doc["content"]["images"][f"reg.io/rr:sha256-{'3' * 64}.sig"]
    assert failed == {"error": "access denied", "imageType": "Signature"}


def test_an_empty_bundle() -> None:
    root = ref(f"reg.io/rr@{digest('a')}")
    graph = {str(root): BundleFacts(location=root)}
    description = describe(root, graph)
    assert render_text(description) == f"Bundle SHA: {digest('a')}\n\n"
    assert render_yaml(description) == (
        f"sha: {digest('a')}\ncontent: {{}}\nimage: reg.io/rr@{digest('a')}\nmetadata: {{}}\n"
        f"origin: reg.io/rr@{digest('a')}\n"
    )


def test_entries_sharing_a_digest_keep_the_last_origin() -> None:
    """imgpkg iterates by ImagesLock string and assigns by digest: the last one wins."""
    root = ref(f"reg.io/rr@{digest('a')}")
    where = ref(f"reg.io/rr@{digest('1')}")
    content = tuple(
        Found(kind="Image", origin=f"{host}/x@{digest('1')}", location=where)
        for host in ("b.io", "a.io", "c.io")
    )
    graph = {str(root): BundleFacts(location=root, content=content)}
    images = describe(root, graph).images
    assert [(key, info.origin) for key, info in images] == [(digest("1"), f"c.io/x@{digest('1')}")]


def test_output_types() -> None:
    assert check_output_type("text") is None and check_output_type("yaml") is None
    refused = check_output_type("json")
    assert refused is not None
    assert refused.message == "--output-type can only have the following values [text, yaml]"


# --- tables ---------------------------------------------------------------------------------


def _rows(name: str) -> list[tuple[str, str]]:
    lines = (RELOCATED / name).read_text().splitlines()[3:-4]
    return [(row.split()[0], row.split()[1]) for row in lines]


@pytest.mark.parametrize("name", ["tag-list.txt", "tag-list-internal.txt"])
def test_tag_tables_are_byte_for_byte_imgpkgs(name: str) -> None:
    rows = _rows(name)
    expected = (RELOCATED / name).read_text()
    assert render_table(tag_table(reversed(rows), digests=True)) + "\nSucceeded\n" == expected


def test_hidden_digest_column_and_data_only_rows() -> None:
    rows = [("v10", ""), ("a-long-tag", ""), ("v1", "")]
    table = tag_table(rows, digests=False)
    assert render_table(table) == ("Tags\n\nName  \na-long-tag  \nv1  \nv10  \n\n3 tags\n")
    assert render_table_data(table) == "a-long-tag\t\nv1\t\nv10\t\n"
    with_digests = tag_table(
        [(n, digest(c)) for (n, _), c in zip(rows, "123", strict=True)], digests=True
    )
    assert render_table_data(with_digests).splitlines() == [
        f"a-long-tag\t{digest('2')}\t",
        f"v1        \t{digest('3')}\t",
        f"v10       \t{digest('1')}\t",
    ]


def test_empty_tables_and_cells() -> None:
    assert render_table(tag_table([], digests=True)) == "Tags\n\nName  Digest  \n\n0 tags\n"
    assert render_table_data(tag_table([], digests=True)) == ""
    table = Table(
        title="",
        content="things",
        columns=(Column(title="A"), Column(title="B")),
        rows=(("x", ""),),
        notes=("note1",),
    )
    assert render_table(table) == "A  B  \nx  -  \n\nnote1\n\n1 things\n"


def test_table_json_documents() -> None:
    table = tag_table([("v1", digest("1"))], digests=True)
    assert table_document(table) == {
        "Content": "tags",
        "Header": {"digest": "Digest", "name": "Name"},
        "Rows": [{"digest": digest("1"), "name": "v1"}],
        "Notes": None,
    }
    hidden = table_document(tag_table([("v1", "")], digests=False))
    assert hidden["Header"] == {"name": "Name"} and hidden["Rows"] == [{"name": "v1"}]
    assert list(hidden) == ["Content", "Header", "Rows", "Notes"]


def test_header_keys() -> None:
    assert header_key("Header & ( foo )  1 ", 0) == "header_foo_1"
    assert header_key("Header-2 header 3", 1) == "header_2_header_3"
    assert header_key("#", 0) == "0" and header_key("$", 2) == "2"


def test_listed_tags() -> None:
    tags = ["v2", "sha256-a.imgpkg", "sha256-a.sig", "v1", "sha256-b.image-locations.imgpkg", "v1"]
    assert listed_tags(tags, include_internal=False) == ("sha256-a.sig", "v1", "v2")
    assert listed_tags(tags, include_internal=True) == (
        "sha256-a.imgpkg",
        "sha256-a.sig",
        "sha256-b.image-locations.imgpkg",
        "v1",
        "v2",
    )


def test_without_annotations_removes_every_annotation() -> None:
    from_describe = describe_module
    Description, ImageInfo = from_describe.Description, from_describe.ImageInfo
    render_yaml, without_annotations = from_describe.render_yaml, from_describe.without_annotations
    inner = Description(
        image="r.io/a@sha256:" + "1" * 64, origin="o", annotations=(("k", "v"),)
    )
    outer = Description(
        image="r.io/a@sha256:" + "2" * 64,
        origin="o",
        annotations=(("k", "v"),),
        bundles=(("b", inner),),
        images=(("i", ImageInfo(image_type="Image", image="x", annotations=(("k", "v"),))),),
    )
    assert "annotations" in render_yaml(outer)
    assert "annotations" not in render_yaml(without_annotations(outer))
