"""SQLite without its per-call locks, for a process whose every connection stays on the
thread that opened it (the records follower's own process).

Debian's SQLite runs *serialized*: every bind, step and reset takes the connection's
mutex, and every allocation the memory statistics' mutex.  The follower binds 19 values
a record: those lock and unlock calls were ~11 % of its time.  *Multi-thread* mode keeps
SQLite safe for connections used by one thread at a time (the checkpoint thread opens its
own), and nothing here reads the memory statistics.

Python's ``sqlite3`` sets neither, so the library it loaded is configured through ctypes
before its first connection opens.  Where that library cannot be found (SQLite built into
Python), nothing changes.
"""

from __future__ import annotations

import ctypes
import sqlite3
from pathlib import Path

_MULTITHREAD = 2
_MEMSTATUS = 9
"""sqlite3_config options (sqlite3.h)."""


def loaded_library(maps: Path = Path("/proc/self/maps")) -> str | None:
    """The path of the libsqlite3 this process has mapped (the one ``sqlite3`` uses)."""
    try:
        lines = maps.read_text().splitlines()
    except OSError:  # not Linux
        return None
    for line in lines:
        path = line.rsplit(None, 1)[-1]
        if "/libsqlite3.so" in path:
            return path
    return None


def unlock() -> bool:
    """Multi-thread mode and no memory statistics for this process; whether it took.
    Call before any connection opens in this process (``sqlite3_config`` is refused
    while SQLite is initialised with connections open)."""
    path = loaded_library()
    if path is None:
        return False
    lib = ctypes.CDLL(path)
    major, minor, patch = sqlite3.sqlite_version_info
    if lib.sqlite3_libversion_number() != major * 1_000_000 + minor * 1_000 + patch:
        return False  # another copy than the one Python's module calls
    if lib.sqlite3_shutdown() != 0:
        return False
    refused: int = lib.sqlite3_config(_MULTITHREAD) or lib.sqlite3_config(
        _MEMSTATUS, ctypes.c_int(0))
    failed: int = lib.sqlite3_initialize()
    return not refused and not failed
