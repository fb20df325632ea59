"""The billing stage on its own (requirements.md §5: "a submit that the balance cannot
cover is refused with a clear error code"): a batch's costs by (line kind, operator)
and segments, reserved at once when the balance covers the batch, else submit by
submit."""

from __future__ import annotations

from pathlib import Path

from router.model.lines import LineBook
from router.model.numbersets import ListSnapshot
from router.model.status import REFUSALS
from router.model.wallets import Wallets
from router.policy.addresses import Addresses
from router.policy.billing import BillingStage
from router.policy.plans import Operators
from router.policy.settings import PolicySettings, PriceSettings
from router.policy.stage import Snapshot
from router.store.errors import StoreError
from router.store.ledger import Ledger
from tests.unit.policy.test_throttle import IRANCELL, MCI, PREFIXES, WALL, submit


def make(balance: int) -> tuple[BillingStage, Wallets, Snapshot]:
    settings = PolicySettings(prefixes_dir=str(PREFIXES), default_price=5,
                              prices=[PriceSettings(price=2, operator="IR-MCI")])
    wallets = Wallets({"acc": balance})
    stage = BillingStage(settings, Addresses(settings, Operators.load(PREFIXES)), wallets,
                         None)
    return stage, wallets, Snapshot("acc", WALL, LineBook(), ListSnapshot())


BATCH = [submit(destination=MCI), submit(destination=IRANCELL),
         submit(destination=MCI, text=b"x" * 200), submit(source="3001", destination=MCI)]
"""Costs 2, 5, 2 x 2 segments, 2: 13 in all."""


def test_a_covered_batch_is_reserved_at_once() -> None:
    stage, wallets, snap = make(13)
    accepted, refused = stage.decide(BATCH, snap)
    assert accepted is BATCH and refused == []
    assert wallets.take_staged(BATCH) == [2, 5, 4, 2] and wallets.balances["acc"] == 0


def test_an_uncovered_batch_is_decided_submit_by_submit() -> None:
    stage, wallets, snap = make(7)
    accepted, refused = stage.decide(BATCH, snap)
    assert accepted == [BATCH[0], BATCH[1]]
    assert [r for _, r in refused] == [REFUSALS["insufficient_balance"]] * 2
    assert wallets.take_staged(accepted) == [2, 5] and wallets.balances["acc"] == 0
    assert stage.decide([], snap) == ([], [])


def test_shared_money_held_elsewhere_is_a_retry_not_a_refusal() -> None:
    """requirements §5 with the balance shared through Redis: this router's lease is
    spent but the account has money in the pool or on another router (its balance over
    all, last reported): 0x58, send again (a lease is a moment away), never "insufficient
    balance"; money nowhere: insufficient balance as before."""
    stage, wallets, snap = make(0)
    wallets.share()
    wallets.balances["acc"] = 7  # this router's lease
    wallets.totals["acc"] = 1000  # the account over all routers
    accepted, refused = stage.decide(BATCH, snap)
    assert accepted == [BATCH[0], BATCH[1]]
    assert [r for _, r in refused] == [REFUSALS["balance_elsewhere"]] * 2
    refused_cost = sum(stage._costs(BATCH, snap)[0][2:])
    assert wallets.short == {"acc": refused_cost}  # demand the next lease covers
    wallets.short.clear()
    assert REFUSALS["balance_elsewhere"].vendor == REFUSALS["balance_elsewhere"].standard == 0x58
    wallets.balances["acc"] = 7
    wallets.totals["acc"] = 9  # 2 more than held: only a 2 fits elsewhere
    accepted, refused = stage.decide(BATCH, snap)
    assert [r.reason for _, r in refused] == ["insufficient_balance", "balance_elsewhere"]
    assert list(wallets.short) == ["acc"]  # only what fits elsewhere counts as demand


class _Away(Ledger):
    """A ledger whose database is away after the start (PostgreSQL down)."""

    away = False

    def topups_since(self, seq: int) -> list[tuple[int, str, int]]:
        if self.away:
            raise StoreError("postgres: not connected (reconnecting)")
        return super().topups_since(seq)


def test_a_ledger_away_delays_topups_never_a_decision(tmp_path: Path) -> None:
    """The topups' poll rides a decision: a ledger that cannot answer is asked again at
    the next poll, and the batch is decided on the balance held meanwhile."""
    ledger = _Away(tmp_path / "journal.db")
    ledger.topup("acc", 13)
    settings = PolicySettings(prefixes_dir=str(PREFIXES), default_price=5,
                              prices=[PriceSettings(price=2, operator="IR-MCI")])
    wallets = Wallets()
    stage = BillingStage(settings, Addresses(settings, Operators.load(PREFIXES)), wallets,
                         ledger)
    ledger.topup("acc", 7)
    ledger.away = True
    snap = Snapshot("acc", WALL, LineBook(), ListSnapshot())
    assert stage.decide(BATCH, snap)[0] is BATCH  # the 13 it read at start
    ledger.away = False
    stage.poll()
    assert wallets.balances["acc"] == 7  # the topup came with the next poll
    ledger.close()
