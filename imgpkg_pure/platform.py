"""Platforms: ``--platform os/arch[/variant]`` parsed, normalised and matched (pure).

Go tools agree on what a platform string means (containerd's ``platforms``
package, which docker, buildkit, crane and skopeo follow), so the rules here are
theirs:

* ``os`` is lower-cased (``macos`` is ``darwin``);
* the architecture is normalised, as ``uname -m`` and Debian name them:
  ``x86_64``/``x86-64`` are ``amd64``, ``aarch64`` is ``arm64``, ``i386``/``i686``
  are ``386``, ``armhf`` is ``arm/v7``, ``armel`` is ``arm/v6``, ``armv7l`` is
  ``arm/v7``;
* the variant is normalised per architecture: ``arm64``'s ``v8`` (also ``8``,
  ``v8.0``) is the same as none, ``amd64``'s ``v1`` too; ``arm``'s ``7`` is ``v7``.

A requested platform *matches* a child of an index when the operating systems
and architectures are equal after normalisation, and, when the request names a
variant, the variants are equal too (``linux/arm`` matches every ``arm`` variant;
``linux/arm/v7`` only ``v7``).  ``os.version`` and ``os.features`` are not
compared.  A child whose descriptor carries no platform is decided by its
image config's ``os``/``architecture``/``variant`` (the shell reads it); one
with neither (an attestation manifest ``unknown/unknown``) matches nothing.

``pick`` chooses the one child ``pull -i`` extracts from an index: the first,
in index order, that matches with the exact variant asked (or, with no variant
asked, the normalised default: none), else the first that matches at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final, final

from attrs import frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.oci.values import Platform
from imgpkg_pure.push import UsageError

__all__ = [
    "PlatformSpec",
    "host_platform",
    "matches",
    "matches_any",
    "normalize",
    "parse_platform",
    "parse_platforms",
    "pick",
]

#: ``uname -m`` and distribution spellings → (GOARCH, implied variant).
_ARCH: Final[dict[str, tuple[str, str | None]]] = {
    "x86_64": ("amd64", None),
    "x86-64": ("amd64", None),
    "amd64": ("amd64", None),
    "aarch64": ("arm64", None),
    "arm64": ("arm64", None),
    "i386": ("386", None),
    "i486": ("386", None),
    "i586": ("386", None),
    "i686": ("386", None),
    "386": ("386", None),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v6"),
    "armv7l": ("arm", "v7"),
    "armv7": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "armv6": ("arm", "v6"),
    "armv5l": ("arm", "v5"),
    "ppc64el": ("ppc64le", None),
}

#: Variants that mean "the architecture's baseline": the same as none.
_BASELINE: Final[dict[str, frozenset[str]]] = {
    "arm64": frozenset({"8", "v8", "v8.0"}),
    "amd64": frozenset({"1", "v1"}),
}

_OS: Final[dict[str, str]] = {"macos": "darwin", "osx": "darwin"}


@final
@frozen(kw_only=True)
class PlatformSpec:
    """A platform as asked for (``--platform``) or as found, normalised."""

    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text


def normalize(os: str, architecture: str, variant: str | None) -> PlatformSpec:
    """containerd's normalisation of an (os, architecture, variant) triple."""
    name = os.strip().lower()
    name = _OS.get(name, name)
    arch_text = architecture.strip().lower()
    arch, implied = _ARCH.get(arch_text, (arch_text, None))
    found = (variant or "").strip().lower() or implied
    if found is not None:
        if found in _BASELINE.get(arch, frozenset()):
            found = None
        elif arch == "arm" and found.isdigit():
            found = f"v{found}"
    return PlatformSpec(os=name, architecture=arch, variant=found or None)


def parse_platform(text: str) -> Result[PlatformSpec, UsageError]:
    """``os/arch[/variant]``, normalised; a usage error naming the text otherwise."""
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(part.strip() for part in parts):
        return Failure(
            UsageError(
                reason=f"--platform '{text}': expected os/arch[/variant], e.g. linux/amd64 "
                "or linux/arm64/v8"
            )
        )
    return Success(normalize(parts[0], parts[1], parts[2] if len(parts) == 3 else None))


def parse_platforms(texts: Iterable[str]) -> Result[tuple[PlatformSpec, ...], UsageError]:
    """Every ``--platform`` value (repeatable; also comma-separated), duplicates dropped."""
    out: list[PlatformSpec] = []
    for value in texts:
        for text in value.split(","):
            parsed = parse_platform(text.strip())
            if isinstance(parsed, Failure):
                return parsed
            if parsed.unwrap() not in out:
                out.append(parsed.unwrap())
    return Success(tuple(out))


def host_platform(system: str, machine: str) -> PlatformSpec:
    """The running machine's platform from ``platform.system()`` and ``platform.machine()``
    (``Linux``/``x86_64`` → ``linux/amd64``, ``Linux``/``aarch64`` → ``linux/arm64``)."""
    return normalize(system, machine, None)


def _found(platform: Platform) -> PlatformSpec:
    return normalize(platform.os, platform.architecture, platform.variant)


def matches(spec: PlatformSpec, platform: Platform) -> bool:
    """Whether a child with ``platform`` is one ``spec`` asks for (see the module doc)."""
    found = _found(platform)
    if (found.os, found.architecture) != (spec.os, spec.architecture):
        return False
    return spec.variant is None or spec.variant == found.variant


def matches_any(specs: Sequence[PlatformSpec], platform: Platform) -> bool:
    return any(matches(spec, platform) for spec in specs)


def pick(spec: PlatformSpec, platforms: Sequence[Platform | None]) -> int | None:
    """The position of the child ``pull -i`` takes for ``spec`` (see the module doc)."""
    first: int | None = None
    for position, platform in enumerate(platforms):
        if platform is None or not matches(spec, platform):
            continue
        if _found(platform).variant == spec.variant:
            return position
        if first is None:
            first = position
    return first
