"""Receipts from carriers matched to our messages and rewritten for the ESME.

Holds the map carrier id -> (our id, account) of messages that asked for a receipt
(``IdMap``); turns a carrier read's receipts into the deliver_sm bodies the ESMEs get,
grouped by account (our id in the text and the TLV, every other field copied as bytes),
and composes REJECTD receipts for messages a carrier refused.  Queueing towards ESME
sessions is dispatch's job (dispatch/inbound.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import structlog

from router.dlr import receipt
from router.dlr.ids import IdMap
from router.dlr.rewrite import rewrite, text_id
from router.model.messages import Message, format_id
from router.smpp import codec
from router.smpp.deliver import Deliver, rebuild
from router.smpp.pdu import CommandId, DeliverSm, MessageState, SubmitSm, Tag

log = structlog.get_logger("chapar.dlr")

Bodies = dict[str, list[bytes]]
"""Per account, deliver_sm bodies ready to send (a sequence number is all they lack)."""


class ReceiptBook:
    def __init__(self, map_limit: int = 2_000_000) -> None:
        self.ids = IdMap(map_limit)
        self.unmatched = 0

    # --- correlation ----------------------------------------------------------------

    def remember(self, carrier_id: str, message_id: int, account: str) -> None:
        self.ids.remember(carrier_id, message_id, account)

    def remember_many(self, entries: list[tuple[str, int, str]]) -> None:
        """(carrier id, our id, account) of a read's accepted messages that want one."""
        self.ids.remember_many(entries)

    def from_carrier(self, batch: Iterable[Deliver],
                     matched: list[tuple[int, Deliver]] | None = None) -> Bodies:
        """A carrier read's receipts made ours, per account; those matching nothing are
        counted and logged (sampled).  The TLV id wins over the text's.  ``matched``, when
        given, gets (our id, receipt) of each one matched (billing settles on them)."""
        bodies: Bodies = {}
        unmatched = 0
        last_unmatched = ""
        lookup = self.ids.lookup
        for deliver in batch:
            text, carrier_id = deliver[10], deliver[11]  # short_message, receipted_message_id
            if not carrier_id:
                carrier_id = text_id(text)
            found = lookup(carrier_id) if carrier_id else None
            if found is None:
                unmatched += 1
                last_unmatched = carrier_id or ""
                continue
            message_id, account = found
            if matched is not None:
                matched.append((message_id, deliver))
            our_id = b"%x" % message_id  # format_id, as bytes
            body = rebuild(deliver, rewrite(text, our_id), our_id)
            per_account = bodies.get(account)
            if per_account is None:
                bodies[account] = [body]
            else:
                per_account.append(body)
        if unmatched:
            self._count_unmatched(unmatched, last_unmatched)
        return bodies

    def _count_unmatched(self, count: int, carrier_id: str) -> None:
        before = self.unmatched
        self.unmatched = after = before + count
        if after.bit_length() > before.bit_length():  # passed 1, 2, 4, 8…: sampled
            log.warning("receipt_unmatched", total=after, carrier_id=carrier_id or None)

    # --- our own receipts -----------------------------------------------------------

    def rejected(self, message: Message, status: int, stat: str = "REJECTD",
                 state: MessageState = MessageState.REJECTED) -> bytes | None:
        """A carrier finally refused a message we acknowledged: the REJECTD receipt the
        ESME gets (an encoded deliver_sm body), if it asked for one.  (Also the DELETED
        receipt of a message its ESME cancelled: ``stat``, ``state``.)"""
        try:
            sm = codec.decode(CommandId.SUBMIT_SM, 0, 0, message.body)
        except Exception:  # the body was valid when journalled; be safe on old rows
            return None
        assert isinstance(sm, SubmitSm)
        if sm.registered_delivery & 0x03 == 0:
            return None
        now = time.time()
        our_id = format_id(message.id)
        text = receipt.compose_text(our_id, stat, f"{status & 0xFFF:03x}", now, now)
        return codec.encode_body(DeliverSm(
            0, 0, "", sm.dest_addr_ton, sm.dest_addr_npi, sm.destination_addr,
            sm.source_addr_ton, sm.source_addr_npi, sm.source_addr, 0x04, 0, 0, "", "",
            0, 0, 0, 0, text.encode("latin-1"),
            [(Tag.RECEIPTED_MESSAGE_ID, our_id.encode() + b"\0"),
             (Tag.MESSAGE_STATE, bytes([state]))]))
