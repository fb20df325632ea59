"""The receipt and MO queue's rows: written with the journal's commit, a row per
hand-over, gone when every item of it is; what is left comes back after a restart."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from router.store import inbox
from router.store.inbox import KEY_BITS, InboxRows
from router.store.journal import SqliteJournal, StoreError


def rows(path: Path) -> tuple[int, int]:
    """(inbox rows, inbox_done rows) in the database."""
    db = sqlite3.connect(path)
    try:
        return (db.execute("SELECT count(*) FROM inbox").fetchone()[0],
                db.execute("SELECT count(*) FROM inbox_done").fetchone()[0])
    finally:
        db.close()


def test_keys_follow_the_batch() -> None:
    rows_ = InboxRows()
    first = rows_.add("acc", 1.0, [b"a", b"b"])
    second = rows_.add("acc", 1.0, [b"c"])
    assert first >> KEY_BITS == 1 and second >> KEY_BITS == 2 and first + 1 != second


def test_a_batch_answered_before_its_commit_is_never_written(tmp_path: Path) -> None:
    """design §3.3: no row per message on the hot path; a hand-over the ESME took
    within one loop turn costs the store nothing."""
    journal = SqliteJournal(tmp_path / "j.db")
    first = journal.inbox.add("acc", 1.0, [b"a", b"b"])
    journal.inbox.done([first, first + 1])
    journal.commit()
    assert rows(tmp_path / "j.db") == (0, 0)


def test_what_is_left_comes_back_after_a_restart(tmp_path: Path) -> None:
    """issue 12: a restart while receipts are queued loses none, and replays none the
    ESME already took."""
    journal = SqliteJournal(tmp_path / "j.db")
    one = journal.inbox.add("acc", 10.0, [b"r1", b"r2", b"r3"])
    two = journal.inbox.add("other", 11.0, [b"m1"])
    journal.commit()
    journal.inbox.done([one + 1])  # taken by the ESME after the commit
    journal.commit()
    journal._db.close()  # the process dies
    again = SqliteJournal(tmp_path / "j.db")
    left = again.recover().inbox
    assert [(q.key, q.account, q.at, q.body) for q in left] == [
        (one, "acc", 10.0, b"r1"), (one + 2, "acc", 10.0, b"r3"), (two, "other", 11.0, b"m1")]
    # new batches number on above the old ones, and finishing the old ones cleans up
    three = again.inbox.add("acc", 12.0, [b"r4"])
    assert three >> KEY_BITS > two >> KEY_BITS
    again.inbox.done([one, one + 2, two, three])
    again.commit()
    assert rows(tmp_path / "j.db") == (0, 0)
    assert again.recover().inbox == []


def test_done_rows_are_pruned_once_their_batches_are_gone(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.db")
    old = journal.inbox.add("acc", 1.0, [b"a", b"b"])
    new = journal.inbox.add("acc", 1.0, [b"c", b"d"])
    journal.commit()
    journal.inbox.done([new])
    journal.commit()
    assert rows(tmp_path / "j.db") == (2, 1)
    journal.inbox.done([old, old + 1])  # the oldest batch closes: done rows below go
    journal.commit()
    assert rows(tmp_path / "j.db") == (1, 1)
    journal.inbox.done([new + 1])
    journal.commit()
    assert rows(tmp_path / "j.db") == (0, 0)


def test_a_failed_commit_keeps_the_rows_for_the_next(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.db")
    journal.add_batch(1, "a", [b"x"], 1.0)
    journal.commit()
    journal.add_batch(1, "a", [b"dup"], 1.0)  # same primary key: this commit fails
    key = journal.inbox.add("acc", 2.0, [b"r"])
    journal.add_receipted([7])
    with pytest.raises(StoreError):
        journal.commit()
    assert journal.dirty
    journal.commit()
    recovery = journal.recover()
    assert [q.key for q in recovery.inbox] == [key] and recovery.receipted == [7]


def test_load_reads_only_and_reports_finished_batches(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "i.db", isolation_level=None)
    db.executescript(inbox.SCHEMA)
    pending = inbox.Pending()
    pending.added[3] = ("acc", 1.0, [b"x"])
    inbox.write(db, pending)
    done = inbox.Pending()
    done.done.append(3 << KEY_BITS)
    inbox.write(db, done)
    loaded = inbox.load(db)
    assert loaded.queued == [] and loaded.finished == [3] and loaded.last_batch == 3
    inbox.clean(db, loaded.finished)
    assert db.execute("SELECT count(*) FROM inbox").fetchone()[0] == 0


def test_a_batch_written_with_some_items_answered_replays_only_the_rest(
        tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.db")
    first = journal.inbox.add("acc", 1.0, [b"a", b"b", b"c"])
    journal.inbox.done([first + 1])  # answered before the batch's first commit
    journal.commit()
    journal._db.close()
    left = SqliteJournal(tmp_path / "j.db").recover().inbox
    assert [q.body for q in left] == [b"a", b"c"]


def test_a_young_batch_waits_for_its_delay_and_a_stop_writes_it(tmp_path: Path) -> None:
    """A hand-over the ESME takes within ``delay`` is never written; one still queued
    after it is; closing the journal writes whatever is left."""
    journal = SqliteJournal(tmp_path / "j.db")
    journal.inbox.delay = 0.05
    now = time.time()
    taken = journal.inbox.add("acc", now, [b"a"])
    waiting = journal.inbox.add("acc", now, [b"b", b"c"])
    journal.inbox.done([waiting])  # one of the waiting batch answered
    journal.commit()
    assert rows(tmp_path / "j.db") == (0, 0)
    due = journal.inbox.next_due()
    assert due is not None and abs(due - (now + 0.05)) < 1e-6
    journal.inbox.done([taken])
    time.sleep(0.06)
    journal.commit()
    assert rows(tmp_path / "j.db") == (1, 1)  # "b c" written, with b answered
    last = journal.inbox.add("acc", time.time(), [b"d"])
    assert journal.close() is None
    left = SqliteJournal(tmp_path / "j.db").recover().inbox
    assert [q.key for q in left] == [waiting + 1, last]
