"""Carrier answers turned into outcomes, retries and ESME deliveries (router.dispatch.
reports), without sockets: results before receipts, a read's receipts handed to the
account's session as one batch, MO one by one through policy, congestion answers back
without spending an attempt."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from router.dispatch.inbound import Inbound, Outgoing
from router.dispatch.outbound import Outbound
from router.dispatch.reports import Reports
from router.dispatch.settings import DispatchSettings
from router.dlr.book import ReceiptBook
from router.model.messages import Message, Outcome
from router.model.status import EXPIRED, GIVEN_UP, CarrierClass, RetryClass, carrier_class
from router.smpp import codec
from router.smpp.deliver import Deliver, scan_deliver
from router.smpp.pdu import CommandId, DeliverSm, MessageState, SubmitSm, Tag
from router.smpp.pdu import CommandStatus as S
from tests.fakes import Readers, Timers, long_ago


def _nothing() -> None:
    """A carrier read's answer the test does not look at."""


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
        self.receipted: list[int] = []
    def record_outcomes(self, outcomes: list[Outcome], upstream: str = "") -> None:
        self.outcomes.extend(outcomes)
    def record_receipted(self, message_ids: list[int]) -> None:
        self.receipted.extend(message_ids)
    def record_receipts(self, entries: list[tuple[int, str]]) -> None: ...
def parts(**settings: Any) -> tuple[Reports, Outbound, Journal, Timers, Readers]:
    timers, readers, journal = Timers(), Readers(), Journal()
    outbound = Outbound(DispatchSettings(**settings), readers, timers.call_later, clock=long_ago)
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
    reports.on_no_answer([m], "connection lost", RetryClass.BIND_LOST)
    assert m.attempts == 1 and outbound.take(10) == [m] and timers.due == []
def test_status_table_classes() -> None:
    assert carrier_class(0) is CarrierClass.ACCEPTED
    assert carrier_class(S.ESME_RTHROTTLED) is CarrierClass.CONGESTED
    assert carrier_class(S.ESME_RMSGQFUL) is CarrierClass.CONGESTED
    assert carrier_class(S.ESME_RSYSERR) is CarrierClass.TEMPORARY
    assert carrier_class(S.ESME_RINVDSTADR) is CarrierClass.FINAL
TEXT = ("id:{} sub:001 dlvrd:001 submit date:2611221015 done date:2611221016 "
        "stat:DELIVRD err:000 text:hello")
class Receiver:
    def __init__(self, account: str) -> None:
        self._account = account
        self.batches: list[list[Outgoing]] = []
    @property
    def account(self) -> str:
        return self._account
    def receipt_window(self) -> int:
        return 64 - sum(map(len, self.batches))
    def deliver(self, items: list[Outgoing]) -> None:
        self.batches.append(items)
class Mo:
    def __init__(self) -> None:
        self.seen: list[DeliverSm] = []
    def on_mo(self, pdu: DeliverSm) -> tuple[str, DeliverSm] | None:
        self.seen.append(pdu)
        return "acc", pdu
def deliver(carrier_id: str, esm_class: int = 0x04, seq: int = 1) -> Deliver:
    pdu = DeliverSm(seq, 0, "", 1, 1, "989121234567", 1, 1, "1000", esm_class, 0, 0, "",
                    "", 0, 0, 0, 0, TEXT.format(carrier_id).encode(),
                    [(Tag.RECEIPTED_MESSAGE_ID, carrier_id.encode() + b"\0")])
    return scan_deliver(seq, codec.encode_body(pdu))
def reports(later: Callable[[float, Callable[[], None]], object] | None = None
            ) -> tuple[Reports, Inbound, Journal, Mo]:
    inbound = Inbound(100, 3, later or (lambda delay, fn: None))
    intake, mo = Journal(), Mo()
    return Reports(cast(Any, intake), cast(Any, None), inbound, ReceiptBook(), mo), \
        inbound, intake, mo
def test_results_then_receipts_of_one_read() -> None:
    """A receipt in the same read as its submit_sm_resp: the connector reports results
    first, so the id is known when the receipt is matched."""
    rep, inbound, intake, _ = reports()
    rx = Receiver("acc")
    inbound.attach(rx)
    rep.on_results([(Message(0x10 + i, "acc", b""), 0, f"C{i}") for i in range(5)])
    rep.on_deliver([deliver(f"C{i}", seq=i) for i in range(5)], _nothing)
    assert len(intake.outcomes) == 5
    assert len(rx.batches) == 1
    texts = [o.body for o in rx.batches[0]]
    assert all(b"id:%x " % (0x10 + i) in t for i, t in enumerate(texts))
def test_receipts_queued_while_no_receiver_is_bound() -> None:
    rep, inbound, _, _ = reports()
    rep.on_results([(Message(1, "acc", b""), 0, "C1")])
    rep.on_deliver([deliver("C1")], _nothing)
    assert inbound.queued("acc") == 1
    rx = Receiver("acc")
    inbound.attach(rx)
    assert inbound.queued("acc") == 0 and b"id:1 " in rx.batches[0][0].body
def test_mo_goes_through_policy_one_by_one_beside_receipts() -> None:
    rep, inbound, _, mo = reports()
    rep.on_results([(Message(1, "acc", b""), 0, "C1")])
    rep.on_deliver([deliver("C1"), deliver("", esm_class=0), deliver("nope")], _nothing)
    assert len(mo.seen) == 1 and mo.seen[0].esm_class == 0
    assert inbound.queued("acc") == 2
    assert rep._book.unmatched == 1
def test_throttled_receipt_is_offered_again_later() -> None:
    """An ESME answering ESME_RTHROTTLED (0x58) gets the receipt again, after a delay."""
    later: list[tuple[float, Callable[[], None]]] = []
    rep, inbound, _, _ = reports(lambda delay, fn: later.append((delay, fn)))
    rx = Receiver("acc")
    inbound.attach(rx)
    rep.on_results([(Message(1, "acc", b""), 0, "C1")])
    rep.on_deliver([deliver("C1")], _nothing)
    (item,) = rx.batches.pop()
    inbound.on_answers([(item, 0x58)])
    assert len(later) == 1 and later[0][0] == 2.0
    later[0][1]()
    assert rx.batches == [[item._replace(attempts=1)]]  # the same item, one attempt more


class World:
    def __init__(self, max_attempts: int = 3) -> None:
        self.timers = Timers()
        self.journal = Journal()
        self.outbound = Outbound(DispatchSettings(max_attempts=max_attempts), Readers(),
                                 self.timers.call_later, clock=long_ago)
        self.inbound = Inbound(100, 3, self.timers.call_later)
        self.reports = Reports(cast(Any, self.journal), self.outbound, self.inbound,
                               ReceiptBook(), Mo())
def wanting_receipt(message_id: int, receipt: bool = True) -> Message:
    body = codec.encode(SubmitSm(source_addr="1000", destination_addr="989121234567",
                                 registered_delivery=int(receipt)))[16:]
    return Message(message_id, "acc", body, receipt=receipt)
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
    world.reports.on_no_answer([lost], "connection lost", RetryClass.BIND_LOST)
    assert world.outbound.take(5) == [lost]
    world.reports.on_no_answer([lost], "connection lost", RetryClass.BIND_LOST)
    assert world.outbound.take(5) == []
    assert world.journal.outcomes[-1][0] == 5 and world.reports.refused == 1


def test_a_receipt_ahead_of_its_submit_sm_resp_goes_out_when_the_response_comes() -> None:
    """issue 12: a carrier may send the receipt before (or on another connection than)
    the submit_sm_resp: it is matched when the response arrives, and recorded as the
    message's final receipt."""
    rep, inbound, intake, _ = reports()
    rx = Receiver("acc")
    inbound.attach(rx)
    rep.on_deliver([deliver("C9")], _nothing)
    assert rx.batches == [] and rep._book.unmatched == 1
    rep.on_results([(Message(0x9, "acc", b"", receipt=True), 0, "C9")])
    assert [b"id:9 " in o.body for o in rx.batches[0]] == [True]
    assert intake.receipted == [0x9]


def test_final_outcome_of_our_own_is_journalled_and_receipted_once() -> None:
    """The channel REJECTD uses (``final_outcome``) for EXPIRED: one receipt, recorded
    as the message's final one, however often it is called for one message."""
    world = World()
    message = wanting_receipt(3)
    world.reports.final_outcome(message, 0x400, "EXPIRED")
    world.reports.final_outcome(message, 0x400, "EXPIRED")
    assert world.inbound.queued("acc") == 1 and world.journal.receipted == [3]
    (item,) = list(world.inbound._queues["acc"])
    assert b"stat:EXPIRED" in item.body


def test_expired_is_a_final_outcome_with_an_expired_receipt() -> None:
    """Issue 12: a message whose validity passed before a carrier took it ends EXPIRED in
    the journal and its ESME gets a stat:EXPIRED receipt, through the REJECTD path."""
    world = World()
    world.reports.expire([wanting_receipt(8), wanting_receipt(9, receipt=False)])
    assert world.journal.outcomes == [(8, EXPIRED, "", True), (9, EXPIRED, "", False)]
    assert world.inbound.queued("acc") == 1
    (item,) = world.inbound._queues["acc"]
    pdu = codec.decode(CommandId.DELIVER_SM, 0, 0, item.body)
    assert isinstance(pdu, DeliverSm)
    assert b"stat:EXPIRED" in pdu.short_message and b"id:8 " in pdu.short_message
    assert dict(pdu.tlvs)[Tag.MESSAGE_STATE] == bytes([MessageState.EXPIRED])
