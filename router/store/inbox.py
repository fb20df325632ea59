"""Receipts and MO waiting for an ESME, kept in the store so a restart loses none.

Design §3.3, no row per message on the hot path: a hand-over of deliver_sm bodies (a
carrier read's receipts for one account, an MO, a REJECTD receipt) is one ``inbox``
row; the items ESMEs answered ESME_ROK (or that were given up) are one ``inbox_done``
row per commit, as packed keys; a batch whose items are all gone is deleted whole.
Everything rides the journal's group commit (``SqliteJournal.commit``).  A batch is
written by the first commit at least ``delay`` seconds after its hand-over (0.05 s by
default): most hand-overs are answered by an online ESME within that and are never
written at all (written and deleted they cost the relay ~1 µs a receipt, checkpoints
included); a stop writes everything.

A key is ``batch << KEY_BITS | index``.  ``InboxRows`` is the store-neutral part (what
the next commit writes, which batches are open); ``statements`` and ``loaded`` serve both
stores, ``write`` and ``load`` are SQLite's (PostgreSQL's: store/postgres/journal.py).
"""

from __future__ import annotations

import sqlite3
import sys
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from router.store.packing import pack_bodies, unpack_bodies

KEY_BITS = 20
"""Items per batch at most 2**20 (a hand-over is one carrier read's receipts)."""
INDEX_MASK = (1 << KEY_BITS) - 1
_SWAP = sys.byteorder == "little"

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    batch       INTEGER PRIMARY KEY,
    account     TEXT NOT NULL,
    at          REAL NOT NULL,        -- wall clock of the hand-over (the TTL counts from it)
    bodies      BLOB NOT NULL         -- deliver_sm bodies (pack_bodies)
);
CREATE TABLE IF NOT EXISTS inbox_done (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    last_batch  INTEGER NOT NULL,     -- the highest batch its keys name
    keys        BLOB NOT NULL         -- big-endian int64 keys of items no longer queued
);
"""


@dataclass(slots=True)
class Queued:
    """An item the last run left in the queue."""

    key: int
    account: str
    at: float
    body: bytes


@dataclass(slots=True)
class Pending:
    """What the next commit writes."""

    added: dict[int, tuple[str, float, list[bytes]]] = field(default_factory=dict)
    done: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    prune_below: int | None = None

    def __bool__(self) -> bool:
        return bool(self.added or self.done or self.dropped or self.prune_below is not None)


class InboxRows:
    """Batches open in the queue (items left per batch) and the writes they owe."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self._next = 1
        self._open: dict[int, int] = {}  # batch -> items still queued (batch order)
        self._pruned_below = 0
        self._done_rows_up_to = 0
        """The highest batch a done row written and not pruned yet names (0: none)."""
        self._unwritten: dict[int, tuple[str, float, list[bytes]]] = {}
        """Batches not written yet, oldest first (hand-over order is time order)."""
        self._pending = Pending()
        self._now: list[int] = []
        """Batches the next commit writes whatever their age (``add(waits=False)``)."""

    def resume(self, batches: dict[int, int], last_batch: int, done_up_to: int = 0) -> None:
        """After a restart: the batches still open, the largest batch number used, and
        the highest one the done rows name."""
        self._open = dict(sorted(batches.items()))
        self._next = max(self._next, last_batch + 1)
        self._done_rows_up_to = done_up_to

    def add(self, account: str, at: float, bodies: list[bytes], *, waits: bool = True
            ) -> int:
        """A hand-over of ``bodies``: its first key (the others follow it).  Without
        ``waits`` (nobody bound to take it) the next commit writes it: waiting ``delay``
        could save nothing, and its carrier is answered only once it is written."""
        batch = self._next
        self._next = batch + 1
        self._open[batch] = len(bodies)
        self._unwritten[batch] = (account, at, bodies)  # packed if ever written
        if not waits:
            self._now.append(batch)
        return batch << KEY_BITS

    def done(self, keys: list[int]) -> list[int]:
        """Items that left the queue for good (ESME_ROK, given up, expired, dropped);
        the hand-overs now gone whole (their first keys)."""
        pending = self._pending
        opened = self._open
        still_open: set[int] = set()
        closed: list[int] = []
        # counted per batch in C (an ESME read's answers are mostly of one or two)
        for batch, count in Counter([key >> KEY_BITS for key in keys]).items():
            left = opened.get(batch)
            if left is None:
                continue
            if left > count:
                opened[batch] = left - count
                still_open.add(batch)
                continue
            del opened[batch]
            closed.append(batch << KEY_BITS)
            if self._unwritten.pop(batch, None) is None:  # else it was never written
                pending.dropped.append(batch)
        if still_open:  # a closed batch needs no keys: its row goes whole
            pending.done.extend([key for key in keys if key >> KEY_BITS in still_open])
        return closed

    def unsafe(self, firsts: list[int]) -> list[int]:
        """Those of the hand-overs (``add``'s first keys) a crash now would lose: still
        queued, not written by a commit yet (a failed commit puts its batches back)."""
        opened, unwritten = self._open, self._unwritten
        return [first for first in firsts
                if first >> KEY_BITS in opened and first >> KEY_BITS in unwritten]

    @property
    def dirty(self) -> bool:
        return bool(self._pending) or bool(self._unwritten)

    @property
    def open_batches(self) -> int:
        return len(self._open)

    def take(self, now: float, everything: bool = False) -> Pending:
        """What the commit writes: new rows (those older than ``delay``, or all),
        rows to delete, the answered items of batches still open (a batch written now
        with some items answered gets their keys too), and done rows to prune once
        every batch they name is gone."""
        pending, self._pending = self._pending, Pending()
        opened = self._open
        if self._unwritten:
            self._take_due(pending, now, everything)
        unwritten = self._unwritten  # what stays unwritten after this commit
        if pending.done:
            pending.done = [k for k in pending.done if k >> KEY_BITS in opened]
            if unwritten:  # keys of batches not written yet wait with them
                self._pending.done = [k for k in pending.done if k >> KEY_BITS in unwritten]
                pending.done = [k for k in pending.done if k >> KEY_BITS not in unwritten]
            if pending.done:
                self._done_rows_up_to = max(self._done_rows_up_to,
                                            max(pending.done) >> KEY_BITS)
        if self._done_rows_up_to and pending.dropped:
            floor = next(iter(opened)) if opened else self._next
            if floor > self._pruned_below:
                self._pruned_below = pending.prune_below = floor
                if floor > self._done_rows_up_to:
                    self._done_rows_up_to = 0
        return pending

    def _take_due(self, pending: Pending, now: float, everything: bool) -> None:
        """Batches handed over ``delay`` ago or more (by the wall clock; one from the
        future counts as due) go into this commit, oldest first; the rest wait."""
        unwritten = self._unwritten
        now_too, self._now = self._now, []
        if everything or self.delay <= 0:
            pending.added, self._unwritten = unwritten, {}
            return
        added = pending.added
        for batch, row in unwritten.items():
            if 0.0 <= now - row[1] < self.delay:
                break
            added[batch] = row
        for batch in now_too:
            kept = unwritten.get(batch)
            if kept is not None:
                added[batch] = kept
        for batch in added:
            del unwritten[batch]

    def next_due(self) -> float | None:
        """When the oldest batch not written yet is due (wall clock), if any."""
        for row in self._unwritten.values():
            return row[1] + self.delay
        return None

    def keep(self, pending: Pending) -> None:
        """A commit failed: its writes ride the next one."""
        later = self._pending
        self._unwritten = {**pending.added, **self._unwritten}
        self._now[:0] = pending.added  # they were due: the next commit writes them
        later.done[:0] = pending.done
        later.dropped[:0] = pending.dropped
        if later.prune_below is None:
            later.prune_below = pending.prune_below


def _pack_keys(keys: list[int]) -> bytes:
    packed = array("q", keys)
    if _SWAP:
        packed.byteswap()
    return packed.tobytes()


def _unpack_keys(blob: bytes) -> array[int]:
    keys = array("q", blob)
    if _SWAP:
        keys.byteswap()
    return keys


def write(db: sqlite3.Connection, pending: Pending) -> None:
    """The inbox part of a commit (inside the journal's transaction)."""
    for sql, rows in statements(pending):
        db.executemany(sql, rows)


@dataclass(slots=True)
class Loaded:
    queued: list[Queued]
    """Items still queued, in key order."""
    counts: dict[int, int]
    """Open batches and their items left."""
    last_batch: int
    done_up_to: int
    """The highest batch the done rows name (0: no done rows)."""
    finished: list[int]
    """Batches with nothing left that were never deleted (``clean`` deletes them)."""


def clean(db: sqlite3.Connection, finished: list[int]) -> None:
    if finished:
        db.executemany("DELETE FROM inbox WHERE batch = ?", [(b,) for b in finished])


def load(db: sqlite3.Connection) -> Loaded:
    """The queue as the store has it (reads only)."""
    top = db.execute("SELECT max(batch) FROM inbox").fetchone()[0]
    done_top = db.execute("SELECT max(last_batch) FROM inbox_done").fetchone()[0]
    return loaded((blob for (blob,) in db.execute("SELECT keys FROM inbox_done")),
                  db.execute("SELECT batch, account, at, bodies FROM inbox ORDER BY batch"),
                  top, done_top)


def loaded(done: Iterable[bytes], rows: Iterable[tuple[int, str, float, bytes]],
           top: int | None, done_top: int | None) -> Loaded:
    """The queue from the rows of either store: the done keys, the batches in order, the
    highest batch of each table."""
    gone: set[int] = set()
    for blob in done:
        gone.update(_unpack_keys(blob))
    queued: list[Queued] = []
    counts: dict[int, int] = {}
    finished: list[int] = []
    for batch, account, at, blob in rows:
        first = batch << KEY_BITS
        left = 0
        for index, body in enumerate(unpack_bodies(blob)):
            if first + index not in gone:
                queued.append(Queued(first + index, account, at, body))
                left += 1
        if left:
            counts[batch] = left
        else:
            finished.append(batch)
    done_up_to = done_top or 0
    return Loaded(queued, counts, max(top or 0, done_up_to), done_up_to, finished)


def statements(pending: Pending) -> list[tuple[str, list[tuple[object, ...]]]]:
    """The inbox part of a commit as (SQL with ``?`` placeholders, rows): SQLite runs it
    as it is, PostgreSQL with ``$n`` placeholders."""
    out: list[tuple[str, list[tuple[object, ...]]]] = []
    if pending.added:
        out.append(("INSERT INTO inbox VALUES (?, ?, ?, ?)",
                    [(batch, account, when, pack_bodies(bodies))
                     for batch, (account, when, bodies) in pending.added.items()]))
    if pending.dropped:
        out.append(("DELETE FROM inbox WHERE batch = ?", [(b,) for b in pending.dropped]))
    done = pending.done
    if done:
        out.append(("INSERT INTO inbox_done (last_batch, keys) VALUES (?, ?)",
                    [(max(done) >> KEY_BITS, _pack_keys(done))]))
    if pending.prune_below is not None:
        out.append(("DELETE FROM inbox_done WHERE last_batch < ?", [(pending.prune_below,)]))
    return out
