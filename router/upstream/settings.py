"""Carrier connections and the built-in simulator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from router.smpp.session import SessionConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamSettings(SessionConfig):
    """One carrier: where, who we bind as, how many connections; plus the core's
    session limits and timers, with the defaults a client side wants."""

    name: str
    host: str = "127.0.0.1"
    port: int = 2776
    system_id: str = "chapar"
    password: str = field(default="", repr=False)
    system_type: str = ""
    bind: Literal["tx", "trx"] = "trx"
    connections: int = 1
    tls: bool = False
    """Connect over TLS (1.2 or 1.3), verifying the carrier's certificate."""
    tls_ca: str = ""
    """PEM file of the CA(s) that sign the carrier's certificate; empty = the system's."""
    tls_server_name: str = ""
    """The name its certificate must carry; empty = ``host``."""
    response_timeout: float = 10.0
    """After it an unanswered submit_sm is late, not lost: the session keeps it (its
    answer still counts) and checks the carrier with an enquire_link at once; only a
    session that ends sends it again."""
    enquire_link_interval: float = 15.0
    inbound_window: int = 16384
    """A carrier's deliver_sm held unanswered at most (then ESME_RMSGQFUL): each is
    answered once what it brought is safe (an ESME took it, or a commit stored it), so at
    80 k receipts/s an ESME answering 10 ms late holds 800; 1,024 turned some away."""
    inactivity_timeout: float = 0.0
    """A carrier may stay silent while we have nothing to send: enquire_link keeps the
    session checked instead."""
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    throttle_min_rate: float = 1.0
    """Messages per second a congested connection slows down to at most (the floor)."""
    throttle_recovery: float = 10.0
    """Seconds without a congestion answer after which the pace limit is lifted."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatorSettings:
    """The built-in carrier simulator, run in-process as the upstream."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 0
    receipt_delay: float = 0.2
    failure_ratio: float = 0.0
    system_id: str = ""
    password: str = field(default="", repr=False)
    """Credentials a carrier must bind with; empty = any."""
    record: str = ""
    """A file to append one JSON line per accepted message to; empty = none."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupSettings:
    """Upstreams that share a route, and how a message picks one of them."""

    name: str
    upstreams: tuple[str, ...]
    strategy: Literal["failover", "round_robin", "weighted"] = "failover"
    """failover: the first upstream that is up takes everything, the next only while
    it is down; round_robin: every upstream up, each as its windows allow; weighted:
    shares by ``weights`` (one per upstream)."""
    weights: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountGroupSettings:
    """A name for a set of accounts (resellers, banks), for rules to use."""

    name: str
    accounts: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSettings:
    """One routing rule: every condition given must hold (an empty one holds always);
    the first rule that holds names the message's upstream group."""

    group: str
    name: str = ""
    accounts: tuple[str, ...] = ()
    account_groups: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    """source_addr as the ESME sends it (the line number)."""
    line_kinds: tuple[Literal["service", "advertising"], ...] = ()
    prefixes: tuple[str, ...] = ()
    """Destination prefixes, E.164 digits without "+" (``98912``)."""
    operators: tuple[str, ...] = ()
    """Destination operators as named in the prefix tables (``IR-MCI``)."""
    hours: str = ""
    """``HH:MM-HH:MM`` in ``policy.timezone``; empty = any time."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingSettings:
    """The routing table.  Without rules every message goes to ``default_group``, or
    (none named) to all upstreams round-robin, as before routing existed."""

    groups: tuple[GroupSettings, ...] = ()
    account_groups: tuple[AccountGroupSettings, ...] = ()
    rules: tuple[RuleSettings, ...] = ()
    default_group: str = ""
    """Where a message no rule matches goes; empty = all upstreams, round-robin."""
