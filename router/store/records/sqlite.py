"""Records in SQLite (the embedded default): one file, tables per month.

``records_YYYY_MM`` holds a row per accepted message keyed by its id (ids grow, so the
key order is the order written), ``refusals_YYYY_MM`` the refused submits keyed by their
journal row, ``events_YYYY_MM`` the journal rows the states were folded from.  Each is
hash-chained in key order (a record keeps its link's first 8 bytes, ``chain.short``;
rows written before keep whole links in the same column); ``heads`` keeps each chain's
row count and last hash, and ``cursor`` how far into the journal the records are.  One
transaction writes a step: rows, state changes, events, heads and cursor, so a crash
never writes a row twice or skips one.  Dropping a month is dropping its tables.

No secondary index: each one cost a third of the insert rate (random b-tree pages) and
the lawful export is a rare, offline scan of the months it names.
"""

from __future__ import annotations

import contextlib
import functools
import math
import operator
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from router.store.checkpoints import Checkpoints, hand_over
from router.store.records import months
from router.store.records.chain import GENESIS, chain, chain_records
from router.store.records.columns import COLUMNS, Cursor, Table
from router.store.records.derive import DECISION, MESSAGE_ID, RECEIVED_AT, Row
from router.store.records.fold import State
from router.store.records.sqlite_lines import line_sql, register

_TABLE = """
CREATE TABLE IF NOT EXISTS {table}_{m} (
    message_id INTEGER PRIMARY KEY, received_at REAL NOT NULL,
    account TEXT NOT NULL, peer TEXT NOT NULL, line TEXT NOT NULL, destination TEXT NOT NULL,
    text TEXT NOT NULL, segments INTEGER NOT NULL, part INTEGER NOT NULL,
    receipt INTEGER NOT NULL, decision TEXT NOT NULL, reason TEXT NOT NULL,
    status TEXT, upstream TEXT, upstream_id TEXT, submitted_at REAL, done_at REAL,
    charge INTEGER NOT NULL, hash INTEGER NOT NULL);
"""
_MONTH = _TABLE.replace("{table}", "records") + _TABLE.replace("{table}", "refusals") + """
CREATE TABLE IF NOT EXISTS events_{m} (
    seq INTEGER PRIMARY KEY, at REAL NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL,
    hash BLOB NOT NULL);
INSERT OR IGNORE INTO heads VALUES ('{month}', 0, x'{genesis}', 0, x'{genesis}', 0,
                                    x'{genesis}');
"""
_META = """
CREATE TABLE IF NOT EXISTS heads (
    month TEXT PRIMARY KEY, records INTEGER NOT NULL, records_hash BLOB NOT NULL,
    refusals INTEGER NOT NULL, refusals_hash BLOB NOT NULL,
    events INTEGER NOT NULL, events_hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS cursor (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
RESTART_WAIT = 0.05
"""Seconds a RESTART checkpoint may hold the follower back waiting for a reader."""
_STATE = ("status", "upstream", "upstream_id", "submitted_at", "done_at")
_INSERT = "INSERT INTO {table}_{m} VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"


@dataclass(slots=True)
class Head:
    """A month's chain ends: row counts and last hashes."""

    records: int
    records_hash: bytes
    refusals: int
    refusals_hash: bytes
    events: int
    events_hash: bytes


@dataclass(slots=True)
class Step:
    """What one follower round writes, in one transaction."""

    records: list[tuple[Row, State]] = field(default_factory=list)
    changes: dict[int, State] = field(default_factory=dict)
    """Messages recorded earlier: their state changes (None: unchanged; charge: +)."""
    events: list[tuple[float, str, bytes]] = field(default_factory=list)
    cursor: Cursor = field(default_factory=Cursor)


class Verdict(NamedTuple):
    """What ``chapar records verify`` found in one month."""

    month: str
    rows: int
    """Records whose chain was checked."""
    events: int
    """Status events (outcomes, receipts) whose chain was checked."""
    problem: str = ""
    """Empty when the month is intact; else the first bad row, named."""


def _month_of(record: Row) -> str:
    """An accepted message lives in its id's month (where its changes look for it); a
    refusal in the month it was refused."""
    if record[DECISION] == "accepted":
        return months.month_of_id(record[MESSAGE_ID])
    return months.month_of(record[RECEIVED_AT])


def group(rows: list[tuple[Row, State]]) -> dict[tuple[str, Table], list[tuple[Row, State]]]:
    """Rows by (month, table).  Ids grow, so a month's accepted rows come in one run:
    only a run's first and last are looked at unless the run crosses a month."""
    out: dict[tuple[str, Table], list[tuple[Row, State]]] = {}
    accepted = [row for row in rows if row[0][DECISION] == "accepted"]
    if accepted and _month_of(accepted[0][0]) == _month_of(accepted[-1][0]):
        out[(_month_of(accepted[0][0]), "records")] = accepted
    else:
        for row in accepted:
            out.setdefault((_month_of(row[0]), "records"), []).append(row)
    if len(accepted) < len(rows):
        for row in rows:
            if row[0][DECISION] != "accepted":
                out.setdefault((_month_of(row[0]), "refusals"), []).append(row)
    return out


@functools.cache
def _set(m: str, shape: tuple[bool, ...]) -> tuple[str, Callable[[Any], Any]]:
    """The UPDATE of the state fields ``shape`` names (charge: added), and what picks
    its values from a (*state, id) row."""
    used = [i for i, on in enumerate(shape) if on]
    sets = [f"{_STATE[i]} = ?" if i < len(_STATE) else "charge = charge + ?" for i in used]
    return (f"UPDATE records_{m} SET {', '.join(sets)} WHERE message_id = ?",
            operator.itemgetter(*used, len(shape)))


def changes_by_month(changes: dict[int, State],
                     known: set[str]) -> dict[str, list[tuple[object, ...]]]:
    """(*state, id) rows of the months held, by month.  Ids come in runs of a month, so
    the last month's id range is kept and an id in it costs two comparisons (the
    month of each id by gmtime was a tenth of the follower's time)."""
    by_month: dict[str, list[tuple[object, ...]]] = {}
    low = high = 0
    rows: list[tuple[object, ...]] | None = None
    for message_id, state in changes.items():
        if not low <= message_id < high:
            month = months.month_of_id(message_id)
            low, high = months.first_id(month), months.first_id(months.shift(month, 1))
            rows = by_month.setdefault(month, []) if month in known else None
        if rows is not None:
            rows.append((*state, message_id))
    return by_month


class SqliteRecords:
    """The records file.  One writer (the follower); readers open their own."""

    no_time: float | None = math.nan
    """SQLite stores a NaN bound as NULL.  A None bound costs ~0.14 µs more than a
    float (the sqlite3 module looks for an adapter for it), two a new record: ~5 % of
    the follower."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        self._checkpoints: Checkpoints | None = None
        if readonly:
            self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                                       check_same_thread=False, timeout=10.0)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                       timeout=10.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            hand_over(self._db)  # a round's commit no longer copies and syncs the WAL
            self._db.executescript(_META)
            self._checkpoints = Checkpoints(path, "records", restart_wait=RESTART_WAIT)
            self._checkpoints.start()
        register(self._db)
        self._months: set[str] = set(self.months())
        self._heads: dict[str, Head] = {}

    def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.stop()
            with contextlib.suppress(sqlite3.Error):  # what it can without waiting for
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()  # a reader
        self._db.close()

    def months(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT month FROM heads ORDER BY month")]

    def cursor(self) -> Cursor:
        values = dict(self._db.execute("SELECT name, value FROM cursor").fetchall())
        return Cursor(**{name: values.get(name, 0) for name in Cursor.__slots__})

    def _ensure(self, month: str) -> None:
        if month not in self._months:
            self._db.executescript(_MONTH.format(m=months.table_suffix(month), month=month,
                                                 genesis=GENESIS.hex()))
            self._months.add(month)

    def head(self, month: str) -> Head | None:
        head = self._heads.get(month)
        if head is None and month in self._months:
            row = self._db.execute("SELECT records, records_hash, refusals, refusals_hash, "
                                   "events, events_hash FROM heads WHERE month = ?",
                                   (month,)).fetchone()
            if row is None:
                return None
            head = self._heads[month] = Head(row[0], bytes(row[1]), row[2], bytes(row[3]),
                                             row[4], bytes(row[5]))
        return head

    def _head(self, month: str) -> Head:
        head = self.head(month)
        assert head is not None
        return head

    def write(self, step: Step) -> None:
        """One transaction; on failure nothing of it stays (the follower reads again)."""
        by_month = group(step.records)
        events: dict[str, list[tuple[float, str, bytes]]] = {}
        for event in step.events:
            events.setdefault(months.month_of(event[0]), []).append(event)
        for month in {m for m, _ in by_month} | set(events):
            self._ensure(month)
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            for (month, table), rows in by_month.items():
                self._insert(month, table, rows)
            for month, rows_ in events.items():
                self._insert_events(month, rows_)
            self._update(step.changes)
            db.executemany("INSERT OR REPLACE INTO cursor VALUES (?, ?)",
                           zip(Cursor.__slots__, astuple(step.cursor), strict=True))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            self._heads.clear()  # read again from the file
            raise

    def flush(self) -> None:
        """Nothing: ``write`` returns once written (PostgreSQL's overlaps the next)."""

    def _insert(self, month: str, table: Table, rows: list[tuple[Row, State]]) -> None:
        head = self._head(month)
        stored, last = chain_records(getattr(head, f"{table}_hash"), rows, short_links=True)
        m = months.table_suffix(month)
        self._db.executemany(_INSERT.format(table=table, m=m), stored)
        count = getattr(head, table) + len(rows)
        setattr(head, table, count)
        setattr(head, f"{table}_hash", last)
        self._db.execute(f"UPDATE heads SET {table} = ?, {table}_hash = ? WHERE month = ?",
                         (count, last, month))

    def _insert_events(self, month: str, rows: list[tuple[float, str, bytes]]) -> None:
        head = self._head(month)
        first = head.events + 1
        fixed = [(first + i, at, kind, payload.decode()) for i, (at, kind, payload)
                 in enumerate(rows)]
        hashes, last = chain(head.events_hash, fixed)
        self._db.executemany(f"INSERT INTO events_{months.table_suffix(month)} VALUES "
                             "(?, ?, ?, ?, ?)",
                             [(*row, digest) for row, digest in zip(fixed, hashes, strict=True)])
        head.events, head.events_hash = first + len(rows) - 1, last
        self._db.execute("UPDATE heads SET events = ?, events_hash = ? WHERE month = ?",
                         (head.events, last, month))

    def _update(self, changes: dict[int, State]) -> None:
        """One UPDATE per shape of change (the fields it sets): a receipt binds status
        and done_at, not seven values through coalesce (~20 % of the UPDATE)."""
        for month, rows in changes_by_month(changes, self._months).items():
            shapes: dict[tuple[bool, ...], list[tuple[object, ...]]] = {}
            for row in rows:
                shape = (row[0] is not None, row[1] is not None, row[2] is not None,
                         row[3] is not None, row[4] is not None, row[5] != 0)
                same = shapes.get(shape)
                if same is None:
                    same = shapes[shape] = []
                same.append(row)
            for used, alike in shapes.items():
                if any(used):  # else: nothing changes
                    sql, pick = _set(months.table_suffix(month), used)
                    self._db.executemany(sql, map(pick, alike))

    def drop(self, month: str) -> int:
        """Drop a month's partition; the rows it held."""
        if month not in self._months:
            return 0
        m = months.table_suffix(month)
        head = self._head(month)
        self._db.execute("BEGIN IMMEDIATE")
        for table in ("records", "refusals", "events"):
            self._db.execute(f"DROP TABLE {table}_{m}")
        self._db.execute("DELETE FROM heads WHERE month = ?", (month,))
        self._db.execute("COMMIT")
        self._months.discard(month)
        self._heads.pop(month, None)
        return head.records + head.refusals

    # --- reading -------------------------------------------------------------------

    def select(self, month: str, where: str, args: tuple[object, ...],
               table: Table = "records",
               columns: str = ", ".join(COLUMNS)) -> Iterator[tuple[object, ...]]:
        """Rows of one month's table matching ``where`` (built from fixed column names)."""
        if month not in self._months:
            return iter(())
        sql = f"SELECT {columns} FROM {table}_{months.table_suffix(month)}"
        if where:
            sql += " WHERE " + where
        return self._db.execute(sql + " ORDER BY message_id", args)

    def lines(self, month: str, where: str, args: tuple[object, ...], table: Table,
              fmt: str, redact: bool) -> sqlite3.Cursor:
        """Export lines (CSV or JSON, made by SQLite) with their received_at."""
        return self._db.execute(
            f"SELECT {line_sql(fmt, redact, table == 'refusals')} FROM "
            f"{table}_{months.table_suffix(month)}"
            + (f" WHERE {where}" if where else "") + " ORDER BY message_id", args)

    def count(self, month: str, where: str, args: tuple[object, ...],
              table: Table = "records") -> int:
        if month not in self._months:
            return 0
        sql = f"SELECT count(*) FROM {table}_{months.table_suffix(month)}"
        row = self._db.execute(sql + (" WHERE " + where if where else ""), args).fetchone()
        return int(row[0])

    def chained_rows(self, month: str, table: Table) -> Iterator[tuple[object, ...]]:
        """(the chained columns..., state columns..., hash) in chain order."""
        return self._db.execute(f"SELECT * FROM {table}_{months.table_suffix(month)} "
                                "ORDER BY message_id")

    def events(self, month: str) -> Iterator[tuple[int, float, str, str, bytes]]:
        return self._db.execute(f"SELECT seq, at, kind, payload, hash FROM "
                                f"events_{months.table_suffix(month)} ORDER BY seq")

    def carrier_ids(self, since_id: int, below_id: int) -> list[tuple[str, int, str]]:
        """(carrier id, our id, account) of sent messages awaiting a receipt with ids in
        [since_id, below_id): what a restart must still match receipts for once the
        journal rows that said so are compacted away."""
        out: list[tuple[str, int, str]] = []
        if below_id <= since_id:
            return out
        for month in months.between(months.month_of_id(since_id),
                                    months.month_of_id(below_id - 1)):
            for carrier_id, message_id, account in self.select(
                    month, "message_id >= ? AND message_id < ? AND status = 'sent' "
                    "AND receipt = 1", (since_id, below_id),
                    columns="upstream_id, message_id, account"):
                out.append((str(carrier_id), int(message_id), str(account)))  # type: ignore[call-overload]
        return out
