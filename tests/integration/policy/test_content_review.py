"""The content filter's flag and quarantine-reject actions end to end (issue 13 items 3
and 5): real ``chapar run`` processes, smpplib as the ESME, smppsink ``--record`` as the
carrier, the shipped starter rules.

requirements.md §3: forbidden content is stopped and reported; a flagged message is
"sent, recorded, counted"; "held messages are released or rejected from the admin
interface", and a rejected one gets the ESME a REJECTD receipt.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from router.store.quarantine import QuarantineStore
from tests.clients import Esme
from tests.conftest import LINES, RouterProcess, Sink

SOURCE = LINES["esme1"][0]


def _ucs2(text: str) -> bytes:
    return text.encode("utf-16-be")


def _sink_router(make_router: Callable[..., RouterProcess], sink: Sink) -> RouterProcess:
    router = make_router(simulator={"enabled": False},
                         upstreams=[{"name": "sink", "port": sink.port,
                                     "reconnect_min": 0.1, "reconnect_max": 0.5}],
                         policy={"stages": ["lines", "content"]})
    router.wait_event("upstream_bound")
    return router


def _hex_id(esme: Esme, sequence: int) -> str:
    message_id = esme.responses[sequence].message_id
    return message_id.decode() if isinstance(message_id, bytes) else str(message_id)


def test_flagged_message_is_sent_recorded_and_counted(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        tmp_path: Path) -> None:
    """A chain message (category chain_rumours, action flag) is answered ESME_ROK and
    reaches the carrier; its id and category are in the journal's flags table, written
    with its batch, and it is counted; a clean message is not recorded."""
    sink = make_sink(record=True)
    router = _sink_router(make_router, sink)
    esme = Esme(router.port)
    esme.bind()
    text = _ucs2("لطفا این پیام را پخش کنید")
    flagged = esme.send(SOURCE, "989121000021", text, data_coding=8)
    clean = esme.send(SOURCE, "989121000022", _ucs2("سفارش شما ارسال شد"), data_coding=8)
    esme.pump(lambda: len(esme.responses) == 2)
    assert esme.responses[flagged].status == 0 and esme.responses[clean].status == 0
    deadline = time.monotonic() + 5
    while len(records := sink.records()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert text in [bytes.fromhex(r["short_message"]) for r in records]
    store = QuarantineStore(tmp_path / "var" / "chapar.db")
    flags, held = store.flags(), store.held(None)
    store.close()
    assert [(f"{f[0]:x}", f[1], f[3], f[4]) for f in flags] == [
        (_hex_id(esme, flagged), "esme1", "chain_rumours", "chain_rumours")]
    assert held == []  # flagged is not held
    assert router.wait_event("content_flagged")["total"] == 1
    esme.close()


def test_quarantine_reject_gives_the_esme_a_rejectd_receipt(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        tmp_path: Path) -> None:
    """A quarantined message (registered_delivery 1) rejected with `chapar quarantine
    reject` is never sent to the carrier, and the ESME gets one receipt for it with
    stat:REJECTD and the id it was given."""
    sink = make_sink(record=True)
    router = _sink_router(make_router, sink)
    esme = Esme(router.port)
    esme.bind()
    sequence = esme.send(SOURCE, "989121000023", _ucs2("تبریک! شما برنده جایزه شدید"),
                         data_coding=8, registered_delivery=1)
    esme.pump(lambda: sequence in esme.responses)
    assert esme.responses[sequence].status == 0
    message_id = _hex_id(esme, sequence)
    cli = [sys.executable, "-m", "router.cli", "quarantine"]
    config = ["--config", str(tmp_path / "chapar.yaml")]
    subprocess.run([*cli, "reject", message_id, *config], cwd=tmp_path, check=True)
    router.wait_event("quarantine_applied", where=lambda e: e.get("rejected") == 1)
    esme.pump(lambda: len(esme.delivered) >= 1, timeout=8)
    receipts = [d.short_message for d in esme.delivered]
    assert len(receipts) == 1
    assert b"stat:REJECTD" in receipts[0] and f"id:{message_id}".encode() in receipts[0]
    assert sink.records() == []
    esme.close()
