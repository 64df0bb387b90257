"""Error values of image extraction (the pure half of ``pull``).

Every value has a ``message``: one line naming the layer and the tar entry
(or the output directory) and what is wrong with it.  The tree::

    EntryError
      UnsafeEntry        a tar entry whose name (or link target) would leave the
                         output directory, or is not a usable path at all
      UnsupportedEntry   a tar entry of a type no extractor handles
    UnsafeOutput         an output directory pull refuses to replace
"""

from __future__ import annotations

from attrs import frozen

from imgpkg_pure.digest import Digest


def shown(name: str) -> str:
    """``name`` quoted for a one-line message: control characters are escaped."""
    if name.isprintable():
        return f"'{name}'"
    escaped = name.encode("unicode_escape", "backslashreplace").decode("ascii")
    return f"'{escaped}'"


@frozen(kw_only=True)
class UnsafeEntry:
    """A layer entry that is refused: its name or link target is not a safe relative path.

    ``name`` is the entry name as it appears in the tar; ``reason`` says what is
    wrong (``is an absolute path``, ``climbs out of the output directory``, …).
    """

    layer: Digest
    name: str
    reason: str

    @property
    def message(self) -> str:
        return f"layer {self.layer}: refusing tar entry {shown(self.name)}: {self.reason}"


@frozen(kw_only=True)
class UnsupportedEntry:
    """A layer entry of a tar type that is neither a file, a directory, a link nor a device."""

    layer: Digest
    name: str
    typeflag: bytes

    @property
    def message(self) -> str:
        flag = self.typeflag.decode("latin-1")
        return (
            f"layer {self.layer}: tar entry {shown(self.name)} has unsupported type {shown(flag)}"
        )


EntryError = UnsafeEntry | UnsupportedEntry


@frozen(kw_only=True)
class UnsafeOutput:
    """An output directory that pull refuses to replace (imgpkg-reference §1.3, §9 item 2)."""

    path: str
    reason: str

    @property
    def message(self) -> str:
        return (
            f"Disallowed output directory {shown(self.path)} "
            f"(trying to avoid accidental deletion): {self.reason}"
        )


__all__ = ["EntryError", "UnsafeEntry", "UnsafeOutput", "UnsupportedEntry", "shown"]
