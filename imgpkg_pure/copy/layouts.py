"""OCI layouts as copy sources and destinations: ``oci:DIR`` and ``oci-archive:FILE[:TAG]``.

A ``-b``/``-i`` source inside a layout (or a tar of one) is walked like a
registry whose references carry the registry ``LAYOUT_REGISTRY``; ``shown``
turns such a reference back into the text users wrote.
"""

from __future__ import annotations

import re
from typing import final

from attrs import frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.push import UsageError
from imgpkg_pure.reference import Reference

__all__ = [
    "ARCHIVE_PREFIX",
    "LAYOUT_REGISTRY",
    "LAYOUT_REPOSITORY",
    "ArchiveDestination",
    "ArchiveLocation",
    "layout_reference",
    "parse_archive_location",
    "shown",
]

#: The registry name of references into an OCI layout copy source (never a real host:
#: ``.invalid`` is reserved, RFC 2606).
LAYOUT_REGISTRY = "oci-layout.invalid"
LAYOUT_REPOSITORY = "layout"

#: skopeo's ``oci-archive:`` transport: a tar of an OCI image layout.
ARCHIVE_PREFIX = "oci-archive:"

# A root name (``org.opencontainers.image.ref.name``) given as a tag: the rule of
# ``oci:PATH[:TAG]`` (``imgpkg_pure.push.parse_layout_destination``); compiled on first use.
_ROOT_NAME = r"(?=[\w][\w.-]{0,127}$)[A-Za-z0-9]+(?:(?:--|[-._])[A-Za-z0-9]+)*"


@final
@frozen(kw_only=True)
class ArchiveLocation:
    """``oci-archive:FILE[:TAG]``: a tar of an OCI image layout, and a root name in it.

    ``tag`` is None when the text names none (a source then reads ``latest``).
    """

    path: str
    tag: str | None

    def __str__(self) -> str:
        suffix = "" if self.tag is None else f":{self.tag}"
        return f"{ARCHIVE_PREFIX}{self.path}{suffix}"


@final
@frozen(kw_only=True)
class ArchiveDestination:
    """``--to-repo oci-archive:FILE``: write a tar of an OCI image layout to ``path``.

    The copied tags become the layout's root names, as for ``--to-repo oci:DIR``.
    """

    path: str

    def __str__(self) -> str:
        return f"{ARCHIVE_PREFIX}{self.path}"


def parse_archive_location(value: str) -> Result[ArchiveLocation, UsageError]:
    """Parse ``oci-archive:FILE[:TAG]`` (skopeo's ``oci-archive:`` transport syntax).

    The split is that of ``oci:PATH[:TAG]``: the text after the last ``:`` is the
    tag when it holds no ``/`` (and it must then be a valid root name); otherwise
    the whole rest is the file.
    """
    if not value.startswith(ARCHIVE_PREFIX):
        return Failure(UsageError(reason=f"'{value}' is not an oci-archive:FILE[:TAG] reference"))
    rest = value[len(ARCHIVE_PREFIX) :]
    path, sep, tag = rest.rpartition(":")
    if not sep or "/" in tag or not path:
        return (
            Success(ArchiveLocation(path=rest, tag=None))
            if rest
            else Failure(
                UsageError(reason=f"'{value}' names no file (expected oci-archive:FILE[:TAG])")
            )
        )
    if re.fullmatch(_ROOT_NAME, tag) is None:
        return Failure(
            UsageError(
                reason=f"invalid tag '{tag}' in '{value}' (expected letters and digits "
                "joined by single '.', '_' or '-', at most 128 characters)"
            )
        )
    return Success(ArchiveLocation(path=path, tag=tag))


def layout_reference(tag: str) -> Reference:
    """A reference to root ``tag`` of the OCI layout source."""
    return Reference(registry=LAYOUT_REGISTRY, repository=LAYOUT_REPOSITORY, tag=tag, digest=None)


def shown(reference: Reference, layout: str | None) -> str:
    """A reference as users know it: ``oci:DIR@sha256:…`` inside a layout source."""
    if reference.registry == LAYOUT_REGISTRY and layout is not None:
        return f"oci:{layout}@{reference.digest}" if reference.digest else f"oci:{layout}"
    return str(reference)
