"""The per-message decision, a read batch at a time: line -> lists (content, throttle and
billing join here later).  Refusals are returned as data with one status and one reason
code each, from the table below; the caller answers them at once and records them.

Vendor statuses sit in 0x400-0x4FF (SMPP 3.4 "reserved for SMSC vendor specific
errors").  Accounts with ``status_style: standard`` get the closest standard status
instead: aiosmpplib and many panels cannot parse vendor codes (design §6).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from pyroaring import AbstractBitMap64

from router.config import PolicyConfig
from router.policy.lines import Line, LineBook
from router.policy.lists import ExpiringNumberSet, ListRegistry, ListSnapshot
from router.policy.numbers import Invalid, Operators, normalise
from router.smpp.pdu import CommandStatus, Tag, tlv_get
from router.smpp.session import Submit
from router.smpp.text import decode_text, parse_udh

S = CommandStatus


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str
    vendor: int
    standard: int
    text: str


# The one table of policy refusals; the README shows the same.
REFUSALS: dict[str, Refusal] = {r.reason: r for r in (
    Refusal("not_own_line", S.ESME_RINVSRCADR, S.ESME_RINVSRCADR,
            "source_addr is not a line of this account"),
    Refusal("invalid_destination", S.ESME_RINVDSTADR, S.ESME_RINVDSTADR,
            "destination is not a valid mobile number"),
    Refusal("line_suspended", 0x0401, S.ESME_RSUBMITFAIL, "the line is suspended"),
    Refusal("outside_hours", 0x0402, S.ESME_RSUBMITFAIL,
            "outside the line's allowed sending hours"),
    Refusal("not_in_whitelist", 0x0403, S.ESME_RINVDSTADR,
            "service line: destination is not a registered customer of the line"),
    Refusal("blacklisted", 0x0404, S.ESME_RINVDSTADR,
            "advertising line: destination is on the operator blacklist"),
    Refusal("opted_out", 0x0405, S.ESME_RINVDSTADR,
            "advertising line: destination opted out of this line"),
)}
_NOT_OWN = REFUSALS["not_own_line"]
_INVALID = REFUSALS["invalid_destination"]
_SUSPENDED = REFUSALS["line_suspended"]
_HOURS = REFUSALS["outside_hours"]
_NOT_CUSTOMER = REFUSALS["not_in_whitelist"]
_BLACKLISTED = REFUSALS["blacklisted"]
_OPTED_OUT = REFUSALS["opted_out"]
_ADVERTISING, _SERVICE, _EXEMPT = 1, 2, 3
# per source line in a batch: refusal for all | (line, rule kind, whitelist, opt-outs)
_Rule = tuple[Refusal | None, Line | None, int, ExpiringNumberSet | None,
              AbstractBitMap64 | None]


def status_for(refusal: Refusal, status_style: str) -> int:
    return refusal.standard if status_style == "standard" else refusal.vendor


def signature_of(text: str) -> str | None:
    """The 【…】 signature Chinese carriers require, at the start or the end of a text."""
    text = text.strip()
    if text.startswith("【"):
        end = text.find("】")
        return text[1:end] if end > 0 else None
    if text.endswith("】"):
        start = text.rfind("【")
        return text[start + 1:-1] if start >= 0 else None
    return None


class Violations:
    """Service-line sends to non-customers, counted per line over a sliding window."""

    def __init__(self, threshold: int, window: float) -> None:
        self.threshold = threshold
        self.window = window
        self._seen: dict[str, deque[float]] = {}
        self.pending: list[tuple[str, float, str]] = []
        """(line, at, destination) not yet written to the store."""

    def count(self, line: str, destination: str, now: float) -> bool:
        """Count one; True when the line has just reached the threshold."""
        self.pending.append((line, now, destination))
        seen = self._seen.setdefault(line, deque())
        seen.append(now)
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        if self.threshold and len(seen) >= self.threshold:
            seen.clear()
            return True
        return False

    def take_pending(self) -> list[tuple[str, float, str]]:
        pending, self.pending = self.pending, []
        return pending


class Pipeline:
    def __init__(self, lines: LineBook, lists: ListRegistry, config: PolicyConfig,
                 operators: Operators,
                 on_violation_threshold: Callable[[Line], None]) -> None:
        self.lines = lines
        self.lists = lists
        self._config = config
        self._operators = operators
        self._tz = ZoneInfo(config.timezone)
        self._country = config.default_country
        plan = operators.plans.get(config.default_country)
        # canonical mobile numbers of the home country, e.g. 98 + 9XXXXXXXXX
        self._e164_length = len(config.default_country) + (plan.nsn_length if plan else 0)
        self._heads = tuple(config.default_country + p for p in plan.nsn_prefixes) \
            if plan else ()
        self.violations = Violations(config.violations_threshold, config.violations_window)
        self._on_threshold = on_violation_threshold
        self._minute_cache = (0.0, 0)
        self._signed_cache: tuple[ListSnapshot | None, frozenset[str]] = (None, frozenset())

    def _minute_of_day(self, wall: float) -> int:
        at, minute = self._minute_cache
        if wall - at < 1.0:
            return minute
        local = datetime.fromtimestamp(wall, self._tz)
        minute = local.hour * 60 + local.minute
        self._minute_cache = (wall, minute)
        return minute

    def number_of(self, address: str, ton: int, npi: int | None = None) -> int | None:
        """An address as the lists' int key, or None when it is no mobile number."""
        if (len(address) == self._e164_length and address.startswith(self._heads)
                and address.isascii() and address.isdigit() and ton in (0, 1)
                and npi in (None, 0, 1)):
            return int(address)  # the common, canonical form: no need for the full parser
        result = normalise(address, default_country=self._country, ton=ton, npi=npi,
                           operators=self._operators)
        return None if isinstance(result, Invalid) else int(result.e164)

    def _line_rule(self, account: str, source: str, lists: ListSnapshot, minute: int
                   ) -> _Rule:
        """What a batch's messages from ``source`` are checked against: a refusal for all
        of them, or (rule, the whitelist or opt-out set to use)."""
        line = self.lines.by_number.get(source)
        if line is None or line.account != account:
            return _NOT_OWN, None, 0, None, None
        if line.status == "suspended":
            return _SUSPENDED, line, 0, None, None
        if line.hours is not None and not line.open_at(minute):
            return _HOURS, line, 0, None, None
        if line.effective_kind == "service":
            if line.exemption:
                return None, line, _EXEMPT, None, None
            return None, line, _SERVICE, lists.whitelists.get(line.number), None
        optouts = lists.optouts.get(line.number)
        return None, line, _ADVERTISING, None, optouts.bitmap if optouts else None

    def _signed_lines(self, lists: ListSnapshot) -> frozenset[str]:
        """Lines with per-signature opt-outs (Chinese traffic); cached per snapshot."""
        cached = self._signed_cache
        if cached[0] is not lists:
            cached = (lists, frozenset(line for line, _ in lists.signature_optouts))
            self._signed_cache = cached
        return cached[1]

    @staticmethod
    def _signature_opted_out(lists: ListSnapshot, line: str, submit: Submit,
                             number: int) -> bool:
        """Only for lines with signature opt-outs: decode the text, find its 【signature】."""
        sm = submit.decode()
        payload = tlv_get(sm.tlvs, Tag.MESSAGE_PAYLOAD) or sm.short_message
        if sm.esm_class & 0x40:
            payload = parse_udh(payload)[1]
        signature = signature_of(decode_text(payload, sm.data_coding))
        return signature is not None and lists.is_opted_out(line, number, signature)

    def decide(self, account: str, submits: list[Submit]
               ) -> tuple[list[Submit], list[tuple[Submit, Refusal]]]:
        """Split a read batch into accepted submits and refusals (one snapshot each).

        Line checks run once per distinct source in the batch, and canonical numbers
        skip the full parser: this runs for every message (~0.2 µs each here).
        """
        accepted: list[Submit] = []
        refused: list[tuple[Submit, Refusal]] = []
        lists = self.lists.snapshot()
        blacklist = lists.blacklist.bitmap
        wall = time.time()
        minute = self._minute_of_day(wall)
        keep = accepted.append
        refuse = refused.append
        rules: dict[str, _Rule] = {}
        signed_lines = self._signed_lines(lists)
        length, heads = self._e164_length, self._heads
        for submit in submits:
            source = submit.source_addr
            rule = rules.get(source)
            if rule is None:
                rule = rules[source] = self._line_rule(account, source, lists, minute)
            refusal, line, kind, whitelist, optouts = rule
            if refusal is not None:
                refuse((submit, refusal))
                continue
            address = submit.destination_addr
            # isascii() too: isdigit() is true for '²' and other digits int() refuses
            if (len(address) == length and address.startswith(heads) and address.isascii()
                    and address.isdigit() and submit.dest_addr_ton < 2
                    and submit.dest_addr_npi < 2):
                number = int(address)  # canonical: no need for the full parser
            else:
                parsed = self.number_of(address, submit.dest_addr_ton, submit.dest_addr_npi)
                if parsed is None:
                    refuse((submit, _INVALID))
                    continue
                number = parsed
            if kind == _ADVERTISING:
                if number in blacklist:
                    refuse((submit, _BLACKLISTED))
                elif (optouts is not None and number in optouts) or (
                        source in signed_lines
                        and self._signature_opted_out(lists, source, submit, number)):
                    refuse((submit, _OPTED_OUT))
                else:
                    keep(submit)
            elif kind == _EXEMPT or (whitelist is not None
                                     and whitelist.contains(number, wall)):
                keep(submit)
            else:
                refuse((submit, _NOT_CUSTOMER))
                assert line is not None
                if self.violations.count(line.number, address, wall):
                    self._on_threshold(line)
        return accepted, refused
