"""The router's parts, built from their settings and wired by data, not callbacks.

ESME side (server) -> dispatch (intake, outbound, inbound, reports) <- carrier side
(upstream); policy decides, dlr matches receipts, store keeps.  Nothing here carries
data itself: each part gets the parts it hands data to.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from router.admin.explain import Explainer
from router.admin.sources import Reloader, Sources
from router.app.imports import ImportJobs
from router.app.seed import seed_limits, seed_registry
from router.config import Config
from router.dispatch.handoff import Handoff
from router.dispatch.inbound import Inbound
from router.dispatch.intake import Intake
from router.dispatch.operations import Operations
from router.dispatch.outbound import Outbound
from router.dispatch.reports import Reports
from router.dlr.book import ReceiptBook
from router.http_api.api import HttpSources
from router.http_api.sending import Sender
from router.http_api.webhooks import Endpoint, Webhooks
from router.model.lines import LineBook
from router.model.wallets import Wallets
from router.policy.addresses import Addresses
from router.policy.api_keys import ApiKeys
from router.policy.auth import Authenticator
from router.policy.billing import BillingStage
from router.policy.binds import SharedBinds
from router.policy.lists import ListRegistry
from router.policy.mo import MoHandler
from router.policy.pipeline import Pipeline, StageKit
from router.policy.plans import Operators
from router.policy.rules import Rules
from router.policy.shared import SharedLimits
from router.policy.throttle import Quotas, ThrottleStage
from router.server.requests import Congestion, Services
from router.server.state import ServerState
from router.store.api_keys import ApiKeyStore
from router.store.client_refs import ClientRefStore
from router.store.ids import MessageIds
from router.store.interface import Journal
from router.store.journal import SqliteJournal
from router.store.ledger import Ledger, retired_sums
from router.store.limits import LimitStore
from router.store.lines import LineStore
from router.store.lookup import JournalReader, Reader
from router.store.postgres.journal import PgJournal
from router.store.postgres.lookup import PgReader
from router.store.records.follower import Writer
from router.store.records.open import open_records
from router.store.recovery import Recovery
from router.store.registry import Registry
from router.store.settings import Place
from router.store.shared import RedisState
from router.store.writer import RegistryWriter
from router.upstream.pool import Pool
from router.upstream.routing import ALL, RouteTable

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
    journal: Journal
    recovery: Recovery
    policy: Policy
    intake: Intake
    outbound: Outbound
    inbound: Inbound
    reports: Reports
    pool: Pool
    book: ReceiptBook
    services: Services
    records: Writer | None = None
    handoff: Handoff | None = None
    """Receipts and MO for sessions bound to another router (with Redis)."""


def build_policy(config: Config, state: ServerState) -> Policy:
    """Accounts, ranges, lines and lists from the registry; the deciders built on them."""
    path = config.store.registry()
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
    billing = "billing" in config.policy.stages
    ledger = Ledger(config.store.journal()) if billing else None
    front = config.store.front_journal() if billing else None
    on_delivery = frozenset(a.system_id for a in config.accounts if a.charge_on == "delivery")
    shared = bool(config.redis.url)
    wallets = Wallets(on_delivery=on_delivery)
    if billing and not shared:  # with Redis, their stores' last reports still count
        for account, amount in retired_sums(config.store.retired_journals()).items():
            wallets.balances[account] += amount
    pipeline = Pipeline(rules, StageKit(config.policy, addresses, writer, usage=usage,
                                        wallets=wallets, ledger=ledger, shared=shared,
                                        front_ledger=Ledger(front) if front else None))
    limits_shared = _shared(config, registry, rules, pipeline, usage, auth) if shared else None
    log.info("lines_loaded", lines=len(rules.lines.by_number),
             blacklist=len(snapshot.blacklist), whitelists=len(snapshot.whitelists))
    mo = MoHandler(rules, addresses, config.policy, writer)
    return Policy(registry, lines, limits, writer, auth, rules, pipeline, mo, addresses,
                  limits_shared)


def _shared(config: Config, registry: Registry, rules: Rules, pipeline: Pipeline,
            usage: dict[tuple[str, str], int], auth: Authenticator) -> SharedLimits:
    """Buckets, quotas, balances and binds in Redis: the wallets hold only what they
    lease; the store is named by host and journal path, so a restarted process reports
    as itself."""
    store_id = _store_id(config)
    billing = next((s for s in pipeline.stages if isinstance(s, BillingStage)), None)
    if billing is not None:
        pipeline.wallets.share()
    state = RedisState(config.redis, store_id)
    shared = SharedLimits(config.redis, state, rules, pipeline.wallets if billing else None,
                          usage, [a.system_id for a in registry.accounts()])
    shared.throttle = next((s for s in pipeline.stages if isinstance(s, ThrottleStage)), None)
    shared.billing = billing
    shared.binds = auth.shared_binds = SharedBinds(state, config.redis.local_share,
                                                   config.redis.bind_ttl)
    log.info("limits_shared", redis=config.redis.url.rpartition("@")[2], store=store_id)
    return shared


def _store_id(config: Config) -> str:
    """This router in Redis: its host and journal, the same after a restart."""
    return f"{socket.gethostname()}:{Path(config.store.path).resolve()}"


def build(config: Config, slot: tuple[int, int] = (0, 1)) -> Parts:
    """Journal (and what the last run left), policy, the queues and the carrier pool;
    ``slot``: (index, count) of this process among ``--workers`` (its message ids)."""
    loop = asyncio.get_running_loop()
    state = ServerState()
    journal = open_journal(config)
    if isinstance(journal, SqliteJournal):  # the receipt queue's rows (SQLite only yet)
        journal.inbox.delay = config.dispatch.receipt_write_delay
    journal.start_checkpoints()
    recovery = journal.recover(config.dispatch.receipt_wait)
    book = ReceiptBook(per_message=frozenset(
        a.system_id for a in config.accounts if a.receipts == "per_message"))
    book.remember_many(recovery.delivered_to_carrier)
    book.closed(recovery.receipted)
    records = build_records(config, journal, book)
    policy = build_policy(config, state)
    settings = config.dispatch
    validity = {a.system_id: a.validity for a in config.accounts if a.validity > 0}
    outbound = Outbound(settings, state, loop.call_later, validity)
    wallets = policy.pipeline.wallets
    intake = Intake(journal, MessageIds(recovery.last_id, *slot), outbound, policy.pipeline.holds,
                    wallets)
    intake.give_back = policy.pipeline.give_back
    intake.rules = policy.rules
    policy.pipeline.restore(recovery.parts)
    policy.pipeline.reopen({m.id for m in recovery.pending if not m.receipt})
    limits = {a.system_id: a.receipt_queue_limit for a in config.accounts
              if a.receipt_queue_limit > 0}
    inbound = Inbound(settings.receipt_queue_limit, settings.max_attempts, loop.call_later,
                      journal.inbox, settings.receipt_ttl, limits)
    inbound.wake = intake.commit_soon
    intake.after_each_commit(inbound.on_committed)  # carriers' receipts answered when safe
    replayed = inbound.restore((q.key, q.account, q.at, q.body) for q in recovery.inbox)
    if replayed:
        log.info("receipts_replayed", queued=replayed, note="receipts and MO the last run "
                 "had not delivered to an ESME")
    reports = Reports(intake, outbound, inbound, book, policy.mo, wallets)
    outbound.attach_finals(reports)
    pool = Pool(outbound, reports)
    services = Services(Operations(outbound, intake, journal_reader(config.store.journal()),
                                   book, inbound),
                        Congestion.of(policy.pipeline, outbound, settings.queue_limit))
    # a Redis link of its own: a stale pooled connection it met after a Redis restart
    # would otherwise reach the limits' tick and tell of a second outage
    handoff = (Handoff(RedisState(config.redis, _store_id(config)), inbound,
                       config.redis.handoff_interval) if config.redis.url else None)
    return Parts(state, journal, recovery, policy, intake, outbound, inbound, reports, pool, book,
                 services, records, handoff)


def route_table(config: Config, policy: Policy, upstreams: list[str]) -> RouteTable:
    """The routing table on the upstreams the pool has (raises RouteError)."""
    addresses = policy.addresses
    rules = policy.rules

    def normalise(destination: str) -> str:
        number = addresses.number_of(destination, 0)
        return "" if number is None else str(number)

    operators = Operators.load(config.policy.prefix_folder())
    return RouteTable(config.routing, upstreams, dict(operators.prefixes()),
                      config.policy.timezone, lambda: rules.lines, normalise)


def apply_routes(config: Config, parts: Parts) -> RouteTable:
    """Groups to the pool, the table to the outbound queue (start and SIGHUP)."""
    table = route_table(config, parts.policy, list(parts.pool.upstreams))
    parts.pool.set_groups(config.routing)
    parts.outbound.set_routes(None if table.constant == ALL else table)
    return table


def open_journal(config: Config) -> Journal:
    """The journal the config names: SQLite (embedded default) or PostgreSQL."""
    store = config.store
    if store.backend == "postgres":
        return PgJournal(store.dsn, store.timeout, store.journal_schema)
    return SqliteJournal(Path(store.path), store.durability)


def journal_reader(place: Place) -> Reader:
    """What query_sm, cancel_sm and replace_sm read messages back from: the journal."""
    if isinstance(place, Path):
        return JournalReader(place)
    return PgReader(place)


def build_records(config: Config, journal: Journal, book: ReceiptBook) -> Writer | None:
    """The records follower (started with the router).  Receipts may still come for
    messages whose journal rows were compacted away: their carrier ids come from the
    records (the journal's recovery covers the rest)."""
    if not config.records.enabled:
        return None
    records = open_records(config.store, config.records)
    try:
        since = int((time.time() - config.dispatch.receipt_wait) * 1000) << 16
        book.remember_many(records.carrier_ids(since, journal.first_id()))
    finally:
        records.close()
    return Writer(config.store, config.records, config.log)


def admin_sources(config: Config, parts: Parts, reloader: Reloader,
                  routes: Callable[[], RouteTable | None]) -> Sources:
    """What the admin API reads and acts on (``routes``: the routing table in use)."""
    policy = parts.policy
    explainer = Explainer(policy.rules, policy.addresses, config.policy, policy.writer,
                          policy.registry, policy.pipeline, routes)
    folder = Path(config.store.registry_path).parent
    imports = ImportJobs(config.store.registry(), folder / "imports", config.policy,
                         policy.addresses.operators, config.admin.import_max_bytes)
    return Sources(parts.state, policy.registry, policy.auth, policy.rules, parts.intake,
                   parts.outbound, parts.inbound, parts.reports, parts.pool, explainer,
                   reloader, config.store.journal(), imports, routes, config.store,
                   config.records, folder / "exports")


def http_sources(config: Config, parts: Parts) -> HttpSources:
    """What the customers' HTTP API works with: the same pipeline, intake and wallets as
    the ESME connections."""
    policy = parts.policy
    pipeline = policy.pipeline
    registry = config.store.registry()
    keys = ApiKeys(ApiKeyStore(registry))
    sender = Sender(pipeline, parts.intake, policy.rules, policy.addresses)
    return HttpSources(config.http_api, policy.auth, keys, sender, pipeline.wallets,
                       "billing" in config.policy.stages, ClientRefStore(registry),
                       parts.services.operations)


def webhooks(config: Config, parts: Parts) -> Webhooks | None:
    """Receipts and MO of the accounts with ``deliver_via`` http or both go to their
    webhooks (routed now, before anything arrives; the senders start with the app)."""
    chosen = [Endpoint(a.system_id, a.deliver_via, a.webhook_url, a.webhook_secret)
              for a in config.accounts if a.deliver_via != "smpp"]
    if not chosen:
        return None
    return Webhooks(chosen, parts.inbound, config.dispatch.receipt_ttl)
