"""Opening a SQLite file for the small stores (router/store/rows.py): WAL, the schema and
the ``changes`` table every registry write appends to (router/app/changes.py watches it).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

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


def open_sqlite(path: Path, schema: str) -> sqlite3.Connection:
    """A connection of its own to ``path``, with ``schema`` created if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
    db.row_factory = sqlite3.Row
    _wal(db)
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema + CHANGES_SCHEMA)
    return db


def columns(db: sqlite3.Connection, table: str) -> set[str]:
    """The columns ``table`` has (a file from before a column existed lacks it)."""
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def add_column(db: sqlite3.Connection, table: str, column: str, definition: str) -> None:
    """``column`` added to ``table`` of a file from before it existed.  Processes opening
    one registry at once (``--workers``) race to add it: the loser's "duplicate column
    name" means it is there (a worker died of it at start in a CI run)."""
    if column in columns(db, table):
        return
    try:
        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
    except sqlite3.OperationalError as exc:
        if "duplicate column name" not in str(exc):
            raise
