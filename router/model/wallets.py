"""Prepaid balances held in memory, and the ledger rows their changes produce
(requirements §5).

The balance of an account is the sum of its ledger entries: topups (+), reservations
(-cost at accept), commits (0: the reservation is kept as the charge) and refunds (+cost
on a final failure).  The billing stage reserves; the intake writes the reservation row
with the batch's ids in the batch's commit; carrier answers and receipts settle: commit
on carrier acceptance or on DELIVRD (``charge_on: delivery``), refund on a final
refusal, REJECTD, UNDELIV or EXPIRED.  Reservations and commits gather per account
until the journal commit takes the rows: one reserve row and one commit row per account
a commit (a reserve row per batch was a SQLite insert every 27 messages of the relay).
Entries are ``[[message_id, amount], ...]``; a run of consecutive ids with one amount
is written ``[first_id, amount, count]`` (a batch at one price: one entry, not 64), and
``expand`` gives the pairs back.  Commit rows have their ids sorted into runs (carrier
answers come interleaved, a few per read: a row of ``[id, 0]`` pairs per read made the
ledger the largest write of the relay with billing on).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from itertools import islice, repeat
from operator import neg
from typing import NamedTuple

import orjson

from router.model.reservations import Reservations
from router.smpp.session import Submit


class LedgerRow(NamedTuple):
    at: float
    account: str
    kind: str
    """topup | reserve | commit | refund"""
    amount: int
    """What the row adds to the balance (a commit adds 0)."""
    note: str
    entries: bytes
    """JSON [[message_id, amount] or [first_id, amount, count], ...] (empty for a
    topup)."""


Entry = tuple[int, int] | tuple[int, int, int]


def expand(entries: list[list[int]]) -> list[tuple[int, int]]:
    """Every (message id, amount) of a row's entries, runs spelled out."""
    pairs: list[tuple[int, int]] = []
    for entry in entries:
        if len(entry) == 3:
            first, amount, count = entry
            pairs += zip(range(first, first + count), repeat(amount))
        else:
            pairs.append((entry[0], entry[1]))
    return pairs


def _runs(spans: list[tuple[int, int]]) -> list[Entry]:
    """Charged (first id, count) spans as ``[first_id, 0, count]`` runs, adjoining spans
    joined (sorted in place first)."""
    spans.sort()
    entries: list[Entry] = []
    first, count = spans[0]
    for start, size in islice(spans, 1, None):
        if start == first + count:
            count += size
        else:
            entries.append((first, 0, count))
            first, count = start, size
    entries.append((first, 0, count))
    return entries


REFUND_STATS = frozenset({"REJECTD", "UNDELIV", "EXPIRED"})


class _Reserving:
    """An account's reservations since the last journal commit: its reserve row."""

    __slots__ = ("entries", "total")

    def __init__(self) -> None:
        self.total = 0
        self.entries: list[Entry] = []


class Wallets:
    def __init__(self, balances: dict[str, int] | None = None,
                 on_delivery: frozenset[str] = frozenset()) -> None:
        self.balances: dict[str, int] = defaultdict(int, balances or {})
        self.on_delivery = on_delivery
        """Accounts charged on DELIVRD rather than on carrier acceptance."""
        self.open = Reservations()
        """Message id -> (account, reserved cost, settled by its receipt)."""
        self._staged: tuple[list[Submit], list[int]] | None = None
        self.rows: list[LedgerRow] = []
        """Rows for the next journal commit (reserves and commits are added by
        ``take_rows``)."""
        self._reserving: dict[str, _Reserving] = {}
        self._committed: dict[str, list[tuple[int, int]]] = {}
        """Per account, the (first id, count) spans charged since the last ``take_rows``."""
        self.offsets: dict[str, int] | None = None
        """Shared through Redis (``share``): ``balances`` is what this process holds (its
        lease) and ``offsets`` what its ledger sum has beyond that (topups it has not
        leased back, money leased to others), so ledger sum = balance + offset."""
        self.totals: dict[str, int] = {}
        """Shared: each account's balance over all routers (the sum of their ledgers as
        last reported to Redis)."""
        self.short: dict[str, int] = {}
        """Shared: per account, the cost of submits refused since the last lease for money
        other routers or the pool hold: demand the next lease covers, as if spent (a
        cold start's burst otherwise met leases sized to what had been spent)."""

    # --- the stage and the intake -------------------------------------------------

    def stage(self, submits: list[Submit], costs: list[int]) -> None:
        """The billing stage reserved ``costs`` (aligned with ``submits``)."""
        self._staged = (submits, costs)

    def take_staged(self, submits: list[Submit]) -> list[int] | None:
        staged, self._staged = self._staged, None
        if staged is None or staged[0] is not submits:
            return None
        return staged[1]

    def reserved(self, account: str, first_id: int, costs: list[int],
                 submits: list[Submit]) -> None:
        """The intake journals a batch: its reservation row rides the same commit.
        The batch's reservations are opened at once (a run at one price: no step a
        message)."""
        ids = range(first_id, first_id + len(costs))
        if account in self.on_delivery:
            flags: Iterable[bool] = [(s.registered_delivery & 3) != 0 for s in submits]
        elif costs and costs.count(costs[0]) == len(costs):  # one price: shared tuples
            cost = costs[0]
            if cost:
                self.open.open_run(first_id, len(costs), account, cost)
                pending = self._pending(account)
                pending.total += cost * len(costs)
                pending.entries.append((first_id, -cost, len(costs)))
            return
        else:
            flags = repeat(False)
        if 0 in costs:  # free messages leave no reservation
            kept = [(i, c, f) for i, c, f in zip(ids, costs, flags, strict=False) if c]
            ids, costs = [k[0] for k in kept], [k[1] for k in kept]  # type: ignore[assignment]
            flags = [k[2] for k in kept]
        if costs:
            self.open.update(zip(ids, zip(repeat(account), costs, flags, strict=False),
                                 strict=True))
            pending = self._pending(account)
            pending.total += sum(costs)
            pending.entries += zip(ids, map(neg, costs), strict=True)

    def _pending(self, account: str) -> _Reserving:
        pending = self._reserving.get(account)
        if pending is None:
            pending = self._reserving[account] = _Reserving()
        return pending

    def unreserve(self, account: str, first_id: int, costs: list[int]) -> None:
        """The batch's commit failed (its submits were refused): nothing was charged."""
        for i, cost in enumerate(costs):
            if self.open.pop(first_id + i) is not None:
                self.balances[account] += cost

    def restore(self, reserved: dict[int, tuple[str, int]], no_receipt: set[int]) -> None:
        """At start: the reservations the last run left open (from the ledger; the
        balances already count them), so their answers and receipts still commit or
        refund them.  ``no_receipt``: ids known not to wait for a receipt."""
        on_delivery = self.on_delivery
        self.open.update((message_id, (account, cost, account in on_delivery
                                       and message_id not in no_receipt))
                         for message_id, (account, cost) in reserved.items())

    # --- settling -------------------------------------------------------------------

    @property
    def unwritten(self) -> bool:
        """Rows or charges wait for the next journal commit."""
        return bool(self.rows or self._reserving or self._committed)

    def settle(self, accepted: list[int], failed: list[int]) -> None:
        """Carrier answers: ``accepted`` ids are charged now unless their receipt
        decides; ``failed`` ids (final refusals) are refunded."""
        if accepted and self.open:
            self._commit(accepted)
        if failed:
            refunds: dict[str, list[tuple[int, int]]] = defaultdict(list)
            for message_id in failed:
                self._refund(message_id, refunds)
            self._refund_rows(refunds)

    def _commit(self, accepted: list[int]) -> None:
        """Close the reservations of ``accepted``: each batch's share at once (a
        carrier answers in the order it was sent), the rest one by one; those settled
        by their receipt stay open."""
        open_ = self.open
        committed = self._committed
        closed, left = open_.close_runs(accepted)
        for account, first, count in closed:
            committed.setdefault(account, []).append((first, count))
        for message_id in left:
            entry = open_.pop(message_id)
            if entry is None:
                continue
            if entry[2]:
                open_[message_id] = entry
            else:
                committed.setdefault(entry[0], []).append((message_id, 1))

    def on_receipt(self, message_id: int, stat: str) -> None:
        entry = self.open.get(message_id)
        if entry is None:
            return
        if stat == "DELIVRD":
            self.open.pop(message_id)
            self._committed.setdefault(entry[0], []).append((message_id, 1))
        elif stat in REFUND_STATS:
            refunds: dict[str, list[tuple[int, int]]] = defaultdict(list)
            self._refund(message_id, refunds)
            self._refund_rows(refunds)

    def _refund(self, message_id: int, refunds: dict[str, list[tuple[int, int]]]) -> None:
        entry = self.open.pop(message_id)
        if entry is not None:
            account, cost, _ = entry
            self.balances[account] += cost
            refunds[account].append((message_id, cost))

    def _refund_rows(self, refunds: dict[str, list[tuple[int, int]]]) -> None:
        now = time.time()
        for account, refunded in refunds.items():
            self.rows.append(LedgerRow(now, account, "refund", sum(a for _, a in refunded),
                                       "", orjson.dumps(refunded)))

    def take_rows(self) -> list[LedgerRow]:
        """The rows for this journal commit: a reserve row per account that reserved
        since the last one (before the refunds: a reservation precedes what settles
        it), what is waiting, then a commit row per account charged."""
        now = time.time()
        rows: list[LedgerRow] = []
        if self._reserving:
            reserving, self._reserving = self._reserving, {}
            rows += [LedgerRow(now, account, "reserve", -pending.total, "",
                               orjson.dumps(pending.entries))
                     for account, pending in reserving.items()]
        rows += self.rows
        self.rows = []
        if self._committed:
            committed, self._committed = self._committed, {}
            rows += [LedgerRow(now, account, "commit", 0, "", orjson.dumps(_runs(spans)))
                     for account, spans in committed.items()]
        return rows

    def topped_up(self, account: str, amount: int) -> None:
        if self.offsets is None:
            self.balances[account] += amount
        else:  # shared: the money joins the account's pool in Redis, not this process
            self.offsets[account] = self.offsets.get(account, 0) + amount

    def share(self) -> None:
        """Balances live in Redis from now on: this process holds nothing until it
        leases; what its ledger says becomes the offset."""
        self.offsets = dict(self.balances)
        self.balances.clear()

    def balance(self, account: str) -> int:
        """The account's balance: its ledger sum here; shared, over all routers."""
        if self.offsets is None:
            return self.balances.get(account, 0)
        return self.totals.get(account, self.ledger_sum(account))

    def ledger_sum(self, account: str) -> int:
        return self.balances.get(account, 0) + (self.offsets or {}).get(account, 0)

    def lease(self, account: str, amount: int) -> None:
        """Money leased from Redis (+) or given back to it (-): the ledger sum stays."""
        assert self.offsets is not None
        self.balances[account] += amount
        self.offsets[account] = self.offsets.get(account, 0) - amount
