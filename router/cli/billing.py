"""``chapar billing …``: prepaid balances (the ledger beside the journal: its file,
``store.path``, or PostgreSQL).  A topup is one appended row in the config's own ledger;
a running router (with ``--workers``, worker 0) reads it within a second.  Balance,
ledger and statement read every ledger of the config: its own and each worker's, where
the workers' charges are.  Amounts are integers in the ledger's unit (e.g. Rial)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime

from router.cli import common
from router.cli.common import CliError, Stores, when
from router.store.journals import journals
from router.store.ledger import Ledger, statement


def _ledger(stores: Stores, system_id: str) -> Ledger:
    if stores.registry.get_account(system_id) is None:
        raise CliError(f"no account {system_id!r}")
    return Ledger(stores.config.store.journal())


@contextmanager
def _every_ledger(stores: Stores, system_id: str) -> Iterator[list[tuple[str, Ledger]]]:
    """The config's own ledger and each worker's (``--workers``), by name."""
    if stores.registry.get_account(system_id) is None:
        raise CliError(f"no account {system_id!r}")
    with ExitStack() as opened:
        yield [(name, opened.enter_context(Ledger(place)))
               for name, place, _ in journals(stores.config.store)]


def _topup(args: argparse.Namespace, stores: Stores) -> None:
    if args.amount == 0:
        raise CliError("amount: not 0 (negative amounts correct an earlier topup)")
    with _ledger(stores, args.system_id) as ledger:
        balance = ledger.topup(args.system_id, args.amount, args.note or "")
    print(f"{args.system_id}: balance {balance}")


def _balance(args: argparse.Namespace, stores: Stores) -> None:
    with _every_ledger(stores, args.system_id) as ledgers:
        print(sum(ledger.balance(args.system_id) for _, ledger in ledgers))


def _rows(args: argparse.Namespace, stores: Stores) -> None:
    """Each ledger's rows (named by their ledger when the config has several)."""
    with _every_ledger(stores, args.system_id) as ledgers:
        for name, ledger in ledgers:
            where = f"{name:4} " if len(ledgers) > 1 else ""
            for seq, at, kind, amount, note, entries in ledger.rows(args.system_id,
                                                                    limit=args.limit):
                ids = " ".join(f"{m:x}:{a}" for m, a in entries[:8])
                more = f" (+{len(entries) - 8})" if len(entries) > 8 else ""
                print(f"{where}{seq:8} {when(at)} {kind:8} {amount:12} {note} {ids}{more}"
                      .rstrip())


def _day(value: str) -> float:
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise CliError(f"{value!r}: expected a date or time, e.g. 2026-11-30") from None


def _statement(args: argparse.Namespace, stores: Stores) -> None:
    since = _day(args.since) if args.since else 0.0
    until = _day(args.until) if args.until else float("inf")
    with _every_ledger(stores, args.system_id) as ledgers:
        print(statement([ledger for _, ledger in ledgers], args.system_id, since, until),
              end="")


_ACTIONS: dict[str, common.Action] = {
    "topup": _topup, "balance": _balance, "ledger": _rows, "statement": _statement,
}


def add_parsers(sub: common.Subparsers) -> None:
    group = common.Group(sub, "billing", "prepaid balances and the ledger", _ACTIONS)
    topup = group.action("topup", "add to an account's balance", "system_id")
    topup.add_argument("amount", type=int)
    topup.add_argument("--note")
    group.action("balance", "print the balance (the sum of the ledgers)", "system_id")
    rows = group.action("ledger", "the account's ledger rows", "system_id")
    rows.add_argument("--limit", type=int, default=100)
    statement = group.action("statement", "CSV: every step with its message id", "system_id")
    statement.add_argument("--from", dest="since", help="date/time, local (ISO 8601)")
    statement.add_argument("--to", dest="until", help="date/time, local, exclusive")
