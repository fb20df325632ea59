"""The PostgreSQL schema, created or upgraded by ``chapar migrate`` (and at start).

Journal tables mirror SQLite's; the records are declarative partitions by month of their
key (a message id carries its time: ms << 16), created ahead of the month that needs them.
"""

from __future__ import annotations

import asyncpg

from router.store.records import months

VERSION = 1
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
CREATE TABLE IF NOT EXISTS replaced (message_id BIGINT PRIMARY KEY, body BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS inbox (
    batch BIGINT PRIMARY KEY, account TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
    bodies BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS inbox_done (
    seq BIGSERIAL PRIMARY KEY, last_batch BIGINT NOT NULL, keys BYTEA NOT NULL);
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


async def migrate(conn: asyncpg.Connection, now_month: str) -> int:
    """Create what is missing (journal, records, partitions from ``now_month`` to AHEAD
    months on); the schema version it leaves."""
    from router.store.records.chain import GENESIS
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(7317)")  # one migrator at a time
        await conn.execute(JOURNAL + RECORDS)
        for i in range(AHEAD + 1):
            await conn.execute(partition_ddl(months.shift(now_month, i), GENESIS))
        version = await conn.fetchval("SELECT max(version) FROM schema_version")
        if version is None:
            await conn.execute("INSERT INTO schema_version VALUES ($1)", VERSION)
            version = VERSION
    return int(version)
