"""Terminal output in imgpkg's shape, with its non-TTY silence fixed on purpose.

Modes:

* TTY (stdout is a terminal, or ``--tty``): as imgpkg prints — log lines
  (``dir: …``, ``file: …``), a blank line, the result (``Pushed '…'``), a blank
  line, ``Succeeded``.
* Not a TTY: the result lines only (``Pushed '…'``), so a script can read them;
  imgpkg prints nothing at all there (reference §9.10).  No ``Succeeded``.
* ``--json``: one JSON document on stdout with imgpkg's ``Tables``/``Blocks``/
  ``Lines`` keys, written on success *and* on failure; a failure adds an
  ``Error`` object (``{"Code": …, "Message": …}``).  imgpkg drops errors in
  JSON mode (reference §1.1.1).

Tables (``tag list``) are printed as imgpkg prints them: in TTY mode with
title, header and footer; without a TTY as TAB-separated rows only; with
``--json`` into ``Tables`` (``imgpkg_pure.tags``).

Errors always go to stderr as one line ``imgpkg-pure: Error: <message>`` (``imgpkg: Error:``
when the program runs under the name ``imgpkg``)
(and, in JSON mode, into the document as well).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from imgpkg_pure.tags import Table


class Ui:
    """Collects and prints a command's output according to the mode."""

    def __init__(
        self,
        *,
        tty: bool,
        json_mode: bool,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        program: str = "imgpkg-pure",
        columns: tuple[str, ...] = (),
    ) -> None:
        self._out = stdout if stdout is not None else sys.stdout
        self._err = stderr if stderr is not None else sys.stderr
        self.program = program
        #: ``--column``: the table columns to show (``imgpkg_pure.tags.select_columns``).
        self.columns = columns
        self.tty = tty
        self.json_mode = json_mode
        self._lines: list[str] = []
        self._blocks: list[str] = []
        self._tables: list[dict[str, object]] = []
        self._last: str | None = None

    def _print(self, kind: str, text: str) -> None:
        if self._last is not None and not (kind == "log" and self._last == "log"):
            self._out.write("\n")
        self._out.write(text)
        self._out.flush()
        self._last = kind

    def log(self, text: str) -> None:
        """A progress line (TTY only, as imgpkg)."""
        if self.json_mode:
            self._lines.append(text + "\n")
        elif self.tty:
            self._print("log", text + "\n")

    def result(self, text: str) -> None:
        """A result line: printed in TTY mode and, unlike imgpkg, without a TTY too."""
        if self.json_mode:
            self._lines.append(text)
        else:
            self._print("result", text + "\n")

    def block(self, text: str) -> None:
        """A block (``version``, ``describe``): printed in every mode."""
        if self.json_mode:
            self._blocks.append(text)
        else:
            self._print("block", text)

    def table(self, table: Table) -> None:
        """A table (``tag list``): printed in every mode, data rows only without a TTY."""
        # The renderers load with the first table: most commands print none.
        from imgpkg_pure.tags import render_table, render_table_data, table_document  # noqa: PLC0415

        if self.json_mode:
            self._tables.append(table_document(table))
        elif self.tty:
            self._print("table", render_table(table))
        else:
            self._print("table", render_table_data(table))

    def succeeded(self) -> None:
        if self.json_mode:
            self._lines.append("Succeeded")
            self._flush_json(None)
        elif self.tty:
            self._print("result", "Succeeded\n")

    def failed(self, code: str, message: str) -> None:
        self._err.write(f"{self.program}: Error: {message}\n")
        self._err.flush()
        if self.json_mode:
            self._flush_json({"Code": code, "Message": message})

    def fail(self, error: object, context: str | None = None) -> int:
        """Report an error value (its ``message``, else its text) and give the exit code, 1.

        ``context`` is what was being done, imgpkg's prefix (``Fetching image``); the JSON
        ``Code`` stays the error value's name."""
        message = getattr(error, "message", None)
        text = message if isinstance(message, str) else str(error)
        self.failed(type(error).__name__, f"{context}: {text}" if context else text)
        return 1

    def _flush_json(self, error: dict[str, str] | None) -> None:
        document: dict[str, object] = {
            "Tables": self._tables or None,
            "Blocks": self._blocks or None,
            "Lines": self._lines,
        }
        if error is not None:
            document["Error"] = error
        self._out.write(json.dumps(document, indent=4) + "\n")
        self._out.flush()
