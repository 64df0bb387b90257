"""What ``push`` was asked to do, checked, and the plan that does it.

``parse_push_request`` turns raw flag values into a ``PushRequest`` or one
error that names the problem (imgpkg's messages where it has one, §1.2).
``plan_push`` turns a request plus the image that was built into a ``Plan``.
"""

from __future__ import annotations

import re
from typing import Literal, final

from attrs import frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.image_build import MEDIA_TYPE_SETS, OCI_TYPES, BuiltImage, MediaTypeSet
from imgpkg_pure.media_types import BUNDLE_LABEL
from imgpkg_pure.oci.values import Annotations
from imgpkg_pure.plan.steps import LayoutTarget, Plan, PutBlob, PutManifest, Tag, WriteLockFile

Kind = Literal["image", "bundle"]

#: A layout root name must be a valid tag (distribution spec: ``[\w][\w.-]{0,127}``)
#: and a valid ``org.opencontainers.image.ref.name`` component (image-spec
#: annotations.md: alphanumerics joined by single ``-._`` separators or ``--``).
_TAG = re.compile(r"(?=[\w][\w.-]{0,127}$)[A-Za-z0-9]+(?:(?:--|[-._])[A-Za-z0-9]+)*")
LAYOUT_PREFIX = "oci:"


@final
@frozen(kw_only=True)
class UsageError:
    """A command line that asks for something impossible or contradictory."""

    reason: str

    @property
    def message(self) -> str:
        return self.reason


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
    elif _TAG.fullmatch(tag) is None:
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
class PushRequest:
    """A checked push command line."""

    kind: Kind
    destination: LayoutDestination
    files: tuple[str, ...]
    exclusions: tuple[str, ...]
    preserve_permissions: bool
    labels: Annotations
    lock_output: str | None
    media_types: MediaTypeSet


def split_list_flag(values: tuple[str, ...]) -> tuple[str, ...]:
    """pflag StringSlice semantics: repeatable, and each value split on commas."""
    return tuple(part for value in values for part in value.split(",") if part)


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
) -> Result[PushRequest, UsageError]:
    """Check the push flags in imgpkg's order (§1.2, "Validation")."""
    parsed_labels = parse_labels(labels)
    if isinstance(parsed_labels, Failure):
        return parsed_labels
    if image and bundle:
        return Failure(UsageError(reason="Expected only one of image or bundle"))
    if not image and not bundle:
        return Failure(UsageError(reason="Expected either image or bundle"))
    kind: Kind = "bundle" if bundle else "image"
    target = bundle or image or ""
    if kind == "image" and lock_output:
        return Failure(
            UsageError(
                reason="Lock output is not compatible with image, use bundle for lock output"
            )
        )
    if not target.startswith(LAYOUT_PREFIX):
        return Failure(
            UsageError(
                reason=f"cannot push to '{target}': this build pushes to OCI image layouts "
                "only (oci:PATH[:TAG]); registry destinations are not implemented yet"
            )
        )
    destination = parse_layout_destination(target)
    if isinstance(destination, Failure):
        return destination
    types = OCI_TYPES if media_types is None else MEDIA_TYPE_SETS.get(media_types)
    if types is None:
        return Failure(
            UsageError(
                reason=f"unknown --media-types '{media_types}' (known: "
                + ", ".join(sorted(MEDIA_TYPE_SETS))
                + ")"
            )
        )
    if lock_output:
        return Failure(
            UsageError(
                reason="--lock-output needs a registry destination: a lock file holds "
                "registry references, and an OCI layout has none"
            )
        )
    return Success(
        PushRequest(
            kind=kind,
            destination=destination.unwrap(),
            files=split_list_flag(files),
            exclusions=(".git",) if exclusions is None else split_list_flag(exclusions),
            preserve_permissions=preserve_permissions,
            labels=parsed_labels.unwrap(),
            lock_output=lock_output,
            media_types=types,
        )
    )


def image_labels(request: PushRequest) -> dict[str, str]:
    """The config labels: the user's, plus the bundle marker for ``-b`` (§3.8)."""
    labels = request.labels.as_dict()
    if request.kind == "bundle":
        labels[BUNDLE_LABEL] = "true"
    return labels


def plan_push(request: PushRequest, built: BuiltImage, log: tuple[str, ...] = ()) -> Plan:
    """The steps of a push: layer, config, manifest (children first), then the tag.

    The layer was staged in the local store while it was built, so its step
    carries no data; the config is small and travels inline.
    """
    target = LayoutTarget(path=request.destination.path)
    root = built.manifest
    steps: list[PutBlob | PutManifest | Tag | WriteLockFile] = [
        PutBlob(target=target, descriptor=built.layer),
        PutBlob(target=target, descriptor=built.config, data=built.config_raw),
        PutManifest(target=target, descriptor=root, raw=built.manifest_raw),
        Tag(target=target, tag=request.destination.tag, descriptor=root),
    ]
    return Plan(
        command=f"push -{request.kind[0]} {request.destination}",
        steps=tuple(steps),
        result=root,
        result_name=f"{LAYOUT_PREFIX}{request.destination.path}@{root.digest}",
        log=log,
    )
