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

from router.config import PolicyConfig
from router.policy.lines import Line, LineBook
from router.policy.lists import ListRegistry
from router.policy.numbers import Invalid, Operators, normalise
from router.smpp.pdu import CommandStatus
from router.smpp.session import Submit

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


def status_for(refusal: Refusal, status_style: str) -> int:
    return refusal.standard if status_style == "standard" else refusal.vendor


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

    def _minute_of_day(self, wall: float) -> int:
        at, minute = self._minute_cache
        if wall - at < 1.0:
            return minute
        local = datetime.fromtimestamp(wall, self._tz)
        minute = local.hour * 60 + local.minute
        self._minute_cache = (wall, minute)
        return minute

    def number_of(self, address: str, ton: int) -> int | None:
        """The destination as the lists' int key, or None when it is no mobile number."""
        if (len(address) == self._e164_length and address.startswith(self._heads)
                and address.isdigit() and ton in (0, 1)):
            return int(address)  # the common, canonical form: no need for the full parser
        result = normalise(address, default_country=self._country, ton=ton,
                           operators=self._operators)
        return None if isinstance(result, Invalid) else int(result.e164)

    def decide(self, account: str, submits: list[Submit]
               ) -> tuple[list[Submit], list[tuple[Submit, Refusal]]]:
        """Split a read batch into accepted submits and refusals (one snapshot each)."""
        accepted: list[Submit] = []
        refused: list[tuple[Submit, Refusal]] = []
        book = self.lines.by_number
        lists = self.lists.snapshot()
        wall = time.time()
        minute = self._minute_of_day(wall)
        keep = accepted.append
        refuse = refused.append
        for submit in submits:
            line = book.get(submit.source_addr)
            if line is None or line.account != account:
                refuse((submit, _NOT_OWN))
                continue
            if line.status == "suspended":
                refuse((submit, _SUSPENDED))
                continue
            if line.hours is not None and not line.open_at(minute):
                refuse((submit, _HOURS))
                continue
            number = self.number_of(submit.destination_addr, submit.dest_addr_ton)
            if number is None:
                refuse((submit, _INVALID))
                continue
            if line.status != "demoted" and line.kind == "service":
                if line.exemption or lists.in_whitelist(line.number, number, wall):
                    keep(submit)
                    continue
                refuse((submit, _NOT_CUSTOMER))
                if self.violations.count(line.number, submit.destination_addr, wall):
                    self._on_threshold(line)
                continue
            if lists.is_blacklisted(number):
                refuse((submit, _BLACKLISTED))
            elif lists.is_opted_out(line.number, number):
                refuse((submit, _OPTED_OUT))
            else:
                keep(submit)
        return accepted, refused
