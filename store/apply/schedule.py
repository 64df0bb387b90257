"""How the interpreter orders and skips a plan's steps: phases run concurrently, and a
survey of the destination that skips what is provably there already.

**Phases.**  Plan order is children first: blobs, then manifests (an index after its
children), then tags, then the lock file.  Consecutive steps of one kind that do not
depend on each other form a phase, run ``concurrency`` at a time: every run of blobs;
a run of manifests, split before a manifest that names one in the same phase (an index
and its children); a run of tags of registries, split before a tag name already in the
phase, and before a tag of a manifest that a tag of the phase points at or lists (a
registry writes a manifest's links again when it is tagged, and distribution's
filesystem storage can be read half-written by the check of an index listing it,
answered ``DIGEST_INVALID``); a layout's tags stay in plan order: they are the order of
its ``index.json``;
a run of ``PutReferrers`` into registries, split before one whose subject is already in
the phase, as a subject or as a referrer stored there (a layout's go one by one).

**Survey** (registry targets).  Before the first phase, every tag the plan sets is asked
once (``HEAD``, ``concurrency`` at a time).  A repository with :data:`LIST_FROM` tags or
more to ask is listed first (``tags/list``), if its listing takes at most one page for
every :data:`LIST_FROM` of those tags: a tag it does not list is absent without a
``HEAD`` (a repository the registry does not know has no tags), so a first copy into an
empty repository asks one request where it asked one per tag.  A listed tag is still
asked (the listing does not say where it points); a listing that fails, or would take
more pages, is dropped and every tag asked.  A registry whose listing lags behind a
push only costs a manifest ``PUT`` again, never a wrong skip: only a ``HEAD`` that
names the plan's digest skips anything.  A tag that already points at its manifest
proves the manifest is in the repository, and a registry holds a manifest only with
everything it references (distribution refuses a manifest whose blobs or children are
missing), so the manifest's whole subtree is skipped: its blobs, its children, itself
and that tag.  The answers are kept for the tag steps, which then ``PUT`` without asking
again; a manifest that only tags name (no other manifest of the plan lists it) is not
``PUT`` by digest first: its tag's ``PUT`` stores it (the registry keeps it by digest
too), and the step is reported done with that tag.  A tag the survey could not ask (an
error) is left to its step, which asks again and reports the error as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from attrs import field, frozen
from returns.io import IOFailure
from returns.result import Failure
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import Digest
from imgpkg_pure.oci.codec import parse_manifest_or_index
from imgpkg_pure.oci.values import Descriptor, ImageIndex
from imgpkg_pure.plan.steps import (
    PutBlob,
    PutManifest,
    PutReferrers,
    RegistryTarget,
    Step,
    Tag,
    Target,
)
from imgpkg_pure.reference import Reference, Repository
from imgpkg_pure.store.registry import RegistryClient

__all__ = ["LIST_FROM", "UNASKED", "Survey", "phases", "survey"]

#: A repository with this many tags to ask, or more, is listed first (see the module doc).
LIST_FROM: Final = 8


class _Unasked:
    """The survey did not learn where a tag points (not asked, or asking failed)."""

    def __repr__(self) -> str:
        return "UNASKED"


UNASKED: Final = _Unasked()

_Key = tuple[Target, Digest]


def _references(step: PutManifest) -> tuple[Digest, ...] | None:
    """The digests a manifest names (config and layers; an index's manifests), or None
    when its bytes do not parse (then nothing is skipped on its account)."""
    parsed = parse_manifest_or_index(step.raw, "manifest", step.descriptor.media_type)
    if isinstance(parsed, Failure):
        return None
    document = parsed.unwrap()
    if isinstance(document, ImageIndex):
        return tuple(child.digest for child in document.manifests)
    return (document.config.digest, *(layer.digest for layer in document.layers))


def phases(steps: Sequence[Step]) -> list[tuple[int, ...]]:
    """Step indices grouped into phases (see the module doc), in plan order."""
    out: list[tuple[int, ...]] = []
    run: list[int] = []
    kind: type | None = None
    names: set[object] = set()
    children: dict[Digest, tuple[Digest, ...]] = {
        step.descriptor.digest: _references(step) or ()
        for step in steps
        if isinstance(step, PutManifest)
    }

    def close() -> None:
        nonlocal kind
        if run:
            out.append(tuple(run))
            run.clear()
        names.clear()
        kind = None

    for index, step in enumerate(steps):
        if isinstance(step, PutBlob):
            if kind is not PutBlob:
                close()
            kind = PutBlob
        elif isinstance(step, PutManifest):
            named = _references(step)
            if kind is not PutManifest or named is None or names.intersection(named):
                close()
            kind = PutManifest
            names.add(step.descriptor.digest)
            if named is None:  # unknown children: it goes alone
                run.append(index)
                close()
                continue
        elif isinstance(step, PutReferrers) and isinstance(step.target, RegistryTarget):
            # distinct subjects, none of them a referrer stored in the same phase
            subject = (step.target, step.subject.digest)
            if kind is not PutReferrers or subject in names:
                close()
            kind = PutReferrers
            names.add(subject)
            names.update((step.target, r.entry.digest) for r in step.referrers)
        elif isinstance(step, Tag) and isinstance(step.target, RegistryTarget):
            name = (step.target, step.tag)
            digest = step.descriptor.digest
            touched = {(step.target, d) for d in (digest, *children.get(digest, ()))}
            if kind is not Tag or name in names or names.intersection(touched):
                close()
            kind = Tag
            names.add(name)
            names.update(touched)
        else:
            close()
            out.append((index,))
            continue
        run.append(index)
    close()
    return out


@frozen(kw_only=True)
class Survey:
    """What the survey learned: steps already done, tags' answers, manifests a tag stores.

    ``done``: indices of steps whose effect is provably in place (reported as skipped).
    ``current``: for each surveyed tag step index, where its tag points (``None``: no
    such tag) or ``UNASKED``.  ``raw``: for a tag step, the bytes and media type of its
    manifest as the plan holds them (``PUT`` without fetching them back).
    ``stored_by``: a deferred manifest step's index → the tag step whose ``PUT`` stores
    it; ``stores``: the reverse.
    """

    done: frozenset[int] = frozenset()
    current: dict[int, Descriptor | _Unasked | None] = field(factory=dict)
    raw: dict[int, tuple[bytes, str]] = field(factory=dict)
    stored_by: dict[int, int] = field(factory=dict)
    stores: dict[int, tuple[int, ...]] = field(factory=dict)


def _ask(client: RegistryClient, target: RegistryTarget, tag: str) -> Descriptor | _Unasked | None:
    where = Reference(registry=target.registry, repository=target.repository, tag=tag, digest=None)
    found = client.head_manifest(where)
    if isinstance(found, IOFailure):
        return UNASKED
    return unsafe_perform_io(found.unwrap())


def _listings(
    client: RegistryClient, questions: Sequence[tuple[Target, str]]
) -> dict[Target, frozenset[str]]:
    """The tags of each repository with :data:`LIST_FROM` questions or more, where its
    listing is short enough (see the module doc); the others are left out."""
    counts: dict[Target, int] = {}
    for target, _tag in questions:
        counts[target] = counts.get(target, 0) + 1
    listed: dict[Target, frozenset[str]] = {}
    for target, count in counts.items():
        if count < LIST_FROM or not isinstance(target, RegistryTarget):
            continue
        repo = Repository(registry=target.registry, repository=target.repository)
        found = client.tags_if_few(repo, max_pages=count // LIST_FROM)
        if isinstance(found, IOFailure):
            continue
        known = unsafe_perform_io(found.unwrap())
        if known is not None:
            listed[target] = known
    return listed


def survey(
    steps: Sequence[Step],
    client: RegistryClient | None,
    pool: ThreadPoolExecutor | None,
) -> Survey:
    """Ask the destination about every tag of the plan (see the module doc)."""
    tags = [
        (index, step)
        for index, step in enumerate(steps)
        if isinstance(step, Tag) and isinstance(step.target, RegistryTarget)
    ]
    if client is None or not tags:
        return Survey()
    questions = list(dict.fromkeys((step.target, step.tag) for _, step in tags))
    listed = _listings(client, questions)

    def ask(question: tuple[Target, str]) -> Descriptor | _Unasked | None:
        target, tag = question
        assert isinstance(target, RegistryTarget)
        known = listed.get(target)
        if known is not None and tag not in known:
            return None
        return _ask(client, target, tag)

    mapper: Callable[..., Iterable[Descriptor | _Unasked | None]] = (
        pool.map if pool is not None else map
    )
    answers = dict(zip(questions, mapper(ask, questions), strict=True))
    current = {index: answers[(step.target, step.tag)] for index, step in tags}

    manifests: dict[_Key, int] = {}
    references: dict[_Key, tuple[Digest, ...] | None] = {}
    for index, step in enumerate(steps):
        if isinstance(step, PutManifest) and isinstance(step.target, RegistryTarget):
            key: _Key = (step.target, step.descriptor.digest)
            manifests.setdefault(key, index)
            references[key] = _references(step)
    done: set[int] = set()
    present: set[_Key] = set()
    for index, step in tags:
        now = current[index]
        if isinstance(now, Descriptor) and now.digest == step.descriptor.digest:
            done.add(index)
            present.add((step.target, step.descriptor.digest))
    # Everything under a present manifest is present.
    covered = set(present)
    stack = list(present)
    while stack:
        target, digest = stack.pop()
        for child in references.get((target, digest)) or ():
            key = (target, child)
            if key not in covered:
                covered.add(key)
                stack.append(key)
    unparsed = any(names is None for names in references.values())
    needed: set[_Key] = set()
    for key, names in references.items():
        if key not in covered:
            needed.update((key[0], name) for name in names or ())
    for index, step in enumerate(steps):
        if (isinstance(step, PutManifest) and (step.target, step.descriptor.digest) in covered) or (
            isinstance(step, PutBlob)
            and not unparsed
            and (step.target, step.descriptor.digest) in covered
            and (step.target, step.descriptor.digest) not in needed
        ):
            done.add(index)

    named_by_others = {(key[0], name) for key, names in references.items() for name in names or ()}
    raw: dict[int, tuple[bytes, str]] = {}
    stored_by: dict[int, int] = {}
    stores: dict[int, list[int]] = {}
    for index, step in tags:
        if index in done:
            continue
        key = (step.target, step.descriptor.digest)
        manifest_index = manifests.get(key)
        if manifest_index is None:
            continue
        manifest = steps[manifest_index]
        assert isinstance(manifest, PutManifest)
        raw[index] = (manifest.raw, manifest.descriptor.media_type)
        if (
            manifest_index not in done
            and manifest_index not in stored_by
            and key not in named_by_others
            and not isinstance(current[index], _Unasked)
        ):
            stored_by[manifest_index] = index
            stores.setdefault(index, []).append(manifest_index)
    return Survey(
        done=frozenset(done),
        current=current,
        raw=raw,
        stored_by=stored_by,
        stores={index: tuple(found) for index, found in stores.items()},
    )
