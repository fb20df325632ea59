"""The line stage: is the source a line of this account, may it send now, and may it
reach this destination (requirements §2)?

A line's rules and its lists belong together, so they are one stage and one pass: a
service line reaches only its whitelist (unless exempt); an advertising line reaches
anyone but the operator blacklist and its opt-outs (per 【signature】 where the line
has them).  Line rules are worked out once per distinct source in a batch, and
canonical numbers skip the full parser: this runs for every message (~0.2 µs each).
Service-line sends to non-customers are counted; at the threshold the line is demoted
or suspended through the registry writer, like any operator change.
"""

from __future__ import annotations

import time
from collections import deque
from datetime import datetime
from zoneinfo import ZoneInfo

import structlog
from pyroaring import AbstractBitMap64

from router.model.lines import Line
from router.model.numbersets import ExpiringNumberSet, ListSnapshot
from router.model.status import REFUSALS, Refusal
from router.policy.addresses import Addresses
from router.policy.settings import PolicySettings
from router.policy.stage import Refused, Snapshot
from router.smpp.pdu import Tag, tlv_get
from router.smpp.segments import parse_udh
from router.smpp.session import Submit
from router.smpp.text import decode_text
from router.store.writer import RegistryWriter

log = structlog.get_logger("chapar.policy")

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
PURGE_EVERY = 3600.0  # seconds between purges of violations older than their window


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


class LineStage:
    name = "lines"

    def __init__(self, settings: PolicySettings, addresses: Addresses,
                 writer: RegistryWriter) -> None:
        self._settings = settings
        self._addresses = addresses
        self._writer = writer
        self._tz = ZoneInfo(settings.timezone)
        self.violations = Violations(settings.violations_threshold,
                                     settings.violations_window)
        self._purged_at = 0.0
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

    @staticmethod
    def _line_rule(account: str, line: Line | None, lists: ListSnapshot, minute: int
                   ) -> _Rule:
        """What a batch's messages from one source are checked against: a refusal for
        all of them, or (rule, the whitelist or opt-out set to use)."""
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

    def decide(self, submits: list[Submit], snapshot: Snapshot
               ) -> tuple[list[Submit], Refused]:
        accepted: list[Submit] = []
        refused: Refused = []
        lists = snapshot.lists
        blacklist = lists.blacklist.bitmap
        wall = snapshot.wall
        minute = self._minute_of_day(wall)
        keep = accepted.append
        refuse = refused.append
        rules: dict[str, _Rule] = {}
        by_number = snapshot.lines.by_number
        account = snapshot.account
        signed_lines = self._signed_lines(lists)
        addresses = self._addresses
        length, heads = addresses.e164_length, addresses.heads
        canonical = True
        for submit in submits:
            source = submit.source_addr
            rule = rules.get(source)
            if rule is None:
                rule = rules[source] = self._line_rule(
                    account, by_number.get(source), lists, minute)
            refusal, line, kind, whitelist, optouts = rule
            if refusal is not None:
                refuse((submit, refusal))
                continue
            address = submit.destination_addr
            if (len(address) == length and address.startswith(heads) and address.isascii()
                    and address.isdigit() and submit.dest_addr_ton < 2
                    and submit.dest_addr_npi < 2):
                number = int(address)  # canonical: no need for the full parser
            else:
                canonical = False
                parsed = addresses.number_of(address, submit.dest_addr_ton,
                                             submit.dest_addr_npi)
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
                    self._act_on_violations(line)
        # the later stages need not look again at what this loop saw
        snapshot.facts.known(accepted, next(iter(rules)) if len(rules) == 1 else None,
                             canonical)
        return accepted, refused

    def _act_on_violations(self, line: Line) -> None:
        """A service line reached the violations threshold: demote or suspend it (the
        registry watcher then applies the change, like any operator change)."""
        settings = self._settings
        status = "demoted" if settings.violations_action == "demote" else "suspended"
        reason = (f"{settings.violations_threshold} sends to non-customers within "
                  f"{settings.violations_window:g} s")
        log.warning("line_" + status, line=line.number, account=line.account, reason=reason)
        self._writer.submit(f"{status} line {line.number}", lambda s: s.lines.update_line(
            line.number, status=status, status_reason=reason))

    def flush(self) -> None:
        pending = self.violations.take_pending()
        if pending:
            self._writer.submit("violations", lambda s: s.lines.record_violations(pending))
        now = time.time()
        if now - self._purged_at >= PURGE_EVERY:
            self._purged_at = now
            before = now - self._settings.violations_window
            self._writer.submit("violations purge",
                                lambda s: s.lines.purge_violations(before))
