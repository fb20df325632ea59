"""The prepaid ledger: append-only rows beside the journal (its SQLite file, or its
PostgreSQL database), so a batch's reservation commits with the batch itself (one row
per account a group commit, design §3.3).

On SQLite a commit's rows ride its last batch row (``blob``) and move into the
``ledger`` table in bulk: every quarter second by the journal, from memory and merged
(``move_held``), and before anyone reads the ledger or after a crash, from the batch
rows (``move_rows``).  A row of its own in each group commit wrote one more WAL page a
commit, the largest cost of billing in the relay.  What rides a batch row is as durable as the
batch; the ``moved`` mark says which batch rows have been moved.

The balance of an account is the sum of its rows' amounts.  The router appends
reserve / commit / refund rows through the journal's group commit; ``chapar billing
topup`` appends topup rows from another process, which the running router picks up
(``Ledger.topups_since``: a partial index holds only the topup rows, so the commit path
maintains no index).
"""

from __future__ import annotations

import csv
import io
import sqlite3
import time

import orjson

from router.model.wallets import LedgerRow, expand
from router.store.rows import Rows, RowStore
from router.store.settings import Place
from router.store.sqlite import columns

SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    seq      INTEGER PRIMARY KEY,  -- the rowid: append-only, so it only grows
    at       REAL NOT NULL,
    account  TEXT NOT NULL,
    kind     TEXT NOT NULL,     -- topup | reserve | commit | refund
    amount   INTEGER NOT NULL,  -- added to the balance
    note     TEXT NOT NULL,
    entries  BLOB NOT NULL      -- JSON [[message_id, amount] or [first_id, amount, count], ...]
);
CREATE INDEX IF NOT EXISTS ledger_topups ON ledger (seq) WHERE kind = 'topup';
CREATE TABLE IF NOT EXISTS ledger_marks (
    name TEXT PRIMARY KEY,  -- settled: every reservation in rows up to seq is closed;
    seq  INTEGER NOT NULL   -- summed: ledger_sums holds the sums of rows up to seq
);
CREATE TABLE IF NOT EXISTS ledger_sums (account TEXT PRIMARY KEY, amount INTEGER NOT NULL);
"""
SUM_AGAIN = 100_000
"""Rows past the ``summed`` mark that make ``balances`` move it (and its sums) up."""
INSERT = ("INSERT INTO ledger (at, account, kind, amount, note, entries) "
          "VALUES (?, ?, ?, ?, ?, ?)")
MOVE = ("INSERT INTO ledger (at, account, kind, amount, note, entries) "
        "SELECT row ->> 0, row ->> 1, row ->> 2, row ->> 3, row ->> 4, "
        "CAST(row -> 5 AS BLOB) FROM (SELECT r.value AS row FROM journal AS j, "
        "json_each(j.ledger) AS r WHERE j.first_id > ? AND j.ledger IS NOT NULL "
        "ORDER BY j.first_id, r.key)")
"""The rows on batch rows above the ``moved`` mark, in their order (SQLite)."""


def blob(rows: list[LedgerRow]) -> bytes:
    """A commit's rows as they ride its last batch row (SQLite): JSON
    ``[[at, account, kind, amount, note, entries], ...]``."""
    return orjson.dumps([(*row[:5], orjson.Fragment(row.entries)) for row in rows])


def move_held(db: sqlite3.Connection, held: list[tuple[int, list[LedgerRow]]]) -> None:
    """``move_rows`` by the journal that put them there and still holds them (the batch
    row's first_id, its rows), merged (``merged``), those a reader moved meanwhile left
    out."""
    moved = Ledger.mark(db, "moved")
    db.executemany(INSERT, merged([row for first, rows in held if first > moved
                                   for row in rows]))
    if held[-1][0] > moved:
        Ledger.set_mark(db, "moved", held[-1][0])


KINDS = {"reserve": 0, "refund": 1, "commit": 2}


def merged(rows: list[LedgerRow]) -> list[LedgerRow]:
    """A move's rows, one per account, kind and note (~3 µs a row inserted; a quarter
    second of the relay is ~2,000 rows): reserves first, since each settlement in the
    move closes a reservation of it or of an earlier row; each takes its first row's
    time."""
    groups: dict[tuple[int, str, str, str], list[LedgerRow]] = {}
    for row in rows:
        key = (KINDS.get(row.kind, len(KINDS)), row.kind, row.account, row.note)
        group = groups.get(key)
        if group is None:
            groups[key] = [row]
        else:
            group.append(row)
    return [group[0] if len(group) == 1 else LedgerRow(
                group[0].at, account, kind, sum(row.amount for row in group), note,
                b"[" + b",".join(row.entries[1:-1] for row in group if row.entries != b"[]")
                + b"]")
            for (_, kind, account, note), group in sorted(groups.items(),
                                                          key=lambda item: item[0][0])]


def move_rows(db: sqlite3.Connection) -> None:
    """In the caller's write transaction: the rows on batch rows above the ``moved``
    mark into the ledger table, and the mark up to the last of them."""
    moved = Ledger.mark(db, "moved")
    top = db.execute("SELECT max(first_id) FROM journal WHERE first_id > ? "
                     "AND ledger IS NOT NULL", (moved,)).fetchone()[0]
    if top is not None:
        db.execute(MOVE, (moved,))
        Ledger.set_mark(db, "moved", top)


class Ledger(RowStore):
    """A connection of its own to the journal's store (the CLI, and the router's reads).
    Sums are turned into ints: PostgreSQL's sum of BIGINTs is a NUMERIC."""

    def __init__(self, path: Place) -> None:
        super().__init__(path, SCHEMA)
        self._beside_journal = False
        """SQLite beside a journal: rows on its batch rows are moved before a read."""

    def _move(self) -> None:
        """A running router's rows not moved yet, or those a crash left, into the table
        (a write: the router's commits wait for it a moment)."""
        db = self._sqlite
        if db is None:
            return
        if not self._beside_journal:  # the journal may come after this store
            self._beside_journal = "ledger" in columns(db, "journal")
            if not self._beside_journal:
                return
        with self._tx():
            move_rows(db)

    def balances(self) -> tuple[dict[str, int], int]:
        """Every account's balance, and the last topup seq seen (one read): the sums
        kept up to the ``summed`` mark plus the rows after it.  With ``SUM_AGAIN`` rows
        after it, the sums and the mark move up, so a start sums what came since the
        last, not the ledger's whole life (~0.2 s a million rows).  Rows only ever come
        after the last (one writer at a time: the journal's commit, or a topup under
        its lock), so the rows up to any seq seen are all there."""
        self._move()
        with self._read() as db:
            summed = self.mark(db, "summed")
            sums = {a: int(n) for a, n in db.execute("SELECT account, amount FROM ledger_sums")}
            newest = summed
            for account, amount, top in db.execute(
                    "SELECT account, SUM(amount), max(seq) FROM ledger WHERE seq > ? "
                    "GROUP BY account", (summed,)):
                sums[account] = sums.get(account, 0) + int(amount)
                newest = max(newest, int(top))
            last = db.execute("SELECT max(seq) FROM ledger WHERE kind = 'topup'").fetchone()
        if newest - summed >= SUM_AGAIN:
            self._sum_up(summed, newest, sums)
        return sums, last[0] or 0

    def _sum_up(self, summed: int, newest: int, sums: dict[str, int]) -> None:
        """``sums`` (of the rows up to ``newest``) kept, unless another process moved
        the mark meanwhile."""
        with self._tx() as db:
            if self.mark(db, "summed") != summed:
                return
            db.execute("DELETE FROM ledger_sums")
            db.executemany("INSERT INTO ledger_sums VALUES (?, ?)", list(sums.items()))
            self.set_mark(db, "summed", newest)

    def open_reservations(self) -> dict[int, tuple[str, int]]:
        """Reservations no commit or refund row closed yet (message id -> account,
        cost): what a restart must still settle.  One pass over the money rows after
        the ``settled`` mark, which it then moves up to just below the oldest row still
        holding an open reservation: a start reads what the last start left open and
        what came since, not every row of the ledger's life (a million money rows took
        seconds; a busy month holds hundreds of millions).  Called when no money rows
        are being written (a start)."""
        self._move()
        found: dict[int, tuple[str, int, int]] = {}
        with self._read() as db:
            settled = self.mark(db, "settled")
            last = settled
            for seq, account, kind, entries in db.execute(
                    "SELECT seq, account, kind, entries FROM ledger WHERE kind != 'topup' "
                    "AND seq > ? ORDER BY seq", (settled,)):
                last = seq
                if kind == "reserve":
                    found.update((i, (account, -amount, seq))
                                 for i, amount in expand(orjson.loads(entries)))
                else:
                    for message_id, _ in expand(orjson.loads(entries)):
                        found.pop(message_id, None)
        mark = min(seq for _, _, seq in found.values()) - 1 if found else last
        if mark > settled:
            with self._tx() as db:
                self.set_mark(db, "settled", mark)
        return {i: (account, cost) for i, (account, cost, _) in found.items()}

    @staticmethod
    def mark(db: Rows, name: str) -> int:
        row = db.execute("SELECT seq FROM ledger_marks WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row is not None else 0

    @staticmethod
    def set_mark(db: Rows, name: str, seq: int) -> None:
        db.execute("INSERT INTO ledger_marks VALUES (?, ?) ON CONFLICT (name) DO UPDATE "
                   "SET seq = excluded.seq", (name, seq))

    def balance(self, account: str) -> int:
        """The kept sum up to the ``summed`` mark plus the account's rows after it."""
        self._move()
        with self._read() as db:
            summed = self.mark(db, "summed")
            kept = db.execute("SELECT amount FROM ledger_sums WHERE account = ?",
                              (account,)).fetchone()
            row = db.execute("SELECT SUM(amount) FROM ledger WHERE account = ? AND seq > ?",
                             (account, summed)).fetchone()
        return int(kept[0] if kept is not None else 0) + int(row[0] or 0)

    def topup(self, account: str, amount: int, note: str = "") -> int:
        """One topup row.  PostgreSQL: under a lock on the ledger that writers of rows
        wait for (and it for them), so topups commit in the order of their seqs and the
        router, reading those above the last it saw, misses none (SQLite has one writer
        at a time anyway).  Topups are rare; a commit waits for one at most a moment."""
        with self._tx() as db:
            if self._sqlite is None:
                db.execute("LOCK TABLE ledger IN SHARE ROW EXCLUSIVE MODE")
            db.execute(INSERT, LedgerRow(time.time(), account, "topup", amount, note, b"[]"))
        return self.balance(account)

    def topups_since(self, seq: int) -> list[tuple[int, str, int]]:
        return [(r[0], r[1], r[2]) for r in self._db.execute(
            "SELECT seq, account, amount FROM ledger WHERE kind = 'topup' AND seq > ? "
            "ORDER BY seq", (seq,))]

    def rows(self, account: str, since: float = 0.0, until: float = float("inf"),
             limit: int = -1) -> list[tuple[int, float, str, int, str, list[tuple[int, int]]]]:
        """Entries as (message id, amount) pairs, runs spelled out."""
        self._move()
        most = f" LIMIT {int(limit)}" if limit >= 0 else ""
        return [(seq, at, kind, amount, note, expand(orjson.loads(entries)))
                for seq, at, kind, amount, note, entries in self._db.execute(
                    "SELECT seq, at, kind, amount, note, entries FROM ledger "
                    f"WHERE account = ? AND at >= ? AND at < ? ORDER BY seq{most}",
                    (account, since, until))]

    def sum_before(self, account: str, since: float) -> int:
        self._move()
        row = self._db.execute("SELECT SUM(amount) FROM ledger WHERE account = ? AND "
                               "at < ?", (account, since)).fetchone()
        return int(row[0] or 0)


def retired_sums(places: list[Place]) -> dict[str, int]:
    """Every account's sum over the ledgers of journals a change of worker layout left
    behind (StoreSettings.retired): their charges still count for the new layout."""
    sums: dict[str, int] = {}
    for place in places:
        with Ledger(place) as ledger:
            for account, amount in ledger.balances()[0].items():
                sums[account] = sums.get(account, 0) + amount
    return sums


def statement(ledgers: list[Ledger], account: str, since: float, until: float) -> str:
    """CSV, one line per message step: time, kind, message id, amount, balance; over
    every ledger of the account (a router's, or each worker's of ``--workers``) in time
    order."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["at", "kind", "message_id", "amount", "balance"])
    balance = sum(ledger.sum_before(account, since) for ledger in ledgers)
    writer.writerow([_iso(since), "opening", "", "", balance])
    rows = [row for ledger in ledgers for row in ledger.rows(account, since, until)]
    for _, at, kind, amount, note, entries in sorted(rows, key=lambda row: row[1]):
        if kind == "topup":
            balance += amount
            writer.writerow([_iso(at), f"topup {note}".strip(), "", amount, balance])
        for message_id, part in entries:
            balance += part
            writer.writerow([_iso(at), kind, f"{message_id:x}", part, balance])
    return out.getvalue()


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at))
