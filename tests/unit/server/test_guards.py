"""The last-resort guards of issue 9 D1, driven in memory: when handling one PDU raises
(a bug not found yet, never the peer's fault), only that PDU is lost.

The ESME side answers the submit whose decision raised ESME_RSYSERR and still accepts
the others of the same read; the carrier side answers a deliver_sm it could not handle
ESME_ROK (it would fail the same way if sent again) and counts it.  Neither raises out
of ``data_received``, which would make asyncio close the connection ("Fatal error on
transport").  The socket tests (tests/faults/test_one_bad_pdu.py) cannot reach these
paths any more once the known cause is fixed, hence fakes here.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from router.dispatch.inbound import Inbound
from router.dispatch.reports import Reports
from router.dlr.book import ReceiptBook
from router.model.accounts import Account
from router.model.status import REFUSALS
from router.server.esme import EsmeConnection
from router.server.settings import SmppSettings
from router.server.state import ServerState
from router.smpp import codec
from router.smpp.pdu import DeliverSm
from router.smpp.session import State, Submit
from router.upstream.connector import Connector
from router.upstream.settings import UpstreamSettings
from tests.fakes import HEADER, Transport


class RaisingPipeline:
    """Raises for any batch holding the destination "boom", refuses "bad" as invalid."""

    def decide(self, account: str, submits: list[Submit]) -> Any:
        if any(s.destination_addr == "boom" for s in submits):
            raise ValueError("invalid literal for int()")
        refused = [(s, REFUSALS["invalid_destination"]) for s in submits
                   if s.destination_addr == "bad"]
        return [s for s in submits if s.destination_addr not in ("boom", "bad")], refused


class Intake:
    def accept(self, source: EsmeConnection, account: str, submits: list[Submit],
               peer: str = "") -> None:
        source.answer_accepted(0x100, submits)

    def record_refusals(self, account: str, refused: list[Any], peer: str = "") -> None: ...


def submit(seq: int, destination: str) -> bytes:
    body = (b"\0\x01\x011000\0\x01\x01" + destination.encode() + b"\0\0\0\0\0\0\0\0\0\0"
            + b"\x02hi")
    return HEADER.pack(16 + len(body), 0x04, 0, seq) + body


def test_a_decision_that_raises_costs_one_answer() -> None:
    """Three submits in one read, the middle one makes the decision raise: it alone gets
    ESME_RSYSERR (0x08), the others their normal answers, nothing propagates."""
    async def run() -> tuple[list[tuple[int, int, int]], int]:
        state = ServerState()
        inbound = Inbound(10, 3, asyncio.get_running_loop().call_later)
        conn = EsmeConnection(state, SmppSettings(), cast(Any, None),
                              cast(Any, RaisingPipeline()), cast(Any, Intake()), inbound)
        transport = Transport()
        conn.connection_made(cast(Any, transport))
        conn.session.state = State.BOUND_TX
        conn._account = Account(system_id="acc", password_hash="x")
        conn.data_received(submit(1, "989121234567") + submit(2, "boom") + submit(3, "bad"))
        return transport.frames(), state.failed_decisions

    frames, failed = asyncio.run(run())
    assert sorted(frames, key=lambda f: f[2]) == [
        (0x80000004, 0x00, 1), (0x80000004, 0x08, 2), (0x80000004, 0x0B, 3)]
    assert failed == 1


class RaisingMo:
    def on_mo(self, pdu: DeliverSm) -> Any:
        raise ValueError("invalid literal for int()")


class Pump:
    def pump(self) -> None: ...


def test_a_carrier_deliver_that_raises_is_answered_and_counted() -> None:
    """An MO whose handling raises is answered deliver_sm_resp ESME_ROK (no redelivery
    loop), counted, and the connector's session stays bound."""
    async def run() -> tuple[list[tuple[int, int, int]], int, bool]:
        inbound = Inbound(10, 3, asyncio.get_running_loop().call_later)
        reports = Reports(cast(Any, None), cast(Any, None), inbound, ReceiptBook(),
                          RaisingMo())
        connector = Connector("c", UpstreamSettings(name="c"), reports, Pump())
        transport = Transport()
        connector.connection_made(cast(Any, transport))
        connector.data_received(HEADER.pack(16 + 5, 0x80000009, 0, 1) + b"FAKE\0")
        transport.written = b""
        mo = DeliverSm(sequence=77, source_addr="9891\xb20000000", destination_addr="1000",
                       short_message=b"11")
        connector.data_received(codec.encode(mo))
        assert connector.session is not None
        return transport.frames(), reports.failed_delivers, connector.session.bound

    frames, failed, bound = asyncio.run(run())
    assert frames == [(0x80000005, 0, 77)]
    assert failed == 1 and bound
