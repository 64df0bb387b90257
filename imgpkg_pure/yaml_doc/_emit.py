"""Writing: ``encode_yaml``, i.e. sigs.k8s.io/yaml's ``Marshal`` (go-yaml v2's emitter).

Each string gets the style go-yaml asks for (``_string_style``), map keys come
in go-yaml's natural order (``_key_order``), and PyYAML's emitter writes the
events with the methods overridden where go-yaml's output differs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final, final

import yaml

from imgpkg_pure.yaml_doc._go_types import Tree
from imgpkg_pure.yaml_doc._key_order import natural_key_order
from imgpkg_pure.yaml_doc._resolve import TAG_STR, is_sexagesimal, resolve_plain

__all__ = ["encode_yaml"]


# go-yaml writes only these characters as they are; any other one (control
# characters, DEL, NEL, the BOM, U+FFFE/U+FFFF, lone surrogates and anything
# beyond the Basic Multilingual Plane) forces double quotes and is escaped.
_NOT_RAW: Final = re.compile("[^\n\x20-\x7e\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd]")
# What go-yaml counts as line breaks (PyYAML leaves out "\r").
_LINE_BREAKS: Final = frozenset("\r\n\x85\u2028\u2029")
_MAX_SIMPLE_KEY_BYTES: Final = 128
_LINE_WIDTH: Final = 80

# PyYAML scalar styles
_PLAIN_STYLE: Final = None
_DOUBLE_QUOTED: Final = '"'
_LITERAL: Final = "|"


def _string_style(value: str) -> str | None:
    """The style go-yaml v2 writes ``value`` in, as far as we have to ask for it.

    * A string holding a character that cannot be written raw is double-quoted.
    * A string holding a newline is a literal block (``|``); the emitter falls
      back to double quotes where a block cannot hold it (a trailing space, a
      space next to a line break, a key, ...).
    * A string that reads back as itself when written plainly (and is not in
      base-60 float syntax) is plain; the emitter falls back to single quotes,
      then double quotes, when plain text would be misread (``- x``,
      ``a: b``, a leading space, ...).
    * Anything else (``"true"``, ``"1.5"``, ``"null"``, ``""``) is double-quoted.
    """
    if _NOT_RAW.search(value):
        return _DOUBLE_QUOTED
    if "\n" in value:
        return _LITERAL
    tag, _ = resolve_plain(value)
    return _PLAIN_STYLE if tag == TAG_STR and not is_sexagesimal(value) else _DOUBLE_QUOTED


def _escaped(ch: str) -> str:
    short: str | None = yaml.emitter.Emitter.ESCAPE_REPLACEMENTS.get(ch)
    if short is not None:
        return "\\" + short
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02X}"
    if code <= 0xFFFF:
        return f"\\u{code:04X}"
    return f"\\U{code:08X}"


def _is_break(ch: str) -> bool:
    return ch in _LINE_BREAKS


class _GoYamlEmitter(yaml.emitter.Emitter):
    """PyYAML's emitter, changed where go-yaml v2 writes differently.

    * The document never starts with ``---`` (not even for an empty scalar).
    * A key stays a simple ``key: value`` key when it holds no line break
      (``\\r`` included) and is at most 128 bytes of UTF-8; the empty key is
      simple too.
    * Quoted scalars fold long lines differently (see ``_fold_here``), and a
      single-quoted scalar ending in a line break gets its closing quote
      without indentation before it.
    """

    def check_empty_document(self) -> bool:
        return False

    def check_simple_key(self) -> bool:
        event = self.event
        if isinstance(event, yaml.ScalarEvent):
            text: str = event.value
            short = len(text.encode("utf-8")) <= _MAX_SIMPLE_KEY_BYTES
            return short and not any(map(_is_break, text))
        simple: bool = super().check_simple_key()
        return simple

    def _put(self, text: str) -> None:
        self.column += len(text)
        self.stream.write(text)

    def _fold_here(self, text: str, index: int, split: bool) -> bool:
        """Whether the space at ``text[index]`` becomes a line break.

        It does when folding is allowed (not in a key), the line already goes
        past the width, the space is neither the first nor the last character
        and it does not follow another space.
        """
        return (
            split
            and self.column > self.best_width
            and 0 < index < len(text) - 1
            and text[index - 1] != " "
        )

    def write_single_quoted(self, text: str, split: bool = True) -> None:
        """``'``-quoted: ``'`` doubled, line breaks written as they are.

        A space is folded only when the next character is not a space too
        (spaces at the start of a line would be lost).  The line after a run
        of line breaks is indented; a ``\\n`` run gets one extra line break,
        as a single ``\\n`` inside quotes would read as a space.
        """
        self.write_indicator("'", True)
        previous = ""
        for index, ch in enumerate(text):
            if (
                ch == " "
                and text[index + 1 : index + 2] != " "
                and self._fold_here(text, index, split)
            ):
                self.write_indent()
            elif _is_break(ch):
                if ch == "\n" and not (previous and _is_break(previous)):
                    self.write_line_break()
                self.write_line_break(ch)
            else:
                if previous and _is_break(previous):
                    self.write_indent()
                self._put("''" if ch == "'" else ch)
            previous = ch
        self.write_indicator("'", False)

    def write_double_quoted(self, text: str, split: bool = True) -> None:
        """``"``-quoted: ``"``, ``\\``, line breaks and ``_NOT_RAW`` characters escaped.

        When the text starts with a BOM, go-yaml escapes every character.  A
        folded space is replaced by the line break; if the next character is
        a space as well, the new line starts with ``\\`` so that it is kept.
        (PyYAML instead ends the folded line with ``\\``.)
        """
        self.write_indicator('"', True)
        escape_all = text.startswith("\ufeff")
        for index, ch in enumerate(text):
            if escape_all or ch in '"\\' or _is_break(ch) or _NOT_RAW.match(ch):
                self._put(_escaped(ch))
            elif ch == " " and self._fold_here(text, index, split):
                self.write_indent()
                if text[index + 1] == " ":
                    self._put("\\")
            else:
                self._put(ch)
        self.write_indicator('"', False)


@final
class _Text:
    """Where the emitter writes: PyYAML only needs ``write``."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)


def _scalar_event(text: str, style: str | None) -> yaml.ScalarEvent:
    return yaml.ScalarEvent(anchor=None, tag=None, implicit=(True, True), value=text, style=style)


def _node_events(value: Tree) -> Iterator[yaml.Event]:
    if isinstance(value, dict):
        yield yaml.MappingStartEvent(anchor=None, tag=None, implicit=True, flow_style=False)
        for key in natural_key_order(list(value)):
            yield _scalar_event(key, _string_style(key))
            yield from _node_events(value[key])
        yield yaml.MappingEndEvent()
    elif isinstance(value, list):
        yield yaml.SequenceStartEvent(anchor=None, tag=None, implicit=True, flow_style=False)
        for item in value:
            yield from _node_events(item)
        yield yaml.SequenceEndEvent()
    elif isinstance(value, bool):
        yield _scalar_event("true" if value else "false", _PLAIN_STYLE)
    elif value is None:
        yield _scalar_event("null", _PLAIN_STYLE)
    else:
        yield _scalar_event(value, _string_style(value))


def encode_yaml(tree: Tree, *, document_marker: bool = True) -> str:
    """``yaml.Marshal`` of an already JSON-shaped value, with imgpkg's ``---`` line in front.

    ``tree`` must already have Go's ``omitempty`` applied (absent keys are not
    written); ``None`` is written as ``null``.
    """
    out = _Text()
    emitter = _GoYamlEmitter(out, indent=2, width=_LINE_WIDTH, allow_unicode=True, line_break="\n")
    # No StreamEndEvent: after a ``|+`` block or a plain scalar at the end of
    # the document PyYAML would close the stream with ``...``; go-yaml does not.
    events = [
        yaml.StreamStartEvent(),
        yaml.DocumentStartEvent(explicit=False),
        *_node_events(tree),
        yaml.DocumentEndEvent(explicit=False),
    ]
    try:
        for event in events:
            emitter.emit(event)
    finally:
        emitter.dispose()
    body = "".join(out.parts)
    return f"---\n{body}" if document_marker else body
