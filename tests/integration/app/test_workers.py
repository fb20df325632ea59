"""``chapar run --workers 2``: both ways of sharing the port serve real smpplib ESMEs, a
worker killed with SIGKILL under load is started again and replays its own journal
(every acknowledged id reaches the sink), SIGTERM drains every worker and exits 0."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests import acks, clients
from tests.conftest import LINES, RouterProcess, SharedRedis, Sink, free_port, wait_for
from tests.integration.admin.support import TOKEN, call

WORKERS = ("--workers", "2")


def worker_pids(router: RouterProcess) -> dict[int, int]:
    """The latest pid of each worker, from the supervisor's ``worker_started`` events."""
    return {e["worker"]: e["pid"] for e in router.events()
            if e.get("event") == "worker_started"}


def sessions_per_worker(router: RouterProcess) -> list[int]:
    base = router.config["admin"]["port"]
    counts = []
    for index in range(2):
        status, body = call(base + index, "GET", "/api/sessions")
        assert status == 200, body
        counts.append(len(body["sessions"]))
    return counts


@pytest.mark.parametrize("share", ["reuseport", "inherit", "deal"])
def test_workers_share_the_port_and_drain_on_sigterm(
        make_router: Callable[..., RouterProcess], share: str) -> None:
    router = make_router(cli_args=(*WORKERS, "--share", share), ready=2,
                         admin={"token": TOKEN, "port": free_port(span=2)})
    esmes = [clients.Esme(router.port) for _ in range(12)]
    for esme in esmes:
        assert esme.bind().status == 0
        esme.send(LINES["esme1"][0], "989121234567", b"hello")
    for esme in esmes:
        esme.pump(lambda e=esme: len(e.responses) == 1)  # type: ignore[misc]
        assert next(iter(esme.responses.values())).status == 0
    per_worker = sessions_per_worker(router)
    assert sum(per_worker) == 12, per_worker
    if share == "reuseport":  # the kernel's hash: all 12 on one worker is 1 in 2,048
        assert min(per_worker) > 0, per_worker
    if share == "deal":  # in turn: as even as can be
        assert per_worker == [6, 6], per_worker
    print(f"{share}: sessions per worker {per_worker}")
    for esme in esmes:
        esme.close()
    assert router.stop() == 0
    stopped = [e for e in router.events() if e.get("event") == "supervisor_stopped"]
    assert stopped and stopped[-1]["failed"] == {}
    assert sorted(e["worker"] for e in router.events() if e.get("event") == "stopped") == [0, 1]
    assert sorted(p.name for p in (router.workdir / "var").glob("chapar.w*.db")) == [
        "chapar.w0.db", "chapar.w1.db"]


def test_dealt_connections_are_even_and_pass_over_a_dead_worker(
        make_router: Callable[..., RouterProcess]) -> None:
    """issue 16 (--share deal): four sessions opened at once are two on each worker
    (SO_REUSEPORT's hash put them 3:1 in four runs of six); with worker 1 dead, every
    new session is served by worker 0 until 1 is back, then they alternate again."""
    router = make_router(cli_args=(*WORKERS, "--share", "deal"), ready=2,
                         admin={"token": TOKEN, "port": free_port(span=2)})
    esmes = [clients.Esme(router.port) for _ in range(4)]
    binds = [threading.Thread(target=e.bind) for e in esmes]
    for t in binds:
        t.start()
    for t in binds:
        t.join(15)
    assert sessions_per_worker(router) == [2, 2]
    victim = worker_pids(router)[1]
    os.kill(victim, signal.SIGKILL)  # dealt while it dies, a session is reset (as with
    router.wait_event("worker_died", where=lambda e: e["pid"] == victim)  # reuseport)
    alone = [clients.Esme(router.port) for _ in range(3)]
    for esme in alone:
        assert esme.bind().status == 0
    router.wait_event("worker_started", timeout=15,
                      where=lambda e: e["worker"] == 1 and e["pid"] != victim)
    assert wait_for(lambda: len(router.events()) > 0 and _serving(router, 1), 15)
    later = [clients.Esme(router.port) for _ in range(4)]
    for esme in later:
        assert esme.bind().status == 0
    per_worker = sessions_per_worker(router)  # 1's first two died with it
    assert sum(per_worker) == 2 + 3 + 4, per_worker
    assert per_worker[0] >= 2 + 2 and per_worker[1] >= 2, per_worker  # restarted within
    # the three binds (backoff 0.5 s) it may have taken some of them
    for esme in (*esmes, *alone, *later):
        esme.close()
    assert router.stop() == 0


def _gone(pid: int) -> bool:
    """Exited (a zombie not reaped yet counts: it runs no more)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("share", ["deal", "reuseport"])
def test_workers_drain_and_exit_when_their_supervisor_is_killed(
        make_router: Callable[..., RouterProcess], share: str) -> None:
    """A supervisor killed with -9 cannot stop its workers; left running they held their
    journals and ports against the next start (a test's killed supervisor left two for
    40 minutes on the embedded admin ports).  Each drains and exits by itself."""
    admin = free_port(span=2)
    router = make_router(cli_args=(*WORKERS, "--share", share), ready=2,
                         admin={"token": TOKEN, "port": admin})
    pids = worker_pids(router)
    esme = clients.Esme(router.port)
    assert esme.bind().status == 0
    assert router.proc is not None
    router.proc.kill()
    router.proc.wait()
    assert wait_for(lambda: all(_gone(pid) for pid in pids.values()), timeout=20), pids
    gone = [e for e in router.events() if e.get("event") == "supervisor_gone"]
    assert sorted(e["worker"] for e in gone) == [0, 1]
    assert sorted(e["worker"] for e in router.events() if e.get("event") == "stopped") == [0, 1]
    esme.close()
    for port in (admin, admin + 1):  # what the workers held is free again
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def _serving(router: RouterProcess, worker: int) -> bool:
    started = [e for e in router.events() if e.get("event") == "listening"
               and e.get("worker") == worker]
    return len(started) >= 2


def test_a_killed_worker_restarts_and_replays_its_journal(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        tmp_path: Path, store_backend: dict[str, Any]) -> None:
    """requirements §1: nothing acknowledged is lost, also when one worker of several dies:
    the supervisor starts it again on its own journal, which it replays (on PostgreSQL
    each worker's journal is a schema of its own, chapar_w0 and chapar_w1)."""
    sink = make_sink("--resp-delay-ms", "30", record=True)
    router = make_router(cli_args=WORKERS, ready=2, simulator={"enabled": False},
                         store=store_backend,
                         log={"level": "info"}, admin={"port": free_port(span=2)},
                         upstreams=[{"name": "sink", "port": sink.port, "window": 256}])
    ack_file = tmp_path / "acks.txt"
    load = acks.load(router.port, ack_file, "--conns", "8", "--window", "64",
                     "--duration", "4", max_time=30)
    acks.wait_acked(ack_file, 4000)
    victim = worker_pids(router)[0]
    os.kill(victim, signal.SIGKILL)
    acks.summary(load)
    got = acks.read_acks(ack_file)
    assert len(got.accepted) >= 4000, "the load never got going"
    restarted = router.wait_event("worker_started", timeout=15,
                                  where=lambda e: e["worker"] == 0 and e["pid"] != victim)
    died = router.wait_event("worker_died", where=lambda e: e["pid"] == victim)
    assert died["code"] == -signal.SIGKILL and died["restart_in"] <= 1.0
    lost, duplicates = acks.wait_delivered(got, sink)
    assert lost == [], f"{len(lost)} of {len(got.accepted)} acknowledged ids lost"
    replayed: list[dict[str, Any]] = [
        e for e in router.events() if e.get("event") == "redispatching"
        and e.get("worker") == 0]
    print(f"worker kill -9: {len(got.accepted)} acknowledged, 0 lost, {duplicates} "
          f"duplicates, restarted as pid {restarted['pid']}, replayed {replayed}")
    assert router.stop() == 0
    if store_backend:
        batches = asyncio.run(_journal_rows(store_backend["dsn"]))
        assert batches["chapar_w0"] > 0 and batches["chapar_w1"] > 0, batches
        assert batches["public"] == 0, batches  # the registry's schema keeps no journal


async def _journal_rows(dsn: str) -> dict[str, int]:
    """Journal rows (read batches) in each schema."""
    conn = await asyncpg.connect(dsn)
    try:
        return {schema: await conn.fetchval(f"SELECT count(*) FROM {schema}.journal")
                for schema in ("public", "chapar_w0", "chapar_w1")}
    finally:
        await conn.close()


def test_receipts_reach_a_receiver_bound_to_the_other_worker(
        make_router: Callable[..., RouterProcess], shared_redis: SharedRedis) -> None:
    """issue 16: "receipts reach a session bound to another worker": the receiver on one
    worker, the transmitter on the other (each worker's carrier brings the receipts of
    what it sent); with Redis every receipt reaches the receiver once, with its id."""
    router = make_router(cli_args=WORKERS, ready=2,
                         admin={"token": TOKEN, "port": free_port(span=2)},
                         redis={"url": shared_redis.url, "prefix": shared_redis.prefix})
    rx = clients.Esme(router.port)
    assert rx.bind("receiver").status == 0
    receiving = sessions_per_worker(router).index(1)
    tx = None
    for _ in range(30):  # the kernel picks the worker: until one lands on the other
        candidate = clients.Esme(router.port)
        assert candidate.bind("transmitter").status == 0
        if sessions_per_worker(router)[1 - receiving]:
            tx = candidate
            break
        candidate.close()
    assert tx is not None, "no transmitter bind reached the other worker in 30 tries"
    line = LINES["esme1"][0]
    sent = [tx.send(line, f"98912100{i:04d}", b"across", registered_delivery=1)
            for i in range(10)]
    tx.pump(lambda: all(seq in tx.responses for seq in sent))
    ids = sorted(tx.responses[seq].message_id for seq in sent)
    rx.pump(lambda: len(rx.delivered) >= 10, timeout=20)
    rx.idle(0.5)
    assert sorted(pdu.receipted_message_id for pdu in rx.delivered) == ids
    tx.close()
    rx.close()
    assert router.stop() == 0


def chapar(router: RouterProcess, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "router.cli", *args, "--config",
                           str(router.workdir / "chapar.yaml")], cwd=router.workdir,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def one_on_each_worker(router: RouterProcess) -> list[clients.Esme]:
    """Two transceivers, one bound to each worker (the kernel picks: bind until so)."""
    first = clients.Esme(router.port)
    assert first.bind().status == 0
    taken = sessions_per_worker(router).index(1)
    for _ in range(30):
        candidate = clients.Esme(router.port)
        assert candidate.bind().status == 0
        if sessions_per_worker(router)[1 - taken]:
            return [first, candidate]
        candidate.close()
    raise AssertionError("no bind reached the other worker in 30 tries")


def test_the_cli_reaches_the_money_and_the_held_messages_of_every_worker(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        shared_redis: SharedRedis) -> None:
    """requirements §5 with ``--workers 2``: a `chapar billing topup` (the config's own
    ledger, read by worker 0) pays for messages sent through either worker (the balance
    shared through Redis), and `chapar billing balance` sums every worker's charges;
    requirements §3: a message quarantined by either worker is listed by `chapar
    quarantine list` with its worker's journal, and `release` sends it to the carrier."""
    sink = make_sink(record=True)
    router = make_router(cli_args=WORKERS, ready=2, simulator={"enabled": False},
                         admin={"token": TOKEN, "port": free_port(span=2)},
                         upstreams=[{"name": "sink", "port": sink.port}],
                         policy={"stages": ["lines", "content", "billing"],
                                 "default_price": 10},
                         redis={"url": shared_redis.url, "prefix": shared_redis.prefix,
                                "money_lease": 100})
    chapar(router, "billing", "topup", "esme1", "1000", "--note", "workers")
    time.sleep(2.5)  # worker 0 reads it within a second, reports it to Redis after
    esmes = one_on_each_worker(router)
    line = LINES["esme1"][0]
    for esme in esmes:
        sent = [esme.send(line, f"98912100{i:04d}", b"paid") for i in range(5)]
        esme.pump(lambda e=esme, s=sent: all(q in e.responses for q in s))  # type: ignore[misc]
        assert [esme.responses[q].status for q in sent] == [0] * 5
    held_seq = esmes[1].send(line, "989121000099", "تبریک! شما برنده جایزه شدید"
                             .encode("utf-16-be"), data_coding=8)
    esmes[1].pump(lambda: held_seq in esmes[1].responses)
    assert esmes[1].responses[held_seq].status == 0
    held_id = esmes[1].responses[held_seq].message_id
    held_hex = held_id.decode() if isinstance(held_id, bytes) else str(held_id)
    listed = [line.split() for line in chapar(router, "quarantine", "list").splitlines()]
    assert len(listed) == 1 and listed[0][0] in ("w0", "w1") and listed[0][1] == held_hex
    chapar(router, "quarantine", "release", held_hex)
    deadline = time.monotonic() + 10
    while len(sink.records()) < 11 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(sink.records()) == 11, "10 paid and the released one reached the carrier"
    for esme in esmes:
        esme.close()
    assert router.stop() == 0
    assert int(chapar(router, "billing", "balance", "esme1")) == 1000 - 10 * 11
