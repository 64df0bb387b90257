"""Error values for imgpkg tarballs (``copy --to-tar`` / ``copy --tar``).

Every value has a ``message``: one line naming the tar file, the entry (when
there is one) and the problem.  ``manifest.json`` that does not parse, or
whose ``Raw`` documents do not hash to their digests, is a
``MalformedDocument`` whose ``where`` is ``<tar>: manifest.json``; layer bytes
that do not match their entry name are a ``DigestMismatch`` (or
``SizeMismatch``) whose ``what`` is ``<tar>: entry <name>``.  The tree::

    TarError
      TarTruncated         the file ends inside a header, an entry or before the end marker
      BadTarHeader         a header block that is not a valid tar header
      UnexpectedEntry      an entry imgpkg never writes: a path trick, another name, a link
      DuplicateEntry       two entries with one name and different content
      ManifestJsonMissing  no manifest.json entry
      ManifestJsonTooLarge manifest.json larger than this reader accepts
      LayerNotInTar        a layer an image needs has no entry (imgpkg's message)
      TarChanged           the file changed after it was indexed
      TarIOFailure         the operating system refused an operation
      BlobUnavailable      the writer's blob source could not provide a layer
      ResumeUnreadable     --resume on a file that is not a readable tar
      MalformedDocument    (imgpkg_pure) manifest.json is not what it should be
      DigestMismatch       (imgpkg_pure) entry bytes that do not hash to the entry name
      SizeMismatch         (imgpkg_pure) entry or blob of the wrong length
"""

from __future__ import annotations

from typing import Final, final

from attrs import frozen

from imgpkg_pure.errors import DigestMismatch, MalformedDocument, SizeMismatch

#: imgpkg's hint when a layer entry is missing (``imagetar/tar_file.go``), verbatim.
MISSING_LAYER_HINT: Final = (
    "hint: This may be because when copying to a tarball, "
    "the --include-non-distributable-layers flag should have been provided."
)


def shown(text: str) -> str:
    """``text`` on one line: control and other unprintable characters escaped."""
    if text.isprintable():
        return text
    return text.encode("unicode_escape", "backslashreplace").decode("ascii")


@final
@frozen(kw_only=True)
class TarTruncated:
    """The file ends before a header, an entry's data or the end-of-archive marker does."""

    tar: str
    entry: str
    offset: int
    needed: int
    file_size: int

    @property
    def message(self) -> str:
        if self.file_size == 0:
            return f"{shown(self.tar)}: truncated tar: the file is empty"
        what = f"entry '{shown(self.entry)}'" if self.entry else "the end-of-archive marker"
        return (
            f"{shown(self.tar)}: truncated tar: {what} at offset {self.offset} needs "
            f"{self.needed} bytes but the file ends at {self.file_size}"
        )


@final
@frozen(kw_only=True)
class BadTarHeader:
    """A 512-byte block where a tar header should be that is not one."""

    tar: str
    entry: str
    offset: int
    reason: str

    @property
    def message(self) -> str:
        where = f"header of entry '{shown(self.entry)}'" if self.entry else "header"
        return f"{shown(self.tar)}: invalid tar {where} at offset {self.offset}: {self.reason}"


@final
@frozen(kw_only=True)
class UnexpectedEntry:
    """An entry imgpkg never writes: absolute, ``..``, another name, a link or directory."""

    tar: str
    entry: str
    reason: str

    @property
    def message(self) -> str:
        return f"{shown(self.tar)}: refusing entry '{shown(self.entry)}': {self.reason}"


@final
@frozen(kw_only=True)
class DuplicateEntry:
    """Two entries with the same name whose contents differ."""

    tar: str
    entry: str

    @property
    def message(self) -> str:
        return (
            f"{shown(self.tar)}: entry '{shown(self.entry)}' appears twice with different content"
        )


@final
@frozen(kw_only=True)
class ManifestJsonMissing:
    """The tar has no ``manifest.json`` entry."""

    tar: str

    @property
    def message(self) -> str:
        return (
            f"{shown(self.tar)}: file manifest.json not found in tar "
            "(is this a tarball written by imgpkg copy --to-tar?)"
        )


@final
@frozen(kw_only=True)
class ManifestJsonTooLarge:
    """A ``manifest.json`` larger than the reader holds in memory."""

    tar: str
    size: int
    limit: int

    @property
    def message(self) -> str:
        return (
            f"{shown(self.tar)}: entry 'manifest.json' is {self.size} bytes, "
            f"more than the {self.limit} bytes this reader accepts"
        )


@final
@frozen(kw_only=True)
class LayerNotInTar:
    """A layer needed by an image has no entry; ``go_message`` is imgpkg's text verbatim."""

    tar: str
    entry: str

    @property
    def go_message(self) -> str:
        return f"file {self.entry} not found in tar ({MISSING_LAYER_HINT})"

    @property
    def message(self) -> str:
        """imgpkg's words exactly, with no path in front (scripts match on them)."""
        return self.go_message


@final
@frozen(kw_only=True)
class TarChanged:
    """The file is not the one that was indexed (size or identity changed)."""

    tar: str
    reason: str

    @property
    def message(self) -> str:
        return f"{shown(self.tar)}: the file changed since it was read: {self.reason}"


@final
@frozen(kw_only=True)
class TarIOFailure:
    """The operating system refused an operation on the tar (or its temporary file)."""

    tar: str
    operation: str
    reason: str

    @property
    def message(self) -> str:
        return f"{shown(self.tar)}: cannot {self.operation}: {self.reason}"


@final
@frozen(kw_only=True)
class BlobUnavailable:
    """The writer's blob source failed to provide a layer."""

    tar: str
    entry: str
    reason: str

    @property
    def message(self) -> str:
        return f"{shown(self.tar)}: cannot write entry '{self.entry}': {shown(self.reason)}"


@final
@frozen(kw_only=True)
class ResumeUnreadable:
    """``--resume`` on an existing file that is not a readable tar (imgpkg's wording)."""

    tar: str
    reason: str

    @property
    def message(self) -> str:
        return f"Reading previously created tar '{shown(self.tar)}': {self.reason}"


TarError = (
    TarTruncated
    | BadTarHeader
    | UnexpectedEntry
    | DuplicateEntry
    | ManifestJsonMissing
    | ManifestJsonTooLarge
    | LayerNotInTar
    | TarChanged
    | TarIOFailure
    | BlobUnavailable
    | ResumeUnreadable
    | MalformedDocument
    | DigestMismatch
    | SizeMismatch
)

__all__ = [
    "MISSING_LAYER_HINT",
    "BadTarHeader",
    "BlobUnavailable",
    "DigestMismatch",
    "DuplicateEntry",
    "LayerNotInTar",
    "MalformedDocument",
    "ManifestJsonMissing",
    "ManifestJsonTooLarge",
    "ResumeUnreadable",
    "SizeMismatch",
    "TarChanged",
    "TarError",
    "TarIOFailure",
    "TarTruncated",
    "UnexpectedEntry",
]
