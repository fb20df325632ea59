"""Records in PostgreSQL: declarative partitions by month (``records`` by message id
range, ``refusals_records`` and ``events`` by month), created ahead; rows by binary COPY,
state changes by one UPDATE over unnest() per round.  The same chains, heads and cursor
as SQLite's, so ``records verify`` and the export read either."""

from __future__ import annotations

import concurrent.futures
import contextlib
import time
from collections.abc import Iterator
from dataclasses import astuple
from typing import Any, TypeVar

import asyncpg

from router.store.errors import StoreError
from router.store.postgres.lines import line_sql
from router.store.postgres.link import PgLink, Work
from router.store.postgres.rows import numbered
from router.store.postgres.schema import migrate, partition_ddl
from router.store.postgres.stream import Copied
from router.store.postgres.text import escape_rows, unescape_rows
from router.store.records import months
from router.store.records.chain import GENESIS, chain, chain_records
from router.store.records.columns import COLUMNS, Cursor, Table
from router.store.records.derive import Row
from router.store.records.fold import State
from router.store.records.sqlite import Head, Step, changes_by_month, group

T = TypeVar("T")
_LIST = ", ".join(COLUMNS)
_SET = """
UPDATE records AS r SET status = coalesce(u.status, r.status),
    upstream = coalesce(u.upstream, r.upstream),
    upstream_id = coalesce(u.upstream_id, r.upstream_id),
    submitted_at = coalesce(u.submitted_at, r.submitted_at),
    done_at = coalesce(u.done_at, r.done_at), charge = r.charge + u.charge
FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::bigint[],
            $7::bigint[]) AS u(status, upstream, upstream_id, submitted_at, done_at, charge, id)
WHERE r.message_id = u.id AND r.message_id >= $8 AND r.message_id < $9
"""
CHUNK = 4096


def _table(table: Table) -> str:
    return "records" if table == "records" else "refusals_records"


def _month_terms(month: str, table: Table) -> str:
    from router.store.postgres.schema import id_floor
    if table == "records":
        return (f"message_id >= {id_floor(month)} AND "
                f"message_id < {id_floor(months.shift(month, 1))}")
    return f"month = '{month}'"


class PgRecords:
    no_time: float | None = None

    def __init__(self, dsn: str, timeout: float = 5.0, schema: str = "") -> None:
        self._link = PgLink(dsn, timeout * 6, name="records", schema=schema)
        self._pending: concurrent.futures.Future[None] | None = None
        self._touched: set[str] = set()
        self._call(lambda conn: migrate(conn, months.month_of(time.time()), schema))
        self._cursors = 0
        self._known: set[str] = set(self.months())

    def close(self) -> None:
        with contextlib.suppress(StoreError):  # the follower retries what was not written
            self.flush()
        self._link.close()

    def months(self) -> list[str]:
        rows = self._call(lambda c: c.fetch("SELECT month FROM heads ORDER BY month"))
        return [r["month"] for r in rows]

    def cursor(self) -> Cursor:
        rows = self._call(lambda c: c.fetch("SELECT name, value FROM cursor"))
        values = {r["name"]: r["value"] for r in rows}
        return Cursor(**{name: values.get(name, 0) for name in Cursor.__slots__})

    def head(self, month: str) -> Head | None:
        row = self._call(lambda c: c.fetchrow(
            "SELECT records, records_hash, refusals, refusals_hash, events, events_hash "
            "FROM heads WHERE month = $1", month))
        return None if row is None else Head(*row)

    def write(self, step: Step) -> None:
        """Submitted, not waited for: the server ingests this round while the follower
        prepares the next (overlapped, ~1.4x the records/s).  The next call waits for it
        first and raises what it met (``flush``): the follower then reads its cursor
        again, since that round and this one are not written."""
        self.flush()
        by_month = group(step.records)
        events: dict[str, list[tuple[float, str, bytes]]] = {}
        for event in step.events:
            events.setdefault(months.month_of(event[0]), []).append(event)
        touched = {m for m, _ in by_month} | set(events)

        async def write(conn: asyncpg.Connection) -> None:
            async with conn.transaction():
                for month in touched - self._known:
                    await conn.execute(partition_ddl(month, GENESIS))
                heads = {m: Head(*await conn.fetchrow(
                    "SELECT records, records_hash, refusals, refusals_hash, events, "
                    "events_hash FROM heads WHERE month = $1 FOR UPDATE", m)) for m in touched}
                for (month, table), rows in by_month.items():
                    await _insert(conn, heads[month], month, table, rows)
                for month, rows_ in events.items():
                    await _insert_events(conn, heads[month], month, rows_)
                for month, head in heads.items():
                    await conn.execute("UPDATE heads SET records = $2, records_hash = $3, "
                                       "refusals = $4, refusals_hash = $5, events = $6, "
                                       "events_hash = $7 WHERE month = $1", month,
                                       *astuple(head))
                await _update(conn, step.changes, self._known | touched)
                await conn.executemany(
                    "INSERT INTO cursor VALUES ($1, $2) ON CONFLICT (name) DO UPDATE "
                    "SET value = $2", list(zip(Cursor.__slots__, astuple(step.cursor),
                                               strict=True)))

        self._pending = self._link.submit(write)
        self._touched = touched

    def _call(self, work: Work[T]) -> T:
        """After the write under way: one operation at a time on the connection."""
        self.flush()
        return self._link.call(work)

    def flush(self) -> None:
        """Wait for the write submitted last; StoreError if it was not written."""
        pending, self._pending = self._pending, None
        if pending is not None:
            self._link.wait(pending)
            self._known |= self._touched

    def drop(self, month: str) -> int:
        head = self.head(month)
        if head is None:
            return 0
        m = months.table_suffix(month)

        async def drop(conn: asyncpg.Connection) -> None:
            async with conn.transaction():
                for table in ("records", "refusals", "events"):
                    await conn.execute(f"DROP TABLE IF EXISTS {table}_{m}")
                await conn.execute("DELETE FROM heads WHERE month = $1", month)

        self._call(drop)
        self._known.discard(month)
        return head.records + head.refusals

    # --- reading -------------------------------------------------------------------

    def count(self, month: str, where: str, args: tuple[object, ...],
              table: Table = "records") -> int:
        sql = (f"SELECT count(*) FROM {_table(table)} WHERE {_month_terms(month, table)}"
               + (f" AND {numbered(where)}" if where else ""))
        return int(self._call(lambda c: c.fetchval(sql, *args)))

    def _rows(self, sql: str, args: tuple[object, ...]) -> Iterator[tuple[object, ...]]:
        for chunk in self._chunks(sql, args):
            yield from (tuple(row) for row in chunk)

    def _chunks(self, sql: str, args: tuple[object, ...]) -> Iterator[list[Any]]:
        """A server-side cursor read in chunks (memory does not grow with the table)."""
        self._cursors += 1
        name = f"chunks_{self._cursors}"  # a FETCH statement per cursor: asyncpg caches
        # a statement with the columns it first described

        async def open_(conn: asyncpg.Connection) -> None:
            await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            await conn.execute(f"DECLARE {name} NO SCROLL CURSOR FOR {sql}", *args)

        async def fetch(conn: asyncpg.Connection) -> list[asyncpg.Record]:
            chunk: list[asyncpg.Record] = await conn.fetch(f"FETCH {CHUNK} FROM {name}",
                                                           timeout=None)
            return chunk

        self._call(open_)
        try:
            while chunk := self._call(fetch):
                yield chunk
        finally:
            self._call(lambda c: c.execute("COMMIT"))

    def select(self, month: str, where: str, args: tuple[object, ...],
               table: Table = "records", columns: str = _LIST) -> Iterator[tuple[object, ...]]:
        """Rows in id order; whole records (``_LIST`` first) with their texts unescaped."""
        rows = self._rows(f"SELECT {columns} FROM {_table(table)} WHERE "
                          f"{_month_terms(month, table)}"
                          + (f" AND {numbered(where)}" if where else "")
                          + " ORDER BY message_id", args)
        return unescape_rows(rows) if columns.startswith(_LIST) else rows

    def chained_rows(self, month: str, table: Table) -> Iterator[tuple[object, ...]]:
        return self.select(month, "", (), table, _LIST + ", hash")

    def events(self, month: str) -> Iterator[tuple[int, float, str, str, bytes]]:
        return self._rows("SELECT seq, at, kind, payload, hash FROM events WHERE "  # type: ignore[return-value]
                          "month = $1 ORDER BY seq", (month,))

    def lines(self, month: str, where: str, args: tuple[object, ...], table: Table,
              fmt: str, redact: bool) -> Copied:
        """Export lines (CSV or JSON, made by PostgreSQL), streamed by COPY."""
        return Copied(self._link, f"SELECT {line_sql(fmt, redact, table == 'refusals')} "
                      f"FROM {_table(table)} WHERE {_month_terms(month, table)}"
                      + (f" AND {numbered(where)}" if where else "") + " ORDER BY message_id",
                      args, fmt)

    def carrier_ids(self, since_id: int, below_id: int) -> list[tuple[str, int, str]]:
        if below_id <= since_id:
            return []
        rows = self._call(lambda c: c.fetch(
            "SELECT upstream_id, message_id, account FROM records WHERE message_id >= $1 "
            "AND message_id < $2 AND status = 'sent' AND receipt = 1", since_id, below_id))
        return [(r["upstream_id"], r["message_id"], r["account"]) for r in rows]


async def _insert(conn: asyncpg.Connection, head: Head, month: str, table: Table,
                  rows: list[tuple[Row, State]]) -> None:
    chained, last = chain_records(getattr(head, f"{table}_hash"), rows)
    data = escape_rows(chained)  # chained as written, stored with NUL escaped
    columns = [*COLUMNS, "hash"]
    if table == "refusals":
        data = [(*row, month) for row in data]
        columns.append("month")
    await conn.copy_records_to_table(_table(table), records=data, columns=columns)
    setattr(head, table, getattr(head, table) + len(rows))
    setattr(head, f"{table}_hash", last)


async def _insert_events(conn: asyncpg.Connection, head: Head, month: str,
                         rows: list[tuple[float, str, bytes]]) -> None:
    first = head.events + 1
    fixed = [(first + i, at, kind, payload.decode()) for i, (at, kind, payload)
             in enumerate(rows)]
    hashes, last = chain(head.events_hash, fixed)
    await conn.copy_records_to_table(
        "events", records=[(month, *row, digest) for row, digest in zip(fixed, hashes,
                                                                       strict=True)],
        columns=["month", "seq", "at", "kind", "payload", "hash"])
    head.events, head.events_hash = first + len(rows) - 1, last


async def _update(conn: asyncpg.Connection, changes: dict[int, State],
                  known: set[str]) -> None:
    from router.store.postgres.schema import id_floor
    for month, rows in changes_by_month(changes, known).items():
        columns = list(zip(*rows, strict=True))
        await conn.execute(_SET, *columns, id_floor(month), id_floor(months.shift(month, 1)))


