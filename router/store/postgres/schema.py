"""The PostgreSQL schema, created or upgraded by ``chapar migrate`` (and at start).

Journal tables mirror SQLite's; the records are declarative partitions by month of their
key (a message id carries its time: ms << 16), created ahead of the month that needs them.
The registry's tables (accounts, lines, lists, limits, keys) and the ledger and
quarantine beside the journal mirror their SQLite files', column for column and in the
same order (the stores' statements are shared: router/store/postgres/rows.py).
"""

from __future__ import annotations

import asyncpg

from router.store.postgres.text import ESC
from router.store.records import months

VERSION = 3
"""1: journal and records; 2: registry, ledger, quarantine and flags; 3: a record's text
keeps U+0000 escaped (``postgres/text.py``), so a U+FFFF already held is escaped too."""
ESCAPE_ESC = f"""
UPDATE records SET text = replace(text, '{ESC}', '{ESC}{ESC}') WHERE strpos(text, '{ESC}') > 0;
"""
"""Version 3 over an older schema: texts written before held U+FFFF bare (and no NUL,
which could not be written)."""
JOURNAL = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS journal (
    first_id BIGINT PRIMARY KEY, count INTEGER NOT NULL, account TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL, bodies BYTEA NOT NULL, peer TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS refusals (
    seq BIGSERIAL PRIMARY KEY, at DOUBLE PRECISION NOT NULL, account TEXT NOT NULL,
    entries BYTEA NOT NULL, peer TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outcomes (
    seq BIGSERIAL PRIMARY KEY, at DOUBLE PRECISION NOT NULL, entries BYTEA NOT NULL,
    upstream TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS outcomes_at ON outcomes USING brin (at);
CREATE TABLE IF NOT EXISTS receipts (
    seq BIGSERIAL PRIMARY KEY, at DOUBLE PRECISION NOT NULL, entries BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS marks (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
ALTER TABLE outcomes ADD COLUMN IF NOT EXISTS receipted BYTEA;
ALTER TABLE receipts ADD COLUMN IF NOT EXISTS outcomes BIGINT;
CREATE TABLE IF NOT EXISTS replaced (message_id BIGINT PRIMARY KEY, body BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS inbox (
    batch BIGINT PRIMARY KEY, account TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
    bodies BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS inbox_done (
    seq BIGSERIAL PRIMARY KEY, last_batch BIGINT NOT NULL, keys BYTEA NOT NULL);
CREATE INDEX IF NOT EXISTS receipts_at ON receipts USING brin (at);
"""
MONEY = """
CREATE TABLE IF NOT EXISTS ledger (
    seq BIGSERIAL PRIMARY KEY, at DOUBLE PRECISION NOT NULL, account TEXT NOT NULL,
    kind TEXT NOT NULL, amount BIGINT NOT NULL, note TEXT NOT NULL, entries BYTEA NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_topups ON ledger (seq) WHERE kind = 'topup';
CREATE TABLE IF NOT EXISTS ledger_marks (name TEXT PRIMARY KEY, seq BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_sums (account TEXT PRIMARY KEY, amount BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine (
    message_id BIGINT PRIMARY KEY, account TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
    category TEXT NOT NULL, reason TEXT NOT NULL, body BYTEA NOT NULL,
    state TEXT NOT NULL DEFAULT 'held', decided_at DOUBLE PRECISION,
    dispatched INTEGER NOT NULL DEFAULT 0, grp TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS quarantine_undecided ON quarantine (message_id)
    WHERE state IN ('released', 'rejected') AND dispatched = 0;
CREATE TABLE IF NOT EXISTS flags (
    message_id BIGINT PRIMARY KEY, account TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
    category TEXT NOT NULL, categories TEXT NOT NULL);
"""
REGISTRY = """
CREATE TABLE IF NOT EXISTS accounts (
    system_id TEXT PRIMARY KEY, password_hash TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active', bind_types TEXT NOT NULL DEFAULT 'tx,rx,trx',
    max_binds INTEGER NOT NULL DEFAULT 0, allowed_ips TEXT NOT NULL DEFAULT '[]',
    domestic_exempt INTEGER NOT NULL DEFAULT 0,
    status_style TEXT NOT NULL DEFAULT 'standard', demo INTEGER NOT NULL DEFAULT 0,
    created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
    id_lockout INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS ranges (
    version TEXT PRIMARY KEY, imported_at DOUBLE PRECISION NOT NULL, sources TEXT NOT NULL,
    countries TEXT NOT NULL, v4 TEXT NOT NULL, v6 TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lockouts (
    key TEXT PRIMARY KEY, until DOUBLE PRECISION NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bind_audit (
    id BIGSERIAL PRIMARY KEY, at DOUBLE PRECISION NOT NULL, peer TEXT NOT NULL,
    system_id TEXT NOT NULL, bind_type TEXT NOT NULL, outcome TEXT NOT NULL,
    reason TEXT NOT NULL, status INTEGER NOT NULL, ranges_version TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS changes (
    seq BIGINT PRIMARY KEY, at DOUBLE PRECISION NOT NULL, kind TEXT NOT NULL,
    key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS change_version (
    id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL);
INSERT INTO change_version VALUES (1, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS lines (
    number TEXT PRIMARY KEY, account TEXT NOT NULL, kind TEXT NOT NULL,
    exemption TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT 'active',
    purpose TEXT NOT NULL DEFAULT '', operator TEXT NOT NULL DEFAULT '',
    hours TEXT NOT NULL DEFAULT '', status_reason TEXT NOT NULL DEFAULT '',
    created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS lines_account ON lines (account);
CREATE TABLE IF NOT EXISTS violations (
    line TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, destination TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS violations_at ON violations (at);
CREATE TABLE IF NOT EXISTS number_lists (
    kind TEXT NOT NULL, line TEXT NOT NULL, data BYTEA NOT NULL, count BIGINT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (kind, line));
CREATE TABLE IF NOT EXISTS optouts (
    line TEXT NOT NULL, signature TEXT NOT NULL, number BIGINT NOT NULL,
    at DOUBLE PRECISION NOT NULL, PRIMARY KEY (line, signature, number));
CREATE TABLE IF NOT EXISTS limits (
    scope TEXT NOT NULL, key TEXT NOT NULL, rate DOUBLE PRECISION NOT NULL DEFAULT 0,
    burst BIGINT NOT NULL DEFAULT 0, daily BIGINT NOT NULL DEFAULT 0,
    monthly BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (scope, key));
CREATE TABLE IF NOT EXISTS usage (
    account TEXT NOT NULL, period TEXT NOT NULL, segments BIGINT NOT NULL,
    PRIMARY KEY (account, period));
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY, system_id TEXT NOT NULL, digest BYTEA NOT NULL,
    created_at DOUBLE PRECISION NOT NULL, note TEXT NOT NULL DEFAULT '',
    revoked_at DOUBLE PRECISION);
CREATE TABLE IF NOT EXISTS client_refs (
    account TEXT NOT NULL, client_ref TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
    answer BYTEA, PRIMARY KEY (account, client_ref));
"""
_RECORD_COLUMNS = """
    message_id BIGINT NOT NULL, received_at DOUBLE PRECISION NOT NULL, account TEXT NOT NULL,
    peer TEXT NOT NULL, line TEXT NOT NULL, destination TEXT NOT NULL, text TEXT NOT NULL,
    segments INTEGER NOT NULL, part INTEGER NOT NULL, receipt INTEGER NOT NULL,
    decision TEXT NOT NULL, reason TEXT NOT NULL, status TEXT, upstream TEXT,
    upstream_id TEXT, submitted_at DOUBLE PRECISION, done_at DOUBLE PRECISION,
    charge BIGINT NOT NULL, hash BYTEA NOT NULL"""
RECORDS = f"""
CREATE TABLE IF NOT EXISTS records ({_RECORD_COLUMNS}, PRIMARY KEY (message_id))
    PARTITION BY RANGE (message_id);
CREATE TABLE IF NOT EXISTS refusals_records ({_RECORD_COLUMNS}, month TEXT NOT NULL,
    PRIMARY KEY (month, message_id)) PARTITION BY LIST (month);
CREATE TABLE IF NOT EXISTS events (
    month TEXT NOT NULL, seq BIGINT NOT NULL, at DOUBLE PRECISION NOT NULL,
    kind TEXT NOT NULL, payload TEXT NOT NULL, hash BYTEA NOT NULL,
    PRIMARY KEY (month, seq)) PARTITION BY LIST (month);
CREATE TABLE IF NOT EXISTS heads (
    month TEXT PRIMARY KEY, records BIGINT NOT NULL, records_hash BYTEA NOT NULL,
    refusals BIGINT NOT NULL, refusals_hash BYTEA NOT NULL,
    events BIGINT NOT NULL, events_hash BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS cursor (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
"""
AHEAD = 2
"""Months of partitions created ahead of the current one."""


def id_floor(month: str) -> int:
    """The first message id of a month (ids are ms since the epoch << 16)."""
    return months.first_id(month)


def partition_ddl(month: str, genesis: bytes) -> str:
    m = months.table_suffix(month)
    return f"""
CREATE TABLE IF NOT EXISTS records_{m} PARTITION OF records
    FOR VALUES FROM ({id_floor(month)}) TO ({id_floor(months.shift(month, 1))});
CREATE TABLE IF NOT EXISTS refusals_{m} PARTITION OF refusals_records FOR VALUES IN ('{month}');
CREATE TABLE IF NOT EXISTS events_{m} PARTITION OF events FOR VALUES IN ('{month}');
INSERT INTO heads VALUES ('{month}', 0, '\\x{genesis.hex()}', 0, '\\x{genesis.hex()}', 0,
                          '\\x{genesis.hex()}') ON CONFLICT DO NOTHING;
"""


async def migrate(conn: asyncpg.Connection, now_month: str, schema: str = "") -> int:
    """Create what is missing (journal, records, partitions from ``now_month`` to AHEAD
    months on, ledger, quarantine, registry); the schema version it leaves.  With
    ``schema`` (a router's own journal, first in the connection's search_path) the
    schema and its tables but not the registry, which stays in the default one."""
    from router.store.records.chain import GENESIS
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(7317)")  # one migrator at a time
        if schema:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(JOURNAL + RECORDS + MONEY + ("" if schema else REGISTRY))
        for i in range(AHEAD + 1):
            await conn.execute(partition_ddl(months.shift(now_month, i), GENESIS))
        version = await conn.fetchval("SELECT max(version) FROM schema_version")
        if version is not None and version < 3:
            await conn.execute(ESCAPE_ESC)  # once: the version row below is in this transaction
        if version is None or version < VERSION:
            await conn.execute("INSERT INTO schema_version VALUES ($1)", VERSION)
            version = VERSION
    return int(version)
