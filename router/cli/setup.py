"""Setting up: ``chapar check-config``, ``chapar hash-password`` and ``chapar version``."""

from __future__ import annotations

import argparse
import getpass
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from router import config as config_mod
from router.cli.common import EXIT_CONFIG, EXIT_OK, Subparsers, warn_long_password
from router.config import ConfigError


def _version() -> str:
    try:
        return version("chapar")
    except PackageNotFoundError:
        return "0+unknown"


def cmd_check_config(args: argparse.Namespace) -> int:
    from router.policy.plans import Operators, PrefixTableError
    from router.upstream.routing import RouteError, compile_rules

    try:
        config = config_mod.load(Path(args.file))
        # the routing table's operators against the numbering tables it will run with
        operators = Operators.load(config.policy.prefix_folder())
        compile_rules(config.routing, {u.name for u in config.upstreams} | {"simulator"},
                      set(operators.prefixes().values()))
    except (ConfigError, PrefixTableError) as exc:
        print(f"chapar: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except RouteError as exc:
        print(f"chapar: {args.file}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"{args.file}: ok")
    return EXIT_OK


def cmd_hash_password(args: argparse.Namespace) -> int:
    from router.policy.auth import hash_password

    password = sys.stdin.readline().rstrip("\n") if args.stdin else getpass.getpass("password: ")
    if not password:
        print("chapar: empty password", file=sys.stderr)
        return EXIT_CONFIG
    warn_long_password(password)
    print(hash_password(password))
    return EXIT_OK


def cmd_version(args: argparse.Namespace) -> int:
    print(f"chapar {_version()}")
    return EXIT_OK


def add_parsers(sub: Subparsers) -> None:
    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("file")
    check.set_defaults(func=cmd_check_config)

    hp = sub.add_parser("hash-password", help="print an argon2id hash for the config")
    hp.add_argument("--stdin", action="store_true", help="read the password from stdin")
    hp.set_defaults(func=cmd_hash_password)

    ver = sub.add_parser("version", help="print the version")
    ver.set_defaults(func=cmd_version)
