"""Operators' quarantine decisions applied by the running router: a released message goes
to the outbound queue with its original id; a rejected one is journalled as finally
refused and its ESME gets a REJECTD receipt (if it asked for receipts).  Polled twice a
second from the quarantine table `chapar quarantine release|reject` writes."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from router.dispatch.inbound import Inbound
from router.dispatch.intake import Intake
from router.dispatch.lanes import URGENT, priority_of, source_of
from router.dispatch.outbound import Outbound
from router.dlr.book import ReceiptBook
from router.model.messages import Message
from router.model.status import REFUSALS
from router.store.quarantine import Held, QuarantineStore
from router.store.recovery import wants_receipt
from router.store.rows import DB_ERRORS
from router.store.settings import Place
from router.upstream.routing import fill_addresses

log = structlog.get_logger("chapar.content")


async def apply_decisions(path: Place, intake: Intake, outbound: Outbound, book: ReceiptBook,
                          inbound: Inbound, interval: float = 0.5) -> None:
    """The poll.  A store that cannot answer (PostgreSQL away, SQLite locked) is asked
    again at the next one; decisions acted on but not yet marked as such are marked
    first and never acted on twice (a released message would go out twice)."""
    store = QuarantineStore(path)
    unmarked: set[int] = set()
    try:
        while True:
            await asyncio.sleep(interval)
            try:
                if unmarked:
                    await asyncio.to_thread(store.mark_dispatched, sorted(unmarked))
                    unmarked.clear()
                decided = await asyncio.to_thread(store.undispatched)
            except DB_ERRORS as exc:
                log.warning("quarantine_poll_failed", error=str(exc))
                continue
            if not decided:
                continue
            _apply(decided, intake, outbound, book, inbound)
            unmarked.update(h.message_id for h in decided)
            with contextlib.suppress(*DB_ERRORS):  # else marked first at the next poll
                await asyncio.to_thread(store.mark_dispatched, sorted(unmarked))
                unmarked.clear()
    finally:
        store.close()


def _apply(decided: list[Held], intake: Intake, outbound: Outbound, book: ReceiptBook,
           inbound: Inbound) -> None:
    status = REFUSALS["content_rejected"].vendor
    released: list[Message] = []
    rejected: list[int] = []
    urgent_lines = intake.rules.lines.priority if intake.rules else frozenset()
    for held in decided:
        message = Message(held.message_id, held.account, held.body, 0,
                          wants_receipt(held.body), priority_of(held.body) >= URGENT
                          or source_of(held.body) in urgent_lines)
        if held.state == "released":
            released.append(message)
            continue
        intake.record_outcomes([(message.id, status, "", message.receipt)])
        rejected.append(message.id)
        receipt = book.rejected(message, status)
        if receipt is not None:
            inbound.enqueue(message.account, [receipt])
    if released:
        fill_addresses(released)
        outbound.put(released)
    intake.refund(rejected)  # what the billing stage reserved goes back
    log.info("quarantine_applied", released=len(released),
             rejected=len(decided) - len(released))
