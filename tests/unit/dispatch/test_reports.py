"""Carrier reports, a read at a time: results before receipts, a read's receipts handed
to the account's session as one batch, MO one by one through policy (no sockets)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from router.dispatch.inbound import Inbound, Outgoing
from router.dispatch.reports import Reports
from router.dlr.book import ReceiptBook
from router.model.messages import Message, Outcome
from router.smpp import codec
from router.smpp.deliver import Deliver, scan_deliver
from router.smpp.pdu import DeliverSm, Tag

TEXT = ("id:{} sub:001 dlvrd:001 submit date:2611221015 done date:2611221016 "
        "stat:DELIVRD err:000 text:hello")


class Intake:
    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []

    def record_outcomes(self, outcomes: list[Outcome]) -> None:
        self.outcomes += outcomes


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
            ) -> tuple[Reports, Inbound, Intake, Mo]:
    inbound = Inbound(100, 3, later or (lambda delay, fn: None))
    intake, mo = Intake(), Mo()
    return Reports(cast(Any, intake), cast(Any, None), inbound, ReceiptBook(), mo), \
        inbound, intake, mo


def test_results_then_receipts_of_one_read() -> None:
    """A receipt in the same read as its submit_sm_resp: the connector reports results
    first, so the id is known when the receipt is matched."""
    rep, inbound, intake, _ = reports()
    rx = Receiver("acc")
    inbound.attach(rx)
    rep.on_results([(Message(0x10 + i, "acc", b""), 0, f"C{i}") for i in range(5)])
    rep.on_deliver([deliver(f"C{i}", seq=i) for i in range(5)])
    assert len(intake.outcomes) == 5
    assert len(rx.batches) == 1
    texts = [o.body for o in rx.batches[0]]
    assert all(b"id:%x " % (0x10 + i) in t for i, t in enumerate(texts))


def test_receipts_queued_while_no_receiver_is_bound() -> None:
    rep, inbound, _, _ = reports()
    rep.on_results([(Message(1, "acc", b""), 0, "C1")])
    rep.on_deliver([deliver("C1")])
    assert inbound.queued("acc") == 1
    rx = Receiver("acc")
    inbound.attach(rx)
    assert inbound.queued("acc") == 0 and b"id:1 " in rx.batches[0][0].body


def test_mo_goes_through_policy_one_by_one_beside_receipts() -> None:
    rep, inbound, _, mo = reports()
    rep.on_results([(Message(1, "acc", b""), 0, "C1")])
    rep.on_deliver([deliver("C1"), deliver("", esm_class=0), deliver("nope")])
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
    rep.on_deliver([deliver("C1")])
    (item,) = rx.batches.pop()
    inbound.on_answers([(item, 0x58)])
    assert len(later) == 1 and later[0][0] == 2.0 and item.attempts == 1
    later[0][1]()
    assert rx.batches == [[item]]
