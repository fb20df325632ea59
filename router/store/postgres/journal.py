"""The journal in PostgreSQL: the same group commit as SQLite's, over asyncpg.

One transaction per commit: the read batches by binary COPY (one row per read batch, the
bodies in one blob), the held, settled and flagged messages and the ledger rows of those
batches (with SQLite's statements: store/quarantine.py, store/ledger.py), outcomes,
receipts and refusals as rows, the ``done_below`` mark, the receipt queue's rows
(store/inbox.py), replaced bodies and the ids whose final receipt was queued.
ESME_ROK follows only its return, as with SQLite; when the server is gone the commit
fails at once (ESME_RSYSERR to the ESMEs) and the link reconnects by itself.
"""

from __future__ import annotations

import time

import asyncpg
import orjson

from router.model.messages import Message, Outcome
from router.model.wallets import LedgerRow
from router.store import inbox, ledger, quarantine
from router.store.errors import StoreError
from router.store.journal import RECEIPTS
from router.store.packing import pack_bodies, unpack_bodies
from router.store.postgres.link import PgLink, describe
from router.store.postgres.rows import numbered
from router.store.postgres.schema import migrate
from router.store.records import months
from router.store.recovery import Recovery, wants_receipt

_JOURNAL_COLUMNS = ("first_id", "count", "account", "received_at", "bodies", "peer")


class PgJournal:
    def __init__(self, dsn: str, timeout: float = 5.0, schema: str = "") -> None:
        """``schema``: the router's own (StoreSettings.journal_schema), else the default."""
        try:
            self._link = PgLink(dsn, timeout, name="journal", schema=schema)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            raise StoreError(f"cannot reach the journal {describe(dsn)}: {exc}") from exc
        self.path = describe(dsn) + (f" schema {schema}" if schema else "")
        self._link.call(lambda conn: migrate(conn, months.month_of(time.time()), schema))
        self._batches: list[tuple[int, int, str, float, bytes, str]] = []
        self._outcomes: list[tuple[float, bytes, str]] = []
        self._outcome_count = 0
        self._receipts: list[tuple[int, str]] = []
        self._refusals: list[tuple[float, str, bytes, str]] = []
        self._done_below: int | None = None
        self.inbox = inbox.InboxRows()
        """Receipts and MO queued for ESMEs: their rows ride every commit."""
        self._receipted: list[int] = []
        self._replaced: list[tuple[int, bytes]] = []
        self._held: list[quarantine.HeldRow] = []
        self._settled: list[quarantine.SettleRow] = []
        self._flags: list[quarantine.FlagRow] = []
        self._ledger: list[LedgerRow] = []

    # --- what the intake adds (as SqliteJournal) ------------------------------------

    def add_batch(self, first_id: int, account: str, bodies: list[bytes], now: float,
                  peer: str = "") -> None:
        self._batches.append((first_id, len(bodies), account, now, pack_bodies(bodies), peer))

    def add_outcomes(self, outcomes: list[Outcome], upstream: str = "") -> None:
        self._outcomes.append((time.time(), orjson.dumps(outcomes), upstream))
        self._outcome_count += len(outcomes)

    def add_receipts(self, entries: list[tuple[int, str]]) -> None:
        self._receipts.extend(entries)

    def add_refusals(self, account: str, entries: list[tuple[int, str, str, str]],
                     now: float, peer: str = "") -> None:
        self._refusals.append((now, account, orjson.dumps(entries), peer))

    def mark_done_below(self, message_id: int) -> None:
        self._done_below = message_id

    def add_receipted(self, message_ids: list[int]) -> None:
        self._receipted.extend(message_ids)

    def add_replaced(self, message_id: int, body: bytes) -> None:
        self._replaced.append((message_id, body))

    def add_held(self, rows: list[quarantine.HeldRow]) -> None:
        self._held.extend(rows)

    def add_settled(self, rows: list[quarantine.SettleRow]) -> None:
        self._settled.extend(rows)

    def add_flags(self, rows: list[quarantine.FlagRow]) -> None:
        self._flags.extend(rows)

    def add_ledger(self, rows: list[LedgerRow]) -> None:
        self._ledger.extend(rows)

    @property
    def pending_outcomes(self) -> int:
        return self._outcome_count

    @property
    def ledger_due(self) -> float | None:
        """Ledger rows are inserted with each commit: none wait."""
        return None

    @property
    def dirty(self) -> bool:
        return bool(self._batches or self._outcomes or self._refusals or self._receipts
                    or self._receipted or self._replaced or self.inbox.dirty
                    or self._settled or self._ledger or self._done_below is not None)

    def commit(self, everything: bool = False) -> None:
        queued = self.inbox.take(time.time(), everything)
        receipted, self._receipted = self._receipted, []
        replaced, self._replaced = self._replaced, []
        batches, self._batches = self._batches, []
        outcomes, self._outcomes = self._outcomes, []
        count, self._outcome_count = self._outcome_count, 0
        receipts, self._receipts = self._receipts, []
        refusals, self._refusals = self._refusals, []
        done_below, self._done_below = self._done_below, None
        held, self._held = self._held, []
        settled, self._settled = self._settled, []
        flags, self._flags = self._flags, []  # a failed commit refuses their batches
        money, self._ledger = self._ledger, []
        now = time.time()
        statements = (  # in this order: settlements follow the inserts they change
            (quarantine.INSERT, held), (quarantine.SETTLE, settled), (quarantine.FLAG, flags),
            (ledger.INSERT, money),
            ("INSERT INTO outcomes (at, entries, upstream) VALUES (?, ?, ?)", outcomes),
            (RECEIPTS, [(now, orjson.dumps(receipts))] if receipts else []),
            ("INSERT INTO refusals (at, account, entries, peer) VALUES (?, ?, ?, ?)", refusals),
            ("INSERT INTO marks VALUES ('done_below', ?) ON CONFLICT (name) DO UPDATE SET "
             "value = excluded.value", [] if done_below is None else [(done_below,)]),
            ("INSERT INTO outcomes (at, entries, upstream, receipted) VALUES (?, '[]', '', ?)",
             [(now, orjson.dumps(receipted))] if receipted else []),
            ("INSERT INTO replaced VALUES (?, ?) ON CONFLICT (message_id) DO UPDATE SET "
             "body = excluded.body", replaced),
            *inbox.statements(queued))

        async def write(conn: asyncpg.Connection) -> None:
            async with conn.transaction():
                if batches:
                    await conn.copy_records_to_table("journal", records=batches,
                                                     columns=_JOURNAL_COLUMNS)
                for sql, rows in statements:
                    if rows:
                        await conn.executemany(numbered(sql), rows)

        try:
            self._link.call(write)
        except StoreError:
            # as SqliteJournal: outcomes ride the next commit, the batches were refused
            self._outcomes[:0] = outcomes
            self._outcome_count += count
            self._receipts[:0] = receipts
            self._refusals[:0] = refusals[-10_000:]
            self.inbox.keep(queued)  # receipts already handed to ESMEs: rows still owed
            self._receipted[:0] = receipted
            # reservations belong to the refused batches; settlements stand (as SQLite)
            self._ledger[:0] = [row for row in money if row.kind != "reserve"]
            if self._done_below is None:
                self._done_below = done_below
            raise

    # --- what the last run left -----------------------------------------------------

    def recover(self, receipt_window: float = 3 * 86400.0) -> Recovery:
        """As SqliteJournal.recover: from the done_below mark on, outcomes since the
        oldest of those (a BRIN index on ``at``: appended in time order)."""
        recovery: Recovery = self._link.call(lambda conn: _recover(conn, receipt_window))
        loaded = self._link.call(_load_inbox)
        recovery.inbox = loaded.queued
        self.inbox.resume(loaded.counts, loaded.last_batch, loaded.done_up_to)
        return recovery

    def first_id(self) -> int:
        value = self._link.call(lambda conn: conn.fetchval("SELECT min(first_id) FROM journal"))
        return int(value or 0)

    def start_checkpoints(self) -> None:
        """PostgreSQL checkpoints by itself."""

    def close(self) -> str | None:
        problem = None
        try:
            if self.dirty:
                self.commit()
        except StoreError as exc:
            problem = str(exc)
        self._link.close()
        return problem


async def _load_inbox(conn: asyncpg.Connection) -> inbox.Loaded:
    """The receipt queue the last run left; batches with nothing left deleted."""
    done = [row["keys"] for row in await conn.fetch("SELECT keys FROM inbox_done")]
    rows = [(r["batch"], r["account"], r["at"], r["bodies"]) for r in await conn.fetch(
        "SELECT batch, account, at, bodies FROM inbox ORDER BY batch")]
    top = await conn.fetchval("SELECT max(batch) FROM inbox")
    done_top = await conn.fetchval("SELECT max(last_batch) FROM inbox_done")
    loaded = inbox.loaded(done, rows, top, done_top)
    if loaded.finished:
        await conn.executemany("DELETE FROM inbox WHERE batch = $1",
                               [(b,) for b in loaded.finished])
    return loaded


async def _recover(conn: asyncpg.Connection, receipt_window: float) -> Recovery:
    recovery = Recovery()
    recovery.last_id = int(await conn.fetchval(
        "SELECT coalesce(max(first_id + count - 1), 0) FROM journal"))
    done_below = int(await conn.fetchval(
        "SELECT coalesce(max(value), 0) FROM marks WHERE name = 'done_below'"))
    start = await conn.fetchval("SELECT max(first_id) FROM journal WHERE first_id <= $1",
                                done_below) or done_below
    oldest = await conn.fetchval("SELECT min(received_at) FROM journal WHERE first_id >= $1",
                                 start)
    receipts_since = time.time() - receipt_window
    since = min(receipts_since, oldest - 60.0) if oldest is not None else receipts_since
    finished: set[int] = set()
    wanted: dict[int, str] = {}
    for row in await conn.fetch("SELECT at, entries, receipted FROM outcomes WHERE at >= $1",
                                since):
        for message_id, status, carrier_id, receipt in orjson.loads(row["entries"]):
            finished.add(message_id)
            if row["at"] >= receipts_since and status == 0 and receipt and carrier_id:
                wanted[message_id] = carrier_id
        if row["receipted"] is not None:
            recovery.receipted.extend(orjson.loads(row["receipted"]))
    replaced = {r["message_id"]: r["body"] for r in await conn.fetch(
        "SELECT message_id, body FROM replaced WHERE message_id >= $1", start)}
    low = min(min(wanted, default=start), start)
    low = await conn.fetchval("SELECT max(first_id) FROM journal WHERE first_id <= $1",
                              low) or low
    for row in await conn.fetch("SELECT first_id, account, bodies FROM journal WHERE "
                                "first_id >= $1 ORDER BY first_id", low):
        first_id, account = row["first_id"], row["account"]
        for offset, body in enumerate(unpack_bodies(row["bodies"])):
            message_id = first_id + offset
            if message_id in wanted:
                recovery.delivered_to_carrier.append((wanted[message_id], message_id, account))
            if message_id >= done_below and message_id not in finished:
                body = replaced.get(message_id, body)
                recovery.pending.append(Message(message_id, account, body, 0,
                                                wants_receipt(body)))
    return recovery
