"""Reading what the last run left in the SQLite journal: the messages still to send, the
carrier ids whose receipts may still come, the receipt queue.

Apart from the journal's write side because a restart is its only reader; through primary
keys only, so a restart costs what is in flight, not the journal's history (the commit
path maintains no secondary index: one cost ~20 µs a commit at low load).
"""

from __future__ import annotations

import bisect
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Literal

import orjson

from router.model.messages import Message
from router.smpp.codec import scan_submit
from router.smpp.pdu import DecodeError
from router.store import inbox
from router.store.packing import unpack_bodies


@dataclass(slots=True)
class Recovery:
    pending: list[Message] = field(default_factory=list)
    last_id: int = 0
    delivered_to_carrier: list[tuple[str, int, str]] = field(default_factory=list)
    """(upstream id, our id, account) of messages a carrier accepted."""
    receipted: list[int] = field(default_factory=list)
    """Recent messages whose final receipt was already queued for the ESME."""
    inbox: list[inbox.Queued] = field(default_factory=list)
    """Receipts and MO that were waiting for an ESME (key order)."""
    parts: list[tuple[int, str, float, bytes, str]] = field(default_factory=list)
    """(our id, account, arrived at, body, group) of parts of concatenated messages
    journalled while the rest was awaited: the content stage takes them back."""


def wants_receipt(body: bytes) -> bool:
    try:
        return (scan_submit(0, body).registered_delivery & 3) != 0
    except DecodeError:
        return True


def first_outcome_since(db: sqlite3.Connection, since: float,
                        table: Literal["outcomes", "receipts"] = "outcomes") -> int:
    """The first seq of ``table`` written at or after ``since``: a binary search on the
    primary key (``at`` grows with ``seq``), instead of an index on ``at``."""
    bounds = db.execute(f"SELECT min(seq), max(seq) FROM {table}").fetchone()
    if bounds[0] is None:
        return 0
    low: int = bounds[0]
    high: int = bounds[1] + 1
    while low < high:
        mid = (low + high) // 2
        row = db.execute(f"SELECT seq, at FROM {table} WHERE seq >= ? ORDER BY seq LIMIT 1",
                         (mid,)).fetchone()
        if row is None or row[1] >= since:
            high = mid
        else:
            low = row[0] + 1
    return low


def read(db: sqlite3.Connection, receipt_window: float) -> tuple[Recovery, inbox.Loaded]:
    """Messages no carrier has finally answered, and the carrier ids of recent messages
    whose receipts may still come: the journal from the ``done_below`` mark on and the
    outcomes written since the oldest of those (or since ``receipt_window``)."""
    recovery = Recovery()
    last = db.execute("SELECT first_id + count - 1 FROM journal "
                      "ORDER BY first_id DESC LIMIT 1").fetchone()
    recovery.last_id = last[0] if last else 0
    mark = db.execute("SELECT value FROM marks WHERE name = 'done_below'").fetchone()
    done_below = mark[0] if mark else 0
    start = row_holding(db, done_below)
    oldest = db.execute("SELECT received_at FROM journal WHERE first_id >= ? "
                        "ORDER BY first_id LIMIT 1", (start,)).fetchone()
    receipts_since = time.time() - receipt_window
    # outcomes are written after their message's journal row: a minute of margin
    # covers clock adjustments
    since = min(receipts_since, oldest[0] - 60.0) if oldest else receipts_since
    # held or rejected in quarantine: never sent by a restart; released ones are sent
    # again until a carrier outcome shows, even below the mark (it passed them while held)
    skip = {row[0] for row in db.execute(
        "SELECT message_id FROM quarantine WHERE state != 'released'")}
    released = db.execute("SELECT message_id, account, body, decided_at FROM quarantine "
                          "WHERE state = 'released' AND decided_at >= ?",
                          (receipts_since,)).fetchall()
    if released:
        since = min(since, min(row[3] for row in released) - 60.0)
    finished: set[int] = set()
    wanted: list[tuple[str, int]] = []
    for at, entries, receipted in db.execute(
            "SELECT at, entries, receipted FROM outcomes WHERE seq >= ?",
            (first_outcome_since(db, since),)):
        for message_id, status, carrier_id, receipt in orjson.loads(entries):
            finished.add(message_id)
            if at >= receipts_since and status == 0 and receipt and carrier_id:
                wanted.append((carrier_id, message_id))
        if receipted is not None:
            recovery.receipted.extend(orjson.loads(receipted))
    replaced = dict(db.execute("SELECT message_id, body FROM replaced "
                               "WHERE message_id >= ?", (start,)).fetchall())
    rows = db.execute("SELECT first_id, account, bodies FROM journal WHERE first_id >= ? "
                      "ORDER BY first_id", (start,))
    for first_id, account, blob in rows:
        for offset, body in enumerate(unpack_bodies(blob)):
            message_id = first_id + offset
            if (message_id >= done_below and message_id not in finished
                    and message_id not in skip):
                body = replaced.get(message_id, body)
                recovery.pending.append(Message(message_id, account, body, 0,
                                                wants_receipt(body)))
    recovery.pending += [Message(i, account, body, 0, wants_receipt(body))
                         for i, account, body, _ in released
                         if i < done_below and i not in finished]
    recovery.delivered_to_carrier = _with_accounts(db, wanted)
    loaded = inbox.load(db)
    inbox.clean(db, loaded.finished)
    recovery.inbox = loaded.queued
    recovery.parts = db.execute("SELECT message_id, account, at, body, grp FROM quarantine "
                                "WHERE state = 'part' ORDER BY message_id").fetchall()
    return recovery, loaded


def row_holding(db: sqlite3.Connection, message_id: int) -> int:
    """first_id of the journal row holding ``message_id`` (or of the next row)."""
    row = db.execute("SELECT first_id FROM journal WHERE first_id <= ? "
                     "ORDER BY first_id DESC LIMIT 1", (message_id,)).fetchone()
    return row[0] if row else message_id


def _with_accounts(db: sqlite3.Connection,
                   wanted: list[tuple[str, int]]) -> list[tuple[str, int, str]]:
    """(carrier id, our id, account) for (carrier id, our id) pairs."""
    if not wanted:
        return []
    starts: list[int] = []
    owners: list[tuple[int, str]] = []
    for first_id, count, account in db.execute(
            "SELECT first_id, count, account FROM journal WHERE first_id >= ? "
            "ORDER BY first_id", (row_holding(db, min(m for _, m in wanted)),)):
        starts.append(first_id)
        owners.append((first_id + count, account))
    out = []
    for carrier_id, message_id in wanted:
        i = bisect.bisect_right(starts, message_id) - 1
        if i >= 0 and message_id < owners[i][0]:
            out.append((carrier_id, message_id, owners[i][1]))
    return out
