"""Applying layers bottom-up with OCI whiteouts, as data (image-spec ``layer.md``).

``ExtractPlanner`` keeps the tree the layers have built so far (paths, kinds,
header modes, which entry each file's content came from; never content) and
turns each ``EntryAction`` into the filesystem operations (``Op``) that bring
a directory holding that tree up to date.  The shell executes the operations;
``flatten_layers`` runs the same planner over whole layers and returns the
final tree, which is the model the extraction tests compare real directories
with.  Nothing here performs I/O; the planner's state is private and only
changes through ``begin_layer`` and ``plan``.

Rules (``docs/formats/extraction.md`` §3):

1. Layers apply in manifest order, bottom first; within a layer, entries apply
   in tar order and a later entry replaces an earlier one at the same path.
2. An entry over an existing path (``layer.md`` "Changeset over existing
   files"): directory over directory updates its attributes and keeps its
   contents; anything else removes the existing path (a directory with all
   its contents) and recreates it.
3. Every applied entry implies its parent directories: missing ones are
   created (mode unset, "implied"), and a non-directory in the way is replaced
   by an implied directory.  Skipped entries have no effect at all.
4. Whiteouts apply only to lower layers (``layer.md``): ``Whiteout(p)`` and
   ``OpaqueDir(d)`` remove what lower layers put at ``p`` / below ``d``, but
   keep what the current layer wrote, whatever the order of the entries.  A
   lower directory kept only because the current layer wrote below it loses
   its lower attributes (it becomes implied), exactly as if the whiteout had
   come first and the directory had been recreated.
5. A hard link may only name a regular file already in the tree (from this
   layer or a lower one), other than itself, one of its ancestors or one of
   its descendants; any other hard link is skipped, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import assert_never, final

from attrs import frozen

from imgpkg_pure.extract.entry import (
    EntryAction,
    HardLink,
    MakeDir,
    OpaqueDir,
    Skip,
    Whiteout,
    WriteFile,
    base_name,
    is_within,
    join_path,
    parent_path,
)
from imgpkg_pure.extract.errors import shown


class NodeKind(Enum):
    DIR = "dir"
    FILE = "file"


@final
@frozen(kw_only=True, order=True)
class EntryRef:
    """An entry of the image: its layer (0 = bottom) and its position in that layer's tar."""

    layer: int
    index: int


@final
@frozen(kw_only=True)
class TreeNode:
    """One path of the extracted tree (never the root).

    ``mode`` is the header mode (permission, set-id and sticky bits), ``None``
    for an implied directory; ``source`` is, for a file, the entry whose
    content it has (a hard link shares its target's), and for a directory,
    the entry that declared it (``None`` if implied).
    """

    path: str
    kind: NodeKind
    mode: int | None
    size: int
    mtime: int
    source: EntryRef | None


@final
@frozen(kw_only=True)
class FinalTree:
    """The tree an image extracts to: every path but the root, sorted."""

    nodes: tuple[TreeNode, ...]

    def as_dict(self) -> dict[str, TreeNode]:
        return {node.path: node for node in self.nodes}

    @property
    def files(self) -> tuple[TreeNode, ...]:
        return tuple(node for node in self.nodes if node.kind is NodeKind.FILE)

    @property
    def directories(self) -> tuple[TreeNode, ...]:
        return tuple(node for node in self.nodes if node.kind is NodeKind.DIR)

    def directories_deepest_first(self) -> tuple[TreeNode, ...]:
        """The directories, children before their parents (for finishing modes)."""
        return tuple(sorted(self.directories, key=lambda n: (-n.path.count("/"), n.path)))


# --- operations -----------------------------------------------------------------


@final
@frozen(kw_only=True)
class RemovePath:
    """Remove whatever is at ``path``: a file, or a directory with everything below it."""

    path: str


@final
@frozen(kw_only=True)
class CreateDir:
    """Create the directory ``path`` (its parent exists; ``path`` does not)."""

    path: str


@final
@frozen(kw_only=True)
class CreateFile:
    """Create the file ``path`` from the current entry's content (``path`` does not exist)."""

    path: str
    mode: int
    size: int
    mtime: int


@final
@frozen(kw_only=True)
class CreateHardLink:
    """Make ``path`` (which does not exist) another name of the regular file ``target``."""

    path: str
    target: str


Op = RemovePath | CreateDir | CreateFile | CreateHardLink


# --- the planner ---------------------------------------------------------------


class _Node:
    """A mutable tree node, private to the planner."""

    __slots__ = ("children", "kind", "mode", "mtime", "size", "source", "touched", "written")

    def __init__(
        self,
        kind: NodeKind,
        *,
        layer: int,
        mode: int | None = None,
        size: int = 0,
        mtime: int = 0,
        source: EntryRef | None = None,
    ) -> None:
        self.kind = kind
        self.mode = mode
        self.size = size
        self.mtime = mtime
        self.source = source
        self.children: dict[str, _Node] = {}
        self.written = layer  # the layer that last created, replaced or declared this node
        self.touched = layer  # the last layer that wrote this node or anything below it


class ExtractPlanner:
    """Plans the filesystem operations that apply layers in order (module docstring).

    Call ``begin_layer`` before each layer's entries, then ``plan`` once per
    tar entry, in tar order (skipped entries included, so that ``EntryRef``
    indexes are tar positions).  ``tree`` is the tree so far.
    """

    def __init__(self) -> None:
        self._layer = -1
        self._index = 0
        self._root = _Node(NodeKind.DIR, layer=-1)

    @property
    def layer(self) -> int:
        """The index of the current layer (0 = bottom; -1 before ``begin_layer``)."""
        return self._layer

    def begin_layer(self) -> None:
        self._layer += 1
        self._index = 0

    def plan(self, action: EntryAction) -> tuple[Op, ...] | Skip:
        """The operations applying ``action``, or the ``Skip`` saying why nothing happens."""
        if self._layer < 0:
            raise ValueError("ExtractPlanner.plan called before begin_layer")
        ref = EntryRef(layer=self._layer, index=self._index)
        self._index += 1
        ops: list[Op] = []
        match action:
            case MakeDir():
                self._make_dir(action, ref, ops)
            case WriteFile():
                self._write_file(action, ref, ops)
            case HardLink():
                skipped = self._hard_link(action, ops)
                if skipped is not None:
                    return skipped
            case Whiteout():
                self._whiteout(action, ops)
            case OpaqueDir():
                self._opaque(action, ops)
            case Skip():
                return action
            case _:
                assert_never(action)
        return tuple(ops)

    def tree(self) -> FinalTree:
        """Every path built so far, sorted."""
        found: list[TreeNode] = []
        stack: list[tuple[str, _Node]] = [("", self._root)]
        while stack:
            path, node = stack.pop()
            for name, child in node.children.items():
                child_path = join_path(path, name)
                found.append(
                    TreeNode(
                        path=child_path,
                        kind=child.kind,
                        mode=child.mode,
                        size=child.size,
                        mtime=child.mtime,
                        source=child.source,
                    )
                )
                if child.children:
                    stack.append((child_path, child))
        return FinalTree(nodes=tuple(sorted(found, key=lambda n: n.path)))

    # --- rules ------------------------------------------------------------------

    def _lookup(self, path: str) -> _Node | None:
        node = self._root
        for name in path.split("/") if path else ():
            child = node.children.get(name)
            if child is None:
                return None
            node = child
        return node

    def _directory(self, path: str, ops: list[Op]) -> _Node:
        """The directory at ``path``, created (or put in place of a non-directory) if needed."""
        node = self._root
        node.touched = self._layer
        walked = ""
        for name in path.split("/") if path else ():
            walked = join_path(walked, name)
            child = node.children.get(name)
            if child is None or child.kind is not NodeKind.DIR:
                if child is not None:
                    ops.append(RemovePath(path=walked))
                child = _Node(NodeKind.DIR, layer=self._layer)
                node.children[name] = child
                ops.append(CreateDir(path=walked))
            child.touched = self._layer
            node = child
        return node

    def _place(self, path: str, node: _Node, ops: list[Op]) -> None:
        """Put ``node`` at ``path``, removing what was there."""
        parent = self._directory(parent_path(path), ops)
        name = base_name(path)
        if name in parent.children:
            ops.append(RemovePath(path=path))
        parent.children[name] = node

    def _make_dir(self, action: MakeDir, ref: EntryRef, ops: list[Op]) -> None:
        if not action.path:
            return  # the output directory itself: a "." entry's attributes are not applied
        parent = self._directory(parent_path(action.path), ops)
        existing = parent.children.get(base_name(action.path))
        if existing is not None and existing.kind is NodeKind.DIR:
            existing.mode = action.mode
            existing.mtime = action.mtime
            existing.source = ref
            existing.written = existing.touched = self._layer
            return
        if existing is not None:
            ops.append(RemovePath(path=action.path))
        parent.children[base_name(action.path)] = _Node(
            NodeKind.DIR, layer=self._layer, mode=action.mode, mtime=action.mtime, source=ref
        )
        ops.append(CreateDir(path=action.path))

    def _new_file(self, mode: int | None, size: int, mtime: int, source: EntryRef | None) -> _Node:
        """A file node written by the current layer."""
        return _Node(
            NodeKind.FILE, layer=self._layer, mode=mode, size=size, mtime=mtime, source=source
        )

    def _write_file(self, action: WriteFile, ref: EntryRef, ops: list[Op]) -> None:
        node = self._new_file(action.mode, action.size, action.mtime, ref)
        self._place(action.path, node, ops)
        ops.append(
            CreateFile(path=action.path, mode=action.mode, size=action.size, mtime=action.mtime)
        )

    def _hard_link(self, action: HardLink, ops: list[Op]) -> Skip | None:
        target = self._lookup(action.target)
        if target is None or target.kind is not NodeKind.FILE:
            return Skip(
                path=action.path,
                reason=f"hard link to {shown(action.target)}, which is not a regular file "
                "extracted so far",
            )
        if is_within(action.target, action.path) or is_within(action.path, action.target):
            return Skip(
                path=action.path,
                reason=f"hard link to {shown(action.target)}, which it would itself replace",
            )
        node = self._new_file(target.mode, target.size, target.mtime, target.source)
        self._place(action.path, node, ops)
        ops.append(CreateHardLink(path=action.path, target=action.target))
        return None

    def _whiteout(self, action: Whiteout, ops: list[Op]) -> None:
        parent = self._directory(parent_path(action.path), ops)
        name = base_name(action.path)
        if name in parent.children:
            self._hide(parent, name, action.path, ops)

    def _opaque(self, action: OpaqueDir, ops: list[Op]) -> None:
        directory = self._directory(action.path, ops)
        for name in sorted(directory.children):
            self._hide(directory, name, join_path(action.path, name), ops)

    def _hide(self, parent: _Node, name: str, path: str, ops: list[Op]) -> None:
        """Remove what lower layers put at ``path`` (in ``parent``), keeping this layer's work."""
        stack = [(parent, name, path)]
        while stack:
            holder, key, where = stack.pop()
            node = holder.children[key]
            if node.touched < self._layer:
                del holder.children[key]
                ops.append(RemovePath(path=where))
                continue
            if node.written < self._layer:
                # Kept only as the parent of this layer's entries: it is implied now.
                node.mode = None
                node.mtime = 0
                node.source = None
            for child in sorted(node.children, reverse=True):
                stack.append((node, child, join_path(where, child)))


def flatten_layers(layers: Iterable[Iterable[EntryAction]]) -> FinalTree:
    """The tree that applying ``layers`` (bottom first, each in tar order) produces."""
    planner = ExtractPlanner()
    for actions in layers:
        planner.begin_layer()
        for action in actions:
            planner.plan(action)
    return planner.tree()


__all__ = [
    "CreateDir",
    "CreateFile",
    "CreateHardLink",
    "EntryRef",
    "ExtractPlanner",
    "FinalTree",
    "NodeKind",
    "Op",
    "RemovePath",
    "TreeNode",
    "flatten_layers",
]
