"""The YAML configuration: typed, validated once at start, passed into constructors.

Every key is documented in ``config/chapar.example.yaml``.  Errors name the file, the
key path and what is wrong, e.g. ``chapar.yaml: upstreams[0].port: expected an
integer, got 'abc'``.  Nothing here reads the environment.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from router.model.lines import HoursError, parse_hours

BindType = Literal["tx", "rx", "trx"]


class ConfigError(Exception):
    """A configuration that cannot run; the message is meant for the operator."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenConfig:
    host: str = "127.0.0.1"
    """One address, or several separated by commas (e.g. ``127.0.0.1,::1``)."""
    port: int = 2775


@dataclass(frozen=True, slots=True, kw_only=True)
class SmppConfig:
    """Limits and timers of ESME-facing sessions (seconds; 0 turns a timer off)."""

    max_pdu_length: int = 65536
    max_connections: int = 4096
    """Open ESME connections at most; more are closed at once (memory stays bounded)."""
    window: int = 64
    inbound_window: int = 1024
    session_init_timeout: float = 30.0
    enquire_link_interval: float = 30.0
    inactivity_timeout: float = 300.0
    response_timeout: float = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreConfig:
    path: str = "./var/chapar.db"
    durability: Literal["process", "power"] = "process"
    registry_path: str = "./var/registry.db"


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountConfig:
    system_id: str
    password_hash: str
    bind_types: tuple[BindType, ...] = ("tx", "rx", "trx")
    max_binds: int = 0
    allowed_ips: tuple[str, ...] = ()
    domestic_exempt: bool = False
    status_style: Literal["vendor", "standard"] = "vendor"
    demo: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class LineConfig:
    """A line seeded into the registry at start when missing (the registry then rules)."""

    number: str
    account: str
    kind: Literal["service", "advertising"] = "advertising"
    exemption: Literal["", "bank_transaction", "government"] = ""
    purpose: str = ""
    operator: str = ""
    hours: str = ""
    """Allowed sending window, HH:MM-HH:MM in policy.timezone; empty = any time."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthConfig:
    uniform_bind_failure: bool = True
    """Answer ESME_RBINDFAIL for both unknown system_id and wrong password."""
    hash_workers: int = 1
    hash_nice: int = 10
    """Linux nice value of the hash threads (0-19): higher leaves more CPU to traffic."""
    verify_cache_ttl: float = 60.0
    lockout_failures: int = 5
    lockout_window: float = 300.0
    lockout_period: float = 900.0
    countries: tuple[str, ...] = ("IR",)
    """Country codes taken from RIR files by `chapar ranges import`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamConfig:
    name: str
    host: str = "127.0.0.1"
    port: int = 2776
    system_id: str = "chapar"
    password: str = ""
    system_type: str = ""
    bind: Literal["tx", "trx"] = "trx"
    connections: int = 1
    window: int = 64
    enquire_link_interval: float = 30.0
    response_timeout: float = 30.0
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatorConfig:
    """The built-in carrier simulator, run in-process as the upstream."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 0
    receipt_delay: float = 0.2
    failure_ratio: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchConfig:
    queue_limit: int = 50000
    """Messages accepted but not yet handed to a carrier; above it ESMEs are paused."""
    retry_delay: float = 5.0
    max_attempts: int = 10
    receipt_queue_limit: int = 100000
    receipt_wait: float = 3 * 86400.0
    """How long after a carrier accepted a message its receipt is still expected (the id
    map rebuilt at start covers this window)."""
    shutdown_timeout: float = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyConfig:
    """Per-message rules: numbers, lines, lists."""

    default_country: str = "98"
    """Country code for national numbers (09…) in submits and list files."""
    prefixes_dir: str = "config/prefixes"
    """Numbering plans and operator prefixes (*.yaml), relative to the working directory."""
    timezone: str = "Asia/Tehran"
    """Local time for line sending hours and whitelist expiry dates."""
    optout_keywords: tuple[str, ...] = ("11", "لغو", "لغو11", "T", "TD", "退订")
    """MO texts (normalised: digits folded, spaces removed) that opt a sender out of a line."""
    optin_keywords: tuple[str, ...] = ("12",)
    violations_threshold: int = 20
    """Service-line sends to non-customers within violations_window before the action."""
    violations_window: float = 86400.0
    violations_action: Literal["demote", "suspend"] = "demote"

    def prefix_folder(self) -> Path:
        """``prefixes_dir`` as configured (relative to the working directory), else the
        copy beside the package in a source checkout, so commands work from anywhere."""
        path = Path(self.prefixes_dir)
        if path.is_dir() or path.is_absolute():
            return path
        beside = Path(__file__).resolve().parent.parent / self.prefixes_dir
        return beside if beside.is_dir() else path


@dataclass(frozen=True, slots=True, kw_only=True)
class LogConfig:
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    listen: ListenConfig = field(default_factory=ListenConfig)
    smpp: SmppConfig = field(default_factory=SmppConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    accounts: tuple[AccountConfig, ...] = ()
    lines: tuple[LineConfig, ...] = ()
    upstreams: tuple[UpstreamConfig, ...] = ()
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    dispatch: DispatchConfig = field(default_factory=DispatchConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    log: LogConfig = field(default_factory=LogConfig)


DEMO_SYSTEM_ID = "demo"
DEMO_PASSWORD = "demo1234"
DEMO_LINE = "1000"


def embedded_default(demo_hash: str) -> Config:
    """No config file: the demo account, SQLite under ./var, the simulator in-process."""
    return Config(
        accounts=(AccountConfig(system_id=DEMO_SYSTEM_ID, password_hash=demo_hash, demo=True,
                                allowed_ips=("127.0.0.0/8", "::1"), domestic_exempt=True),),
        lines=(LineConfig(number=DEMO_LINE, account=DEMO_SYSTEM_ID, purpose="demo"),),
        simulator=SimulatorConfig(enabled=True),
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
    names = [u.name for u in config.upstreams]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: upstreams: names must be unique")
    ids = [a.system_id for a in config.accounts]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{source}: accounts: system_id values must be unique")
    for i, account in enumerate(config.accounts):
        if not account.password_hash.startswith("$argon2id$"):
            raise ConfigError(f"{source}: accounts[{i}].password_hash: not an argon2id hash "
                              "(make one with `chapar hash-password`)")
        if not 0 < len(account.system_id) <= 15:
            raise ConfigError(f"{source}: accounts[{i}].system_id: 1 to 15 characters")
        for j, cidr in enumerate(account.allowed_ips):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ConfigError(f"{source}: accounts[{i}].allowed_ips[{j}]: {cidr!r} is not "
                                  "an IP address or CIDR") from None
    for i, line in enumerate(config.lines):
        if not line.number:
            raise ConfigError(f"{source}: lines[{i}].number: required")
        try:
            parse_hours(line.hours)
        except HoursError as exc:
            raise ConfigError(f"{source}: lines[{i}].hours: {exc}") from None
    if not config.upstreams and not config.simulator.enabled:
        raise ConfigError(f"{source}: no upstreams and the simulator is off: "
                          "nowhere to send messages")
    for i, u in enumerate(config.upstreams):
        if u.connections < 1 or u.window < 1:
            raise ConfigError(f"{source}: upstreams[{i}]: connections and window must be >= 1")
    if not 0.0 <= config.simulator.failure_ratio <= 1.0:
        raise ConfigError(f"{source}: simulator.failure_ratio: between 0 and 1")


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
    if hint is bool:
        if not isinstance(raw, bool):
            raise ConfigError(f"{source}: {key}: expected true or false, got {_show(raw)}")
        return raw
    if hint is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ConfigError(f"{source}: {key}: expected an integer, got {_show(raw)}")
        if raw < 0:
            raise ConfigError(f"{source}: {key}: must not be negative")
        return raw
    if hint is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ConfigError(f"{source}: {key}: expected a number, got {_show(raw)}")
        if raw < 0:
            raise ConfigError(f"{source}: {key}: must not be negative")
        return float(raw)
    if hint is str:
        if not isinstance(raw, str | int) or isinstance(raw, bool):
            raise ConfigError(f"{source}: {key}: expected a string, got {_show(raw)}")
        return str(raw)
    raise ConfigError(f"{source}: {key}: unsupported type {hint}")  # a schema bug


def _show(raw: object) -> str:
    return "nothing" if raw is None else repr(raw)
