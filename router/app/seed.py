"""The registry seeded from YAML: accounts and lines that do not exist yet.

The registry is the source of truth; YAML only adds what is missing.  The router and the
registry CLI both seed, so ``chapar lines add`` works before the router ever ran.

The demo account (a password anyone can read in the README) exists on the embedded
defaults only.  With a config file it is not created, and a demo account an earlier run
on the embedded defaults left in the same registry is suspended at start.
"""

from __future__ import annotations

import structlog

from router import config as config_mod
from router.config import Config
from router.model.accounts import Account
from router.model.limits import Limit, operator_key
from router.model.lines import Line, parse_hours
from router.store.limits import LimitStore
from router.store.lines import LineError, LineStore
from router.store.registry import Registry

log = structlog.get_logger("chapar")


def is_embedded_default(config: Config) -> bool:
    """``config`` is the embedded default (``chapar run`` without ``--config``), or a
    worker's share of it."""
    return config.embedded


def retire_demo(registry: Registry, config: Config) -> list[str]:
    """Suspend every active demo account unless ``config`` is the embedded default; the
    system ids suspended.  A known password must never stay bindable in production."""
    if is_embedded_default(config):
        return []
    retired = []
    for account in registry.accounts():
        if account.demo and account.status == "active":
            registry.update_account(account.system_id, status="suspended")
            retired.append(account.system_id)
            log.warning("demo_account_disabled", system_id=account.system_id,
                        note="created by a run on the embedded defaults; its password is "
                        "public, so with a config file it stays suspended (add real "
                        "accounts with `chapar accounts add` or in the config)")
    return retired


def _accounts(config: Config) -> list[Account]:
    """The config's accounts as registry records; demo accounts on the embedded default
    only."""
    embedded = is_embedded_default(config)
    skipped = [a.system_id for a in config.accounts if a.demo and not embedded]
    if skipped:
        log.warning("demo_account_not_seeded", system_ids=skipped,
                    note="demo accounts exist on the embedded defaults only")
    return [Account(
        system_id=a.system_id, password_hash=a.password_hash, bind_types=a.bind_types,
        max_binds=a.max_binds, allowed_ips=a.allowed_ips,
        domestic_exempt=a.domestic_exempt, status_style=a.status_style, demo=a.demo,
        id_lockout=a.id_lockout)
        for a in config.accounts if embedded or not a.demo]


def _note_suspended_demo(registry: Registry) -> None:
    """On the embedded defaults: say so when a run with a config file retired the demo."""
    demo = registry.get_account(config_mod.DEMO_SYSTEM_ID)
    if demo is not None and demo.demo and demo.status != "active":
        log.warning("demo_account_suspended", system_id=demo.system_id, status=demo.status,
                    note="a run with a config file suspended it; `chapar accounts resume "
                    f"{demo.system_id}` makes the demo bindable again")


def seed_registry(config: Config, registry: Registry, lines: LineStore) -> None:
    if is_embedded_default(config):
        _note_suspended_demo(registry)
    else:
        retire_demo(registry, config)
    seeded = registry.seed_accounts(_accounts(config))
    if seeded:
        log.info("accounts_seeded", system_ids=seeded)
    for seed in config.lines:
        if lines.get_line(seed.number) is None:
            try:
                lines.add_line(Line(
                    number=seed.number, account=seed.account, kind=seed.kind,
                    exemption=seed.exemption, purpose=seed.purpose, operator=seed.operator,
                    hours=parse_hours(seed.hours), priority=seed.priority))
            except LineError as exc:
                log.warning("line_not_seeded", line=seed.number, reason=str(exc))


def seed_limits(config: Config, store: LimitStore) -> None:
    """Limits from YAML for accounts, lines and account x operator pairs that have none
    in the registry yet (the registry, changed by the CLI, then rules)."""
    rows: list[tuple[str, str, Limit]] = []
    for a in config.accounts:
        rows.append(("account", a.system_id, Limit(a.rate, a.burst, a.daily, a.monthly)))
        rows += [("operator", operator_key(a.system_id, o.operator), Limit(o.rate, o.burst))
                 for o in a.operator_limits]
    rows += [("line", ln.number, Limit(ln.rate, ln.burst)) for ln in config.lines]
    added = store.seed(rows)
    if added:
        log.info("limits_seeded", count=added)
