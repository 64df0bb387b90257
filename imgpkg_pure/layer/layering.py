"""``push --layering=auto``: the push tar cut into several layers by a rule over its paths.

A push of one changed file should upload one small layer, not the whole tree again.
The rule (``docs/formats/layering.md``, normative) takes the members of the single
layer (``plan_layer``: canonical order, headers, exclusions already decided) and
assigns each to one layer, looking only at names and sizes, never at file contents:

* a bundle's ``.imgpkg`` subtree is a layer of its own, the first one;
* a regular file whose tar bytes reach ``target`` is a layer of its own;
* every other member joins the current run, and a regular file ends the run when
  ``sha256(name)`` (its first 8 bytes, big-endian) times ``target`` is below its tar
  bytes times 2**64: on average a run holds ``target`` tar bytes, and whether a file
  ends one depends on that file alone.

So an edit of one file (its content, its size, adding or removing it) changes the
run it is in, and at most the next one (when the file starts or stops ending a run);
every other layer keeps its bytes and its digest.

Each layer repeats, before its own members, the directory members of the single
layer that are their ancestors (same headers), and lists everything in the single
layer's order: every layer is itself a canonical tar, files are disjoint across
layers (no whiteouts), and applying the layers in any order gives the same tree.
A tree that fits one run gives exactly the single layer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Final, Literal, get_args

from attrs import frozen

from imgpkg_pure.layer.bundle_check import IMGPKG_DIR
from imgpkg_pure.layer.recipe import LayerRecipe, TarMember
from imgpkg_pure.oci.values import Descriptor

Layering = Literal["single", "auto"]
#: The ``--layering`` values, the default first.
LAYERING_MODES: Final[tuple[Layering, ...]] = get_args(Layering)

#: The expected tar bytes of one layer, and the size from which a file is alone.
#: Changing it changes every digest an ``auto`` push makes.
DEFAULT_TARGET: Final = 4 << 20

_SCALE: Final = 1 << 64


@frozen(kw_only=True)
class LayeringRule:
    """The parameters of the ``auto`` rule.

    ``target`` is in tar bytes (header, data and padding of each member).
    ``metadata`` is the top-level directory kept in a layer of its own, first
    (``.imgpkg`` for a bundle, ``None`` for an image).
    """

    target: int = DEFAULT_TARGET
    metadata: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.target < 1:
            raise ValueError(f"layering target must be positive, got {self.target}")


def path_point(name: str) -> int:
    """The name's place in ``[0, 2**64)``: the first 8 bytes of its sha256, big-endian.

    Names that are not UTF-8 are hashed as the bytes they were read as.
    """
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big")


def ends_run(member: TarMember, target: int) -> bool:
    """Whether this member closes its run: a file, with probability ``tar_bytes / target``."""
    if member.is_dir:
        return False
    return path_point(member.rel) * target < member.tar_bytes * _SCALE


def _is_large(member: TarMember, target: int) -> bool:
    return not member.is_dir and member.tar_bytes >= target


def _in_metadata(member: TarMember, metadata: str | None) -> bool:
    return metadata is not None and (
        member.rel == metadata or member.rel.startswith(metadata + "/")
    )


def _own_groups(members: tuple[TarMember, ...], rule: LayeringRule) -> list[list[int]]:
    """Which members each layer owns (indices into ``members``), in manifest order."""
    metadata = [i for i, m in enumerate(members) if _in_metadata(m, rule.metadata)]
    taken = set(metadata)
    groups: list[list[int]] = []
    run: list[int] = []
    for index, member in enumerate(members):
        if index in taken:
            continue
        if _is_large(member, rule.target):
            groups.append([index])
            continue
        run.append(index)
        if ends_run(member, rule.target):
            groups.append(run)
            run = []
    if run:
        groups.append(run)
    groups.sort(key=lambda group: group[0])
    return [metadata, *groups] if metadata else groups


def _ancestor_keys(member: TarMember) -> Iterable[tuple[int, str]]:
    # A walked member's ancestors are its input's "." and every proper prefix of its
    # name.  A file input has no directory members, so nothing is found for it.
    parts = member.rel.split("/")
    yield member.input_index, "."
    for depth in range(1, len(parts)):
        yield member.input_index, "/".join(parts[:depth])


_DEFAULT_RULE: Final = LayeringRule()


def split_recipe(
    recipe: LayerRecipe, rule: LayeringRule = _DEFAULT_RULE
) -> tuple[LayerRecipe, ...]:
    """The layers of ``recipe`` under the ``auto`` rule, in manifest order (never empty).

    Every member of ``recipe`` is owned by exactly one layer; a layer also repeats
    the directory members its own members are under.  With no members, the one
    layer is the empty tar, as ``single`` gives.
    """
    members = recipe.members
    directories = {
        (member.input_index, member.rel): index
        for index, member in enumerate(members)
        if member.is_dir
    }
    layers: list[LayerRecipe] = []
    for group in _own_groups(members, rule):
        needed = set(group)
        for index in group:
            if members[index].rel == ".":
                continue
            for key in _ancestor_keys(members[index]):
                parent = directories.get(key)
                if parent is not None:
                    needed.add(parent)
        layers.append(LayerRecipe(members=tuple(members[i] for i in sorted(needed))))
    return tuple(layers) or (LayerRecipe(members=()),)


def layer_recipes(
    recipe: LayerRecipe, layering: Layering, *, bundle: bool, target: int = DEFAULT_TARGET
) -> tuple[LayerRecipe, ...]:
    """The layers a push writes: the one recipe for ``single``, ``split_recipe`` for ``auto``."""
    if layering == "single":
        return (recipe,)
    rule = LayeringRule(target=target, metadata=IMGPKG_DIR if bundle else None)
    return split_recipe(recipe, rule)


def bundle_lock_layer(layers: Sequence[Descriptor]) -> Descriptor | None:
    """The layer a bundle's ``.imgpkg/images.yml`` is read from (``None``: the bundle has none).

    imgpkg reads a bundle's only layer and refuses any other count.  A bundle pushed
    with ``--layering=auto`` has several, and its ``.imgpkg`` is the first one, so
    that is where imgpkg-pure's copy, describe and pull read it.
    """
    return layers[0] if layers else None
