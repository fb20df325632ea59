"""query_sm, cancel_sm and replace_sm reading a message back from the PostgreSQL journal
(router/store/lookup.py reads SQLite's, and says what is read and why).

A link of its own, called from the lookup thread.  The outcome and receipt rows are
found by time (BRIN indexes on ``at``: rows are appended in time order) and by the
message id's bytes in the JSON blob (``position``), as SQLite's ``instr``.
"""

from __future__ import annotations

import asyncpg

from router.store.lookup import (
    MARGIN,
    MAX_OUTCOME_ROWS,
    Finished,
    Record,
    final_receipt,
    first_outcome,
    record_of,
)
from router.store.postgres.link import PgLink
from router.store.settings import Postgres

_FOUND = ("SELECT at, entries FROM {} WHERE at >= $1 AND position($2::bytea IN entries) > 0 "
          f"ORDER BY seq LIMIT {MAX_OUTCOME_ROWS}")


class PgReader:
    def __init__(self, place: Postgres) -> None:
        self._link = PgLink(place.dsn, place.timeout, name="lookup", schema=place.schema)

    def record(self, message_id: int) -> Record | None:
        async def read(conn: asyncpg.Connection) -> Record | None:
            row = await conn.fetchrow(
                "SELECT first_id, count, account, received_at, bodies FROM journal "
                "WHERE first_id <= $1 ORDER BY first_id DESC LIMIT 1", message_id)
            replaced = await conn.fetchval("SELECT body FROM replaced WHERE message_id = $1",
                                           message_id)
            return record_of(message_id, row, replaced)

        return self._link.call(read)

    def outcome(self, message_id: int, since: float) -> Finished | None:
        rows = self._link.call(lambda conn: conn.fetch(
            _FOUND.format("outcomes"), since - MARGIN, b"[%d," % message_id))
        return first_outcome(message_id, rows)

    def receipt(self, message_id: int, since: float) -> Finished | None:
        rows = self._link.call(lambda conn: conn.fetch(
            _FOUND.format("receipts"), since - MARGIN, b"[%d," % message_id))
        return final_receipt(message_id, rows)

    def close(self) -> None:
        self._link.close()
