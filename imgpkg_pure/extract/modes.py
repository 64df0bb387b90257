"""The permission bits extracted files and directories get (``docs/formats/extraction.md`` §4).

Two rules, both finished by the umask:

* ``ModeRule.IMGPKG`` (the default, imgpkg-reference §4.2 item 7): when a mode
  has no group or other bits (imgpkg push stores only the owner bits unless
  ``--preserve-permissions``), the owner bits are copied to group and other,
  so ``0600`` comes back as ``0644`` and ``0700`` as ``0755`` under umask 022;
  a mode with any group or other bit is kept as it is.
* ``ModeRule.LAYER``: the header's permission bits as they are (containerd,
  docker), so a ``0600`` file stays ``0600``.

Set-user-ID, set-group-ID and sticky bits are always dropped.  Directories get
the same rule plus owner ``rwx``, so the user can always list, change and
delete what pull wrote; directories no entry declared get ``0777`` (imgpkg's
``MkdirAll``), as does the output directory itself.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

PERMISSION_BITS: Final = 0o777
OWNER_RWX: Final = 0o700
DEFAULT_DIR_MODE: Final = 0o777


class ModeRule(Enum):
    """How a tar header's mode becomes the mode on disk (before the umask)."""

    IMGPKG = "imgpkg"
    LAYER = "layer"


def _permissions(tar_mode: int, rule: ModeRule) -> int:
    permissions = tar_mode & PERMISSION_BITS
    match rule:
        case ModeRule.IMGPKG:
            if permissions & 0o077:
                return permissions
            owner = permissions & OWNER_RWX
            return owner | owner >> 3 | owner >> 6
        case ModeRule.LAYER:
            return permissions


def file_mode(tar_mode: int, rule: ModeRule, umask: int) -> int:
    """The mode of a regular file extracted from a header with ``tar_mode``."""
    return _permissions(tar_mode, rule) & ~umask & PERMISSION_BITS


def dir_mode(tar_mode: int | None, rule: ModeRule, umask: int) -> int:
    """The mode of a directory: declared with ``tar_mode``, or implied (``None``)."""
    if tar_mode is None:
        return DEFAULT_DIR_MODE & ~umask & PERMISSION_BITS
    return (_permissions(tar_mode, rule) | OWNER_RWX) & ~umask & PERMISSION_BITS


def root_mode(umask: int) -> int:
    """The mode of the output directory itself (a ``.`` entry's mode is not applied)."""
    return dir_mode(None, ModeRule.IMGPKG, umask)


__all__ = ["ModeRule", "dir_mode", "file_mode", "root_mode"]
