"""The tree being extracted: a fresh temporary directory, filled layer by layer.

``Extraction`` applies each layer's tar entries bottom-up with OCI whiteouts.
The decisions are the pure core's (``imgpkg_pure.extract``):
``classify_entry`` refuses unsafe entries, ``ExtractPlanner`` turns each entry
into operations, ``ModeRule`` decides modes; this module only executes them
(``docs/formats/extraction.md``).  Every operation goes through directory file
descriptors opened with ``O_NOFOLLOW``, starting from the temporary
directory, so nothing is ever created, changed or removed through a symbolic
link, and no path can leave it (extraction itself never creates symbolic
links).  After the entries, the rest of the blob is read and the blob checked
against its descriptor (size and digest, hashed while streaming).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, BinaryIO, Final, assert_never

from attrs import frozen
from returns.result import Failure

from imgpkg_pure.digest import Digest
from imgpkg_pure.errors import DigestMismatch, SizeMismatch
from imgpkg_pure.extract import (
    CreateDir,
    CreateFile,
    CreateHardLink,
    ExtractPlanner,
    FinalTree,
    ModeRule,
    Op,
    RemovePath,
    Skip,
    classify_entry,
    dir_mode,
    file_mode,
    is_within,
    parent_path,
    root_mode,
)
from imgpkg_pure.extract.errors import shown
from imgpkg_pure.media_types import LayerCompression
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.store.apply.extract_errors import CorruptLayer, ExtractAbort, os_errors
from imgpkg_pure.store.apply.layer_reader import (
    HashingReader,
    buffered,
    entry_mtime,
    open_archive,
    open_layer_tar,
    read_ahead,
    reading,
)
from imgpkg_pure.store.content.blobstore import CHUNK_SIZE

DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@frozen(kw_only=True)
class SkippedEntry:
    """A tar entry deliberately not extracted (a symbolic link, a device, …) and why."""

    layer: Digest
    name: str
    reason: str

    @property
    def message(self) -> str:
        return f"layer {self.layer}: skipped tar entry {shown(self.name)}: {self.reason}"


@frozen(kw_only=True)
class ExtractedLayer:
    """One layer applied: how many tar entries it had and how many content bytes it wrote."""

    digest: Digest
    media_type: str
    entries: int
    bytes_written: int


class Extraction:
    """The temporary directory being filled: operations confined to its file descriptor."""

    def __init__(self, root_fd: int, shown_root: Path, rule: ModeRule, umask: int) -> None:
        self._root = root_fd
        self._shown_root = shown_root
        self._rule = rule
        self._umask = umask
        self._planner = ExtractPlanner()
        self._cached: tuple[str, int] | None = None  # the last parent directory opened
        self._how: LayerCompression | None = None  # the current layer's compression
        self.skipped: list[SkippedEntry] = []
        self.layers: list[ExtractedLayer] = []

    def close(self) -> None:
        self._forget()

    def _shown(self, path: str) -> str:
        return str(self._shown_root / path) if path else str(self._shown_root)

    # --- directory descriptors ------------------------------------------------

    def _forget(self) -> None:
        if self._cached is not None:
            os.close(self._cached[1])
            self._cached = None

    def _open_dir(self, path: str) -> int:
        """A new descriptor of the directory ``path``, walked from the root, following no link."""
        current = os.dup(self._root)
        try:
            for name in path.split("/") if path else ():
                following = os.open(name, DIR_FLAGS, dir_fd=current)
                os.close(current)
                current = following
        except BaseException:
            os.close(current)
            raise
        return current

    def _parent(self, path: str) -> tuple[int, str]:
        """The descriptor of ``path``'s directory (owned by the cache) and ``path``'s name."""
        directory, _, name = path.rpartition("/")
        if self._cached is None or self._cached[0] != directory:
            descriptor = self._open_dir(directory)
            self._forget()
            self._cached = (directory, descriptor)
        return self._cached[1], name

    # --- operations ---------------------------------------------------------------

    def _execute(
        self,
        op: Op,
        content: Callable[[], IO[bytes] | None],
        layer: Digest,
        entry: str,
    ) -> int:
        """Carry out ``op``; the number of content bytes written."""
        match op:
            case RemovePath():
                with os_errors("remove", self._shown(op.path), layer, entry):
                    parent, name = self._parent(op.path)
                    if stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
                        shutil.rmtree(name, dir_fd=parent)
                    else:
                        os.unlink(name, dir_fd=parent)
                if self._cached is not None and is_within(self._cached[0], op.path):
                    self._forget()
                return 0
            case CreateDir():
                with os_errors("create directory", self._shown(op.path), layer, entry):
                    parent, name = self._parent(op.path)
                    os.mkdir(name, 0o700, dir_fd=parent)
                return 0
            case CreateFile():
                return self._create_file(op, content, layer, entry)
            case CreateHardLink():
                with os_errors("create hard link", self._shown(op.path), layer, entry):
                    parent, name = self._parent(op.path)
                    source = self._open_dir(parent_path(op.target))
                    try:
                        os.link(
                            op.target.rpartition("/")[2],
                            name,
                            src_dir_fd=source,
                            dst_dir_fd=parent,
                            follow_symlinks=False,
                        )
                    finally:
                        os.close(source)
                return 0
            case _:
                assert_never(op)

    def _create_file(
        self,
        op: CreateFile,
        content: Callable[[], IO[bytes] | None],
        layer: Digest,
        entry: str,
    ) -> int:
        shown_path = self._shown(op.path)
        with reading(layer, entry, self._how):
            source = content()
        if source is None:
            raise ExtractAbort(
                CorruptLayer(layer=layer, entry=entry, reason="the entry has no content")
            )
        with os_errors("create file", shown_path, layer, entry):
            parent, name = self._parent(op.path)
            handle = os.fdopen(os.open(name, _NEW_FILE_FLAGS, 0o600, dir_fd=parent), "wb")
        with handle:
            remaining = op.size
            while remaining:
                with reading(layer, entry, self._how):
                    chunk = source.read(min(CHUNK_SIZE, remaining))
                if not chunk:
                    reason = f"the content ends {remaining} bytes early"
                    raise ExtractAbort(CorruptLayer(layer=layer, entry=entry, reason=reason))
                with os_errors("write", shown_path, layer, entry):
                    handle.write(chunk)
                remaining -= len(chunk)
            with os_errors("write", shown_path, layer, entry):
                handle.flush()
                os.fchmod(handle.fileno(), file_mode(op.mode, self._rule, self._umask))
                with contextlib.suppress(OverflowError):
                    os.utime(handle.fileno(), (op.mtime, op.mtime))
        return op.size

    # --- layers ---------------------------------------------------------------------

    def apply_layer(self, descriptor: Descriptor, blob: BinaryIO) -> None:
        """Apply one layer, then check the blob against its descriptor."""
        layer = descriptor.digest
        self._planner.begin_layer()
        # A source that verifies itself (a registry stream: it never hands out the last
        # chunk of a blob with the wrong digest) is counted here, not hashed twice.
        verifies = bool(getattr(blob, "verifies_itself", False))
        hashing = HashingReader(blob, layer, hashing=not verifies)
        reader = buffered(hashing)
        entries = written = 0
        self._how, stream = open_layer_tar(descriptor, reader)
        if stream is not None:
            ahead = read_ahead(stream)
            try:
                with reading(layer, None, self._how):
                    archive = open_archive(ahead)
                with archive:
                    while True:
                        with reading(layer, None, self._how):
                            member = archive.next()
                        if member is None:
                            break
                        archive.members.clear()  # type: ignore[attr-defined]  # keep no header history
                        entries += 1
                        written += self._apply_entry(layer, archive, member)
            finally:
                ahead.close()  # the reading thread is done with the blob before it is drained
        with reading(layer, None):
            while reader.read(CHUNK_SIZE):
                pass
        what = f"layer {layer}"
        if hashing.count != descriptor.size:
            raise ExtractAbort(
                SizeMismatch(what=what, expected=descriptor.size, actual=hashing.count)
            )
        if not verifies and hashing.digest != str(layer):
            raise ExtractAbort(
                DigestMismatch(what=what, expected=str(layer), actual=hashing.digest)
            )
        self.layers.append(
            ExtractedLayer(
                digest=layer,
                media_type=descriptor.media_type,
                entries=entries,
                bytes_written=written,
            )
        )

    def _apply_entry(self, layer: Digest, archive: tarfile.TarFile, member: tarfile.TarInfo) -> int:
        action = classify_entry(
            layer,
            member.name,
            typeflag=member.type,
            linkname=member.linkname,
            mode=member.mode,
            size=member.size,
            mtime=entry_mtime(member),
        )
        if isinstance(action, Failure):
            raise ExtractAbort(action.failure())
        planned = self._planner.plan(action.unwrap())
        if isinstance(planned, Skip):
            self.skipped.append(SkippedEntry(layer=layer, name=member.name, reason=planned.reason))
            return 0

        def content() -> IO[bytes] | None:
            return archive.extractfile(member)

        return sum(self._execute(op, content, layer, member.name) for op in planned)

    def finish(self) -> FinalTree:
        """Give every directory its final mode (deepest first), the root last."""
        tree = self._planner.tree()
        self._forget()
        for node in tree.directories_deepest_first():
            with os_errors("set the mode of", self._shown(node.path)):
                descriptor = self._open_dir(node.path)
                try:
                    os.fchmod(descriptor, dir_mode(node.mode, self._rule, self._umask))
                finally:
                    os.close(descriptor)
        with os_errors("set the mode of", str(self._shown_root)):
            os.fchmod(self._root, root_mode(self._umask))
        return tree


__all__ = ["DIR_FLAGS", "ExtractedLayer", "Extraction", "SkippedEntry"]
