"""One message's record, read back from the journal for query_sm, cancel_sm and
replace_sm: who sent it, when, its body, and the carrier outcome if there is one.

A connection of its own (WAL readers never wait for the writer), used from a worker
thread one lookup at a time: the commit path keeps no per-message index, so finding an
outcome means scanning the outcome rows written since the message arrived, filtered
in SQLite (``instr`` on the JSON blob) and bounded by ``MAX_OUTCOME_ROWS``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import orjson

from router.smpp.pdu import MessageState
from router.store.packing import unpack_bodies
from router.store.recovery import first_outcome_since

MAX_OUTCOME_ROWS = 200_000
"""Outcome rows (one per carrier read batch) scanned at most for one message."""
MARGIN = 60.0  # seconds: outcomes are written after their message, clocks may step


class Record(NamedTuple):
    account: str
    received_at: float
    body: bytes


class Finished(NamedTuple):
    at: float
    status: int
    """A carrier status; from a receipt, its message_state (FINAL_STATS)."""


FINAL_STATS = {"DELIVRD": int(MessageState.DELIVERED), "UNDELIV": int(MessageState.UNDELIVERABLE),
               "EXPIRED": int(MessageState.EXPIRED), "REJECTD": int(MessageState.REJECTED),
               "DELETED": int(MessageState.DELETED)}


class Reader(Protocol):
    """What query_sm, cancel_sm and replace_sm read (SQLite's JournalReader, or
    router/store/postgres/lookup.py's PgReader)."""

    def record(self, message_id: int) -> Record | None: ...

    def outcome(self, message_id: int, since: float) -> Finished | None: ...

    def receipt(self, message_id: int, since: float) -> Finished | None: ...

    def close(self) -> None: ...


def record_of(message_id: int, row: Any, replaced: bytes | None) -> Record | None:
    """The message from its batch's journal row (first_id, count, account, received_at,
    bodies), or its body a replace_sm wrote."""
    if row is None or message_id >= row[0] + row[1]:
        return None
    first_id, _, account, received_at, blob = row
    body = replaced if replaced is not None else unpack_bodies(blob)[message_id - first_id]
    return Record(account, received_at, body)


def first_outcome(message_id: int, rows: Iterable[Any]) -> Finished | None:
    """The message's first carrier outcome in outcome rows (at, entries)."""
    for at, entries in rows:
        for entry in orjson.loads(entries):
            if entry[0] == message_id:
                return Finished(at, entry[1])
    return None


def final_receipt(message_id: int, rows: Iterable[Any]) -> Finished | None:
    """The message's final receipt in receipt rows (at, entries)."""
    for at, entries in rows:
        for entry_id, stat in orjson.loads(entries):
            if entry_id == message_id and stat in FINAL_STATS:
                return Finished(at, FINAL_STATS[stat])
    return None


class JournalReader:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect(f"{self._path.resolve().as_uri()}?mode=ro", uri=True,
                                       isolation_level=None, check_same_thread=False)
        return self._db

    def record(self, message_id: int) -> Record | None:
        """The journalled message (its replaced body if a replace_sm changed it)."""
        with self._lock:
            db = self._conn()
            row = db.execute("SELECT first_id, count, account, received_at, bodies FROM journal "
                             "WHERE first_id <= ? ORDER BY first_id DESC LIMIT 1",
                             (message_id,)).fetchone()
            replaced = db.execute("SELECT body FROM replaced WHERE message_id = ?",
                                  (message_id,)).fetchone()
            return record_of(message_id, row, replaced[0] if replaced else None)

    def outcome(self, message_id: int, since: float) -> Finished | None:
        """The first carrier outcome journalled for the message (``since``: when it
        arrived), or None."""
        needle = b"[%d," % message_id
        with self._lock:
            db = self._conn()
            first = first_outcome_since(db, since - MARGIN)
            rows = db.execute(
                "SELECT at, entries FROM outcomes WHERE seq >= ? AND seq < ? "
                "AND instr(entries, ?) > 0 ORDER BY seq",
                (first, first + MAX_OUTCOME_ROWS, needle))
            return first_outcome(message_id, rows)

    def receipt(self, message_id: int, since: float) -> Finished | None:
        """The final delivery receipt matched to the message (its stat), or None: the
        journal keeps the receipts it relayed for the message records."""
        needle = b"[%d," % message_id
        with self._lock:
            db = self._conn()
            first = first_outcome_since(db, since - MARGIN, "receipts")
            rows = db.execute(
                "SELECT at, entries FROM receipts WHERE seq >= ? AND seq < ? "
                "AND instr(entries, ?) > 0 ORDER BY seq",
                (first, first + MAX_OUTCOME_ROWS, needle))
            return final_receipt(message_id, rows)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
