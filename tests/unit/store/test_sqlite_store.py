"""The stores' common SQLite opening (``store/sqlite.py``)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

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
