"""The Plan: what apply will do, as plain data.

A plan is built by a pure planner from what the user asked and what was
observed, and is the only thing the interpreter (``imgpkg_pure.store.apply.interpreter``)
executes.  The step set is a closed union: the interpreter matches on it and
``assert_never`` proves every kind is handled.

Targets say where content goes: ``LayoutTarget`` is an OCI image layout
directory, ``RegistryTarget`` a repository in a registry.
"""

from __future__ import annotations

from typing import final

from attrs import frozen

from imgpkg_pure.digest import Digest
from imgpkg_pure.oci.values import Descriptor

__all__ = [
    "ArchiveSource",
    "BlobAvailable",
    "BlobSource",
    "ExtractImage",
    "LayoutSource",
    "LayoutTarget",
    "LeftOut",
    "Plan",
    "Precondition",
    "PutBlob",
    "PutManifest",
    "PutReferrers",
    "Referrer",
    "RegistrySource",
    "RegistryTarget",
    "Step",
    "Tag",
    "TagPointsTo",
    "TarballSource",
    "Target",
    "UrlSource",
    "WriteLockFile",
]


@final
@frozen(kw_only=True)
class LayoutTarget:
    """An OCI image layout directory (image-spec ``image-layout.md``)."""

    path: str

    def __str__(self) -> str:
        return f"oci:{self.path}"


@final
@frozen(kw_only=True)
class RegistryTarget:
    """A repository in a registry: ``registry`` (host[:port]) and ``repository`` (path)."""

    registry: str
    repository: str

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}"


Target = LayoutTarget | RegistryTarget


@final
@frozen(kw_only=True)
class RegistrySource:
    """A blob to be read from a repository of a registry (a copy's source)."""

    registry: str
    repository: str

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}"


@final
@frozen(kw_only=True)
class LayoutSource:
    """A blob to be read from an OCI image layout directory (a copy's source)."""

    path: str

    def __str__(self) -> str:
        return f"oci:{self.path}"


@final
@frozen(kw_only=True)
class ArchiveSource:
    """A blob to be read from a tar of an OCI image layout (skopeo's ``oci-archive:``)."""

    path: str

    def __str__(self) -> str:
        return f"oci-archive:{self.path}"


@final
@frozen(kw_only=True)
class TarballSource:
    """A blob to be read from an imgpkg tarball (``copy --tar``)."""

    path: str

    def __str__(self) -> str:
        return self.path


@final
@frozen(kw_only=True)
class UrlSource:
    """A non-distributable layer its source does not hold, to be read from ``urls``.

    The descriptor's ``urls``, tried in order with ``GET`` (reference §5.8, ggcr's
    foreign layers); the content is verified against the descriptor before use.
    """

    urls: tuple[str, ...]

    def __str__(self) -> str:
        return "urls " + (", ".join(self.urls) if self.urls else "(none)")


BlobSource = RegistrySource | LayoutSource | ArchiveSource | TarballSource | UrlSource


@final
@frozen(kw_only=True)
class PutBlob:
    """Make ``descriptor``'s blob present at ``target``.

    Where the bytes come from: ``data`` carries small authored blobs inline
    (configs); ``source`` names a registry repository (streamed, or mounted
    within one registry), an OCI layout (a directory, or a tar of one), an
    imgpkg tarball or a foreign layer's ``urls`` to read it from; with
    neither, the blob was staged in the local store before planning.
    """

    target: Target
    descriptor: Descriptor
    data: bytes | None = None
    source: BlobSource | None = None

    @property
    def mount_from(self) -> RegistrySource | None:
        """The source a registry can mount the blob from: one in the target's own registry."""
        source, target = self.source, self.target
        if (
            isinstance(source, RegistrySource)
            and isinstance(target, RegistryTarget)
            and source.registry == target.registry
        ):
            return source
        return None


@final
@frozen(kw_only=True)
class PutManifest:
    """Store a manifest or index (its exact bytes) at ``target``; children come first."""

    target: Target
    descriptor: Descriptor
    raw: bytes


@final
@frozen(kw_only=True)
class Referrer:
    """A referrer's manifest (its exact bytes) and its entry in a referrers list."""

    entry: Descriptor
    raw: bytes


@final
@frozen(kw_only=True)
class PutReferrers:
    """Store the referrers of ``subject`` at ``target`` and make them findable from it.

    A registry that implements the referrers API indexes them itself (it answers
    the ``PUT`` of a manifest with a subject with ``OCI-Subject``, and
    ``GET /v2/<name>/referrers/<digest>`` with 200).  Anywhere else (a registry
    without the API, an OCI layout) the tag schema's index ``<alg>-<hex>`` is
    read, the missing entries appended (entries already there are kept) and the
    index written back (``imgpkg_pure.referrers``).
    """

    target: Target
    subject: Descriptor
    referrers: tuple[Referrer, ...]


@final
@frozen(kw_only=True)
class Tag:
    """Point ``tag`` at ``descriptor`` in ``target`` (a layout root name, a registry tag)."""

    target: Target
    tag: str
    descriptor: Descriptor


@final
@frozen(kw_only=True)
class WriteLockFile:
    """Write a lock file (its full text) atomically to ``path``."""

    path: str
    text: str


@final
@frozen(kw_only=True)
class ExtractImage:
    """Extract an image's layers (bottom first) into ``output``, replacing it (``pull``).

    Layers missing from the local cache store are fetched from ``source`` first,
    verified.
    """

    source: BlobSource
    layers: tuple[Descriptor, ...]
    output: str


Step = PutBlob | PutManifest | PutReferrers | Tag | WriteLockFile | ExtractImage


@final
@frozen(kw_only=True)
class TagPointsTo:
    """Observed at plan time: ``registry/repository:tag`` resolved to ``digest``.

    Apply re-resolves it and refuses a stale plan when the tag has moved.
    """

    registry: str
    repository: str
    tag: str
    digest: Digest

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag} -> {self.digest}"


@final
@frozen(kw_only=True)
class BlobAvailable:
    """Observed at plan time: ``source`` holds blob ``digest``; apply checks it still does."""

    source: BlobSource
    digest: Digest

    def __str__(self) -> str:
        return f"{self.source} holds {self.digest}"


Precondition = TagPointsTo | BlobAvailable


@final
@frozen(kw_only=True)
class LeftOut:
    """Layers a copy does not move, and why (``imgpkg_pure.copy.delta``): the other side
    holds them (``--since``), or a delta source leaves them out and the destination holds
    them.  For ``show`` (the saving); apply never reads them."""

    layers: tuple[Descriptor, ...]
    reason: str

    @property
    def size(self) -> int:
        return sum(layer.size for layer in self.layers)


@final
@frozen(kw_only=True)
class Plan:
    """Steps in dependency order (children before parents), plus what they produce.

    ``command`` and ``log`` are for display only; apply looks at ``steps``, after
    re-checking ``preconditions`` (what was observed when the plan was made).
    """

    command: str
    steps: tuple[Step, ...]
    result: Descriptor | None = None
    result_name: str = ""
    log: tuple[str, ...] = ()
    preconditions: tuple[Precondition, ...] = ()
    #: Blobs the destination already held when the plan was made (for ``show``
    #: only: apply checks each blob again).
    present: tuple[Digest, ...] = ()
    #: Layers left out of the copy (``--since``, a delta source), for ``show``.
    left_out: LeftOut | None = None
