"""``tag list`` and ``tag resolve`` (reference §1.6-§1.7), and imgpkg's table output.

Pure: which tags are shown, in which order, and how a table is printed.  The
shell lists the tags and resolves their digests.

Tables are printed as imgpkg's UI library (go-cli-ui) prints them (§1.1.2,
§1.1.3), observed in ``tests/fixtures/imgpkg/bundle-relocated/tag-list*.txt``:

* TTY: the title and an empty line, the header row, the rows, an empty line
  and ``N <content>``.  Every cell but the last of a row is padded with
  spaces to its column's width, and every cell, the last one too, is
  followed by two spaces.  An empty cell prints ``-``.  Hidden columns are
  left out.
* Not a TTY: the rows only (no title, header or footer), every cell followed
  by a TAB (the padding rule is the same, widths taken over the rows).
* JSON: ``{"Content", "Header": {key: title}, "Rows": [{key: cell}], "Notes"}``,
  where a header key is its title's runs of letters and digits joined by
  ``_``, lowercased (``Digest`` → ``digest``), or the column's index when
  that is empty.

go-cli-ui also replaces a first-column value equal to the one above it by
``^`` (TTY only); tag names are unique, so that rule never applies here and
is not implemented.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final, final

from attrs import evolve, frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.digest import Digest
from imgpkg_pure.errors import Fact
from imgpkg_pure.reference import Repository
from imgpkg_pure.referrers import is_fallback_tag

__all__ = [
    "UnknownColumn",
    "select_columns",
    "INTERNAL_TAG_SUFFIX",
    "Column",
    "Table",
    "header_key",
    "is_internal_tag",
    "listed_tags",
    "render_table",
    "render_table_data",
    "resolved_reference",
    "table_document",
    "tag_table",
]

#: imgpkg's own tags (``sha256-<hex>.imgpkg``, ``….image-locations.imgpkg``) end so.
INTERNAL_TAG_SUFFIX: Final = ".imgpkg"

_TTY_BORDER: Final = "  "
_DATA_BORDER: Final = "\t"
_EMPTY_CELL: Final = "-"
_KEY_SPLIT: Final = r"[^a-zA-Z0-9]+"  # compiled on first use (``re``'s cache)


def is_internal_tag(tag: str) -> bool:
    """Whether ``tag`` is hidden unless ``--imgpkg-internal-tags``: imgpkg's own tags, and
    the referrers tag schema's indexes (``sha256-<hex>``; imgpkg shows those).  ``.sig``
    tags are shown, as imgpkg shows them."""
    return tag.endswith(INTERNAL_TAG_SUFFIX) or is_fallback_tag(tag)


def listed_tags(tags: Iterable[str], *, include_internal: bool) -> tuple[str, ...]:
    """The tags ``tag list`` shows: sorted by name, duplicates dropped, internal ones if asked."""
    return tuple(sorted({tag for tag in tags if include_internal or not is_internal_tag(tag)}))


def resolved_reference(repository: Repository, digest: Digest) -> str:
    """``tag resolve``'s output: ``<repository>@<digest>``."""
    return str(repository.digest(digest))


def header_key(title: str, index: int) -> str:
    """go-cli-ui's header key: ``Header & ( foo ) 1`` → ``header_foo_1``; ``#`` → the index."""
    key = "_".join(part for part in re.split(_KEY_SPLIT, title) if part).lower()
    return key or str(index)


@final
@frozen(kw_only=True)
class Column:
    """A table column: its title and whether it is hidden."""

    title: str
    hidden: bool = False


@final
@frozen(kw_only=True)
class Table:
    """A table as go-cli-ui holds it; ``rows`` are already in display order."""

    title: str
    content: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()

    def visible(self) -> tuple[int, ...]:
        """The indexes of the columns that are shown."""
        return tuple(i for i, column in enumerate(self.columns) if not column.hidden)


@final
@frozen(kw_only=True)
class UnknownColumn(Fact):
    """``--column`` names no header of the table (imgpkg panics here; we refuse)."""

    template = "Failed to find header: {name}"
    name: str


def select_columns(table: Table, names: tuple[str, ...]) -> Result[Table, UnknownColumn]:
    """``--column`` (repeatable, comma-separated): show only the named columns, by title or
    header key; no names shows the table as it is."""
    wanted = [name for value in names for name in value.split(",") if name]
    if not wanted:
        return Success(table)
    keys = [(column.title, header_key(column.title, i)) for i, column in enumerate(table.columns)]
    for name in wanted:
        if not any(name in pair for pair in keys):
            return Failure(UnknownColumn(name=name))
    columns = tuple(
        evolve(column, hidden=not any(name in keys[i] for name in wanted))
        for i, column in enumerate(table.columns)
    )
    return Success(evolve(table, columns=columns))


def tag_table(rows: Iterable[tuple[str, str]], *, digests: bool) -> Table:
    """``tag list``'s table: (name, digest) rows sorted by name; Digest hidden unless asked."""
    return Table(
        title="Tags",
        content="tags",
        columns=(Column(title="Name"), Column(title="Digest", hidden=not digests)),
        rows=tuple(sorted(rows, key=lambda row: row[0])),
    )


def _cells(row: tuple[str, ...], visible: tuple[int, ...]) -> tuple[str, ...]:
    return tuple((row[i] if i < len(row) else "") or _EMPTY_CELL for i in visible)


def _write(lines: list[tuple[str, ...]], border: str) -> str:
    """go-cli-ui's writer: pad every cell but the last to its column's width; border after each."""
    if not lines:
        return ""
    count = max(len(line) for line in lines)
    widths = [
        max((len(line[i]) for line in lines if i < len(line)), default=0) for i in range(count)
    ]
    out: list[str] = []
    for line in lines:
        cells = [
            cell if i == len(line) - 1 else cell.ljust(widths[i]) for i, cell in enumerate(line)
        ]
        out.append("".join(cell + border for cell in cells) + "\n")
    return "".join(out)


def render_table(table: Table) -> str:
    """The TTY form: title, header, rows, notes and the ``N <content>`` footer."""
    visible = table.visible()
    parts: list[str] = []
    if table.title:
        parts.append(f"{table.title}\n\n")
    lines: list[tuple[str, ...]] = []
    if table.columns:
        lines.append(tuple(table.columns[i].title or _EMPTY_CELL for i in visible))
    lines.extend(_cells(row, visible) for row in table.rows)
    parts.append(_write(lines, _TTY_BORDER))
    if table.notes:
        parts.append("\n" + "".join(f"{note}\n" for note in table.notes))
    if table.columns:
        parts.append(f"\n{len(table.rows)} {table.content}\n")
    return "".join(parts)


def render_table_data(table: Table) -> str:
    """The non-TTY form: the rows only, each cell followed by a TAB."""
    visible = table.visible()
    return _write([_cells(row, visible) for row in table.rows], _DATA_BORDER)


def table_document(table: Table) -> dict[str, object]:
    """The JSON form (one entry of ``Tables``); maps have their keys sorted, as Go writes them."""
    visible = table.visible()
    keys = {i: header_key(table.columns[i].title, i) for i in visible}
    header = {keys[i]: table.columns[i].title for i in sorted(visible, key=lambda i: keys[i])}
    rows = [
        {keys[i]: (row[i] if i < len(row) else "") for i in sorted(visible, key=lambda i: keys[i])}
        for row in table.rows
    ]
    return {
        "Content": table.content,
        "Header": header,
        "Rows": rows,
        "Notes": list(table.notes) if table.notes else None,
    }
