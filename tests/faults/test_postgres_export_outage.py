"""PostgreSQL stopped in the middle of a lawful export streamed by COPY."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

import router.store.postgres.stream as stream
from router.store.errors import StoreError
from router.store.postgres.records import PgRecords
from router.store.records.derive import Record
from router.store.records.export import Query, export, manifest_path
from router.store.records.sqlite import Step

ROWS = 200_000


def _fill(records: PgRecords) -> None:
    now = time.time()
    base = int(now * 1000) << 16
    step = Step()
    for i in range(ROWS):
        record = Record(base + i, now + i / 1e6, "acc1", "10.0.0.1", "98100",
                        f"98912{i:07d}", "Your code is 123456", 1, 0, 1, "accepted", "")
        step.records.append((record, ["DELIVRD", "c#0", f"C{i}", now, now, 2]))
    records.write(step)


def test_an_export_cut_off_by_postgres_fails_at_once_without_a_manifest(
        tmp_path: Path, pg_outage: tuple[Any, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """requirements §4 (lawful export): the server gone in the middle of the COPY fails
    the export with a StoreError within seconds (never a hang on the stream's queue) and
    leaves no manifest: a file without one is not a finished export."""
    cluster, dsn = pg_outage
    monkeypatch.setattr(stream, "BLOCK", 1 << 16)
    records = PgRecords(dsn)
    _fill(records)
    out = tmp_path / "x.jsonl"
    failed: list[BaseException] = []

    def stop_at_first_block(total: int) -> Any:
        def tick(n: int) -> None:
            if cluster.running():
                cluster.stop()
        return tick

    def run() -> None:
        try:
            export(records, Query(account="acc1"), out, "jsonl", False, stop_at_first_block)
        except BaseException as exc:  # the test looks at what it was
            failed.append(exc)

    worker = threading.Thread(target=run)
    try:
        worker.start()
        worker.join(30)
        assert not worker.is_alive(), "the export hung when PostgreSQL went away"
    finally:
        if not cluster.running():
            cluster.start()
        records.close()
    assert failed and isinstance(failed[0], StoreError), failed
    assert not manifest_path(out).exists()
    assert out.stat().st_size > 0 and out.read_bytes().count(b"\n") < ROWS
