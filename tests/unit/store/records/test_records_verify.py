"""Tamper evidence: a month's chains prove nothing was altered or removed, and a failed
check names the first bad row."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from router.store.records import months
from router.store.records.chain import GENESIS, link
from router.store.records.columns import CHAINED
from router.store.records.sqlite import SqliteRecords
from router.store.records.verify import verify
from tests.unit.store.records.records_helpers import Setup


@pytest.fixture
def month(tmp_path: Path) -> Iterator[tuple[Setup, str]]:
    s = Setup(tmp_path)
    first = s.batch(5)
    s.journal.add_outcomes([(first + i, 0, f"C{i}", True) for i in range(5)], "c")
    s.journal.commit()
    s.follower.step()
    s.journal.add_receipts([(first, "DELIVRD"), (first + 1, "UNDELIV")])
    s.journal.commit()
    s.follower.step()
    yield s, months.month_of_id(first)
    s.close()


def _nth(table: str, n: int) -> str:
    """The message_id of a table's n-th row (1-based, chain order)."""
    return f"(SELECT message_id FROM {table} ORDER BY message_id LIMIT 1 OFFSET {n - 1})"


def _edit(s: Setup, sql: str) -> SqliteRecords:
    db = sqlite3.connect(s.settings.path)
    db.execute(sql)
    db.commit()
    db.close()
    return SqliteRecords(Path(s.settings.path), readonly=True)


def _problem(s: Setup, m: str, change: str, n: int) -> str:
    """What verify says after ``change`` (SQL, ``{t}`` the month's suffix) to the n-th
    record."""
    t = months.table_suffix(m)
    return verify(_edit(s, f"{change.format(t=t)} WHERE message_id = "
                           f"{_nth(f'records_{t}', n)}"), m).problem


def _first_id(s: Setup, m: str) -> int:
    return int(s.rows(m)[0]["message_id"])  # type: ignore[call-overload]


def test_an_untouched_month_verifies(month: tuple[Setup, str]) -> None:
    s, m = month
    verdict = verify(s.records, m)
    assert (verdict.problem, verdict.rows, verdict.events) == ("", 5, 2)


def test_an_edited_text_names_its_row(month: tuple[Setup, str]) -> None:
    """requirements §4 (lawful requests): a record row edited in the database makes
    ``records verify`` fail and name the row."""
    s, m = month
    t = months.table_suffix(m)
    reader = _edit(s, f"UPDATE records_{t} SET text = 'changed' "
                          f"WHERE message_id = {_nth(f'records_{t}', 3)}")
    verdict = verify(reader, m)
    assert verdict.problem.startswith("record 3 (message ") and "altered" in verdict.problem
    assert f"{_first_id(s, m) + 2:x}" in verdict.problem


def test_a_removed_row_is_named(month: tuple[Setup, str]) -> None:
    problem = _problem(*month, "DELETE FROM records_{t}", 2)
    assert problem.startswith("record 2 (message ") and "removed" in problem


def test_rows_removed_from_the_end_are_caught_by_the_head(month: tuple[Setup, str]) -> None:
    s, m = month
    t = months.table_suffix(m)
    assert "records after record 4 were removed" in verify(
        _edit(s, f"DELETE FROM records_{t} WHERE message_id = {_nth(f'records_{t}', 5)}"),
        m).problem


def test_an_edited_delivery_status_is_caught(month: tuple[Setup, str]) -> None:
    """The status columns follow the message (not chained themselves): they must be what
    the chained events make them."""
    problem = _problem(*month, "UPDATE records_{t} SET status = 'DELIVRD'", 2)
    assert problem.startswith("record 2 (message ") and "events make" in problem


def test_an_edited_event_is_caught(month: tuple[Setup, str]) -> None:
    s, m = month
    t = months.table_suffix(m)
    problem = verify(_edit(s, f"UPDATE events_{t} SET payload = '[]' WHERE seq = 2"),
                     m).problem
    assert problem.startswith("event 2 (receipt) was altered")


def test_a_month_without_records_says_so(month: tuple[Setup, str]) -> None:
    s, _ = month
    assert verify(s.records, "2001-01").problem == "no records partition for 2001-01"
    with pytest.raises(ValueError, match="not a month"):
        verify(s.records, "2001-13")


def _whole_links(s: Setup, m: str, rows: int) -> None:
    """The first ``rows`` records keep whole 32-byte links, as records written before
    links were kept short did."""
    t = months.table_suffix(m)
    db = sqlite3.connect(s.settings.path)
    previous = GENESIS
    for row in db.execute(f"SELECT * FROM records_{t} ORDER BY message_id LIMIT {rows}"
                          ).fetchall():
        previous = link(previous, row[:len(CHAINED)])
        db.execute(f"UPDATE records_{t} SET hash = ? WHERE message_id = ?", (previous, row[0]))
    db.commit()
    db.close()


def test_a_month_of_whole_and_short_links_verifies_and_names_an_edit(
        month: tuple[Setup, str]) -> None:
    """Rows written before links were kept as 64-bit integers keep their 32 bytes; a
    month holding both verifies, and an edit of either kind is still named."""
    s, m = month
    t = months.table_suffix(m)
    _whole_links(s, m, 3)
    reader = SqliteRecords(Path(s.settings.path), readonly=True)
    assert verify(reader, m).problem == ""
    for n in (2, 4):
        _edit(s, f"UPDATE records_{t} SET destination = destination || '0' "
                 f"WHERE message_id = {_nth(f'records_{t}', n)}")
        problem = verify(reader, m).problem
        assert problem.startswith(f"record {n} (message ") and "altered" in problem, problem
        _edit(s, f"UPDATE records_{t} SET destination = substr(destination, 1, "
                 f"length(destination) - 1) WHERE message_id = {_nth(f'records_{t}', n)}")
    assert verify(reader, m).problem == ""


def test_a_short_link_set_to_another_number_is_named(month: tuple[Setup, str]) -> None:
    problem = _problem(*month, "UPDATE records_{t} SET hash = hash + 1", 5)
    assert problem.startswith("record 5 (message ") and "altered" in problem
