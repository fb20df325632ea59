"""Receipts from carriers matched to our messages and rewritten for the ESME.

Holds the map carrier id -> (our id, account) of messages that asked for a receipt
(``IdMap``); turns a carrier read's receipts into the deliver_sm bodies the ESMEs get,
grouped by account (our id in the text and the TLV, every other field copied as bytes),
and composes receipts of our own for final outcomes no carrier reports (REJECTD when a
carrier refuses, EXPIRED at a message's maximum age).  Queueing towards ESME sessions
is dispatch's job (dispatch/inbound.py).

Exactly one final receipt per message: the ids whose final receipt was queued are kept
(``IdSet``, rebuilt at start from the journal) and a repeat is counted and dropped; a
receipt that arrives before its submit_sm_resp waits (``early_wait`` s, at most
``early_limit``) and goes out when the id is remembered.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import structlog

from router.dlr import receipt
from router.dlr.fold import Addresses, Folds
from router.dlr.ids import IdMap, IdSet, as_decimal, as_hex, normalise
from router.dlr.rewrite import rewrite, text_id
from router.model.messages import Message, format_id
from router.smpp import codec
from router.smpp.deliver import Deliver, rebuild
from router.smpp.pdu import CommandId, DeliverSm, MessageState, SubmitSm, Tag

log = structlog.get_logger("chapar.dlr")

Bodies = dict[str, list[bytes]]
"""Per account, deliver_sm bodies ready to send (a sequence number is all they lack)."""

FINAL_STATS = frozenset({"DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "REJECTD"})


@dataclass(slots=True)
class Routed:
    """A carrier read's receipts made ours: bodies per account, and our ids of the
    messages whose final receipt is among them (journalled: a repeat after a restart is
    still a duplicate)."""

    bodies: Bodies = field(default_factory=dict)
    finals: list[int] = field(default_factory=list)


class ReceiptBook:
    def __init__(self, map_limit: int = 2_000_000, early_limit: int = 10_000,
                 early_wait: float = 60.0, per_message: frozenset[str] = frozenset(),
                 ended_limit: int = 200_000) -> None:
        self.ids = IdMap(map_limit)
        self.folds = Folds(per_message)
        """Accounts with ``receipts: per_message``: one receipt per long message."""
        self.finished: IdSet[int] = IdSet(map_limit)
        self.ended: IdSet[str] = IdSet(min(map_limit, ended_limit))
        """Normalised carrier ids of the final receipts taken out of ``ids``: a carrier
        repeating one is told from a receipt that matches nothing."""
        self.unmatched = 0
        self.duplicates = 0
        """Final receipts repeated by a carrier (or after one of our own): dropped."""
        self.matched_late = 0
        """Receipts that came before their submit_sm_resp and matched when it came."""
        self.early_expired = 0
        self._early: dict[str, tuple[float, Deliver, tuple[str, ...]]] = {}
        self._early_limit = early_limit
        self._early_wait = early_wait

    # --- correlation ----------------------------------------------------------------

    def remember(self, carrier_id: str, message_id: int, account: str) -> None:
        self.ids.remember(carrier_id, message_id, account)

    def remember_many(self, entries: list[tuple[str, int, str]]) -> list[Deliver]:
        """(carrier id, our id, account) of a read's accepted messages that want one;
        the receipts that came before them, now to be matched again."""
        self.ids.remember_many(entries)
        early = self._early
        if not early:
            return []
        released: list[Deliver] = []
        for carrier_id, _, _ in entries:
            held = early.get(normalise(carrier_id))
            if held is not None:
                for form in held[2]:
                    early.pop(form, None)
                released.append(held[1])
        self.matched_late += len(released)
        self._age_early(time.monotonic())
        return released

    def expect(self, message: Message) -> None:
        """A message of a per_message account accepted by a carrier (its parts' receipts
        will be folded)."""
        if message.account in self.folds.accounts:
            self.folds.expect(message)

    def closed(self, message_ids: list[int]) -> None:
        """Messages whose final receipt is already queued (journalled at start)."""
        self.finished.add_many(message_ids)

    def _repeated_or_held(self, norm: str, carrier_id: str | None, deliver: Deliver
                          ) -> bool:
        """A receipt whose id is not (or no longer) in the map: True when it repeats a
        final receipt already taken, else it is held a while (``_hold_early``)."""
        if norm and norm in self.ended:
            return True
        self._hold_early(carrier_id, deliver)
        return False

    def _hold_early(self, carrier_id: str | None, deliver: Deliver) -> None:
        """An unmatched receipt may be ahead of its submit_sm_resp: keep it a while."""
        if not carrier_id:
            return
        norm = normalise(carrier_id)
        forms = (norm, *(f for f in (as_hex(norm), as_decimal(norm)) if f is not None))
        entry = (time.monotonic(), deliver, forms)
        early = self._early
        for form in forms:
            early[form] = entry
        while len(early) > self._early_limit:
            oldest = next(iter(early.values()))
            for form in oldest[2]:
                early.pop(form, None)
            self.early_expired += 1

    def _age_early(self, now: float) -> None:
        early = self._early
        limit = now - self._early_wait
        while early:
            oldest = next(iter(early.values()))
            if oldest[0] >= limit:
                return
            for form in oldest[2]:
                early.pop(form, None)
            self.early_expired += 1

    def from_carrier(self, batch: Iterable[Deliver],
                     matched: list[tuple[int, str]] | None = None) -> Routed:
        """A carrier read's receipts made ours, per account; those matching nothing are
        counted, logged (sampled) and held a while (their submit_sm_resp may be late);
        a repeated final receipt is counted and dropped.  The TLV id wins over the
        text's.  ``matched``, when given, gets (our id, stat) of each one matched (the
        records' delivery status; billing settles on them)."""
        routed = Routed()
        bodies = routed.bodies
        finals = routed.finals
        young, old = self.finished.generations()
        close = young.add
        end = self.ended.generations()[0].add
        folds = self.folds
        folding = folds.accounts
        unmatched = duplicates = 0
        last_unmatched = ""
        take = self.ids.take
        record = (matched if matched is not None else []).append
        stat_of = receipt.stat_of
        for deliver in batch:
            text, carrier_id = deliver[3], deliver[4]  # short_message, receipted_message_id
            if not carrier_id:
                carrier_id = text_id(text)
            if carrier_id:
                norm = carrier_id.strip().lstrip("0").upper() or "0"  # normalise, inline
                found = take(norm)
            else:
                norm, found = "", None
            if found is None:
                if self._repeated_or_held(norm, carrier_id, deliver):
                    duplicates += 1
                else:
                    unmatched += 1
                    last_unmatched = carrier_id or ""
                continue
            message_id, account = found
            if message_id in young or message_id in old:  # ended (another copy, or by us)
                duplicates += 1
                end(norm)
                continue
            stat = stat_of(text, deliver[5])  # message_state, else the text's stat
            final = stat in FINAL_STATS
            if final:  # closed at once: the same read may repeat it
                finals.append(message_id)
                close(message_id)
                end(norm)
            else:
                self.ids.put(norm, found)
            record((message_id, stat))
            if folding and account in folding and folds.folding(message_id):
                folded = self._fold(message_id, final, deliver)
                if folded is None:
                    continue
                body = folded
            else:
                our_id = b"%x" % message_id  # format_id, as bytes
                body = rebuild(deliver, rewrite(text, our_id), our_id)
            per_account = bodies.get(account)
            if per_account is None:
                bodies[account] = [body]
            else:
                per_account.append(body)
        self.finished.rotate()
        self.ended.rotate()
        if unmatched or duplicates:
            self._count(unmatched, last_unmatched, duplicates)
        return routed

    def _fold(self, message_id: int, final: bool, deliver: Deliver) -> bytes | None:
        """A part's receipt of a per_message account: the message's one receipt when
        it is the last part's final one, else None (held, or intermediate: dropped)."""
        if not final:
            return None
        folded = self.folds.on_final(message_id, receipt.stat_of(deliver[3], deliver[5]),
                                     deliver)
        if folded is None:
            return None
        if folded.receipt is None:
            return _own(folded.message_id, folded.stat, 0, folded.addresses)
        our_id = b"%x" % folded.message_id
        return rebuild(folded.receipt, rewrite(folded.receipt[3], our_id), our_id)

    def _count(self, unmatched: int, last_unmatched: str, duplicates: int) -> None:
        if unmatched:
            self._count_unmatched(unmatched, last_unmatched)
        if duplicates:
            self._count_duplicates(duplicates)

    def _count_duplicates(self, count: int) -> None:
        before = self.duplicates
        self.duplicates = after = before + count
        if after.bit_length() > before.bit_length():  # sampled
            log.warning("receipt_duplicate_dropped", total=after)

    def _count_unmatched(self, count: int, carrier_id: str) -> None:
        before = self.unmatched
        self.unmatched = after = before + count
        if after.bit_length() > before.bit_length():  # passed 1, 2, 4, 8…: sampled
            log.warning("receipt_unmatched", total=after, carrier_id=carrier_id or None)

    # --- our own receipts -----------------------------------------------------------

    def rejected(self, message: Message, status: int) -> bytes | None:
        """A carrier finally refused a message we acknowledged: the REJECTD receipt the
        ESME gets (an encoded deliver_sm body), if it asked for one."""
        return self.final(message, "REJECTD", status)

    def final(self, message: Message, stat: str, status: int) -> bytes | None:
        """A final outcome of our own (REJECTD, EXPIRED, UNDELIV): the receipt the ESME
        gets, if it asked for one and none was queued for that message before."""
        if message.id in self.finished:
            self._count_duplicates(1)
            return None
        try:
            sm = codec.decode(CommandId.SUBMIT_SM, 0, 0, message.body)
        except Exception:  # the body was valid when journalled; be safe on old rows
            return None
        assert isinstance(sm, SubmitSm)
        if sm.registered_delivery & 0x03 == 0:
            return None
        self.finished.add(message.id)
        folds = self.folds
        if message.account in folds.accounts:
            folds.expect(message)
            if folds.folding(message.id):
                folded = folds.on_final(message.id, stat, None)
                if folded is None:
                    return None
                if folded.receipt is not None:
                    our_id = b"%x" % folded.message_id
                    return rebuild(folded.receipt, rewrite(folded.receipt[3], our_id),
                                   our_id)
                return _own(folded.message_id, folded.stat, status, folded.addresses)
        return _own(message.id, stat, status, (
            sm.source_addr_ton, sm.source_addr_npi, sm.source_addr, sm.dest_addr_ton,
            sm.dest_addr_npi, sm.destination_addr))


def _own(message_id: int, stat: str, status: int, addresses: Addresses) -> bytes:
    """A receipt of our own making for the submit's addresses (swapped, as receipts
    go): an encoded deliver_sm body."""
    source_ton, source_npi, source, dest_ton, dest_npi, destination = addresses
    now = time.time()
    our_id = format_id(message_id)
    text = receipt.compose_text(our_id, stat, f"{status & 0xFFF:03x}", now, now)
    return codec.encode_body(DeliverSm(
        0, 0, "", dest_ton, dest_npi, destination, source_ton, source_npi, source, 0x04, 0,
        0, "", "", 0, 0, 0, 0, text.encode("latin-1"),
        [(Tag.RECEIPTED_MESSAGE_ID, our_id.encode() + b"\0"),
         (Tag.MESSAGE_STATE, bytes([_STATE_OF_STAT.get(stat, MessageState.UNKNOWN)]))]))


_STATE_OF_STAT = {"DELIVRD": MessageState.DELIVERED, "EXPIRED": MessageState.EXPIRED,
                  "DELETED": MessageState.DELETED, "UNDELIV": MessageState.UNDELIVERABLE,
                  "REJECTD": MessageState.REJECTED}
