"""Carrier trouble (issue 9, D4/D5): a throttling carrier, a slow one, a frozen one, one
that refuses our bind; and the dispatch queue's backpressure while a carrier is down.

The carrier is smppsink with its fault flags (frozen: SIGSTOP, TCP stays up).  Each
run is proven per message: smppload's --ack-file against the sink's --record (0 lost;
duplicates counted and bounded where the fault allows them).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests import raw
from tests.conftest import RouterProcess, Sink, events, free_port, wait_for
from tests.ledger import prove, smppload


def carrier(port: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"name": "carrier", "port": port, "connections": 2, "window": 32,
             "reconnect_min": 0.1, "reconnect_max": 0.5, **extra}]


# --- D4 (a): throttling slows sending and spends no attempt -------------------------


def test_throttling_carrier_slows_us_and_nothing_is_given_up(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        tmp_path: Path) -> None:
    sink = make_sink("--throttle-rate", "1000", record=True)
    router = make_router(simulator={"enabled": False}, upstreams=carrier(sink.port),
                         dispatch={"retry_delay": 0.05, "max_attempts": 10})
    router.wait_event("upstream_bound")
    acks, count = tmp_path / "acks.txt", 4000
    started = time.monotonic()
    summary = smppload(router.port, acks, "--count", str(count), "--window", "64")
    assert summary["resp_ok"] == count
    proof = prove(acks, [])
    assert wait_for(lambda: len(prove(acks, sink.records()).accepted) >= count, 40)
    elapsed = time.monotonic() - started
    proof = prove(acks, sink.records())
    assert len(proof.acked) == count
    assert proof.lost == [], f"{len(proof.lost)} acknowledged messages never accepted"
    assert proof.duplicates == {}
    assert not events(router, "message_refused_upstream"), "throttling spent attempts"
    # the send rate came down: at most half as many throttled answers as messages
    # (33590c9: ~9 submits a message, 73 % REJECTD)
    assert proof.arrivals <= 1.5 * count, (proof.arrivals, elapsed)
    assert 1 <= len(events(router, "upstream_throttled")) <= 6  # per state change
    print(f"throttle 1000/s: {count} messages, {proof.arrivals} submits, "
          f"{elapsed:.1f} s, {len(events(router, 'upstream_throttled'))} throttled events")


# --- D4 (b): a late answer still counts --------------------------------------------


def test_late_answers_count_and_nothing_is_sent_twice(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        tmp_path: Path) -> None:
    """A 3 s carrier and a 2 s response_timeout: each message goes out once, and its
    receipt says DELIVRD (33590c9: 3 copies each, then REJECTD)."""
    sink = make_sink("--resp-delay-ms", "3000", "--dlr", record=True)
    router = make_router(simulator={"enabled": False},
                         upstreams=carrier(sink.port, window=64, response_timeout=2.0),
                         dispatch={"retry_delay": 0.05, "max_attempts": 3})
    router.wait_event("upstream_bound")
    acks, count = tmp_path / "acks.txt", 200
    summary = smppload(router.port, acks, "--count", str(count), "--registered-delivery",
                       "1", "--wait-dlr", "30")
    assert summary["resp_ok"] == count
    proof = prove(acks, sink.records())
    assert len(proof.acked) == count and proof.lost == []
    assert proof.duplicates == {}, f"{len(proof.duplicates)} messages sent again"
    assert proof.arrivals == count
    assert proof.receipts == {"DELIVRD": count}
    assert events(router, "upstream_response_late"), "no answer was late: nothing tested"
    assert not events(router, "upstream_closing")


# --- D4 (c): a frozen carrier is found and left ------------------------------------


def test_frozen_carrier_is_found_within_two_response_timeouts(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        tmp_path: Path) -> None:
    """TCP stays up, nothing is answered (SIGSTOP).  The first unanswered submit_sm
    makes the core probe with an enquire_link; unanswered, the session is closed, its
    messages are sent again once the carrier is back.  33590c9 waited for the idle
    enquire_link_interval (30 s here) plus response_timeout."""
    sink = make_sink(record=True)
    router = make_router(simulator={"enabled": False},
                         upstreams=carrier(sink.port, connections=1, window=16,
                                           response_timeout=1.0, enquire_link_interval=30),
                         dispatch={"retry_delay": 0.05})
    router.wait_event("upstream_bound")
    acks, count = tmp_path / "acks.txt", 1500
    loader = threading.Thread(target=smppload, args=(router.port, acks, "--count", str(count),
                                                     "--rate", "300"))
    loader.start()
    try:
        time.sleep(1.5)
        frozen = time.monotonic()
        os.kill(sink.proc.pid, signal.SIGSTOP)
        found = wait_for(lambda: bool(events(router, "upstream_closing")), 12, 0.1)
        detected = time.monotonic() - frozen
    finally:
        os.kill(sink.proc.pid, signal.SIGCONT)
        loader.join(90)
    assert found, "the frozen carrier was not left within 12 s"
    closing = events(router, "upstream_closing")[0]
    assert "ENQUIRE_LINK" in closing["reason"], closing
    assert detected < 6.0, detected
    assert wait_for(lambda: len(prove(acks, sink.records()).accepted) >= count, 40)
    proof = prove(acks, sink.records())
    assert len(proof.acked) == count and proof.lost == []
    # what the frozen carrier read before it stopped is sent again: at most a window
    assert len(proof.duplicates) <= 16, proof.duplicates
    print(f"frozen carrier left after {detected:.1f} s; {len(proof.duplicates)} duplicates")


# --- D5: a carrier refusing our bind -----------------------------------------------


def test_refused_bind_backs_off_and_is_logged_once(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink]) -> None:
    refusing = make_sink("--reject-bind", "0x0d")
    router = make_router(simulator={"enabled": False}, upstreams=carrier(
        refusing.port, connections=1, reconnect_min=0.1, reconnect_max=2.0))
    router.wait_event("upstream_bind_refused")
    time.sleep(5.0)
    stats = refusing.stats()
    # backoff 0.1, 0.2, 0.4 … 2 s with full jitter: ~7 binds in 5 s (33590c9: ~50)
    assert 2 <= stats["binds_rejected"] <= 15, stats["binds_rejected"]
    assert len(events(router, "upstream_bind_refused")) == 1
    assert not events(router, "upstream_closing") and not events(router, "upstream_disconnected")
    # once the carrier takes our bind, the backoff and the log start over
    accepting = make_sink("--port", str(refusing.port))
    bound = router.wait_event("upstream_bound", timeout=10)
    assert bound["after_failures"] >= 2
    accepting.stats()


# --- dispatch backpressure ---------------------------------------------------------


class Pipeliner:
    """A raw ESME that keeps up to ``window`` submit_sm unanswered (as a windowed client
    does: more than the router's inbound window would be refused ESME_RMSGQFUL)."""

    def __init__(self, sock: socket.socket, total: int, window: int) -> None:
        self.sock, self.total, self.window = sock, total, window
        self.sent = 0
        self.answered: dict[int, int] = {}  # message number -> status
        self._buf = b""

    def run(self, stall: float) -> None:
        """Until every message is answered, or nothing was answered for ``stall`` s."""
        last = time.monotonic()
        while len(self.answered) < self.total:
            room = self.window - (self.sent - len(self.answered))
            if self.sent < self.total and room > 0:
                n0, n1 = self.sent, min(self.total, self.sent + min(100, room))
                self.sock.sendall(b"".join(
                    raw.pdu(0x04, n + 1, raw.submit_body(f"bp #{n:010d}".encode(),
                                                         source="98100"))
                    for n in range(n0, n1)))
                self.sent = n1
            if select.select([self.sock], [], [], 0.05)[0]:
                if self._read():
                    last = time.monotonic()
            elif time.monotonic() - last > stall:
                return

    def _read(self) -> bool:
        data = self.sock.recv(65536)
        assert data, "the router closed the connection"
        self._buf += data
        before = len(self.answered)
        while len(self._buf) >= 16 and len(self._buf) >= raw.HEADER.unpack(self._buf[:16])[0]:
            length, command_id, status, seq = raw.HEADER.unpack(self._buf[:16])
            self._buf = self._buf[length:]
            if command_id == 0x80000004:
                self.answered[seq - 1] = status
        return len(self.answered) > before


def test_backpressure_pauses_reading_and_delivers_everything_later(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink]) -> None:
    port = free_port()  # the carrier is down at first
    router = make_router(simulator={"enabled": False}, upstreams=carrier(port),
                         dispatch={"queue_limit": 100, "retry_delay": 0.05})
    total = 3000
    with contextlib.closing(raw.bound(router)) as sock:
        esme = Pipeliner(sock, total, 800)
        esme.run(stall=2.0)
        paused_at = len(esme.answered)
        assert 100 < paused_at < total, paused_at  # reading stopped above the limit
        router.wait_event("dispatch_paused")
        sink = make_sink("--port", str(port), record=True)
        esme.run(stall=30.0)
    assert len(esme.answered) == total and set(esme.answered.values()) == {0}
    router.wait_event("dispatch_resumed")

    def accepted() -> dict[int, int]:
        counts: dict[int, int] = {}
        for record in sink.records():
            text = bytes.fromhex(record["short_message"]).decode()
            if record["status"] == "0x00000000" and text.startswith("bp #"):
                n = int(text[4:])
                counts[n] = counts.get(n, 0) + 1
        return counts

    assert wait_for(lambda: len(accepted()) >= total, 30)
    counts = accepted()
    assert sorted(counts) == list(range(total))  # 0 lost
    assert [n for n, c in counts.items() if c > 1] == []
    print(f"backpressure: reading paused after {paused_at} of {total} answers")
