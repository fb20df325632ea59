"""The YAML configuration: typed, validated once at start, passed into constructors.

Every key is documented in ``config/chapar.example.yaml``.  Errors name the file, the
key path and what is wrong, e.g. ``chapar.yaml: upstreams[0].port: expected an
integer, got 'abc'``.  Nothing here reads the environment.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from router.admin.settings import AdminSettings
from router.dispatch.settings import DispatchSettings
from router.http_api.settings import HttpApiSettings
from router.logs import LogSettings
from router.model.lines import HoursError, parse_hours
from router.policy.pipeline import STAGES
from router.policy.settings import AccountSettings, AuthSettings, LineSettings, PolicySettings
from router.server.settings import ListenSettings, SmppSettings
from router.store.records.months import MIN_RETENTION_MONTHS
from router.store.records.settings import RecordSettings
from router.store.settings import RedisSettings, StoreSettings
from router.upstream.routing import RouteError, compile_rules
from router.upstream.settings import RoutingSettings, SimulatorSettings, UpstreamSettings


class ConfigError(Exception):
    """A configuration that cannot run; the message is meant for the operator."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    listen: ListenSettings = field(default_factory=ListenSettings)
    smpp: SmppSettings = field(default_factory=SmppSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    records: RecordSettings = field(default_factory=RecordSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    accounts: tuple[AccountSettings, ...] = ()
    lines: tuple[LineSettings, ...] = ()
    upstreams: tuple[UpstreamSettings, ...] = ()
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    simulator: SimulatorSettings = field(default_factory=SimulatorSettings)
    dispatch: DispatchSettings = field(default_factory=DispatchSettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    log: LogSettings = field(default_factory=LogSettings)
    admin: AdminSettings = field(default_factory=AdminSettings)
    http_api: HttpApiSettings = field(default_factory=HttpApiSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    embedded: bool = False
    """Built by ``embedded_default`` (``chapar run`` without ``--config``), never from a
    file: the one config that seeds the demo account.  A flag, not a comparison with
    what ``embedded_default`` builds: ``--workers`` gives each worker its own paths."""


DEMO_SYSTEM_ID = "demo"
DEMO_PASSWORD = "demo1234"
DEMO_LINE = "1000"


def embedded_default(demo_hash: str) -> Config:
    """No config file: the demo account, SQLite under ./var, the simulator in-process."""
    return Config(
        accounts=(AccountSettings(system_id=DEMO_SYSTEM_ID, password_hash=demo_hash, demo=True,
                                allowed_ips=("127.0.0.0/8", "::1"), domestic_exempt=True),),
        lines=(LineSettings(number=DEMO_LINE, account=DEMO_SYSTEM_ID, purpose="demo"),),
        simulator=SimulatorSettings(enabled=True),
        embedded=True,
    )


def load(path: Path) -> Config:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse(raw if raw is not None else {}, source=str(path))


def parse(raw: object, source: str = "config") -> Config:
    config: Config = _build(Config, raw, source, "")
    _check(config, source)
    return config


def _check(config: Config, source: str) -> None:
    """What one key's type cannot say: uniqueness, formats, relations between keys."""
    _check_accounts(config, source)
    _check_lines(config, source)
    _check_routes(config, source)
    _check_listener("admin", config.admin, source)
    _check_listener("http_api", config.http_api, source)
    if config.http_api.max_recipients < 1 or config.http_api.max_segments < 1:
        raise ConfigError(f"{source}: http_api.max_recipients and max_segments: at least 1")
    _check_tls(config, source)
    _check_records(config.records, source)
    _check_store(config, source)
    _check_redis(config.redis, source)
    if config.embedded:
        raise ConfigError(f"{source}: embedded: set by `chapar run` without --config, not "
                          "in a config file")


def _check_store(config: Config, source: str) -> None:
    store = config.store
    if store.front is not None or store.retired:
        raise ConfigError(f"{source}: store.front and store.retired are set by `chapar run` "
                          "for itself, not in a config file")
    if store.backend != "postgres":
        return
    if not store.dsn.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"{source}: store.dsn: backend postgres needs a DSN "
                          "(postgresql://user:password@host:port/database)")
    if store.journal_schema and not re.fullmatch(r"[a-z_][a-z0-9_]{0,50}",
                                                 store.journal_schema):
        raise ConfigError(f"{source}: store.journal_schema: {store.journal_schema!r} is not "
                          "a plain PostgreSQL name (lower-case letters, digits, _)")
    if store.journal_schema == "chapar" or re.search(r"_w[0-9]+$", store.journal_schema):
        raise ConfigError(f"{source}: store.journal_schema: {store.journal_schema!r} is "
                          "kept for `chapar run --workers` (worker I of a router with "
                          "journal_schema X journals in X_wI, of one with \"\" in chapar_wI): "
                          "another router naming it would share a worker's journal")


def _check_records(records: RecordSettings, source: str) -> None:
    if records.retention_months < MIN_RETENTION_MONTHS:
        raise ConfigError(f"{source}: records.retention_months: {records.retention_months} is "
                          f"below the legal minimum of {MIN_RETENTION_MONTHS} months (message "
                          "records must be kept at least six months)")
    if records.batch_rows < 1 or records.interval <= 0:
        raise ConfigError(f"{source}: records.batch_rows and records.interval must be > 0")
    if not 0 <= records.nice <= 19:
        raise ConfigError(f"{source}: records.nice: {records.nice} is not 0-19")


def _check_redis(redis: RedisSettings, source: str) -> None:
    if redis.url and not redis.url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{source}: redis.url: {redis.url!r} is not a redis://, rediss:// "
                          "or unix:// URL")
    if not 0.0 < redis.local_share <= 1.0:
        raise ConfigError(f"{source}: redis.local_share: a fraction above 0, at most 1")
    if min(redis.timeout, redis.sync_interval, redis.lease_seconds, redis.retry,
           redis.bind_ttl, redis.handoff_interval) <= 0:
        raise ConfigError(f"{source}: redis: timeout, sync_interval, lease_seconds, "
                          "retry, bind_ttl and handoff_interval must be above 0")
    if redis.money_lease < 1 or redis.quota_lease < 1:
        raise ConfigError(f"{source}: redis: money_lease and quota_lease must be >= 1")


def _check_tls(config: Config, source: str) -> None:
    """TLS files are named where TLS is asked for (their contents are read at start)."""
    listen = config.listen
    if listen.tls_port and not (listen.tls_cert and listen.tls_key):
        raise ConfigError(f"{source}: listen.tls_port: needs listen.tls_cert and "
                          "listen.tls_key")
    if not 0 <= listen.tls_port <= 65535 or (listen.tls_port and
                                             listen.tls_port == listen.port):
        raise ConfigError(f"{source}: listen.tls_port: 1 to 65535, not listen.port")
    for i, upstream in enumerate(config.upstreams):
        if upstream.tls_ca and not upstream.tls:
            raise ConfigError(f"{source}: upstreams[{i}].tls_ca: set tls: true to use it")


def _check_listener(name: str, settings: AdminSettings | HttpApiSettings,
                    source: str) -> None:
    """An HTTP listener off loopback only with TLS (tokens and keys cross the wire)."""
    try:
        loopback = ipaddress.ip_address(settings.host).is_loopback
    except ValueError:
        loopback = settings.host == "localhost"
    if settings.enabled and not loopback and not (settings.tls_cert and settings.tls_key):
        raise ConfigError(f"{source}: {name}.host: {settings.host!r} is not loopback: "
                          f"{name}.tls_cert and {name}.tls_key are required")
    if not 0 <= settings.port <= 65535:
        raise ConfigError(f"{source}: {name}.port: 0 to 65535")


def _check_accounts(config: Config, source: str) -> None:
    ids = [a.system_id for a in config.accounts]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{source}: accounts: system_id values must be unique")
    for i, account in enumerate(config.accounts):
        if not account.password_hash.startswith("$argon2id$"):
            raise ConfigError(f"{source}: accounts[{i}].password_hash: not an argon2id hash "
                              "(make one with `chapar hash-password`)")
        if not 0 < len(account.system_id) <= 15 or not account.system_id.isprintable():
            raise ConfigError(f"{source}: accounts[{i}].system_id: 1 to 15 printable "
                              "characters")
        _check_webhook(account, f"{source}: accounts[{i}]")
        for j, cidr in enumerate(account.allowed_ips):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ConfigError(f"{source}: accounts[{i}].allowed_ips[{j}]: {cidr!r} is not "
                                  "an IP address or CIDR") from None


def _check_webhook(account: AccountSettings, where: str) -> None:
    """Receipts by webhook need where to send them and the secret to sign them with."""
    if account.deliver_via == "smpp":
        return
    if not account.webhook_url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}.webhook_url: deliver_via {account.deliver_via} needs "
                          "an http:// or https:// URL")
    if len(account.webhook_secret) < 16:
        raise ConfigError(f"{where}.webhook_secret: at least 16 characters (the receipts "
                          "are signed with it: HMAC-SHA256)")


def _check_lines(config: Config, source: str) -> None:
    for i, line in enumerate(config.lines):
        if not line.number:
            raise ConfigError(f"{source}: lines[{i}].number: required")
        try:
            parse_hours(line.hours)
        except HoursError as exc:
            raise ConfigError(f"{source}: lines[{i}].hours: {exc}") from None
    stages = config.policy.stages
    for i, stage in enumerate(stages):
        if stage not in STAGES:
            raise ConfigError(f"{source}: policy.stages[{i}]: unknown stage {stage!r} "
                              f"(known: {', '.join(STAGES)})")
    if "billing" in stages and stages[-1] != "billing":
        raise ConfigError(f"{source}: policy.stages: billing must be the last stage "
                          "(what it reserves is what is journalled)")


def _check_routes(config: Config, source: str) -> None:
    names = [u.name for u in config.upstreams]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: upstreams: names must be unique")
    if not config.upstreams and not config.simulator.enabled:
        raise ConfigError(f"{source}: no upstreams and the simulator is off: "
                          "nowhere to send messages")
    for i, u in enumerate(config.upstreams):
        if u.connections < 1 or u.window < 1:
            raise ConfigError(f"{source}: upstreams[{i}]: connections and window must be >= 1")
    if not 0.0 <= config.simulator.failure_ratio <= 1.0:
        raise ConfigError(f"{source}: simulator.failure_ratio: between 0 and 1")
    upstreams = set(names) | ({"simulator"} if config.simulator.enabled else set())
    try:  # (operator names are checked against the prefix tables when the router starts)
        compile_rules(config.routing, upstreams, set())
    except RouteError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _build(cls: type[Any], raw: object, source: str, path: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {path or 'top level'}: expected a mapping, "
                          f"got {_show(raw)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{source}: {path + '.' if path else ''}{unknown[0]}: unknown key "
                          f"(known: {', '.join(sorted(fields))})")
    values = {}
    for name, f in fields.items():
        key = f"{path}.{name}" if path else name
        if name in raw:
            values[name] = _value(hints[name], raw[name], source, key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{source}: {key}: required")
    return cls(**values)


def _value(hint: Any, raw: object, source: str, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(typing.cast(type[Any], hint), raw, source, key)
    if origin is Literal:
        if raw not in args:
            raise ConfigError(f"{source}: {key}: must be one of "
                              f"{', '.join(map(str, args))}, got {_show(raw)}")
        return raw
    if origin is tuple:
        if not isinstance(raw, list):
            raise ConfigError(f"{source}: {key}: expected a list, got {_show(raw)}")
        return tuple(_value(args[0], item, source, f"{key}[{i}]") for i, item in enumerate(raw))
    if origin in (types.UnionType, typing.Union):
        if raw is None and type(None) in args:
            return None
        return _value(next(a for a in args if a is not type(None)), raw, source, key)
    if hint in _SCALARS:
        return _scalar(hint, raw, source, key)
    raise ConfigError(f"{source}: {key}: unsupported type {hint}")  # a schema bug


def _is_number(raw: object) -> bool:
    return isinstance(raw, int | float) and not isinstance(raw, bool)


# type -> (what the operator must write, accepts, converts)
_SCALARS: dict[type, tuple[str, Callable[[object], bool], Callable[[Any], object]]] = {
    bool: ("true or false", lambda raw: isinstance(raw, bool), bool),
    int: ("an integer", lambda raw: _is_number(raw) and isinstance(raw, int), int),
    float: ("a number", _is_number, float),
    str: ("a string", lambda raw: isinstance(raw, str) or (_is_number(raw) and
          isinstance(raw, int)), str),
}


def _scalar(hint: type, raw: object, source: str, key: str) -> object:
    expected, accepts, convert = _SCALARS[hint]
    if not accepts(raw):
        raise ConfigError(f"{source}: {key}: expected {expected}, got {_show(raw)}")
    if hint in (int, float) and typing.cast(float, raw) < 0:
        raise ConfigError(f"{source}: {key}: must not be negative")
    return convert(raw)


def _show(raw: object) -> str:
    return "nothing" if raw is None else repr(raw)
