"""Records end to end: a real router, smpplib submitting, the records follower in its own
process, ``chapar export`` and ``chapar records verify`` as an operator runs them."""

from __future__ import annotations

import csv
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from router.store.records import months
from router.store.records.columns import TABLES
from router.store.records.export import Query
from router.store.records.open import open_records
from router.store.records.settings import RecordSettings
from router.store.settings import StoreSettings
from tests.clients import Esme, bound
from tests.conftest import RouterProcess
from tests.integration.cli.support import chapar

NUMBER = "989121234567"


def _wait_record(path: Path, query: Query, count: int, timeout: float,
                 store: dict[str, Any] | None = None) -> float:
    """Seconds until ``count`` records match ``query`` (read as the export reads them)."""
    start = time.monotonic()
    where, args = query.where()
    settings = StoreSettings(**(store or {}))
    while time.monotonic() - start < timeout:
        if path.exists() or settings.backend == "postgres":
            records = open_records(settings, RecordSettings(path=str(path)), readonly=True)
            try:
                if sum(records.count(m, where, args, table) for m in records.months()
                       for table in TABLES) >= count:
                    return time.monotonic() - start
            except sqlite3.OperationalError:
                pass  # the follower is creating the month's tables
            finally:
                records.close()
        time.sleep(0.02)
    raise AssertionError(f"{count} records for {query} not there within {timeout} s")


def test_a_message_is_exportable_by_number_account_and_line_within_a_second(
        make_router: Callable[..., RouterProcess], tmp_path: Path,
        store_backend: dict[str, Any]) -> None:
    """requirements §4: every message gets a record (account, peer IP, line, destination,
    content, decision, upstream and ids, delivery status); an operator can export the
    records of a number, an account or a line; redaction hides the text."""
    router = make_router(store=store_backend, records={"writer": "process"})
    config = str(tmp_path / "chapar.yaml")
    path = tmp_path / "var" / "records.db"
    with bound(Esme(router.port)) as esme:
        seq = esme.send("98100", NUMBER, b"your code 8812", registered_delivery=1)
        refused = esme.send("77777", NUMBER, b"not my line")
        esme.pump(lambda: seq in esme.responses and refused in esme.responses)
        acked = time.monotonic()
        assert esme.responses[seq].status == 0 and esme.responses[refused].status != 0
        waited = _wait_record(path, Query(msisdn=NUMBER), 2, 5.0, store_backend)
        assert time.monotonic() - acked < 1.0, f"record after {waited:.2f} s"
        esme.pump(lambda: len(esme.delivered) >= 1)  # the receipt
    _wait_record(path, Query(msisdn=NUMBER), 2, 5.0, store_backend)
    out = tmp_path / "by-number.csv"
    run = chapar("export", "--config", config, "--msisdn", NUMBER, "--out", str(out))
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader(out.open()))
    accepted = next(r for r in rows if r["decision"] == "accepted")
    refusal = next(r for r in rows if r["decision"] == "refused")
    assert (accepted["account"], accepted["peer"], accepted["line"]) == (
        "esme1", "127.0.0.1", "98100")
    assert accepted["text"] == "your code 8812"
    assert accepted["upstream"] == "simulator#0"  # the upstream and its connection
    assert accepted["message_id"] == esme.responses[seq].message_id.decode()  # as the ESME saw it
    assert accepted["upstream_id"] and refusal["line"] == "77777" and refusal["reason"]
    manifest = json.loads((tmp_path / "by-number.csv.manifest.json").read_text())
    assert manifest["rows"] == 2 and manifest["query"]["msisdn"] == NUMBER
    deadline = time.monotonic() + 5
    while accepted["status"] != "DELIVRD" and time.monotonic() < deadline:
        time.sleep(0.1)  # the receipt's status follows within a round of the follower
        assert chapar("export", "-q", "--config", config, "--account", "esme1", "--out",
                      str(out)).returncode == 0
        accepted = next(r for r in csv.DictReader(out.open()) if r["decision"] == "accepted")
    assert accepted["status"] == "DELIVRD" and accepted["done_at"]
    red = tmp_path / "line.jsonl"
    assert chapar("export", "--config", config, "--line", "98100", "--format", "jsonl",
                  "--redact", "--out", str(red)).returncode == 0
    (line,) = [json.loads(x) for x in red.read_text().splitlines()]
    assert "8812" not in red.read_text() and line["text"].startswith("[redacted")


def test_an_edited_row_fails_records_verify_and_is_named(
        make_router: Callable[..., RouterProcess], tmp_path: Path) -> None:
    """requirements §4 (records handed to authorities): each month's records are
    hash-chained as written; an edit in the database is found and named."""
    router = make_router()
    config = str(tmp_path / "chapar.yaml")
    with bound(Esme(router.port)) as esme:
        seqs = [esme.send("98100", f"98912000000{i}", b"hello") for i in range(3)]
        esme.pump(lambda: all(s in esme.responses for s in seqs))
    path = tmp_path / "var" / "records.db"
    _wait_record(path, Query(account="esme1"), 3, 5.0)
    router.stop()
    month = months.month_of(time.time())
    ok = chapar("records", "verify", "--config", config, "--month", month)
    assert ok.returncode == 0 and "intact (3 records" in ok.stdout, ok.stdout + ok.stderr
    db = sqlite3.connect(path)
    table = f"records_{months.table_suffix(month)}"
    db.execute(f"UPDATE {table} SET destination = '98900' WHERE message_id = "
               f"(SELECT message_id FROM {table} ORDER BY message_id LIMIT 1 OFFSET 1)")
    db.commit()
    db.close()
    bad = chapar("records", "verify", "--config", config, "--month", month)
    assert bad.returncode == 2
    assert "FAILED" in bad.stderr and "record 2 (message " in bad.stderr, bad.stderr


def test_retention_below_six_months_is_refused_at_start(tmp_path: Path) -> None:
    """requirements §4: retention cannot be configured below six months."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("simulator: {enabled: true}\nrecords: {retention_months: 3}\n")
    run = chapar("run", "--config", str(cfg), cwd=tmp_path)
    assert run.returncode == 2
    assert "records.retention_months: 3 is below the legal minimum of 6 months" in run.stderr


def test_a_text_holding_nul_is_recorded_exactly_and_the_records_after_it_follow(
        make_router: Callable[..., RouterProcess], tmp_path: Path,
        store_backend: dict[str, Any]) -> None:
    """requirements §4 (content handed over as received): a UCS-2 text holding U+0000
    and a binary message's 0x00 octets (PostgreSQL's text holds no NUL) are recorded with
    the exact text on both backends, the records of the messages after them follow, the
    export hands the text back whole and the month verifies."""
    router = make_router(store=store_backend, records={"writer": "process"})
    config = str(tmp_path / "chapar.yaml")
    ucs2 = "کد\0۴۷۱۱\0"
    sent = [(ucs2.encode("utf-16-be"), 8), (b"\x00\x06\x01\x00\xff", 4), (b"after", 0)]
    with bound(Esme(router.port)) as esme:
        seqs = [esme.send("98100", NUMBER, text, data_coding=dcs) for text, dcs in sent]
        esme.pump(lambda: all(s in esme.responses for s in seqs))
        assert [esme.responses[s].status for s in seqs] == [0, 0, 0]
    _wait_record(tmp_path / "var" / "records.db", Query(account="esme1"), 3, 5.0,
                 store_backend)
    out = tmp_path / "nul.jsonl"
    run = chapar("export", "-q", "--config", config, "--account", "esme1", "--format", "jsonl",
                 "--out", str(out))
    assert run.returncode == 0, run.stderr
    texts = [json.loads(line)["text"] for line in out.read_text().splitlines()]
    assert texts == [ucs2, "\0\x06\x01\0\xff", "after"]
    run = chapar("export", "-q", "--config", config, "--account", "esme1", "--out",
                 str(tmp_path / "nul.csv"))
    assert run.returncode == 0, run.stderr
    with (tmp_path / "nul.csv").open(newline="", encoding="utf-8") as f:
        assert [r["text"] for r in csv.DictReader(f)] == texts
    ok = chapar("records", "verify", "--config", config, "--month", months.month_of(time.time()))
    assert ok.returncode == 0 and "intact (3 records" in ok.stdout, ok.stdout + ok.stderr
