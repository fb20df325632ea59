"""SIGKILL the router while a client submits: every ESME_ROK message reaches the carrier."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.exceptions

from router.store.ledger import Ledger
from tests import acks
from tests.conftest import PASSWORD, RouterProcess, Sink


def test_every_acknowledged_message_survives_sigkill(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink]) -> None:
    # The carrier answers slowly, so at the kill some acknowledged messages are still
    # in the journal only, some in flight to the carrier.
    sink = make_sink("--resp-delay-ms", "50", record=True)
    router = make_router(simulator={"enabled": False},
                         upstreams=[{"name": "sink", "port": sink.port, "window": 8}])
    acked: list[str] = []
    sent: dict[int, str] = {}
    stop = threading.Event()

    def submit_until_killed() -> None:
        client = smpplib.client.Client("127.0.0.1", router.port, timeout=5)

        def on_resp(pdu: smpplib.command.Command) -> None:
            if pdu.status == 0 and pdu.sequence in sent:
                acked.append(sent[pdu.sequence])

        client.set_message_sent_handler(on_resp)
        try:
            client.connect()
            client.bind_transmitter(system_id="esme1", password=PASSWORD)
            n = 0
            while not stop.is_set() and n < 20000:
                tag = f"kill-{n:06d}"
                pdu = client.send_message(
                    source_addr_ton=1, source_addr="1000", dest_addr_ton=1,
                    destination_addr="989121234567", short_message=tag.encode())
                sent[pdu.sequence] = tag
                client.read_once()
                n += 1
        except (smpplib.exceptions.ConnectionError, OSError):
            pass

    worker = threading.Thread(target=submit_until_killed, daemon=True)
    worker.start()
    deadline = time.monotonic() + 30
    while len(acked) < 300 and time.monotonic() < deadline:
        time.sleep(0.01)
    router.kill()
    stop.set()
    worker.join(10)
    assert len(acked) >= 300, "the client never got going"

    router.start()  # same config, same journal
    want = set(acked)
    deadline = time.monotonic() + 30
    missing = want
    while time.monotonic() < deadline:
        seen = {bytes.fromhex(r["short_message"]).decode() for r in sink.records()}
        missing = want - seen
        if not missing:
            break
        time.sleep(0.3)
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {sorted(missing)[:5]}"
    router.wait_event("redispatching")


def test_kill_during_batched_commits_loses_no_acknowledged_id(
        tmp_path: Path, make_router: Callable[..., RouterProcess],
        make_sink: Callable[..., Sink], store_backend: dict[str, Any]) -> None:
    """On each store backend: 4 connections x 256 in flight, so every commit carries many
    read batches; kill -9 mid-run; after a restart every id smppload saw acknowledged
    (``--ack-file``) is in the sink's ``--record``: 0 lost, duplicates reported."""
    sink = make_sink("--resp-delay-ms", "30", record=True)
    router = make_router(simulator={"enabled": False}, log={"level": "info"},
                         upstreams=[{"name": "sink", "port": sink.port, "window": 256}],
                         store=store_backend)
    got = acks.killed_under_load(router, tmp_path / "acks.txt", 5000,
                                 "--conns", "4", "--window", "256", "--duration", "4")

    router.start()
    lost, duplicates = acks.wait_delivered(got, sink)
    assert lost == [], f"{len(lost)} of {len(got.accepted)} acknowledged ids lost"
    print(f"kill -9: {len(got.accepted)} acknowledged, 0 lost, {duplicates} duplicates")
    router.wait_event("redispatching")


def test_kill_under_billing_load_keeps_every_reservation(
        tmp_path: Path, make_router: Callable[..., RouterProcess],
        make_sink: Callable[..., Sink]) -> None:
    """requirements §5 ("a message reserves its cost when accepted"): kill -9 while the
    reservations ride the batch rows (store/ledger.py); every id smppload saw
    acknowledged has its reservation in the ledger, once; after the restart every
    message is charged once and the ledger sums to the topup less their price."""
    sink = make_sink("--resp-delay-ms", "30", record=True)
    router = make_router(simulator={"enabled": False},
                         policy={"stages": ["lines", "billing"], "default_price": 1},
                         upstreams=[{"name": "sink", "port": sink.port, "window": 256}])
    place = router.workdir / "var" / "chapar.db"
    with Ledger(place) as ledger:
        ledger.topup("esme1", 10**9)
    time.sleep(1.3)  # the router reads topups once a second
    got = acks.killed_under_load(router, tmp_path / "acks.txt", 3000,
                                 "--conns", "4", "--window", "256", "--duration", "4")
    acked = {int(message_id, 16) for message_id in got.accepted.values()}
    with sqlite3.connect(place) as db:
        riding = db.execute("SELECT count(*) FROM journal WHERE ledger IS NOT NULL "
                            "AND first_id > (SELECT coalesce(max(seq), 0) FROM ledger_marks "
                            "WHERE name = 'moved')").fetchone()[0]
    print(f"kill -9: {len(acked)} acknowledged, {riding} batch rows carried ledger rows")
    reserved, closed = money(place)
    assert acked <= set(reserved) and len(reserved) == len(set(reserved))

    router.start()
    lost, _ = acks.wait_delivered(got, sink)
    assert lost == []
    deadline = time.monotonic() + 30
    while set(closed) != set(reserved) and time.monotonic() < deadline:
        time.sleep(0.3)
        reserved, closed = money(place)
    assert sorted(closed) == sorted(reserved)  # each charged once, none refunded
    with Ledger(place) as ledger:
        assert ledger.balance("esme1") == 10**9 - len(reserved)


def money(place: Path) -> tuple[list[int], list[int]]:
    """Ids with a reserve entry, and ids a commit or refund closed (a reader moves what
    waits on batch rows first)."""
    reserved: list[int] = []
    closed: list[int] = []
    with Ledger(place) as ledger:
        for _, _, kind, _, _, entries in ledger.rows("esme1"):
            if kind != "topup":
                (reserved if kind == "reserve" else closed).extend(i for i, _ in entries)
    return reserved, closed
