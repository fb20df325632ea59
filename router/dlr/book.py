"""Receipts from carriers matched to our messages and rewritten for the ESME.

Holds the map carrier id -> (our id, account) of messages that asked for a receipt, in
two generations of plain dicts; turns a carrier receipt into the receipt the ESME gets
(our id in the text and the TLV) and composes REJECTD receipts for messages a carrier
refused.  Queueing towards ESME sessions is dispatch's job (dispatch/inbound.py).
"""

from __future__ import annotations

import time
from dataclasses import replace

import structlog

from router.dlr import receipt
from router.logs import sampled
from router.model.messages import Message, format_id
from router.smpp import codec
from router.smpp.pdu import CommandId, DeliverSm, MessageState, SubmitSm, Tag

log = structlog.get_logger("chapar.dlr")


class ReceiptBook:
    def __init__(self, map_limit: int = 2_000_000) -> None:
        # Two generations of plain dicts instead of one OrderedDict: a full garbage
        # collection walked a 740k-entry OrderedDict in 46 ms; untracked dicts cost ~1 ms.
        self._ids: dict[str, tuple[int, str]] = {}
        self._old_ids: dict[str, tuple[int, str]] = {}
        self._generation = max(1, map_limit // 2)
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

    def from_carrier(self, pdu: DeliverSm) -> tuple[str, DeliverSm] | None:
        """The receipt the ESME gets, and its account; None when it matches nothing."""
        text = pdu.short_message.decode("latin-1")
        parsed = receipt.parse(text, pdu.tlvs)
        found = self._lookup(parsed.message_id) if parsed else None
        if parsed is None or found is None:
            self.unmatched += 1
            if sampled(self.unmatched):
                log.warning("receipt_unmatched", total=self.unmatched,
                            carrier_id=parsed.message_id if parsed else None)
            return None
        message_id, account = found
        our_id = format_id(message_id)
        tlvs = [(t, v) for t, v in pdu.tlvs if t != Tag.RECEIPTED_MESSAGE_ID]
        tlvs.insert(0, (Tag.RECEIPTED_MESSAGE_ID, our_id.encode() + b"\0"))
        out = replace(pdu, sequence=0, status=0,
                      short_message=receipt.rewrite_text(text, our_id).encode("latin-1"),
                      tlvs=tlvs)
        return account, out

    def rejected(self, message: Message, status: int) -> DeliverSm | None:
        """A carrier finally refused a message we acknowledged: the REJECTD receipt the
        ESME gets, if it asked for one."""
        try:
            sm = codec.decode(CommandId.SUBMIT_SM, 0, 0, message.body)
        except Exception:  # the body was valid when journalled; be safe on old rows
            return None
        assert isinstance(sm, SubmitSm)
        if sm.registered_delivery & 0x03 == 0:
            return None
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
        return pdu
