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
    """(seq, at, entries)"""
    money: list[Any] = field(default_factory=list)
    """(seq, at, kind, entries): ledger reserve and refund rows"""


class Source(Protocol):
    def read(self, cursor: Cursor, limit: int) -> Snapshot: ...

    def compact(self, cursor: Cursor, older: float) -> int: ...

    def close(self) -> None: ...


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
            snap.batches = db.execute(
                "SELECT first_id, account, received_at, bodies, peer FROM journal "
                "WHERE first_id > ? ORDER BY first_id LIMIT ?", (cursor.journal, limit)).fetchall()
            snap.refusals = db.execute(
                "SELECT seq, at, account, entries, peer FROM refusals WHERE seq > ? "
                "ORDER BY seq LIMIT ?", (cursor.refusals, limit)).fetchall()
            if len(snap.batches) < limit:  # events only for messages already recorded
                snap.outcomes = db.execute(
                    "SELECT seq, at, entries, upstream FROM outcomes WHERE seq > ? "
                    "ORDER BY seq LIMIT ?", (cursor.outcomes, limit)).fetchall()
                snap.receipts = db.execute(
                    "SELECT seq, at, entries FROM receipts WHERE seq > ? ORDER BY seq LIMIT ?",
                    (cursor.receipts, limit)).fetchall()
                snap.money = db.execute(
                    "SELECT seq, at, kind, entries FROM ledger WHERE seq > ? AND kind IN "
                    "('reserve', 'refund') ORDER BY seq LIMIT ?",
                    (cursor.ledger, limit)).fetchall()
        finally:
            db.execute("COMMIT")
        return snap

    def compact(self, cursor: Cursor, older: float) -> int:
        """Delete journal rows recorded, finished and older than ``older``; a few hundred
        rows a transaction so the router's commit never waits long for the lock.  The
        last row of each table stays (ids and sequences resume above it)."""
        db = self._db
        mark = db.execute("SELECT value FROM marks WHERE name = 'done_below'").fetchone()
        done_below = mark[0] if mark else 0
        oldest = db.execute("SELECT min(received_at) FROM journal WHERE first_id + count > ?",
                            (done_below,)).fetchone()[0]
        settled = min(older, oldest - 60.0) if oldest is not None else older
        deleted = 0
        for sql, args in (
                ("DELETE FROM journal WHERE first_id IN (SELECT first_id FROM journal WHERE "
                 "first_id < ? AND first_id + count <= ? AND received_at < ? "
                 "AND first_id < (SELECT max(first_id) FROM journal) LIMIT ?)",
                 (cursor.journal, done_below, older)),
                ("DELETE FROM outcomes WHERE seq IN (SELECT seq FROM outcomes WHERE seq <= ? "
                 "AND at < ? AND seq < (SELECT max(seq) FROM outcomes) LIMIT ?)",
                 (cursor.outcomes, settled)),
                ("DELETE FROM receipts WHERE seq IN (SELECT seq FROM receipts WHERE seq <= ? "
                 "AND at < ? AND seq < (SELECT max(seq) FROM receipts) LIMIT ?)",
                 (cursor.receipts, older)),
                ("DELETE FROM refusals WHERE seq IN (SELECT seq FROM refusals WHERE seq <= ? "
                 "AND at < ? LIMIT ?)", (cursor.refusals, older))):
            while True:
                count = db.execute(sql, (*args, LIMIT_DELETE)).rowcount
                deleted += count
                if count < LIMIT_DELETE:
                    break
        return deleted
