"""WAL checkpoints on a thread: the WAL stays bounded under a writer that never pauses,
and a long reader (an export) does not hold the writer back past ``restart_wait``."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from router.store import checkpoints
from router.store.checkpoints import Checkpoints, hand_over

ROW = b"x" * 3000  # about a page a row


@pytest.fixture
def writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sqlite3.Connection]:
    monkeypatch.setattr(checkpoints, "RESTART_FRAMES", 200)
    db = sqlite3.connect(tmp_path / "w.db", isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    hand_over(db)
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
    yield db
    db.close()


def _write(db: sqlite3.Connection, rounds: int, rows: int = 20) -> float:
    """``rounds`` commits of ``rows`` rows, back to back; the longest commit's seconds."""
    longest = 0.0
    for _ in range(rounds):
        started = time.monotonic()
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO t (body) VALUES (?)", [(ROW,)] * rows)
        db.execute("COMMIT")
        longest = max(longest, time.monotonic() - started)
        time.sleep(0.002)
    return longest


def _wal_pages(tmp_path: Path) -> int:
    return os.path.getsize(tmp_path / "w.db-wal") // 4096


def test_the_wal_stays_bounded_under_a_writer_that_never_pauses(
        writer: sqlite3.Connection, tmp_path: Path) -> None:
    """~6,000 pages written; the WAL restarts near RESTART_FRAMES (200) instead of
    holding them all (checked: without the thread it holds every one)."""
    ticker = Checkpoints(tmp_path / "w.db", "test", restart_wait=0.05)
    ticker.start(interval=0.01)
    try:
        _write(writer, 300)
    finally:
        ticker.stop()
    assert _wal_pages(tmp_path) < 2_000


def test_without_the_thread_the_wal_holds_everything(writer: sqlite3.Connection,
                                                     tmp_path: Path) -> None:
    _write(writer, 300)
    assert _wal_pages(tmp_path) > 5_000


def test_a_long_reader_holds_the_writer_back_at_most_restart_wait(
        writer: sqlite3.Connection, tmp_path: Path) -> None:
    """A reader in one transaction for the whole run (an export): every RESTART gives up
    after restart_wait, so no commit waits longer than that (plus scheduling)."""
    reader = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (0,)
    ticker = Checkpoints(tmp_path / "w.db", "test", restart_wait=0.05)
    ticker.start(interval=0.01)
    try:
        longest = _write(writer, 150)
    finally:
        ticker.stop()
        reader.execute("COMMIT")
        reader.close()
    assert longest < 0.5, longest
