"""WAL checkpoints of a SQLite file on a thread and connection of their own.

A checkpoint copies the WAL into the database and syncs it.  Left to SQLite it runs
inside the commit that crosses ``wal_autocheckpoint``: on the journal's event loop it
made the p99 (6-7 ms, up to 34 ms), in the records follower it was ~8 % of the time
and every fsync of the round's wall time.  sqlite3 lets go of the GIL while it runs.

A PASSIVE checkpoint never waits for the writer, but while the writer keeps appending
it never completes either, and an incomplete checkpoint never lets the WAL start over:
measured on the journal, the WAL grew by ~40 MB/s under load and the relay slowed by
20 % within 30 s.  So once the WAL passes ``RESTART_FRAMES``, a RESTART checkpoint
briefly holds the writer back (the passive rounds have already copied all but the last
fraction of a second) and the WAL starts again from its beginning.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import structlog

from router.logs import sampled

RESTART_FRAMES = 8192  # WAL pages (4 KiB each: 32 MiB) before a RESTART checkpoint
WAL_SIZE_LIMIT = 64 * 1024 * 1024  # the WAL file is truncated to this after a restart


def hand_over(db: sqlite3.Connection) -> None:
    """The writer's connection leaves checkpoints to ``Checkpoints``."""
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")


class Checkpoints:
    def __init__(self, path: Path, name: str, restart_wait: float = 5.0) -> None:
        """``restart_wait``: how long a RESTART waits for readers, holding the writer
        back meanwhile.  The records file has long readers (an export streams for
        minutes): a short wait there gives up instead and the WAL grows until they end,
        as it would under SQLite's own checkpoints."""
        self._path = path
        self._name = name
        self._restart_wait = restart_wait
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log = structlog.get_logger(f"chapar.{name}")

    def start(self, interval: float = 0.25) -> None:
        self._thread = threading.Thread(target=self._loop, args=(interval,),
                                        name=f"{self._name}-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """After the round under way; the owner's close checkpoints what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self, interval: float) -> None:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False,
                             timeout=self._restart_wait)
        failures = 0
        try:
            while not self._stop.wait(interval):
                try:
                    _, frames, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if frames > RESTART_FRAMES:
                        db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                    failures = 0
                except sqlite3.Error as exc:  # the next round tries again
                    failures += 1
                    if sampled(failures):
                        self._log.warning(f"{self._name}_checkpoint_failed", error=str(exc),
                                          failures=failures)
        finally:
            db.close()
