"""Extracting an image's layers into a directory: the effectful half of ``pull``.

``extract_image`` streams each layer blob from a ``BlobReader``, decompresses
it (gzip through python-isal, or plain tar), reads the tar in streaming mode
and applies its entries bottom-up with OCI whiteouts.  The decisions are the
pure core's (``imgpkg_pure.extract``): ``classify_entry`` refuses unsafe
entries, ``ExtractPlanner`` turns each entry into operations, ``ModeRule``
decides modes.  This module only executes them (``docs/formats/extraction.md``).

Safety:

* Everything is written inside a fresh temporary directory next to the output
  (same parent, so the final ``rename`` stays on one file system).  Every
  operation goes through directory file descriptors opened with
  ``O_NOFOLLOW``, starting from the temporary directory, so nothing is ever
  created, changed or removed through a symbolic link, and no path can leave
  it (extraction itself never creates symbolic links).
* The output is replaced only once every layer was applied and verified
  against its descriptor (size and digest, hashed while streaming): an
  existing output is renamed aside, the new tree renamed into place, and only
  then is the old one deleted.  A failure at any earlier point removes the
  temporary directory and leaves the old output exactly as it was.
* Output directories whose replacement would be a disaster (``/``, the
  working directory, the home directory, or an ancestor of either) are
  refused first, after resolving symbolic links (``resolve_output``).

Memory does not grow with layer size: blobs are read, decompressed and copied
in chunks of ``CHUNK_SIZE``; what grows with the number of entries is the
planner's tree of paths (no content).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import shutil
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO, Final, Literal, TypeVar, assert_never, cast

from attrs import frozen
from isal import igzip, isal_zlib
from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure

from imgpkg_pure.digest import Digest
from imgpkg_pure.errors import DigestMismatch, SizeMismatch
from imgpkg_pure.extract import (
    CreateDir,
    CreateFile,
    CreateHardLink,
    EntryError,
    ExtractPlanner,
    FinalTree,
    ModeRule,
    Op,
    RemovePath,
    Skip,
    UnsafeOutput,
    check_output_dir,
    classify_entry,
    dir_mode,
    file_mode,
    is_within,
    parent_path,
    root_mode,
)
from imgpkg_pure.extract.errors import shown
from imgpkg_pure.media_types import (
    DOCKER_LAYER_FOREIGN,
    DOCKER_LAYER_GZIP,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_NONDIST,
    OCI_LAYER_NONDIST_GZIP,
)
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.store.content.blobstore import CHUNK_SIZE, BlobReader
from imgpkg_pure.store.content.errors import StoreError

#: Docker's (rare) uncompressed layer type.
DOCKER_LAYER_TAR: Final = "application/vnd.docker.image.rootfs.diff.tar"

GZIP_LAYER_TYPES: Final = frozenset(
    {OCI_LAYER_GZIP, OCI_LAYER_NONDIST_GZIP, DOCKER_LAYER_GZIP, DOCKER_LAYER_FOREIGN}
)
TAR_LAYER_TYPES: Final = frozenset({OCI_LAYER, OCI_LAYER_NONDIST, DOCKER_LAYER_TAR})

_GZIP_MAGIC: Final = b"\x1f\x8b"
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

Compression = Literal["gzip", "tar", "zstd", "sniff"]
_DECODE_ERRORS: Final[tuple[type[BaseException], ...]] = (
    tarfile.TarError,
    EOFError,
    gzip.BadGzipFile,
    zlib.error,
    cast("type[BaseException]", isal_zlib.error),  # its stub declares an instance
)
_T = TypeVar("_T")


# --- errors ---------------------------------------------------------------------


@frozen(kw_only=True)
class UnsupportedLayer:
    """A layer whose media type or compression cannot be extracted (zstd, for one)."""

    layer: Digest
    media_type: str
    reason: str

    @property
    def message(self) -> str:
        return f"layer {self.layer} ({self.media_type}) cannot be extracted: {self.reason}"


@frozen(kw_only=True)
class CorruptLayer:
    """A layer blob that does not decompress, or is not a tar archive."""

    layer: Digest
    entry: str | None
    reason: str

    @property
    def message(self) -> str:
        where = "" if self.entry is None else f" at tar entry {shown(self.entry)}"
        return f"layer {self.layer} is not a readable layer{where}: {self.reason}"


@frozen(kw_only=True)
class ExtractIOFailure:
    """The operating system refused an extraction step on ``path``."""

    operation: str
    path: str
    reason: str
    layer: Digest | None = None
    entry: str | None = None

    @property
    def message(self) -> str:
        context = ""
        if self.layer is not None:
            context = f" (layer {self.layer}"
            context += ")" if self.entry is None else f", tar entry {shown(self.entry)})"
        return f"cannot {self.operation} {shown(self.path)}: {self.reason}{context}"


ExtractError = (
    EntryError | UnsafeOutput | UnsupportedLayer | CorruptLayer | ExtractIOFailure | StoreError
)


# --- report ---------------------------------------------------------------------


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


@frozen(kw_only=True)
class ExtractReport:
    """What ``extract_image`` did.

    ``output`` is the directory written (absolute, resolved); ``tree`` the
    tree it now holds; ``replaced`` whether an earlier output was replaced;
    ``warnings`` what went wrong after the new output was in place (the old
    one could not be fully deleted, for instance).
    """

    output: str
    layers: tuple[ExtractedLayer, ...]
    tree: FinalTree
    skipped: tuple[SkippedEntry, ...]
    replaced: bool
    warnings: tuple[str, ...]


@frozen(kw_only=True)
class OutputTarget:
    """A checked output directory: its resolved ``path`` and whether it exists already."""

    path: Path
    exists: bool


# --- internal plumbing ---------------------------------------------------------------


class _Abort(Exception):
    """Internal: carries an error value out of nested helpers."""

    def __init__(self, error: ExtractError) -> None:
        super().__init__(error)
        self.error = error


def _reason(exc: BaseException) -> str:
    """An exception as a message fragment, on one line."""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return shown(text)[1:-1]


@contextlib.contextmanager
def _os(
    operation: str, path: str, layer: Digest | None = None, entry: str | None = None
) -> Iterator[None]:
    """Turn an ``OSError`` raised inside into an ``ExtractIOFailure`` naming ``path``."""
    try:
        yield
    except OSError as exc:
        failure = ExtractIOFailure(
            operation=operation, path=path, reason=_reason(exc), layer=layer, entry=entry
        )
        raise _Abort(failure) from exc


@contextlib.contextmanager
def _reading(layer: Digest, entry: str | None) -> Iterator[None]:
    """Turn decompression and tar errors raised inside into ``CorruptLayer``."""
    try:
        yield
    except _DECODE_ERRORS as exc:
        raise _Abort(CorruptLayer(layer=layer, entry=entry, reason=_reason(exc))) from exc
    except OSError as exc:
        failure = ExtractIOFailure(
            operation="read layer", path=str(layer), reason=_reason(exc), layer=layer, entry=entry
        )
        raise _Abort(failure) from exc


def current_umask() -> int:
    """The process umask (read from ``/proc`` where possible, so it is never changed)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _remove_tree(path: Path) -> None:
    """Delete ``path`` (never following symbolic links), making its directories writable first."""
    try:
        shutil.rmtree(path)
        return
    except FileNotFoundError:
        return
    except OSError:
        pass
    pending = [path]
    while pending:
        directory = pending.pop()
        with contextlib.suppress(OSError):
            if stat.S_ISDIR(os.lstat(directory).st_mode):
                os.chmod(directory, stat.S_IRWXU)
                with os.scandir(directory) as listing:
                    pending.extend(
                        Path(item.path) for item in listing if item.is_dir(follow_symlinks=False)
                    )
    shutil.rmtree(path)


class _HashingReader(io.RawIOBase):
    """A raw stream over a blob that hashes and counts every byte read through it."""

    def __init__(self, source: BinaryIO, digest: Digest) -> None:
        super().__init__()
        self._source = source
        self._hash = hashlib.new(digest.algorithm)
        self._algorithm = digest.algorithm
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self._source.read(len(buffer))
        size = len(data)
        memoryview(buffer).cast("B")[:size] = data
        self._hash.update(data)
        self.count += size
        return size

    @property
    def digest(self) -> str:
        return f"{self._algorithm}:{self._hash.hexdigest()}"


def layer_compression(media_type: str) -> Compression:
    """How a layer of this media type is compressed (``sniff``: look at its first bytes)."""
    if media_type in GZIP_LAYER_TYPES:
        return "gzip"
    if media_type in TAR_LAYER_TYPES:
        return "tar"
    if media_type.endswith(("+zstd", ".zstd")):
        return "zstd"
    return "sniff"


def _sniffed(head: bytes) -> Compression:
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    return "tar"


# --- output directory -----------------------------------------------------------------


def _absolute(path: Path, base: Path) -> Path:
    return path if path.is_absolute() else base / path


def _resolve_output(output_dir: Path, cwd: Path, home: Path) -> OutputTarget:
    cwd_real = Path(os.path.realpath(cwd))
    home_real = Path(os.path.realpath(_absolute(home, cwd_real)))
    given = _absolute(Path(output_dir), cwd_real)
    resolved = Path(os.path.realpath(given))
    checked = check_output_dir(
        PurePosixPath(resolved), cwd=PurePosixPath(cwd_real), home=PurePosixPath(home_real)
    )
    if isinstance(checked, Failure):
        raise _Abort(checked.failure())
    if os.path.islink(given):
        reason = f"it is a symbolic link (to {shown(str(resolved))}); give the directory itself"
        raise _Abort(UnsafeOutput(path=str(given), reason=reason))
    try:
        mode = os.lstat(resolved).st_mode
    except FileNotFoundError:
        return OutputTarget(path=resolved, exists=False)
    except OSError as exc:
        raise _Abort(
            ExtractIOFailure(operation="inspect", path=str(resolved), reason=_reason(exc))
        ) from exc
    if not stat.S_ISDIR(mode):
        raise _Abort(UnsafeOutput(path=str(resolved), reason="it exists and is not a directory"))
    return OutputTarget(path=resolved, exists=True)


def resolve_output(
    output_dir: Path, *, cwd: Path, home: Path
) -> IOResult[OutputTarget, ExtractError]:
    """Resolve ``-o`` (relative to ``cwd``, symbolic links followed) and check pull may replace it.

    Refused (``UnsafeOutput``): ``/``, ``cwd``, ``home`` or an ancestor of
    either; a path that is itself a symbolic link; something that exists and
    is not a directory.  Call it before fetching anything; ``extract_image``
    calls it again.
    """
    try:
        return IOSuccess(_resolve_output(output_dir, cwd, home))
    except _Abort as abort:
        return IOFailure(abort.error)


# --- applying operations ----------------------------------------------------------------


def _mtime(member: tarfile.TarInfo) -> int:
    """The entry's modification time in whole seconds (0 for a PAX value like ``nan``)."""
    try:
        return int(member.mtime)
    except (ValueError, OverflowError):
        return 0


def _open_archive(stream: io.BufferedIOBase) -> tarfile.TarFile:
    """A streaming (forward-only) tar reader over ``stream``.

    tarfile's default 10 KiB read size is kept on purpose: its stream re-slices
    the whole buffer on every read, so a 1 MiB buffer would copy up to 1 MiB
    per 512-byte header.
    """
    return tarfile.open(fileobj=stream, mode="r|")


class _Extraction:
    """The temporary directory being filled: operations confined to its file descriptor."""

    def __init__(self, root_fd: int, shown_root: Path, rule: ModeRule, umask: int) -> None:
        self._root = root_fd
        self._shown_root = shown_root
        self._rule = rule
        self._umask = umask
        self._planner = ExtractPlanner()
        self._cached: tuple[str, int] | None = None  # the last parent directory opened
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
                following = os.open(name, _DIR_FLAGS, dir_fd=current)
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
                with _os("remove", self._shown(op.path), layer, entry):
                    parent, name = self._parent(op.path)
                    if stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
                        shutil.rmtree(name, dir_fd=parent)
                    else:
                        os.unlink(name, dir_fd=parent)
                if self._cached is not None and is_within(self._cached[0], op.path):
                    self._forget()
                return 0
            case CreateDir():
                with _os("create directory", self._shown(op.path), layer, entry):
                    parent, name = self._parent(op.path)
                    os.mkdir(name, 0o700, dir_fd=parent)
                return 0
            case CreateFile():
                return self._create_file(op, content, layer, entry)
            case CreateHardLink():
                with _os("create hard link", self._shown(op.path), layer, entry):
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
        with _reading(layer, entry):
            source = content()
        if source is None:
            raise _Abort(CorruptLayer(layer=layer, entry=entry, reason="the entry has no content"))
        with _os("create file", shown_path, layer, entry):
            parent, name = self._parent(op.path)
            handle = os.fdopen(os.open(name, _NEW_FILE_FLAGS, 0o600, dir_fd=parent), "wb")
        with handle:
            remaining = op.size
            while remaining:
                with _reading(layer, entry):
                    chunk = source.read(min(CHUNK_SIZE, remaining))
                if not chunk:
                    reason = f"the content ends {remaining} bytes early"
                    raise _Abort(CorruptLayer(layer=layer, entry=entry, reason=reason))
                with _os("write", shown_path, layer, entry):
                    handle.write(chunk)
                remaining -= len(chunk)
            with _os("write", shown_path, layer, entry):
                handle.flush()
                os.fchmod(handle.fileno(), file_mode(op.mode, self._rule, self._umask))
                with contextlib.suppress(OverflowError):
                    os.utime(handle.fileno(), (op.mtime, op.mtime))
        return op.size

    # --- layers ---------------------------------------------------------------------

    def _open_tar(
        self, descriptor: Descriptor, reader: io.BufferedReader[_HashingReader]
    ) -> io.BufferedIOBase | None:
        """The layer's decompressed stream, or ``None`` for a layer with no bytes at all."""
        layer = descriptor.digest
        compression = layer_compression(descriptor.media_type)
        with _reading(layer, None):
            if compression == "sniff":
                compression = _sniffed(reader.peek(len(_ZSTD_MAGIC))[: len(_ZSTD_MAGIC)])
            match compression:
                case "zstd":
                    raise _Abort(
                        UnsupportedLayer(
                            layer=layer,
                            media_type=descriptor.media_type,
                            reason="zstd-compressed layers are not supported",
                        )
                    )
                case "gzip":
                    unzipped = igzip.IGzipFile(fileobj=reader, mode="rb")  # type: ignore[no-untyped-call]
                    return unzipped if unzipped.peek(1) else None
                case "tar" | "sniff":
                    return reader if reader.peek(1) else None
                case _:
                    assert_never(compression)

    def apply_layer(self, descriptor: Descriptor, blob: BinaryIO) -> None:
        """Apply one layer, then check the blob against its descriptor."""
        layer = descriptor.digest
        self._planner.begin_layer()
        hashing = _HashingReader(blob, layer)
        reader = io.BufferedReader(hashing, CHUNK_SIZE)
        entries = written = 0
        stream = self._open_tar(descriptor, reader)
        if stream is not None:
            with _reading(layer, None):
                archive = _open_archive(stream)
            with archive:
                while True:
                    with _reading(layer, None):
                        member = archive.next()
                    if member is None:
                        break
                    archive.members.clear()  # type: ignore[attr-defined]  # keep no header history
                    entries += 1
                    written += self._apply_entry(layer, archive, member)
        with _reading(layer, None):
            while reader.read(CHUNK_SIZE):
                pass
        what = f"layer {layer}"
        if hashing.count != descriptor.size:
            raise _Abort(SizeMismatch(what=what, expected=descriptor.size, actual=hashing.count))
        if hashing.digest != str(layer):
            raise _Abort(DigestMismatch(what=what, expected=str(layer), actual=hashing.digest))
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
            mtime=_mtime(member),
        )
        if isinstance(action, Failure):
            raise _Abort(action.failure())
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
            with _os("set the mode of", self._shown(node.path)):
                descriptor = self._open_dir(node.path)
                try:
                    os.fchmod(descriptor, dir_mode(node.mode, self._rule, self._umask))
                finally:
                    os.close(descriptor)
        with _os("set the mode of", str(self._shown_root)):
            os.fchmod(self._root, root_mode(self._umask))
        return tree


# --- the whole extraction ----------------------------------------------------------------


def _short(name: str) -> str:
    return name[:64] or "output"


def _replace(temp: Path, target: OutputTarget) -> tuple[str, ...]:
    """Put ``temp`` in place of ``target``; an existing output is deleted only afterwards."""
    if not target.exists:
        with _os("move the extracted tree to", str(target.path)):
            os.rename(temp, target.path)
        return ()
    parent = target.path.parent
    with _os("create a directory in", str(parent)):
        holder = Path(tempfile.mkdtemp(prefix=f".{_short(target.path.name)}.old-", dir=parent))
    aside = holder / "previous"
    try:
        with _os("move aside the previous output", str(target.path)):
            os.rename(target.path, aside)
        try:
            with _os("move the extracted tree to", str(target.path)):
                os.rename(temp, target.path)
        except _Abort:
            with contextlib.suppress(OSError):
                os.rename(aside, target.path)
            raise
    except _Abort:
        with contextlib.suppress(OSError):
            os.rmdir(holder)
        raise
    try:
        _remove_tree(holder)
    except OSError as exc:
        kept = shown(str(aside))
        return (f"the previous output, moved to {kept}, could not be deleted: {_reason(exc)}",)
    return ()


def _guarded(action: Callable[[], _T]) -> IOResult[_T, ExtractError]:
    """Run ``action``: its value becomes ``IOSuccess``, an ``_Abort`` becomes ``IOFailure``."""
    try:
        return IOSuccess(action())
    except _Abort as abort:
        return IOFailure(abort.error)


def _apply(
    extraction: _Extraction, descriptor: Descriptor, blob: BinaryIO
) -> IOResult[None, ExtractError]:
    def run() -> None:
        with blob:
            extraction.apply_layer(descriptor, blob)

    return _guarded(run)


def _next_layer(
    extraction: _Extraction,
    blobs: BlobReader,
    descriptor: Descriptor,
    position: tuple[int, int],
    on_layer: Callable[[int, int, Descriptor], None] | None,
    _: None,
) -> IOResult[None, ExtractError]:
    if on_layer is not None:
        on_layer(*position, descriptor)
    opened: IOResult[BinaryIO, ExtractError] = blobs.open(descriptor.digest)
    return opened.bind(partial(_apply, extraction, descriptor))


def _complete(extraction: _Extraction, temp: Path, target: OutputTarget) -> ExtractReport:
    tree = extraction.finish()
    warnings = _replace(temp, target)
    return ExtractReport(
        output=str(target.path),
        layers=tuple(extraction.layers),
        tree=tree,
        skipped=tuple(extraction.skipped),
        replaced=target.exists,
        warnings=warnings,
    )


def _extract(
    layers: Sequence[Descriptor],
    blobs: BlobReader,
    target: OutputTarget,
    *,
    rule: ModeRule,
    umask: int,
    on_layer: Callable[[int, int, Descriptor], None] | None,
) -> IOResult[ExtractReport, ExtractError]:
    parent = target.path.parent
    with _os("create directory", str(parent)):
        os.makedirs(parent, 0o777, exist_ok=True)
    with _os("create a directory in", str(parent)):
        temp = Path(tempfile.mkdtemp(prefix=f".{_short(target.path.name)}.extract-", dir=parent))
    try:
        with _os("open", str(temp)):
            root_fd = os.open(temp, _DIR_FLAGS)
        extraction = _Extraction(root_fd, target.path, rule, umask)
        try:
            result: IOResult[None, ExtractError] = IOSuccess(None)
            for number, descriptor in enumerate(layers, start=1):
                position = (number, len(layers))
                step = partial(_next_layer, extraction, blobs, descriptor, position, on_layer)
                result = result.bind(step)
            return result.bind(lambda _: _guarded(partial(_complete, extraction, temp, target)))
        finally:
            extraction.close()
            os.close(root_fd)
    finally:
        if os.path.lexists(temp):
            with contextlib.suppress(OSError):
                _remove_tree(temp)


def extract_image(
    layers: Sequence[Descriptor],
    blobs: BlobReader,
    output_dir: Path,
    *,
    cwd: Path,
    home: Path,
    modes: ModeRule = ModeRule.IMGPKG,
    umask: int | None = None,
    on_layer: Callable[[int, int, Descriptor], None] | None = None,
) -> IOResult[ExtractReport, ExtractError]:
    """Extract ``layers`` (manifest order, bottom first) into ``output_dir``, replacing it.

    ``output_dir`` is resolved against ``cwd`` and checked (``resolve_output``);
    ``home`` is the user's home directory (never replaced).  Files get modes
    by ``modes`` and the ``umask`` (the process umask when ``None``).
    ``on_layer(n, total, descriptor)`` is called before layer ``n`` (1 =
    bottom) is applied.  On any failure the previous output is left untouched.
    """
    mask = current_umask() if umask is None else umask
    try:
        target = _resolve_output(output_dir, cwd, home)
        return _extract(layers, blobs, target, rule=modes, umask=mask, on_layer=on_layer)
    except _Abort as abort:
        return IOFailure(abort.error)


__all__ = [
    "DOCKER_LAYER_TAR",
    "GZIP_LAYER_TYPES",
    "TAR_LAYER_TYPES",
    "CorruptLayer",
    "ExtractError",
    "ExtractIOFailure",
    "ExtractReport",
    "ExtractedLayer",
    "OutputTarget",
    "SkippedEntry",
    "UnsupportedLayer",
    "current_umask",
    "extract_image",
    "layer_compression",
    "resolve_output",
]
