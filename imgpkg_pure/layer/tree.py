"""What was observed on disk for each push input (``-f PATH``), as plain data.

``imgpkg_pure.store.files.tree.observe_inputs`` fills these in; everything after that is pure.
The observation is complete and unfiltered: every entry under a directory
input (exclusions are applied later, by the recipe), in any order.
"""

from __future__ import annotations

import enum

from attrs import field, frozen

from imgpkg_pure.layer.gopath import go_base


class EntryKind(enum.Enum):
    """What ``lstat`` saw (``stat`` for a file input, which follows symlinks)."""

    DIR = "dir"
    FILE = "file"
    SYMLINK = "symlink"
    OTHER = "other"  # fifo, socket, device


@frozen(kw_only=True)
class FileEntry:
    """One observed filesystem entry.

    ``rel`` is the ``/``-separated path relative to the input directory
    (``.`` for the directory itself), or the basename for a file input.
    ``mode`` is the POSIX ``st_mode & 0o7777``; ``size`` is ``st_size``
    (only meaningful for regular files).
    """

    rel: str
    kind: EntryKind
    mode: int
    size: int

    @property
    def components(self) -> tuple[bytes, ...]:
        """The path elements as bytes; ``.`` is the empty tuple.

        Sorting by this gives Go's ``filepath.Walk`` order: depth first,
        pre-order, siblings compared byte-wise.
        """
        if self.rel == ".":
            return ()
        return tuple(part.encode("utf-8", "surrogateescape") for part in self.rel.split("/"))


def _check_entries(instance: InputTree, _attribute: object, entries: tuple[FileEntry, ...]) -> None:
    rels = [entry.rel for entry in entries]
    if len(set(rels)) != len(rels):
        raise ValueError(f"input {instance.given!r}: duplicate observed entries")
    if instance.is_dir:
        if "." not in rels:
            raise ValueError(f"directory input {instance.given!r}: no '.' entry")
        for rel in rels:
            parts = rel.split("/")
            if rel != "." and any(part in ("", ".", "..") for part in parts):
                raise ValueError(f"directory input {instance.given!r}: bad entry path {rel!r}")
    elif len(entries) != 1:
        raise ValueError(f"file input {instance.given!r}: expected exactly one entry")


@frozen(kw_only=True)
class InputTree:
    """One ``-f`` input as observed.

    ``given`` is the path as typed (used in messages), ``abs_path`` its
    ``filepath.Abs`` (lexically cleaned, symlinks not resolved).  ``is_dir``
    is what ``os.Stat`` (following symlinks) said: a directory input is
    walked, anything else becomes one entry named after its basename.  For a
    directory input whose root is itself a symlink, the ``.`` entry has kind
    ``SYMLINK`` and no other entries exist (imgpkg refuses it).
    """

    given: str
    abs_path: str
    is_dir: bool
    entries: tuple[FileEntry, ...] = field(validator=_check_entries)

    @property
    def base_name(self) -> str:
        """Go's ``filepath.Base`` of the path as typed."""
        return go_base(self.given)

    @property
    def root(self) -> FileEntry:
        """The ``.`` entry of a directory input, or the single entry of a file input."""
        if not self.is_dir:
            return self.entries[0]
        return next(entry for entry in self.entries if entry.rel == ".")


@frozen(kw_only=True)
class LayerOptions:
    """``--file-exclusion`` (exact relative paths, default ``.git``), ``--preserve-permissions``."""

    exclusions: tuple[str, ...] = (".git",)
    preserve_permissions: bool = False
