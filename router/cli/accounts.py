"""``chapar accounts …``: ESME accounts in the registry.

They write to the registry the config names (the file ``store.registry_path``, or
PostgreSQL with ``store.backend: postgres``); a running router picks the change up
within a fraction of a second.  Passwords are read from a prompt or stdin, never from the
command line (where ``ps`` would show them).
"""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import sys
import time

from router.cli import api_keys, common
from router.cli.common import Stores, warn_long_password, when
from router.model.accounts import BIND_TYPES, Account
from router.model.limits import operator_key
from router.store.limits import LimitStore
from router.store.registry import Registry, RegistryError
from router.store.settings import Place

_STATUS_OF = {"suspend": "suspended", "resume": "active", "terminate": "terminated"}


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise RegistryError("the two passwords differ")
    if not password:
        raise RegistryError("empty password")
    warn_long_password(password)
    return password


def _hash(args: argparse.Namespace) -> str:
    from router.policy.auth import hash_password

    return hash_password(_read_password(args))


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
            f"  lockout: source address{' and system_id' if account.id_lockout else ' only'}\n"
            f"  created: {when(account.created_at)}  updated: {when(account.updated_at)}")


def _existing(registry: Registry, system_id: str) -> Account:
    found = registry.get_account(system_id)
    if found is None:
        raise RegistryError(f"no account {system_id!r}")
    return found


# --- one function per action ------------------------------------------------------------


def _add(args: argparse.Namespace, stores: Stores) -> None:
    account = stores.registry.add_account(Account(
        system_id=args.system_id, password_hash=_hash(args),
        bind_types=_bind_types(args.bind_types), max_binds=args.max_binds,
        allowed_ips=_cidrs(args.allow_ip or []),
        domestic_exempt=args.exempt_domestic, status_style=args.status_style,
        id_lockout=not args.no_id_lockout))
    print(_show(account))


def _list(args: argparse.Namespace, stores: Stores) -> None:
    for a in stores.registry.accounts():
        print(f"{a.system_id:16} {a.status:10} {','.join(a.bind_types):10} "
              f"ips={len(a.allowed_ips)} max_binds={a.max_binds or '-'}")


def _show_one(args: argparse.Namespace, stores: Stores) -> None:
    found = _existing(stores.registry, args.system_id)
    print(_show(found))
    until = stores.registry.locks(time.time()).get(f"sid:{found.system_id}")
    if until is not None:
        print(f"  LOCKED until {when(until)}")


def _passwd(args: argparse.Namespace, stores: Stores) -> None:
    stores.registry.update_account(args.system_id, password_hash=_hash(args))
    print(f"{args.system_id}: password changed (applies to the next bind)")


def _set_status(args: argparse.Namespace, stores: Stores) -> None:
    status = _STATUS_OF[args.action]
    stores.registry.update_account(args.system_id, status=status)
    print(f"{args.system_id}: {status}")


def _ips(args: argparse.Namespace, stores: Stores) -> None:
    current = _existing(stores.registry, args.system_id)
    given = _cidrs(args.cidrs)
    if args.action == "allow-ip":
        ips = current.allowed_ips + tuple(c for c in given if c not in current.allowed_ips)
    else:
        ips = tuple(c for c in current.allowed_ips if c not in given)
    stores.registry.update_account(args.system_id, allowed_ips=ips)
    print(f"{args.system_id}: allowed ips {', '.join(ips) or '(none)'}")


def _id_lockout(args: argparse.Namespace, stores: Stores) -> None:
    on = args.state == "on"
    stores.registry.update_account(args.system_id, id_lockout=on)
    print(f"{args.system_id}: failed binds lock "
          f"{'the source address and the system_id' if on else 'the source address only'}")


def _unlock(args: argparse.Namespace, stores: Stores) -> None:
    key = f"ip:{args.ip}" if args.ip else f"sid:{args.system_id}"
    cleared = stores.registry.clear_lock(key)
    print(f"{key}: {'unlocked' if cleared else 'was not locked'}")


def set_limits(path: Place, scope: str, key: str, args: argparse.Namespace,
               fields: tuple[str, ...]) -> str:
    """Apply the limit options given (0 = no limit); the limit as now stored, shown."""
    changes = {f: getattr(args, f) for f in fields if getattr(args, f) is not None}
    if not changes:
        raise RegistryError(f"nothing to change: give {', '.join('--' + f for f in fields)}")
    with LimitStore(path) as store:
        limit = store.set_limit(scope, key, **changes)
    shown = ", ".join(f"{f} {getattr(limit, f):g}" for f in fields)
    return f"{key}: {shown} (0 = no limit)"


def _set(args: argparse.Namespace, stores: Stores) -> None:
    if stores.registry.get_account(args.system_id) is None:
        raise RegistryError(f"no account {args.system_id!r}")
    if args.operator:
        known = common.operators(stores.config.policy).names
        if args.operator not in known:
            raise RegistryError(f"unknown operator {args.operator!r} "
                                f"(known: {', '.join(sorted(known))})")
        key = operator_key(args.system_id, args.operator)
        print(set_limits(stores.registry.path, "operator", key, args, ("rate", "burst")))
        return
    print(set_limits(stores.registry.path, "account", args.system_id, args,
                     ("rate", "burst", "daily", "monthly")))


def limit_options(p: argparse.ArgumentParser, *, quotas: bool) -> None:
    p.add_argument("--rate", type=float, help="submits per second (0 = no limit)")
    p.add_argument("--burst", type=int, help="token bucket size (0 = one second's worth)")
    if quotas:
        p.add_argument("--daily", type=int, help="segments per local day (0 = none)")
        p.add_argument("--monthly", type=int, help="segments per local month (0 = none)")


def _audit(args: argparse.Namespace, stores: Stores) -> None:
    for e in reversed(stores.registry.audit_log(args.limit)):
        print(f"{when(e.at)} {e.peer:22} {e.system_id:16} {e.bind_type:3} "
              f"{e.outcome:8} 0x{e.status:02x} {e.reason} [{e.ranges_version}]")


_ACTIONS: dict[str, common.Action] = {
    "add": _add, "list": _list, "show": _show_one, "passwd": _passwd,
    "suspend": _set_status, "resume": _set_status, "terminate": _set_status,
    "allow-ip": _ips, "deny-ip": _ips, "id-lockout": _id_lockout, "unlock": _unlock,
    "audit": _audit, "set": _set, "api-key": api_keys.run,
}


def add_parsers(sub: common.Subparsers) -> None:
    group = common.Group(sub, "accounts", "manage ESME accounts", _ACTIONS)

    def with_id(name: str, help_text: str) -> argparse.ArgumentParser:
        return group.action(name, help_text, "system_id")

    add = with_id("add", "add an account (password from a prompt or --password-stdin)")
    add.add_argument("--password-stdin", action="store_true")
    add.add_argument("--bind-types", default="tx,rx,trx", help="comma list of tx, rx, trx")
    add.add_argument("--max-binds", type=int, default=0, help="0 = unlimited")
    add.add_argument("--allow-ip", action="append", metavar="CIDR",
                     help="address or CIDR the account binds from (repeat)")
    add.add_argument("--exempt-domestic", action="store_true",
                     help="skip the domestic-range check (provider's own monitoring)")
    add.add_argument("--status-style", choices=("vendor", "standard"), default="vendor")
    add.add_argument("--no-id-lockout", action="store_true",
                     help="failed binds lock the source address only, never the system_id")
    group.action("list", "list accounts")
    with_id("show", "show one account")
    pw = with_id("passwd", "change the password (next bind)")
    pw.add_argument("--password-stdin", action="store_true")
    with_id("suspend", "refuse binds and close live sessions")
    with_id("resume", "allow binds again")
    with_id("terminate", "close for good")
    for name in ("allow-ip", "deny-ip"):
        p = with_id(name, f"{name.split('-')[0]} source addresses/CIDRs")
        p.add_argument("cidrs", nargs="+")
    idl = with_id("id-lockout", "whether failed binds also lock the system_id out")
    idl.add_argument("state", choices=("on", "off"))
    unlock = group.action("unlock", "clear a lockout")
    who = unlock.add_mutually_exclusive_group(required=True)
    who.add_argument("--ip")
    who.add_argument("--system-id")
    limits = with_id("set", "sending limits: rate, burst, daily / monthly quotas")
    limit_options(limits, quotas=True)
    limits.add_argument("--operator", help="the rate and burst apply to this operator only")
    api_keys.add_arguments(group.action("api-key", "HTTP API keys: add, list, revoke"))
    audit = group.action("audit", "recent bind attempts")
    audit.add_argument("--limit", type=int, default=50)
