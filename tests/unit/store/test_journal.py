"""The journal: what was committed comes back after a restart, and nothing else."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import pytest

from router.model.messages import format_id
from router.store.ids import MessageIds
from router.store.journal import SqliteJournal, StoreError
from router.store.packing import pack_bodies, unpack_bodies
from router.store.recovery import first_outcome_since


def test_bodies_round_trip() -> None:
    bodies = [b"", b"a", b"\x00" * 300, bytes(range(256))]
    assert unpack_bodies(pack_bodies(bodies)) == bodies


def test_uncommitted_batches_are_not_recovered(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path / "j.db")
    j.add_batch(100, "acc", [b"one", b"two"], 1.0)
    j.commit()
    j.add_batch(200, "acc", [b"lost"], 2.0)  # never committed: the process "dies"
    j._db.close()
    r = SqliteJournal(tmp_path / "j.db").recover()
    assert [(m.id, m.account, m.body) for m in r.pending] == [(100, "acc", b"one"),
                                                              (101, "acc", b"two")]
    assert r.last_id == 101


def test_outcomes_finish_messages_and_feed_the_receipt_map(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path / "j.db")
    j.add_batch(10, "a", [b"x", b"y", b"z"], 1.0)
    j.add_outcomes([(10, 0, "C-10", True), (11, 0x45, "", True)])
    j.commit()
    r = j.recover()
    assert [m.id for m in r.pending] == [12]
    assert r.delivered_to_carrier == [("C-10", 10, "a")]


def test_receipt_map_only_for_receipts_wanted_and_recent(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path / "j.db")
    j.add_batch(10, "a", [b"x", b"y"], 1.0)
    j.add_batch(20, "b", [b"z"], 1.0)
    j.add_outcomes([(10, 0, "C-10", False), (11, 0, "C-11", True), (20, 0, "C-20", True)])
    j.commit()
    assert sorted(j.recover().delivered_to_carrier) == [("C-11", 11, "a"), ("C-20", 20, "b")]
    assert j.recover(receipt_window=-1.0).delivered_to_carrier == []  # all too old


def test_recovery_starts_at_the_done_below_mark(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path / "j.db")
    j.add_batch(10, "a", [b"x", b"y", b"z"], 1.0)
    j.add_batch(20, "a", [b"w"], 1.0)
    j.add_outcomes([(10, 0, "C-10", False), (12, 0, "C-12", False)])
    j.mark_done_below(11)  # 10 finished; 11 still in flight
    j.commit()
    r = j.recover()
    assert [m.id for m in r.pending] == [11, 20]
    assert r.last_id == 20
    j.mark_done_below(21)
    j.commit()
    r = j.recover()
    assert r.pending == [] and r.last_id == 20
    # the mark alone keeps recovery from reading finished rows at all
    j._db.execute("DELETE FROM outcomes")
    assert j.recover().pending == []


def test_commit_failure_raises_store_error(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path / "j.db")
    j.add_batch(1, "a", [b"x"], 1.0)
    j.commit()
    j.add_batch(1, "a", [b"dup"], 1.0)  # same primary key: the commit must fail
    with pytest.raises(StoreError):
        j.commit()
    assert not j.dirty
    j.add_batch(2, "a", [b"next"], 1.0)  # and the journal still works afterwards
    j.commit()
    assert [m.id for m in j.recover().pending] == [1, 2]


def test_journal_on_a_read_only_database_refuses(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    SqliteJournal(path).close()
    j = SqliteJournal(path)
    j._db.close()
    j._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    j.add_batch(5, "a", [b"x"], 1.0)
    with pytest.raises(StoreError):
        j.commit()


def test_ids_are_increasing_unique_and_short() -> None:
    ids = MessageIds()
    firsts = [ids.take(1000) for _ in range(50)]
    assert all(b - a >= 1000 for a, b in itertools.pairwise(firsts))
    assert len(format_id(firsts[-1])) <= 16
    assert int(format_id(firsts[0]), 16) == firsts[0]


def test_ids_resume_above_the_journal() -> None:
    far_future = (1 << 62)
    assert MessageIds(far_future).take(1) == far_future + 1


def test_first_outcome_since_is_a_binary_search_on_seq(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path / "j.db")
    j._db.executemany("INSERT INTO outcomes (at, entries) VALUES (?, '[]')",
                      [(float(t),) for t in range(0, 1000, 10)])  # seq 1..100, at 0..990
    assert first_outcome_since(j._db, -5.0) == 1
    assert first_outcome_since(j._db, 0.0) == 1
    assert first_outcome_since(j._db, 15.0) == 3  # at 20
    assert first_outcome_since(j._db, 990.0) == 100
    assert first_outcome_since(j._db, 991.0) == 101  # none: past the end
    empty = SqliteJournal(tmp_path / "e.db")
    assert first_outcome_since(empty._db, 0.0) == 0


def _fill(j: SqliteJournal) -> None:
    """The database may not grow any more: the next write needing a page fails
    (SQLITE_FULL, as on a full disk)."""
    j._db.execute("PRAGMA max_page_count = 1").fetchone()


def test_a_failed_commit_keeps_outcomes_and_mark_for_the_next(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path / "j.db")
    j.add_batch(10, "a", [b"x", b"y", b"z"], 1.0)
    j.commit()
    _fill(j)
    j.add_outcomes([(10, 0, "C-10", False), (11, 0, "C-11", False)])
    j.mark_done_below(11)
    j.add_batch(20, "a", [b"w" * 65536], 2.0)  # refused to its ESME when this fails
    with pytest.raises(StoreError):
        j.commit()
    assert j.pending_outcomes == 2
    j._db.execute("PRAGMA max_page_count = 1073741823").fetchone()
    j.add_outcomes([(12, 0, "C-12", False)])
    j.commit()
    r = j.recover()
    assert r.pending == [], "the outcomes of the failed commit were written by the next"
    rows = j._db.execute("SELECT count(*) FROM journal WHERE first_id = 20").fetchone()[0]
    assert rows == 0, "a refused batch is never written later"
    j.close()


def test_refusal_records_kept_after_failed_commits_are_bounded(tmp_path: Path) -> None:
    from router.store import journal as journal_mod

    j = SqliteJournal(tmp_path / "j.db")
    _fill(j)
    for n in range(journal_mod.KEEP_REFUSALS + 10):
        j.add_refusals("a", [(n, "1000", "98912", "blacklisted" * 600)], float(n))
        with pytest.raises(StoreError):
            j.commit()
    assert j.dropped_refusals == 10
    j._db.close()


def test_close_on_a_full_disk_reports_instead_of_raising(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path / "j.db")
    j.add_batch(10, "a", [b"x"], 1.0)
    j.commit()
    _fill(j)
    j.add_outcomes([(10, 0, "C-10", False)])
    j.add_batch(20, "a", [b"w" * 65536], 2.0)
    problem = j.close()
    assert problem is not None and "full" in problem
    assert "1 carrier outcomes not written" in problem
    assert SqliteJournal(tmp_path / "j.db").recover().last_id == 10
