"""query_sm, cancel_sm and replace_sm, answered from Chapar's own state.

A message still waiting for a carrier (queued, or waiting to be sent again) is found in
the outbound queue; any other is read back from the journal (``store.lookup`` for
SQLite, ``store.postgres.lookup`` for PostgreSQL, on a thread of its own: the loop never
waits for those scans).  An ESME sees only its own
account's messages: another account's id is answered like an unknown one.  A cancel or
replace is answered only after the commit that makes it durable (the cancel's outcome,
the new body), like ESME_ROK for a submit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

from router.dispatch.inbound import Inbound
from router.dispatch.intake import Intake
from router.dispatch.outbound import Outbound
from router.dlr.book import ReceiptBook
from router.model.messages import Message
from router.model.status import (
    CANCELLED,
    NOT_CANCELLABLE,
    NOT_REPLACEABLE,
    QUERY_FAILED,
    STORE_UNAVAILABLE,
    UNKNOWN_MESSAGE,
    state_of_outcome,
)
from router.smpp import convert
from router.smpp.codec import scan_submit
from router.smpp.pdu import DecodeError, MessageState, ReplaceSm
from router.store.lookup import Reader

T = TypeVar("T")
CheckReplacement = Callable[[str, bytes, bytes], int]
"""(account, new body, old body) -> 0, or the status refusing the new body."""


class QueryAnswer(NamedTuple):
    status: int
    state: int = 0
    final_date: str = ""
    error_code: int = 0


def parse_id(message_id: str) -> int | None:
    """Our ids are hex (``format_id``); any case and leading zeros are accepted."""
    if not message_id or len(message_id) > 16:
        return None
    try:
        return int(message_id, 16)
    except ValueError:
        return None


def smpp_time(at: float) -> str:
    """SMPP absolute time, UTC: YYMMDDhhmmss, tenths, quarter hours from UTC, '+'."""
    return time.strftime("%y%m%d%H%M%S", time.gmtime(at)) + "000+"


def _addresses(body: bytes) -> tuple[str, str]:
    submit = scan_submit(0, body)
    return submit.source_addr, submit.destination_addr


@dataclass(slots=True)
class Operations:
    outbound: Outbound
    intake: Intake
    reader: Reader
    book: ReceiptBook
    """Makes the stat:DELETED receipt of a cancelled message that asked for one."""
    inbound: Inbound
    cancelled: int = 0
    replaced: int = 0
    lookups: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="chapar-lookup"))
    """One thread of its own: a flood of queries for old ids costs that thread (their
    session's inbound window bounds them), never the loop's default executor."""

    def close(self) -> None:
        self.lookups.shutdown(wait=True, cancel_futures=True)
        self.reader.close()

    async def _off_loop(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.lookups, call)

    def _waiting(self, account: str, message_id: int) -> Message | None:
        message = self.outbound.find(message_id)
        return message if message is not None and message.account == account else None

    async def _known(self, account: str, message_id: int) -> bool:
        """The journal has the message, and it is this account's."""
        record = await self._off_loop(lambda: self.reader.record(message_id))
        return record is not None and record.account == account

    async def query(self, account: str, message_id: str, source: str) -> QueryAnswer:
        wanted = parse_id(message_id)
        if wanted is None:
            return QueryAnswer(UNKNOWN_MESSAGE)
        message = self.outbound.find(wanted)
        if message is not None:
            if message.account != account:
                return QueryAnswer(UNKNOWN_MESSAGE)
            if source and _addresses(message.body)[0] != source:
                return QueryAnswer(QUERY_FAILED)
            return QueryAnswer(0, MessageState.ENROUTE)
        record = await self._off_loop(lambda: self.reader.record(wanted))
        if record is None or record.account != account:
            return QueryAnswer(UNKNOWN_MESSAGE)
        if source and _addresses(record.body)[0] != source:
            return QueryAnswer(QUERY_FAILED)
        since = record.received_at
        finished = await self._off_loop(lambda: self.reader.outcome(wanted, since))
        if finished is None:  # in flight on a carrier connection
            return QueryAnswer(0, MessageState.ENROUTE)
        state = state_of_outcome(finished.status)
        if state is MessageState.ENROUTE:  # with a carrier: its receipt may have come
            receipt = await self._off_loop(lambda: self.reader.receipt(wanted, since))
            if receipt is None:
                return QueryAnswer(0, state)
            return QueryAnswer(0, receipt.status, smpp_time(receipt.at))
        return QueryAnswer(0, state, smpp_time(finished.at), finished.status & 0xFF)

    async def cancel(self, account: str, message_id: str, source: str,
                     destination: str) -> int:
        """SMPP 3.4 §4.9: one message by id, or (no id) every message of the account
        from ``source`` to ``destination`` still waiting."""
        if message_id:
            wanted = parse_id(message_id)
            if wanted is None:
                return UNKNOWN_MESSAGE
            message = self._waiting(account, wanted)
            if message is None:
                return NOT_CANCELLABLE if await self._known(account, wanted) else UNKNOWN_MESSAGE
            if source and _addresses(message.body)[0] != source:
                return NOT_CANCELLABLE
            targets = [message]
        else:
            targets = [m for m in self.outbound.waiting(account)
                       if _addresses(m.body) == (source, destination)]
        withdrawn = [m for m in targets if self.outbound.withdraw(m)]
        if not withdrawn:
            return NOT_CANCELLABLE
        ids = [m.id for m in withdrawn]
        self.intake.record_outcomes([(i, CANCELLED, "", False) for i in ids])
        self.intake.refund(ids)
        self.cancelled += len(ids)
        # A failed commit keeps the outcomes for the next one; the messages stay out of
        # the queue, but a restart before then would send them: not a promise yet.
        if not await self._committed():
            return STORE_UNAVAILABLE
        receipts, receipted = [], []
        for m in withdrawn:  # the one final receipt (exactly once: the book's finished set)
            body = self.book.final(m, "DELETED", CANCELLED)
            if body is not None:
                receipts.append(body)
                receipted.append(m.id)
        if receipted:
            self.intake.record_receipted(receipted)
        if receipts:  # the one final receipt of a message that asked for one, after
            # the cancel_sm_resp (this coroutine's caller answers before the next turn)
            asyncio.get_running_loop().call_soon(self.inbound.enqueue, account, receipts)
        return 0

    async def replace(self, account: str, pdu: ReplaceSm, check: CheckReplacement) -> int:
        wanted = parse_id(pdu.message_id)
        if wanted is None:
            return UNKNOWN_MESSAGE
        message = self._waiting(account, wanted)
        if message is None:
            return NOT_REPLACEABLE if await self._known(account, wanted) else UNKNOWN_MESSAGE
        old = message.body
        if pdu.source_addr and _addresses(old)[0] != pdu.source_addr:
            return NOT_REPLACEABLE
        try:
            new = convert.replaced_body(old, pdu)
        except DecodeError as exc:
            return exc.status
        refused = check(account, new, old)
        if refused:
            return refused
        before = (message.receipt, message.expires)
        message.body = new
        message.receipt = (pdu.registered_delivery & 3) != 0
        message.expires = 0.0  # the validity may have changed: worked out again
        self.intake.record_replaced(wanted, new)
        if not await self._committed():
            if message.body is new:
                message.body = old
                message.receipt, message.expires = before
            return STORE_UNAVAILABLE
        self.replaced += 1
        return 0

    def _committed(self) -> asyncio.Future[bool]:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def done(ok: bool) -> None:
            if not future.done():
                future.set_result(ok)

        self.intake.when_committed(done)
        return future
