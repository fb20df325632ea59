"""``chapar explain ACCOUNT LINE DESTINATION [TEXT]``: the decision the router would make
now for one message and every rule that led to it, read from the registry the router
reads (nothing is sent, counted or written).  The running router answers the same
question at ``POST /api/explain``.

Exit 0 when the message would be accepted, 1 when it would be refused, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from router.admin.explain import Explainer, ExplainError, Question
from router.cli import common
from router.cli.common import CliError, Subparsers
from router.cli.routes import table_of
from router.model.lines import LineBook
from router.policy.addresses import Addresses
from router.policy.lists import ListRegistry
from router.policy.rules import Rules
from router.store.writer import RegistryWriter

EXIT_REFUSED = 1
MARKS = {"pass": "ok  ", "fail": "FAIL", "n/a": " -  ", "info": "    ", "hold": "HOLD",
         "flag": "FLAG"}


def render(answer: dict[str, Any]) -> str:
    held = [r["detail"] for r in answer["rules"] if r["result"] == "hold"]
    if answer["decision"] == "accept" and held:
        head = f"ACCEPT, HELD for review ({held[0]}; answered 0x00000000 ESME_ROK)"
    elif answer["decision"] == "accept":
        head = "ACCEPT: every rule passed (answered 0x00000000 ESME_ROK)"
    else:
        head = (f"REFUSE: {answer['reason']}: {answer['explanation']} "
                f"(answered {answer['status']['answered']})")
    lines = [head, ""]
    for rule in answer["rules"]:
        arrow = "  <- decided" if rule["decisive"] else ""
        lines.append(f"  {MARKS[rule['result']]} {rule['rule']:<12} {rule['detail']}{arrow}")
    seg = answer["segments"]
    lines += ["", f"  segments: {seg['count']} (data_coding {seg['data_coding']}, "
              f"{seg['octets']} octets); stages: {', '.join(answer['stages'])}"]
    return "\n".join(lines)


def cmd_explain(args: argparse.Namespace) -> int:
    result: list[dict[str, Any]] = []

    def body() -> None:
        with common.seeded_registry(args) as stores:
            config = stores.config
            rules = Rules(LineBook(stores.lines.lines()),
                          ListRegistry(stores.lines.load_snapshot()))
            addresses = Addresses(config.policy, common.operators(config.policy))
            writer = RegistryWriter(config.store.registry())
            try:
                table = table_of(stores)
                explainer = Explainer(rules, addresses, config.policy, writer,
                                      stores.registry, routes=lambda: table)
                result.append(explainer.explain(Question(
                    account=args.account, line=args.line, destination=args.destination,
                    text=args.text, dest_ton=args.ton, dest_npi=args.npi,
                    data_coding=args.coding)))
            except ExplainError as exc:
                raise CliError(str(exc)) from None
            finally:
                writer.close()

    code = common.run_refusing(body)
    if code != common.EXIT_OK:
        return code
    answer = result[0]
    print(json.dumps(answer, ensure_ascii=False, indent=2) if args.json else render(answer))
    return common.EXIT_OK if answer["decision"] == "accept" else EXIT_REFUSED


def add_parsers(sub: Subparsers) -> None:
    p = sub.add_parser("explain", help="the decision for one message, and why (sends nothing)")
    p.add_argument("account", help="system_id")
    p.add_argument("line", help="source_addr (the sender line)")
    p.add_argument("destination", help="destination_addr as the ESME writes it")
    p.add_argument("text", nargs="?", default="", help="message text (segments, signature)")
    p.add_argument("--config", "-c", help="config file naming the registry")
    p.add_argument("--ton", type=int, default=1, help="dest_addr_ton (default 1)")
    p.add_argument("--npi", type=int, default=1, help="dest_addr_npi (default 1)")
    p.add_argument("--coding", type=int, default=None,
                   help="data_coding (default: GSM 7-bit if the text allows, else UCS2)")
    p.add_argument("--json", action="store_true", help="the answer as JSON (as the API)")
    p.set_defaults(func=cmd_explain)
