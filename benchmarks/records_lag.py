"""How far the records follower is behind the relay: messages journalled, and of those
recorded (in batches at or below the follower's cursor), read from the journal and the
records store a running router writes (SQLite files read-only, or its PostgreSQL).

relay.py takes one reading as 4x64 starts and one as it ends: the records written per
second during the phase beside the relay's msg/s, the backlog (messages not recorded)
at its end, and (read every 0.1 s while 1x1 runs) how long after it the follower had
recorded everything journalled by then.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JOURNALLED = ("SELECT coalesce(sum(count), 0), "
              "coalesce(sum(CASE WHEN first_id <= {0} THEN count ELSE 0 END), 0) FROM journal")
CURSOR = "SELECT value FROM cursor WHERE name = 'journal'"


@dataclass(frozen=True, slots=True)
class Reading:
    at: float
    journalled: int
    recorded: int

    @property
    def backlog(self) -> int:
        return self.journalled - self.recorded


def _sqlite(journal: str, records: str) -> tuple[int, int]:
    def ro(path: str) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)

    try:
        db = ro(records)
        try:
            row = db.execute(CURSOR).fetchone()
        finally:
            db.close()
    except sqlite3.OperationalError:  # no records file or table yet
        row = None
    db = ro(journal)
    try:
        journalled, recorded = db.execute(JOURNALLED.format("?"),
                                          (row[0] if row else 0,)).fetchone()
    finally:
        db.close()
    return int(journalled), int(recorded)


def _postgres(dsn: str) -> tuple[int, int]:
    import asyncpg

    async def read() -> tuple[int, int]:
        conn = await asyncpg.connect(dsn)
        try:
            cursor = await conn.fetchval(CURSOR) or 0
            row = await conn.fetchrow(JOURNALLED.format("$1"), cursor)
            return int(row[0]), int(row[1])
        finally:
            await conn.close()

    return asyncio.run(read())


def _worker_path(path: str, index: int) -> str:
    """``chapar run --workers``' file of worker ``index`` (router/store/settings.py)."""
    base = Path(path)
    return str(base.with_name(f"{base.stem}.w{index}{base.suffix}"))


def reading(config: dict[str, Any], workers: int = 0) -> Reading | None:
    """Where the follower of the router run with ``config`` is (with ``workers`` > 1: the
    sum over every worker's journal and records); None when it cannot be read (a
    revision without records, a store not there yet, workers on PostgreSQL)."""
    store = config.get("store", {})
    try:
        if store.get("backend") == "postgres":
            if workers > 1:
                return None
            journalled, recorded = _postgres(store["dsn"])
        elif "records" in config:
            pairs = [(store["path"], config["records"]["path"])] if workers < 2 else [
                (_worker_path(store["path"], i), _worker_path(config["records"]["path"], i))
                for i in range(workers)]
            counts = [_sqlite(journal, records) for journal, records in pairs]
            journalled, recorded = sum(c[0] for c in counts), sum(c[1] for c in counts)
        else:
            return None
    except Exception:  # a figure missing, never a failed benchmark
        return None
    return Reading(time.monotonic(), journalled, recorded)


def recorded(config: dict[str, Any], count: int, bound_s: float = 60.0,
             workers: int = 0) -> Reading | None:
    """Readings every 0.1 s until ``count`` messages are recorded (or ``bound_s``): the
    first that says so, else None."""
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        last = reading(config, workers)
        if last is None or last.recorded >= count:
            return last
        time.sleep(0.1)
    return None
