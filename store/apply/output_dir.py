"""The output directory of an extraction: which one it is, whether it may go, and replacing it.

Output directories whose replacement would be a disaster (``/``, the working
directory, the home directory, or an ancestor of either; the pure rule is
``imgpkg_pure.extract.check_output_dir``) are refused first, after resolving
symbolic links (``resolve_output``).  ``replace_output`` puts a finished tree
in place of the output: a new output is renamed into place; an existing one is
renamed aside first and deleted only once the new tree is in place (a failure
to delete it is a warning, not an error).  Both renames stay in the output's
parent directory, so on one file system.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path, PurePosixPath

from attrs import frozen
from returns.io import IOResult
from returns.result import Failure

from imgpkg_pure.extract import UnsafeOutput, check_output_dir
from imgpkg_pure.extract.errors import shown
from imgpkg_pure.store.apply.extract_errors import (
    ExtractAbort,
    ExtractError,
    ExtractIOFailure,
    guarded,
    os_errors,
    reason,
)


@frozen(kw_only=True)
class OutputTarget:
    """A checked output directory: its resolved ``path`` and whether it exists already."""

    path: Path
    exists: bool


def current_umask() -> int:
    """The process umask (read from ``/proc`` where possible, so it is never changed)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def remove_tree(path: Path) -> None:
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


def _absolute(path: Path, base: Path) -> Path:
    return path if path.is_absolute() else base / path


def check_output(output_dir: Path, cwd: Path, home: Path) -> OutputTarget:
    """``resolve_output``, raising ``ExtractAbort`` when it refuses."""
    cwd_real = Path(os.path.realpath(cwd))
    home_real = Path(os.path.realpath(_absolute(home, cwd_real)))
    given = _absolute(Path(output_dir), cwd_real)
    resolved = Path(os.path.realpath(given))
    checked = check_output_dir(
        PurePosixPath(resolved), cwd=PurePosixPath(cwd_real), home=PurePosixPath(home_real)
    )
    if isinstance(checked, Failure):
        raise ExtractAbort(checked.failure())
    if os.path.islink(given):
        why = f"it is a symbolic link (to {shown(str(resolved))}); give the directory itself"
        raise ExtractAbort(UnsafeOutput(path=str(given), reason=why))
    try:
        mode = os.lstat(resolved).st_mode
    except FileNotFoundError:
        return OutputTarget(path=resolved, exists=False)
    except OSError as exc:
        raise ExtractAbort(
            ExtractIOFailure(operation="inspect", path=str(resolved), reason=reason(exc))
        ) from exc
    if not stat.S_ISDIR(mode):
        why = "it exists and is not a directory"
        raise ExtractAbort(UnsafeOutput(path=str(resolved), reason=why))
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
    return guarded(lambda: check_output(output_dir, cwd, home))


def short_name(name: str) -> str:
    """A directory name, cut short to prefix a temporary directory beside it."""
    return name[:64] or "output"


def replace_output(temp: Path, target: OutputTarget) -> tuple[str, ...]:
    """Put ``temp`` in place of ``target``; an existing output is deleted only afterwards."""
    if not target.exists:
        with os_errors("move the extracted tree to", str(target.path)):
            os.rename(temp, target.path)
        return ()
    parent = target.path.parent
    with os_errors("create a directory in", str(parent)):
        holder = Path(tempfile.mkdtemp(prefix=f".{short_name(target.path.name)}.old-", dir=parent))
    aside = holder / "previous"
    try:
        with os_errors("move aside the previous output", str(target.path)):
            os.rename(target.path, aside)
        try:
            with os_errors("move the extracted tree to", str(target.path)):
                os.rename(temp, target.path)
        except ExtractAbort:
            with contextlib.suppress(OSError):
                os.rename(aside, target.path)
            raise
    except ExtractAbort:
        with contextlib.suppress(OSError):
            os.rmdir(holder)
        raise
    try:
        remove_tree(holder)
    except OSError as exc:
        kept = shown(str(aside))
        return (f"the previous output, moved to {kept}, could not be deleted: {reason(exc)}",)
    return ()


__all__ = [
    "OutputTarget",
    "check_output",
    "current_umask",
    "remove_tree",
    "replace_output",
    "resolve_output",
    "short_name",
]
