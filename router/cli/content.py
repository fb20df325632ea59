"""``chapar content test "TEXT" [--account A --line L]``: the normalised text, every hit
(category, phrase or regex, position) and the action, so ops can check a rule before
shipping it; ``chapar quarantine list|show|release|reject``: held messages (the running
router dispatches a released one and sends a REJECTD receipt for a rejected one)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from router.admin.held import decoded, parse_id
from router.cli import common
from router.cli.common import CliError, Stores, when
from router.model.holds import Part
from router.policy.content.rules import RuleError
from router.policy.content.stage import build_rules
from router.smpp import codec
from router.smpp.pdu import CommandId, SubmitSm
from router.smpp.session import Submit
from router.store.journals import journals
from router.store.quarantine import Held, QuarantineStore


def _test(args: argparse.Namespace) -> int:
    def body() -> None:
        config = common.registry_config(args)
        try:
            rules = build_rules(config.policy)
        except RuleError as exc:
            raise CliError(str(exc)) from None
        normalised = rules.normaliser.normalise(args.text)
        print(f"normalised: {normalised}")
        for hit in rules.explain(normalised):
            print(f"hit: {hit.category}  {hit.kind} {hit.pattern!r}  at {hit.position}")
        verdict = rules.verdict(args.text, args.account, args.line)
        if verdict is None:
            print("action: send (no rule applies)")
        else:
            print(f"action: {verdict.action} ({verdict.category}; "
                  f"categories: {', '.join(verdict.categories)})")

    return common.run_refusing(body)


@contextmanager
def _every_store(stores: Stores) -> Iterator[list[tuple[str, QuarantineStore]]]:
    """The quarantine of the config's own journal and of each worker's (``--workers``:
    a worker holds what it quarantined in its own journal), by name."""
    with ExitStack() as opened:
        found = []
        for name, place, _ in journals(stores.config.store):
            store = QuarantineStore(place)
            opened.callback(store.close)
            found.append((name, store))
        yield found


def _holding(args: argparse.Namespace, found: list[tuple[str, QuarantineStore]]
             ) -> tuple[QuarantineStore, Held]:
    """The quarantine holding the id (``--journal`` names it when two workers' ids
    coincide)."""
    message_id = _one(args)
    holding = [(name, store, held) for name, store in found
               if args.journal in (None, name) and (held := store.get(message_id))]
    if not holding:
        raise CliError(f"no held message {args.id}")
    if len(holding) > 1:
        names = ", ".join(name for name, _, _ in holding)
        raise CliError(f"{args.id} is in the quarantine of {names}: "
                       "say which with --journal NAME")
    return holding[0][1], holding[0][2]


def _text(body: bytes) -> str:
    return decoded(body)[1]


def _joined(rows: list[Held]) -> str:
    """The text of a held message, a long one's parts joined in order."""
    if len(rows) == 1:
        return _text(rows[0].body)
    from router.policy.content.assembly import Assembling, concat_of

    message = Assembling(("", "", "", "", 0), len(rows), 0, 0.0, "")
    for row in rows:
        sm = codec.decode(CommandId.SUBMIT_SM, 0, 0, row.body)
        assert isinstance(sm, SubmitSm)
        concat = concat_of(sm)
        message.data_coding = sm.data_coding
        if concat is not None:
            submit = Submit(0, row.body, sm.source_addr, sm.destination_addr, 0, 0, 0)
            message.parts[concat.seq] = Part(submit, concat.seq, concat.payload, 0)
    return message.text()


def _list(args: argparse.Namespace, stores: Stores) -> None:
    """One line per held message (a long message once, by its first part's id), each
    named by its journal when the config has several."""
    with _every_store(stores) as found:
        for name, store in found:
            where = f"{name:4} " if len(found) > 1 else ""
            seen: set[str] = set()
            for held in store.held(None if args.state == "all" else args.state):
                if held.group in seen:
                    continue
                rows = store.group(held)
                if held.group:
                    seen.add(held.group)
                parts = f"  ({len(rows)} parts)" if len(rows) > 1 else ""
                print(f"{where}{held.message_id:x}  {when(held.at)}  {held.account}  "
                      f"{held.category}  {held.state}{parts}  {_joined(rows)[:60]!r}")


def _one(args: argparse.Namespace) -> int:
    try:
        return parse_id(args.id)
    except ValueError:
        raise CliError(f"not a message id: {args.id!r}") from None


def _show(args: argparse.Namespace, stores: Stores) -> None:
    with _every_store(stores) as found:
        store, held = _holding(args, found)
        sm = decoded(held.body)[0]
        print(f"id: {held.message_id:x}\naccount: {held.account}\nheld at: {when(held.at)}\n"
              f"category: {held.category} ({held.reason})\nstate: {held.state}\n"
              f"from: {sm.source_addr}\nto: {sm.destination_addr}\n"
              f"parts: {len(store.group(held))}\ntext: {_joined(store.group(held))}")


def _decide(state: str) -> common.Action:
    def action(args: argparse.Namespace, stores: Stores) -> None:
        with _every_store(stores) as found:
            store, held = _holding(args, found)
            decided = store.decide(held.message_id, state)
            if not decided:
                raise CliError(f"{args.id} is not held (see `chapar quarantine list`)")
            print(f"{args.id} {state}" + (f" ({decided} parts)" if decided > 1 else ""))

    return action


def add_parsers(sub: common.Subparsers) -> None:
    test = sub.add_parser("content", help="content rules").add_subparsers(
        dest="action", required=True).add_parser(
        "test", help="normalise a text, list every rule hit and the action")
    test.add_argument("text")
    test.add_argument("--account", default="")
    test.add_argument("--line", default="")
    test.add_argument("--config", "-c")
    test.set_defaults(func=_test)
    group = common.Group(sub, "quarantine", "messages held by the content filter",
                         {"list": _list, "show": _show, "release": _decide("released"),
                          "reject": _decide("rejected")})
    listing = group.action("list", "held messages")
    listing.add_argument("--state", default="held",
                         choices=("held", "released", "rejected", "all"))
    for name, help_text in (("show", "one held message, decoded"),
                            ("release", "send a held message to its carrier"),
                            ("reject", "refuse a held message (REJECTD receipt to the ESME)")):
        group.action(name, help_text, "id").add_argument(
            "--journal", metavar="NAME", help="own, w0, w1…: the journal whose quarantine "
            "holds the id (only needed when two workers' ids coincide)")
