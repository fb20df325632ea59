"""What carriers answered, turned into journal outcomes, retries and ESME deliveries.

The carrier side reports here (``CarrierReports``) and knows nothing further: accepted
messages become outcomes for the journal and, when a receipt was asked for, an entry in
the receipt book; congestion answers (throttled, queue full) go back to the front of the
outbound queue without spending an attempt (the connection that got them slows down);
other temporary refusals and sends lost with their connection go back spending one;
final refusals are journalled and answered with a REJECTD receipt (``final_outcome``:
the one way any final outcome of our own, EXPIRED too, becomes a receipt); receipts
and MO are queued for the account's ESME sessions, a carrier read's receipts as one
batch (results first: a receipt may follow its submit_sm_resp in the same read; one
that came before it is held by the book and released here when it comes).
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter

import structlog

from router.dispatch.inbound import Inbound
from router.dispatch.intake import Intake
from router.dispatch.outbound import Outbound
from router.dispatch.ports import MoRouting
from router.dlr.book import ReceiptBook, Routed
from router.dlr.receipt import RECEIPT_ESM_MASK
from router.logs import sampled
from router.model.messages import Message, Outcome
from router.model.status import (
    CONGESTION_CARRIER_STATUSES,
    EXPIRED,
    GIVEN_UP,
    TEMPORARY_CARRIER_STATUSES,
    RetryClass,
    retry_class,
)
from router.model.wallets import Wallets
from router.smpp import codec
from router.smpp.deliver import Deliver

_message_id = itemgetter(0)
"""Of an outcome."""
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
        back: list[tuple[Message, int]] = []
        for message, status, carrier_id in results:
            if status == 0:
                outcomes.append((message.id, 0, carrier_id, message.receipt))
                if message.receipt:
                    wanted.append((carrier_id, message.id, message.account))
            elif status in CONGESTION_CARRIER_STATUSES:
                back.append((message, status))  # the connection slows down
            elif status in TEMPORARY_CARRIER_STATUSES:
                again.append(message)
            else:
                self._refuse(message, status, "refused by carrier")
        if wanted:
            self._expect(wanted, results)
        self.accepted += len(outcomes)
        if outcomes:
            if self._wallets is not None and self._wallets.open:
                self._wallets.settle(list(map(_message_id, outcomes)), [])
            self._intake.record_outcomes(outcomes, upstream)
        if back:
            self.congested += len(back)
            self._congested(back)
        if again:
            self._again(again, "temporary carrier refusal", RetryClass.SYSTEM_ERROR)

    def _congested(self, back: list[tuple[Message, int]]) -> None:
        """Throttled and queue-full answers, each by its row of the retry table (by
        default: to the front at once, in order, no attempt spent)."""
        self._again([message for message, _ in back], "carrier congested",
                    [retry_class(status) for _, status in back])

    def _expect(self, wanted: list[tuple[str, int, str]],
                results: list[tuple[Message, int, str]]) -> None:
        """Receipts to come: remembered (parts noted for per_message accounts); those
        that came before their submit_sm_resp go out now."""
        book = self._book
        if book.folds.accounts:
            for message, status, _ in results:
                if status == 0 and message.receipt:
                    book.expect(message)
        early = book.remember_many(wanted)
        if early:
            self._receipts(early)

    def on_deliver(self, delivers: list[Deliver], answer: Callable[[], None]) -> None:
        """A carrier read's receipts as one batch (one hand-over per account), MO one by
        one through policy; ``answer()`` once what they became is safe from a crash
        (``Inbound.when_safe``).  One that cannot be handled is counted and logged
        (sampled) and the carrier still gets ESME_ROK: it would fail the same way every
        time the carrier sent it again, and raising would drop the connection and all in
        flight.  Receipts held for a late submit_sm_resp, and repeats, are answered at
        once (held in memory, they are the one thing a crash in that minute loses)."""
        self.delivers += len(delivers)
        receipts = [d for d in delivers if d[2] & RECEIPT_ESM_MASK]  # esm_class
        handed = self._receipts(receipts) if receipts else []
        if len(receipts) < len(delivers):
            for deliver in delivers:
                if not deliver[2] & RECEIPT_ESM_MASK:
                    handed += self._mo_one(deliver)
        self._inbound.when_safe(handed, answer)

    def _receipts(self, receipts: list[Deliver]) -> list[int]:
        wallets = self._wallets
        matched: list[tuple[int, str]] = []
        try:
            routed = self._book.from_carrier(receipts, matched)
        except Exception:  # a bug: find the receipt that raises, relay the others
            routed = self._each_receipt(receipts)
        if matched:
            # the records follow delivery status: one journal entry per read
            self._intake.record_receipts(matched)
            if wallets is not None and wallets.open:
                self._settle_receipts(matched)
        if routed.finals:
            self._intake.record_receipted(routed.finals)
        enqueue = self._inbound.enqueue
        handed: list[int] = []
        for account, bodies in routed.bodies.items():
            handed += enqueue(account, bodies)
        return handed

    def _each_receipt(self, receipts: list[Deliver]) -> Routed:
        routed = Routed()
        for deliver in receipts:
            try:
                one = self._book.from_carrier((deliver,))
            except Exception:
                self._failed(deliver)
                continue
            for account, bodies in one.bodies.items():
                routed.bodies.setdefault(account, []).extend(bodies)
            routed.finals.extend(one.finals)
        return routed

    def _mo_one(self, deliver: Deliver) -> list[int]:
        try:
            routed = self._mo.on_mo(deliver.decode())
            if routed is not None:
                account, pdu = routed
                return self._inbound.enqueue(account, [codec.encode_body(pdu)])
        except Exception:
            self._failed(deliver)
        return []

    def _failed(self, deliver: Deliver) -> None:
        self.failed_delivers += 1
        if sampled(self.failed_delivers):
            log.exception("carrier_deliver_failed",
                          source=deliver.fields().source_addr.decode("latin-1"),
                          esm_class=deliver.esm_class, total=self.failed_delivers)

    def _settle_receipts(self, matched: list[tuple[int, str]]) -> None:
        """DELIVRD commits a reservation waiting for it; REJECTD, UNDELIV, EXPIRED
        refund it."""
        assert self._wallets is not None
        on_receipt = self._wallets.on_receipt
        for message_id, stat in matched:
            on_receipt(message_id, stat)
        self._intake.record_ledger()

    def on_no_answer(self, messages: list[Message], reason: str, cause: RetryClass) -> None:
        self._again(messages, reason, cause)

    def expire(self, messages: list[Message]) -> None:
        """Store-and-forward gave up: validity passed before a carrier accepted them.
        A final outcome like a carrier's refusal, with a ``stat:EXPIRED`` receipt."""
        for message in messages:
            self._refuse(message, EXPIRED, "validity passed", "EXPIRED")

    def _again(self, messages: list[Message], reason: str,
               why: RetryClass | list[RetryClass]) -> None:
        for message in self._outbound.again(messages, why):
            self._refuse(message, GIVEN_UP, reason)

    def _refuse(self, message: Message, status: int, reason: str,
                stat: str = "REJECTD") -> None:
        self.refused += 1
        if sampled(self.refused):  # each one is in the journal and gets a REJECTD receipt
            log.warning("message_refused_upstream", id=message.id, account=message.account,
                        status=f"0x{status:08x}", reason=reason, attempts=message.attempts,
                        total=self.refused)
        self.final_outcome(message, status, stat)

    def final_outcome(self, message: Message, status: int, stat: str) -> None:
        """A message ends here without a carrier receipt (refused: REJECTD; at its
        maximum age: EXPIRED): its outcome is journalled, its reservation refunded, and
        the ESME gets exactly one receipt with ``stat`` if it asked for one."""
        self._intake.record_outcomes([(message.id, status, "", message.receipt)])
        if self._wallets is not None and self._wallets.open:
            self._wallets.settle([], [message.id])
        body = self._book.final(message, stat, status)
        if body is not None:
            self._intake.record_receipted([message.id])
            self._inbound.enqueue(message.account, [body])
