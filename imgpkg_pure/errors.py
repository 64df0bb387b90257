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
"""

from __future__ import annotations

from attrs import frozen


@frozen(kw_only=True)
class InvalidDigest:
    """A digest string that does not follow ``algorithm:encoded``."""

    value: str
    reason: str

    @property
    def message(self) -> str:
        return f"invalid digest '{self.value}': {self.reason}"


@frozen(kw_only=True)
class InvalidReference:
    """An image reference that does not follow the reference grammar."""

    value: str
    reason: str

    @property
    def message(self) -> str:
        return f"invalid image reference '{self.value}': {self.reason}"


@frozen(kw_only=True)
class MalformedDocument:
    """A document (JSON or YAML) that is not what it claims to be.

    ``where`` names the document (a file path, ``manifest sha256:…``), and
    ``reason`` says what is wrong with it, including the field path.
    """

    where: str
    reason: str

    @property
    def message(self) -> str:
        return f"{self.where}: {self.reason}"


ParseError = InvalidDigest | InvalidReference | MalformedDocument


@frozen(kw_only=True)
class DigestMismatch:
    """Content whose digest differs from the one it was expected to have."""

    what: str
    expected: str
    actual: str

    @property
    def message(self) -> str:
        return f"{self.what}: digest mismatch: expected {self.expected}, got {self.actual}"


@frozen(kw_only=True)
class SizeMismatch:
    """Content whose length differs from the one it was expected to have."""

    what: str
    expected: int
    actual: int

    @property
    def message(self) -> str:
        return f"{self.what}: size mismatch: expected {self.expected} bytes, got {self.actual}"


IntegrityError = DigestMismatch | SizeMismatch


@frozen(kw_only=True)
class InputError:
    """A push input (``-f PATH``) that cannot become part of a layer."""

    path: str
    reason: str

    @property
    def message(self) -> str:
        return f"{self.path}: {self.reason}"


LayerError = InputError


@frozen(kw_only=True)
class NotABundle:
    """A ``push -b`` whose inputs do not hold exactly one ``.imgpkg/images.yml``."""

    reason: str

    @property
    def message(self) -> str:
        return self.reason


BundleError = NotABundle


@frozen(kw_only=True)
class UnsupportedPlanVersion:
    """A plan file written in a format version this build does not read."""

    found: int
    supported: int

    @property
    def message(self) -> str:
        return (
            f"plan file format version {self.found} is not supported "
            f"(this build reads version {self.supported}); re-create the plan"
        )


@frozen(kw_only=True)
class CorruptPlan:
    """A plan file whose bytes do not decode, or whose self-digest is wrong."""

    reason: str

    @property
    def message(self) -> str:
        return f"plan file is corrupt: {self.reason}"


PlanError = UnsupportedPlanVersion | CorruptPlan | MalformedDocument
