"""The message journal: what makes ESME_ROK a promise.

Design §3.3: one row per accepted read batch (its submit_sm bodies in one blob), and
one row per upstream response batch (the outcomes in one blob).  Rows are written by
``commit()``, which the intake calls once per event-loop turn (group commit); the ESMEs
are answered only after it returns.  Per-message records are derived from these rows
off the ack path, and the rows are enough to rebuild what is still to be sent.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Literal

import orjson
import structlog

from router.model.messages import Outcome
from router.model.wallets import LedgerRow
from router.store import inbox, ledger, quarantine
from router.store import recovery as recovery_rows
from router.store.checkpoints import Checkpoints, hand_over
from router.store.errors import StoreError
from router.store.packing import pack_bodies
from router.store.recovery import Recovery
from router.store.sqlite import add_column

__all__ = ["SqliteJournal", "StoreError"]
Durability = Literal["process", "power"]
_log = structlog.get_logger("chapar.journal")
KEEP_REFUSALS = 10_000  # refusal rows kept in memory while commits fail
RECEIPTS = ("INSERT INTO receipts (at, entries, outcomes) VALUES "
            "(?, ?, (SELECT coalesce(max(seq), 0) FROM outcomes))")
"""A receipts row names the last outcomes row committed with or before it: once the
records follower has folded the outcomes up to there, the outcome of every message the
receipt names is folded (written before or with it), so the receipt folds into rows
still in memory instead of updating them a round later (records/order.py)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    first_id    INTEGER PRIMARY KEY,  -- ids first_id .. first_id + count - 1
    count       INTEGER NOT NULL,
    account     TEXT NOT NULL,
    received_at REAL NOT NULL,        -- wall clock (epoch seconds)
    bodies      BLOB NOT NULL,        -- submit_sm bodies: count, lengths, bodies (pack_bodies)
    peer        TEXT NOT NULL DEFAULT '',  -- the ESME's IP address
    ledger      BLOB                  -- ledger rows of its commit not yet moved (ledger.py)
);
CREATE TABLE IF NOT EXISTS refusals (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          REAL NOT NULL,
    account     TEXT NOT NULL,
    entries     BLOB NOT NULL,        -- JSON [[sequence, source, destination, reason], ...]
    peer        TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS outcomes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          REAL NOT NULL,
    entries     BLOB NOT NULL,        -- JSON [[message_id, status, upstream_id, receipt], ...]
    receipted   BLOB,                 -- JSON [message_id, ...]: final receipt queued (or NULL)
    upstream    TEXT NOT NULL DEFAULT ''  -- the upstream (carrier connector) that answered
);
CREATE TABLE IF NOT EXISTS replaced (
    message_id  INTEGER PRIMARY KEY,  -- a queued message a replace_sm changed
    body        BLOB NOT NULL         -- its submit_sm body now
);
CREATE TABLE IF NOT EXISTS receipts (
    seq         INTEGER PRIMARY KEY,  -- the rowid: append-only
    at          REAL NOT NULL,
    entries     BLOB NOT NULL,        -- JSON [[message_id, stat], ...]: delivery receipts matched
    outcomes    INTEGER               -- the last outcomes seq at its commit (NULL: older rows)
);
CREATE TABLE IF NOT EXISTS marks (
    name        TEXT PRIMARY KEY,
    value       INTEGER NOT NULL      -- done_below: every message id below it is finished
);
"""
def _add_columns(db: sqlite3.Connection) -> None:
    """Journals written before records existed lack the columns records read."""
    for table, column in (("journal", "peer"), ("refusals", "peer"), ("outcomes", "upstream")):
        add_column(db, table, column, "TEXT NOT NULL DEFAULT ''")
    add_column(db, "outcomes", "receipted", "BLOB")  # journals from before the receipt queue
    add_column(db, "receipts", "outcomes", "INTEGER")  # before records folded receipts early
    add_column(db, "journal", "ledger", "BLOB")  # before ledger rows rode the batch rows


def _by_route(at: float, outcomes: list[Outcome], routes: list[tuple[str, int]],
              receipted: list[int]) -> list[tuple[float, bytes, bytes | None, str]]:
    """One outcomes row per run of one upstream's answers (usually one row a commit); the
    ids whose final receipt was queued ride the first row (no statement of their own)."""
    rows: list[tuple[float, bytes, bytes | None, str]] = []
    start = 0
    for upstream, count in routes:
        rows.append((at, orjson.dumps(outcomes[start:start + count]), None, upstream))
        start += count
    if start < len(outcomes) or not rows:  # no route (added before a failed commit)
        rows.append((at, orjson.dumps(outcomes[start:]), None, ""))
    if receipted:
        rows[0] = (at, rows[0][1], orjson.dumps(receipted), rows[0][3])
    return rows


BatchRow = tuple[int, int, str, float, bytes, str, bytes | None]
"""A journal row: first_id, count, account, received_at, bodies, peer, ledger."""
MOVE_EVERY = 0.25
"""Seconds between moves of ledger rows from batch rows into the ``ledger`` table."""


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
            hand_over(self._db)  # checkpoints on a thread, off the event loop
            self._db.executescript(_SCHEMA + quarantine.SCHEMA + ledger.SCHEMA + inbox.SCHEMA)
            _add_columns(self._db)
            quarantine.migrate(self._db)
            self._db.execute("BEGIN IMMEDIATE")  # rows a crash left on batch rows
            ledger.move_rows(self._db)
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open journal {path}: {exc}") from exc
        self._checkpoints = Checkpoints(path, "journal")
        self._batches: list[BatchRow] = []
        self._outcomes: list[Outcome] = []
        self._routes: list[tuple[str, int]] = []
        """(upstream, how many of ``_outcomes`` from here on it answered), in order."""
        self._receipts: list[tuple[int, str]] = []
        self._done_below: int | None = None
        self._refusals: list[tuple[float, str, bytes, str]] = []
        self._held: list[quarantine.HeldRow] = []
        self._settled: list[quarantine.SettleRow] = []
        self._ledger: list[LedgerRow] = []
        self._riding: list[tuple[int, list[LedgerRow]]] = []
        """Ledger rows waiting on batch rows for the next move, by the batch row's
        first_id."""
        self._move_at = 0.0
        """When the next move is due (monotonic seconds)."""
        self._flags: list[quarantine.FlagRow] = []
        self.inbox = inbox.InboxRows()
        """Receipts and MO queued for ESMEs: their rows ride every commit."""
        self._receipted: list[int] = []
        self._replaced: list[tuple[int, bytes]] = []
        self.dropped_refusals = 0
        """Refusal rows given up while commits failed (beyond KEEP_REFUSALS)."""

    def add_batch(self, first_id: int, account: str, bodies: list[bytes], now: float,
                  peer: str = "") -> None:
        self._batches.append((first_id, len(bodies), account, now, pack_bodies(bodies), peer,
                              None))

    def add_held(self, rows: list[quarantine.HeldRow]) -> None:
        """Messages of a batch held in quarantine: their record commits with the batch."""
        self._held.extend(rows)

    def add_settled(self, rows: list[quarantine.SettleRow]) -> None:
        """Parts of long messages settled by the content stage (after their inserts)."""
        self._settled.extend(rows)
    def add_flags(self, rows: list[quarantine.FlagRow]) -> None:
        """Messages of a batch the content filter flagged (sent): commit with the batch."""
        self._flags.extend(rows)

    def add_ledger(self, rows: list[LedgerRow]) -> None:
        """Prepaid ledger rows (one per account and kind a commit): they commit with the
        batches they reserve for, on the commit's last batch row; the ``ledger`` table
        gets them at the next move, every ``MOVE_EVERY`` (an insert into it each commit
        wrote one more page to the WAL: ~15 µs a commit, 6 % of the relay)."""
        self._ledger.extend(rows)

    @property
    def ledger_due(self) -> float | None:
        """Seconds until ledger rows on batch rows are due to move (None: none wait)."""
        return max(0.0, self._move_at - time.monotonic()) if self._riding else None

    def add_replaced(self, message_id: int, body: bytes) -> None:
        """A queued message's new body (replace_sm): a restart sends this one."""
        self._replaced.append((message_id, body))

    def add_outcomes(self, outcomes: list[Outcome], upstream: str = "") -> None:
        routes = self._routes
        if routes and routes[-1][0] == upstream:
            routes[-1] = (upstream, routes[-1][1] + len(outcomes))
        else:
            routes.append((upstream, len(outcomes)))
        self._outcomes.extend(outcomes)

    def add_receipts(self, entries: list[tuple[int, str]]) -> None:
        """Delivery receipts matched to our messages (id, stat): the records follow them."""
        self._receipts.extend(entries)

    def add_receipted(self, message_ids: list[int]) -> None:
        """Messages whose final receipt is queued for the ESME: after a restart a carrier
        repeating it is a duplicate, not a second receipt."""
        self._receipted.extend(message_ids)

    def mark_done_below(self, message_id: int) -> None:
        """Every message below this id has its final outcome: recovery starts here.
        Written with the next commit, together with the outcomes that make it true."""
        self._done_below = message_id

    def add_refusals(self, account: str, entries: list[tuple[int, str, str, str]],
                     now: float, peer: str = "") -> None:
        """Policy refusals of one read batch: (sequence, source, destination, reason)."""
        self._refusals.append((now, account, orjson.dumps(entries), peer))

    @property
    def pending_outcomes(self) -> int:
        """Carrier outcomes waiting for the next commit."""
        return len(self._outcomes)

    @property
    def dirty(self) -> bool:
        return bool(self._batches or self._outcomes or self._refusals or self._settled
                    or self._ledger or self._receipted or self.inbox.dirty or self._replaced
                    or self._receipts
                    or self._done_below is not None
                    or (bool(self._riding) and time.monotonic() >= self._move_at))

    def commit(self, everything: bool = False) -> None:
        """Write everything added since the last commit, in one transaction (receipt
        queue rows younger than their delay wait, unless ``everything``)."""
        batches, self._batches = self._batches, []
        outcomes, self._outcomes = self._outcomes, []
        routes, self._routes = self._routes, []
        receipts, self._receipts = self._receipts, []
        refusals, self._refusals = self._refusals, []
        done_below, self._done_below = self._done_below, None
        held, self._held = self._held, []
        settled, self._settled = self._settled, []
        money, self._ledger = self._ledger, []
        move = self._ride(money, batches, everything)
        flags, self._flags = self._flags, []  # a failed commit refuses their batches
        queued = self.inbox.take(time.time(), everything)
        receipted, self._receipted = self._receipted, []
        replaced, self._replaced = self._replaced, []  # a failed commit refuses these too
        db = self._db
        try:
            db.execute("BEGIN")
            for sql, rows in (("INSERT INTO journal VALUES (?, ?, ?, ?, ?, ?, ?)", batches),
                              (quarantine.INSERT, held), (quarantine.SETTLE, settled),
                              (quarantine.FLAG, flags),
                              ("INSERT OR REPLACE INTO replaced VALUES (?, ?)", replaced)):
                if rows:  # in this order: settlements follow the inserts they change
                    db.executemany(sql, rows)
            if move:
                self._move(money)
            if outcomes or receipted:
                db.executemany("INSERT INTO outcomes (at, entries, receipted, upstream) "
                               "VALUES (?, ?, ?, ?)",
                               _by_route(time.time(), outcomes, routes, receipted))
            if queued:
                inbox.write(db, queued)
            if receipts:
                db.execute(RECEIPTS, (time.time(), orjson.dumps(receipts)))
            if done_below is not None:
                db.execute("INSERT OR REPLACE INTO marks VALUES ('done_below', ?)",
                           (done_below,))
            if refusals:
                db.executemany("INSERT INTO refusals (at, account, entries, peer) "
                               "VALUES (?, ?, ?, ?)", refusals)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            self._keep(outcomes, refusals, done_below)
            self.inbox.keep(queued)  # receipts already handed to ESMEs: rows still owed
            self._receipted[:0] = receipted
            self._routes[:0] = routes
            self._receipts[:0] = receipts
            # reservations belong to the refused batches; settlements stand
            self._ledger[:0] = [row for row in money if row.kind != "reserve"]
            raise StoreError(f"journal commit failed: {exc}") from exc
        if move:
            self._riding = []
            self._move_at = time.monotonic() + MOVE_EVERY
        elif money:
            self._riding.append((batches[-1][0], money))

    def _ride(self, money: list[LedgerRow], batches: list[BatchRow], everything: bool
              ) -> bool:
        """Whether this commit moves the ledger rows into their table; if not, its own
        ride its last batch row."""
        move = bool(self._riding or money) and (
            everything or not batches or time.monotonic() >= self._move_at)
        if money and not move:
            batches[-1] = (*batches[-1][:6], ledger.blob(money))
        return move

    def _move(self, money: list[LedgerRow]) -> None:
        """In the commit's transaction: the rows on batch rows, then this commit's (the
        ledger keeps their order)."""
        if self._riding:
            ledger.move_held(self._db, self._riding)
        if money:
            self._db.executemany(ledger.INSERT, money)

    def _keep(self, outcomes: list[Outcome], refusals: list[tuple[float, str, bytes, str]],
              done_below: int | None) -> None:
        """After a failed commit: what the carriers answered rides the next commit (dropped,
        those messages would be sent again after a restart).  The batches are not kept:
        their submits were refused, so they must never reach a carrier.  Refusal records
        are kept up to KEEP_REFUSALS rows, so a long outage cannot grow memory without
        bound (outcomes are bounded by what was in flight: nothing new is accepted)."""
        self._outcomes[:0] = outcomes
        kept = refusals + self._refusals
        if len(kept) > KEEP_REFUSALS:
            self.dropped_refusals += len(kept) - KEEP_REFUSALS
            kept = kept[-KEEP_REFUSALS:]
        self._refusals = kept
        if self._done_below is None:
            self._done_below = done_below

    def recover(self, receipt_window: float = 3 * 86400.0) -> Recovery:
        """What the last run left (see ``recovery.read``); the receipt queue's counters
        resume where they stood."""
        recovery, loaded = recovery_rows.read(self._db, receipt_window)
        self.inbox.resume(loaded.counts, loaded.last_batch, loaded.done_up_to)
        return recovery

    def first_id(self) -> int:
        """The lowest message id the journal still holds (older rows are compacted)."""
        row = self._db.execute("SELECT min(first_id) FROM journal").fetchone()
        return int(row[0]) if row[0] is not None else 0

    def start_checkpoints(self, interval: float = 0.25) -> None:
        self._checkpoints.start(interval)

    def close(self) -> str | None:
        """Last commit, checkpoint, close.  Never raises: a journal that cannot write
        (disk full) is closed all the same and the reason returned, since everything
        acknowledged is already committed; what is lost is the last outcomes (those
        messages go to a carrier again after a restart)."""
        self._checkpoints.stop()
        problem: str | None = None
        try:
            if self.dirty or self._riding:  # ledger rows on batch rows move too
                self.commit(everything=True)
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except (StoreError, sqlite3.Error) as exc:
            problem = str(exc)
            if self._outcomes:
                problem += (f"; {len(self._outcomes)} carrier outcomes not written (those "
                            "messages go to a carrier again after a restart)")
        finally:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        return problem
