"""Receipts from carriers back to the ESMEs that sent the messages.

Holds the map carrier id -> (our id, account), the per-account queue of deliver_sm
waiting for an RX/TRX session with window, and the round robin over an account's
receiver sessions.  Receipts for an account with no receiver bound wait in its queue
(bounded; overflow is logged and counted, never silent).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import structlog

from router.dlr import receipt
from router.logs import sampled
from router.model.messages import Message
from router.smpp import codec
from router.smpp.pdu import CommandStatus, DeliverSm, MessageState, SubmitSm, Tag
from router.store.ids import format_id

log = structlog.get_logger("chapar.dlr")

# deliver_sm_resp statuses after which an ESME wants the receipt again later.
RETRY_STATUSES = frozenset({
    CommandStatus.ESME_RX_T_APPN, CommandStatus.ESME_RTHROTTLED,
    CommandStatus.ESME_RMSGQFUL, CommandStatus.ESME_RSYSERR,
})


@dataclass(slots=True)
class Outgoing:
    account: str
    pdu: DeliverSm
    attempts: int = 0


class Receiver(Protocol):
    """An ESME session that can take deliver_sm (bound RX or TRX)."""

    @property
    def account(self) -> str: ...

    def receipt_window(self) -> int: ...

    def deliver(self, items: list[Outgoing]) -> None: ...


class ReceiptRelay:
    def __init__(self, queue_limit: int = 100_000, map_limit: int = 2_000_000,
                 max_attempts: int = 10,
                 call_later: Callable[[float, Callable[[], None]], object] | None = None
                 ) -> None:
        # Two generations of plain dicts instead of one OrderedDict: a full garbage
        # collection walked a 740k-entry OrderedDict in 46 ms; untracked dicts cost ~1 ms.
        self._ids: dict[str, tuple[int, str]] = {}
        self._old_ids: dict[str, tuple[int, str]] = {}
        self._generation = max(1, map_limit // 2)
        self._queues: dict[str, deque[Outgoing]] = {}
        self._receivers: dict[str, list[Receiver]] = {}
        self._turn: dict[str, int] = {}
        self._queue_limit = queue_limit
        self._max_attempts = max_attempts
        self._call_later = call_later
        self.dropped = 0
        self.unmatched = 0

    # --- correlation ----------------------------------------------------------------

    def remember(self, upstream_id: str, message_id: int, account: str) -> None:
        ids = self._ids
        ids[receipt.normalise_id(upstream_id)] = (message_id, account)
        if len(ids) >= self._generation:
            self._old_ids, self._ids = ids, {}

    def _lookup(self, upstream_id: str) -> tuple[int, str] | None:
        for variant in receipt.id_variants(upstream_id):
            found = self._ids.get(variant) or self._old_ids.get(variant)
            if found is not None:
                return found
        return None

    def on_carrier_receipt(self, pdu: DeliverSm) -> bool:
        """Relay a carrier receipt; False when it matches no message of ours."""
        text = pdu.short_message.decode("latin-1")
        parsed = receipt.parse(text, pdu.tlvs)
        found = self._lookup(parsed.message_id) if parsed else None
        if parsed is None or found is None:
            self.unmatched += 1
            if sampled(self.unmatched):
                log.warning("receipt_unmatched", total=self.unmatched,
                            carrier_id=parsed.message_id if parsed else None)
            return False
        message_id, account = found
        our_id = format_id(message_id)
        tlvs = [(t, v) for t, v in pdu.tlvs if t != Tag.RECEIPTED_MESSAGE_ID]
        tlvs.insert(0, (Tag.RECEIPTED_MESSAGE_ID, our_id.encode() + b"\0"))
        out = replace(pdu, sequence=0, status=0,
                      short_message=receipt.rewrite_text(text, our_id).encode("latin-1"),
                      tlvs=tlvs)
        self.enqueue(account, out)
        return True

    def on_refused(self, message: Message, status: int) -> None:
        """A carrier finally refused a message we acknowledged: tell the ESME by receipt."""
        try:
            sm = codec.decode(0x00000004, 0, 0, message.body)
        except Exception:  # the body was valid when journalled; be safe on old rows
            return
        assert isinstance(sm, SubmitSm)
        if sm.registered_delivery & 0x03 == 0:
            return
        now = time.time()
        our_id = format_id(message.id)
        text = receipt.compose_text(our_id, "REJECTD", f"{status & 0xFFF:03x}",
                                    now, now)
        pdu = DeliverSm(
            0, 0, "", sm.dest_addr_ton, sm.dest_addr_npi, sm.destination_addr,
            sm.source_addr_ton, sm.source_addr_npi, sm.source_addr, 0x04, 0, 0, "", "",
            0, 0, 0, 0, text.encode("latin-1"),
            [(Tag.RECEIPTED_MESSAGE_ID, our_id.encode() + b"\0"),
             (Tag.MESSAGE_STATE, bytes([MessageState.REJECTED]))])
        self.enqueue(message.account, pdu)

    # --- delivery to ESMEs ----------------------------------------------------------

    def enqueue(self, account: str, pdu: DeliverSm) -> None:
        queue = self._queues.setdefault(account, deque())
        if len(queue) >= self._queue_limit:
            queue.popleft()
            self.dropped += 1
            if sampled(self.dropped):
                log.error("receipt_queue_full", account=account, limit=self._queue_limit,
                          dropped_total=self.dropped)
        queue.append(Outgoing(account, pdu))
        self.pump(account)

    def attach(self, receiver: Receiver) -> None:
        self._receivers.setdefault(receiver.account, []).append(receiver)
        self.pump(receiver.account)

    def detach(self, receiver: Receiver, unanswered: list[Outgoing]) -> None:
        receivers = self._receivers.get(receiver.account, [])
        if receiver in receivers:
            receivers.remove(receiver)
        queue = self._queues.setdefault(receiver.account, deque())
        queue.extendleft(reversed(unanswered))
        self.pump(receiver.account)

    def pump(self, account: str) -> None:
        queue = self._queues.get(account)
        receivers = self._receivers.get(account)
        if not queue or not receivers:
            return
        turn = self._turn.get(account, 0)
        for i in range(len(receivers)):
            receiver = receivers[(turn + i) % len(receivers)]
            free = receiver.receipt_window()
            if free > 0:
                n = min(free, len(queue))
                receiver.deliver([queue.popleft() for _ in range(n)])
                if not queue:
                    break
        self._turn[account] = turn + 1

    def on_answer(self, item: Outgoing, status: int) -> None:
        """The ESME answered a deliver_sm; retry later on a temporary refusal."""
        if status == 0:
            return
        if status in RETRY_STATUSES and item.attempts + 1 < self._max_attempts:
            item.attempts += 1
            if self._call_later is not None:
                self._call_later(min(2.0 ** item.attempts, 60.0),
                                 lambda: self._requeue(item))
                return
            self._requeue(item)
            return
        log.warning("receipt_refused_by_esme", account=item.account, status=status,
                    attempts=item.attempts + 1)

    def _requeue(self, item: Outgoing) -> None:
        self._queues.setdefault(item.account, deque()).appendleft(item)
        self.pump(item.account)

    def queued(self, account: str) -> int:
        return len(self._queues.get(account, ()))
