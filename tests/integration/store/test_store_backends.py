"""The store interface on both backends (SQLite and a real PostgreSQL): the journal's
group commit and recovery, and records derived from it, exported and verified."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from router.app.workers import for_worker
from router.config import Config
from router.store.errors import StoreError
from router.store.interface import Journal
from router.store.journal import SqliteJournal
from router.store.postgres.journal import PgJournal
from router.store.records import months
from router.store.records.export import Combined, Query, export
from router.store.records.follower import Follower
from router.store.records.open import every_store, open_stores
from router.store.records.settings import RecordSettings
from router.store.records.verify import verify
from router.store.settings import StoreSettings
from tests.unit.store.records.records_helpers import body, caught_up, message_id


def _store(tmp_path: Path, backend: dict[str, Any]) -> StoreSettings:
    return StoreSettings(path=str(tmp_path / "journal.db"), **backend)


def _journal(store: StoreSettings) -> Journal:
    if store.backend == "postgres":
        return PgJournal(store.dsn, schema=store.journal_schema)
    return SqliteJournal(Path(store.path))


def test_workers_journals_and_records_are_their_own_and_read_together(
        tmp_path: Path, store_backend: dict[str, Any]) -> None:
    """--workers: each worker writes a journal and records of its own (files, or the
    PostgreSQL schemas chapar_w0 and chapar_w1), so the same message id in two workers
    meets nothing; the lawful export reads every worker's records."""
    base = _store(tmp_path, store_backend)
    base_records = RecordSettings(path=str(tmp_path / "records.db"))
    now = time.time()
    first = message_id(now)
    for index in range(2):
        config = for_worker(Config(store=base, records=base_records), index)
        journal = _journal(config.store)
        journal.add_batch(first, f"acc{index}", [body(destination="98912")], now)
        journal.commit()
        journal.close()
        source, records = open_stores(config.store, config.records)
        follower = Follower(source, records, config.records)
        while follower.step():
            pass
        follower.close()
        records.close()
    stores = every_store(base, base_records)
    names = [name for name, _ in stores]
    manifest = export(Combined([r for _, r in stores]), Query(msisdn="98912"),
                      tmp_path / "x.jsonl", "jsonl", False)
    for _, records in stores:
        records.close()
    assert manifest.rows == 2, names
    lines = (tmp_path / "x.jsonl").read_text()
    assert '"acc0"' in lines and '"acc1"' in lines


def test_journal_commits_and_recovers(tmp_path: Path, store_backend: dict[str, Any]) -> None:
    """design §3.3: what a commit wrote comes back after a restart; outcomes finish
    messages and feed the receipt map."""
    store = _store(tmp_path, store_backend)
    journal = _journal(store)
    now = time.time()
    first = message_id(now)
    journal.add_batch(first, "a", [body(), body(registered=0), body()], now, "10.0.0.1")
    journal.add_outcomes([(first, 0, "C-1", True)], "c#0")
    journal.mark_done_below(first)
    journal.commit()
    journal.add_batch(first + 10, "a", [body()], now)
    assert journal.close() is None  # its last commit takes what was added since
    again = _journal(store)
    recovery = again.recover()
    assert [m.id for m in recovery.pending] == [first + 1, first + 2, first + 10]
    assert recovery.delivered_to_carrier == [("C-1", first, "a")]
    assert [m.receipt for m in recovery.pending][:2] == [False, True]
    assert again.first_id() == first
    again.close()


def test_records_follow_the_journal_and_verify(tmp_path: Path,
                                               store_backend: dict[str, Any]) -> None:
    """requirements §4 on both backends: records derived, exported by number, chained."""
    store = _store(tmp_path, store_backend)
    settings = RecordSettings(path=str(tmp_path / "records.db"))
    journal = _journal(store)
    now = time.time()
    first = message_id(now)
    journal.add_batch(first, "acc", [body(destination="98912")] * 3, now, "10.0.0.2")
    journal.add_refusals("acc", [(4, "1000", "98912", "blacklisted")], now, "10.0.0.2")
    journal.add_outcomes([(first, 0, "C-1", True)], "c#0")
    journal.commit()
    journal.add_receipts([(first, "DELIVRD")])
    journal.commit()
    source, records = open_stores(store, settings)
    follower = Follower(source, records, settings)
    while follower.step():
        pass
    manifest = export(records, Query(msisdn="98912"), tmp_path / "x.jsonl", "jsonl", False)
    assert manifest.rows == 4
    lines = (tmp_path / "x.jsonl").read_text()
    assert '"DELIVRD"' in lines and '"blacklisted"' in lines and '"10.0.0.2"' in lines
    verdict = verify(records, months.month_of(now))
    assert verdict.problem == "" and verdict.rows == 4
    follower.close()
    records.close()
    journal.close()


def test_the_journal_is_compacted_behind_the_records(tmp_path: Path,
                                                     store_backend: dict[str, Any]) -> None:
    """The journal stays bounded on both backends: rows recorded, finished and older than
    journal_keep are deleted (the newest stays); a restart recovers nothing of them."""
    store = _store(tmp_path, store_backend)
    settings = RecordSettings(path=str(tmp_path / "records.db"), journal_keep=60.0)
    journal = _journal(store)
    old = time.time() - 3600
    firsts = [message_id(old + i) for i in range(4)]
    for i, first in enumerate(firsts):
        journal.add_batch(first, "a", [body(), body()], old + i)
        journal.add_outcomes([(first, 0, f"C{i}", True), (first + 1, 0, f"D{i}", True)], "c")
        journal.commit()
    journal.mark_done_below(firsts[-1] + 2)
    journal.commit()
    source, records = open_stores(store, settings)
    follower = Follower(source, records, settings)
    while follower.step():
        pass
    assert follower.compact() == 3  # three journal rows (the outcome rows are recent)
    assert journal.first_id() == firsts[-1]
    recovery = journal.recover()
    assert recovery.pending == [] and recovery.last_id == firsts[-1] + 1
    carried = records.carrier_ids(message_id(old - 10), journal.first_id())
    assert sorted(c for c, _, _ in carried) == ["C0", "C1", "C2", "D0", "D1", "D2"]
    follower.close()
    records.close()
    journal.close()


def test_a_postgres_records_write_that_failed_is_read_again(tmp_path: Path,
                                                            pg_dsn: str) -> None:
    """A PostgreSQL records write overlaps the follower's next round: when it fails, the
    next call says so and the follower goes on from the records' own cursor, so the
    round is written again, none skipped, none twice, the chain intact."""
    store = StoreSettings(path=str(tmp_path / "journal.db"), backend="postgres", dsn=pg_dsn)
    settings = RecordSettings(batch_rows=1)
    journal = _journal(store)
    now = time.time()
    firsts = [message_id(now + i / 1000) for i in range(3)]
    for first in firsts:
        journal.add_batch(first, "acc", [body()], now)
        journal.commit()
    source, records = open_stores(store, settings)
    follower = Follower(source, records, settings)

    async def sql(statement: str, *args: object) -> None:
        conn = await asyncpg.connect(pg_dsn)
        await conn.execute(statement, *args)
        await conn.close()

    asyncio.run(sql("INSERT INTO records (message_id, received_at, account, peer, line, "
                    "destination, text, segments, part, receipt, decision, reason, charge, "
                    "hash) VALUES ($1, 0, '', '', '', '', '', 0, 0, 0, '', '', 0, '\\x00')",
                    firsts[1]))  # in the way of the second round's COPY
    assert follower.step() == 1 and follower.step() == 1
    with pytest.raises(StoreError, match="duplicate key"):
        follower.step()  # the third round's write meets the second's failure
    asyncio.run(sql("DELETE FROM records WHERE message_id = $1", firsts[1]))
    while follower.step():
        pass
    follower.flush()
    month = months.month_of_id(firsts[0])
    ids = [row[0] for row in records.select(month, "", (), columns="message_id")]
    assert ids == firsts
    assert verify(records, month).problem == ""
    follower.close()
    records.close()
    journal.close()


def test_old_partitions_are_dropped_on_both_backends(tmp_path: Path,
                                                     store_backend: dict[str, Any]) -> None:
    """requirements §4: monthly partitions kept six months, then dropped (simulated
    clock): SQLite tables, PostgreSQL partitions."""
    store = _store(tmp_path, store_backend)
    settings = RecordSettings(path=str(tmp_path / "records.db"), retention_months=6)
    journal = _journal(store)
    for i in range(8):  # one message in each month, 2026-01 to 2026-08
        at = months.month_start(months.shift("2026-01", i)) + 86400
        journal.add_batch(message_id(at), "a", [body()], at)
        journal.commit()
    source, records = open_stores(store, settings)
    now = months.month_start("2026-08") + 86400
    follower = Follower(source, records, settings, clock=lambda: now)
    while follower.step():
        pass
    assert {"2026-01", "2026-08"} <= set(records.months())
    assert follower.expire() == ["2026-01"]
    assert "2026-01" not in records.months() and "2026-02" in records.months()
    assert verify(records, "2026-02").problem == ""
    follower.close()
    records.close()
    journal.close()


async def _tables(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return {r[0] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    finally:
        await conn.close()


def test_chapar_migrate_creates_the_schema(tmp_path: Path,
                                           store_backend: dict[str, Any]) -> None:
    """`chapar migrate` creates (and, run again, keeps) the schema: PostgreSQL gets its
    tables (journal, records, registry, ledger, quarantine) and this month's partitions
    with two ahead."""
    import yaml

    from tests.integration.cli.support import chapar

    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "simulator": {"enabled": True},
        "store": {"path": str(tmp_path / "j.db"), **store_backend},
        "records": {"path": str(tmp_path / "r.db")}}))
    for _ in range(2):
        run = chapar("migrate", "--config", str(config))
        assert run.returncode == 0, run.stderr
    now = months.month_of(time.time())
    if store_backend:
        assert "schema version 3" in run.stdout
        assert all(m in run.stdout for m in (now, months.shift(now, 2))), run.stdout
        tables = asyncio.run(_tables(store_backend["dsn"]))
        assert {"journal", "accounts", "lines", "number_lists", "limits", "changes",
                "change_version", "ledger", "quarantine", "flags"} <= tables
    else:
        assert (tmp_path / "j.db").exists() and (tmp_path / "r.db").exists()


async def _schema_tables(dsn: str, schema: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return {r[0] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1", schema)}
    finally:
        await conn.close()


def test_chapar_migrate_upgrades_every_journal_of_the_config(
        tmp_path: Path, store_backend: dict[str, Any]) -> None:
    """`chapar migrate` upgrades the config's own journal (its ``journal_schema``: a
    node's, not the default one) and each journal ``--workers`` made, with its records."""
    import yaml

    from router.app.workers import for_worker
    from router.config import load
    from router.store.ledger import Ledger
    from tests.integration.cli.support import chapar

    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "simulator": {"enabled": True},
        "store": {"path": str(tmp_path / "j.db"), **store_backend,
                  **({"journal_schema": "node_b"} if store_backend else {})},
        "records": {"path": str(tmp_path / "r.db")}}))
    Ledger(for_worker(load(config), 1).store.journal()).close()  # a worker's, half made
    run = chapar("migrate", "--config", str(config))
    assert run.returncode == 0, run.stderr
    assert [line.split()[1].rstrip(":") for line in run.stdout.splitlines()] == ["own", "w1"]
    if store_backend:
        for schema in ("node_b", "node_b_w1"):
            tables = asyncio.run(_schema_tables(store_backend["dsn"], schema))
            assert {"journal", "ledger", "quarantine"} <= tables, (schema, tables)
    else:
        with sqlite3.connect(tmp_path / "j.w1.db") as db:
            assert db.execute("SELECT count(*) FROM journal").fetchone() == (0,)
        assert (tmp_path / "r.w1.db").exists()


def test_both_backends_export_the_same_bytes(tmp_path: Path,
                                             store_backend: dict[str, Any]) -> None:
    """Each backend makes the export's lines itself (SQLite's and PostgreSQL's SQL):
    the same records give the same CSV and JSON lines, redacted or not, and text with
    commas, quotes, newlines, Persian, a NUL (which PostgreSQL's text cannot hold), the
    escape PostgreSQL keeps it with (U+FFFF, and that followed by U+FFFE), backslashes and
    control characters comes back whole, and the chain verifies.  Times not on a whole
    millisecond round to the nearest one on both (PostgreSQL's to_char truncated)."""
    import csv
    import io
    import json

    text = ('he said "hi", then,\nleft\r\nسلام، کد شما ۴۷۱۱ است\0end \uffff\ufffe\0\0\uffff'
            '\tback\\slash\\n \x0b\x08\x0c\x01')  # and what COPY's text format escapes
    at = 1_796_000_000.25

    def exported(store: StoreSettings, folder: Path) -> list[bytes]:
        folder.mkdir()
        settings = RecordSettings(path=str(folder / "records.db"))
        journal = _journal(store)
        first = message_id(at)
        journal.add_batch(first, "acc", [body(destination="98912", data_coding=8,
                                              text=text.encode("utf-16-be"))] * 2, at, "::1")
        for n, past in enumerate((0.0006, 0.0004, 0.9996)):  # 20.251, 20.250, 21.250
            journal.add_batch(first + 2 + n, "acc", [body(text=b"late")], at + past, "::1")
        journal.add_refusals("acc", [(4, "1000", "98912", 'say "no"')], at + 0.5, "::1")
        journal.commit()
        journal.close()
        follower, records = caught_up(store, settings)
        assert verify(records, months.month_of(at)).problem == ""
        out = []
        for fmt in ("csv", "jsonl"):
            for redact in (False, True):
                path = folder / f"x.{fmt}"
                export(records, Query(account="acc"), path, fmt, redact)  # type: ignore[arg-type]
                out.append(path.read_bytes())
        follower.close()
        records.close()
        return out

    mine = exported(_store(tmp_path / "b", store_backend), tmp_path / "b")
    sqlite = exported(_store(tmp_path / "s", {}), tmp_path / "s")
    assert mine == sqlite
    rows = list(csv.DictReader(io.StringIO(mine[0].decode())))
    assert [r["text"] for r in rows] == [text, text, "late", "late", "late", ""]
    assert [r["received_at"][-7:] for r in rows[2:5]] == ["20.251Z", "20.250Z", "21.250Z"]
    assert rows[5]["reason"] == 'say "no"' and rows[5]["message_id"] == ""
    assert json.loads(mine[2].splitlines()[0])["text"] == text
    assert json.loads(mine[3].splitlines()[0])["text"] == f"[redacted: {len(text)} characters]"


def test_a_postgres_export_over_many_blocks_is_whole(tmp_path: Path, pg_dsn: str,
                                                     monkeypatch: Any) -> None:
    """requirements §4 (lawful export): the COPY stream cut anywhere (a block a network
    read, lines split across reads) gives every line once, in order, the exact count,
    the file's SHA-256 and the first and last record's times."""
    import hashlib
    import json

    import router.store.postgres.stream as stream

    monkeypatch.setattr(stream, "BLOCK", 1)
    monkeypatch.setattr(stream, "TRICKLE", 0)
    store = _store(tmp_path, {"backend": "postgres", "dsn": pg_dsn})
    settings = RecordSettings(path=str(tmp_path / "records.db"))
    journal = _journal(store)
    at = 1_796_000_000.25
    for n in range(3):
        journal.add_batch(message_id(at + n), "acc", [body(destination="98912",
                          text=f"m{n} \\ \"q\"".encode(), data_coding=3)] * 700, at + n, "::1")
        journal.commit()
    journal.close()
    follower, records = caught_up(store, settings)
    for fmt in ("jsonl", "csv"):
        out = tmp_path / f"x.{fmt}"
        manifest = export(records, Query(account="acc"), out, fmt, False)  # type: ignore[arg-type]
        data = out.read_bytes()
        assert manifest.rows == 2100 and manifest.sha256 == hashlib.sha256(data).hexdigest()
        assert (manifest.first_record_at, manifest.last_record_at) == (
            "2026-11-30T00:53:20Z", "2026-11-30T00:53:22Z")
    rows = [json.loads(line) for line in (tmp_path / "x.jsonl").read_bytes().splitlines()]
    assert [r["text"] for r in rows[::700]] == ['m0 \\ "q"', 'm1 \\ "q"', 'm2 \\ "q"']
    ids = [int(r["message_id"], 16) for r in rows]
    assert ids == sorted(set(ids))
    follower.close()
    records.close()
