"""What carriers answer, turned into journal outcomes, retries and ESME deliveries (no
sockets): feed carrier results and deliver_sm, look at what each queue got."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from router.dispatch.inbound import Inbound
from router.dispatch.outbound import Outbound
from router.dispatch.reports import Reports
from router.dispatch.settings import DispatchSettings
from router.dlr.book import ReceiptBook
from router.model.messages import Message, Outcome
from router.smpp import codec
from router.smpp.pdu import DeliverSm, SubmitSm, Tag
from tests.fakes import Readers


class Journal:
    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []

    def record_outcomes(self, outcomes: list[Outcome]) -> None:
        self.outcomes += outcomes




class Mo:
    def on_mo(self, pdu: DeliverSm) -> tuple[str, DeliverSm] | None:
        return ("owner", pdu) if pdu.destination_addr == "1000" else None


class World:
    def __init__(self, max_attempts: int = 3) -> None:
        self.timers: list[tuple[float, Callable[[], None]]] = []
        self.journal = Journal()
        self.outbound = Outbound(DispatchSettings(max_attempts=max_attempts), Readers(),
                                 self.call_later)
        self.inbound = Inbound(100, 3, self.call_later)
        self.book = ReceiptBook()
        self.reports = Reports(cast(Any, self.journal), self.outbound, self.inbound,
                               self.book, Mo())

    def call_later(self, delay: float, fn: Callable[[], None]) -> object:
        self.timers.append((delay, fn))
        return None


def message(message_id: int, receipt: bool = True) -> Message:
    body = codec.encode(SubmitSm(source_addr="1000", destination_addr="989121234567",
                                 registered_delivery=int(receipt)))[16:]
    return Message(message_id, "acc", body, receipt=receipt)


def receipt_for(carrier_id: str) -> DeliverSm:
    return DeliverSm(esm_class=0x04, source_addr="989121234567", destination_addr="1000",
                     short_message=f"id:{carrier_id} stat:DELIVRD err:000".encode(),
                     tlvs=[(Tag.RECEIPTED_MESSAGE_ID, carrier_id.encode() + b"\0")])


def test_accepted_is_journalled_and_its_receipt_relayed() -> None:
    world = World()
    world.reports.on_results([(message(0x10), 0, "C1")])
    assert world.journal.outcomes == [(0x10, 0, "C1", True)]
    world.reports.on_deliver([receipt_for("C1")])
    assert world.inbound.queued("acc") == 1


def test_temporary_refusal_is_sent_again_final_one_gets_rejectd() -> None:
    """requirements: a message acknowledged with ESME_ROK is never lost: a carrier's 0x58
    sends it again later; a final refusal is journalled and answered by a REJECTD receipt."""
    world = World()
    world.reports.on_results([(message(1), 0x58, ""), (message(2), 0x45, "")])
    assert len(world.timers) == 1  # the throttled one, later
    assert world.journal.outcomes == [(2, 0x45, "", True)]
    assert world.inbound.queued("acc") == 1  # the REJECTD receipt
    world.timers[0][1]()
    assert [m.id for m in world.outbound.take(5)] == [1]


def test_unanswered_go_back_and_give_up_after_max_attempts() -> None:
    world = World(max_attempts=2)
    lost = message(5)
    world.reports.on_no_answer([lost], "connection lost", at_once=True)
    assert world.outbound.take(5) == [lost]
    world.reports.on_no_answer([lost], "connection lost", at_once=True)
    assert world.outbound.take(5) == []
    assert world.journal.outcomes[-1][0] == 5 and world.reports.refused == 1


def test_mo_goes_to_the_line_owner_and_unmatched_receipts_are_counted() -> None:
    world = World()
    world.reports.on_deliver([DeliverSm(source_addr="989121234567", destination_addr="1000",
                                        short_message=b"hi"),
                              receipt_for("nobody")])
    assert world.inbound.queued("owner") == 1
    assert world.book.unmatched == 1
