"""What ``pull`` was asked to do, and the decisions it takes on what it observes.

The shell fetches (manifests, configs, locations images, existence checks);
everything it decides with them is here, pure: the flag checks (§1.3), the
image/bundle decision table (§4.1), the relocation check and rewrite of
``.imgpkg/images.yml`` (§4.3), and where nested bundles go (§4.4).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, final

from attrs import frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.digest import Digest
from imgpkg_pure.errors import Fact
from imgpkg_pure.oci.values import Descriptor, ImageIndex
from imgpkg_pure.platform import PlatformSpec, parse_platforms, pick
from imgpkg_pure.push import UsageError
from imgpkg_pure.reference import Reference, Repository, parse_reference

if TYPE_CHECKING:  # a bundle's documents load when one is copied, pushed or pulled
    from imgpkg_pure.bundle import ImagesLock

Source = Literal["image", "bundle", "lock"]

#: imgpkg's message for ``-o /``, ``-o .`` and ``-o ..`` (§1.3).
DISALLOWED_OUTPUT = "Disallowed output directory (trying to avoid accidental deletion)"


@final
@frozen(kw_only=True)
class PullRequest:
    """A checked pull command line; ``reference`` is unset for ``--lock`` until it is read."""

    source: Source
    reference: Reference | None
    lock_path: str | None
    output: str
    recursive: bool
    image_is_bundle_check: bool
    #: ``--platform``: which child of an index ``-i`` extracts (the first that has one);
    #: empty: the running machine's.
    platforms: tuple[PlatformSpec, ...] = ()


def parse_pull_request(
    *,
    image: str | None,
    bundle: str | None,
    lock: str | None,
    output: str | None,
    recursive: bool,
    image_is_bundle_check: bool,
    platforms: tuple[str, ...] = (),
) -> Result[PullRequest, UsageError]:
    """Check the pull flags in imgpkg's order (§1.3, "Validation"), then ``--platform``."""
    if not output:
        return Failure(UsageError(reason='required flag(s) "output" not set'))
    if output in ("/", ".", ".."):
        return Failure(UsageError(reason=DISALLOWED_OUTPUT))
    given = [v for v in (lock, bundle, image) if v]
    if len(given) > 1:
        return Failure(UsageError(reason="Expected only one of image, bundle, or lock"))
    if not given:
        return Failure(UsageError(reason="Expected either image or bundle reference"))
    if recursive and image:
        return Failure(UsageError(reason="Cannot use --recursive (-r) flag when pulling a bundle"))
    if not image_is_bundle_check and bundle:
        return Failure(UsageError(reason="Cannot set --image-is-bundle-check while using -b flag"))
    specs = parse_platforms(platforms)
    if isinstance(specs, Failure):
        return specs
    source: Source = "lock" if lock else "bundle" if bundle else "image"
    reference: Reference | None = None
    if image or bundle:
        text = image or bundle or ""
        parsed = parse_reference(text)
        if isinstance(parsed, Failure):
            return Failure(UsageError(reason=f"Parsing '{text}': {parsed.failure().reason}"))
        reference = parsed.unwrap()
    return Success(
        PullRequest(
            source=source,
            reference=reference,
            lock_path=lock,
            output=output,
            recursive=recursive,
            image_is_bundle_check=image_is_bundle_check,
            platforms=specs.unwrap(),
        )
    )


def choose_child(
    index: ImageIndex, where: str, specs: tuple[PlatformSpec, ...]
) -> Result[tuple[Descriptor, PlatformSpec], PullRefused]:
    """The child of an index ``pull -i`` extracts: for the first of ``specs`` the index has
    (``imgpkg_pure.platform.pick``), that child; a refusal naming what it has otherwise."""
    platforms = tuple(child.platform for child in index.manifests)
    for spec in specs:
        position = pick(spec, platforms)
        if position is not None:
            return Success((index.manifests[position], spec))
    offered = sorted({str(p) for p in platforms if p is not None}) or ["none"]
    asked = ", ".join(str(spec) for spec in specs)
    return Failure(
        PullRefused(
            reason=f"Unable to pull index {where}: it has no image for platform {asked} "
            f"(it has: {', '.join(offered)}). (hint: use --platform with one of those)"
        )
    )


@final
@frozen(kw_only=True)
class PullRefused(Fact):
    """What was found does not match what was asked for (§4.1's decision table)."""

    reason: str

    template = "{reason}"


Action = Literal["image", "bundle"]


def decide(
    source: Source, is_image: bool, is_bundle: bool, check: bool
) -> Result[Action, PullRefused]:
    """§4.1: extract as a plain image, pull as a bundle, or refuse."""
    if not is_image:
        if source == "image":
            return Failure(
                PullRefused(
                    reason="Unable to pull non-images, such as image indexes. "
                    "(hint: provide a specific digest to the image instead)"
                )
            )
        return Failure(_NOT_A_BUNDLE)
    if source == "image":
        if is_bundle and check:
            return Failure(
                PullRefused(
                    reason="Expected bundle flag when pulling a bundle "
                    "(hint: Use -b instead of -i for bundles)"
                )
            )
        return Success("image")
    if not is_bundle:
        return Failure(_NOT_A_BUNDLE)
    return Success("bundle")


_NOT_A_BUNDLE = PullRefused(
    reason="Expected bundle image but found plain image (hint: Did you use -i instead of -b?)"
)


def relocation_candidates(lock: ImagesLock, bundle_repository: Repository) -> tuple[Reference, ...]:
    """The references whose existence decides whether a bundle was relocated (§4.3 step 4)."""
    return tuple(bundle_repository.digest(_digest(entry.image)) for entry in lock.images)


def relocated_lock(
    lock: ImagesLock,
    bundle_repository: Repository,
    *,
    has_locations_image: bool,
    found: tuple[bool, ...],
) -> ImagesLock | None:
    """The rewritten ImagesLock when the bundle's images live next to it, else None.

    ``found[i]`` says whether ``relocation_candidates(...)[i]`` exists.  A locations
    image counts as proof on its own, as in imgpkg (§4.3; §9 item 17).
    """
    from imgpkg_pure.bundle import relocate_images_lock  # noqa: PLC0415 (bundles only)

    if has_locations_image or all(found):
        return relocate_images_lock(lock, bundle_repository)
    return None


def primary_location(
    entry_image: Reference, bundle_repository: Repository, relocated: bool
) -> Reference:
    """Where a referenced image is fetched from: next to the bundle when relocated (§4.4)."""
    if relocated:
        return bundle_repository.digest(_digest(entry_image))
    return entry_image


def nested_bundle_dir(digest: Digest) -> str:
    """Where a nested bundle (at any depth) goes: ``.imgpkg/bundles/<alg>-<hex>``."""
    return f".imgpkg/bundles/{digest.tag_form}"


def lock_update_message(repository: Repository, relocated: bool) -> str:
    """The last line of a bundle pull (§4.3 step 7)."""
    if relocated:
        return (
            f"The bundle repo ({repository.name}) is hosting every image specified in the "
            "bundle's Images Lock file (.imgpkg/images.yml)"
        )
    return "One or more images not found in bundle repo; skipping lock file update"


def _digest(reference: Reference) -> Digest:
    if reference.digest is None:  # pragma: no cover - ImagesLock entries are digest refs
        raise AssertionError(f"{reference} has no digest")
    return reference.digest
