"""The HTTP API's idempotency keys (``client_ref``) in the registry (SQLite or PostgreSQL), so
every worker and every restart sees them.

A request's row is written **before** its messages go to the pipeline (state
``pending``) and completed with the answer after the journal's commit.  The same
(account, client_ref) again gets that answer; a row left ``pending`` by a crash between
the two writes is answered 409 (the first request's outcome is in the message status,
not known here), never sent a second time.  Rows older than the TTL are purged.
"""

from __future__ import annotations

import time

from router.store.rows import CONFLICTS, RowStore
from router.store.settings import Place

_SCHEMA = """
CREATE TABLE IF NOT EXISTS client_refs (
    account    TEXT NOT NULL,
    client_ref TEXT NOT NULL,
    at         REAL NOT NULL,
    answer     BLOB,                  -- the JSON answered; NULL while pending
    PRIMARY KEY (account, client_ref)
) WITHOUT ROWID;
"""
PENDING = b""


class ClientRefStore(RowStore):
    def __init__(self, path: Place) -> None:
        super().__init__(path, _SCHEMA)

    def claim(self, account: str, client_ref: str, peek: bool = False) -> bytes | None:
        """None when this request is the first with the ref (now claimed; with ``peek``:
        none has it, nothing claimed); else the answer stored for it, or PENDING when the
        first has not been answered."""
        if peek:
            return self._stored(account, client_ref)
        try:
            with self._tx() as db:
                db.execute("INSERT INTO client_refs (account, client_ref, at, answer) "
                           "VALUES (?, ?, ?, NULL)", (account, client_ref, time.time()))
        except CONFLICTS:
            return self._stored(account, client_ref) or PENDING
        return None

    def _stored(self, account: str, client_ref: str) -> bytes | None:
        row = self._db.execute("SELECT answer FROM client_refs WHERE account = ? AND "
                               "client_ref = ?", (account, client_ref)).fetchone()
        if row is None:
            return None
        return PENDING if row[0] is None else bytes(row[0])

    def answer(self, account: str, client_ref: str, answer: bytes) -> None:
        with self._tx() as db:
            db.execute("UPDATE client_refs SET answer = ? WHERE account = ? AND "
                       "client_ref = ?", (answer, account, client_ref))

    def release(self, account: str, client_ref: str) -> None:
        """A request that sent nothing (refused before the pipeline) frees its ref."""
        with self._tx() as db:
            db.execute("DELETE FROM client_refs WHERE account = ? AND client_ref = ? AND "
                       "answer IS NULL", (account, client_ref))

    def purge(self, older_than: float) -> int:
        with self._tx() as db:
            return db.execute("DELETE FROM client_refs WHERE at < ?", (older_than,)).rowcount
