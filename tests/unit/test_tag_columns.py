"""``--column``: a table keeps only the columns named by title or header key."""

from __future__ import annotations

from returns.result import Failure

from imgpkg_pure.tags import UnknownColumn, select_columns, tag_table

ROWS = (("v1", "sha256:" + "a" * 64), ("v2", "sha256:" + "b" * 64))


def test_no_column_keeps_the_table() -> None:
    table = tag_table(ROWS, digests=True)
    assert select_columns(table, ()).unwrap() == table


def test_columns_by_title_or_key() -> None:
    table = tag_table(ROWS, digests=True)
    for names in (("Digest",), ("digest",), ("digest,",)):
        shown = select_columns(table, names).unwrap()
        assert [c.hidden for c in shown.columns] == [True, False]
        assert shown.rows == table.rows
    both = select_columns(table, ("name", "Digest")).unwrap()
    assert [c.hidden for c in both.columns] == [False, False]


def test_unknown_column_is_refused_by_name() -> None:
    refused = select_columns(tag_table(ROWS, digests=False), ("foo",))
    assert refused == Failure(UnknownColumn(name="foo"))
    assert refused.failure().message == "Failed to find header: foo"
