"""``chapar ranges …``: the domestic IP ranges (RIR delegated statistics) in the registry.

An import stores a new version; a running router picks it up within a fraction of a
second.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from router.cli import common
from router.cli.common import Stores, when
from router.policy.ranges import RangesError, load_files


def _show(args: argparse.Namespace, stores: Stores) -> None:
    for version, at, countries_text, n4, n6 in stores.registry.ranges_versions():
        print(f"{version}  {when(at)}  {countries_text}  ipv4={n4} ipv6={n6}")


def _import(args: argparse.Namespace, stores: Stores) -> None:
    countries = [c.upper() for c in (args.country or stores.config.auth.countries)]
    files = load_files([Path(p) for p in args.files], countries)
    v4 = sum(len(f.v4) for f in files)
    v6 = sum(len(f.v6) for f in files)
    if not v4 and not v6:
        raise RangesError(f"no in-use ranges for {', '.join(countries)} in the files")
    version = stores.registry.save_ranges(files, countries)
    print(f"imported {v4} ipv4 and {v6} ipv6 ranges for {', '.join(countries)}: "
          f"version {version}")


def add_parsers(sub: common.Subparsers) -> None:
    group = common.Group(sub, "ranges", "domestic IP ranges",
                         {"import": _import, "show": _show})
    imp = group.action("import", "load RIR delegated-statistics files as a new version")
    imp.add_argument("files", nargs="+")
    imp.add_argument("--country", action="append", help="country code (repeat); "
                     "default: auth.countries from the config (IR)")
    group.action("show", "list imported versions")
