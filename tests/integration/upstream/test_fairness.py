"""Fairness at the carriers (issue 11 item 2): accounts sharing an upstream are served
round-robin from their own queues, and a priority_flag >= 2 submit (an OTP) goes first.
A real ``chapar run``, smpplib ESMEs, the C sink as a slow carrier (one connection,
window 4, each answer held 20 ms: ~200 messages a second)."""

from __future__ import annotations

from collections.abc import Callable

from tests.clients import Esme, bound
from tests.conftest import RouterProcess, Sink

MCI = "989121234567"
BACKLOG = 600  # ~3 s of carrier time


def test_a_backlog_does_not_starve_another_account(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink]) -> None:
    sink = make_sink("--resp-delay-ms", "20", record=True)
    router = make_router(simulator={"enabled": False}, upstreams=[{
        "name": "carrier", "port": sink.port, "connections": 1, "window": 4,
        "reconnect_min": 0.1, "reconnect_max": 0.5}])
    router.wait_event("upstream_bound")
    with bound(Esme(router.port)) as bulk, \
            bound(Esme(router.port), system_id="esme2") as shop:
        seqs = [bulk.send("98100", MCI, b"bulk") for _ in range(BACKLOG)]
        bulk.pump(lambda: all(s in bulk.responses for s in seqs))
        otp = bulk.send("98100", MCI, b"otp 1234", priority_flag=3)
        mine = [shop.send("98200", MCI, b"shop") for _ in range(5)]
        shop.pump(lambda: all(s in shop.responses for s in mine))
        bulk.pump(lambda: otp in bulk.responses)
        records = sink.records()
        for _ in range(20):
            if sum(r["src"] == "98200" for r in records) == 5:
                break
            records = sink.records()
    texts = [bytes.fromhex(r["short_message"]) for r in records]
    assert texts.count(b"shop") == 5, "the other account's messages went out"
    assert b"otp 1234" in texts
    assert texts.count(b"bulk") < BACKLOG - 100, "while the backlog was still waiting"
    assert texts.index(b"otp 1234") < texts.index(b"shop") + 8
