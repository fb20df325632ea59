"""The router's parts, built from their settings and wired by data, not callbacks.

ESME side (server) -> dispatch (intake, outbound, inbound, reports) <- carrier side
(upstream); policy decides, dlr matches receipts, store keeps.  Nothing here carries
data itself: each part gets the parts it hands data to.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

from router.admin.explain import Explainer
from router.admin.sources import Reloader, Sources
from router.app.seed import seed_limits, seed_registry
from router.config import Config
from router.dispatch.inbound import Inbound
from router.dispatch.intake import Intake
from router.dispatch.outbound import Outbound
from router.dispatch.reports import Reports
from router.dlr.book import ReceiptBook
from router.model.lines import LineBook
from router.model.wallets import Wallets
from router.policy.addresses import Addresses
from router.policy.auth import Authenticator
from router.policy.billing import BillingStage
from router.policy.lists import ListRegistry
from router.policy.mo import MoHandler
from router.policy.pipeline import Pipeline, StageKit
from router.policy.plans import Operators
from router.policy.rules import Rules
from router.policy.shared import SharedLimits
from router.policy.throttle import Quotas, ThrottleStage
from router.server.state import ServerState
from router.store.ids import MessageIds
from router.store.journal import Recovery, SqliteJournal
from router.store.ledger import Ledger
from router.store.limits import LimitStore
from router.store.lines import LineStore
from router.store.registry import Registry
from router.store.shared import RedisState
from router.store.writer import RegistryWriter
from router.upstream.pool import Pool

log = structlog.get_logger("chapar")


@dataclass(slots=True)
class Policy:
    registry: Registry
    lines: LineStore
    limits: LimitStore
    writer: RegistryWriter
    auth: Authenticator
    rules: Rules
    pipeline: Pipeline
    mo: MoHandler
    addresses: Addresses
    shared: SharedLimits | None = None
    """Buckets, quotas and balances shared through Redis (``redis.url`` set)."""


@dataclass(slots=True)
class Parts:
    state: ServerState
    journal: SqliteJournal
    recovery: Recovery
    policy: Policy
    intake: Intake
    outbound: Outbound
    inbound: Inbound
    reports: Reports
    pool: Pool
    book: ReceiptBook


def build_policy(config: Config, state: ServerState) -> Policy:
    """Accounts, ranges, lines and lists from the registry; the deciders built on them."""
    path = Path(config.store.registry_path)
    registry = Registry(path)
    lines = LineStore(path)
    seed_registry(config, registry, lines)
    limits = LimitStore(path)
    seed_limits(config, limits)
    writer = RegistryWriter(path)
    auth = Authenticator(registry, config.auth, state.live_binds, writer)
    for registered in registry.accounts():
        if registered.demo and registered.status == "active":
            log.warning("demo_account_enabled", system_id=registered.system_id,
                        note="embedded default; configure real accounts for production")
    if auth.ranges is None:
        log.warning("no_domestic_ranges", note="only accounts exempt from the domestic "
                    "check can bind; run `chapar ranges import FILE`")
    snapshot = lines.load_snapshot()
    rules = Rules(LineBook(lines.lines()), ListRegistry(snapshot), limits.book())
    addresses = Addresses(config.policy, Operators.load(config.policy.prefix_folder()))
    usage = limits.usage(Quotas(config.policy.timezone).periods(time.time()))
    ledger = Ledger(Path(config.store.path)) if "billing" in config.policy.stages else None
    on_delivery = frozenset(a.system_id for a in config.accounts if a.charge_on == "delivery")
    shared = bool(config.redis.url)
    wallets = Wallets(on_delivery=on_delivery)
    pipeline = Pipeline(rules, StageKit(config.policy, addresses, writer, usage=usage,
                                        wallets=wallets, ledger=ledger, shared=shared))
    limits_shared = _shared(config, registry, rules, pipeline, usage) if shared else None
    log.info("lines_loaded", lines=len(rules.lines.by_number),
             blacklist=len(snapshot.blacklist), whitelists=len(snapshot.whitelists))
    mo = MoHandler(rules, addresses, config.policy, writer)
    return Policy(registry, lines, limits, writer, auth, rules, pipeline, mo, addresses,
                  limits_shared)


def _shared(config: Config, registry: Registry, rules: Rules, pipeline: Pipeline,
            usage: dict[tuple[str, str], int]) -> SharedLimits:
    """Buckets, quotas and balances in Redis: the wallets hold only what they lease; the
    store is named by host and journal path, so a restarted process reports as itself."""
    store_id = f"{socket.gethostname()}:{Path(config.store.path).resolve()}"
    billing = next((s for s in pipeline.stages if isinstance(s, BillingStage)), None)
    if billing is not None:
        pipeline.wallets.share()
    shared = SharedLimits(config.redis, RedisState(config.redis, store_id), rules,
                          pipeline.wallets if billing else None, usage,
                          [a.system_id for a in registry.accounts()])
    shared.throttle = next((s for s in pipeline.stages if isinstance(s, ThrottleStage)), None)
    shared.billing = billing
    log.info("limits_shared", redis=config.redis.url.rpartition("@")[2], store=store_id)
    return shared


def build(config: Config) -> Parts:
    """Journal (and what the last run left), policy, the queues and the carrier pool."""
    loop = asyncio.get_running_loop()
    state = ServerState()
    journal = SqliteJournal(Path(config.store.path), config.store.durability)
    journal.start_checkpoints()
    recovery = journal.recover(config.dispatch.receipt_wait)
    book = ReceiptBook()
    book.remember_many(recovery.delivered_to_carrier)
    policy = build_policy(config, state)
    settings = config.dispatch
    outbound = Outbound(settings, state, loop.call_later)
    wallets = policy.pipeline.wallets
    intake = Intake(journal, MessageIds(recovery.last_id), outbound, policy.pipeline.holds,
                    wallets)
    intake.give_back = policy.pipeline.give_back
    intake.rules = policy.rules
    policy.pipeline.restore(recovery.parts)
    policy.pipeline.reopen({m.id for m in recovery.pending if not m.receipt})
    inbound = Inbound(settings.receipt_queue_limit, settings.max_attempts, loop.call_later)
    reports = Reports(intake, outbound, inbound, book, policy.mo, wallets)
    pool = Pool(outbound, reports)
    return Parts(state, journal, recovery, policy, intake, outbound, inbound, reports, pool, book)


def admin_sources(config: Config, parts: Parts, reloader: Reloader) -> Sources:
    """What the admin API reads and acts on."""
    policy = parts.policy
    explainer = Explainer(policy.rules, policy.addresses, config.policy, policy.writer,
                          policy.registry)
    return Sources(parts.state, policy.registry, policy.auth, policy.rules, parts.intake,
                   parts.outbound, parts.inbound, parts.reports, parts.pool, explainer,
                   reloader, parts.journal.path)
