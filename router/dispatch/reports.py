"""What carriers answered, turned into journal outcomes, retries and ESME deliveries.

The carrier side reports here (``CarrierReports``) and knows nothing further: accepted
messages become outcomes for the journal and, when a receipt was asked for, an entry in
the receipt book; congestion answers (throttled, queue full) go back to the front of the
outbound queue without spending an attempt (the connection that got them slows down);
other temporary refusals and sends lost with their connection go back spending one;
final refusals are journalled and answered with a REJECTD receipt; receipts and MO
are queued for the account's ESME sessions.
"""

from __future__ import annotations

import contextlib

import structlog

from router.dispatch.inbound import Inbound
from router.dispatch.intake import Intake
from router.dispatch.outbound import Outbound
from router.dispatch.ports import MoRouting
from router.dlr import receipt
from router.dlr.book import ReceiptBook
from router.logs import sampled
from router.model.messages import Message, Outcome
from router.model.status import (
    CONGESTION_CARRIER_STATUSES,
    GIVEN_UP,
    TEMPORARY_CARRIER_STATUSES,
)
from router.model.wallets import Wallets
from router.smpp.pdu import DeliverSm

log = structlog.get_logger("chapar.dispatch")


class Reports:
    def __init__(self, intake: Intake, outbound: Outbound, inbound: Inbound,
                 book: ReceiptBook, mo: MoRouting, wallets: Wallets | None = None) -> None:
        self._intake = intake
        self._outbound = outbound
        self._inbound = inbound
        self._book = book
        self._mo = mo
        self.accepted = 0
        self.refused = 0
        self.congested = 0
        """Answers throttled or queue full: sent again, no attempt spent."""
        self.failed_delivers = 0
        self._wallets = wallets
        """Prepaid reservations settled by carrier answers and receipts (or None)."""

    def on_results(self, results: list[tuple[Message, int, str]]) -> None:
        outcomes: list[Outcome] = []
        remember = self._book.remember
        again: list[Message] = []
        back: list[Message] = []
        for message, status, carrier_id in results:
            if status == 0:
                outcomes.append((message.id, 0, carrier_id, message.receipt))
                if message.receipt:
                    remember(carrier_id, message.id, message.account)
            elif status in CONGESTION_CARRIER_STATUSES:
                back.append(message)  # the connection slows down; no attempt spent
            elif status in TEMPORARY_CARRIER_STATUSES:
                again.append(message)
            else:
                self._refuse(message, status, "refused by carrier")
        self.accepted += len(outcomes)
        if outcomes:
            if self._wallets is not None and self._wallets.open:
                self._wallets.settle([outcome[0] for outcome in outcomes], [])
            self._intake.record_outcomes(outcomes)
        if back:
            self.congested += len(back)
            self._outbound.put(back, front=True)
        if again:
            self._again(again, "temporary carrier refusal", at_once=False)

    def on_deliver(self, pdus: list[DeliverSm]) -> None:
        """Receipts and MO.  One that cannot be handled is counted and logged (sampled)
        and the carrier still gets ESME_ROK: it would fail the same way every time the
        carrier sent it again, and raising would drop the connection and all in flight."""
        for pdu in pdus:
            try:
                routed = (self._book.from_carrier(pdu) if receipt.is_receipt(pdu.esm_class)
                          else self._mo.on_mo(pdu))
            except Exception:
                self.failed_delivers += 1
                if sampled(self.failed_delivers):
                    log.exception("carrier_deliver_failed", source=pdu.source_addr,
                                  esm_class=pdu.esm_class, total=self.failed_delivers)
                continue
            if routed is not None:
                if self._wallets is not None and self._wallets.open:
                    self._settle_receipt(routed[1])
                self._inbound.enqueue(*routed)

    def _settle_receipt(self, pdu: DeliverSm) -> None:
        """DELIVRD commits a reservation waiting for it; REJECTD, UNDELIV, EXPIRED
        refund it (the rewritten receipt carries our id)."""
        assert self._wallets is not None
        parsed = receipt.parse(pdu.short_message.decode("latin-1"), pdu.tlvs)
        if parsed is not None:
            with contextlib.suppress(ValueError):
                self._wallets.on_receipt(int(parsed.message_id, 16), parsed.stat)
                self._intake.record_ledger()

    def on_no_answer(self, messages: list[Message], reason: str, at_once: bool) -> None:
        self._again(messages, reason, at_once)

    def _again(self, messages: list[Message], reason: str, at_once: bool) -> None:
        for message in self._outbound.again(messages, at_once):
            self._refuse(message, GIVEN_UP, reason)

    def _refuse(self, message: Message, status: int, reason: str) -> None:
        self.refused += 1
        if sampled(self.refused):  # each one is in the journal and gets a REJECTD receipt
            log.warning("message_refused_upstream", id=message.id, account=message.account,
                        status=f"0x{status:08x}", reason=reason, attempts=message.attempts,
                        total=self.refused)
        self._intake.record_outcomes([(message.id, status, "", message.receipt)])
        if self._wallets is not None and self._wallets.open:
            self._wallets.settle([], [message.id])
        rejected = self._book.rejected(message, status)
        if rejected is not None:
            self._inbound.enqueue(message.account, rejected)
