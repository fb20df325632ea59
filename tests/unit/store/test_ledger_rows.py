"""Ledger rows on SQLite: a commit's rows ride its last batch row and move into the
``ledger`` table in bulk (store/ledger.py).  They are as durable as the batch, keep their
order, and every reader of the ledger sees them, moved or not."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import orjson
import pytest

from router.model.wallets import LedgerRow
from router.store import journal as journal_mod
from router.store.journal import SqliteJournal
from router.store.ledger import Ledger, merged
from router.store.records.columns import Cursor
from router.store.records.source import SqliteSource


def reserve(first: int, count: int, cost: int = 10) -> LedgerRow:
    return LedgerRow(time.time(), "acme", "reserve", -cost * count, "",
                     orjson.dumps([[first, -cost, count]]))


def commit_batch(j: SqliteJournal, first: int, count: int) -> None:
    j.add_batch(first, "acme", [b"x"] * count, time.time())
    j.add_ledger([reserve(first, count)])
    j.commit()


def table(path: Path) -> list[tuple[str, int, bytes]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT kind, amount, entries FROM ledger ORDER BY seq").fetchall()


def riding(path: Path) -> list[int]:
    with sqlite3.connect(path) as db:
        return [r[0] for r in db.execute(
            "SELECT first_id FROM journal WHERE ledger IS NOT NULL ORDER BY first_id")]


@pytest.fixture
def never_due(monkeypatch: pytest.MonkeyPatch) -> None:
    """No move falls due by itself within the test (a slow machine would move early)."""
    monkeypatch.setattr(journal_mod, "MOVE_EVERY", 3600.0)


@pytest.mark.usefixtures("never_due")
def test_rows_ride_the_batch_rows_until_a_read_moves_them_in_order(tmp_path: Path) -> None:
    """requirements §5 (balance = sum of the ledger's entries): a commit within the move
    interval writes no ledger row of its own, its rows wait on its batch row; a reader
    of the ledger moves them first, in commit order, and the journal's next move adds
    no row twice."""
    path = tmp_path / "j.db"
    j = SqliteJournal(path)
    commit_batch(j, 100, 3)  # the first commit moves (nothing waited before it)
    commit_batch(j, 200, 2)
    commit_batch(j, 300, 1)
    assert len(table(path)) == 1 and riding(path) == [200, 300]
    with Ledger(path) as ledger:
        assert ledger.balance("acme") == -60
        assert sorted(ledger.open_reservations()) == [100, 101, 102, 200, 201, 300]
    assert [orjson.loads(e)[0][0] for _, _, e in table(path)] == [100, 200, 300]
    j.add_ledger([LedgerRow(time.time(), "acme", "commit", 0, "", b"[[200,0,2]]")])
    j.commit()  # no batch row to ride: moves what waits (nothing now), then its own
    j.close()
    assert [kind for kind, _, _ in table(path)] == ["reserve"] * 3 + ["commit"]


@pytest.mark.usefixtures("never_due")
def test_rows_left_on_batch_rows_by_a_crash_are_moved_at_the_next_start(
        tmp_path: Path) -> None:
    """requirements §5: a reservation acknowledged with its batch survives kill -9 of the
    router before its row reached the ledger table; the restart moves it there."""
    path = tmp_path / "j.db"
    j = SqliteJournal(path)
    commit_batch(j, 100, 2)
    commit_batch(j, 200, 2)
    commit_batch(j, 300, 2)
    j._db.close()  # the process dies: no final commit, no move
    assert riding(path) == [200, 300] and len(table(path)) == 1
    SqliteJournal(path).close()
    assert [(kind, amount) for kind, amount, _ in table(path)] == [("reserve", -20)] * 3
    with Ledger(path) as ledger:
        assert ledger.balance("acme") == -60


def test_a_clean_stop_moves_every_row(tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "j.db"
    monkeypatch.setattr(journal_mod, "MOVE_EVERY", 3600.0)
    j = SqliteJournal(path)
    commit_batch(j, 100, 1)
    commit_batch(j, 200, 1)
    assert j.ledger_due is not None and j.ledger_due > 0
    j.close()
    assert len(table(path)) == 2


def test_a_move_falls_due_without_new_rows(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The intake commits when ``ledger_due`` says so, load or not: the journal is dirty
    then, and that commit moves the rows."""
    monkeypatch.setattr(journal_mod, "MOVE_EVERY", 0.05)
    path = tmp_path / "j.db"
    j = SqliteJournal(path)
    commit_batch(j, 100, 1)
    commit_batch(j, 200, 1)
    assert not j.dirty and riding(path) == [200]
    time.sleep(0.06)
    assert j.ledger_due == 0.0 and j.dirty
    j.commit()
    assert len(table(path)) == 2 and j.ledger_due is None
    j.close()


@pytest.mark.usefixtures("never_due")
def test_compaction_keeps_batch_rows_whose_ledger_rows_wait(tmp_path: Path) -> None:
    """requirements §5: the journal behind the records is compacted, but never a batch
    row carrying ledger rows not yet in the ledger table."""
    path = tmp_path / "j.db"
    j = SqliteJournal(path)
    for first in (100, 200, 300):
        commit_batch(j, first, 1)
    j.mark_done_below(1000)  # every message finished
    commit_batch(j, 400, 1)
    source = SqliteSource(path)
    recorded = Cursor(journal=1000, refusals=0, outcomes=0, receipts=0, ledger=0)
    source.compact(recorded, older=time.time() + 60)
    with sqlite3.connect(path) as db:
        kept = [r[0] for r in db.execute("SELECT first_id FROM journal ORDER BY first_id")]
    assert kept == [200, 300, 400]  # 100 moved (deleted); 400 is the last row anyway
    with Ledger(path) as ledger:
        assert ledger.balance("acme") == -40  # a read moves them
    source.compact(recorded, older=time.time() + 60)
    with sqlite3.connect(path) as db:
        kept = [r[0] for r in db.execute("SELECT first_id FROM journal ORDER BY first_id")]
    assert kept == [400]
    source.close()
    j.close()


def test_a_move_writes_a_row_per_account_and_kind_reserves_first() -> None:
    """requirements §5: the rows of a move are merged (a quarter second of the relay is
    ~1,000 rows, ~3 µs each inserted) with every entry, every amount, and the order a
    reader needs: a reservation before what settles it."""
    rows = [LedgerRow(1.0, "a", "reserve", -20, "", b"[[100,-10,2]]"),
            LedgerRow(1.0, "b", "reserve", -5, "", b"[[102,-5]]"),
            LedgerRow(1.5, "a", "refund", 10, "", b"[[100,10]]"),
            LedgerRow(1.5, "a", "commit", 0, "", b"[[101,0,1]]"),
            LedgerRow(2.0, "a", "reserve", -10, "", b"[[200,-10]]"),
            LedgerRow(2.0, "a", "commit", 0, "", b"[[102,0,1],[200,0,1]]")]
    out = merged(rows)
    assert [(r.kind, r.account, r.at, r.amount) for r in out] == [
        ("reserve", "a", 1.0, -30), ("reserve", "b", 1.0, -5), ("refund", "a", 1.5, 10),
        ("commit", "a", 1.5, 0)]
    assert orjson.loads(out[0].entries) == [[100, -10, 2], [200, -10]]
    assert orjson.loads(out[3].entries) == [[101, 0, 1], [102, 0, 1], [200, 0, 1]]
    assert sum(r.amount for r in out) == sum(r.amount for r in rows)


@pytest.mark.usefixtures("never_due")
def test_the_journal_moves_what_it_holds_merged_and_skips_what_a_reader_moved(
        tmp_path: Path) -> None:
    """The journal moves the rows it put on batch rows from memory; rows a reader (the
    CLI) moved meanwhile are not written twice."""
    path = tmp_path / "j.db"
    j = SqliteJournal(path)
    commit_batch(j, 100, 1)
    commit_batch(j, 200, 2)
    with Ledger(path) as ledger:
        assert ledger.balance("acme") == -30  # moves 200's row
    commit_batch(j, 300, 3)
    commit_batch(j, 400, 4)
    j.close()  # moves 300 and 400 as one row: 200 is not written again
    assert [(kind, amount) for kind, amount, _ in table(path)] == [
        ("reserve", -10), ("reserve", -20), ("reserve", -70)]
    with Ledger(path) as ledger:
        assert sorted(ledger.open_reservations()) == [100, 200, 201, *range(300, 303),
                                                       *range(400, 404)]
