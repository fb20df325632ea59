"""The registry: accounts, domestic ranges, lockouts and the bind audit, in SQLite (the
registry file) or PostgreSQL (``store.backend: postgres``).

It is the source of truth; YAML only seeds accounts that do not exist yet.  Every write
made by the CLI also appends a row to ``changes`` in the same transaction; a running
router watches ``data_version`` (cheap: SQLite's ``PRAGMA data_version``, PostgreSQL's
one-row counter, see router/store/rows.py) and applies the changes it finds, so
operators change accounts without a restart.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from router.model.accounts import Account, AuditEntry
from router.model.ranges import DomesticRanges, ParsedFile
from router.store.rows import CONFLICTS, RowStore
from router.store.settings import Place
from router.store.sqlite import add_column

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    system_id       TEXT PRIMARY KEY,
    password_hash   TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'active',
    bind_types      TEXT NOT NULL DEFAULT 'tx,rx,trx',
    max_binds       INTEGER NOT NULL DEFAULT 0,
    allowed_ips     TEXT NOT NULL DEFAULT '[]',
    domestic_exempt INTEGER NOT NULL DEFAULT 0,
    status_style    TEXT NOT NULL DEFAULT 'standard',
    demo            INTEGER NOT NULL DEFAULT 0,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    id_lockout      INTEGER NOT NULL DEFAULT 1  -- failed binds lock the system_id too
);
CREATE TABLE IF NOT EXISTS ranges (
    version     TEXT PRIMARY KEY,
    imported_at REAL NOT NULL,
    sources     TEXT NOT NULL,
    countries   TEXT NOT NULL,
    v4          TEXT NOT NULL,
    v6          TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS lockouts (
    key     TEXT PRIMARY KEY,
    until   REAL NOT NULL,
    reason  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bind_audit (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    at             REAL NOT NULL,
    peer           TEXT NOT NULL,
    system_id      TEXT NOT NULL,
    bind_type      TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    reason         TEXT NOT NULL,
    status         INTEGER NOT NULL,
    ranges_version TEXT NOT NULL
);
"""


class RegistryError(Exception):
    """An operator request the registry cannot honour; the message says why."""


def _account(row: Any) -> Account:
    return Account(
        system_id=row["system_id"], password_hash=row["password_hash"],
        status=row["status"], bind_types=tuple(filter(None, row["bind_types"].split(","))),
        max_binds=row["max_binds"], allowed_ips=tuple(json.loads(row["allowed_ips"])),
        domestic_exempt=bool(row["domestic_exempt"]), status_style=row["status_style"],
        demo=bool(row["demo"]), id_lockout=bool(row["id_lockout"]),
        created_at=row["created_at"], updated_at=row["updated_at"])


class Registry(RowStore):
    def __init__(self, path: Place) -> None:
        super().__init__(path, _SCHEMA)
        if self._sqlite is not None:  # a registry from before the column existed
            add_column(self._sqlite, "accounts", "id_lockout", "INTEGER NOT NULL DEFAULT 1")

    # --- accounts -------------------------------------------------------------------

    def add_account(self, account: Account) -> Account:
        now = time.time()
        account = replace(account, created_at=now, updated_at=now)
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT INTO accounts (system_id, password_hash, status, bind_types, "
                    "max_binds, allowed_ips, domestic_exempt, status_style, demo, "
                    "created_at, updated_at, id_lockout) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (account.system_id, account.password_hash, account.status,
                     ",".join(account.bind_types), account.max_binds,
                     json.dumps(list(account.allowed_ips)), int(account.domestic_exempt),
                     account.status_style, int(account.demo), now, now,
                     int(account.id_lockout)))
                self._changed(db, "account", account.system_id)
        except CONFLICTS:
            raise RegistryError(f"account {account.system_id!r} exists already") from None
        return account

    def get_account(self, system_id: str) -> Account | None:
        row = self._db.execute("SELECT * FROM accounts WHERE system_id = ?",
                               (system_id,)).fetchone()
        return _account(row) if row else None

    def accounts(self) -> list[Account]:
        return [_account(r) for r in self._db.execute(
            "SELECT * FROM accounts ORDER BY system_id")]

    def update_account(self, system_id: str, **changes: Any) -> Account:
        current = self.get_account(system_id)
        if current is None:
            raise RegistryError(f"no account {system_id!r}")
        if current.status == "terminated" and changes.get("status", "terminated") != "terminated":
            raise RegistryError(f"account {system_id!r} is terminated; it cannot come back")
        updated = replace(current, updated_at=time.time(), **changes)
        with self._tx() as db:
            db.execute(
                "UPDATE accounts SET password_hash = ?, status = ?, bind_types = ?, "
                "max_binds = ?, allowed_ips = ?, domestic_exempt = ?, status_style = ?, "
                "id_lockout = ?, updated_at = ? WHERE system_id = ?",
                (updated.password_hash, updated.status, ",".join(updated.bind_types),
                 updated.max_binds, json.dumps(list(updated.allowed_ips)),
                 int(updated.domestic_exempt), updated.status_style,
                 int(updated.id_lockout), updated.updated_at, system_id))
            self._changed(db, "account", system_id)
        return updated

    def seed_accounts(self, accounts: Iterable[Account]) -> list[str]:
        """Insert the YAML accounts the registry does not know; returns their ids.  With
        ``--workers`` each worker seeds the shared registry at start: one that lost the
        race for an account finds it there and goes on (it died at start and was
        restarted)."""
        added = []
        for account in accounts:
            if self.get_account(account.system_id) is not None:
                continue
            try:
                self.add_account(account)
            except RegistryError:
                if self.get_account(account.system_id) is None:
                    raise
                continue
            added.append(account.system_id)
        return added

    # --- domestic ranges ------------------------------------------------------------

    def save_ranges(self, files: list[ParsedFile], countries: list[str]) -> str:
        """Store a new version built from ``files``; returns the version label."""
        now = time.time()
        serials = "+".join(f"{f.registry}-{f.serial}" for f in files)
        version = f"{serials}@{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now))}"
        v4 = [iv for f in files for iv in f.v4]
        v6 = [iv for f in files for iv in f.v6]
        with self._tx() as db:
            db.execute("INSERT INTO ranges VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (version) "
                       "DO UPDATE SET imported_at = excluded.imported_at, sources = "
                       "excluded.sources, countries = excluded.countries, v4 = excluded.v4, "
                       "v6 = excluded.v6",
                       (version, now, json.dumps([f.source for f in files]),
                        ",".join(countries), json.dumps(v4), json.dumps(v6)))
            self._changed(db, "ranges", version)
        return version

    def current_ranges(self) -> DomesticRanges | None:
        row = self._db.execute("SELECT version, v4, v6 FROM ranges "
                               "ORDER BY imported_at DESC LIMIT 1").fetchone()
        if row is None:
            return None
        return DomesticRanges.build(row["version"], map(tuple, json.loads(row["v4"])),
                                    map(tuple, json.loads(row["v6"])))

    def ranges_versions(self) -> list[tuple[str, float, str, int, int]]:
        return [(r["version"], r["imported_at"], r["countries"], len(json.loads(r["v4"])),
                 len(json.loads(r["v6"])))
                for r in self._db.execute("SELECT * FROM ranges ORDER BY imported_at")]

    # --- lockouts -------------------------------------------------------------------

    def set_lock(self, key: str, until: float, reason: str) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO lockouts VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE "
                       "SET until = excluded.until, reason = excluded.reason",
                       (key, until, reason))

    def clear_lock(self, key: str) -> bool:
        with self._tx() as db:
            cleared = db.execute("DELETE FROM lockouts WHERE key = ?", (key,)).rowcount > 0
            self._changed(db, "unlock", key)
        return cleared

    def locks(self, now: float) -> dict[str, float]:
        return {r["key"]: r["until"] for r in self._db.execute(
            "SELECT key, until FROM lockouts WHERE until > ?", (now,))}

    # --- audit ----------------------------------------------------------------------

    def audit(self, entries: list[AuditEntry]) -> None:
        with self._tx() as db:
            db.executemany("INSERT INTO bind_audit (at, peer, system_id, bind_type, outcome, "
                           "reason, status, ranges_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           [(e.at, e.peer, e.system_id, e.bind_type, e.outcome, e.reason,
                             e.status, e.ranges_version) for e in entries])

    def audit_log(self, limit: int = 100) -> list[AuditEntry]:
        rows = self._db.execute("SELECT * FROM bind_audit ORDER BY id DESC LIMIT ?", (limit,))
        return [AuditEntry(r["at"], r["peer"], r["system_id"], r["bind_type"], r["outcome"],
                           r["reason"], r["status"], r["ranges_version"]) for r in rows]

    # --- change feed ----------------------------------------------------------------

    def last_change(self) -> int:
        seq: int | None = self._db.execute("SELECT max(seq) FROM changes").fetchone()[0]
        return seq or 0

    def changes_since(self, seq: int) -> list[tuple[int, str, str]]:
        return [(r["seq"], r["kind"], r["key"]) for r in self._db.execute(
            "SELECT seq, kind, key FROM changes WHERE seq > ? ORDER BY seq", (seq,))]
