"""The stores' common SQLite opening (``store/sqlite.py``)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from router.store.registry import Registry


def test_processes_opening_one_fresh_file_at_once_all_open(tmp_path: Path) -> None:
    """--workers: the workers open the fresh shared registry at once; switching it to WAL
    does not wait on the busy timeout, and a worker that got "database is locked" died at
    start (2 of 400 opens, 4 at a time, before the retry)."""
    failures: list[str] = []
    for round_ in range(300):
        path = tmp_path / f"r{round_}.db"
        start = threading.Barrier(4)

        def open_it(path: Path = path, start: threading.Barrier = start) -> None:
            start.wait()
            try:
                Registry(path).close()
            except sqlite3.OperationalError as exc:
                failures.append(str(exc))

        threads = [threading.Thread(target=open_it) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []


def test_a_column_another_process_added_meanwhile_is_no_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--workers``: processes opening one older registry at once race to add a column;
    the one that looked before the other added it finds it there instead of dying at
    start (a worker did, with "duplicate column name", in a CI run)."""
    from router.store import sqlite as store_sqlite

    path = tmp_path / "registry.db"
    mine, other = sqlite3.connect(path), sqlite3.connect(path)
    mine.execute("CREATE TABLE lines (number TEXT PRIMARY KEY)")
    mine.commit()
    other.execute("ALTER TABLE lines ADD COLUMN priority INTEGER NOT NULL DEFAULT 0")
    other.commit()
    monkeypatch.setattr(store_sqlite, "columns", lambda db, table: {"number"})  # looked first
    store_sqlite.add_column(mine, "lines", "priority", "INTEGER NOT NULL DEFAULT 0")
    monkeypatch.undo()
    assert store_sqlite.columns(mine, "lines") == {"number", "priority"}
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        store_sqlite.add_column(mine, "nowhere", "priority", "INTEGER")
