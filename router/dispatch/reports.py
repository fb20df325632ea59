"""What carriers answered, turned into journal outcomes, retries and ESME deliveries.

The carrier side reports here (``CarrierReports``) and knows nothing further: accepted
messages become outcomes for the journal and, when a receipt was asked for, an entry in
the receipt book; congestion answers (throttled, queue full) go back to the front of the
outbound queue without spending an attempt (the connection that got them slows down);
other temporary refusals and sends lost with their connection go back spending one;
final refusals are journalled and answered with a REJECTD receipt; receipts and MO
are queued for the account's ESME sessions, a carrier read's receipts as one batch
(results first: a receipt may follow its submit_sm_resp in the same read).
"""

from __future__ import annotations

import structlog

from router.dispatch.inbound import Inbound
from router.dispatch.intake import Intake
from router.dispatch.outbound import Outbound
from router.dispatch.ports import MoRouting
from router.dlr.book import Bodies, ReceiptBook
from router.dlr.receipt import RECEIPT_ESM_MASK, stat_of
from router.logs import sampled
from router.model.messages import Message, Outcome
from router.model.status import (
    CONGESTION_CARRIER_STATUSES,
    GIVEN_UP,
    TEMPORARY_CARRIER_STATUSES,
)
from router.model.wallets import Wallets
from router.smpp import codec
from router.smpp.deliver import Deliver

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
        self.delivers = 0
        """deliver_sm from carriers (receipts and MO), counted per read batch."""
        self._wallets = wallets
        """Prepaid reservations settled by carrier answers and receipts (or None)."""

    def on_results(self, results: list[tuple[Message, int, str]], upstream: str = "") -> None:
        outcomes: list[Outcome] = []
        wanted: list[tuple[str, int, str]] = []  # receipts to expect: one map update
        again: list[Message] = []
        back: list[Message] = []
        for message, status, carrier_id in results:
            if status == 0:
                outcomes.append((message.id, 0, carrier_id, message.receipt))
                if message.receipt:
                    wanted.append((carrier_id, message.id, message.account))
            elif status in CONGESTION_CARRIER_STATUSES:
                back.append(message)  # the connection slows down; no attempt spent
            elif status in TEMPORARY_CARRIER_STATUSES:
                again.append(message)
            else:
                self._refuse(message, status, "refused by carrier")
        if wanted:
            self._book.remember_many(wanted)
        self.accepted += len(outcomes)
        if outcomes:
            if self._wallets is not None and self._wallets.open:
                self._wallets.settle([outcome[0] for outcome in outcomes], [])
            self._intake.record_outcomes(outcomes, upstream)
        if back:
            self.congested += len(back)
            self._outbound.put(back, front=True)
        if again:
            self._again(again, "temporary carrier refusal", at_once=False)

    def on_deliver(self, delivers: list[Deliver]) -> None:
        """A carrier read's receipts as one batch (one hand-over per account), MO one by
        one through policy.  One that cannot be handled is counted and logged (sampled)
        and the carrier still gets ESME_ROK: it would fail the same way every time the
        carrier sent it again, and raising would drop the connection and all in flight."""
        self.delivers += len(delivers)
        receipts = [d for d in delivers if d.esm_class & RECEIPT_ESM_MASK]
        if receipts:
            wallets = self._wallets
            matched: list[tuple[int, Deliver]] = []
            try:
                routed = self._book.from_carrier(receipts, matched)
            except Exception:  # a bug: find the receipt that raises, relay the others
                routed = self._each_receipt(receipts)
            if matched:
                # the records follow delivery status: one journal entry per read
                self._intake.record_receipts([(message_id, stat_of(d.short_message,
                                                                   d.message_state))
                                              for message_id, d in matched])
                if wallets is not None and wallets.open:
                    self._settle_receipts(matched)
            enqueue = self._inbound.enqueue
            for account, bodies in routed.items():
                enqueue(account, bodies)
        if len(receipts) < len(delivers):
            for deliver in delivers:
                if not deliver.esm_class & RECEIPT_ESM_MASK:
                    self._mo_one(deliver)

    def _each_receipt(self, receipts: list[Deliver]) -> Bodies:
        routed: Bodies = {}
        for deliver in receipts:
            try:
                for account, bodies in self._book.from_carrier((deliver,)).items():
                    routed.setdefault(account, []).extend(bodies)
            except Exception:
                self._failed(deliver)
        return routed

    def _mo_one(self, deliver: Deliver) -> None:
        try:
            routed = self._mo.on_mo(deliver.decode())
            if routed is not None:
                account, pdu = routed
                self._inbound.enqueue(account, [codec.encode_body(pdu)])
        except Exception:
            self._failed(deliver)

    def _failed(self, deliver: Deliver) -> None:
        self.failed_delivers += 1
        if sampled(self.failed_delivers):
            log.exception("carrier_deliver_failed",
                          source=deliver.source_addr.decode("latin-1"),
                          esm_class=deliver.esm_class, total=self.failed_delivers)

    def _settle_receipts(self, matched: list[tuple[int, Deliver]]) -> None:
        """DELIVRD commits a reservation waiting for it; REJECTD, UNDELIV, EXPIRED
        refund it."""
        assert self._wallets is not None
        on_receipt = self._wallets.on_receipt
        for message_id, deliver in matched:
            on_receipt(message_id, stat_of(deliver.short_message, deliver.message_state))
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
            self._inbound.enqueue(message.account, [rejected])
