"""``chapar ranges …``: the domestic IP ranges (RIR delegated statistics) in the registry.

An import stores a new version; a running router picks it up within a fraction of a
second.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from router.cli.common import Subparsers, registry_parent, run_refusing, seeded_registry, when
from router.config import Config
from router.policy.ranges import RangesError, load_files
from router.store.registry import Registry


def _import(args: argparse.Namespace, config: Config, registry: Registry) -> None:
    countries = [c.upper() for c in (args.country or config.auth.countries)]
    files = load_files([Path(p) for p in args.files], countries)
    v4 = sum(len(f.v4) for f in files)
    v6 = sum(len(f.v6) for f in files)
    if not v4 and not v6:
        raise RangesError(f"no in-use ranges for {', '.join(countries)} in the files")
    version = registry.save_ranges(files, countries)
    print(f"imported {v4} ipv4 and {v6} ipv6 ranges for {', '.join(countries)}: "
          f"version {version}")


def _show(registry: Registry) -> None:
    for version, at, countries_text, n4, n6 in registry.ranges_versions():
        print(f"{version}  {when(at)}  {countries_text}  ipv4={n4} ipv6={n6}")


def cmd_ranges(args: argparse.Namespace) -> int:
    def body() -> None:
        with seeded_registry(args) as (config, registry, _):
            if args.action == "import":
                _import(args, config, registry)
            else:
                _show(registry)

    return run_refusing(body)


def add_parsers(sub: Subparsers) -> None:
    common = registry_parent()
    rng = sub.add_parser("ranges", help="domestic IP ranges")
    rng_sub = rng.add_subparsers(dest="action", required=True)
    imp = rng_sub.add_parser("import", parents=[common],
                             help="load RIR delegated-statistics files as a new version")
    imp.add_argument("files", nargs="+")
    imp.add_argument("--country", action="append", help="country code (repeat); "
                     "default: auth.countries from the config (IR)")
    rng_sub.add_parser("show", parents=[common], help="list imported versions")
    rng.set_defaults(func=cmd_ranges)
