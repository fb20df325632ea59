"""SQLite without its per-call locks in the follower's process (store/sqlite_unlocked.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from router.store.sqlite_unlocked import loaded_library

_PROBE = """
import ctypes, sqlite3, sys, threading
from router.store.sqlite_unlocked import loaded_library, unlock
took = unlock() if sys.argv[1] == "unlock" else False
path = sys.argv[2]
db = sqlite3.connect(path, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)")
def other():  # a connection of another thread's own, at the same time
    mine = sqlite3.connect(path, isolation_level=None, timeout=10)
    for _ in range(50):
        mine.execute("SELECT count(*) FROM t").fetchone()
    mine.close()
reader = threading.Thread(target=other)
reader.start()
for n in range(50):
    db.execute("BEGIN")
    db.executemany("INSERT INTO t VALUES (?, ?)", ((n * 100 + i, "x" * i) for i in range(100)))
    db.execute("COMMIT")
reader.join()
rows = db.execute("SELECT count(*) FROM t").fetchone()[0]
used = ctypes.CDLL(loaded_library()).sqlite3_memory_used()
print(took, rows, used)
"""


def _probe(mode: str, tmp_path: Path) -> list[str]:
    run = subprocess.run([sys.executable, "-c", _PROBE, mode, str(tmp_path / f"{mode}.db")],
                         capture_output=True, text=True, timeout=60, check=True)
    return run.stdout.split()


def test_unlock_takes_before_the_first_connection_and_sqlite_still_works(
        tmp_path: Path) -> None:
    """Memory statistics off shows the configuration reached the library Python's sqlite3
    calls (with them on, it counts what the connection holds); rows written while
    another thread's connection reads all arrive."""
    assert _probe("unlock", tmp_path) == ["True", "5000", "0"]
    took, rows, used = _probe("default", tmp_path)
    assert (took, rows) == ("False", "5000") and int(used) > 0


def test_no_library_found_is_no_library(tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.write_text("7f00-7f01 r-xp 0 08:01 1 /usr/lib/libc.so.6\n")
    assert loaded_library(maps) is None
    assert loaded_library(tmp_path / "missing") is None
    maps.write_text("7f00-7f01 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6\n")
    assert loaded_library(maps) == "/usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6"
