"""``tag list`` (alias ``ls``) and ``tag resolve`` (reference §1.6-§1.7).

list: parse ``-i`` (only its repository is used) → list the tags, following
the registry's ``Link`` pages (``RegistryClient.list_tags``) → with
``--digests``, resolve every shown tag (HEAD, falling back to GET; a few at a
time) → a table sorted by name (``imgpkg_pure.tags``).

resolve: parse ``-i`` (no tag means ``latest``) → HEAD the manifest (GET when
the registry does not say the digest) → the block ``<repository>@<digest>``.
A digest reference is looked up too, so a digest the registry does not have
is an error.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Final, final

from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure, Result
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import Digest
from imgpkg_pure.errors import Fact
from imgpkg_pure.push import UsageError
from imgpkg_pure.reference import Reference, parse_reference
from imgpkg_pure.store.commands.mirroring import open_client
from imgpkg_pure.store.commands.options import CacheFlags, TagListOptions, TagResolveOptions
from imgpkg_pure.store.content.errors import StoreError
from imgpkg_pure.store.registry import RegistryClient, RegistryError, RegistryOptions
from imgpkg_pure.store.ui.console import Ui
from imgpkg_pure.tags import listed_tags, resolved_reference, select_columns, tag_table

#: Tags resolved at once by ``tag list --digests`` (imgpkg resolves them one by one).
DIGEST_WORKERS: Final = 8


@final
@frozen(kw_only=True)
class TagFailure(Fact):
    """A registry step of ``tag`` failed: ``what`` it was doing, and the registry's answer."""

    what: str
    cause: str

    template = "{what}: {cause}"


@final
@frozen(kw_only=True)
class ManifestNotFound(Fact):
    """The registry has no manifest under ``reference``."""

    reference: str

    template = "Resolving '{reference}': no manifest with this tag or digest (404 Not Found)"


TagError = UsageError | TagFailure | ManifestNotFound


def _parse_image(image: str | None) -> Result[Reference, UsageError]:
    if not image:
        return Failure(UsageError(reason="Expected an image reference (--image, -i)"))
    return parse_reference(image).alt(
        lambda error: UsageError(reason=f"Parsing '{image}': {error.reason}")
    )


def _connect(
    image: str | None, registry: RegistryOptions, cache: CacheFlags, ui: Ui
) -> IOResult[tuple[Reference, RegistryClient], UsageError | RegistryError | StoreError]:
    """The reference ``-i`` names and a client for its registry (both commands start so)."""
    parsed = _parse_image(image)
    if isinstance(parsed, Failure):
        return IOFailure(parsed.failure())
    reference = parsed.unwrap()
    return open_client(registry, cache, ui).map(lambda client: (reference, client))


def resolve_digest(client: RegistryClient, reference: Reference) -> IOResult[Digest, TagError]:
    """The digest ``reference`` points at now (HEAD, GET fallback)."""
    head = client.head_manifest(reference)
    if isinstance(head, IOFailure):
        error: RegistryError = unsafe_perform_io(head.failure())
        return IOFailure(TagFailure(what=f"Resolving '{reference}'", cause=error.message))
    found = unsafe_perform_io(head.unwrap())
    if found is None:
        return IOFailure(ManifestNotFound(reference=str(reference)))
    return IOSuccess(found.digest)


def _rows(
    client: RegistryClient, reference: Reference, tags: tuple[str, ...], digests: bool
) -> IOResult[list[tuple[str, str]], TagError]:
    if not digests:
        return IOSuccess([(tag, "") for tag in tags])
    repository = reference.context()
    refs: list[Reference] = []
    for tag in tags:
        tagged = repository.tag(tag)
        if isinstance(tagged, Failure):  # a registry answer that is not a valid tag
            return IOFailure(
                TagFailure(what=f"Listing tags of '{repository}'", cause=tagged.failure().message)
            )
        refs.append(tagged.unwrap())
    with ThreadPoolExecutor(max_workers=DIGEST_WORKERS) as pool:
        resolved = list(pool.map(lambda ref: resolve_digest(client, ref), refs))
    rows: list[tuple[str, str]] = []
    for tag, result in zip(tags, resolved, strict=True):
        if isinstance(result, IOFailure):
            return IOFailure(unsafe_perform_io(result.failure()))
        rows.append((tag, str(unsafe_perform_io(result.unwrap()))))
    return IOSuccess(rows)


def run_tag_list(options: TagListOptions, ui: Ui) -> int:
    """``tag list``; returns the exit code."""
    digests = options.digests
    connected = _connect(options.image, options.registry, options.cache, ui)
    if isinstance(connected, IOFailure):
        return ui.fail(unsafe_perform_io(connected.failure()))
    reference, client = unsafe_perform_io(connected.unwrap())
    with client:
        listed = client.list_tags(reference.context())
        if isinstance(listed, IOFailure):
            error: RegistryError = unsafe_perform_io(listed.failure())
            return ui.fail(
                TagFailure(what=f"Listing tags of '{reference.context()}'", cause=error.message)
            )
        tags = listed_tags(
            unsafe_perform_io(listed.unwrap()), include_internal=options.imgpkg_internal_tags
        )
        rows = _rows(client, reference, tags, digests)
    if isinstance(rows, IOFailure):
        return ui.fail(unsafe_perform_io(rows.failure()))
    table = select_columns(tag_table(unsafe_perform_io(rows.unwrap()), digests=digests), ui.columns)
    if isinstance(table, Failure):
        return ui.fail(table.failure())
    ui.table(table.unwrap())
    ui.succeeded()
    return 0


def run_tag_resolve(options: TagResolveOptions, ui: Ui) -> int:
    """``tag resolve``; returns the exit code."""
    connected = _connect(options.image, options.registry, options.cache, ui)
    if isinstance(connected, IOFailure):
        return ui.fail(unsafe_perform_io(connected.failure()))
    reference, client = unsafe_perform_io(connected.unwrap())
    with client:
        resolved = resolve_digest(client, reference)
    if isinstance(resolved, IOFailure):
        return ui.fail(unsafe_perform_io(resolved.failure()))
    ui.block(resolved_reference(reference.context(), unsafe_perform_io(resolved.unwrap())))
    ui.succeeded()
    return 0


__all__ = ["run_tag_list", "run_tag_resolve"]
