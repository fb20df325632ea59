"""Per-part receipts folded into one per message, for accounts with ``receipts:
per_message`` (the others get a receipt per part, ``per_part``, the default).

An ESME that sends a long message as N parts gets N ids and, by default, N receipts.
Folding keeps the parts of one message together (account, source, destination, UDH or
SAR reference, total) from the carrier's acceptance on, holds each part's final receipt
and, when the last part's arrives, lets one receipt through: carrying the id of part 1,
with the first non-DELIVRD outcome of the parts (else DELIVRD).  Intermediate receipts
of parts are dropped.  The groups live in memory, bounded (the oldest are forgotten):
after a restart, or past the bound, the parts still open fall back to a receipt each.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from router.model.messages import Message
from router.smpp import codec
from router.smpp.deliver import Deliver
from router.smpp.pdu import CommandId, DecodeError, SubmitSm
from router.smpp.segments import concat_of

Key = tuple[str, str, str, str, int, int]
"""account, source, destination, kind (udh or sar), reference, total."""
Addresses = tuple[int, int, str, int, int, str]
"""The submit's source TON, NPI, address, destination TON, NPI, address."""


@dataclass(slots=True, eq=False)
class Group:
    """One long message's parts: our ids by part number, and the final receipts held."""

    key: Key
    total: int
    addresses: Addresses
    ids: dict[int, int] = field(default_factory=dict)
    finals: dict[int, tuple[str, Deliver | None]] = field(default_factory=dict)
    """our id -> (stat, the carrier's receipt, or None for an outcome of our own)."""

    def first_id(self) -> int:
        return self.ids.get(1) or min(self.ids.values())


@dataclass(frozen=True, slots=True)
class Folded:
    """The one receipt of a whole message: part 1's id, the outcome, and the carrier
    receipt it is rebuilt from (None: composed by us)."""

    message_id: int
    stat: str
    receipt: Deliver | None
    addresses: Addresses


class Folds:
    def __init__(self, accounts: frozenset[str], limit: int = 100_000) -> None:
        self.accounts = accounts
        self._groups: dict[Key, Group] = {}
        self._of: dict[int, Group] = {}
        self._limit = limit
        self.held = 0
        """Part receipts held back (their message's one receipt comes with the last)."""
        self.forgotten = 0

    def expect(self, message: Message) -> None:
        """A part of a folding account's message is on its way: note its group.  A
        message of one part (or a body that does not decode) is not folded."""
        if message.id in self._of:
            return
        try:
            sm = codec.decode(CommandId.SUBMIT_SM, 0, 0, message.body)
        except DecodeError:
            return
        assert isinstance(sm, SubmitSm)
        concat = concat_of(sm)
        if concat is None:
            return
        key = (message.account, sm.source_addr, sm.destination_addr, concat.kind,
               concat.reference, concat.total)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(key, concat.total, (
                sm.source_addr_ton, sm.source_addr_npi, sm.source_addr, sm.dest_addr_ton,
                sm.dest_addr_npi, sm.destination_addr))
            if len(self._groups) > self._limit:
                self._forget(next(iter(self._groups.values())))
        group.ids[concat.seq] = message.id
        self._of[message.id] = group

    def _forget(self, group: Group) -> None:
        self.forgotten += 1
        self._groups.pop(group.key, None)
        for message_id in group.ids.values():
            self._of.pop(message_id, None)

    def folding(self, message_id: int) -> bool:
        return message_id in self._of

    def on_final(self, message_id: int, stat: str, receipt: Deliver | None) -> Folded | None:
        """A part's final outcome: None while other parts are open, else the message's
        one receipt.  Only for ids ``folding`` knows."""
        group = self._of[message_id]
        group.finals[message_id] = (stat, receipt)
        if len(group.finals) < group.total:
            self.held += 1
            return None
        self._forget(group)
        self.forgotten -= 1
        outcomes = list(group.finals.values())
        stat, base = next(((s, r) for s, r in outcomes if s != "DELIVRD"), outcomes[-1])
        return Folded(group.first_id(), stat, base, group.addresses)
