"""Push inputs on disk: observe them, then stream the planned layer tar.

``observe_inputs`` turns ``-f`` paths into ``imgpkg_pure.layer.InputTree``
values (lstat walk, nothing filtered); the pure core plans the tar
(``plan_layer``); ``write_layer_tar`` then emits the planned headers with the
file contents between them, reading each file in 1 MiB chunks and checking
that it is still the regular file of the size observed.

Paths are handled the way Go imgpkg handles them: walked paths are
``filepath.Join(given, rel)`` (relative when the input was), absolute paths
are ``filepath.Abs`` (lexical, with Go's ``$PWD``-aware ``Getwd``), and error
texts follow Go's ``*PathError`` (``lstat nope: no such file or directory``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from functools import partial

from returns.io import IOFailure, IOResult, IOSuccess

from imgpkg_pure.errors import InputError
from imgpkg_pure.layer import (
    END_OF_ARCHIVE,
    EntryKind,
    FileEntry,
    InputTree,
    LayerRecipe,
    StatFailed,
    TarMember,
    go_base,
    go_clean,
    go_join,
    walked_path,
)

CHUNK_SIZE = 1 << 20
"""File contents are copied in chunks of this many bytes, never whole."""

Writer = Callable[[bytes], object]


def _reason(error: OSError) -> str:
    # Go's syscall error strings are the libc ones with a lowercase first letter.
    text = error.strerror or str(error)
    return text[:1].lower() + text[1:]


def _failed(op: str, path: str, error: OSError) -> StatFailed:
    return StatFailed(op=op, path=path, reason=_reason(error))


def _lstat(path: str) -> IOResult[os.stat_result, InputError]:
    try:
        return IOSuccess(os.lstat(path))
    except OSError as error:
        return IOFailure(_failed("lstat", path, error))


def _stat(path: str) -> IOResult[os.stat_result, InputError]:
    try:
        return IOSuccess(os.stat(path))
    except OSError as error:
        return IOFailure(_failed("stat", path, error))


def _getwd() -> IOResult[str, InputError]:
    # Go's os.Getwd prefers $PWD when it names the current directory.
    try:
        dot = os.stat(".")
        pwd = os.environ.get("PWD", "")
        if pwd.startswith("/"):
            try:
                if os.path.samestat(dot, os.stat(pwd)):
                    return IOSuccess(pwd)
            except OSError:
                pass
        return IOSuccess(os.getcwd())
    except OSError as error:
        return IOFailure(_failed("getwd", ".", error))


def go_abs(path: str) -> IOResult[str, InputError]:
    """Go's ``filepath.Abs``: cleaned, joined to the working directory if relative."""
    if path.startswith("/"):
        return IOSuccess(go_clean(path))
    return _getwd().map(lambda cwd: go_join(cwd, path))


def _kind(mode: int) -> EntryKind:
    if stat.S_ISDIR(mode):
        return EntryKind.DIR
    if stat.S_ISREG(mode):
        return EntryKind.FILE
    if stat.S_ISLNK(mode):
        return EntryKind.SYMLINK
    return EntryKind.OTHER


def _entry(rel: str, status: os.stat_result) -> FileEntry:
    return FileEntry(
        rel=rel,
        kind=_kind(status.st_mode),
        mode=stat.S_IMODE(status.st_mode),
        size=status.st_size,
    )


def _walk(given: str, root: os.stat_result) -> IOResult[tuple[FileEntry, ...], InputError]:
    # Go's filepath.Walk: open + Readdirnames each directory, lstat each child.
    # The order does not matter here; the recipe sorts.
    entries = [_entry(".", root)]
    pending = ["."] if stat.S_ISDIR(root.st_mode) else []
    while pending:
        rel = pending.pop()
        directory = walked_path(given, rel)
        try:
            with os.scandir(directory) as listing:
                names = [child.name for child in listing]
        except OSError as error:
            return IOFailure(_failed("open", directory, error))
        for name in names:
            child_rel = name if rel == "." else f"{rel}/{name}"
            child_path = go_join(directory, name)
            try:
                status = os.lstat(child_path)
            except OSError as error:
                return IOFailure(_failed("lstat", child_path, error))
            entries.append(_entry(child_rel, status))
            if stat.S_ISDIR(status.st_mode):
                pending.append(child_rel)
    return IOSuccess(tuple(entries))


def _observe(
    given: str, link: os.stat_result, target: os.stat_result
) -> IOResult[InputTree, InputError]:
    def tree(abs_path: str, entries: tuple[FileEntry, ...]) -> InputTree:
        return InputTree(
            given=given,
            abs_path=abs_path,
            is_dir=stat.S_ISDIR(target.st_mode),
            entries=entries,
        )

    if stat.S_ISDIR(target.st_mode):
        return go_abs(given).bind(lambda abs_path: _walk(given, link).map(partial(tree, abs_path)))
    single = (_entry(go_base(given), target),)
    return go_abs(given).map(lambda abs_path: tree(abs_path, single))


def observe_input(given: str) -> IOResult[InputTree, InputError]:
    """Observe one ``-f`` path: a directory (``stat`` follows links) is walked with ``lstat``.

    A missing path fails as imgpkg does: ``lstat <p>: no such file or
    directory``; a dangling symlink as ``stat <p>: …``.
    """
    return _lstat(given).bind(
        lambda link: _stat(given).bind(lambda target: _observe(given, link, target))
    )


def observe_inputs(paths: Sequence[str]) -> IOResult[tuple[InputTree, ...], InputError]:
    """Observe every ``-f`` path in order; the first failure wins."""
    result: IOResult[tuple[InputTree, ...], InputError] = IOSuccess(())
    for given in paths:
        result = result.bind(partial(_observe_next, given))
    return result


def _observe_next(
    given: str, done: tuple[InputTree, ...]
) -> IOResult[tuple[InputTree, ...], InputError]:
    return observe_input(given).map(lambda tree: (*done, tree))


def _changed(path: str, reason: str) -> IOResult[int, InputError]:
    return IOFailure(InputError(path=path, reason=f"changed while being pushed: {reason}"))


def _copy_file(path: str, size: int, *, follow: bool, write: Writer) -> IOResult[int, InputError]:
    # Open (not following a symlink that replaced a walked file, not blocking
    # on a fifo that replaced it), check it is still the regular file of the
    # observed size, copy it in chunks, and make sure nothing was appended.
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as error:
        return IOFailure(_failed("open", path, error))
    try:
        try:
            status = os.fstat(fd)
        except OSError as error:
            return IOFailure(_failed("fstat", path, error))
        if not stat.S_ISREG(status.st_mode):
            return _changed(path, "it is no longer a regular file")
        if status.st_size != size:
            return _changed(path, f"its size was {size} bytes, now it is {status.st_size}")
        remaining = size
        while remaining:
            try:
                chunk = os.read(fd, min(CHUNK_SIZE, remaining))
            except OSError as error:
                return IOFailure(_failed("read", path, error))
            if not chunk:
                return _changed(path, f"expected {size} bytes, read only {size - remaining}")
            write(chunk)
            remaining -= len(chunk)
        try:
            extra = os.read(fd, 1)
        except OSError as error:
            return IOFailure(_failed("read", path, error))
        if extra:
            return _changed(path, f"it grew beyond {size} bytes")
        return IOSuccess(size)
    finally:
        os.close(fd)


def _write_member(
    member: TarMember, follow: bool, write: Writer, written: int
) -> IOResult[int, InputError]:
    write(member.header)
    written += len(member.header)
    if member.is_dir:
        return IOSuccess(written)

    def pad(copied: int) -> int:
        write(member.padding)
        return written + copied + len(member.padding)

    return _copy_file(member.source_path, member.size, follow=follow, write=write).map(pad)


def write_layer_tar(
    recipe: LayerRecipe, inputs: Sequence[InputTree], write: Writer
) -> IOResult[int, InputError]:
    """Emit the layer tar through ``write``; the total number of bytes on success.

    Headers come from the recipe; each file's content is read from its
    ``source_path`` in chunks of ``CHUNK_SIZE`` (symlinks are followed only
    for file inputs, as imgpkg does) and must still be a regular file of the
    observed size.  On failure, what was already written is an incomplete
    tar and must be discarded.
    """
    result: IOResult[int, InputError] = IOSuccess(0)
    for member in recipe.members:
        follow = not inputs[member.input_index].is_dir
        result = result.bind(partial(_write_member, member, follow, write))

    def finish(written: int) -> int:
        write(END_OF_ARCHIVE)
        return written + len(END_OF_ARCHIVE)

    return result.map(finish)
