"""Chapar's connector and dispatch pool against real carriers on loopback.

Carriers: ``chapar sim`` (the built-in simulator as its own process, with --record)
and the C sink from ../shared/tools (``make_sink``), with its fault injection: receipts,
permanent refusals, throttling and dropped connections.  ESMEs are python-smpplib.
Every message carries a unique destination, so the carrier's record tells which
messages arrived and how often.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import clients
from tests.clients import ESME_ROK
from tests.conftest import ROOT, RouterProcess, Sink

OK = "0x00000000"


class Esme(clients.Esme):
    """An smpplib session (tests/clients.py), bound as it is made, submitting in chunks."""

    wait = 15.0

    def __init__(self, port: int, kind: str = "transceiver", system_id: str = "esme1") -> None:
        super().__init__(port)
        resp = self.bind(kind, system_id)
        assert resp.status == ESME_ROK

    def submit_many(self, destinations: list[str], registered_delivery: int = 0,
                    chunk: int = 50) -> dict[str, str]:
        """Pipeline submits in chunks; every one must get ROK. Returns dst -> our id."""
        ids: dict[str, str] = {}
        for start in range(0, len(destinations), chunk):
            batch = destinations[start:start + chunk]
            seqs = {dst: self.send("98100", dst, f"chapar test {dst}".encode(),
                                   registered_delivery=registered_delivery)
                    for dst in batch}
            self.pump(lambda q=seqs: all(s in self.responses for s in q.values()))
            for dst, seq in seqs.items():
                resp = self.responses[seq]
                assert resp.status == ESME_ROK, f"{dst}: status {resp.status:#x}"
                ids[dst] = resp.message_id.decode()
        return ids


@pytest.fixture
def esmes() -> Iterator[Callable[..., Esme]]:
    opened: list[Esme] = []

    def make(port: int, kind: str = "transceiver") -> Esme:
        session = Esme(port, kind)
        opened.append(session)
        return session

    yield make
    for session in opened:
        session.close()


def destinations(n: int, prefix: str = "98912") -> list[str]:
    return [f"{prefix}{i:07d}" for i in range(n)]


@dataclass(frozen=True)
class Arrival:
    """One submit_sm as a carrier recorded it."""

    dst: str
    status: str
    carrier_id: str


def sink_arrivals(sink: Sink) -> list[Arrival]:
    return [Arrival(r["dst"], r["status"], r.get("message_id", ""))
            for r in sink.records(pause=0.1)]


@dataclass
class SimCarrier:
    """``chapar sim`` in its own process: the built-in simulator with --record."""

    proc: subprocess.Popen[bytes]
    port: int
    record: Path

    def arrivals(self) -> list[Arrival]:
        if not self.record.exists():
            return []
        lines = [json.loads(line) for line in self.record.read_text().splitlines() if line]
        return [Arrival(r["destination_addr"], OK, r["message_id"]) for r in lines]


@pytest.fixture
def sim_carrier(tmp_path: Path) -> Iterator[SimCarrier]:
    port_file, record = tmp_path / "sim.port", tmp_path / "sim.jsonl"
    log = (tmp_path / "sim.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "router.cli", "sim", "--port", "0", "--port-file",
         str(port_file), "--record", str(record), "--receipt-delay", "0.05"],
        cwd=ROOT, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists():
            assert proc.poll() is None, "chapar sim exited"
            assert time.monotonic() < deadline, "chapar sim did not start"
            time.sleep(0.02)
        yield SimCarrier(proc, int(port_file.read_text()), record)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def wait_arrivals(fetch: Callable[[], list[Arrival]], done: Callable[[list[Arrival]], bool],
                  timeout: float = 15.0, settle: float = 0.3) -> list[Arrival]:
    """Poll the carrier's record until ``done``; then a moment more, so that a duplicate
    sent right after the last first copy is seen too."""
    deadline = time.monotonic() + timeout
    while True:
        arrivals = fetch()
        if done(arrivals):
            time.sleep(settle)
            return fetch()
        if time.monotonic() > deadline:
            return arrivals
        time.sleep(0.1)


def accepted_once(dsts: list[str]) -> Callable[[list[Arrival]], bool]:
    def done(arrivals: list[Arrival]) -> bool:
        ok = {a.dst for a in arrivals if a.status == OK}
        return ok >= set(dsts)
    return done


def upstream(port: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"name": "carrier", "port": port, "connections": 2, "window": 32,
             "reconnect_min": 0.1, "reconnect_max": 0.5, **extra}]


def sink_router(make_router: Callable[..., RouterProcess], port: int,
                **dispatch: Any) -> RouterProcess:
    router = make_router(simulator={"enabled": False}, upstreams=upstream(port),
                         dispatch={"retry_delay": 0.05, **dispatch})
    for i in range(2):
        router.wait_event("upstream_bound", where=lambda e, i=i: e["upstream"] == f"carrier#{i}")
    return router


def receipt_text(pdu: Any) -> dict[str, str]:
    return dict(re.findall(r"(id|stat|err|submit date|done date):(\S*)",
                           pdu.short_message.decode("latin-1")))


N = 300


# --- every message reaches the carrier exactly once ----------------------------------


def test_simulator_gets_each_message_once(
        make_router: Callable[..., RouterProcess], sim_carrier: SimCarrier,
        esmes: Callable[..., Esme]) -> None:
    router = sink_router(make_router, sim_carrier.port)
    dsts = destinations(N)
    ids = esmes(router.port).submit_many(dsts)
    assert len(set(ids.values())) == N
    arrivals = wait_arrivals(sim_carrier.arrivals, accepted_once(dsts))
    counts = Counter(a.dst for a in arrivals)
    assert set(counts) == set(dsts), f"missing: {sorted(set(dsts) - set(counts))[:5]}"
    assert [d for d, c in counts.items() if c != 1] == []


def test_sink_gets_each_message_once(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        esmes: Callable[..., Esme]) -> None:
    sink = make_sink(record=True)
    router = sink_router(make_router, sink.port)
    dsts = destinations(N)
    esmes(router.port).submit_many(dsts)
    arrivals = wait_arrivals(lambda: sink_arrivals(sink), accepted_once(dsts))
    counts = Counter(a.dst for a in arrivals)
    assert set(counts) == set(dsts), f"missing: {sorted(set(dsts) - set(counts))[:5]}"
    assert [d for d, c in counts.items() if c != 1] == []
    assert {a.status for a in arrivals} == {OK}
    # the text reached the carrier byte for byte
    record = next(r for r in sink.records(pause=0.1) if r["dst"] == dsts[7])
    assert bytes.fromhex(record["short_message"]) == f"chapar test {dsts[7]}".encode()
    assert record["src"] == "98100" and record["dst_ton"] == 1
    stats = sink.stats()
    assert stats["binds_ok"] == 2


# --- receipts from the carrier -------------------------------------------------------


def test_sink_receipts_reach_esme_with_router_ids(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        esmes: Callable[..., Esme]) -> None:
    sink = make_sink("--dlr", "--dlr-delay-ms", "100", record=True)
    router = sink_router(make_router, sink.port)
    esme = esmes(router.port)
    dsts = destinations(60)
    ids = esme.submit_many(dsts, registered_delivery=1, chunk=20)
    esme.pump(lambda: len(esme.delivered) >= len(dsts))
    carrier_ids = {a.carrier_id for a in sink_arrivals(sink)}
    seen: dict[str, str] = {}
    for pdu in esme.delivered:
        assert pdu.esm_class & 0x3C == 0x04
        fields = receipt_text(pdu)
        our_id = pdu.receipted_message_id.decode()
        assert fields["id"] == our_id, "text id and receipted_message_id differ"
        assert our_id not in carrier_ids, "the carrier's id leaked to the ESME"
        assert fields["stat"] == "DELIVRD" and pdu.message_state == 2
        assert re.fullmatch(r"\d{10}", fields["submit date"])
        assert re.fullmatch(r"\d{10}", fields["done date"])
        seen[pdu.source_addr.decode()] = our_id  # receipt source = original destination
    assert seen == ids
    esme.idle(0.3)
    assert len(esme.delivered) == len(dsts), "duplicate receipts"


def test_receipt_right_behind_its_response_is_relayed(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        esmes: Callable[..., Esme]) -> None:
    sink = make_sink("--dlr")  # receipt written together with the submit_sm_resp
    router = sink_router(make_router, sink.port)
    esme = esmes(router.port)
    dsts = destinations(20)
    ids = esme.submit_many(dsts, registered_delivery=1, chunk=5)
    try:
        esme.pump(lambda: len(esme.delivered) >= len(dsts))
    finally:
        unmatched = [e for e in router.events() if e.get("event") == "receipt_unmatched"]
    assert unmatched == []
    assert {p.receipted_message_id.decode() for p in esme.delivered} == set(ids.values())


# --- permanent refusals ----------------------------------------------------------------


def test_permanent_refusal_becomes_rejectd_receipt(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        esmes: Callable[..., Esme]) -> None:
    sink = make_sink("--dlr", "--dlr-delay-ms", "100", "--error-rate", "0.5",
                     "--error-status", "0x45", record=True)
    router = sink_router(make_router, sink.port)
    esme = esmes(router.port)
    dsts = destinations(40)
    ids = esme.submit_many(dsts, registered_delivery=1, chunk=20)  # ROK: journalled
    esme.pump(lambda: len(esme.delivered) >= len(dsts))
    arrivals = sink_arrivals(sink)
    refused = {a.dst for a in arrivals if a.status == "0x00000045"}
    accepted = {a.dst for a in arrivals if a.status == OK}
    assert len(refused) == 20 and len(accepted) == 20  # the sink refuses every 2nd exactly
    assert refused | accepted == set(dsts) and not refused & accepted
    assert len(arrivals) == len(dsts), "a permanently refused message was sent again"
    stats: dict[str, set[str]] = {"REJECTD": set(), "DELIVRD": set()}
    for pdu in esme.delivered:
        fields = receipt_text(pdu)
        dst = pdu.source_addr.decode()
        assert fields["id"] == ids[dst] == pdu.receipted_message_id.decode()
        stats[fields["stat"]].add(dst)
        if fields["stat"] == "REJECTD":
            assert pdu.message_state == 8
            assert fields["err"] == "045"
            assert re.fullmatch(r"\d{10}", fields["submit date"])
    assert stats == {"REJECTD": refused, "DELIVRD": accepted}
    # the log samples them (1st, 2nd, 4th, …); the journal records every one
    events = [e for e in router.events() if e.get("event") == "message_refused_upstream"]
    assert [e["total"] for e in events] == [1, 2, 4, 8, 16]
    with sqlite3.connect(router.workdir / "var" / "chapar.db") as db:
        statuses = [entry[1] for (entries,) in db.execute("SELECT entries FROM outcomes")
                    for entry in json.loads(entries)]
    assert statuses.count(0x45) == 20


# --- throttling: temporary refusals are retried ----------------------------------------


def test_throttled_messages_are_retried_until_accepted(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        esmes: Callable[..., Esme]) -> None:
    sink = make_sink("--throttle-rate", "200", record=True)
    router = sink_router(make_router, sink.port, max_attempts=500)
    dsts = destinations(N)
    esmes(router.port).submit_many(dsts)
    arrivals = wait_arrivals(lambda: sink_arrivals(sink), accepted_once(dsts), timeout=20)
    ok = Counter(a.dst for a in arrivals if a.status == OK)
    assert set(ok) == set(dsts), f"never accepted: {len(set(dsts) - set(ok))}"
    assert [d for d, c in ok.items() if c != 1] == [], "accepted twice"
    throttled = [a for a in arrivals if a.status == "0x00000058"]
    assert throttled, "the sink never throttled: the test did not test retries"
    assert not [e for e in router.events() if e.get("event") == "message_refused_upstream"]


# --- dropped carrier connections -----------------------------------------------------


def test_dropped_connections_reconnect_and_deliver(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        esmes: Callable[..., Esme]) -> None:
    sink = make_sink("--drop-after", "50", record=True)
    router = sink_router(make_router, sink.port)
    dsts = destinations(N)
    esmes(router.port).submit_many(dsts)
    arrivals = wait_arrivals(lambda: sink_arrivals(sink), accepted_once(dsts), timeout=20)
    ok = {a.dst for a in arrivals if a.status == OK}
    assert ok == set(dsts), f"lost: {sorted(set(dsts) - ok)[:5]}"
    binds = [e for e in router.events() if e.get("event") == "upstream_bound"]
    drops = [e for e in router.events() if e.get("event") == "upstream_disconnected"]
    assert len(drops) >= N // 50 - 1, "the sink should have dropped several connections"
    assert len(binds) >= len(drops), "connector did not come back after a drop"
    stats = sink.stats()
    assert stats["dropped_conns"] >= N // 50 - 1


# --- shutdown ------------------------------------------------------------------------


def test_sigterm_during_a_pending_carrier_bind_exits_promptly(
        make_router: Callable[..., RouterProcess]) -> None:
    mute = socket.socket()  # accepts the TCP connection, never answers the bind
    mute.bind(("127.0.0.1", 0))
    mute.listen(4)
    mute.settimeout(10)
    try:
        router = make_router(simulator={"enabled": False},
                             upstreams=[{"name": "mute", "port": mute.getsockname()[1]}],
                             dispatch={"shutdown_timeout": 30.0})
        conn, _ = mute.accept()
        with conn:
            conn.settimeout(5)
            assert conn.recv(16)[4:8] == b"\x00\x00\x00\x09"  # bind_transceiver
            started = time.monotonic()
            assert router.stop() == 0
            elapsed = time.monotonic() - started
        # nothing is queued: it must not wait out shutdown_timeout (30 s); 10 s is
        # generous for a loaded 2-core machine and far from 30
        assert elapsed < 10.0, f"SIGTERM took {elapsed:.1f} s with nothing queued"
    finally:
        mute.close()
