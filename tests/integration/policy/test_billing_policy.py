"""Prepaid billing end to end (issue 11, "Done when"): a real ``chapar run``, real TCP,
smpplib ESMEs, the C sink as carrier, ``chapar billing`` for topups and balances.

requirements.md §5: "a message reserves its cost when accepted, the charge is kept on
success and returned on final failure; a submit that the balance cannot cover is refused
with a clear error code."  After every test the ledger's sum is the balance.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.clients import Esme, bound
from tests.conftest import LINES, ROOT, RouterProcess, Sink

ROK, NO_MONEY = 0x00, 0x040C
MCI = "989121234567"
STAGES = {"stages": ["lines", "billing"], "default_price": 10}


def billing(router: RouterProcess, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "router.cli", "billing", *args, "--config",
                           str(router.workdir / "chapar.yaml")], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def topup(router: RouterProcess, account: str, amount: int) -> None:
    billing(router, "topup", account, str(amount), "--note", "test")
    time.sleep(1.3)  # the router reads topups once a second


def ledger_rows(router: RouterProcess, account: str) -> list[tuple[str, int]]:
    with sqlite3.connect(router.workdir / "var" / "chapar.db") as db:
        return list(db.execute("SELECT kind, amount FROM ledger WHERE account = ? "
                               "ORDER BY seq", (account,)))


def settled(router: RouterProcess, account: str, balance: int, timeout: float = 15.0) -> None:
    """The ledger sums to ``balance`` (the CLI's answer too), and never went below 0."""
    deadline = time.monotonic() + timeout
    while sum(a for _, a in ledger_rows(router, account)) != balance:
        assert time.monotonic() < deadline, (ledger_rows(router, account), balance)
        time.sleep(0.1)
    running = 0
    for _, amount in ledger_rows(router, account):
        running += amount
        assert running >= 0
    assert int(billing(router, "balance", account)) == balance


def send(esme: Esme, count: int, source: str = "98100", **fields: Any) -> list[int]:
    seqs = [esme.send(source, MCI, b"x", **fields) for _ in range(count)]
    esme.pump(lambda: all(s in esme.responses for s in seqs))
    return [esme.responses[s].status for s in seqs]


def carrier(port: int) -> list[dict[str, Any]]:
    return [{"name": "carrier", "port": port, "connections": 1, "window": 32,
             "reconnect_min": 0.1, "reconnect_max": 0.5}]


def test_insufficient_balance_refused_with_its_own_reason(
        make_router: Callable[..., RouterProcess]) -> None:
    router = make_router(policy=STAGES)
    topup(router, "esme1", 95)
    with bound(Esme(router.port)) as esme:
        got = send(esme, 12)
    assert got == [ROK] * 9 + [NO_MONEY] * 3
    settled(router, "esme1", 5)
    statement = billing(router, "statement", "esme1", "--from", "2000-01-01")
    assert statement.count(",reserve,") == 9 and statement.count(",commit,") == 9


def test_balance_never_negative_with_four_connections(
        make_router: Callable[..., RouterProcess]) -> None:
    router = make_router(policy=STAGES)
    topup(router, "esme1", 1000)  # 100 messages
    results: list[list[int]] = []

    def one() -> None:
        with bound(Esme(router.port)) as esme:
            results.append(send(esme, 60))

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = [s for r in results for s in r]
    assert len(statuses) == 240
    assert statuses.count(ROK) == 100 and statuses.count(NO_MONEY) == 140
    settled(router, "esme1", 0)


def test_carrier_refusal_and_undeliv_receipt_are_refunded(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        password_hash: str) -> None:
    """Every 4th submit refused by the carrier (0x45, final); some receipts UNDELIV.
    esme1 is charged on carrier acceptance, esme2 on DELIVRD."""
    sink = make_sink("--error-rate", "0.25", "--dlr", "--dlr-fail-rate", "0.5")
    accounts = [{"system_id": name, "password_hash": password_hash,
                 "allowed_ips": ["127.0.0.0/8"], "domestic_exempt": True,
                 "status_style": "vendor", "charge_on": charge_on}
                for name, charge_on in (("esme1", "accept"), ("esme2", "delivery"))]
    router = make_router(policy=STAGES, simulator={"enabled": False},
                         upstreams=carrier(sink.port), accounts=accounts)
    router.wait_event("upstream_bound")
    topup(router, "esme1", 1000)
    topup(router, "esme2", 1000)
    with bound(Esme(router.port)) as esme:
        assert send(esme, 8) == [ROK] * 8  # no receipts asked: settled by the answer
    settled(router, "esme1", 1000 - 60)  # 2 of 8 refused by the carrier: refunded
    with bound(Esme(router.port), system_id="esme2") as esme:
        assert send(esme, 8, source="98200", registered_delivery=1) == [ROK] * 8
        esme.pump(lambda: len(esme.delivered) >= 8, timeout=15)
        texts = [pdu.short_message for pdu in esme.delivered]
    delivered = sum(b"stat:DELIVRD" in t for t in texts)
    assert sum(b"stat:UNDELIV" in t for t in texts) >= 1
    assert sum(b"stat:REJECTD" in t for t in texts) == 2
    settled(router, "esme2", 1000 - 10 * delivered)
    kinds = {k for k, _ in ledger_rows(router, "esme2")}
    assert kinds == {"topup", "reserve", "commit", "refund"}


def test_quarantine_reject_after_restart_is_refunded(
        make_router: Callable[..., RouterProcess]) -> None:
    """A held message's reservation outlives a restart (rebuilt from the ledger) and is
    refunded when an operator rejects it; the clean one is charged."""
    router = make_router(policy={**STAGES, "stages": ["lines", "content", "billing"]})
    topup(router, "esme1", 1000)
    source = LINES["esme1"][0]
    with bound(Esme(router.port)) as esme:
        held = esme.send(source, MCI, "تبریک! شما برنده جایزه شدید".encode("utf-16-be"),
                         data_coding=8)
        clean = esme.send(source, MCI, b"your code is 1234")
        esme.pump(lambda: held in esme.responses and clean in esme.responses)
        assert esme.responses[held].status == esme.responses[clean].status == ROK
        message_id = esme.responses[held].message_id
    settled(router, "esme1", 1000 - 20)  # both reserved; the clean one committed later
    assert router.stop() == 0
    router.start()
    message_id = message_id.decode() if isinstance(message_id, bytes) else message_id
    subprocess.run([sys.executable, "-m", "router.cli", "quarantine", "reject", message_id,
                    "--config", str(router.workdir / "chapar.yaml")], cwd=ROOT, check=True)
    assert router.wait_event("quarantine_applied")["rejected"] == 1
    settled(router, "esme1", 1000 - 10)
    kinds = [k for k, _ in ledger_rows(router, "esme1")]
    assert kinds.count("refund") == 1 and "commit" in kinds
