"""What the registry's stores share: a WAL connection, transactions, the change feed.

Every store on the registry file appends to ``changes`` in the transaction of each
write; a running router watches that table (router/server/changes.py).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Self

CHANGES_SCHEMA = """
CREATE TABLE IF NOT EXISTS changes (
    seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    at   REAL NOT NULL,
    kind TEXT NOT NULL,
    key  TEXT NOT NULL
);
"""


WAL_WAIT = 5.0
"""Seconds a connection retries switching a file to WAL while another holds it."""


def _wal(db: sqlite3.Connection) -> None:
    """WAL mode.  The switch does not wait on the busy timeout: processes opening one
    fresh file at once (``--workers`` and their shared registry) got "database is
    locked" now and then (2 of 400 opens, 4 threads a file) and a worker died at start."""
    deadline = time.monotonic() + WAL_WAIT
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SqliteStore:
    """One connection of its own to ``path``, with ``schema`` created if missing."""

    def __init__(self, path: Path, schema: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                   timeout=5.0)
        self._db.row_factory = sqlite3.Row
        _wal(self._db)
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(schema + CHANGES_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self, begin: str = "BEGIN IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """A write transaction: the write lock is taken at BEGIN, not half-way."""
        db = self._db
        db.execute(begin)
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _read(self) -> AbstractContextManager[sqlite3.Connection]:
        """A read transaction: several SELECTs see one state of the file (WAL)."""
        return self._tx("BEGIN")

    def _account_exists(self, db: sqlite3.Connection, account: str) -> bool:
        try:
            row = db.execute("SELECT 1 FROM accounts WHERE system_id = ?", (account,)).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return False  # no registry tables yet: no accounts
            raise
        return row is not None

    def _changed(self, db: sqlite3.Connection, kind: str, key: str) -> None:
        db.execute("INSERT INTO changes (at, kind, key) VALUES (?, ?, ?)",
                   (time.time(), kind, key))
