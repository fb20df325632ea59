"""The records follower: journal rows in, record rows out, journal compacted behind it.

Runs off the ack path, in a process of its own by default (another core) or a thread.
Its position lives in the records store, written in the same transaction as the rows,
so it can stop anywhere and a records file deleted is rebuilt from what the journal
still holds.  Once a journal row's messages are recorded (and finished, and older than
``journal_keep``) it is deleted, so the journal stays bounded.  On a timer it drops
partitions past the retention and logs which.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from itertools import islice
from typing import Any, Protocol

import orjson
import structlog

from router.logs import LogSettings, configure, sampled
from router.store.packing import unpack_bodies
from router.store.records import fold, months
from router.store.records.derive import records_of, refused_records
from router.store.records.open import RecordStore, open_stores
from router.store.records.order import foldable, parsed
from router.store.records.settings import RecordSettings
from router.store.records.source import Source
from router.store.records.sqlite import Step
from router.store.rows import DB_ERRORS
from router.store.settings import StoreSettings
from router.store.sqlite_unlocked import unlock

log = structlog.get_logger("chapar.records")
Clock = Callable[[], float]
COLLECT_EVERY = 16
"""Full rounds between collections while catching up."""


class Stop(Protocol):
    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class Follower:
    def __init__(self, source: Source, records: RecordStore, settings: RecordSettings,
                 clock: Clock = time.time) -> None:
        self._settings = settings
        self._records = records
        self._clock = clock
        self._source = source
        self._cursor = records.cursor()
        self._rounds = 0
        self._reread = False
        """A write failed: the records' own cursor says where to go on."""
        self.written = 0
        """Records written since start."""

    def close(self) -> None:
        self._source.close()

    def round(self) -> int:
        """``step()``, then the collection the process holds back (a thread in the
        router leaves the router's collector as it is): once caught up, or every
        ``COLLECT_EVERY`` full rounds.  Rounds free what they made by reference counts
        (no cycles); a collection after each walked the round still being written
        (PostgreSQL) and took ~9 % of the follower's time."""
        read = self.step()
        if not gc.isenabled():
            self._rounds += 1
            if read < self._settings.batch_rows or not self._rounds % COLLECT_EVERY:
                gc.collect()
        return read

    def step(self) -> int:
        """One round: what the journal got since the cursor, as one records write.
        Returns the most journal rows of one kind read (a full batch: call again)."""
        if self._reread:
            self._cursor = self._records.cursor()
            self._reread = False
        limit = self._settings.batch_rows
        snap = self._source.read(self._cursor, limit)
        batches, refusals = snap.batches, snap.refusals
        read = max(len(batches), len(refusals), len(snap.outcomes), len(snap.receipts),
                   len(snap.money))
        if not read:
            return 0
        step = Step(cursor=replace(self._cursor))
        after, accepted = self._derive(step, batches, refusals)
        outcomes, receipts, money = foldable(
            parsed(snap.outcomes, 2), parsed(snap.receipts, 2), parsed(snap.money, 3), limit,
            after if len(batches) >= limit else None, self._cursor.outcomes)
        events = step.events
        events += [(at, "outcome", fold.outcome_event(upstream, bytes(entries)))
                   for _, at, entries, upstream, _ in outcomes]
        events += [(at, "receipt", bytes(entries)) for _, at, entries, _, _ in receipts]
        events += [(at, "ledger", fold.ledger_event(kind, bytes(entries)))
                   for _, at, kind, entries, _ in money]
        self._fold(step, accepted, [
            *(("outcome", at, (upstream, data)) for _, at, _, upstream, data in outcomes),
            *(("receipt", at, data) for _, at, _, _, data in receipts),
            *(("ledger", at, (kind, data)) for _, at, kind, _, data in money)])
        for rows, name in ((outcomes, "outcomes"), (receipts, "receipts"), (money, "ledger")):
            if rows:
                setattr(step.cursor, name, rows[-1][0])
        self._written(self._records.write, step)
        self._cursor = step.cursor
        self.written += len(step.records)
        return read

    def _derive(self, step: Step, batches: list[Any], refusals: list[Any]) -> tuple[int, int]:
        """The records of the batches, then of the refusals, read; the id after the last
        batch's and how many records the batches made."""
        policy = self._settings.text
        out = step.records
        after = 0
        initial = fold.initial
        unknown = self._records.no_time
        for first_id, account, at, blob, peer in batches:
            bodies = unpack_bodies(blob)
            out += [(record, initial("accepted", unknown))
                    for record in records_of(first_id, account, at, peer, bodies, policy)]
            after = first_id + len(bodies)
        if batches:
            step.cursor.journal = batches[-1][0]
        accepted = len(out)
        for seq, at, account, entries, peer in refusals:
            out.extend((record, initial("refused", unknown))
                       for record in refused_records(seq, at, account, peer,
                                                     orjson.loads(entries)))
        if refusals:
            step.cursor.refusals = refusals[-1][0]
        return after, accepted

    def _written(self, write: Callable[..., None], *args: Step) -> None:
        """``write`` (PostgreSQL's overlaps the next round and raises what the last one
        met): on failure the next round starts again from the records' cursor."""
        try:
            write(*args)
        except DB_ERRORS:
            self._reread = True
            raise

    def flush(self) -> None:
        """Wait until what was read is written."""
        self._written(self._records.flush)

    @staticmethod
    def _fold(step: Step, accepted: int, events: list[tuple[str, float, Any]]) -> None:
        """The round's ``events`` (parsed, in order): into the states of its first
        ``accepted`` rows (the accepted messages) in place, the rest as changes.  Folded
        into changes and merged, a record cost two more lists and a dict entry (~0.3 µs)."""
        if not events:
            return
        states = {record[0]: state for record, state in islice(step.records, accepted)}
        new = len(states)
        fold.fold(events, states)
        step.changes = dict(islice(states.items(), new, None))

    # --- keeping the journal and the records bounded ----------------------------------

    def compact(self) -> int:
        """Delete what the records hold, is finished and older than ``journal_keep``."""
        self.flush()  # the cursor it goes by is written
        return self._source.compact(self._cursor, self._clock() - self._settings.journal_keep)

    def expire(self) -> list[str]:
        """Drop the partitions past the retention; one log line names each."""
        self.flush()
        now = self._clock()
        dropped = months.expired(self._records.months(), self._settings.retention_months, now)
        for month in dropped:
            rows = self._records.drop(month)
            log.warning("records_partition_dropped", month=month, rows=rows,
                        retention_months=self._settings.retention_months)
        return dropped

    def run(self, stop: Stop) -> None:
        """Rounds until ``stop``; failures are logged (sampled) and the round retried."""
        settings = self._settings
        compact_at = retention_at = 0.0
        failures = 0
        while not stop.is_set():
            try:
                while self.round() >= settings.batch_rows and not stop.is_set():
                    pass
                self.flush()
                now = time.monotonic()
                if now >= compact_at:
                    self.compact()
                    compact_at = now + settings.compact_every
                if now >= retention_at:
                    self.expire()
                    retention_at = now + settings.retention_check
                failures = 0
            except DB_ERRORS as exc:  # PostgreSQL away, SQLite locked: the next round
                failures += 1
                if sampled(failures):
                    log.error("records_write_failed", error=str(exc), failures=failures)
            stop.wait(settings.interval)
        with contextlib.suppress(*DB_ERRORS):  # what the last round left
            self.step()
            self.flush()


class _Orphaned:
    """Stop when told (SIGTERM), or when the router that started this process is gone
    (killed with -9 it cannot tell its children)."""

    def __init__(self, parent: int) -> None:
        self._stop = threading.Event()
        self._parent = parent
        signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the router first

    def is_set(self) -> bool:
        return self._stop.is_set() or os.getppid() != self._parent

    def wait(self, timeout: float | None = None) -> bool:
        return self._stop.wait(timeout) or self.is_set()


def _follow(store: StoreSettings, settings: RecordSettings, stop: Stop) -> None:
    source, records = open_stores(store, settings)
    follower = Follower(source, records, settings)
    try:
        follower.run(stop)
    finally:
        follower.close()
        records.close()


def quiet_collector() -> None:
    """The follower's own process: what it holds at start lives as long as it (frozen),
    and the collector runs after each round, not during it.  A round makes ~10
    container objects a record, freed by their counts (none in a cycle); collections
    they triggered took 7-13 % of the follower's time."""
    gc.collect()
    gc.freeze()
    gc.disable()


def main(argv: list[str]) -> None:
    """The follower's process: ``python -m router.store.records.follower STORE RECORDS
    LOG PARENT`` (settings as JSON)."""
    store, settings, log_settings, parent = argv
    records = RecordSettings(**orjson.loads(settings))
    with contextlib.suppress(OSError):  # before any thread: they inherit it
        os.nice(records.nice)
    configure(LogSettings(**orjson.loads(log_settings)))
    if not unlock():  # before the first connection
        log.info("records_sqlite_locks_kept")
    quiet_collector()
    _follow(StoreSettings(**orjson.loads(store)), records, _Orphaned(int(parent)))


def _beside(pid: int) -> None:
    """A router pinned to some cores (``taskset``) leaves its follower the others: the
    follower would otherwise inherit the pin and take the router's own core.  Unpinned
    (or no other core allowed): nothing changes."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or a cpuset refuses
        mine = os.sched_getaffinity(0)
        others = set(range(os.cpu_count() or 1)) - mine
        if others:
            os.sched_setaffinity(pid, others)


class Writer:
    """The follower started beside the router: a process (default) or a thread."""

    def __init__(self, store: StoreSettings, settings: RecordSettings,
                 log_settings: LogSettings) -> None:
        self._store = store
        self._settings = settings
        self._log = log_settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self._settings.writer == "thread":
            self._thread = threading.Thread(target=_follow, name="chapar-records", daemon=True,
                                            args=(self._store, self._settings, self._stop))
            self._thread.start()
            return
        self._process = subprocess.Popen(
            [sys.executable, "-m", "router.store.records.follower",
             orjson.dumps(asdict(self._store)).decode(),
             orjson.dumps(asdict(self._settings)).decode(),
             orjson.dumps(asdict(self._log)).decode(), str(os.getpid())])
        _beside(self._process.pid)

    def close(self, timeout: float = 5.0) -> None:
        """Stop after a last round (the journal is closed by then: nothing is left)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
