"""The billing stage (requirements §5): a submit's cost is its segments times the price
of (its line's kind, its destination's operator); the batch's costs are reserved from the
account's prepaid balance at once, and a submit the balance cannot cover is refused with
``insufficient_balance``.  The reservation's ledger row is written by the intake with the
batch (model/wallets.py); carrier answers and receipts commit or refund it.

Runs last in ``policy.stages`` (config check): what it reserves is exactly what is
journalled.  Topups from ``chapar billing topup`` are read once a second.
"""

from __future__ import annotations

from itertools import repeat
from operator import mul

from router.model.status import REFUSALS
from router.model.wallets import Wallets
from router.policy.addresses import Addresses
from router.policy.batch import source_of
from router.policy.settings import PolicySettings
from router.policy.stage import Refused, Snapshot
from router.smpp.session import Submit
from router.store.ledger import Ledger

_NO_MONEY = REFUSALS["insufficient_balance"]
POLL_EVERY = 1.0  # seconds between looks for topups


class BillingStage:
    name = "billing"

    def __init__(self, settings: PolicySettings, addresses: Addresses, wallets: Wallets,
                 ledger: Ledger | None) -> None:
        self._addresses = addresses
        self._wallets = wallets
        self._ledger = ledger
        self._prices = {(p.kind, p.operator): p.price for p in settings.prices}
        self._default = settings.default_price
        self._by_operator = any(p.operator for p in settings.prices)
        self._seen_topup = 0
        self.reopened: dict[int, tuple[str, int]] = {}
        if ledger is not None:
            balances, self._seen_topup = ledger.balances()
            wallets.balances.update(balances)
            self.reopened = ledger.open_reservations()
            """Reservations the last run left open: the app hands them to the wallets
            with what the journal's recovery knows of their receipts."""
        self._next_poll = 0.0

    def price(self, kind: str, operator: str) -> int:
        prices = self._prices
        for key in ((kind, operator), (kind, ""), ("", operator), ("", "")):
            found = prices.get(key)
            if found is not None:
                return found
        return self._default

    def decide(self, submits: list[Submit], snapshot: Snapshot
               ) -> tuple[list[Submit], Refused]:
        self._poll_at(snapshot.wall)
        wallets = self._wallets
        account = snapshot.account
        balance = wallets.balances[account]
        costs = self._costs(submits, snapshot)
        total = sum(costs)
        if total <= balance:  # the whole batch is covered: no decision per submit
            wallets.balances[account] = balance - total
            wallets.stage(submits, costs)
            return submits, []
        accepted: list[Submit] = []
        refused: Refused = []
        kept: list[int] = []
        for submit, cost in zip(submits, costs, strict=True):
            if cost > balance:
                refused.append((submit, _NO_MONEY))
                continue
            balance -= cost
            kept.append(cost)
            accepted.append(submit)
        wallets.balances[account] = balance
        wallets.stage(accepted, kept)
        return accepted, refused

    def _costs(self, submits: list[Submit], snapshot: Snapshot) -> list[int]:
        """Each submit's cost: segments x the price of (its line's kind, its operator),
        the price looked up once per distinct (source, operator) of the batch."""
        sources = list(map(source_of, submits))
        if self._by_operator:
            keys: list[tuple[str, str]] = list(zip(
                sources, snapshot.facts.operators(submits, self._addresses), strict=True))
        else:
            keys = list(zip(sources, repeat(""), strict=False))
        lines = snapshot.lines.by_number
        table = dict.fromkeys(keys, 0)
        for key in table:
            line = lines.get(key[0])
            table[key] = self.price(line.effective_kind if line is not None else "", key[1])
        if len(table) == 1:
            prices = [next(iter(table.values()))] * len(submits)
        else:
            prices = list(map(table.__getitem__, keys))
        segments = snapshot.facts.segments(submits)
        return prices if segments is None else list(map(mul, segments, prices))

    def _poll_at(self, wall: float) -> None:
        if wall < self._next_poll:
            return
        self._next_poll = wall + POLL_EVERY
        self.poll()

    def poll(self) -> None:
        """Topups written by the CLI since the last look."""
        if self._ledger is None:
            return
        for seq, account, amount in self._ledger.topups_since(self._seen_topup):
            self._seen_topup = seq
            self._wallets.topped_up(account, amount)

    def flush(self) -> None:
        self.poll()
