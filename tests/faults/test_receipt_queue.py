"""Receipts on their way to ESMEs (issue 12, items 3 and 4): the queue of receipts waiting
for an RX/TRX bind is durable, and every message that asked for a receipt gets exactly
one.

The carrier is smppsink with its fault flags; the ESMEs are smppload (``--ack-file``:
what was acknowledged, and every receipt it read) and smpplib receivers.  Counts are
checked per message id against the sink's ``--record`` and the journal's inbox rows.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import acks
from tests.clients import Esme, bound
from tests.conftest import RouterProcess, Sink
from tests.inbox import queued_in_journal, restart, wait_for
from tests.ledger import OK, smppload

ROK = 0


class Receiver(Esme):
    """An smpplib RX session that refuses each receipt ``refusals`` times (with the
    statuses in turn) before taking it, and counts what it took per id."""

    def __init__(self, port: int, refusals: tuple[int, ...] = ()) -> None:
        super().__init__(port)
        self.refusals = refusals
        self.seen: Counter[str] = Counter()
        self.taken: Counter[str] = Counter()
        self.stats: dict[str, str] = {}

    def _on_deliver(self, pdu: Any, **_: Any) -> int:
        our_id = pdu.receipted_message_id.decode()
        tries = self.seen[our_id]
        self.seen[our_id] += 1
        if tries < len(self.refusals):
            return self.refusals[tries]
        self.taken[our_id] += 1
        self.stats[our_id] = pdu.short_message.split(b"stat:")[1][:7].decode()
        self.delivered.append(pdu)
        return ROK


def sink_router(make_router: Callable[..., RouterProcess], sink: Sink,
                **extra: Any) -> RouterProcess:
    router = make_router(simulator={"enabled": False},
                         upstreams=[{"name": "sink", "port": sink.port, "window": 64,
                                     "reconnect_min": 0.1, "reconnect_max": 0.5}], **extra)
    router.wait_event("upstream_bound")
    return router


@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
def test_receipts_queued_for_an_offline_esme_survive_a_restart(
        stop: str, make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        tmp_path: Path) -> None:
    """requirements (intro: receipts relayed back), issue 12: receipts waiting for an
    RX bind are in the journal; after a restart (SIGTERM, or kill -9) every one is
    delivered, once, and the journal's queue is empty after the ESME's ESME_ROK."""
    sink = make_sink("--dlr", record=True)
    router = sink_router(make_router, sink)
    ack_file, count = tmp_path / "acks.txt", 300
    summary = smppload(router.port, ack_file, "--bind", "tx", "--count", str(count),
                       "--registered-delivery", "1")
    assert summary["resp_ok"] == count
    acked = set(acks.read_acks(ack_file).accepted.values())
    assert len(acked) == count
    assert wait_for(lambda: len(queued_in_journal(router)) == count, 20), \
        f"{len(queued_in_journal(router))} of {count} receipts in the journal"
    if stop == "sigterm":
        assert router.stop() == 0
    else:
        router.kill()
    assert len(queued_in_journal(router)) == count
    assert sum(1 for r in sink.records() if r["status"] == OK) == count

    restart(router)
    replayed = router.wait_event("receipts_replayed")
    assert replayed["queued"] == count
    with bound(Receiver(router.port), "receiver") as rx:
        rx.pump(lambda: len(rx.taken) >= count, timeout=20)
        rx.idle(0.5)
    assert set(rx.taken) == acked
    assert set(rx.taken.values()) == {1}, "a receipt reached the ESME twice"
    assert wait_for(lambda: queued_in_journal(router) == [], 5)


def test_esme_refusing_for_now_gets_each_receipt_again_until_it_takes_it(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        tmp_path: Path) -> None:
    """issue 12: a deliver_sm the ESME answers 0x58, 0x14 or 0x64 is offered again later;
    it leaves the durable queue only on ESME_ROK, and a restart while it waits for its
    retry loses nothing."""
    sink = make_sink("--dlr", record=True)
    router = sink_router(make_router, sink)
    rx = Receiver(router.port, refusals=(0x58, 0x14, 0x64))
    count = 40
    with bound(rx, "receiver"):
        summary = smppload(router.port, tmp_path / "acks.txt", "--bind", "tx", "--count",
                           str(count), "--registered-delivery", "1")
        assert summary["resp_ok"] == count
        rx.pump(lambda: len(rx.seen) >= count and min(rx.seen.values()) >= 2, timeout=20)
        assert not rx.taken
    # refused twice each, now waiting for their retry: a restart keeps them
    assert len(queued_in_journal(router)) == count
    assert router.stop() == 0
    restart(router)
    with bound(Receiver(router.port, refusals=(0x58,)), "receiver") as again:
        again.pump(lambda: len(again.taken) >= count, timeout=30)
        again.idle(0.3)
    acked = set(acks.read_acks(tmp_path / "acks.txt").accepted.values())
    assert set(again.taken) == acked and set(again.taken.values()) == {1}
    assert wait_for(lambda: queued_in_journal(router) == [], 5)


def test_every_acknowledged_message_gets_exactly_one_receipt_through_carrier_faults(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        tmp_path: Path) -> None:
    """issue 12, done when: with a carrier that refuses 10 % (final 0x45: REJECTD of our
    own), fails 20 % of deliveries (UNDELIV), and drops its connection every 150 submits
    (sent again: some messages reach it twice, and get two carrier receipts), every
    acknowledged message gets exactly one receipt, with the outcome the sink's record
    shows."""
    sink = make_sink("--dlr", "--dlr-fail-rate", "0.2", "--error-rate", "0.1",
                     "--drop-after", "150", record=True)
    router = sink_router(make_router, sink, dispatch={"retry_delay": 0.05})
    ack_file, count = tmp_path / "acks.txt", 1000
    summary = smppload(router.port, ack_file, "--bind", "trx", "--count", str(count),
                       "--window", "32", "--registered-delivery", "1", "--wait-dlr", "30",
                       max_time=90)
    assert summary["resp_ok"] == count
    got = acks.read_acks(ack_file)
    receipts = receipt_lines(ack_file)
    per_id = Counter(our_id for our_id, _ in receipts)
    assert set(per_id.values()) == {1}, \
        f"{sum(1 for n in per_id.values() if n > 1)} messages got more than one receipt"
    assert set(per_id) <= set(got.accepted.values())
    # against the sink: a message it accepted at least once ends DELIVRD or UNDELIV,
    # one it refused every time ends REJECTD
    copies = accepted_copies(sink, "fault")
    tag_of = {our_id: tag for tag, our_id in got.accepted.items()}
    by_id = dict(receipts)
    for our_id, stat in by_id.items():
        assert stat in (("DELIVRD", "UNDELIV") if copies[tag_of[our_id]] else ("REJECTD",))
    refused_everywhere = {i for i, tag in tag_of.items() if not copies[tag]}
    assert refused_everywhere <= set(by_id), "a refused message without its REJECTD"
    # every receipt the sink sent reached the ESME once per message: a message it
    # accepted twice (sent again after a drop) may get two, the second one is dropped
    # against the journal: the outcome row of each message agrees with its receipt
    outcomes = journal_outcomes(router)
    for our_id, stat in by_id.items():
        assert (outcomes[int(our_id, 16)] == 0) == (stat != "REJECTD"), (our_id, stat)
    stats = Counter(by_id.values())
    carrier_receipts = stats["DELIVRD"] + stats["UNDELIV"]
    twice = sum(n - 1 for n in copies.values())
    sent = sink.stats()["dlr_sent"]
    assert sent - twice <= carrier_receipts <= sent
    # a dropped connection takes the receipts the sink still owed with it: those
    # messages have no receipt yet (EXPIRED at their validity is the routing branch's)
    missing = set(got.accepted.values()) - set(per_id)
    assert len(missing) == sum(1 for n in copies.values() if n) - carrier_receipts
    assert stats["REJECTD"] > 0 and stats["UNDELIV"] > 0 and stats["DELIVRD"] > 0
    print(f"receipts {dict(stats)}; sink sent {sent} receipts, accepted {twice} copies "
          f"twice; {len(missing)} receipts owed by dropped connections")
    assert wait_for(lambda: queued_in_journal(router) == [], 5)


def journal_outcomes(router: RouterProcess) -> dict[int, int]:
    """Our id -> the carrier status of its last outcome row in the journal."""
    db = sqlite3.connect(router.config["store"]["path"], timeout=5)
    try:
        last: dict[int, int] = {}
        for (entries,) in db.execute("SELECT entries FROM outcomes ORDER BY seq"):
            for message_id, status, _, _ in json.loads(entries):
                last[message_id] = status
        return last
    finally:
        db.close()


def accepted_copies(sink: Sink, text: str) -> Counter[int]:
    """Copies of each message number (``--tag-text``) the sink answered ESME_ROK."""
    copies: Counter[int] = Counter()
    prefix = f"{text} #"
    for record in sink.records():
        body = bytes.fromhex(record["short_message"]).decode("latin-1")
        if record["status"] == OK and body.startswith(prefix):
            copies[int(body[len(prefix):])] += 1
    return copies


def receipt_lines(ack_file: Path) -> list[tuple[str, str]]:
    """(our id, stat) of every receipt smppload read (``R ID STAT`` lines)."""
    out = []
    for line in ack_file.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "R":
            out.append((parts[1], parts[2]))
    return out


def test_sink_killed_and_restarted_every_receipt_once(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        tmp_path: Path) -> None:
    """issue 12: the carrier killed mid-run and started again on its port: what it had
    not answered is sent again; receipts come once per message (a message the dead
    carrier had accepted whose receipt it never sent has none: that is EXPIRED's job,
    counted here against the first sink's record)."""
    first = make_sink("--dlr", "--resp-delay-ms", "5", record=True)
    router = sink_router(make_router, first)
    ack_file, count = tmp_path / "acks.txt", 600
    load = acks.load(router.port, ack_file, "--bind", "trx", "--count", str(count),
                     "--window", "16", "--registered-delivery", "1", "--wait-dlr", "20",
                     max_time=60)
    wait_for(lambda: len(acks.read_acks(ack_file).accepted) >= count // 3, 20, 0.05)
    first.proc.kill()
    first.proc.wait()
    second = restart_sink(make_sink, first)
    acks.summary(load, timeout=90)
    got = acks.read_acks(ack_file)
    assert len(got.accepted) == count
    per_id = Counter(our_id for our_id, _ in receipt_lines(ack_file))
    assert set(per_id.values()) <= {1}, "a receipt reached the ESME twice"
    missing = set(got.accepted.values()) - set(per_id)
    # only messages the killed sink accepted may lack a receipt
    first_ok = set(accepted_copies(first, acks.TEXT))
    second_ok = set(accepted_copies(second, acks.TEXT))
    tag_of = {our_id: tag for tag, our_id in got.accepted.items()}
    assert all(tag_of[m] in first_ok and tag_of[m] not in second_ok for m in missing)
    print(f"sink restart: {count} acknowledged, {len(per_id)} receipts, "
          f"{len(missing)} owed by the killed sink")


def restart_sink(make_sink: Callable[..., Sink], dead: Sink) -> Sink:
    """A new sink on the dead one's port (retried while the port is still held)."""
    for _ in range(50):
        with contextlib.suppress(RuntimeError):
            return make_sink("--port", str(dead.port), "--dlr", record=True)
        time.sleep(0.1)
    raise AssertionError(f"port {dead.port} never came free")
