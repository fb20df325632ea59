"""``chapar accounts …`` and ``chapar ranges …``: operator commands on the registry.

They write to the registry file named by the config (``store.registry_path``); a
running router picks the change up within a fraction of a second.  Passwords are read
from a prompt or stdin, never from the command line (where ``ps`` would show them).
"""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import sys
import time
from pathlib import Path

from router import config as config_mod
from router.config import Config, ConfigError
from router.model.accounts import BIND_TYPES, Account
from router.policy.ranges import RangesError, load_files
from router.store.registry import Registry, RegistryError
from router.upstream.settings import SimulatorSettings

EXIT_USAGE = 2


def registry_config(args: argparse.Namespace) -> Config:
    """The config naming the registry: ``--config``, else the embedded default's paths."""
    if args.config:
        return config_mod.load(Path(args.config))
    return config_mod.Config(simulator=SimulatorSettings(enabled=True))


def _registry(args: argparse.Namespace) -> Registry:
    return Registry(Path(registry_config(args).store.registry_path))


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise RegistryError("the two passwords differ")
    if not password:
        raise RegistryError("empty password")
    if len(password) > 8:
        print("chapar: warning: SMPP 3.4 allows 8 characters; many clients refuse longer "
              "passwords", file=sys.stderr)
    return password


def _cidrs(values: list[str]) -> tuple[str, ...]:
    out = []
    for value in values:
        try:
            out.append(str(ipaddress.ip_network(value, strict=False)))
        except ValueError:
            raise RegistryError(f"{value!r} is not an IP address or CIDR") from None
    return tuple(out)


def _bind_types(value: str) -> tuple[str, ...]:
    types = tuple(t.strip() for t in value.split(",") if t.strip())
    bad = [t for t in types if t not in BIND_TYPES]
    if bad or not types:
        raise RegistryError(f"bind types are a comma list of {', '.join(BIND_TYPES)}")
    return types


def _show(account: Account) -> str:
    ips = ", ".join(account.allowed_ips) or "(none: cannot bind)"
    return (f"{account.system_id}\n  status: {account.status}\n"
            f"  bind types: {','.join(account.bind_types)}\n"
            f"  max binds: {account.max_binds or 'unlimited'}\n  allowed ips: {ips}\n"
            f"  domestic check: {'exempt' if account.domestic_exempt else 'enforced'}\n"
            f"  status style: {account.status_style}\n"
            f"  created: {_when(account.created_at)}  updated: {_when(account.updated_at)}")


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(at))


def cmd_accounts(args: argparse.Namespace) -> int:
    from router.policy.auth import hash_password

    registry = _registry(args)
    try:
        action = args.action
        if action == "add":
            account = registry.add_account(Account(
                system_id=args.system_id, password_hash=hash_password(_read_password(args)),
                bind_types=_bind_types(args.bind_types), max_binds=args.max_binds,
                allowed_ips=_cidrs(args.allow_ip or []),
                domestic_exempt=args.exempt_domestic, status_style=args.status_style))
            print(_show(account))
        elif action == "list":
            for a in registry.accounts():
                print(f"{a.system_id:16} {a.status:10} {','.join(a.bind_types):10} "
                      f"ips={len(a.allowed_ips)} max_binds={a.max_binds or '-'}")
        elif action == "show":
            found = registry.get_account(args.system_id)
            if found is None:
                raise RegistryError(f"no account {args.system_id!r}")
            print(_show(found))
            now = time.time()
            for key, until in registry.locks(now).items():
                if key in (f"sid:{found.system_id}",):
                    print(f"  LOCKED until {_when(until)}")
        elif action == "passwd":
            registry.update_account(args.system_id,
                                    password_hash=hash_password(_read_password(args)))
            print(f"{args.system_id}: password changed (applies to the next bind)")
        elif action in ("suspend", "resume", "terminate"):
            status = {"suspend": "suspended", "resume": "active", "terminate": "terminated"}
            registry.update_account(args.system_id, status=status[action])
            print(f"{args.system_id}: {status[action]}")
        elif action in ("allow-ip", "deny-ip"):
            current = registry.get_account(args.system_id)
            if current is None:
                raise RegistryError(f"no account {args.system_id!r}")
            given = _cidrs(args.cidrs)
            if action == "allow-ip":
                ips = current.allowed_ips + tuple(c for c in given
                                                  if c not in current.allowed_ips)
            else:
                ips = tuple(c for c in current.allowed_ips if c not in given)
            registry.update_account(args.system_id, allowed_ips=ips)
            print(f"{args.system_id}: allowed ips {', '.join(ips) or '(none)'}")
        elif action == "unlock":
            key = f"ip:{args.ip}" if args.ip else f"sid:{args.system_id}"
            cleared = registry.clear_lock(key)
            print(f"{key}: {'unlocked' if cleared else 'was not locked'}")
        elif action == "audit":
            for e in reversed(registry.audit_log(args.limit)):
                print(f"{_when(e.at)} {e.peer:22} {e.system_id:16} {e.bind_type:3} "
                      f"{e.outcome:8} 0x{e.status:02x} {e.reason} [{e.ranges_version}]")
    except RegistryError as exc:
        print(f"chapar: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        registry.close()
    return 0


def cmd_ranges(args: argparse.Namespace) -> int:
    try:
        config = registry_config(args)
    except ConfigError as exc:
        print(f"chapar: {exc}", file=sys.stderr)
        return EXIT_USAGE
    registry = Registry(Path(config.store.registry_path))
    try:
        if args.action == "import":
            countries = [c.upper() for c in (args.country or config.auth.countries)]
            files = load_files([Path(p) for p in args.files], countries)
            v4 = sum(len(f.v4) for f in files)
            v6 = sum(len(f.v6) for f in files)
            if not v4 and not v6:
                raise RangesError(f"no in-use ranges for {', '.join(countries)} in the files")
            version = registry.save_ranges(files, countries)
            print(f"imported {v4} ipv4 and {v6} ipv6 ranges for {', '.join(countries)}: "
                  f"version {version}")
        else:
            for version, at, countries_text, n4, n6 in registry.ranges_versions():
                print(f"{version}  {_when(at)}  {countries_text}  ipv4={n4} ipv6={n6}")
    except RangesError as exc:
        print(f"chapar: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        registry.close()
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", "-c", help="config file naming the registry "
                        "(default: the embedded default, ./var/registry.db)")

    acc = sub.add_parser("accounts", help="manage ESME accounts")
    acc_sub = acc.add_subparsers(dest="action", required=True)

    def with_id(name: str, help_text: str) -> argparse.ArgumentParser:
        p = acc_sub.add_parser(name, parents=[common], help=help_text)
        p.add_argument("system_id")
        return p

    add = with_id("add", "add an account (password from a prompt or --password-stdin)")
    add.add_argument("--password-stdin", action="store_true")
    add.add_argument("--bind-types", default="tx,rx,trx", help="comma list of tx, rx, trx")
    add.add_argument("--max-binds", type=int, default=0, help="0 = unlimited")
    add.add_argument("--allow-ip", action="append", metavar="CIDR",
                     help="address or CIDR the account binds from (repeat)")
    add.add_argument("--exempt-domestic", action="store_true",
                     help="skip the domestic-range check (provider's own monitoring)")
    add.add_argument("--status-style", choices=("vendor", "standard"), default="standard")
    acc_sub.add_parser("list", parents=[common], help="list accounts")
    with_id("show", "show one account")
    pw = with_id("passwd", "change the password (next bind)")
    pw.add_argument("--password-stdin", action="store_true")
    with_id("suspend", "refuse binds and close live sessions")
    with_id("resume", "allow binds again")
    with_id("terminate", "close for good")
    for name in ("allow-ip", "deny-ip"):
        p = with_id(name, f"{name.split('-')[0]} source addresses/CIDRs")
        p.add_argument("cidrs", nargs="+")
    unlock = acc_sub.add_parser("unlock", parents=[common], help="clear a lockout")
    who = unlock.add_mutually_exclusive_group(required=True)
    who.add_argument("--ip")
    who.add_argument("--system-id")
    audit = acc_sub.add_parser("audit", parents=[common], help="recent bind attempts")
    audit.add_argument("--limit", type=int, default=50)
    acc.set_defaults(func=cmd_accounts)

    rng = sub.add_parser("ranges", help="domestic IP ranges")
    rng_sub = rng.add_subparsers(dest="action", required=True)
    imp = rng_sub.add_parser("import", parents=[common],
                             help="load RIR delegated-statistics files as a new version")
    imp.add_argument("files", nargs="+")
    imp.add_argument("--country", action="append", help="country code (repeat); "
                     "default: auth.countries from the config (IR)")
    rng_sub.add_parser("show", parents=[common], help="list imported versions")
    rng.set_defaults(func=cmd_ranges)
