"""What ``push`` was asked to do, checked, and the plan that does it.

``parse_push_request`` turns raw flag values into a ``PushRequest`` or one
error that names the problem (imgpkg's messages where it has one, §1.2).
``plan_push`` turns a request plus the image that was built into a ``Plan``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal, assert_never, final

from attrs import frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.digest import Digest
from imgpkg_pure.errors import Fact
from imgpkg_pure.image_build import (
    DOCKER_TYPES,
    MEDIA_TYPE_SETS,
    OCI_TYPES,
    BuiltImage,
    MediaTypeSet,
)
from imgpkg_pure.media_types import BUNDLE_LABEL
from imgpkg_pure.oci.values import Annotations
from imgpkg_pure.plan.steps import (
    LayoutTarget,
    Plan,
    PutBlob,
    PutManifest,
    RegistryTarget,
    Step,
    Tag,
    WriteLockFile,
)
from imgpkg_pure.reference import Reference, parse_tag_reference

if TYPE_CHECKING:  # the layer recipe loads with a push (``parse_push_request``), not a copy
    from imgpkg_pure.layer.layering import Layering

Kind = Literal["image", "bundle"]

#: A layout root name must be a valid tag (distribution spec: ``[\w][\w.-]{0,127}``)
#: and a valid ``org.opencontainers.image.ref.name`` component (image-spec
#: annotations.md: alphanumerics joined by single ``-._`` separators or ``--``).
_TAG = r"(?=[\w][\w.-]{0,127}$)[A-Za-z0-9]+(?:(?:--|[-._])[A-Za-z0-9]+)*"  # compiled on first use
LAYOUT_PREFIX = "oci:"


@final
@frozen(kw_only=True)
class UsageError(Fact):
    """A command line that asks for something impossible or contradictory."""

    reason: str

    template = "{reason}"


@final
@frozen(kw_only=True)
class LayoutDestination:
    """``oci:PATH[:TAG]``: an OCI image layout directory and the root name (tag) to set."""

    path: str
    tag: str

    def __str__(self) -> str:
        return f"{LAYOUT_PREFIX}{self.path}:{self.tag}"


def parse_layout_destination(value: str) -> Result[LayoutDestination, UsageError]:
    """Parse ``oci:PATH[:TAG]`` (skopeo's ``oci:`` transport syntax); the tag defaults to latest.

    The text after the last ``:`` is the tag when it is a valid tag and holds no
    ``/``; otherwise the whole rest is the path.
    """
    if not value.startswith(LAYOUT_PREFIX):
        return Failure(UsageError(reason=f"'{value}' is not an oci:PATH[:TAG] destination"))
    rest = value[len(LAYOUT_PREFIX) :]
    path, sep, tag = rest.rpartition(":")
    if not sep or "/" in tag or not path:
        path, tag = rest, "latest"
    elif re.fullmatch(_TAG, tag) is None:
        return Failure(
            UsageError(
                reason=f"invalid tag '{tag}' in '{value}' (expected letters and digits "
                "joined by single '.', '_' or '-', at most 128 characters)"
            )
        )
    if not path:
        return Failure(UsageError(reason=f"'{value}' names no directory (expected oci:PATH[:TAG])"))
    return Success(LayoutDestination(path=path, tag=tag))


def parse_labels(values: tuple[str, ...]) -> Result[Annotations, UsageError]:
    """``-l key=value`` (repeatable, comma-separated, like pflag's StringToString)."""
    labels: dict[str, str] = {}
    for value in values:
        for item in value.split(","):
            key, sep, val = item.partition("=")
            if not sep or not key:
                return Failure(UsageError(reason=f"invalid label '{item}': expected key=value"))
            labels[key] = val
    if BUNDLE_LABEL in labels:
        return Failure(
            UsageError(
                reason=f"label '{BUNDLE_LABEL}' is reserved and cannot be overriden. "
                "Please use a different key"
            )
        )
    return Success(Annotations.of(labels))


@final
@frozen(kw_only=True)
class RegistryDestination:
    """A tag reference in a registry (``-b registry/repo[:tag]``; no tag means ``latest``)."""

    reference: Reference

    @property
    def tag(self) -> str:
        return self.reference.tag or "latest"

    def __str__(self) -> str:
        return str(self.reference)


Destination = LayoutDestination | RegistryDestination


@final
@frozen(kw_only=True)
class PushRequest:
    """A checked push command line."""

    kind: Kind
    destination: Destination
    files: tuple[str, ...]
    exclusions: tuple[str, ...]
    preserve_permissions: bool
    labels: Annotations
    lock_output: str | None
    media_types: MediaTypeSet
    layering: Layering = "single"


def split_list_flag(values: tuple[str, ...]) -> tuple[str, ...]:
    """pflag StringSlice semantics: repeatable, and each value split on commas."""
    return tuple(part for value in values for part in value.split(",") if part)


def parse_destination(value: str) -> Result[Destination, UsageError]:
    """``oci:PATH[:TAG]`` for an OCI layout, anything else a registry tag reference."""
    if value.startswith(LAYOUT_PREFIX):
        return parse_layout_destination(value).map(lambda d: d)
    parsed = parse_tag_reference(value)
    if isinstance(parsed, Failure):
        return Failure(UsageError(reason=f"Parsing '{value}': {parsed.failure().reason}"))
    return Success(RegistryDestination(reference=parsed.unwrap()))


def parse_push_request(
    *,
    image: str | None,
    bundle: str | None,
    files: tuple[str, ...],
    exclusions: tuple[str, ...] | None,
    preserve_permissions: bool,
    labels: tuple[str, ...],
    lock_output: str | None,
    media_types: str | None = None,
    layering: str = "single",
) -> Result[PushRequest, UsageError]:
    """Check the push flags in imgpkg's order (§1.2, "Validation").

    Unlike imgpkg, ``-i`` accepts ``--lock-output`` and writes an ImageLock.
    """
    parsed_labels = parse_labels(labels)
    if isinstance(parsed_labels, Failure):
        return parsed_labels
    if image and bundle:
        return Failure(UsageError(reason="Expected only one of image or bundle"))
    if not image and not bundle:
        return Failure(UsageError(reason="Expected either image or bundle"))
    kind: Kind = "bundle" if bundle else "image"
    destination = parse_destination(bundle or image or "")
    if isinstance(destination, Failure):
        return destination
    where = destination.unwrap()
    default_types = OCI_TYPES if isinstance(where, LayoutDestination) else DOCKER_TYPES
    types = default_types if media_types is None else MEDIA_TYPE_SETS.get(media_types)
    if types is None:
        return Failure(
            UsageError(
                reason=f"unknown --media-types '{media_types}' (known: "
                + ", ".join(sorted(MEDIA_TYPE_SETS))
                + ")"
            )
        )
    from imgpkg_pure.layer.layering import LAYERING_MODES  # noqa: PLC0415 (see the imports)

    chosen = next((mode for mode in LAYERING_MODES if mode == layering), None)
    if chosen is None:
        return Failure(
            UsageError(
                reason=f"unknown --layering '{layering}' (known: {', '.join(LAYERING_MODES)})"
            )
        )
    if lock_output and isinstance(where, LayoutDestination):
        return Failure(
            UsageError(
                reason="--lock-output needs a registry destination: a lock file holds "
                "registry references, and an OCI layout has none"
            )
        )
    return Success(
        PushRequest(
            kind=kind,
            destination=where,
            files=split_list_flag(files),
            exclusions=(".git",) if exclusions is None else split_list_flag(exclusions),
            preserve_permissions=preserve_permissions,
            labels=parsed_labels.unwrap(),
            lock_output=lock_output,
            media_types=types,
            layering=chosen,
        )
    )


def image_labels(request: PushRequest) -> dict[str, str]:
    """The config labels: the user's, plus the bundle marker for ``-b`` (§3.8)."""
    labels = request.labels.as_dict()
    if request.kind == "bundle":
        labels[BUNDLE_LABEL] = "true"
    return labels


def imgpkg_tag(digest: Digest) -> str:
    """The extra tag imgpkg gives every pushed manifest: ``sha256-<hex>.imgpkg`` (§3.9)."""
    return f"{digest.tag_form}.imgpkg"


def lock_file_text(request: PushRequest, pushed: str) -> str:
    """The ``--lock-output`` document: a BundleLock for ``-b``, an ImageLock for ``-i``."""
    from imgpkg_pure.bundle import (  # noqa: PLC0415 (--lock-output only)
        BundleLock,
        ImageLock,
        encode_bundle_lock,
        encode_image_lock,
    )

    tag = request.destination.tag
    if request.kind == "bundle":
        return encode_bundle_lock(BundleLock(image=pushed, tag=tag))
    return encode_image_lock(ImageLock(image=pushed, tag=tag))


def plan_push(request: PushRequest, built: BuiltImage, log: tuple[str, ...] = ()) -> Plan:
    """The steps of a push: layers, config, manifest (children first), then the tags.

    The layers were staged in the local store while they were built, so their steps
    carry no data; the config is small and travels inline.  A registry push
    also gets imgpkg's ``sha256-<hex>.imgpkg`` tag, and the lock file comes last,
    once everything it names exists.
    """
    root = built.manifest
    target: LayoutTarget | RegistryTarget
    tags: tuple[str, ...]
    pushed: str
    match request.destination:
        case LayoutDestination(path=path, tag=tag):
            target = LayoutTarget(path=path)
            tags = (tag,)
            pushed = f"{LAYOUT_PREFIX}{path}@{root.digest}"
        case RegistryDestination(reference=ref):
            target = RegistryTarget(registry=ref.registry, repository=ref.repository)
            tags = (request.destination.tag, imgpkg_tag(root.digest))
            pushed = str(ref.context().digest(root.digest))
        case _:
            assert_never(request.destination)
    steps: list[Step] = [
        *(PutBlob(target=target, descriptor=layer) for layer in built.layers),
        PutBlob(target=target, descriptor=built.config, data=built.config_raw),
        PutManifest(target=target, descriptor=root, raw=built.manifest_raw),
        *(Tag(target=target, tag=tag, descriptor=root) for tag in tags),
    ]
    if request.lock_output:
        steps.append(WriteLockFile(path=request.lock_output, text=lock_file_text(request, pushed)))
    return Plan(
        command=f"push -{request.kind[0]} {request.destination}",
        steps=tuple(steps),
        result=root,
        result_name=pushed,
        log=log,
    )
