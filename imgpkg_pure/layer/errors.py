"""Named input errors of the layer recipe, each with imgpkg's exact wording.

All are ``InputError`` (so ``Result[…, InputError]`` covers them): ``path``
names the offending path, ``reason`` says what is wrong in a few words, and
``message`` is the line imgpkg prints (before its CLI splits it at ``: X``)::

    InputError
      StatFailed         lstat/stat/open of an input failed (Go's PathError text)
      NotRegularFile     a symlink, fifo, socket or device where a file was expected
      DuplicatePaths     two inputs put the same path at the image root
      BundleDirInImage   push -i of inputs that present as a bundle
"""

from __future__ import annotations

from attrs import frozen

from imgpkg_pure.errors import InputError


@frozen(kw_only=True)
class StatFailed(InputError):
    """An input path that could not be examined, worded like Go's ``*PathError``.

    ``op`` is the failing call (``lstat``, ``stat``, ``open``) and ``reason``
    the lowercase error text, e.g. ``lstat nope: no such file or directory``.
    """

    op: str

    template = "{op} {path}: {reason}"


@frozen(kw_only=True)
class NotRegularFile(InputError):
    """Something other than a regular file or directory where a file was expected.

    ``path`` is the path as Go's walk reports it; ``given`` the ``-f`` value
    whose walk found it (``None`` for a file input that is itself special).
    """

    given: str | None

    @property
    def message(self) -> str:
        expected = f"Expected file '{self.path}' to be a regular file"
        if self.given is None:
            return expected
        return f"Adding file '{self.given}' to tar: {expected}"


@frozen(kw_only=True)
class DuplicatePaths(InputError):
    """Inputs that would put the same relative path into the image.

    ``paths`` lists every source path involved (as walked), grouped by the
    image path they collide on.  ``path`` is the first of them.
    """

    paths: tuple[str, ...]

    @property
    def message(self) -> str:
        return "Found duplicate paths: " + ", ".join(self.paths)


@frozen(kw_only=True)
class BundleDirInImage(InputError):
    """``push -i`` of inputs that present as a bundle; ``path`` is the ``.imgpkg`` directory."""

    template = (
        "Images cannot be pushed with '.imgpkg' directories, consider using --bundle (-b) option"
    )
