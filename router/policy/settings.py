"""Who may bind (accounts, auth) and what a message must satisfy (lines, lists, numbers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

BindType = Literal["tx", "rx", "trx"]


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorLimitSettings:
    """A rate limit for one account towards one operator (prefix tables' names)."""

    operator: str
    rate: float = 0.0
    burst: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceSettings:
    """Price of one segment for a line kind and an operator ("" = any)."""

    price: int
    kind: str = ""
    operator: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountSettings:
    system_id: str
    password_hash: str
    bind_types: tuple[BindType, ...] = ("tx", "rx", "trx")
    max_binds: int = 0
    id_lockout: bool = True
    """Failed binds lock the system_id out as well as the source address (README,
    "Who may bind"); false: only the address is locked."""
    allowed_ips: tuple[str, ...] = ()
    domestic_exempt: bool = False
    status_style: Literal["vendor", "standard"] = "standard"
    demo: bool = False
    rate: float = 0.0
    """Submits per second (throttle stage); 0 = no limit.  Seeds the registry."""
    burst: int = 0
    """Token bucket size; 0 = one second's worth."""
    daily: int = 0
    """Segments per local day; 0 = no quota."""
    monthly: int = 0
    operator_limits: tuple[OperatorLimitSettings, ...] = ()
    charge_on: Literal["accept", "delivery"] = "accept"
    """Prepaid: the reservation is charged on carrier acceptance or on DELIVRD."""
    receipt_queue_limit: int = 0
    """Receipts and MO queued for this account's RX/TRX sessions; 0 = dispatch's."""
    receipts: Literal["per_part", "per_message"] = "per_part"
    """A long message sent in parts: a receipt per part, or one (part 1's id) when the
    last part's final receipt comes."""
    validity: float = 0.0
    """Seconds its messages without a validity_period of their own are tried before
    they end EXPIRED; 0 = ``dispatch.validity``."""
    deliver_via: Literal["smpp", "http", "both"] = "smpp"
    """Where its receipts and MO go: its RX/TRX sessions, its webhook, or both."""
    webhook_url: str = ""
    webhook_secret: str = field(default="", repr=False)
    """Signs every webhook body (HMAC-SHA256): the receiver checks it came from us."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LineSettings:
    """A line seeded into the registry at start when missing (the registry then rules)."""

    number: str
    account: str
    kind: Literal["service", "advertising"] = "advertising"
    exemption: Literal["", "bank_transaction", "government"] = ""
    purpose: str = ""
    operator: str = ""
    hours: str = ""
    """Allowed sending window, HH:MM-HH:MM in policy.timezone; empty = any time."""
    rate: float = 0.0
    """Submits per second from this line (throttle stage); 0 = no limit."""
    burst: int = 0
    priority: bool = False
    """Its messages go to the carriers in the priority lane (OTP lines)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthSettings:
    uniform_bind_failure: bool = True
    """Answer ESME_RBINDFAIL for both unknown system_id and wrong password."""
    hash_workers: int = 1
    hash_nice: int = 10
    """Linux nice value of the hash threads (0-19): higher leaves more CPU to traffic."""
    verify_cache_ttl: float = 60.0
    lockout_failures: int = 5
    lockout_window: float = 5 * 60.0
    lockout_period: float = 15 * 60.0
    countries: tuple[str, ...] = ("IR",)
    """Country codes taken from RIR files by `chapar ranges import`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SignatureSettings:
    """Chinese rules: an account's messages must open with one of its signatures."""

    signatures: tuple[str, ...]
    """The account's registered 【signatures】 (without the brackets)."""
    account: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketingWindow:
    operator: str = ""
    """Destination operator as named in prefixes_dir; "" for every operator not listed."""
    hours: str = "08:00-22:00"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChineseSettings:
    """China's traffic rules (seed 004, domain.md §(c)) for texts in Chinese: the
    ``chinese`` stage."""

    signature_required: bool = True
    signatures: tuple[SignatureSettings, ...] = ()
    registered_only: bool = True
    """A signature must be one the account registered (an account with none registered
    can send no Chinese text); false: any 【…】 will do."""
    optout_suffixes: tuple[str, ...] = ("回T退订",)
    """A marketing (advertising-line) text must end with one of these."""
    marketing_windows: tuple[MarketingWindow, ...] = (MarketingWindow(),)
    """When marketing texts may be sent, per destination operator (HH:MM-HH:MM)."""
    timezone: str = "Asia/Shanghai"


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicySettings:
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
    content_dir: str = "config/content"
    """Content rules, one YAML file per category (README "Content filter"); reloaded when
    a file changes, a bad file refused and the old rules kept."""
    content_normalise: tuple[str, ...] = (
        "nfkc", "zero_width", "tatweel", "diacritics", "letters", "digits", "chinese",
        "confusables", "casefold", "spread", "repeats")
    """Normalisation steps before matching (router/policy/content/normalise.py)."""
    content_assembly_timeout: float = 60.0
    """Seconds the parts of a concatenated message wait for the rest; then the message
    is judged on the parts that came."""
    content_assembly_bytes: int = 8 * 1024 * 1024
    """Payload bytes the waiting parts may hold in all; past it the oldest message is
    judged early on what came."""
    chinese: ChineseSettings = ChineseSettings()
    prices: tuple[PriceSettings, ...] = ()
    """Billing stage: price per segment by (line kind, operator), in the ledger's unit."""
    default_price: int = 0
    """Price per segment when no entry of ``prices`` matches."""
    stages: tuple[str, ...] = ("lines",)
    """Policy stages each submit passes, in order (router/policy/pipeline.py STAGES)."""

    def content_folder(self) -> Path:
        return self._beside(self.content_dir)

    def prefix_folder(self) -> Path:
        """``prefixes_dir`` as configured (relative to the working directory), else the
        copy beside the package in a source checkout, so commands work from anywhere."""
        return self._beside(self.prefixes_dir)

    @staticmethod
    def _beside(folder: str) -> Path:
        path = Path(folder)
        if path.is_dir() or path.is_absolute():
            return path
        beside = Path(__file__).resolve().parents[2] / folder
        return beside if beside.is_dir() else path
