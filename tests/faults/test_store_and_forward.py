"""Store-and-forward (issue 12 item 2) against smppsink's faults: errors, throttling,
dropped connections, slow answers, the sink killed and restarted, and a validity that
passes while no carrier is up.  Each run is proven per message: every id the router
acknowledged (smppload's --ack-file) has a final outcome in the journal, the journal's
accepted ones are exactly the messages the sink's --record accepted, and the rest are
refusals the ESME was told about (REJECTD / EXPIRED receipts)."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from router.model.status import EXPIRED
from tests.clients import Esme, bound
from tests.conftest import RouterProcess, Sink, free_port
from tests.ledger import prove, smppload


def carrier(port: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"name": "carrier", "port": port, "connections": 2, "window": 32,
             "reconnect_min": 0.1, "reconnect_max": 0.5, **extra}]


def journal_outcomes(router: RouterProcess) -> dict[int, list[int]]:
    """Every carrier outcome the journal holds, by our message id."""
    db = sqlite3.connect(router.config["store"]["path"])
    try:
        rows = db.execute("SELECT entries FROM outcomes").fetchall()
    finally:
        db.close()
    found: dict[int, list[int]] = {}
    for (entries,) in rows:
        for message_id, status, *_ in orjson.loads(entries):
            found.setdefault(message_id, []).append(status)
    return found


def acked_ids(acks: Path) -> dict[int, int]:
    """smppload's message number -> our id, for every ESME_ROK."""
    out = {}
    for line in acks.read_text().splitlines():
        tag, _, answer = line.partition(" ")
        if tag.isdigit() and answer and not answer.startswith("!"):
            out[int(tag)] = int(answer, 16)
    return out


def settled(router: RouterProcess, acks: Path, timeout: float) -> dict[int, list[int]]:
    """Wait until every acknowledged message has an outcome in the journal."""
    deadline = time.monotonic() + timeout
    while True:
        outcomes = journal_outcomes(router)
        missing = [i for i in acked_ids(acks).values() if i not in outcomes]
        if not missing or time.monotonic() > deadline:
            assert not missing, f"{len(missing)} acknowledged messages without a final state"
            return outcomes
        time.sleep(0.3)


def check_against_the_sink(router: RouterProcess, acks: Path, sinks: list[Sink],
                           timeout: float = 60) -> tuple[int, int]:
    """Every acknowledged message in a final state; the journal's accepted ones are the
    sink's accepted ones.  Returns (accepted, refused)."""
    outcomes = settled(router, acks, timeout)
    ids = acked_ids(acks)
    records = [r for sink in sinks for r in sink.records()]
    proof = prove(acks, records)
    accepted_in_journal = {n for n, i in ids.items() if 0 in outcomes[i]}
    assert accepted_in_journal == set(proof.accepted), (
        len(accepted_in_journal), len(proof.accepted))
    refused = {n for n, i in ids.items() if 0 not in outcomes[i]}
    assert len(accepted_in_journal) + len(refused) == len(ids)
    return len(accepted_in_journal), len(refused)


@pytest.mark.parametrize(("flags", "upstream", "final_refusals"), [
    (("--error-rate", "0.2", "--error-status", "0x08"), {}, False),  # system error: retried
    (("--error-rate", "0.1"), {}, True),  # 0x45: final, REJECTD
    (("--throttle-rate", "1500"), {}, False),
    (("--drop-after", "300", "--drop-mode", "unbind"), {}, False),  # bind lost: sent again
    (("--resp-delay-ms", "1500"), {"response_timeout": 1.0, "window": 256}, False),
], ids=["error-0x08", "error-0x45", "throttle", "drop-after", "resp-delay"])
def test_every_accepted_message_reaches_a_final_state(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        tmp_path: Path, flags: tuple[str, ...], upstream: dict[str, Any],
        final_refusals: bool) -> None:
    """Issue 12 item 2 (requirements §6: carriers limit each bind; ESME_ROK never lost):
    whatever the carrier does, every acknowledged message ends accepted by the carrier or
    finally refused with a receipt; the journal and the sink's record agree."""
    sink = make_sink(*flags, "--dlr", record=True)
    router = make_router(simulator={"enabled": False}, upstreams=carrier(sink.port, **upstream),
                         dispatch={"retry_delay": 0.05, "max_attempts": 10})
    router.wait_event("upstream_bound")
    acks, count = tmp_path / "acks.txt", 2000
    summary = smppload(router.port, acks, "--count", str(count), "--registered-delivery", "1",
                       "--wait-dlr", "20")
    assert summary["resp_ok"] == count
    accepted, refused = check_against_the_sink(router, acks, [sink])
    receipts = prove(acks, []).receipts
    if final_refusals:
        assert refused == count // 10 and receipts["REJECTD"] == refused, receipts
    else:
        assert (accepted, refused) == (count, 0)
    stats = sink.stats()
    # Every receipt the sink sent is relayed, exactly once (the sink loses the ones of a
    # connection it dropped: dlr_undeliverable)
    assert receipts["DELIVRD"] + stats["dlr_undeliverable"] == accepted, (receipts, stats)
    print(f"{' '.join(flags)}: {accepted} accepted, {refused} refused, receipts {receipts}, "
          f"sink: {stats['submit_sm']} submit_sm, {stats['dlr_undeliverable']} receipts "
          "without a session")


def test_the_sink_killed_and_restarted(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        tmp_path: Path) -> None:
    """The carrier dies under load and comes back on the same port 2 s later: nothing
    acknowledged is lost, every message ends in a final state."""
    first = make_sink(record=True)
    port = first.port
    router = make_router(simulator={"enabled": False}, upstreams=carrier(port),
                         dispatch={"retry_delay": 0.05})
    router.wait_event("upstream_bound")
    acks, count = tmp_path / "acks.txt", 3000
    loader = threading.Thread(target=smppload, args=(router.port, acks, "--count", str(count),
                                                     "--rate", "600"))
    loader.start()
    time.sleep(1.5)
    first.proc.send_signal(signal.SIGTERM)  # (flushes its record: the proof needs it)
    first.proc.wait(10)
    time.sleep(2.0)
    second = make_sink("--port", str(port), record=True)
    loader.join(60)
    accepted, refused = check_against_the_sink(router, acks, [first, second])
    assert (accepted, refused) == (count, 0)
    assert len(prove(acks, second.records()).accepted) > 0  # the restart took some
    reconnects = [e for e in router.events() if e.get("event") == "upstream_bound"]
    assert len(reconnects) >= 3  # 2 connections, then at least one again


def test_validity_passes_while_no_carrier_is_up_and_the_message_ends_expired(
        make_router: Callable[..., RouterProcess], password_hash: str) -> None:
    """Issue 12: the maximum age is the message's own validity_period, else its
    account's default; at it the message ends EXPIRED in the journal and the ESME gets a
    stat:EXPIRED receipt, exactly one."""
    router = make_router(
        simulator={"enabled": False}, upstreams=carrier(free_port()),
        accounts=[{"system_id": "esme1", "password_hash": password_hash,
                   "allowed_ips": ["127.0.0.0/8"], "domestic_exempt": True,
                   "status_style": "vendor", "validity": 3.0}],
        dispatch={"expiry_sweep": 0.2, "validity": 3600.0})
    with bound(Esme(router.port)) as esme:
        own = esme.send("98100", "989121234567", b"own validity", registered_delivery=1,
                        validity_period="000000000001000R")  # 1 s
        default = esme.send("98100", "989121234567", b"account default", registered_delivery=1)
        esme.pump(lambda: {own, default} <= set(esme.responses))
        ids = {seq: int(esme.responses[seq].message_id, 16) for seq in (own, default)}
        started = time.monotonic()
        esme.pump(lambda: len(esme.delivered) >= 1, timeout=10)
        first_after = time.monotonic() - started
        esme.pump(lambda: len(esme.delivered) >= 2, timeout=10)
        both_after = time.monotonic() - started
        esme.idle(1.0)
    assert len(esme.delivered) == 2
    texts = [bytes(d.short_message) for d in esme.delivered]
    assert all(b"stat:EXPIRED" in t for t in texts), texts
    assert texts[0].startswith(f"id:{ids[own]:x} ".encode())
    assert texts[1].startswith(f"id:{ids[default]:x} ".encode())
    assert first_after < 2.0 <= both_after + 1.0, (first_after, both_after)
    outcomes = journal_outcomes(router)
    assert Counter(s for i in ids.values() for s in outcomes[i]) == {EXPIRED: 2}
