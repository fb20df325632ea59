"""The billing stage (requirements §5): a submit's cost is its segments times the price
of (its line's kind, its destination's operator); the batch's costs are reserved from the
account's prepaid balance at once, and a submit the balance cannot cover is refused with
``insufficient_balance``.  The reservation's ledger row is written by the intake with the
batch (model/wallets.py); carrier answers and receipts commit or refund it.

Runs last in ``policy.stages`` (config check): what it reserves is exactly what is
journalled.  Topups from ``chapar billing topup`` are read once a second.
"""

from __future__ import annotations

from operator import mul

import structlog

from router.logs import sampled
from router.model.lines import LineBook
from router.model.status import REFUSALS
from router.model.wallets import Wallets
from router.policy.addresses import Addresses
from router.policy.batch import source_of
from router.policy.settings import PolicySettings
from router.policy.stage import Refused, Snapshot
from router.smpp.session import Submit
from router.store.ledger import Ledger
from router.store.rows import DB_ERRORS

_NO_MONEY = REFUSALS["insufficient_balance"]
_ELSEWHERE = REFUSALS["balance_elsewhere"]
POLL_EVERY = 1.0  # seconds between looks for topups
log = structlog.get_logger("chapar.billing")


class BillingStage:
    name = "billing"

    def __init__(self, settings: PolicySettings, addresses: Addresses, wallets: Wallets,
                 ledger: Ledger | None, front: Ledger | None = None) -> None:
        """``front``: worker 0's second ledger, the config's own, where ``chapar billing
        topup`` writes (``--workers``): its sums count, its topups are read."""
        self._addresses = addresses
        self._wallets = wallets
        self._ledgers = [each for each in (ledger, front) if each is not None]
        self._prices = {(p.kind, p.operator): p.price for p in settings.prices}
        self._default = settings.default_price
        self._by_operator = any(p.operator for p in settings.prices)
        self._seen_topups = [0] * len(self._ledgers)
        """Per ledger, the seq of the last topup read."""
        self._unread = 0
        self.reopened: dict[int, tuple[str, int]] = {}
        for index, each in enumerate(self._ledgers):
            balances, self._seen_topups[index] = each.balances()
            for account, amount in balances.items():
                wallets.balances[account] += amount
        if ledger is not None:
            self.reopened = ledger.open_reservations()
            """Reservations the last run left open: the app hands them to the wallets
            with what the journal's recovery knows of their receipts."""
        self._next_poll = 0.0
        self._lines = LineBook()
        self._by_key: dict[tuple[str, str], int] = {}
        """Price by (source, operator) for the line book ``_lines``."""

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
        if not submits:
            return submits, []
        wallets = self._wallets
        account = snapshot.account
        balance = wallets.balances[account]
        costs, total = self._costs(submits, snapshot)
        if total <= balance:  # the whole batch is covered: no decision per submit
            wallets.balances[account] = balance - total
            wallets.stage(submits, costs)
            return submits, []
        accepted: list[Submit] = []
        refused: Refused = []
        kept: list[int] = []
        # shared through Redis: money the account has on other routers or in the pool
        # (its balance over all as last reported, less what this router holds) is a
        # lease away, not missing
        elsewhere = (wallets.totals.get(account, 0) - balance
                     if wallets.offsets is not None else 0)
        short = 0
        for submit, cost in zip(submits, costs, strict=True):
            if cost > balance:
                if cost <= elsewhere:
                    short += cost
                    refused.append((submit, _ELSEWHERE))
                else:
                    refused.append((submit, _NO_MONEY))
                continue
            balance -= cost
            kept.append(cost)
            accepted.append(submit)
        wallets.balances[account] = balance
        wallets.stage(accepted, kept)
        if short:
            wallets.short[account] = wallets.short.get(account, 0) + short
        return accepted, refused

    def _costs(self, submits: list[Submit], snapshot: Snapshot) -> tuple[list[int], int]:
        """Each submit's cost: segments x the price of (its line's kind, its operator),
        the price looked up once per distinct (source, operator) and kept while the
        line book stays the same; and their sum."""
        if snapshot.lines is not self._lines:
            self._lines, self._by_key = snapshot.lines, {}
        count = len(submits)
        facts = snapshot.facts
        operators = (facts.operators(submits, self._addresses)
                     if self._by_operator else [""] * count)
        lines = facts.sources(submits)
        segments = facts.segments(submits)
        if len(lines) == 1 and operators.count(operators[0]) == count:
            price = self._price_of(next(iter(lines)), operators[0])
            if segments is None:  # one price, one segment each: the usual batch
                return [price] * count, price * count
            prices = [price] * count
        else:
            prices = list(map(self._price_of, map(source_of, submits), operators))
        costs = prices if segments is None else list(map(mul, segments, prices))
        return costs, sum(costs)

    def _price_of(self, source: str, operator: str) -> int:
        found = self._by_key.get((source, operator))
        if found is None:
            line = self._lines.by_number.get(source)
            found = self._by_key[source, operator] = self.price(
                line.effective_kind if line is not None else "", operator)
        return found

    def poll_at(self, wall: float) -> None:
        """Topups, at most once a second (also called by the shared limits' ticks, so
        a topup reaches Redis without waiting for a batch)."""
        self._poll_at(wall)

    def _poll_at(self, wall: float) -> None:
        if wall < self._next_poll:
            return
        self._next_poll = wall + POLL_EVERY
        self.poll()

    def poll(self) -> None:
        """Topups written by the CLI since the last look.  A ledger that cannot answer
        now (PostgreSQL away, SQLite locked) is asked again at the next look: the decision
        it rides on must not fail for it."""
        for index, ledger in enumerate(self._ledgers):
            try:
                topups = ledger.topups_since(self._seen_topups[index])
            except DB_ERRORS as exc:
                self._unread += 1
                if sampled(self._unread):
                    log.warning("topups_unread", error=str(exc), failures=self._unread)
                continue
            self._unread = 0
            for seq, account, amount in topups:
                self._seen_topups[index] = seq
                self._wallets.topped_up(account, amount)

    def flush(self) -> None:
        self.poll()
