"""Error values of the pure core.

Errors are data, not exceptions: parsers and planners return
``Result[T, <something>Error]`` and the shell decides how to show them.
Every error value has a ``message`` property: one line that names the thing
that is wrong.  The tree::

    ParseError
      InvalidDigest           a digest string that is not algorithm:hex
      InvalidReference        an image reference that does not parse
      MalformedDocument       JSON/YAML that is not the expected document
    IntegrityError
      DigestMismatch          bytes whose digest is not the one expected
      SizeMismatch            bytes whose length is not the one expected
    LayerError
      InputError              a push input that cannot be put in a layer
    BundleError
      NotABundle              push -b without exactly one .imgpkg/images.yml
    PlanError
      UnsupportedPlanVersion  a plan file from another format version
      CorruptPlan             a plan file whose bytes do not decode

Most error values, here and across the core and the store, are *facts*:
subclasses of :class:`Fact` whose ``message`` is their ``template`` filled in
from their own fields with :meth:`str.format` (``{name}``, ``{name!r}``,
``{name:,}``, ``{name.attribute}``; literal braces doubled).  An error whose
message needs logic (a condition, a function call) defines ``message`` itself.
"""

from __future__ import annotations

from typing import Any, ClassVar

from attrs import Attribute, fields, frozen


class Fact:
    """A base for error values whose message is a template over their own fields.

    A subclass is an ``attrs`` class that sets ``template``, e.g.
    ``template = "plan file is corrupt: {reason}"``; ``message`` renders it with
    :meth:`str.format`, each field passed by name.  A subclass may still define
    ``message`` itself when its wording needs more than a template.
    """

    __slots__ = ()

    #: Declared for the type checker: every subclass is an ``attrs`` class.
    __attrs_attrs__: ClassVar[tuple[Attribute[Any], ...]]
    #: The message, with ``{field}`` placeholders for the instance's fields.
    template: ClassVar[str]

    @property
    def message(self) -> str:
        values = {field.name: getattr(self, field.name) for field in fields(type(self))}
        return self.template.format(**values)


@frozen(kw_only=True)
class InvalidDigest(Fact):
    """A digest string that does not follow ``algorithm:encoded``."""

    value: str
    reason: str

    template = "invalid digest '{value}': {reason}"


@frozen(kw_only=True)
class InvalidReference(Fact):
    """An image reference that does not follow the reference grammar."""

    value: str
    reason: str

    template = "invalid image reference '{value}': {reason}"


@frozen(kw_only=True)
class MalformedDocument(Fact):
    """A document (JSON or YAML) that is not what it claims to be.

    ``where`` names the document (a file path, ``manifest sha256:…``), and
    ``reason`` says what is wrong with it, including the field path.
    """

    where: str
    reason: str

    template = "{where}: {reason}"


ParseError = InvalidDigest | InvalidReference | MalformedDocument


@frozen(kw_only=True)
class DigestMismatch(Fact):
    """Content whose digest differs from the one it was expected to have."""

    what: str
    expected: str
    actual: str

    template = "{what}: digest mismatch: expected {expected}, got {actual}"


@frozen(kw_only=True)
class SizeMismatch(Fact):
    """Content whose length differs from the one it was expected to have."""

    what: str
    expected: int
    actual: int

    template = "{what}: size mismatch: expected {expected} bytes, got {actual}"


IntegrityError = DigestMismatch | SizeMismatch


@frozen(kw_only=True)
class InputError(Fact):
    """A push input (``-f PATH``) that cannot become part of a layer."""

    path: str
    reason: str

    template = "{path}: {reason}"


LayerError = InputError


@frozen(kw_only=True)
class NotABundle(Fact):
    """A ``push -b`` whose inputs do not hold exactly one ``.imgpkg/images.yml``."""

    reason: str

    template = "{reason}"


BundleError = NotABundle


@frozen(kw_only=True)
class UnsupportedPlanVersion(Fact):
    """A plan file written in a format version this build does not read."""

    found: int
    supported: int

    template = (
        "plan file format version {found} is not supported "
        "(this build reads version {supported}); re-create the plan"
    )


@frozen(kw_only=True)
class CorruptPlan(Fact):
    """A plan file whose bytes do not decode, or whose self-digest is wrong."""

    reason: str

    template = "plan file is corrupt: {reason}"


PlanError = UnsupportedPlanVersion | CorruptPlan | MalformedDocument
