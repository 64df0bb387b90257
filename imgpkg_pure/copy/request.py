"""The copy command line, checked: ``CopyRequest`` and the flag rules (§1.4, "Validation")."""

from __future__ import annotations

from typing import final

from attrs import frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.copy.layouts import (
    ARCHIVE_PREFIX,
    LAYOUT_REGISTRY,
    ArchiveDestination,
    layout_reference,
    parse_archive_location,
    shown,
)
from imgpkg_pure.platform import PlatformSpec, parse_platforms
from imgpkg_pure.push import (
    LAYOUT_PREFIX,
    LayoutDestination,
    UsageError,
    parse_layout_destination,
)
from imgpkg_pure.reference import Reference, Repository, parse_repository

__all__ = ["CopyRequest", "parse_copy_request", "source_root"]


@final
@frozen(kw_only=True)
class CopyRequest:
    """A checked copy command line.

    ``destination`` is a registry repository, an OCI image layout directory
    (``--to-repo oci:DIR``) or a tar of one (``--to-repo oci-archive:FILE``): the
    same names (tags) become the layout's root names.  A ``-b``/``-i`` source in
    a layout names it in ``source_layout`` (a directory) or ``source_archive`` (a
    tar of one); references into either carry the registry ``LAYOUT_REGISTRY``.
    """

    image: str | None
    bundle: str | None
    lock: str | None
    destination: Repository | LayoutDestination | ArchiveDestination
    lock_output: str | None
    concurrency: int
    include_non_distributable: bool
    repo_based_tags: bool
    cosign_signatures: bool = False
    source_layout: str | None = None
    source_tar: str | None = None
    to_tar: str | None = None
    resume: bool = False
    source_archive: str | None = None
    #: ``--since X``: write a delta, leaving out the layers X holds (an inventory file,
    #: an imgpkg tarball, an OCI layout or archive; ``imgpkg_pure.copy.delta``).
    since: str | None = None
    #: ``--referrers``: copy every artefact whose ``subject`` is a copied manifest.
    referrers: bool = False
    #: ``--platform``: narrow indexes to these children (``imgpkg_pure.copy.platforms``).
    platforms: tuple[PlatformSpec, ...] = ()

    def source_reference(self) -> str:
        """The ``-b``/``-i`` text, for messages."""
        return self.bundle or self.image or self.lock or ""

    def shown(self, reference: Reference) -> str:
        """A reference as users know it: ``oci:DIR@sha256:…`` or ``oci-archive:FILE@sha256:…``
        inside a layout source, the reference itself elsewhere."""
        if self.source_archive is not None and reference.registry == LAYOUT_REGISTRY:
            where = f"{ARCHIVE_PREFIX}{self.source_archive}"
            return f"{where}@{reference.digest}" if reference.digest else where
        return shown(reference, self.source_layout)


def parse_copy_request(
    *,
    image: str | None,
    bundle: str | None,
    lock: str | None,
    tar: str | None,
    to_repo: str | None,
    to_tar: str | None,
    lock_output: str | None,
    concurrency: int,
    include_non_distributable: bool,
    repo_based_tags: bool,
    resume: bool,
    cosign_signatures: bool = False,
    since: str | None = None,
    referrers: bool = False,
    platforms: tuple[str, ...] = (),
) -> Result[CopyRequest, UsageError]:
    """Check the copy flags in imgpkg's order (§1.4, "Validation")."""
    if sum(1 for v in (lock, tar, bundle, image) if v) != 1:
        return Failure(
            UsageError(
                reason="Expected either --lock, --bundle (-b), --image (-i), or --tar as a source"
            )
        )
    if sum(1 for v in (to_repo, to_tar) if v) != 1:
        return Failure(UsageError(reason="Expected either --to-tar or --to-repo"))
    if tar and to_tar:
        return Failure(
            UsageError(reason="Cannot use tar source (--tar) with tar destination (--to-tar)")
        )
    if to_tar and lock_output:
        return Failure(UsageError(reason="Cannot output lock file with tar destination"))
    if to_repo and resume:
        return Failure(UsageError(reason="Flag --resume can only be used when copying to tar"))
    if concurrency < 1:
        return Failure(UsageError(reason=f"--concurrency must be at least 1, got {concurrency}"))
    specs = parse_platforms(platforms)
    if isinstance(specs, Failure):
        return specs
    source_layout: str | None = None
    source_archive: str | None = None
    source_text = bundle or image or ""
    if source_text.startswith(ARCHIVE_PREFIX):
        archive = parse_archive_location(source_text)
        if isinstance(archive, Failure):
            return archive
        source_archive = archive.unwrap().path
    elif source_text.startswith(LAYOUT_PREFIX):
        source = parse_layout_destination(source_text)
        if isinstance(source, Failure):
            return source
        source_layout = source.unwrap().path
    destination: Repository | LayoutDestination | ArchiveDestination
    if to_tar:
        destination = LayoutDestination(path=to_tar, tag="latest")  # unused for tarballs
    elif (to_repo or "").startswith(ARCHIVE_PREFIX):
        written = parse_archive_location(to_repo or "")
        if isinstance(written, Failure):
            return written
        refused = _local_refusal(
            to_repo, "archive", tagged=written.unwrap().tag is not None, lock_output=lock_output
        )
        if refused is not None:
            return Failure(refused)
        destination = ArchiveDestination(path=written.unwrap().path)
    elif (to_repo or "").startswith(LAYOUT_PREFIX):
        layout = parse_layout_destination(to_repo or "")
        if isinstance(layout, Failure):
            return layout
        tagged = layout.unwrap().tag != "latest" or (to_repo or "").endswith(":latest")
        refused = _local_refusal(to_repo, "layout", tagged=tagged, lock_output=lock_output)
        if refused is not None:
            return Failure(refused)
        destination = layout.unwrap()
    else:
        parsed = parse_repository(to_repo or "")
        if isinstance(parsed, Failure):
            return Failure(
                UsageError(reason=f"Building import repository ref: {parsed.failure().reason}")
            )
        destination = parsed.unwrap()
    if since is not None and isinstance(destination, Repository):
        return Failure(
            UsageError(
                reason="--since writes a delta, and a registry repository is never one: "
                "use it with --to-tar FILE, --to-repo oci:DIR or --to-repo oci-archive:FILE"
            )
        )
    if since is not None and not since:
        return Failure(UsageError(reason="--since needs an inventory, tarball or layout"))
    return Success(
        CopyRequest(
            image=image,
            bundle=bundle,
            lock=lock,
            destination=destination,
            lock_output=lock_output,
            concurrency=concurrency,
            include_non_distributable=include_non_distributable,
            repo_based_tags=repo_based_tags,
            cosign_signatures=cosign_signatures,
            source_layout=source_layout,
            source_tar=tar,
            to_tar=to_tar,
            resume=resume,
            source_archive=source_archive,
            since=since,
            referrers=referrers,
            platforms=specs.unwrap(),
        )
    )


def _local_refusal(
    to_repo: str | None, kind: str, *, tagged: bool, lock_output: str | None
) -> UsageError | None:
    """Why an OCI ``kind`` (layout or archive) destination is refused: it takes no tag and
    writes no lock file; None when it is not."""
    if tagged:
        return UsageError(
            reason=f"--to-repo '{to_repo}': an OCI {kind} destination takes no tag "
            "(the copied tags become its root names)"
        )
    if lock_output:
        return UsageError(
            reason="--lock-output needs a registry destination: a lock file holds "
            f"registry references, and an OCI {kind} has none"
        )
    return None


def source_root(request: CopyRequest) -> Reference | None:
    """The reference a ``-b``/``-i`` layout source names (its root, ``latest`` by default);
    None when the source is not a layout (nor a tar of one)."""
    text = request.bundle or request.image or ""
    if request.source_archive is not None:
        archive = parse_archive_location(text)
        if isinstance(archive, Success):
            return layout_reference(archive.unwrap().tag or "latest")
    if request.source_layout is not None:
        layout = parse_layout_destination(text)
        if isinstance(layout, Success):
            return layout_reference(layout.unwrap().tag)
    return None
