"""Held messages (content quarantine) in the journal database: written by the journal's
group commit together with the batch they arrived in, read and decided by
`chapar quarantine`, released or rejected by the running router.

States: ``held`` -> ``released`` (an operator let it go; the router dispatches it and
sets ``dispatched``) or ``rejected`` (the ESME gets a REJECTD receipt; ``dispatched``
set once it was sent).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS quarantine (
    message_id  INTEGER PRIMARY KEY,
    account     TEXT NOT NULL,
    at          REAL NOT NULL,
    category    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    body        BLOB NOT NULL,
    state       TEXT NOT NULL DEFAULT 'held',
    decided_at  REAL,
    dispatched  INTEGER NOT NULL DEFAULT 0
);
"""
INSERT = ("INSERT OR REPLACE INTO quarantine (message_id, account, at, category, reason, body)"
          " VALUES (?, ?, ?, ?, ?, ?)")
HeldRow = tuple[int, str, float, str, str, bytes]


@dataclass(frozen=True, slots=True)
class Held:
    message_id: int
    account: str
    at: float
    category: str
    reason: str
    body: bytes
    state: str
    decided_at: float | None
    dispatched: bool


_COLUMNS = "message_id, account, at, category, reason, body, state, decided_at, dispatched"


def _held(row: tuple[object, ...]) -> Held:
    message_id, account, at, category, reason, body, state, decided_at, dispatched = row
    return Held(int(message_id),  # type: ignore[call-overload]
                str(account), float(at), str(category),  # type: ignore[arg-type]
                str(reason), bytes(body), str(state),  # type: ignore[call-overload]
                None if decided_at is None else float(decided_at),  # type: ignore[arg-type]
                bool(dispatched))


class QuarantineStore:
    """The quarantine table on its own connection (the CLI, and the router's poll)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, timeout=5.0,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def held(self, state: str | None = "held", limit: int = 1000) -> list[Held]:
        if state is None:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM quarantine ORDER BY message_id "
                                    "LIMIT ?", (limit,))
        else:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM quarantine WHERE state = ? "
                                    "ORDER BY message_id LIMIT ?", (state, limit))
        return [_held(row) for row in rows]

    def get(self, message_id: int) -> Held | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM quarantine WHERE message_id = ?",
                               (message_id,)).fetchone()
        return None if row is None else _held(row)

    def decide(self, message_id: int, state: str) -> bool:
        """Release or reject a held message; False when it is not held."""
        cursor = self._db.execute(
            "UPDATE quarantine SET state = ?, decided_at = ? "
            "WHERE message_id = ? AND state = 'held'", (state, time.time(), message_id))
        return cursor.rowcount == 1

    def undispatched(self) -> list[Held]:
        """Decided by an operator and not yet acted on by the router."""
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM quarantine WHERE state != 'held' "
                                "AND dispatched = 0 ORDER BY message_id")
        return [_held(row) for row in rows]

    def mark_dispatched(self, message_ids: list[int]) -> None:
        self._db.executemany("UPDATE quarantine SET dispatched = 1 WHERE message_id = ?",
                             [(i,) for i in message_ids])
