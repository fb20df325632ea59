"""API keys in the registry (SQLite or PostgreSQL) (``chapar accounts api-key``); every write
appends an ``api_key`` change row, so a running router reloads its keys within its
poll interval (a revoked key stops working within a second)."""

from __future__ import annotations

import time

from router.model.apikeys import ApiKey, new_key
from router.store.registry import RegistryError
from router.store.rows import RowStore
from router.store.settings import Place

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id     TEXT PRIMARY KEY,
    system_id  TEXT NOT NULL,
    digest     BLOB NOT NULL,            -- SHA-256 of the secret; the key itself is not kept
    created_at REAL NOT NULL,
    note       TEXT NOT NULL DEFAULT '',
    revoked_at REAL
);
"""
_COLUMNS = "key_id, system_id, digest, created_at, note, revoked_at"


class ApiKeyStore(RowStore):
    def __init__(self, path: Place) -> None:
        super().__init__(path, _SCHEMA)

    def add(self, system_id: str, note: str = "") -> tuple[ApiKey, str]:
        """A new key of an existing account, and the whole key (shown once)."""
        key_id, whole, digest = new_key()
        key = ApiKey(key_id, system_id, digest, time.time(), note)
        with self._tx() as db:
            if not self._account_exists(db, system_id):
                raise RegistryError(f"no account {system_id!r}")
            db.execute(f"INSERT INTO api_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL)",
                       (key_id, system_id, digest, key.created_at, note))
            self._changed(db, "api_key", key_id)
        return key, whole

    def keys(self, system_id: str | None = None) -> list[ApiKey]:
        where, args = ("WHERE system_id = ?", (system_id,)) if system_id else ("", ())
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM api_keys {where} "
                                "ORDER BY created_at", args).fetchall()
        return [ApiKey(r[0], r[1], bytes(r[2]), r[3], r[4], r[5]) for r in rows]

    def revoke(self, key_id: str) -> ApiKey:
        with self._tx() as db:
            done = db.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND "
                              "revoked_at IS NULL", (time.time(), key_id)).rowcount
            if not done:
                known = db.execute("SELECT 1 FROM api_keys WHERE key_id = ?",
                                   (key_id,)).fetchone()
                raise RegistryError(f"key {key_id!r} is revoked already" if known
                                    else f"no key {key_id!r}")
            self._changed(db, "api_key", key_id)
        return next(k for k in self.keys() if k.key_id == key_id)
