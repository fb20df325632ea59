"""The message journal: what makes ESME_ROK a promise.

Design §3.3: one row per accepted read batch (its submit_sm bodies in one blob), and
one row per upstream response batch (the outcomes in one blob).  Rows are written by
``commit()``, which the intake calls once per event-loop turn (group commit); the ESMEs
are answered only after it returns.  Per-message records are derived from these rows
off the ack path, and the rows are enough to rebuild what is still to be sent.
"""

from __future__ import annotations

import bisect
import contextlib
import sqlite3
import struct
import sys
import threading
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import orjson
import structlog

from router.smpp.codec import scan_submit
from router.smpp.pdu import DecodeError

Durability = Literal["process", "power"]
_log = structlog.get_logger("chapar.journal")

_len = struct.Struct(">I")
_SWAP = sys.byteorder == "little"
assert array("I").itemsize == 4
_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    first_id    INTEGER PRIMARY KEY,  -- ids first_id .. first_id + count - 1
    count       INTEGER NOT NULL,
    account     TEXT NOT NULL,
    received_at REAL NOT NULL,
    bodies      BLOB NOT NULL         -- submit_sm bodies: count, lengths, bodies (pack_bodies)
);
CREATE TABLE IF NOT EXISTS refusals (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          REAL NOT NULL,
    account     TEXT NOT NULL,
    entries     BLOB NOT NULL         -- JSON [[sequence, source, destination, reason], ...]
);
CREATE TABLE IF NOT EXISTS outcomes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          REAL NOT NULL,
    max_id      INTEGER NOT NULL,     -- the largest message id in entries
    entries     BLOB NOT NULL         -- JSON [[message_id, status, upstream_id, receipt], ...]
);
CREATE INDEX IF NOT EXISTS outcomes_by_max_id ON outcomes (max_id);
CREATE INDEX IF NOT EXISTS outcomes_by_time ON outcomes (at);
CREATE TABLE IF NOT EXISTS marks (
    name        TEXT PRIMARY KEY,
    value       INTEGER NOT NULL      -- done_below: every message id below it is finished
);
"""
# A carrier outcome: our id, the carrier's status, the carrier's id, receipt wanted.
Outcome = tuple[int, int, str, bool]


class StoreError(Exception):
    """The journal cannot take writes; nothing may be acknowledged."""


@dataclass(slots=True)
class Message:
    """A message accepted from an ESME and not yet finally answered by a carrier."""

    id: int
    account: str
    body: bytes
    attempts: int = 0
    receipt: bool = True
    """The ESME asked for a delivery receipt: remember the carrier's id."""


@dataclass(slots=True)
class Recovery:
    pending: list[Message] = field(default_factory=list)
    last_id: int = 0
    delivered_to_carrier: list[tuple[str, int, str]] = field(default_factory=list)
    """(upstream id, our id, account) of messages a carrier accepted."""


def pack_bodies(bodies: list[bytes]) -> bytes:
    """count, the lengths as big-endian uint32, then the bodies back to back: built by
    C loops (array, join), not a Python loop per message."""
    lengths = array("I", map(len, bodies))
    if _SWAP:
        lengths.byteswap()
    return _len.pack(len(bodies)) + lengths.tobytes() + b"".join(bodies)


def unpack_bodies(blob: bytes) -> list[bytes]:
    (count,) = _len.unpack_from(blob, 0)
    lengths = array("I", blob[4:4 + 4 * count])
    if _SWAP:
        lengths.byteswap()
    out = []
    pos = 4 + 4 * count
    for n in lengths:
        out.append(blob[pos:pos + n])
        pos += n
    return out


def _wants_receipt(body: bytes) -> bool:
    try:
        return (scan_submit(body)[2] & 3) != 0  # registered_delivery
    except DecodeError:
        return True


class SqliteJournal:
    """Embedded journal: SQLite in WAL mode.

    ``process`` durability (synchronous=NORMAL) survives kill -9 of the router, since
    a commit has reached the OS; ``power`` (synchronous=FULL) fsyncs every commit.
    """

    def __init__(self, path: Path, durability: Durability = "process") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            sync = "NORMAL" if durability == "process" else "FULL"
            self._db.execute(f"PRAGMA synchronous={sync}")
            # Checkpoints (WAL -> database, with fsync) ran inside commit on the event loop
            # and made its p99 (6-7 ms, up to 34 ms); a thread does them instead.
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open journal {path}: {exc}") from exc
        self._stop_checkpoints = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self._batches: list[tuple[int, int, str, float, bytes]] = []
        self._outcomes: list[Outcome] = []
        self._done_below: int | None = None
        self._refusals: list[tuple[float, str, bytes]] = []

    def add_batch(self, first_id: int, account: str, bodies: list[bytes], now: float) -> None:
        self._batches.append((first_id, len(bodies), account, now, pack_bodies(bodies)))

    def add_outcomes(self, outcomes: list[Outcome]) -> None:
        self._outcomes.extend(outcomes)

    def mark_done_below(self, message_id: int) -> None:
        """Every message below this id has its final outcome: recovery starts here.
        Written with the next commit, together with the outcomes that make it true."""
        self._done_below = message_id

    def add_refusals(self, account: str, entries: list[tuple[int, str, str, str]],
                     now: float) -> None:
        """Policy refusals of one read batch: (sequence, source, destination, reason)."""
        self._refusals.append((now, account, orjson.dumps(entries)))

    @property
    def dirty(self) -> bool:
        return bool(self._batches or self._outcomes or self._refusals
                    or self._done_below is not None)

    def commit(self) -> None:
        """Write everything added since the last commit, in one transaction."""
        batches, self._batches = self._batches, []
        outcomes, self._outcomes = self._outcomes, []
        refusals, self._refusals = self._refusals, []
        done_below, self._done_below = self._done_below, None
        db = self._db
        try:
            db.execute("BEGIN")
            if batches:
                db.executemany("INSERT INTO journal VALUES (?, ?, ?, ?, ?)", batches)
            if outcomes:
                db.execute("INSERT INTO outcomes (at, max_id, entries) VALUES (?, ?, ?)",
                           (time.time(), max(o[0] for o in outcomes), orjson.dumps(outcomes)))
            if done_below is not None:
                db.execute("INSERT OR REPLACE INTO marks VALUES ('done_below', ?)",
                           (done_below,))
            if refusals:
                db.executemany("INSERT INTO refusals (at, account, entries) VALUES (?, ?, ?)",
                               refusals)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise StoreError(f"journal commit failed: {exc}") from exc

    def recover(self, receipt_window: float = 3 * 86400.0) -> Recovery:
        """What the last run left: messages no carrier has finally answered, and the
        carrier ids of recent messages whose receipts may still come.

        Reads only from the ``done_below`` mark on (and ``receipt_window`` seconds of
        outcomes), so a restart costs what is in flight, not the journal's history.
        """
        db = self._db
        mark = db.execute("SELECT value FROM marks WHERE name = 'done_below'").fetchone()
        done_below = mark[0] if mark else 0
        finished: set[int] = set()
        for (entries,) in db.execute("SELECT entries FROM outcomes WHERE max_id >= ?",
                                     (done_below,)):
            finished.update(entry[0] for entry in orjson.loads(entries))
        recovery = Recovery()
        last = db.execute("SELECT max(first_id + count - 1) FROM journal").fetchone()[0]
        recovery.last_id = last or 0
        rows = db.execute("SELECT first_id, account, bodies FROM journal "
                          "WHERE first_id + count > ? ORDER BY first_id", (done_below,))
        for first_id, account, blob in rows:
            for offset, body in enumerate(unpack_bodies(blob)):
                message_id = first_id + offset
                if message_id >= done_below and message_id not in finished:
                    recovery.pending.append(Message(message_id, account, body, 0,
                                                    _wants_receipt(body)))
        recovery.delivered_to_carrier = self._recent_carrier_ids(time.time() - receipt_window)
        return recovery

    def _recent_carrier_ids(self, since: float) -> list[tuple[str, int, str]]:
        """(carrier id, our id, account) of messages accepted since ``since`` that asked
        for a receipt."""
        wanted: list[tuple[str, int]] = []
        for (entries,) in self._db.execute("SELECT entries FROM outcomes WHERE at >= ?",
                                           (since,)):
            wanted.extend((carrier_id, message_id)
                          for message_id, status, carrier_id, receipt in orjson.loads(entries)
                          if status == 0 and receipt and carrier_id)
        if not wanted:
            return []
        lowest = min(message_id for _, message_id in wanted)
        starts: list[int] = []
        owners: list[tuple[int, str]] = []
        for first_id, count, account in self._db.execute(
                "SELECT first_id, count, account FROM journal WHERE first_id + count > ? "
                "ORDER BY first_id", (lowest,)):
            starts.append(first_id)
            owners.append((first_id + count, account))
        out = []
        for carrier_id, message_id in wanted:
            i = bisect.bisect_right(starts, message_id) - 1
            if i >= 0 and message_id < owners[i][0]:
                out.append((carrier_id, message_id, owners[i][1]))
        return out

    def start_checkpoints(self, interval: float = 1.0) -> None:
        """Copy the WAL into the database from a thread, on its own connection."""
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, args=(interval,),
                                              name="journal-checkpoint", daemon=True)
        self._checkpointer.start()

    def _checkpoint_loop(self, interval: float) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop_checkpoints.wait(interval):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:  # the next round tries again
                    _log.warning("journal_checkpoint_failed", error=str(exc))
        finally:
            db.close()

    def close(self) -> None:
        self._stop_checkpoints.set()
        if self._checkpointer is not None:
            self._checkpointer.join()
        try:
            if self.dirty:
                self.commit()
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._db.close()
