"""A router started with another worker layout than the last run's (``chapar run`` after
``--workers 2``, ``--workers 2`` after a single run, ``--workers 2`` after ``--workers
3``) while a journal the new layout does not serve still holds acknowledged messages:
the start is refused, naming that journal, what it holds and the command that serves
it; that command sends every acknowledged id to the carrier (per id, by smppsink's
record); then the new layout starts.  Real router processes, smppload as the ESMEs, the
C sink as the carrier, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests import acks, clients
from tests.conftest import LINES, RouterProcess, Sink, free_port, wait_for
from tests.integration.admin.support import TOKEN, call
from tests.integration.app.test_workers import chapar

INSUFFICIENT_BALANCE = 0x040C
COUNT = 240
"""Messages acknowledged while the carrier is down."""


def _router(make_router: Callable[..., RouterProcess], workers: int, carrier_port: int,
            store: dict[str, Any], **overrides: Any) -> RouterProcess:
    args = ("--workers", str(workers)) if workers > 1 else ()
    return make_router(cli_args=args, ready=workers, simulator={"enabled": False},
                       store=store, log={"level": "info"},
                       admin={"token": TOKEN, "port": free_port(span=workers)},
                       upstreams=[{"name": "carrier", "port": carrier_port,
                                   "reconnect_min": 0.1, "reconnect_max": 0.5}],
                       **overrides)


def _accept_while_carrier_down(router: RouterProcess, tmp_path: Path, name: str
                               ) -> acks.Acks:
    """smppload over 24 connections (the kernel spreads them over the workers):
    every message acknowledged, none sent (nothing listens on the carrier's port)."""
    ack_file = tmp_path / f"{name}.acks"
    load = acks.load(router.port, ack_file, "--conns", "24", "--window", "4",
                     "--count", str(COUNT), max_time=60)
    acks.summary(load)
    got = acks.read_acks(ack_file)
    assert len(got.accepted) == COUNT, f"refused: {got.refused}"
    assert router.stop() == 0
    return got


def _refused_start(router: RouterProcess, workers: int) -> tuple[int, str]:
    """``chapar run`` on the router's config with ``--workers N``, expected to refuse:
    (exit code, stderr).  One that starts instead is stopped (its workers too: a
    process group of its own) after a while."""
    args = ["--workers", str(workers)] if workers > 1 else []
    config = router.workdir / "chapar.yaml"
    proc = subprocess.Popen([sys.executable, "-m", "router.cli", "run", "--config",
                             str(config), *args], cwd=router.workdir, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        raise AssertionError(f"started with journals left behind: {err[-2000:]}") from None
    return proc.returncode, err


def _check_refusal(done: tuple[int, str], journal: str, command: str) -> None:
    code, err = done
    assert code == 3, (code, err[-2000:])
    said = [line for line in err.splitlines() if line.startswith("chapar: ")]
    assert len(said) == 1, err[-2000:]
    assert journal in said[0] and command in said[0] and "messages to send" in said[0], said
    print(said[0])
    logged = [line for line in err.splitlines() if '"layout_refused"' in line]
    assert len(logged) == 1, err[-2000:]


def _delivered(router: RouterProcess, got: acks.Acks, sink: Sink) -> None:
    lost, duplicates = acks.wait_delivered(got, sink, timeout=60)
    assert lost == [], f"{len(lost)} of {len(got.accepted)} acknowledged ids never sent"
    assert duplicates == 0
    assert router.stop() == 0


@pytest.mark.parametrize(("before", "after"), [(2, 1), (1, 2), (3, 2)],
                         ids=["workers2-to-single", "single-to-workers2", "workers3-to-2"])
def test_a_layout_change_never_strands_acknowledged_messages(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        tmp_path: Path, store_backend: dict[str, Any], before: int, after: int) -> None:
    """requirements §6 and design §3.3 (ESME_ROK is a promise): messages acknowledged by
    one worker layout, left in its journals while the carrier was down, are never
    silently stranded by a start with another layout: the start is refused (exit 3, one
    ``layout_refused`` log line, stderr naming the journal, its counts and the command
    that serves it); that command sends every acknowledged id once; then the new layout
    starts."""
    down = free_port()
    first = _router(make_router, before, down, store_backend)
    got = _accept_while_carrier_down(first, tmp_path, "first")
    if before > 1:
        _check_ids_unique(first, store_backend, before)
    stranded = _stranded_journal(store_backend, before, after)
    command = f"--workers {before}" if before > 1 else "without --workers"
    _check_refusal(_refused_start(first, after), stranded, command)
    sink = make_sink(record=True)
    again = _router(make_router, before, sink.port, store_backend)
    _delivered(again, got, sink)
    changed = _router(make_router, after, sink.port, store_backend)  # nothing left: starts
    assert changed.stop() == 0


def _check_ids_unique(router: RouterProcess, store: dict[str, Any], workers: int) -> None:
    """Every id of every worker's journal is its own (the workers take ids in blocks of
    their own: router/store/ids.py)."""
    ids = asyncio.run(_pg_ids(store["dsn"], workers)) if store else _sqlite_ids(router, workers)
    assert sum(len(each) for each in ids) == COUNT, [len(each) for each in ids]
    assert len(set().union(*ids)) == COUNT, "two workers gave out the same id"


def _sqlite_ids(router: RouterProcess, workers: int) -> list[set[int]]:
    found = []
    for index in range(workers):
        db = sqlite3.connect(router.workdir / "var" / f"chapar.w{index}.db")
        try:
            rows = db.execute("SELECT first_id, count FROM journal").fetchall()
        finally:
            db.close()
        found.append({i for first, count in rows for i in range(first, first + count)})
    return found


async def _pg_ids(dsn: str, workers: int) -> list[set[int]]:
    conn = await asyncpg.connect(dsn)
    try:
        found = []
        for index in range(workers):
            rows = await conn.fetch(f"SELECT first_id, count FROM chapar_w{index}.journal")
            found.append({i for r in rows for i in range(r[0], r[0] + r[1])})
        return found
    finally:
        await conn.close()


def _stranded_journal(store: dict[str, Any], before: int, after: int) -> str:
    """How the refusal names the journal the new layout leaves behind."""
    index = before - 1 if before > 1 else None
    if store:
        return "the default schema" if index is None else f"schema chapar_w{index}"
    return "chapar.db" if index is None else f"chapar.w{index}.db"


def _send(router: RouterProcess, count: int) -> int:
    """``count`` messages of esme1, each on a connection of its own (so both workers
    get some): how many were accepted (the others refused for the balance)."""
    accepted = 0
    for _ in range(count):
        esme = clients.Esme(router.port)
        try:
            assert esme.bind().status == 0
            seq = esme.send(LINES["esme1"][0], "989121234567", b"paid")
            esme.pump(lambda e=esme, s=seq: s in e.responses)  # type: ignore[misc]
            status = esme.responses[seq].status
        finally:
            esme.close()
        assert status in (0, INSUFFICIENT_BALANCE), hex(status)
        accepted += status == 0
    return accepted


def test_the_new_layout_counts_the_money_the_old_one_charged(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        store_backend: dict[str, Any]) -> None:
    """requirements §5: charges written in the journals of ``--workers 2`` still count
    after a restart in single mode: the running router's balance (explain, and what it
    lets esme1 send) equals `chapar billing balance` (the sum of every journal's
    ledger), never more."""
    sink = make_sink(record=True)
    billing = {"policy": {"stages": ["lines", "content", "billing"], "default_price": 10}}
    workers = _router(make_router, 2, sink.port, store_backend, **billing)
    chapar(workers, "billing", "topup", "esme1", "100")
    time.sleep(1.5)  # worker 0 reads topups once a second
    charged = _send(workers, 12)  # without Redis only worker 0 holds the topup
    assert charged > 0, "worker 0 never took a message"
    assert workers.stop() == 0
    assert int(chapar(workers, "billing", "balance", "esme1")) == 100 - 10 * charged
    single = _router(make_router, 1, sink.port, store_backend, **billing)
    status, body = call(single.config["admin"]["port"], "POST", "/api/explain",
                        {"account": "esme1", "line": LINES["esme1"][0],
                         "destination": "989121234567", "text": "paid"})
    assert status == 200, body
    balance = [r for r in body["rules"] if r["rule"] == "balance"]
    assert balance and balance[0]["balance"] == 100 - 10 * charged, body
    left = _send(single, 12)
    assert left == 10 - charged
    assert single.stop() == 0
    assert int(chapar(single, "billing", "balance", "esme1")) == 0


def test_queued_receipts_and_quarantine_also_keep_a_journal_in_use(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        store_backend: dict[str, Any]) -> None:
    """requirements §3 (held messages await an operator) and design §3.3: a worker
    journal whose messages all reached the carrier still holds the receipts queued for
    an ESME that has no receiver bound, and a message held in quarantine: a start in
    single mode is refused and names them."""
    sink = make_sink("--dlr", record=True)
    router = _router(make_router, 2, sink.port, store_backend,
                     policy={"stages": ["lines", "content"]})
    for text in [b"receipt please"] * 8 + ["تبریک! شما برنده جایزه شدید".encode("utf-16-be")]:
        esme = clients.Esme(router.port)
        try:
            assert esme.bind("transmitter").status == 0
            seq = esme.send(LINES["esme1"][0], "989121234567", text, registered_delivery=1,
                            data_coding=0 if text.isascii() else 8)
            esme.pump(lambda e=esme, s=seq: s in e.responses)  # type: ignore[misc]
            assert esme.responses[seq].status == 0
        finally:
            esme.close()
    assert wait_for(lambda: len(sink.records()) >= 8, 20), "the carrier got them all"
    time.sleep(1.0)  # the carrier's receipts reach the journals' receipt queues
    assert router.stop() == 0
    code, err = _refused_start(router, 1)
    assert code == 3, err[-2000:]
    said = next(line for line in err.splitlines() if line.startswith("chapar: "))
    print(said)
    assert "receipts and MO for ESMEs" in said and "1 in quarantine" in said, said
    assert "messages to send" not in said, said
