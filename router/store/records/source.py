"""What the follower reads from a journal: a snapshot since its cursor, and the
compaction behind it.  This is the SQLite journal's; router/store/postgres/source.py is
PostgreSQL's."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from router.store.records.columns import Cursor

LIMIT_DELETE = 256  # journal rows a compaction transaction deletes at most


@dataclass(slots=True)
class Snapshot:
    """Journal rows since a cursor, read in one transaction (no outcome without its
    message's row)."""

    batches: list[Any] = field(default_factory=list)
    """(first_id, account, received_at, bodies, peer)"""
    refusals: list[Any] = field(default_factory=list)
    """(seq, at, account, entries, peer)"""
    outcomes: list[Any] = field(default_factory=list)
    """(seq, at, entries, upstream)"""
    receipts: list[Any] = field(default_factory=list)
    """(seq, at, entries, outcomes): the last outcomes seq at its commit, or None"""
    money: list[Any] = field(default_factory=list)
    """(seq, at, kind, entries): ledger reserve and refund rows"""


class Source(Protocol):
    def read(self, cursor: Cursor, limit: int) -> Snapshot: ...

    def compact(self, cursor: Cursor, older: float) -> int: ...

    def close(self) -> None: ...


READS = (
    ("batches", "SELECT first_id, account, received_at, bodies, peer FROM journal "
                "WHERE first_id > {0} ORDER BY first_id LIMIT {1}", "journal"),
    ("refusals", "SELECT seq, at, account, entries, peer FROM refusals WHERE seq > {0} "
                 "ORDER BY seq LIMIT {1}", "refusals"),
    ("outcomes", "SELECT seq, at, entries, upstream FROM outcomes WHERE seq > {0} "
                 "ORDER BY seq LIMIT {1}", "outcomes"),
    ("receipts", "SELECT seq, at, entries, outcomes FROM receipts WHERE seq > {0} "
                 "ORDER BY seq LIMIT {1}", "receipts"),
    ("money", "SELECT seq, at, kind, entries FROM ledger WHERE seq > {0} AND kind IN "
              "('reserve', 'refund') ORDER BY seq LIMIT {1}", "ledger"),
)
"""(Snapshot field, query with {0} the cursor and {1} the limit, cursor field).  The
events (outcomes, receipts, money) are always read: the follower folds those of
messages recorded (``order.foldable``), so a round's outcomes mostly fold into its own
new rows instead of updating them a round later."""
DELETES = (
    ("DELETE FROM journal WHERE first_id IN (SELECT first_id FROM journal WHERE "
     "first_id < {0} AND first_id + count <= {1} AND received_at < {2} "
     "AND first_id < (SELECT max(first_id) FROM journal){4} LIMIT {3})", "journal", "older"),
    ("DELETE FROM outcomes WHERE seq IN (SELECT seq FROM outcomes WHERE seq <= {0} "
     "AND at < {2} AND seq < (SELECT max(seq) FROM outcomes) LIMIT {3})", "outcomes",
     "settled"),
    ("DELETE FROM receipts WHERE seq IN (SELECT seq FROM receipts WHERE seq <= {0} "
     "AND at < {2} AND seq < (SELECT max(seq) FROM receipts) LIMIT {3})", "receipts",
     "older"),
    ("DELETE FROM refusals WHERE seq IN (SELECT seq FROM refusals WHERE seq <= {0} "
     "AND at < {2} LIMIT {3})", "refusals", "older"),
)
"""Compaction: {0} the cursor, {1} done_below, {2} the time bound, {3} the row limit.
{4}: SQLite's ``MOVED``.
Outcomes go only when older than the oldest unfinished message (``settled``): a
restart still needs those of messages in flight."""
MOVED = (" AND (ledger IS NULL OR first_id <= (SELECT coalesce(max(seq), 0) FROM ledger_marks "
         "WHERE name = 'moved'))")
"""A batch row whose ledger rows have not moved yet stays (store/ledger.py)."""
MARK = "SELECT value FROM marks WHERE name = 'done_below'"
OLDEST = "SELECT min(received_at) FROM journal WHERE first_id + count > {0}"


def settled_before(older: float, oldest: float | None) -> float:
    return min(older, oldest - 60.0) if oldest is not None else older


class SqliteSource:
    def __init__(self, journal_path: Path) -> None:
        self._db = sqlite3.connect(journal_path, isolation_level=None, check_same_thread=False,
                                   timeout=10.0)

    def close(self) -> None:
        self._db.close()

    def read(self, cursor: Cursor, limit: int) -> Snapshot:
        db = self._db
        snap = Snapshot()
        db.execute("BEGIN")
        try:
            for name, sql, position in READS:
                setattr(snap, name, db.execute(sql.format("?", "?"),
                                               (getattr(cursor, position), limit)).fetchall())
        finally:
            db.execute("COMMIT")
        return snap

    def compact(self, cursor: Cursor, older: float) -> int:
        """Delete journal rows recorded, finished and older than ``older``; a few hundred
        rows a transaction so the router's commit never waits long for the lock.  The
        last row of each table stays (ids and sequences resume above it)."""
        db = self._db
        row = db.execute(MARK).fetchone()
        done_below = row[0] if row else 0
        oldest = db.execute(OLDEST.format("?"), (done_below,)).fetchone()[0]
        bounds = {"older": older, "settled": settled_before(older, oldest)}
        deleted = 0
        for sql, position, bound in DELETES:
            statement = sql.format("?", "?", "?", "?", MOVED)
            mark: tuple[object, ...] = (done_below,) if "{1}" in sql else ()
            args = (getattr(cursor, position), *mark, bounds[bound], LIMIT_DELETE)
            while True:
                count = db.execute(statement, args).rowcount
                deleted += count
                if count < LIMIT_DELETE:
                    break
        return deleted
