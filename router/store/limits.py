"""Sending limits and quota usage, in the registry (SQLite or PostgreSQL).

``limits`` rows are configuration (``chapar accounts set``, ``chapar lines set``, YAML
seeds): every write appends a ``limits`` change row in the same transaction, and a
running router reloads the whole book (a few rows) within its poll interval.
``usage`` rows are what the router counted against the daily and monthly quotas,
added by its writer thread every few seconds, so a restart keeps the counts.
"""

from __future__ import annotations

from collections.abc import Iterable

from router.model.limits import SCOPES, Limit, LimitBook, is_empty
from router.store.registry import RegistryError
from router.store.rows import RowStore
from router.store.settings import Place

_SCHEMA = """
CREATE TABLE IF NOT EXISTS limits (
    scope    TEXT NOT NULL,            -- account | line | operator (key ACCOUNT/OPERATOR)
    key      TEXT NOT NULL,
    rate     REAL NOT NULL DEFAULT 0,  -- per second; 0 = none
    burst    INTEGER NOT NULL DEFAULT 0,
    daily    INTEGER NOT NULL DEFAULT 0,
    monthly  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, key)
);
CREATE TABLE IF NOT EXISTS usage (
    account  TEXT NOT NULL,
    period   TEXT NOT NULL,            -- d:YYYY-MM-DD or m:YYYY-MM (policy.timezone)
    segments INTEGER NOT NULL,
    PRIMARY KEY (account, period)
);
"""
FIELDS = ("rate", "burst", "daily", "monthly")


class LimitStore(RowStore):
    def __init__(self, path: Place) -> None:
        super().__init__(path, _SCHEMA)

    def get(self, scope: str, key: str) -> Limit:
        row = self._db.execute("SELECT rate, burst, daily, monthly FROM limits "
                               "WHERE scope = ? AND key = ?", (scope, key)).fetchone()
        return Limit(*row) if row else Limit()

    def set_limit(self, scope: str, key: str, **changes: float) -> Limit:
        """Change some fields of one limit (the others stay); 0 clears a field."""
        if scope not in SCOPES:
            raise RegistryError(f"limit scope {scope!r} is not one of {', '.join(SCOPES)}")
        bad = sorted(set(changes) - set(FIELDS))
        if bad or any(v < 0 for v in changes.values()):
            raise RegistryError(f"limits are {', '.join(FIELDS)}, none negative")
        with self._tx() as db:
            row = db.execute("SELECT rate, burst, daily, monthly FROM limits "
                             "WHERE scope = ? AND key = ?", (scope, key)).fetchone()
            values = dict(zip(FIELDS, row or (0.0, 0, 0, 0), strict=True))
            values.update(changes)
            limit = Limit(float(values["rate"]), int(values["burst"]), int(values["daily"]),
                          int(values["monthly"]))
            db.execute("INSERT INTO limits VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (scope, key) "
                       "DO UPDATE SET rate = excluded.rate, burst = excluded.burst, "
                       "daily = excluded.daily, monthly = excluded.monthly",
                       (scope, key, limit.rate, limit.burst, limit.daily, limit.monthly))
            self._changed(db, "limits", f"{scope}:{key}")
        return limit

    def seed(self, rows: Iterable[tuple[str, str, Limit]]) -> int:
        """Limits from YAML for (scope, key) pairs that have none yet; how many added."""
        added = 0
        with self._tx() as db:
            for scope, key, limit in rows:
                if is_empty(limit):
                    continue
                cur = db.execute("INSERT INTO limits VALUES (?, ?, ?, ?, ?, ?) "
                                 "ON CONFLICT DO NOTHING",
                                 (scope, key, float(limit.rate), limit.burst, limit.daily,
                                  limit.monthly))
                added += cur.rowcount
            if added:
                self._changed(db, "limits", "seed")
        return added

    def book(self) -> LimitBook:
        book = LimitBook()
        for scope, key, rate, burst, daily, monthly in self._db.execute(
                "SELECT scope, key, rate, burst, daily, monthly FROM limits"):
            if scope in SCOPES:
                book.by_scope(scope)[key] = Limit(rate, burst, daily, monthly)
        return book

    def add_usage(self, rows: Iterable[tuple[str, str, int]]) -> None:
        """(account, period, segments) counted since the last call."""
        with self._tx() as db:
            db.executemany("INSERT INTO usage VALUES (?, ?, ?) ON CONFLICT (account, period) "
                           "DO UPDATE SET segments = usage.segments + excluded.segments", rows)

    def usage(self, periods: Iterable[str]) -> dict[tuple[str, str], int]:
        wanted = list(periods)
        marks = ",".join("?" * len(wanted))
        if not wanted:
            return {}
        return {(a, p): n for a, p, n in self._db.execute(
            f"SELECT account, period, segments FROM usage WHERE period IN ({marks})", wanted)}
