"""``describe``: what a bundle holds, from observed facts to imgpkg's text or YAML (§1.5, §5.12).

The shell walks the bundle graph as copy does (§5.2) and records, for every
bundle, a :class:`BundleFacts`: where the bundle was found, its layers, and
one :class:`Found` per entry of its content (the ImagesLock images, nested
bundles, cosign signatures, the locations image).  Everything after that is
here, pure:

* :func:`describe` builds imgpkg's ``Description`` tree (``v1.Description``):
  for every bundle its ``image`` (where it was found), ``origin`` (the
  ImagesLock string; for the root its digest reference), the annotations
  from the parent's ImagesLock, its layers, and ``content.bundles`` /
  ``content.images`` keyed by digest (an entry that failed is keyed by its
  reference).  Entries are taken in the order of their ImagesLock string,
  so when two share a digest the last one wins, as in imgpkg.
* :func:`render_yaml` is ``-o yaml``: ``sha: <digest>`` and the
  sigs.k8s.io/yaml dump, keys in go-yaml's natural order.
* :func:`render_text` is ``-o text``: imgpkg's indented listing, written the
  way its nested two-space "prefixed loggers" write it (a multi-line
  annotation value gets the prefix on its following lines too, and a
  whitespace-only line after it).

imgpkg prints the text form in Go map order, different from run to run; here
the entries of each ``content`` map are printed in the order the YAML form
uses (go-yaml's natural key order), so the output is stable.  imgpkg also
passes the text through ``fmt`` format strings more than once, mangling a
``%`` in an annotation value; here values are printed as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, TypeVar, final

from attrs import evolve, field, frozen

from imgpkg_pure.errors import Fact
from imgpkg_pure.reference import Reference
from imgpkg_pure.yaml_doc import Tree, encode_yaml, natural_key_order

__all__ = [
    "OUTPUT_TYPES",
    "BundleFacts",
    "Description",
    "DescribeRefused",
    "EntryKind",
    "Found",
    "ImageInfo",
    "ReferrerInfo",
    "check_output_type",
    "describe",
    "render_text",
    "render_yaml",
]

#: ``--output-type`` values, in imgpkg's order.
OUTPUT_TYPES: Final = ("text", "yaml")

#: What a content entry is: ``Bundle`` (a nested bundle) or one of imgpkg's image types.
EntryKind = Literal["Bundle", "Image", "Signature", "Internal"]

Pairs = tuple[tuple[str, str], ...]
_T = TypeVar("_T")


def _sorted_pairs(pairs: Pairs | Mapping[str, str]) -> Pairs:
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return tuple(sorted(items))


@final
@frozen(kw_only=True)
class DescribeRefused(Fact):
    """``describe`` cannot go on: imgpkg's wording, with the cause when there is one."""

    reason: str

    template = "{reason}"


def check_output_type(value: str) -> DescribeRefused | None:
    """imgpkg's ``--output-type`` check (§1.5)."""
    if value in OUTPUT_TYPES:
        return None
    return DescribeRefused(
        reason=f"--output-type can only have the following values [{', '.join(OUTPUT_TYPES)}]"
    )


# --- observed facts ---------------------------------------------------------------------


@final
@frozen(kw_only=True)
class ReferrerInfo:
    """A referrer of an image (``describe --referrers``): its artifact type (its own, else
    its config's media type), digest and size, and its own referrers."""

    artifact_type: str
    digest: str
    size: int
    referrers: tuple[ReferrerInfo, ...] = ()


@final
@frozen(kw_only=True)
class Found:
    """One entry of a bundle's content, as the walk found it.

    ``origin`` is the ImagesLock string for ``Bundle``/``Image`` entries, and
    the reference itself for ``Signature``/``Internal`` ones (for a failed
    signature lookup, the ``:sha256-<hex>.sig`` tag reference).  ``location``
    is where it was found (a digest reference), None when the lookup failed
    (``error`` says why).  ``layers`` are layer digests, empty when layers
    were not asked for; a nested bundle's own layers are in its
    :class:`BundleFacts`.
    """

    kind: EntryKind
    origin: str
    location: Reference | None
    annotations: Pairs = field(default=(), converter=_sorted_pairs)
    layers: tuple[str, ...] = ()
    error: str = ""
    referrers: tuple[ReferrerInfo, ...] = ()


@final
@frozen(kw_only=True)
class BundleFacts:
    """A bundle as the walk found it: where, its layers, its content entries, and (with
    ``--referrers``) its own referrers."""

    location: Reference
    layers: tuple[str, ...] = ()
    content: tuple[Found, ...] = ()
    referrers: tuple[ReferrerInfo, ...] = ()


# --- imgpkg's Description ----------------------------------------------------------------


@final
@frozen(kw_only=True)
class ImageInfo:
    """imgpkg's ``v1.ImageInfo``; ``image``/``origin`` are empty for a failed entry."""

    image_type: str
    image: str = ""
    origin: str = ""
    annotations: Pairs = ()
    layers: tuple[str, ...] = ()
    error: str = ""
    referrers: tuple[ReferrerInfo, ...] = ()


@final
@frozen(kw_only=True)
class Description:
    """imgpkg's ``v1.Description`` of one bundle; ``bundles``/``images`` are (key, value) pairs
    in go-yaml's natural key order."""

    image: str
    origin: str
    annotations: Pairs = ()
    layers: tuple[str, ...] = ()
    bundles: tuple[tuple[str, Description], ...] = ()
    images: tuple[tuple[str, ImageInfo], ...] = ()
    referrers: tuple[ReferrerInfo, ...] = ()

    @property
    def sha(self) -> str:
        """The digest of ``image`` (``Bundle SHA``, ``sha:``)."""
        return self.image.rpartition("@")[2]


def without_annotations(description: Description) -> Description:
    """``describe --show-annotations=false``: the same description with no annotations."""
    return evolve(
        description,
        annotations=(),
        bundles=tuple((key, without_annotations(inner)) for key, inner in description.bundles),
        images=tuple((key, evolve(info, annotations=())) for key, info in description.images),
    )


def _in_key_order(entries: dict[str, _T]) -> tuple[tuple[str, _T], ...]:
    return tuple((key, entries[key]) for key in natural_key_order(list(entries)))


def _describe_bundle(
    location: Reference,
    origin: str,
    annotations: Pairs,
    graph: Mapping[str, BundleFacts],
    path: frozenset[str],
) -> Description:
    facts = graph[str(location)]
    bundles: dict[str, Description] = {}
    images: dict[str, ImageInfo] = {}
    for entry in sorted(facts.content, key=lambda found: found.origin):
        where = entry.location
        if where is None or where.digest is None:
            images[entry.origin] = ImageInfo(image_type=entry.kind, error=entry.error)
        elif entry.kind == "Bundle":
            if str(where) in path:  # content addressing makes this impossible; never loop
                continue
            bundles[str(where.digest)] = _describe_bundle(
                where, entry.origin, entry.annotations, graph, path | {str(where)}
            )
        else:
            images[str(where.digest)] = ImageInfo(
                image_type=entry.kind,
                image=str(where),
                origin=entry.origin,
                annotations=entry.annotations,
                layers=entry.layers,
                referrers=entry.referrers,
            )
    return Description(
        image=str(location),
        origin=origin,
        annotations=annotations,
        layers=facts.layers,
        bundles=_in_key_order(bundles),
        images=_in_key_order(images),
        referrers=facts.referrers,
    )


def describe(root: Reference, graph: Mapping[str, BundleFacts]) -> Description:
    """imgpkg's Description of the bundle at ``root`` (a digest reference).

    ``graph`` maps the digest reference (``str``) of every bundle reachable
    from ``root`` to its facts; every ``Bundle`` entry's location must be in it.
    """
    return _describe_bundle(root, str(root), (), graph, frozenset({str(root)}))


# --- YAML ---------------------------------------------------------------------------------


def _layers_tree(layers: tuple[str, ...]) -> Tree:
    return [{"digest": digest} for digest in layers]


def _referrers_tree(referrers: tuple[ReferrerInfo, ...]) -> Tree:
    out: list[Tree] = []
    for referrer in referrers:
        tree: dict[str, Tree] = {
            "artifactType": referrer.artifact_type,
            "digest": referrer.digest,
            "size": str(referrer.size),
        }
        if referrer.referrers:
            tree["referrers"] = _referrers_tree(referrer.referrers)
        out.append(tree)
    return out


def _image_tree(info: ImageInfo) -> Tree:
    tree: dict[str, Tree] = {}
    if info.image:
        tree["image"] = info.image
    if info.origin:
        tree["origin"] = info.origin
    if info.annotations:
        tree["annotations"] = dict(info.annotations)
    tree["imageType"] = info.image_type
    if info.error:
        tree["error"] = info.error
    if info.layers:
        tree["layers"] = _layers_tree(info.layers)
    if info.referrers:
        tree["referrers"] = _referrers_tree(info.referrers)
    return tree


def _description_tree(description: Description) -> Tree:
    content: dict[str, Tree] = {}
    if description.bundles:
        content["bundles"] = {key: _description_tree(value) for key, value in description.bundles}
    if description.images:
        content["images"] = {key: _image_tree(value) for key, value in description.images}
    tree: dict[str, Tree] = {"image": description.image, "origin": description.origin}
    if description.annotations:
        tree["annotations"] = dict(description.annotations)
    tree["metadata"] = {}
    tree["content"] = content
    if description.layers:
        tree["layers"] = _layers_tree(description.layers)
    if description.referrers:
        tree["referrers"] = _referrers_tree(description.referrers)
    return tree


def render_yaml(description: Description) -> str:
    """``describe -o yaml``: ``sha: <digest>`` then the Description, as imgpkg writes it."""
    body = encode_yaml(_description_tree(description), document_marker=False)
    return f"sha: {description.sha}\n{body}"


# --- text ---------------------------------------------------------------------------------

_INDENT: Final = "  "


def _prefixed(depth: int, text: str) -> str:
    """What ``depth`` nested two-space prefixed loggers make of ``text`` (imgpkg's util)."""
    for _ in range(depth):
        body = text[:-1] if text.endswith("\n") else text
        text = _INDENT + body.replace("\n", "\n" + _INDENT) + "\n"
    return text


class _Text:
    """The text being written (local to one :func:`render_text` call)."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def log(self, depth: int, text: str) -> None:
        self.parts.append(_prefixed(depth, text))


def _annotations(out: _Text, annotations: Pairs, depth: int) -> None:
    if not annotations:
        return
    out.log(depth, "Annotations:\n")
    for key, value in annotations:
        out.log(depth + 1, f"{key}: {value}\n")


def _layers(out: _Text, layers: tuple[str, ...], depth: int) -> None:
    if not layers:
        return
    out.log(depth, "  Layers:\n")
    for digest in layers:
        out.log(depth, f"    - Digest: {digest}\n")


def _referrers(out: _Text, referrers: tuple[ReferrerInfo, ...], depth: int) -> None:
    if not referrers:
        return
    out.log(depth, "  Referrers:\n")
    for referrer in referrers:
        out.log(depth, f"    - Digest: {referrer.digest}\n")
        out.log(depth, f"      Artifact Type: {referrer.artifact_type}\n")
        out.log(depth, f"      Size: {referrer.size}\n")
        _referrers(out, referrer.referrers, depth + 2)


def _content(out: _Text, description: Description, depth: int) -> None:
    indent = depth + 1
    if not description.bundles and not description.images:
        return
    out.log(0 if depth == 0 else indent, "Images:\n")
    for n, (_, bundle) in enumerate(description.bundles):
        if n:
            out.log(0, "\n")
        out.log(indent, f"- Image: {bundle.image}\n")
        out.log(indent, "  Type: Bundle\n")
        out.log(indent, f"  Origin: {bundle.origin}\n")
        _layers(out, bundle.layers, indent)
        _referrers(out, bundle.referrers, indent)
        _annotations(out, bundle.annotations, indent + 1)
        _content(out, bundle, indent)
    for _, image in description.images:
        out.log(indent, f"- Image: {image.image}\n")
        out.log(indent, f"  Type: {image.image_type}\n")
        if image.image_type == "Image":
            out.log(indent, f"  Origin: {image.origin}\n")
        _layers(out, image.layers, indent)
        _referrers(out, image.referrers, indent)
        _annotations(out, image.annotations, indent + 1)


def render_text(description: Description) -> str:
    """``describe -o text``: ``Bundle SHA: …``, an empty line, then the indented content."""
    out = _Text()
    out.log(0, f"Bundle SHA: {description.sha}\n")
    if description.referrers:
        _referrers(out, description.referrers, -1)
    out.log(0, "\n")
    _content(out, description, 0)
    return "".join(out.parts)
