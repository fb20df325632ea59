"""Reservations, commits and refunds in memory, and the ledger rows they make
(requirements.md §5: "a message reserves its cost when accepted, the charge is kept on
success and returned on final failure"): the rows always sum to the balance."""

from __future__ import annotations

import orjson

from router.model.wallets import Wallets, expand
from router.smpp.session import Submit


def submits(*receipts: bool) -> list[Submit]:
    return [Submit(1, b"", "1000", "989121234567", int(r), 1, 1) for r in receipts]


def total(wallets: Wallets, topup: int) -> int:
    """The balance the rows written so far give (the next commit's rows are taken)."""
    return topup + sum(row.amount for row in wallets.take_rows())


def test_accept_charged_on_carrier_acceptance_refunded_on_refusal() -> None:
    wallets = Wallets({"a": 100})
    wallets.balances["a"] -= 30  # the stage reserved 3 x 10
    wallets.reserved("a", 1000, [10, 10, 10], submits(False, True, False))
    wallets.settle([1000, 1001], [1002])
    rows = wallets.take_rows()
    assert wallets.balances["a"] == 80 and 100 + sum(row.amount for row in rows) == 80
    assert [r.kind for r in rows] == ["reserve", "refund", "commit"]
    assert orjson.loads(rows[1].entries) == [[1002, 10]]
    assert orjson.loads(rows[2].entries) == [[1000, 0, 2]]
    assert not wallets.open and not wallets.unwritten


def test_delivery_charged_accounts_wait_for_the_receipt() -> None:
    wallets = Wallets({"b": 50}, on_delivery=frozenset({"b"}))
    wallets.balances["b"] -= 20
    wallets.reserved("b", 7, [10, 10], submits(True, True))
    wallets.settle([7, 8], [])
    assert set(wallets.open) == {7, 8}  # the carrier took them; receipts decide
    wallets.on_receipt(7, "DELIVRD")
    wallets.on_receipt(8, "UNDELIV")
    wallets.on_receipt(8, "UNDELIV")  # a duplicate receipt refunds nothing more
    assert wallets.balances["b"] == 40 and total(wallets, 50) == 40


def test_a_failed_commit_reserves_nothing() -> None:
    wallets = Wallets({"c": 10})
    wallets.balances["c"] -= 10
    wallets.reserved("c", 1, [10], submits(False))
    wallets.unreserve("c", 1, [10])
    assert wallets.balances["c"] == 10 and not wallets.open


def test_a_batch_at_one_price_is_one_run_entry() -> None:
    """A reservation at one price and a commit of consecutive ids are written as one
    ``[first_id, amount, count]`` entry; ``expand`` spells out every message id."""
    wallets = Wallets({"c": 100})
    wallets.balances["c"] -= 30
    wallets.reserved("c", 500, [10, 10, 10], submits(False, False, False))
    wallets.settle([500, 501, 502], [])
    rows = wallets.take_rows()
    reserve, commit = (orjson.loads(row.entries) for row in rows)
    assert reserve == [[500, -10, 3]] and commit == [[500, 0, 3]]
    assert expand(reserve) == [(500, -10), (501, -10), (502, -10)]
    assert expand([[7, 5], [9, 1, 2]]) == [(7, 5), (9, 1), (10, 1)]
    assert 100 + sum(row.amount for row in rows) == 70 and not wallets.open


def test_the_batches_of_one_commit_are_one_reserve_row_per_account() -> None:
    """Batches journalled by one group commit: one reserve row per account with each
    batch's entries (a run at one price, pairs otherwise), before the refunds."""
    wallets = Wallets({"f": 1000, "g": 1000})
    wallets.reserved("f", 10, [5, 5], submits(False, False))
    wallets.reserved("g", 12, [7], submits(False))
    wallets.reserved("f", 13, [5, 3], submits(False, False))
    wallets.balances["f"] -= 18
    wallets.balances["g"] -= 7
    rows = wallets.take_rows()
    assert [(r.account, r.kind, r.amount, orjson.loads(r.entries)) for r in rows] == [
        ("f", "reserve", -18, [[10, -5, 2], [13, -5], [14, -3]]),
        ("g", "reserve", -7, [[12, -7, 1]])]
    wallets.settle([], [14])
    rows = wallets.take_rows()
    assert [(r.kind, r.amount) for r in rows] == [("refund", 3)]
    assert wallets.balances["f"] == 985 and not wallets.unwritten


def test_charges_of_many_carrier_reads_are_one_row_of_runs() -> None:
    """Carrier answers come interleaved over connections, a few per read: the commit
    writes one commit row per account with the ids sorted into runs, and ``expand``
    gives every charged id back once."""
    wallets = Wallets({"d": 1000, "e": 1000})
    for account, first in (("d", 100), ("e", 200)):
        wallets.balances[account] -= 100
        wallets.reserved(account, first, [10] * 10, submits(*[False] * 10))
    wallets.take_rows()
    for read in ([101, 100, 104], [103, 102], [200, 201], [107, 105], [106, 109]):
        wallets.settle(read, [])
    rows = wallets.take_rows()
    assert [(r.account, r.kind) for r in rows] == [("d", "commit"), ("e", "commit")]
    assert orjson.loads(rows[0].entries) == [[100, 0, 8], [109, 0, 1]]
    assert sorted(i for i, _ in expand(orjson.loads(rows[0].entries))) == [
        *range(100, 108), 109]
    assert orjson.loads(rows[1].entries) == [[200, 0, 2]]
    assert set(wallets.open) == {108, 202, 203, 204, 205, 206, 207, 208, 209}


def test_a_carrier_read_across_two_accounts_batches_charges_each_its_own() -> None:
    """A read that answers the end of one batch and the start of the next (consecutive
    ids, two accounts) closes both runs at once; each account's commit row has its ids."""
    wallets = Wallets({"d": 1000, "e": 1000})
    for account, first in (("d", 100), ("e", 110)):
        wallets.balances[account] -= 100
        wallets.reserved(account, first, [10] * 10, submits(*[False] * 10))
    wallets.take_rows()
    wallets.settle(list(range(105, 115)), [])
    rows = wallets.take_rows()
    assert [(r.account, orjson.loads(r.entries)) for r in rows] == [
        ("d", [[105, 0, 5]]), ("e", [[110, 0, 5]])]
    assert set(wallets.open) == {*range(100, 105), *range(115, 120)}
