"""Content digests (image-spec ``descriptor.md``, "Digests").

A digest is ``algorithm ":" encoded``.  Only the registered algorithms are
accepted, with their exact lowercase hex length: ``sha256`` (64) and
``sha512`` (128).  ``parse_digest`` is strict, like ggcr's ``v1.NewHash``.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final, Literal, final

from attrs import frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.errors import InvalidDigest

Algorithm = Literal["sha256", "sha512"]

HEX_LENGTH: Final[dict[str, int]] = {"sha256": 64, "sha512": 128}
#: Compiled on first use (``re``'s cache): commands that parse no digest never pay.
_HEX: Final = r"[0-9a-f]+"


@final
@frozen(order=True)
class Digest:
    """A validated content digest such as ``sha256:0123…``."""

    algorithm: Algorithm
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def tag_form(self) -> str:
        """The ``<alg>-<hex>`` form used in imgpkg tags and tar entry names."""
        return f"{self.algorithm}-{self.hex}"


def parse_digest(value: str) -> Result[Digest, InvalidDigest]:
    """Parse ``algorithm:hex`` strictly (known algorithm, lowercase hex, exact length)."""
    algorithm, sep, encoded = value.partition(":")
    if not sep:
        return Failure(InvalidDigest(value=value, reason="expected 'algorithm:hex'"))
    if algorithm not in HEX_LENGTH:
        return Failure(
            InvalidDigest(
                value=value,
                reason=f"unsupported algorithm '{algorithm}' (known: sha256, sha512)",
            )
        )
    if re.fullmatch(_HEX, encoded) is None:
        return Failure(InvalidDigest(value=value, reason="encoded part must be lowercase hex"))
    if len(encoded) != HEX_LENGTH[algorithm]:
        return Failure(
            InvalidDigest(
                value=value,
                reason=f"{algorithm} needs {HEX_LENGTH[algorithm]} hex characters, "
                f"got {len(encoded)}",
            )
        )
    alg: Algorithm = "sha256" if algorithm == "sha256" else "sha512"
    return Success(Digest(alg, encoded))


def digest_of(data: bytes, algorithm: Algorithm = "sha256") -> Digest:
    """The digest of bytes already in memory (manifests, configs, lock files)."""
    return Digest(algorithm, hashlib.new(algorithm, data).hexdigest())


def hasher(algorithm: Algorithm = "sha256") -> hashlib._Hash:
    """A fresh incremental hash object for ``algorithm`` (for streaming callers)."""
    return hashlib.new(algorithm)
