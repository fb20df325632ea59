"""The billing stage (requirements §5): a submit's cost is its segments times the price
of (its line's kind, its destination's operator); the batch's costs are reserved from the
account's prepaid balance at once, and a submit the balance cannot cover is refused with
``insufficient_balance``.  The reservation's ledger row is written by the intake with the
batch (model/wallets.py); carrier answers and receipts commit or refund it.

Runs last in ``policy.stages`` (config check): what it reserves is exactly what is
journalled.  Topups from ``chapar billing topup`` are read once a second.
"""

from __future__ import annotations

from router.model.status import REFUSALS
from router.model.wallets import Wallets
from router.policy.addresses import Addresses
from router.policy.settings import PolicySettings
from router.policy.sizing import segments_of
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
        if ledger is not None:
            balances, self._seen_topup = ledger.balances()
            wallets.balances.update(balances)
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
        lines = snapshot.lines.by_number
        prices: dict[tuple[str, str], int] = {}
        accepted: list[Submit] = []
        refused: Refused = []
        costs: list[int] = []
        for submit in submits:
            line = lines.get(submit.source_addr)
            kind = line.effective_kind if line is not None else ""
            operator = (self._addresses.operator_of(submit.destination_addr,
                                                    submit.dest_addr_ton,
                                                    submit.dest_addr_npi)
                        if self._by_operator else "")
            price = prices.get((kind, operator))
            if price is None:
                price = prices[kind, operator] = self.price(kind, operator)
            cost = segments_of(submit) * price if price else 0
            if cost > balance:
                refused.append((submit, _NO_MONEY))
                continue
            balance -= cost
            costs.append(cost)
            accepted.append(submit)
        wallets.balances[account] = balance
        wallets.stage(accepted, costs)
        return accepted, refused

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
