"""The ``chapar`` command: one module per command group, exit codes and shared helpers in
:mod:`router.cli.common`.

``run`` (router, simulator), ``setup`` (check-config, hash-password, version),
``accounts``, ``ranges``, ``lines`` and ``lists`` (the registry), ``content`` and
``quarantine`` (content rules and held messages); ``explain``; ``load`` (Locust);
``routes`` (the routing table); ``export`` and ``records`` (message records).
"""

from __future__ import annotations

import argparse

from router.cli import (
    accounts,
    billing,
    content,
    explain,
    lines,
    lists,
    load,
    ranges,
    records,
    routes,
    run,
    setup,
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chapar", description="SMPP 3.4 router for bulk SMS")
    sub = p.add_subparsers(dest="command", required=True)
    for group in (run, setup, accounts, ranges, lines, lists, content, billing, explain,
                  load, routes, records):
        group.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.func(args)
    return code
