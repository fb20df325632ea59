"""Carrier answers turned into outcomes and retries, and the outbound queue's bound
(router.dispatch.reports, router.dispatch.outbound), without sockets."""

from __future__ import annotations

from typing import Any, cast

from router.dispatch.inbound import Inbound
from router.dispatch.outbound import Outbound
from router.dispatch.reports import Reports
from router.dispatch.settings import DispatchSettings
from router.dlr.book import ReceiptBook
from router.model.messages import Message, Outcome
from router.model.status import GIVEN_UP, CarrierClass, carrier_class
from router.smpp import codec
from router.smpp.pdu import CommandStatus as S
from router.smpp.pdu import DeliverSm, SubmitSm, Tag
from tests.fakes import Readers, Timers


class Carriers:
    """Takes nothing unless told to: the queue's content is what the test inspects."""

    def __init__(self) -> None:
        self.outbound: Outbound | None = None
        self.take = 0

    def pump(self) -> None:
        if self.take and self.outbound is not None:
            self.outbound.take(self.take)

    def lowest_in_flight(self) -> int | None:
        return None


class Journal:
    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []

    def record_outcomes(self, outcomes: list[Outcome]) -> None:
        self.outcomes.extend(outcomes)


def parts(**settings: Any) -> tuple[Reports, Outbound, Journal, Timers, Readers]:
    timers, readers, journal = Timers(), Readers(), Journal()
    outbound = Outbound(DispatchSettings(**settings), readers, timers.call_later)
    carriers = Carriers()
    carriers.outbound = outbound
    outbound.attach(carriers)
    reports = Reports(cast(Any, journal), outbound, Inbound(10, 3, timers.call_later),
                      ReceiptBook(), cast(Any, None))
    return reports, outbound, journal, timers, readers


def message(n: int) -> Message:
    return Message(id=n, account="acc", body=b"", receipt=False)


def test_congestion_answers_go_back_without_spending_an_attempt() -> None:
    reports, outbound, journal, timers, _ = parts(max_attempts=2)
    m1, m2 = message(1), message(2)
    for _ in range(50):  # throttled far more often than max_attempts: never given up
        reports.on_results([(m1, S.ESME_RTHROTTLED, ""), (m2, S.ESME_RMSGQFUL, "")])
        assert outbound.take(10) == [m1, m2]  # at once, at the front, in order
    assert (m1.attempts, m2.attempts) == (0, 0)
    assert journal.outcomes == [] and timers.due == []
    assert reports.congested == 100 and reports.refused == 0
    reports.on_results([(m1, 0, "c1"), (m2, 0, "c2")])
    assert journal.outcomes == [(1, 0, "c1", False), (2, 0, "c2", False)]


def test_other_temporary_refusals_spend_attempts_and_wait() -> None:
    reports, outbound, journal, timers, _ = parts(max_attempts=2, retry_delay=5.0)
    m = message(7)
    reports.on_results([(m, S.ESME_RSYSERR, "")])
    assert m.attempts == 1 and outbound.queued == 0 and [d for d, _ in timers.due] == [5.0]
    timers.run()
    assert outbound.take(10) == [m]
    reports.on_results([(m, S.ESME_RSYSERR, "")])
    assert journal.outcomes == [(7, GIVEN_UP, "", False)] and reports.refused == 1


def test_lost_with_the_connection_goes_back_at_once_spending_one() -> None:
    reports, outbound, _, timers, _ = parts(max_attempts=3)
    m = message(3)
    reports.on_no_answer([m], "connection lost", True)
    assert m.attempts == 1 and outbound.take(10) == [m] and timers.due == []


def test_status_table_classes() -> None:
    assert carrier_class(0) is CarrierClass.ACCEPTED
    assert carrier_class(S.ESME_RTHROTTLED) is CarrierClass.CONGESTED
    assert carrier_class(S.ESME_RMSGQFUL) is CarrierClass.CONGESTED
    assert carrier_class(S.ESME_RSYSERR) is CarrierClass.TEMPORARY
    assert carrier_class(S.ESME_RINVDSTADR) is CarrierClass.FINAL


class Mo:
    def on_mo(self, pdu: DeliverSm) -> tuple[str, DeliverSm] | None:
        return ("owner", pdu) if pdu.destination_addr == "1000" else None


class World:
    def __init__(self, max_attempts: int = 3) -> None:
        self.timers = Timers()
        self.journal = Journal()
        self.outbound = Outbound(DispatchSettings(max_attempts=max_attempts), Readers(),
                                 self.timers.call_later)
        self.inbound = Inbound(100, 3, self.timers.call_later)
        self.book = ReceiptBook()
        self.reports = Reports(cast(Any, self.journal), self.outbound, self.inbound,
                               self.book, Mo())


def wanting_receipt(message_id: int, receipt: bool = True) -> Message:
    body = codec.encode(SubmitSm(source_addr="1000", destination_addr="989121234567",
                                 registered_delivery=int(receipt)))[16:]
    return Message(message_id, "acc", body, receipt=receipt)


def receipt_for(carrier_id: str) -> DeliverSm:
    return DeliverSm(esm_class=0x04, source_addr="989121234567", destination_addr="1000",
                     short_message=f"id:{carrier_id} stat:DELIVRD err:000".encode(),
                     tlvs=[(Tag.RECEIPTED_MESSAGE_ID, carrier_id.encode() + b"\0")])


def test_accepted_is_journalled_and_its_receipt_relayed() -> None:
    world = World()
    world.reports.on_results([(wanting_receipt(0x10), 0, "C1")])
    assert world.journal.outcomes == [(0x10, 0, "C1", True)]
    world.reports.on_deliver([receipt_for("C1")])
    assert world.inbound.queued("acc") == 1


def test_temporary_refusal_is_sent_again_final_one_gets_rejectd() -> None:
    """requirements: a message acknowledged with ESME_ROK is never lost: a carrier's system
    error sends it again later; a final refusal is journalled and answered by a REJECTD
    receipt."""
    world = World()
    world.reports.on_results([(wanting_receipt(1), S.ESME_RSYSERR, ""),
                              (wanting_receipt(2), 0x45, "")])
    assert len(world.timers.due) == 1  # the temporary one, later
    assert world.journal.outcomes == [(2, 0x45, "", True)]
    assert world.inbound.queued("acc") == 1  # the REJECTD receipt
    world.timers.run()
    assert [m.id for m in world.outbound.take(5)] == [1]


def test_unanswered_go_back_and_give_up_after_max_attempts() -> None:
    world = World(max_attempts=2)
    lost = wanting_receipt(5)
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
