"""``.imgpkg/bundle.yml``: a bundle's optional, free-form metadata.

Spec: docs/imgpkg-reference.md §2.4 (YAML conventions: §2.1).
imgpkg v0.43 never reads or validates this file; it is an ordinary file of
the bundle layer and ``describe`` prints ``metadata: {}``.  Its documented
shape::

    apiVersion: imgpkg.carvel.dev/v1alpha1
    kind: Bundle
    metadata:
      name: my-bundle
    authors:
    - name: Full Name
      email: name@example.com
    websites:
    - url: example.com

This module gives tooling a typed view.  Reading is lenient, as upstream's
later ``BundleMetadata`` reader (``yaml.Unmarshal``) is: unknown fields are
ignored, apiVersion and kind are not checked, ``metadata`` is a
``map[string]string`` (numbers and booleans become their text, a nested
mapping or list is an error), and every field may be absent.  Writing uses
imgpkg's YAML style with every empty field omitted.
"""

from __future__ import annotations

from typing import Final, final

from attrs import field, frozen
from returns.result import Result, Success

from imgpkg_pure.bundle._document import (
    DocumentKind,
    Invalid,
    Pairs,
    document_schema,
    get_pairs,
    get_str,
    get_structs,
    omit_empty,
    parse_document,
    sorted_pairs,
    unique_keys,
)
from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.yaml_doc import GoSlice, GoString, GoStringMap, GoStruct, Tree, encode_yaml

__all__ = [
    "BUNDLE_METADATA_FILE",
    "BUNDLE_METADATA_KIND",
    "BundleAuthor",
    "BundleMetadata",
    "BundleWebsite",
    "encode_bundle_metadata",
    "parse_bundle_metadata",
]

BUNDLE_METADATA_KIND: Final = "Bundle"
BUNDLE_METADATA_FILE: Final = "bundle.yml"

_AUTHOR: Final = GoStruct(
    go_type="bundle.BundleAuthor", fields=(("name", GoString()), ("email", GoString()))
)
_WEBSITE: Final = GoStruct(go_type="bundle.BundleWebsite", fields=(("url", GoString()),))
_DOCUMENT: Final = DocumentKind(
    kind=BUNDLE_METADATA_KIND,
    schema=document_schema(
        "bundle.BundleMetadata",
        ("metadata", GoStringMap()),
        ("authors", GoSlice(elem=_AUTHOR, go_type="[]bundle.BundleAuthor")),
        ("websites", GoSlice(elem=_WEBSITE, go_type="[]bundle.BundleWebsite")),
    ),
    strict=False,
    unmarshal="Unmarshalling bundle metadata",
    validate=None,  # nothing is validated
)


@final
@frozen(kw_only=True)
class BundleAuthor:
    """An entry of ``authors`` (both fields optional)."""

    name: str = ""
    email: str = ""


@final
@frozen(kw_only=True)
class BundleWebsite:
    """An entry of ``websites``."""

    url: str = ""


@final
@frozen(kw_only=True)
class BundleMetadata:
    """The content of ``.imgpkg/bundle.yml``; every field may be empty."""

    api_version: str = ""
    kind: str = ""
    metadata: Pairs = field(default=(), converter=sorted_pairs, validator=unique_keys)
    authors: tuple[BundleAuthor, ...] = ()
    websites: tuple[BundleWebsite, ...] = ()

    @property
    def name(self) -> str | None:
        """``metadata.name``, if set."""
        for key, value in self.metadata:
            if key == "name":
                return value
        return None


def parse_bundle_metadata(
    text: str | bytes, where: str
) -> Result[BundleMetadata, MalformedDocument]:
    """Read bundle.yml leniently (nothing is validated beyond the field types)."""
    return parse_document(text, where, _DOCUMENT, _metadata)


def _metadata(tree: dict[str, Tree]) -> Result[BundleMetadata, Invalid]:
    return Success(
        BundleMetadata(
            api_version=get_str(tree, "apiVersion"),
            kind=get_str(tree, "kind"),
            metadata=get_pairs(tree, "metadata"),
            authors=tuple(
                BundleAuthor(name=get_str(entry, "name"), email=get_str(entry, "email"))
                for entry in get_structs(tree, "authors")
            ),
            websites=tuple(
                BundleWebsite(url=get_str(entry, "url")) for entry in get_structs(tree, "websites")
            ),
        )
    )


def encode_bundle_metadata(metadata: BundleMetadata) -> str:
    """bundle.yml in imgpkg's YAML style (``---`` line, sorted keys, empty fields omitted)."""
    tree = omit_empty({"apiVersion": metadata.api_version, "kind": metadata.kind})
    if metadata.metadata:
        tree["metadata"] = dict(metadata.metadata)
    if metadata.authors:
        tree["authors"] = [
            omit_empty({"name": author.name, "email": author.email}) for author in metadata.authors
        ]
    if metadata.websites:
        tree["websites"] = [omit_empty({"url": site.url}) for site in metadata.websites]
    return encode_yaml(tree)
