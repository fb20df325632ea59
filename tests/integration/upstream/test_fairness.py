"""Fairness at the carriers (issue 11 item 2): accounts sharing an upstream are served
round-robin from their own queues, and a priority_flag >= 2 submit (an OTP), or one from a
line marked ``priority``, goes first.
A real ``chapar run``, smpplib ESMEs, the C sink as a slow carrier (one connection,
window 4, each answer held 20 ms: ~200 messages a second)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from tests.clients import Esme, bound
from tests.conftest import LINES, ROOT, RouterProcess, Sink

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


def test_a_priority_line_overtakes_a_backlog(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink]) -> None:
    """A line marked ``priority`` (YAML ``priority: true``, or ``chapar lines set NUMBER
    --priority on`` applied live) sends in the priority lane without priority_flag."""
    sink = make_sink("--resp-delay-ms", "20", record=True)
    lines = [{"number": number, "account": "esme1", "kind": "advertising",
              "priority": number == "3000"} for number in LINES["esme1"]]
    router = make_router(simulator={"enabled": False}, lines=lines, upstreams=[{
        "name": "carrier", "port": sink.port, "connections": 1, "window": 4,
        "reconnect_min": 0.1, "reconnect_max": 0.5}])
    router.wait_event("upstream_bound")
    done = subprocess.run([sys.executable, "-m", "router.cli", "lines", "set", "1000",
                           "--priority", "on", "--config", str(router.workdir / "chapar.yaml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "priority: on" in done.stdout, done.stderr
    router.wait_event("line_changed", where=lambda e: e.get("line") == "1000")
    with bound(Esme(router.port)) as esme:
        seqs = [esme.send("98100", MCI, b"bulk") for _ in range(BACKLOG)]
        esme.pump(lambda: all(s in esme.responses for s in seqs))
        otps = [esme.send(line, MCI, f"otp from {line}".encode()) for line in ("1000", "3000")]
        esme.pump(lambda: all(s in esme.responses for s in otps))
        texts: list[bytes] = []
        for _ in range(40):
            texts = [bytes.fromhex(r["short_message"]) for r in sink.records()]
            if b"otp from 1000" in texts and b"otp from 3000" in texts:
                break
    assert b"otp from 1000" in texts and b"otp from 3000" in texts
    assert texts.count(b"bulk") < BACKLOG - 100, "overtook the waiting backlog"
