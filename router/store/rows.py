"""What the registry's, the ledger's and the quarantine's stores share, whatever the
backend: a connection of their own (a SQLite file, or PostgreSQL through
router/store/postgres/rows.py with the same calls), transactions, the change feed.

Every registry write appends a row to ``changes`` in its own transaction; a running
router watches for new rows (router/app/changes.py).  How it notices them cheaply
differs: SQLite's ``PRAGMA data_version`` moves when another connection commits;
PostgreSQL has a one-row counter, ``change_version``, see ``RowStore.data_version``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol, Self

from router.store.errors import Conflict, StoreError
from router.store.settings import Place
from router.store.sqlite import open_sqlite

CONFLICTS = (sqlite3.IntegrityError, Conflict)
"""A row that breaks a key, on either backend."""
DB_ERRORS = (sqlite3.Error, StoreError)
"""A store that cannot answer now (locked, unreachable): try again later."""


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Rows(Protocol):
    """The calls the stores make on a connection (sqlite3's, or PgRows)."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Cursor: ...


class RowStore:
    """One connection of its own to ``where``; ``schema``: SQLite's tables of the store
    (PostgreSQL's are router/store/postgres/schema.py's, made by ``chapar migrate`` or by
    the first store that opens the database)."""

    def __init__(self, where: Place, schema: str) -> None:
        self.path = where
        self._sqlite: sqlite3.Connection | None = None
        if isinstance(where, Path):
            self._sqlite = open_sqlite(where, schema)
            self._db: Rows = self._sqlite
        else:
            from router.store.postgres.rows import PgRows
            self._pg = PgRows(where, type(self).__name__)
            self._db = self._pg

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        else:
            self._pg.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self, write: bool = True) -> Iterator[Rows]:
        """A write transaction (SQLite: the write lock is taken at BEGIN, not half-way),
        or with ``write=False`` several SELECTs that see one state."""
        db = self._sqlite
        if db is None:
            with self._pg.transaction(write) as pg:
                yield pg
            return
        db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _read(self) -> AbstractContextManager[Rows]:
        """A read transaction: several SELECTs see one state of the store."""
        return self._tx(write=False)

    def _account_exists(self, db: Rows, account: str) -> bool:
        try:
            row = db.execute("SELECT 1 FROM accounts WHERE system_id = ?", (account,)).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return False  # no registry tables yet: no accounts
            raise
        return row is not None

    def _changed(self, db: Rows, kind: str, key: str) -> None:
        """A change row, in the writer's transaction.  On PostgreSQL its seq comes from
        the ``change_version`` row, whose row lock the transaction then holds until it
        commits: seqs become visible in the order they were taken, so a watcher that
        read up to seq N never sees a smaller one commit later (a sequence would not
        promise that: two writers commit in either order)."""
        if self._sqlite is not None:
            db.execute("INSERT INTO changes (at, kind, key) VALUES (?, ?, ?)",
                       (time.time(), kind, key))
            return
        seq = db.execute("UPDATE change_version SET seq = seq + 1 RETURNING seq").fetchone()[0]
        db.execute("INSERT INTO changes (seq, at, kind, key) VALUES (?, ?, ?, ?)",
                   (seq, time.time(), kind, key))

    def data_version(self) -> int:
        """A number that moves when another connection changed the store.  PostgreSQL: the
        ``change_version`` counter, polled (a one-row read).  Polling was chosen over
        LISTEN/NOTIFY: a notification sent while the listening connection is down is
        lost, so a poll would be needed anyway to be safe; the counter is the same
        poll the SQLite watcher makes, and no connection has to stay listening."""
        if self._sqlite is not None:
            version: int = self._sqlite.execute("PRAGMA data_version").fetchone()[0]
            return version
        return int(self._db.execute("SELECT seq FROM change_version").fetchone()[0])
