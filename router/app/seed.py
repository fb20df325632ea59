"""The registry seeded from YAML: accounts and lines that do not exist yet.

The registry is the source of truth; YAML only adds what is missing.  The router and the
registry CLI both seed, so ``chapar lines add`` works before the router ever ran.
"""

from __future__ import annotations

import structlog

from router.config import Config
from router.model.accounts import Account
from router.model.lines import Line, parse_hours
from router.store.lines import LineError, LineStore
from router.store.registry import Registry

log = structlog.get_logger("chapar")


def seed_registry(config: Config, registry: Registry, lines: LineStore) -> None:
    seeded = registry.seed_accounts(Account(
        system_id=a.system_id, password_hash=a.password_hash, bind_types=a.bind_types,
        max_binds=a.max_binds, allowed_ips=a.allowed_ips,
        domestic_exempt=a.domestic_exempt, status_style=a.status_style, demo=a.demo)
        for a in config.accounts)
    if seeded:
        log.info("accounts_seeded", system_ids=seeded)
    for seed in config.lines:
        if lines.get_line(seed.number) is None:
            try:
                lines.add_line(Line(
                    number=seed.number, account=seed.account, kind=seed.kind,
                    exemption=seed.exemption, purpose=seed.purpose, operator=seed.operator,
                    hours=parse_hours(seed.hours)))
            except LineError as exc:
                log.warning("line_not_seeded", line=seed.number, reason=str(exc))
