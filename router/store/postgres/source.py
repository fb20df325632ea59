"""The PostgreSQL journal as the records follower reads it (router/store/records/source.py
is SQLite's): one repeatable-read snapshot per round, compaction behind the cursor."""

from __future__ import annotations

import asyncpg

from router.store.postgres.link import PgLink
from router.store.records.columns import Cursor
from router.store.records.source import (
    DELETES,
    LIMIT_DELETE,
    MARK,
    OLDEST,
    READS,
    Snapshot,
    settled_before,
)


class PgSource:
    def __init__(self, dsn: str, timeout: float = 5.0, schema: str = "") -> None:
        self._link = PgLink(dsn, timeout, name="records-source", schema=schema)

    def close(self) -> None:
        self._link.close()

    def read(self, cursor: Cursor, limit: int) -> Snapshot:
        async def read(conn: asyncpg.Connection) -> Snapshot:
            snap = Snapshot()
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                for name, sql, position in READS:
                    setattr(snap, name, await conn.fetch(sql.format("$1", "$2"),
                                                         getattr(cursor, position), limit))
            return snap

        return self._link.call(read)

    def compact(self, cursor: Cursor, older: float) -> int:
        async def compact(conn: asyncpg.Connection) -> int:
            done_below = await conn.fetchval(MARK) or 0
            oldest = await conn.fetchval(OLDEST.format("$1"), done_below)
            bounds = {"older": older, "settled": settled_before(older, oldest)}
            deleted = 0
            for sql, position, bound in DELETES:
                uses_mark = "{1}" in sql
                numbered = (sql.format("$1", "$2", "$3", "$4", "") if uses_mark
                            else sql.format("$1", "", "$2", "$3"))
                mark: tuple[object, ...] = (done_below,) if uses_mark else ()
                args = (getattr(cursor, position), *mark, bounds[bound], LIMIT_DELETE)
                while True:
                    count = int((await conn.execute(numbered, *args)).split()[-1])
                    deleted += count
                    if count < LIMIT_DELETE:
                        break
            return deleted

        return self._link.call(compact)
