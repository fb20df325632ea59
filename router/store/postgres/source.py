"""The PostgreSQL journal as the records follower reads it (router/store/records/source.py
is SQLite's): one repeatable-read snapshot per round, compaction behind the cursor."""

from __future__ import annotations

import asyncpg

from router.store.postgres.link import PgLink
from router.store.records.columns import Cursor
from router.store.records.source import LIMIT_DELETE, Snapshot


class PgSource:
    def __init__(self, dsn: str, timeout: float = 5.0) -> None:
        self._link = PgLink(dsn, timeout, name="records-source")

    def close(self) -> None:
        self._link.close()

    def read(self, cursor: Cursor, limit: int) -> Snapshot:
        async def read(conn: asyncpg.Connection) -> Snapshot:
            snap = Snapshot()
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                snap.batches = await conn.fetch(
                    "SELECT first_id, account, received_at, bodies, peer FROM journal "
                    "WHERE first_id > $1 ORDER BY first_id LIMIT $2", cursor.journal, limit)
                snap.refusals = await conn.fetch(
                    "SELECT seq, at, account, entries, peer FROM refusals WHERE seq > $1 "
                    "ORDER BY seq LIMIT $2", cursor.refusals, limit)
                if len(snap.batches) < limit:
                    snap.outcomes = await conn.fetch(
                        "SELECT seq, at, entries, upstream FROM outcomes WHERE seq > $1 "
                        "ORDER BY seq LIMIT $2", cursor.outcomes, limit)
                    snap.receipts = await conn.fetch(
                        "SELECT seq, at, entries FROM receipts WHERE seq > $1 ORDER BY seq "
                        "LIMIT $2", cursor.receipts, limit)
            return snap

        return self._link.call(read)

    def compact(self, cursor: Cursor, older: float) -> int:
        async def compact(conn: asyncpg.Connection) -> int:
            done_below = await conn.fetchval(
                "SELECT coalesce(max(value), 0) FROM marks WHERE name = 'done_below'")
            oldest = await conn.fetchval("SELECT min(received_at) FROM journal "
                                         "WHERE first_id + count > $1", done_below)
            settled = min(older, oldest - 60.0) if oldest is not None else older
            deleted = 0
            for sql, args in (
                    ("DELETE FROM journal WHERE first_id IN (SELECT first_id FROM journal "
                     "WHERE first_id < $1 AND first_id + count <= $2 AND received_at < $3 "
                     "AND first_id < (SELECT max(first_id) FROM journal) LIMIT $4)",
                     (cursor.journal, done_below, older)),
                    ("DELETE FROM outcomes WHERE seq IN (SELECT seq FROM outcomes WHERE "
                     "seq <= $1 AND at < $2 LIMIT $3)", (cursor.outcomes, settled)),
                    ("DELETE FROM receipts WHERE seq IN (SELECT seq FROM receipts WHERE "
                     "seq <= $1 AND at < $2 LIMIT $3)", (cursor.receipts, older)),
                    ("DELETE FROM refusals WHERE seq IN (SELECT seq FROM refusals WHERE "
                     "seq <= $1 AND at < $2 LIMIT $3)", (cursor.refusals, older))):
                while True:
                    status = await conn.execute(sql, *args, LIMIT_DELETE)
                    count = int(status.split()[-1])
                    deleted += count
                    if count < LIMIT_DELETE:
                        break
            return deleted

        return self._link.call(compact)
