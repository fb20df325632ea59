"""The PostgreSQL export's fast ways, each with the bytes of the slow one: the COPY run by
parallel workers (``postgres/stream.py``: the plan really is parallel, its bytes a serial
plan's, in id order) and JSON lines that quote most strings as they are
(``postgres/lines.py``: any string JSON escapes, in any column, as SQLite writes it)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import asyncpg
import pytest

import router.store.postgres.stream as stream
from router.store.postgres.records import PgRecords
from router.store.records import months
from router.store.records.derive import Record
from router.store.records.export import Query, export
from router.store.records.sqlite import SqliteRecords, Step

ROWS = 40_000
"""Enough index pages (~110) for the workers to share them out."""


def _fill(records: PgRecords, now: float) -> None:
    base = int(now * 1000) << 16
    step = Step()
    for i in range(ROWS):
        text = f'code {i}, "quoted" \\ back\nslash' if i % 7 == 0 else f"code {i}"
        record = Record(base + i, now + i / 1e4, "acc1", "10.0.0.1", "98100",
                        f"98912{i:07d}", text, 1, 0, 1, "accepted", "")
        step.records.append((record, ["DELIVRD", "c#0", f"C{i}", now, now, 2]))
    records.write(step)
    records.flush()


def _plan(dsn: str, copied: stream.Copied) -> dict[str, object]:
    """What the export's query ran as, under the export's settings (EXPLAIN ANALYZE)."""
    async def explain() -> dict[str, object]:
        conn = await asyncpg.connect(dsn)
        try:
            async with conn.transaction(readonly=True):
                await stream.in_parallel(conn)
                text = await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + copied.sql,
                                           *copied.args)
        finally:
            await conn.close()
        plan: dict[str, object] = json.loads(text)[0]["Plan"]
        return plan

    return asyncio.run(explain())


def test_a_postgres_export_runs_in_parallel_with_a_serial_plans_bytes(
        tmp_path: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """requirements §4 (lawful export), issue #14's >= 200,000 rows/s: the export's JSON
    lines are made by parallel workers merged in id order (Gather Merge, workers
    launched), and the file is byte for byte the one a single backend makes (rows in
    order once each, quotes, backslashes and newlines as they were)."""
    now = time.time()
    records = PgRecords(pg_dsn)
    try:
        _fill(records, now)
        query = Query(account="acc1")
        where, args = query.where("records")
        copied = records.lines(months.month_of(now), where, args, "records", "jsonl", False)
        plan = _plan(pg_dsn, copied)
        assert plan["Node Type"] == "Gather Merge", plan["Node Type"]
        assert int(plan["Workers Launched"]) >= 1, plan  # type: ignore[call-overload]
        files = {}
        for label, settings in (("parallel", stream.PARALLEL),
                                ("serial", {"max_parallel_workers_per_gather": 0})):
            monkeypatch.setattr(stream, "PARALLEL", settings)
            out = tmp_path / f"{label}.jsonl"
            manifest = export(records, query, out, "jsonl", False)
            assert manifest.rows == ROWS
            files[label] = out.read_bytes()
    finally:
        records.close()
    assert stream.PARALLEL_FORMATS == ("jsonl",)  # CSV lines: serial (stream.py)
    assert files["parallel"] == files["serial"]
    rows = [json.loads(line) for line in files["parallel"].splitlines()]
    assert [int(r["message_id"], 16) for r in rows] == [
        (int(now * 1000) << 16) + i for i in range(ROWS)]
    assert rows[7]["text"] == 'code 7, "quoted" \\ back\nslash'


_NASTY = 'a "quoted" back\\slash\nnew\tline \x01\x1f end'
_SELDOM = ("account", "line", "destination", "reason", "status", "upstream", "upstream_id")


def _nasty_step(now: float) -> Step:
    """Plain rows, and rows with a string JSON escapes in one _SELDOM column each."""
    step = Step()
    base = int(now * 1000) << 16
    for i in range(3 * len(_SELDOM)):
        fields = {c: f"{c}{i}" for c in _SELDOM}
        if i % 3 == 0:
            fields[_SELDOM[i // 3]] = _NASTY
        record = Record(base + i, now + i / 8, fields["account"], "10.0.0.1",
                        fields["line"], fields["destination"], f"text {i}", 1, 0, 1,
                        "accepted", fields["reason"])
        state: list[object] = [fields["status"], fields["upstream"], fields["upstream_id"],
                               now, None, 2]
        if i == 4:
            state = [None, None, None, None, None, 0]
        step.records.append((record, state))
    return step


def test_strings_json_escapes_come_back_exact_in_any_column(tmp_path: Path,
                                                            pg_dsn: str) -> None:
    """requirements §4 (lawful export): a double quote, a backslash or a control
    character in any of the strings PostgreSQL quotes as they are when none is there
    (account, line, destination, reason, status, upstream, upstream id) makes the row's
    JSON line the exact one SQLite's json_object writes, beside rows without (and NULLs
    stay null)."""
    now = int(time.time()) + 0.25  # whole milliseconds (the backends round others apart)
    stores = {"postgres": PgRecords(pg_dsn), "sqlite": SqliteRecords(tmp_path / "r.db")}
    files = {}
    try:
        for name, store in stores.items():
            store.write(_nasty_step(now))
            for redact in (False, True):
                out = tmp_path / f"{name}{redact}.jsonl"
                manifest = export(store, Query(since=now - 1), out, "jsonl", redact)
                files[name, redact] = out.read_bytes()
                assert manifest.rows == 3 * len(_SELDOM)
    finally:
        for store in stores.values():
            store.close()
    assert files["postgres", False] == files["sqlite", False]
    assert files["postgres", True] == files["sqlite", True]
    rows = [json.loads(line) for line in files["postgres", False].splitlines()]
    assert [rows[3 * k][c] for k, c in enumerate(_SELDOM)] == [_NASTY] * len(_SELDOM)
    assert rows[4]["status"] is None and rows[4]["upstream_id"] is None
