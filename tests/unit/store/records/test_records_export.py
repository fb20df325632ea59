"""Lawful export: by number, account or line, CSV or JSON lines, redaction, manifest."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from router.store.records import months
from router.store.records.export import Combined, Query, export, manifest_path
from tests.unit.store.records.records_helpers import Setup


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Setup]:
    setup = Setup(tmp_path)
    setup.batch(3, account="acc1", line="1000", destination="989121111111",
                text=b"your code is 4711")
    setup.batch(2, account="acc2", line="2000", destination="989122222222", text=b"other",
                at=setup.now + 0.01)
    setup.journal.add_refusals("acc1", [(9, "1000", "989121111111", "blacklisted")],
                               setup.now + 0.02, "10.0.0.9")
    setup.journal.commit()
    setup.follower.step()
    yield setup
    setup.close()


def test_export_by_number_account_and_line(s: Setup, tmp_path: Path) -> None:
    """requirements §4: an operator can export all records for a number, an account or a
    time range."""
    out = tmp_path / "n.csv"
    manifest = export(s.records, Query(msisdn="+989121111111"), out, "csv", False)
    rows = list(csv.DictReader(out.open()))
    assert manifest.rows == len(rows) == 4
    assert {r["decision"] for r in rows} == {"accepted", "refused"}
    assert rows[0]["text"] == "your code is 4711" and rows[0]["peer"] == "127.0.0.7"
    assert export(s.records, Query(account="acc2"), tmp_path / "a.csv", "csv", False).rows == 2
    assert export(s.records, Query(line="2000"), tmp_path / "l.csv", "csv", False).rows == 2
    late = Query(account="acc1", since=s.now + 0.015)
    assert export(s.records, late, tmp_path / "t.csv", "csv", False).rows == 1
    early = Query(account="acc1", until=s.now + 0.015)
    assert export(s.records, early, tmp_path / "u.csv", "csv", False).rows == 3


def test_redaction_hides_the_text_and_the_manifest_proves_the_file(s: Setup,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    manifest = export(s.records, Query(account="acc1"), out, "jsonl", True)
    assert manifest.rows == 4
    data = out.read_bytes()
    assert b"4711" not in data and b"your code" not in data
    rows = [json.loads(line) for line in data.splitlines()]
    assert rows[0]["text"] == "[redacted: 17 characters]"
    saved = json.loads(manifest_path(out).read_text())
    assert saved["sha256"] == hashlib.sha256(data).hexdigest() and saved["rows"] == 4
    assert saved["query"]["account"] == "acc1" and saved["redacted"] is True
    assert saved["first_record_at"] is not None and saved["last_record_at"] is not None


def test_the_files_of_several_workers_export_as_one(s: Setup, tmp_path: Path) -> None:
    """--workers: a records file per worker journal; the export reads them all."""
    other = Setup(tmp_path / "w1")
    other.batch(2, account="acc1", line="1000", destination="989121111111", text=b"w1")
    other.follower.step()
    out = tmp_path / "both.csv"
    both = Combined([s.records, other.records])
    assert export(both, Query(account="acc1"), out, "csv", False).rows == 4 + 2
    assert export(both, Query(msisdn="989121111111"), out, "csv", False).rows == 4 + 2
    other.close()


HOSTILE = 'he said "hi", then,\nleft\r\nسلام، کد شما ۴۷۱۱ است\0end 100%s'
"""Commas, quotes, both newlines, Persian (UCS-2), a NUL and a printf directive."""


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[Setup]:
    setup = Setup(tmp_path / "h")
    setup.batch(2, account="acc9", line="1000", destination="989121111111",
                text=HOSTILE.encode("utf-16-be"), data_coding=8)
    setup.follower.step()
    yield setup
    setup.close()


def test_csv_and_jsonl_keep_any_text_exactly(hostile: Setup, tmp_path: Path) -> None:
    """A lawful export hands over the text as received, whatever it holds: read back by
    a CSV or JSON reader, every field is what the record holds."""
    stored = hostile.rows(months.month_of(hostile.now))
    assert stored[0]["text"] == HOSTILE
    out = tmp_path / "x.csv"
    export(hostile.records, Query(account="acc9"), out, "csv", False)
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["text"] for r in rows] == [HOSTILE, HOSTILE]
    assert rows[0]["message_id"] == f"{stored[0]['message_id']:x}"
    assert rows[0]["status"] == "queued" and rows[0]["submitted_at"] == ""
    out = tmp_path / "x.jsonl"
    export(hostile.records, Query(account="acc9"), out, "jsonl", False)
    lines = out.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 3  # one line a record, newline-terminated
    row = json.loads(lines[0])
    assert row["text"] == HOSTILE and row["account"] == "acc9" and row["charge"] == 0
    assert row["submitted_at"] is None


def test_csv_redaction_hides_the_text(hostile: Setup, tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    export(hostile.records, Query(account="acc9"), out, "csv", True)
    data = out.read_text(encoding="utf-8")
    assert "سلام" not in data and "hi" not in data
    rows = list(csv.DictReader(data.splitlines(keepends=True)))
    assert rows[0]["text"] == f"[redacted: {len(HOSTILE)} characters]"


def test_the_manifest_is_exact_over_many_chunks(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows counted as written, the SHA-256 of the whole file, the first and last
    record's times, and every row once in id order across chunk boundaries."""
    import router.store.records.export as exporting

    monkeypatch.setattr(exporting, "CHUNK", 7)
    s = Setup(tmp_path / "m", clock=1_796_000_000.25)  # no time rounds up a second
    for n in range(5):
        s.batch(13, account="acc1", at=s.now + n, text=f"m{n}".encode())
    s.follower.step()
    out = tmp_path / "m.jsonl"
    ticks: list[int] = []
    manifest = export(s.records, Query(account="acc1"), out, "jsonl", False,
                      lambda total: ticks.append(total) or ticks.append)  # type: ignore[func-returns-value]
    data = out.read_bytes()
    rows = [json.loads(line) for line in data.splitlines()]
    assert manifest.rows == len(rows) == 65 and ticks[0] == 65 and sum(ticks[1:]) == 65
    assert manifest.sha256 == hashlib.sha256(data).hexdigest()
    assert [int(r["message_id"], 16) for r in rows] == sorted(
        int(r["message_id"], 16) for r in rows)
    assert manifest.first_record_at == rows[0]["received_at"][:19] + "Z"
    assert manifest.last_record_at == rows[-1]["received_at"][:19] + "Z"
    csv_out = tmp_path / "m.csv"
    again = export(s.records, Query(account="acc1"), csv_out, "csv", False)
    assert again.rows == 65 and again.sha256 == hashlib.sha256(csv_out.read_bytes()).hexdigest()
    s.close()
