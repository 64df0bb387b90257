"""Which output directories pull refuses to replace (imgpkg-reference §1.3, §9 item 2).

imgpkg refuses ``-o`` only when spelled exactly ``/``, ``.`` or ``..``; any
other spelling of the current directory (``./``, ``$PWD``) is wiped.  Here the
check is made on *resolved* absolute paths (the shell resolves symbolic links
and ``..`` first), so every spelling of a dangerous directory is caught.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from returns.result import Failure, Result, Success

from imgpkg_pure.extract.errors import UnsafeOutput, shown

_ROOT = PurePosixPath("/")


def _contains(ancestor: PurePosixPath, path: PurePosixPath) -> bool:
    return path == ancestor or path.is_relative_to(ancestor)


def check_output_dir(
    output: PurePosixPath, *, cwd: PurePosixPath, home: PurePosixPath
) -> Result[PurePosixPath, UnsafeOutput]:
    """``output`` if pull may replace it; refused for ``/``, cwd, home, or an ancestor of either.

    All three paths must be absolute and resolved (no symbolic links, no
    ``..``); a relative ``output`` is refused.
    """

    def refuse(reason: str) -> Result[PurePosixPath, UnsafeOutput]:
        return Failure(UnsafeOutput(path=str(output), reason=reason))

    if not output.is_absolute():
        return refuse("the path must be absolute once resolved")
    if output == _ROOT:
        return refuse("it is the root directory")
    if output == cwd:
        return refuse("it is the current directory")
    if output == home:
        return refuse("it is the home directory")
    if _contains(output, cwd):
        return refuse(f"it contains the current directory {shown(str(cwd))}")
    if _contains(output, home):
        return refuse(f"it contains the home directory {shown(str(home))}")
    return Success(output)


__all__ = ["check_output_dir"]
