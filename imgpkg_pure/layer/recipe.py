"""The push layer recipe: which tar members, in which order, with which headers.

``plan_layer`` turns the observed inputs into the exact uncompressed tar Go
imgpkg writes for ``imgpkg push`` (imgpkg-reference §3.1 to §3.4): every header
byte is decided here, and the shell only has to copy file contents between
the headers (``imgpkg_pure.store.files.tree.write_layer_tar``).  The rules:

* inputs in ``-f`` order; a directory input is walked like Go's
  ``filepath.Walk`` (depth first, pre-order, siblings sorted byte-wise) and
  contributes its own ``.`` entry; a file input is one entry named by its
  basename;
* ``--file-exclusion`` entries match relative paths exactly (a directory
  takes its subtree with it); a file input is matched by its basename;
* anything that is neither a directory nor a regular file inside a walked
  directory is an error, and so is a directory input that is a symlink;
* before that, a duplicate check over the unfiltered walk refuses inputs that
  would put the same path at the image root;
* headers: uid/gid 0, mtime 0, no names; directories 0700 and files
  ``mode & 0700``, or with ``preserve_permissions`` Go ``FileMode`` values
  (every directory gets the mode of its ``-f`` root, including ``ModeDir``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import assert_never

from attrs import frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.errors import InputError
from imgpkg_pure.layer.errors import DuplicatePaths, NotRegularFile
from imgpkg_pure.layer.gopath import walked_path
from imgpkg_pure.layer.tar_header import (
    END_OF_ARCHIVE,
    TYPE_DIR,
    TYPE_REG,
    encode_header,
    go_file_mode,
    padded_size,
    padding,
)
from imgpkg_pure.layer.tree import EntryKind, FileEntry, InputTree, LayerOptions

DEFAULT_DIR_MODE = 0o700


@frozen(kw_only=True)
class TarMember:
    """One entry of the layer tar.

    ``header`` is the complete header (a multiple of 512 bytes, PAX or GNU
    long-name blocks included).  For a file, ``size`` bytes of
    ``source_path`` follow, then ``padding(size)``.  ``source_path`` is the
    path imgpkg opens: the walked path (``filepath.Join(given, rel)``), or the
    ``-f`` value itself for a file input, so it is relative when the input
    was.  ``input_index`` is the ``-f`` input it comes from, ``rel`` its name
    in the image.
    """

    input_index: int
    rel: str
    source_path: str
    header: bytes
    size: int
    is_dir: bool

    @property
    def log_line(self) -> str:
        """The line imgpkg prints as it writes this entry (``dir: <rel>`` / ``file: <rel>``)."""
        return f"{'dir' if self.is_dir else 'file'}: {self.rel}"

    @property
    def padding(self) -> bytes:
        """The NUL bytes after this member's data."""
        return padding(self.size)

    @property
    def tar_bytes(self) -> int:
        """How many bytes of the tar this member occupies (header, data, padding)."""
        return len(self.header) + padded_size(self.size)


@frozen(kw_only=True)
class LayerRecipe:
    """The members of a layer tar, in order; the tar ends with ``END_OF_ARCHIVE``."""

    members: tuple[TarMember, ...]

    @property
    def log_lines(self) -> tuple[str, ...]:
        """imgpkg's progress lines for this layer, in order."""
        return tuple(member.log_line for member in self.members)


def tar_size(recipe: LayerRecipe) -> int:
    """The exact length of the tar the recipe describes."""
    return sum(member.tar_bytes for member in recipe.members) + len(END_OF_ARCHIVE)


def walk_order(entries: Iterable[FileEntry]) -> tuple[FileEntry, ...]:
    """``entries`` in Go's ``filepath.Walk`` order (pre-order, byte-wise sorted siblings)."""
    return tuple(sorted(entries, key=lambda entry: entry.components))


def duplicate_paths(inputs: tuple[InputTree, ...]) -> tuple[str, ...]:
    """The source paths that collide at the image root (imgpkg's ``checkRepeatedPaths``).

    Every input is walked without exclusions; each entry's image path is its
    relative path, or the basename for a file input (or a directory input
    that is not a real directory).  A real directory's own ``.`` is skipped.
    Groups are listed in the order their image path is first met (imgpkg
    iterates a Go map, so its order varies between runs).
    """
    groups: dict[str, list[str]] = {}
    for tree in inputs:
        for entry in walk_order(tree.entries):
            if not tree.is_dir or entry.rel == ".":
                if tree.is_dir and entry.kind is EntryKind.DIR:
                    continue
                key, source = tree.base_name, tree.given
            else:
                key, source = entry.rel, walked_path(tree.given, entry.rel)
            groups.setdefault(key, []).append(source)
    return tuple(source for sources in groups.values() if len(sources) > 1 for source in sources)


def _member(
    index: int, tree: InputTree, entry: FileEntry, *, name: str, mode: int, is_dir: bool
) -> TarMember:
    size = 0 if is_dir else entry.size
    source = walked_path(tree.given, entry.rel) if tree.is_dir else tree.given
    return TarMember(
        input_index=index,
        rel=name,
        source_path=source,
        header=encode_header(name, mode=mode, size=size, typeflag=TYPE_DIR if is_dir else TYPE_REG),
        size=size,
        is_dir=is_dir,
    )


def _file_member(index: int, tree: InputTree, entry: FileEntry, options: LayerOptions) -> TarMember:
    """A regular file's member: Go's mode with ``--preserve-permissions``, else the owner's
    permission bits only (imgpkg's default)."""
    mode = (
        go_file_mode(entry.mode, is_dir=False)
        if options.preserve_permissions
        else entry.mode & 0o700
    )
    return _member(index, tree, entry, name=entry.rel, mode=mode, is_dir=False)


def _file_input_member(
    index: int, tree: InputTree, options: LayerOptions
) -> Result[TarMember | None, InputError]:
    entry = tree.entries[0]
    if entry.rel in options.exclusions:
        return Success(None)
    if entry.kind is not EntryKind.FILE:
        return Failure(NotRegularFile(path=tree.given, reason="not a regular file", given=None))
    return Success(_file_member(index, tree, entry, options))


def _dir_input_members(
    index: int, tree: InputTree, options: LayerOptions
) -> Result[tuple[TarMember, ...], InputError]:
    dir_mode = (
        go_file_mode(tree.root.mode, is_dir=True)
        if options.preserve_permissions
        else DEFAULT_DIR_MODE
    )
    members: list[TarMember] = []
    skipped: set[tuple[bytes, ...]] = set()
    for entry in walk_order(tree.entries):
        parts = entry.components
        if any(parts[:depth] in skipped for depth in range(len(parts))):
            continue
        match entry.kind:
            case EntryKind.DIR:
                if entry.rel in options.exclusions:
                    skipped.add(parts)
                    continue
                members.append(
                    _member(index, tree, entry, name=entry.rel, mode=dir_mode, is_dir=True)
                )
            case EntryKind.FILE:
                if entry.rel in options.exclusions:
                    continue
                members.append(_file_member(index, tree, entry, options))
            case EntryKind.SYMLINK | EntryKind.OTHER:
                return Failure(
                    NotRegularFile(
                        path=walked_path(tree.given, entry.rel),
                        reason="not a regular file",
                        given=tree.given,
                    )
                )
            case _:
                assert_never(entry.kind)
    return Success(tuple(members))


DEFAULT_OPTIONS = LayerOptions()


def plan_layer(
    inputs: tuple[InputTree, ...], options: LayerOptions = DEFAULT_OPTIONS
) -> Result[LayerRecipe, InputError]:
    """The recipe of the tar imgpkg writes for these inputs (see the module docstring).

    Fails with ``DuplicatePaths`` first, then with the first ``NotRegularFile``
    met in walk order, as imgpkg does.  With no inputs the recipe is empty and
    the tar is just ``END_OF_ARCHIVE``.
    """
    duplicates = duplicate_paths(inputs)
    if duplicates:
        return Failure(
            DuplicatePaths(path=duplicates[0], reason="duplicate image path", paths=duplicates)
        )
    members: list[TarMember] = []
    for index, tree in enumerate(inputs):
        if tree.is_dir:
            planned = _dir_input_members(index, tree, options)
        else:
            planned = _file_input_member(index, tree, options).map(
                lambda member: () if member is None else (member,)
            )
        match planned:
            case Success(found):
                members.extend(found)
            case Failure(error):
                return Failure(error)
    return Success(LayerRecipe(members=tuple(members)))
