"""Held messages (content quarantine) beside the journal (its SQLite file, or its
PostgreSQL database): written by the journal's
group commit together with the batch they arrived in, read and decided by
`chapar quarantine`, released or rejected by the running router.

States: ``held`` -> ``released`` (an operator let it go; the router dispatches it and
sets ``dispatched``) or ``rejected`` (the ESME gets a REJECTD receipt; ``dispatched``
set once it was sent).  ``part``: one part of a concatenated message, journalled and
answered while the rest is awaited; the content stage settles it with its message
(``released``, ``held`` or ``rejected``).  Rows of one long message share ``grp``, and
an operator's decision applies to the whole group.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from router.store.rows import RowStore
from router.store.settings import Place
from router.store.sqlite import add_column

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
    dispatched  INTEGER NOT NULL DEFAULT 0,
    grp         TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS flags (
    message_id  INTEGER PRIMARY KEY,
    account     TEXT NOT NULL,
    at          REAL NOT NULL,
    category    TEXT NOT NULL,      -- the flagging category (the strictest that applied)
    categories  TEXT NOT NULL       -- every category that hit and applied, comma-separated
);
"""
FLAG = ("INSERT INTO flags VALUES (?, ?, ?, ?, ?) ON CONFLICT (message_id) DO UPDATE SET "
        "account = excluded.account, at = excluded.at, category = excluded.category, "
        "categories = excluded.categories")
FlagRow = tuple[int, str, float, str, str]
"""A message sent but flagged by the content filter, written with its batch's commit."""
INSERT = ("INSERT INTO quarantine (message_id, account, at, category, reason, body, state, "
          "grp) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO UPDATE SET "
          "account = excluded.account, at = excluded.at, category = excluded.category, "
          "reason = excluded.reason, body = excluded.body, state = excluded.state, "
          "decided_at = NULL, dispatched = 0, grp = excluded.grp")
"""A held row, or a part awaiting its message (a replay writes it again, undecided)."""
HeldRow = tuple[int, str, float, str, str, bytes, str, str]
SETTLE = ("UPDATE quarantine SET state = ?, category = ?, reason = ?, decided_at = ?, "
          "dispatched = ?, grp = ? WHERE message_id = ? AND state = 'part'")
SettleRow = tuple[str, str, str, float, int, str, int]


def migrate(db: sqlite3.Connection) -> None:
    """Add ``grp`` to a quarantine table made before it existed."""
    add_column(db, "quarantine", "grp", "TEXT NOT NULL DEFAULT ''")


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
    group: str = ""


_COLUMNS = ("message_id, account, at, category, reason, body, state, decided_at, dispatched,"
            " grp")


def _held(row: tuple[object, ...]) -> Held:
    message_id, account, at, category, reason, body, state, decided_at, dispatched, grp = row
    return Held(int(message_id),  # type: ignore[call-overload]
                str(account), float(at), str(category),  # type: ignore[arg-type]
                str(reason), bytes(body), str(state),  # type: ignore[call-overload]
                None if decided_at is None else float(decided_at),  # type: ignore[arg-type]
                bool(dispatched), str(grp))


_UNDISPATCHED = "state IN ('released', 'rejected') AND dispatched = 0"
"""Decided by an operator, not yet acted on by the router."""


class QuarantineStore(RowStore):
    """The quarantine table on its own connection (the CLI, and the router's poll)."""

    def __init__(self, path: Place) -> None:
        super().__init__(path, SCHEMA)
        if self._sqlite is not None:
            migrate(self._sqlite)

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

    def group(self, held: Held) -> list[Held]:
        """Every row of the long message ``held`` belongs to (itself alone if none)."""
        if not held.group:
            return [held]
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM quarantine WHERE grp = ? "
                                "ORDER BY message_id", (held.group,))
        return [_held(row) for row in rows]

    def decide(self, message_id: int, state: str) -> int:
        """Release or reject a held message (every part of a long one, together): the
        number of rows decided, 0 when it is not held."""
        held = self.get(message_id)
        if held is None or held.state != "held":
            return 0
        now = time.time()
        if not held.group:
            cursor = self._db.execute(
                "UPDATE quarantine SET state = ?, decided_at = ? "
                "WHERE message_id = ? AND state = 'held'", (state, now, message_id))
        else:
            cursor = self._db.execute(
                "UPDATE quarantine SET state = ?, decided_at = ? "
                "WHERE grp = ? AND state = 'held'", (state, now, held.group))
        return cursor.rowcount

    def flags(self, limit: int = 1000) -> list[FlagRow]:
        """Flagged messages, oldest first: (message_id, account, at, category, categories)."""
        rows = self._db.execute("SELECT message_id, account, at, category, categories "
                                "FROM flags ORDER BY message_id LIMIT ?", (limit,))
        return [(int(i), str(a), float(t), str(c), str(cs)) for i, a, t, c, cs in rows]

    def undispatched(self) -> list[Held]:
        """Decided by an operator and not yet acted on by the router."""
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM quarantine WHERE {_UNDISPATCHED} "
                                "ORDER BY message_id")
        return [_held(row) for row in rows]

    def waiting(self) -> int:
        """Rows a router still has to act on: held, or decided and not yet dispatched."""
        row = self._db.execute("SELECT count(*) FROM quarantine WHERE state = 'held' OR "
                               f"({_UNDISPATCHED})").fetchone()
        return int(row[0])

    def mark_dispatched(self, message_ids: list[int]) -> None:
        self._db.executemany("UPDATE quarantine SET dispatched = 1 WHERE message_id = ?",
                             [(i,) for i in message_ids])
