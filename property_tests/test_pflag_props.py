"""Laws of the pflag normalizer: every form pflag accepts means what its canonical form means.

The model is independent of the product: a command line is generated as a list
of intended settings (flag, value), each written in a random pflag form; the
normalizer must give back exactly the settings, in canonical ``--long=value``
spelling, and normalizing that again changes nothing.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Success

from imgpkg_pure.pflag import FlagSet, normalize_args, parse_go_bool

GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


@st.composite
def flag_sets(draw: st.DrawFn) -> tuple[FlagSet, dict[str, tuple[str | None, bool]]]:
    """A flag set, and its model: long name → (shorthand or None, is_boolean)."""
    longs = draw(
        st.lists(
            st.from_regex(r"--[a-z][a-z-]{0,8}", fullmatch=True),
            min_size=1,
            max_size=6,
            unique=True,
        )
    )
    letters = draw(
        st.lists(
            st.sampled_from("abcdeghijkmnpqrstuwxz"),
            unique=True,
            min_size=len(longs),
            max_size=len(longs),
        )
    )
    model: dict[str, tuple[str | None, bool]] = {}
    for long, letter in zip(longs, letters, strict=True):
        short = f"-{letter}" if draw(st.booleans()) else None
        model[long] = (short, draw(st.booleans()))
    pairs = [((s, long) if s else (long,), boolean) for long, (s, boolean) in model.items()]
    return FlagSet.of(pairs), model


values = st.text(alphabet=st.characters(codec="utf-8"), max_size=8)


@st.composite
def command_lines(draw: st.DrawFn) -> tuple[FlagSet, list[str], list[str]]:
    """(flags, a command line in random pflag forms, the canonical line it means)."""
    flags, model = draw(flag_sets())
    written: list[str] = []
    canonical: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):
            word = draw(st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True))
            written.append(word)
            canonical.append(word)
            continue
        long = draw(st.sampled_from(sorted(model)))
        short, boolean = model[long]
        if boolean:
            value = draw(st.booleans())
            spelled = draw(st.sampled_from(GO_TRUE if value else GO_FALSE))
            forms = [[f"{long}={spelled}"]]
            if value:
                forms.append([long])
            if short:
                forms.append([f"{short}={spelled}"])
                if value:
                    forms.append([short])
            written.extend(draw(st.sampled_from(forms)))
            canonical.append(f"{long}={'true' if value else 'false'}")
        else:
            text = draw(values)
            forms = [[long, text], [f"{long}={text}"]]
            if short:
                forms += [[short, text], [f"{short}={text}"]]
                if text and not text.startswith("="):
                    forms.append([f"{short}{text}"])
            written.extend(draw(st.sampled_from(forms)))
            canonical.append(f"{long}={text}")
    return flags, written, canonical


@given(command_lines())
def test_every_form_means_its_canonical_form(case: tuple[FlagSet, list[str], list[str]]) -> None:
    flags, written, canonical = case
    assert normalize_args(written, flags) == Success(tuple(canonical))


@given(command_lines())
def test_normalizing_is_idempotent(case: tuple[FlagSet, list[str], list[str]]) -> None:
    flags, written, _ = case
    once = normalize_args(written, flags).unwrap()
    assert normalize_args(once, flags) == Success(once)


@given(command_lines(), st.lists(st.text(max_size=6), max_size=4))
def test_everything_after_double_dash_is_kept(
    case: tuple[FlagSet, list[str], list[str]], tail: list[str]
) -> None:
    flags, written, canonical = case
    assert normalize_args([*written, "--", *tail], flags) == Success((*canonical, "--", *tail))


@given(st.text(max_size=6))
def test_go_parse_bool(text: str) -> None:
    expected = True if text in GO_TRUE else False if text in GO_FALSE else None
    assert parse_go_bool(text) is expected


@given(flag_sets(), st.from_regex(r"--[a-z]{1,10}", fullmatch=True))
def test_unknown_long_flags_are_named(
    case: tuple[FlagSet, dict[str, tuple[str | None, bool]]], name: str
) -> None:
    flags, model = case
    result = normalize_args([f"{name}=x"], flags)
    if name in model and model[name][1]:  # a boolean flag: "x" is not a Go bool
        short = model[name][0]
        shown = f"{short}, {name}" if short else name  # pflag names the flag as in --help
        assert isinstance(result, Failure)
        assert result.failure().message == (
            f'invalid argument "x" for "{shown}" flag: '
            'strconv.ParseBool: parsing "x": invalid syntax'
        )
    elif name in model:
        assert result == Success((f"{name}=x",))
    else:
        assert isinstance(result, Failure)
        assert result.failure().message == f"unknown flag: {name}"
