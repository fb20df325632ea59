"""The registry, ledger and quarantine stores on PostgreSQL: the few calls they make on a
SQLite connection (``execute``, ``executemany``, ``fetchone``, ``rowcount``), made over a
PgLink, so each store's statements and rules are written once for both backends.

Their statements are the portable subset (``?`` placeholders, upserts spelled
``ON CONFLICT``); ``?`` becomes ``$n`` here.  These stores are not on the ack path: a
statement is a round trip, and a transaction holds the link's lock from BEGIN to COMMIT
so that threads sharing a store cannot interleave statements in it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import asyncpg

from router.store.errors import StoreError
from router.store.postgres.link import PgLink
from router.store.postgres.schema import VERSION, migrate
from router.store.records import months
from router.store.settings import Postgres

_COUNTED = ("INSERT", "UPDATE", "DELETE")


def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1``, ``$2``…"""
    parts = sql.split("?")
    return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], 1)) + parts[-1]


class PgCursor:
    """What a statement answered: its rows (asyncpg Records: by index or by name, as
    sqlite3.Row) and how many rows it changed."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], status: str) -> None:
        self._rows = rows
        words = status.split()
        self.rowcount = int(words[-1]) if words and words[0] in _COUNTED else -1

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


async def _ensure_schema(conn: asyncpg.Connection, schema: str) -> None:
    """``chapar migrate``'s work when it was not run (or an older version was)."""
    table = f"{schema}.schema_version" if schema else "schema_version"
    if await conn.fetchval("SELECT to_regclass($1)", table) is not None:
        version = await conn.fetchval(f"SELECT max(version) FROM {table}")
        if version is not None and version >= VERSION:
            return
    await migrate(conn, months.month_of(time.time()), schema)


class PgRows:
    """One connection (a PgLink of its own) with the face of a SQLite connection."""

    def __init__(self, place: Postgres, name: str) -> None:
        self._link = PgLink(place.dsn, place.timeout, name=name, schema=place.schema)
        self._lock = threading.RLock()
        self._link.call(lambda conn: _ensure_schema(conn, place.schema))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> PgCursor:
        query = numbered(sql)
        reads = sql.lstrip()[:6].upper() in ("SELECT", "WITH") or "RETURNING" in sql.upper()

        async def run(conn: asyncpg.Connection) -> PgCursor:
            if reads:  # asyncpg's cached statements: a round trip
                return PgCursor(await conn.fetch(query, *params), "")
            return PgCursor([], await conn.execute(query, *params))

        with self._lock:
            return self._link.call(run)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> PgCursor:
        query = numbered(sql)
        args = [tuple(row) for row in rows]

        async def run(conn: asyncpg.Connection) -> PgCursor:
            if args:
                await conn.executemany(query, args)
            return PgCursor([], "")

        with self._lock:
            return self._link.call(run)

    @contextmanager
    def transaction(self, write: bool) -> Iterator[PgRows]:
        """BEGIN … COMMIT (ROLLBACK on an exception); reads see one snapshot."""
        begin = "BEGIN" if write else "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        with self._lock:
            self._link.call(lambda conn: conn.execute(begin))
            try:
                yield self
            except BaseException:
                with suppress(StoreError):  # a lost connection took the transaction along
                    self._link.call(lambda conn: conn.execute("ROLLBACK"))
                raise
            self._link.call(lambda conn: conn.execute("COMMIT"))

    def close(self) -> None:
        self._link.close()
