"""Limits and balances shared by two router processes through Redis (issue 11 item 4,
"Done when"): two real ``chapar run`` processes with journals of their own, one registry,
one real redis-server (pytest-redis, Debian's binary), smpplib ESMEs on real sockets.

requirements.md §6: "throttling ... must hold across router instances (shared state)";
§5: "a submit that the balance cannot cover is refused".  After every test the ledgers'
sum is the balance: Redis's pool once both processes gave back what they held.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from router.policy.shared import GIVE_BACK_WAIT
from router.store.ledger import Ledger
from router.store.settings import StoreSettings
from tests.clients import Esme, bound
from tests.conftest import Pair, RouterProcess, SharedRedis, wait_for
from tests.integration.policy.test_billing_policy import billing, send
from tests.integration.policy.test_bind_security import RBINDFAIL, SourceClient, bind_status
from tests.integration.policy.test_throttle_policy import MCI, read_ready, statuses

ROK, THROTTLED, QUOTA, NO_MONEY = 0x00, 0x58, 0x040B, 0x040C
PRICE = 10


def accounts(password_hash: str, **limits: Any) -> list[dict[str, Any]]:
    return [{"system_id": name, "password_hash": password_hash,
             "allowed_ips": ["127.0.0.0/8", "::1"], "domestic_exempt": True,
             "status_style": "vendor", **limits} for name in ("esme1", "esme2")]


def ledger(router: RouterProcess, account: str = "esme1") -> list[tuple[float, int]]:
    """The router's own ledger: beside its journal file, or in its journal's schema of
    the one PostgreSQL (two nodes)."""
    store = router.config["store"]
    if store.get("backend") == "postgres":
        with Ledger(StoreSettings(**store).journal()) as rows:
            return [(at, amount) for _, at, _, amount, _, _ in rows.rows(account)]
    with sqlite3.connect(router.workdir / "var" / "chapar.db") as db:
        return list(db.execute("SELECT at, amount FROM ledger WHERE account = ? "
                               "ORDER BY seq", (account,)))


def balance(pair: Pair) -> int:
    """The account's balance: the sum of both ledgers (each holds its own entries)."""
    return sum(amount for router in pair for _, amount in ledger(router))


def never_negative(pair: Pair) -> None:
    running = 0
    for _, amount in sorted(row for router in pair for row in ledger(router)):
        running += amount
        assert running >= 0


def stopped_and_reconciled(pair: Pair, shared: SharedRedis, expected: int) -> None:
    """Both processes stop (giving back what they hold): Redis's pool for the account
    is the ledgers' sum, and that is ``expected``."""
    for router in pair:
        assert router.stop(timeout=60) == 0
    assert balance(pair) == expected
    never_negative(pair)
    pool = shared.client().get(f"{shared.prefix}:money:esme1")
    assert int(pool or 0) == expected


def in_threads(*jobs: Callable[[], None]) -> None:
    threads = [threading.Thread(target=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert not any(t.is_alive() for t in threads)


def pace(router: RouterProcess, seconds: float, per_second: int, out: list[int]) -> None:
    """Offer ``per_second`` submits a second for ``seconds``; every answer into ``out``."""
    with bound(Esme(router.port)) as esme:
        started = time.monotonic()
        sent = 0
        step = 0.05
        while (elapsed := time.monotonic() - started) < seconds:
            due = (int(elapsed / step) + 1) * int(per_second * step)
            while sent < due:
                esme.send("98100", MCI, b"x")
                sent += 1
            read_ready(esme)
            time.sleep(step / 2)
        esme.pump(lambda: len(esme.responses) >= sent)
    out.extend(statuses(esme))


def test_two_processes_share_one_rate(make_pair: Callable[..., Pair], password_hash: str,
                                      store_backend: dict[str, Any]) -> None:
    """requirements §6: one account's rate holds across two processes: each offered the
    whole rate (2x together) for 8 s, accepted = burst + rate x time within 5 %.  On
    PostgreSQL: two nodes on one database and one Redis (issue 16 item 3)."""
    rate, burst, seconds = 100, 100, 8.0
    pair = make_pair(policy={"stages": ["lines", "throttle"]}, store=store_backend,
                     accounts=accounts(password_hash, rate=rate, burst=burst))
    got: list[list[int]] = [[], []]
    in_threads(*(lambda r=r, o=o: pace(r, seconds, rate, o)
                 for r, o in zip(pair, got, strict=True)))
    statuses_all = got[0] + got[1]
    accepted = statuses_all.count(ROK)
    expected = burst + rate * seconds
    assert abs(accepted - expected) <= 0.05 * expected, (accepted, expected)
    assert statuses_all.count(THROTTLED) == len(statuses_all) - accepted
    assert min(g.count(ROK) for g in got) > 0.3 * expected, "both processes got a share"


def test_a_daily_quota_is_shared(make_pair: Callable[..., Pair], password_hash: str,
                                 store_backend: dict[str, Any]) -> None:
    """requirements §6 (quotas): 50 segments a day for the account, 40 submits at each
    process: never more than 50 accepted together, the rest refused as quota_spent (on
    PostgreSQL too: two nodes, one database)."""
    pair = make_pair(redis={"quota_lease": 10}, policy={"stages": ["lines", "throttle"]},
                     store=store_backend,
                     accounts=accounts(password_hash, daily=50))
    got: list[list[int]] = [[], []]

    def one(router: RouterProcess, out: list[int]) -> None:
        with bound(Esme(router.port)) as esme:
            for _ in range(8):
                out += send(esme, 5)
                time.sleep(0.05)

    in_threads(*(lambda r=r, o=o: one(r, o) for r, o in zip(pair, got, strict=True)))
    statuses_all = got[0] + got[1]
    assert 50 - 2 * 10 <= statuses_all.count(ROK) <= 50
    assert statuses_all.count(QUOTA) == len(statuses_all) - statuses_all.count(ROK)


def spend(pair: Pair, rounds: int, out: list[int]) -> None:
    """Two connections on each process send ``rounds`` times 5 submits, 50 ms apart."""
    lock = threading.Lock()

    def one(router: RouterProcess) -> None:
        got = []
        with bound(Esme(router.port)) as esme:
            for _ in range(rounds):
                got += send(esme, 5)
                time.sleep(0.05)
        with lock:
            out.extend(got)

    in_threads(*(lambda r=r: one(r) for r in (*pair, *pair)))


def test_balance_never_negative_with_four_connections_over_two_processes(
        make_pair: Callable[..., Pair], shared_redis: SharedRedis,
        store_backend: dict[str, Any]) -> None:
    """requirements §5: 1,000 of balance (100 messages) and 4 x 60 submits over two
    processes: never more than 100 accepted, the ledgers never below 0; what a process
    held unused goes back, so a second round spends the rest.  On PostgreSQL: two nodes
    on one database and one Redis, a ledger each (issue 16 item 3)."""
    lease = 50
    pair = make_pair(redis={"money_lease": lease, "idle_return": 0.3}, store=store_backend,
                     policy={"stages": ["lines", "billing"], "default_price": PRICE})
    billing(pair[0], "topup", "esme1", "1000", "--note", "test")
    time.sleep(1.5)  # the router reads topups once a second; the next tick reports it
    first: list[int] = []
    spend(pair, 12, first)
    assert len(first) == 240 and first.count(ROK) <= 100
    # refused: no money anywhere, or money the other process or the pool holds (send
    # again: balance_elsewhere)
    assert set(first) <= {ROK, NO_MONEY, THROTTLED}
    time.sleep(1.0)  # past idle_return: the excess over a lease goes back to Redis
    second: list[int] = []
    spend(pair, 2, second)
    accepted = first.count(ROK) + second.count(ROK)
    assert 100 - 2 * lease // PRICE <= accepted <= 100, (first.count(ROK), second.count(ROK))
    stopped_and_reconciled(pair, shared_redis, 1000 - PRICE * accepted)


def test_redis_stopped_mid_run(make_pair: Callable[..., Pair],
                               shared_redis: SharedRedis) -> None:
    """Redis stops under traffic: no overspend (each process spends only what it holds),
    the service goes on, each process says so once; Redis comes back (empty: it kept no
    data) and the next reports put the balance right."""
    lease = 100
    pair = make_pair(redis={"money_lease": lease, "idle_return": 60, "retry": 0.2},
                     policy={"stages": ["lines", "billing"], "default_price": PRICE})
    billing(pair[0], "topup", "esme1", "1000", "--note", "test")
    time.sleep(1.5)  # the router reads topups once a second; the next tick reports it
    before: list[int] = []
    spend(pair, 1, before)
    assert before == [ROK] * 20
    shared_redis.server.stop()
    for router in pair:
        router.wait_event("redis_unreachable")
    during: list[int] = []
    spend(pair, 4, during)
    assert during.count(ROK) > 0, "served on what the processes held"
    assert before.count(ROK) + during.count(ROK) <= 100, "and no more"
    shared_redis.server.start()
    for router in pair:
        router.wait_event("redis_reconnected", timeout=15)
    time.sleep(2.5)  # the settle after Redis lost its data, then leases again
    after: list[int] = []
    spend(pair, 4, after)
    accepted = sum(r.count(ROK) for r in (before, during, after))
    assert 100 - 2 * lease // PRICE <= accepted <= 100
    for router in pair:
        assert len([e for e in router.events() if e.get("event") == "redis_unreachable"]) == 1
    stopped_and_reconciled(pair, shared_redis, 1000 - PRICE * accepted)


@pytest.mark.parametrize("redis_state", ["frozen", "stopped"])
def test_a_stop_ends_in_time_with_redis_frozen_or_gone(
        make_pair: Callable[..., Pair], shared_redis: SharedRedis, redis_state: str) -> None:
    """SIGTERM while Redis does not answer (its process stopped with SIGSTOP: connections
    open, nothing read) or is gone: each process still exits 0 within its
    ``shutdown_timeout`` plus the give-back's two bounded waits, keeps what it holds out
    of use (said once) and its ledger holds every acknowledged charge."""
    pair = make_pair(redis={"money_lease": 100, "idle_return": 60, "retry": 0.2},
                     policy={"stages": ["lines", "throttle", "billing"],
                             "default_price": PRICE})
    billing(pair[0], "topup", "esme1", "1000", "--note", "test")
    time.sleep(1.5)  # the router reads topups once a second; the next tick reports it
    before: list[int] = []
    spend(pair, 1, before)
    assert before == [ROK] * 20
    process = shared_redis.server.process
    if redis_state == "frozen":
        os.kill(process.pid, signal.SIGSTOP)
    else:
        shared_redis.server.stop()
    try:
        time.sleep(0.5)  # a tick is under way against the silent server
        started = time.monotonic()
        for router in pair:
            assert router.proc is not None
            router.proc.send_signal(signal.SIGTERM)
        codes = [router.proc.wait(30) for router in pair if router.proc is not None]
        took = time.monotonic() - started
    finally:
        if redis_state == "frozen":
            os.kill(process.pid, signal.SIGCONT)
    shutdown_timeout = pair[0].config["dispatch"]["shutdown_timeout"]
    assert codes == [0, 0]
    assert took < shutdown_timeout + 2 * GIVE_BACK_WAIT + 3.0, took
    for router in pair:
        assert len([e for e in router.events() if e.get("event") == "redis_not_given_back"]) == 1
        assert any(e.get("event") == "stopped" for e in router.events())
    spent = -sum(amount for router in pair for _, amount in ledger(router) if amount < 0)
    assert spent == PRICE * 20


# --- max_binds over every process (issue 16 item 2) -----------------------------------

def test_max_binds_counts_the_binds_of_every_process(
        make_pair: Callable[..., Pair], password_hash: str) -> None:
    """requirements §1 (no more concurrent binds than the account may hold) over two
    processes: one bind on each, a third is refused by either; when one ends, the other
    process takes a bind again; another account keeps its own count."""
    a, b = make_pair(accounts=accounts(password_hash, max_binds=2))
    held: list[SourceClient] = []
    assert bind_status(a, "127.0.0.1", "esme1", keep=held) == ROK
    assert bind_status(b, "127.0.0.1", "esme1", keep=held) == ROK
    assert bind_status(a, "127.0.0.1", "esme1") == RBINDFAIL
    assert bind_status(b, "127.0.0.1", "esme1") == RBINDFAIL
    assert bind_status(b, "127.0.0.1", "esme2") == ROK
    held[0].unbind()
    held[0].disconnect()
    assert wait_for(lambda: bind_status(b, "127.0.0.1", "esme1", keep=held) == ROK, 15), \
        "the bind given back on A stays counted"
    assert bind_status(a, "127.0.0.1", "esme1") == RBINDFAIL
    for client in held[1:]:
        client.unbind()
        client.disconnect()


def test_binds_of_a_killed_process_lapse(make_pair: Callable[..., Pair],
                                         password_hash: str) -> None:
    """A process killed with SIGKILL cannot give its binds back: they count until
    ``redis.bind_ttl`` after its last keep-alive, then the other process binds again."""
    a, b = make_pair(redis={"bind_ttl": 2.0}, accounts=accounts(password_hash, max_binds=2))
    held: list[SourceClient] = []
    assert bind_status(b, "127.0.0.1", "esme1", keep=held) == ROK
    assert bind_status(b, "127.0.0.1", "esme1", keep=held) == ROK
    time.sleep(2.5)  # past one ttl: kept alive, the slots still count
    assert bind_status(a, "127.0.0.1", "esme1") == RBINDFAIL
    b.kill()
    killed = time.monotonic()
    assert wait_for(lambda: bind_status(a, "127.0.0.1", "esme1") == ROK, 15)
    assert time.monotonic() - killed < 10
    for client in held:
        client.disconnect()
