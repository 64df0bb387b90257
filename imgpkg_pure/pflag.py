"""Command-line flags as Go's pflag reads them (imgpkg's flag library), as data.

imgpkg's scripts write flags in every form pflag accepts; :func:`normalize_args`
rewrites them into one canonical spelling, ``--long=value``, which the CLI's
parser then reads without any ambiguity:

* a boolean flag is ``--x`` (true) or ``--x=V`` with V one of Go's
  ``strconv.ParseBool`` spellings; ``--x false`` is *not* a value: the word
  ``false`` stays a positional argument, as in pflag;
* a value flag is ``--x V``, ``--x=V``, ``-sV``, ``-s=V`` or ``-s V``; the next
  word is taken as the value whatever it looks like;
* shorthand booleans combine (``-ry``), and the last of a run may take a value
  (``-rfDIR``, ``-rf DIR``);
* ``--`` ends the flags.

Errors are pflag's words: ``unknown flag: --x``, ``unknown shorthand flag: 'z'
in -z``, ``flag needs an argument: --x`` / ``'s' in -s``, and ``invalid
argument "V" for "-s, --x" flag: strconv.ParseBool: parsing "V": invalid
syntax``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Final, final

from attrs import field, frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.errors import Fact

__all__ = ["FlagSet", "FlagSyntaxError", "normalize_args", "parse_go_bool"]

_TRUE: Final = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE: Final = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_go_bool(text: str) -> bool | None:
    """Go's ``strconv.ParseBool``: the value, or None when ``text`` is not a boolean."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


@final
@frozen(kw_only=True)
class FlagSyntaxError(Fact):
    """A command line pflag would refuse."""

    template = "{reason}"
    reason: str


def _read_only(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@final
@frozen(kw_only=True)
class FlagSet:
    """The flags of one command.

    ``canonical`` maps every spelling (``--file``, ``-f``) to the flag's long
    name; ``booleans`` holds the long names of the boolean flags.
    """

    canonical: Mapping[str, str] = field(converter=_read_only, hash=False)
    booleans: frozenset[str] = frozenset()

    @classmethod
    def of(cls, flags: Iterable[tuple[Sequence[str], bool]]) -> FlagSet:
        """From (spellings, is_boolean) pairs; the first ``--`` spelling is the long name."""
        canonical: dict[str, str] = {}
        booleans: set[str] = set()
        for spellings, boolean in flags:
            long = next((s for s in spellings if s.startswith("--")), spellings[0])
            for spelling in spellings:
                canonical[spelling] = long
            if boolean:
                booleans.add(long)
        return cls(canonical=canonical, booleans=frozenset(booleans))

    def shown(self, long: str) -> str:
        """``-s, --long`` as pflag names a flag in its errors."""
        short = [s for s, target in self.canonical.items() if target == long and len(s) == 2]
        return ", ".join([*short, long])


def _bool_value(flags: FlagSet, long: str, text: str) -> Result[str, FlagSyntaxError]:
    value = parse_go_bool(text)
    if value is None:
        return Failure(
            FlagSyntaxError(
                reason=f'invalid argument "{text}" for "{flags.shown(long)}" flag: '
                f'strconv.ParseBool: parsing "{text}": invalid syntax'
            )
        )
    return Success(f"{long}={'true' if value else 'false'}")


def _long(
    arg: str, rest: list[str], flags: FlagSet, out: list[str]
) -> Result[None, FlagSyntaxError]:
    name, equals, value = arg.partition("=")
    long = flags.canonical.get(name)
    if long is None:
        return Failure(FlagSyntaxError(reason=f"unknown flag: {name}"))
    if long in flags.booleans:
        if not equals:
            out.append(f"{long}=true")
            return Success(None)
        return _bool_value(flags, long, value).map(out.append)
    if not equals:
        if not rest:
            return Failure(FlagSyntaxError(reason=f"flag needs an argument: {name}"))
        value = rest.pop(0)
    out.append(f"{long}={value}")
    return Success(None)


def _shorthands(
    arg: str, rest: list[str], flags: FlagSet, out: list[str]
) -> Result[None, FlagSyntaxError]:
    letters = arg[1:]
    while letters:
        letter, letters = letters[0], letters[1:]
        long = flags.canonical.get(f"-{letter}")
        if long is None:
            return Failure(FlagSyntaxError(reason=f"unknown shorthand flag: '{letter}' in {arg}"))
        if long in flags.booleans:
            if letters.startswith("="):
                return _bool_value(flags, long, letters[1:]).map(out.append)
            out.append(f"{long}=true")
            continue
        if letters:
            out.append(f"{long}={letters.removeprefix('=')}")
            return Success(None)
        if not rest:
            return Failure(FlagSyntaxError(reason=f"flag needs an argument: '{letter}' in {arg}"))
        out.append(f"{long}={rest.pop(0)}")
    return Success(None)


def normalize_args(args: Sequence[str], flags: FlagSet) -> Result[tuple[str, ...], FlagSyntaxError]:
    """The arguments with every flag as ``--long=value`` (see the module doc)."""
    rest = list(args)
    out: list[str] = []
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            out.extend(["--", *rest])
            break
        if arg.startswith("--") and len(arg) > 2:
            done = _long(arg, rest, flags, out)
        elif arg.startswith("-") and len(arg) > 1:
            done = _shorthands(arg, rest, flags, out)
        else:
            out.append(arg)
            continue
        if isinstance(done, Failure):
            return Failure(done.failure())
    return Success(tuple(out))
