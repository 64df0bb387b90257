"""What to do with one layer tar entry, decided from its header alone.

``classify_entry`` turns a tar header (name, type flag, link name, mode, size,
mtime) into an ``EntryAction``, or refuses it with an ``EntryError``.  Paths
in actions are *normalised relative paths*: components joined by ``/``, none
of them empty, ``.`` or ``..``; the output directory itself is ``""``.  Such a
path can never name anything outside the output directory.

Rules (``docs/formats/extraction.md`` §2, OCI image-spec ``layer.md``):

* Names: leading ``./`` and ``.`` components are dropped, repeated and
  trailing ``/`` collapse, and a ``..`` is resolved lexically (exact, because
  extraction never creates symbolic links).  Refused: empty names, NUL,
  backslashes (Windows-built layers), absolute names, and a ``..`` that climbs
  above the output directory.  Hard link targets follow the same rules.
* Whiteouts (``layer.md`` "Whiteouts"): a basename ``.wh..wh..opq`` marks its
  directory opaque; ``.wh.<name>`` deletes ``<name>`` from lower layers; other
  ``.wh..wh.*`` names are AUFS bookkeeping and are skipped, as is anything
  below a ``.wh.`` name (AUFS's ``.wh..wh.plnk/``): no extracted name ever
  starts with ``.wh.``.  A whiteout whose ``<name>`` is empty, ``.`` or ``..``
  is refused.
* Types: directories, regular files (including contiguous and GNU sparse
  entries) and hard links are applied; symbolic links, character and block
  devices and fifos are skipped (never created); any other type is refused
  with ``UnsupportedEntry``, as imgpkg does.
"""

from __future__ import annotations

from typing import Final, final

from attrs import frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.digest import Digest
from imgpkg_pure.extract.errors import EntryError, UnsafeEntry, UnsupportedEntry, shown

# Tar type flags (POSIX ustar, GNU), as Python's tarfile reports them.
REGTYPE: Final = b"0"
AREGTYPE: Final = b"\x00"
LNKTYPE: Final = b"1"
SYMTYPE: Final = b"2"
CHRTYPE: Final = b"3"
BLKTYPE: Final = b"4"
DIRTYPE: Final = b"5"
FIFOTYPE: Final = b"6"
CONTTYPE: Final = b"7"
GNU_SPARSE: Final = b"S"

FILE_TYPES: Final = frozenset({REGTYPE, AREGTYPE, CONTTYPE, GNU_SPARSE})

WHITEOUT_PREFIX: Final = ".wh."
OPAQUE_MARKER: Final = ".wh..wh..opq"
AUFS_META_PREFIX: Final = ".wh..wh."

#: Permission, set-id and sticky bits: what an action keeps of a header's mode.
MODE_BITS: Final = 0o7777


# --- actions ----------------------------------------------------------------


@final
@frozen(kw_only=True)
class MakeDir:
    """A directory entry: create ``path`` (or update its attributes if it is a directory)."""

    path: str
    mode: int
    mtime: int


@final
@frozen(kw_only=True)
class WriteFile:
    """A regular file entry: (re)create ``path`` with the entry's ``size`` bytes of content."""

    path: str
    mode: int
    size: int
    mtime: int


@final
@frozen(kw_only=True)
class HardLink:
    """A hard link entry: ``path`` becomes another name of the regular file at ``target``."""

    path: str
    target: str


@final
@frozen(kw_only=True)
class Whiteout:
    """``.wh.<name>``: delete ``path`` as lower layers left it."""

    path: str


@final
@frozen(kw_only=True)
class OpaqueDir:
    """``.wh..wh..opq``: hide everything lower layers put under the directory ``path``."""

    path: str


@final
@frozen(kw_only=True)
class Skip:
    """An entry that is deliberately not extracted, and why (reported, never an error)."""

    path: str
    reason: str


EntryAction = MakeDir | WriteFile | HardLink | Whiteout | OpaqueDir | Skip


# --- paths ------------------------------------------------------------------


def normalize_name(name: str) -> Result[str, str]:
    """A tar name as a normalised relative path (``""`` is the root), or why it is refused."""
    if not name:
        return Failure("the name is empty")
    if "\x00" in name:
        return Failure("the name contains a NUL character")
    if "\\" in name:
        return Failure("the name contains a backslash (a Windows path separator)")
    if name.startswith("/"):
        return Failure("the name is an absolute path")
    parts: list[str] = []
    for component in name.split("/"):
        if component in ("", "."):
            continue
        if component == "..":
            if not parts:
                return Failure("the name climbs out of the output directory with '..'")
            parts.pop()
        else:
            parts.append(component)
    return Success("/".join(parts))


def parent_path(path: str) -> str:
    """The directory holding ``path`` (``""`` for a top-level name)."""
    head, _, _ = path.rpartition("/")
    return head


def base_name(path: str) -> str:
    """The last component of a non-root ``path``."""
    return path.rpartition("/")[2]


def join_path(directory: str, name: str) -> str:
    """``name`` inside ``directory`` (``""`` is the root)."""
    return f"{directory}/{name}" if directory else name


def is_within(path: str, ancestor: str) -> bool:
    """Whether ``path`` is ``ancestor`` or lies below it."""
    return not ancestor or path == ancestor or path.startswith(ancestor + "/")


# --- classification -----------------------------------------------------------


def _whiteout(path: str) -> Result[EntryAction, str]:
    directory, base = parent_path(path), base_name(path)
    if base == OPAQUE_MARKER:
        return Success(OpaqueDir(path=directory))
    if base.startswith(AUFS_META_PREFIX):
        return Success(Skip(path=path, reason="AUFS whiteout metadata (ignored)"))
    victim = base[len(WHITEOUT_PREFIX) :]
    if victim in ("", ".", ".."):
        return Failure(f"the whiteout names no file in its directory ({shown(victim)})")
    return Success(Whiteout(path=join_path(directory, victim)))


def _classify(
    path: str, *, typeflag: bytes, linkname: str, mode: int, size: int, mtime: int
) -> Result[EntryAction, str] | None:
    """The action for a safe ``path``; ``None`` for an unsupported type."""
    if any(part.startswith(WHITEOUT_PREFIX) for part in path.split("/")[:-1]):
        return Success(Skip(path=path, reason="below a whiteout name (AUFS metadata)"))
    if path and base_name(path).startswith(WHITEOUT_PREFIX):
        return _whiteout(path)
    if typeflag == DIRTYPE:
        return Success(MakeDir(path=path, mode=mode & MODE_BITS, mtime=mtime))
    if typeflag in FILE_TYPES or typeflag == LNKTYPE:
        if not path:
            return Failure("the entry names the output directory itself")
        if typeflag != LNKTYPE:
            return Success(WriteFile(path=path, mode=mode & MODE_BITS, size=size, mtime=mtime))
        target = normalize_name(linkname)
        if isinstance(target, Failure):
            return Failure(f"hard link target {shown(linkname)}: {target.failure()}")
        if not target.unwrap():
            return Failure("the hard link points at the output directory itself")
        return Success(HardLink(path=path, target=target.unwrap()))
    skipped = {
        SYMTYPE: f"symbolic link to {shown(linkname)} (symbolic links are never extracted)",
        CHRTYPE: "character device (devices are never extracted)",
        BLKTYPE: "block device (devices are never extracted)",
        FIFOTYPE: "fifo (fifos are never extracted)",
    }.get(typeflag)
    if skipped is not None:
        return Success(Skip(path=path, reason=skipped))
    return None


def classify_entry(
    layer: Digest,
    name: str,
    *,
    typeflag: bytes,
    linkname: str = "",
    mode: int = 0o644,
    size: int = 0,
    mtime: int = 0,
) -> Result[EntryAction, EntryError]:
    """What to do with the tar entry ``name`` of ``layer`` (module docstring for the rules).

    Every path in the action returned (``path``, a hard link's ``target``) is
    a normalised relative path, so joining it to the output directory never
    leaves it.  Refused entries give ``UnsafeEntry`` (bad names, bad link
    targets, whiteouts of nothing) or ``UnsupportedEntry`` (unknown types).
    """
    path = normalize_name(name)
    if isinstance(path, Failure):
        return Failure(UnsafeEntry(layer=layer, name=name, reason=path.failure()))
    action = _classify(
        path.unwrap(),
        typeflag=typeflag,
        linkname=linkname,
        mode=mode,
        size=size,
        mtime=mtime,
    )
    if action is None:
        return Failure(UnsupportedEntry(layer=layer, name=name, typeflag=typeflag))
    return action.alt(lambda reason: UnsafeEntry(layer=layer, name=name, reason=reason))


__all__ = [
    "AREGTYPE",
    "BLKTYPE",
    "CHRTYPE",
    "CONTTYPE",
    "DIRTYPE",
    "FIFOTYPE",
    "FILE_TYPES",
    "GNU_SPARSE",
    "LNKTYPE",
    "OPAQUE_MARKER",
    "REGTYPE",
    "SYMTYPE",
    "WHITEOUT_PREFIX",
    "EntryAction",
    "HardLink",
    "MakeDir",
    "OpaqueDir",
    "Skip",
    "Whiteout",
    "WriteFile",
    "base_name",
    "classify_entry",
    "is_within",
    "join_path",
    "normalize_name",
    "parent_path",
]
