"""China's traffic rules for texts in Chinese (seed 004, domain.md §(c); issue 13 item 4),
the ``chinese`` stage:

- a 【signature】 at the start or the end of the text, required (``signature_required``)
  and, with ``registered_only``, one the account registered (``signatures``);
- a marketing text (sent from an advertising line, or a demoted service line) must end
  with an opt-out suffix (回T退订, or ``optout_suffixes``);
- marketing texts only within the destination operator's sending window
  (``marketing_windows``, local time in ``timezone``; 08:00-22:00 by default).

A text is Chinese when it holds a CJK ideograph.  The parts of a long message are
checked where each rule looks: the signature in the first part, the suffix in the last;
the window in every part.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from router.model.lines import parse_hours, within
from router.model.status import REFUSALS, Refusal
from router.policy.addresses import Addresses
from router.policy.content.assembly import concat_of
from router.policy.content.stage import sm_text
from router.policy.settings import ChineseSettings
from router.policy.stage import Refused, Snapshot
from router.smpp.session import Submit

_CJK = re.compile("[\u3400-\u9fff]")
_SIGNATURE = re.compile(r"^\s*【([^【】]{1,20})】|【([^【】]{1,20})】\s*$")


def signature_of(text: str) -> str | None:
    """The 【signature】 at the start (or else at the end) of a text."""
    match = _SIGNATURE.search(text)
    if match is None:
        return None
    return (match.group(1) or match.group(2)).strip()


class ChineseStage:
    name = "chinese"

    def __init__(self, settings: ChineseSettings, addresses: Addresses) -> None:
        self._settings = settings
        self._addresses = addresses
        self._signatures = {s.account: frozenset(x.strip() for x in s.signatures)
                            for s in settings.signatures}
        self._windows: dict[str, tuple[int, int] | None] = {
            w.operator: parse_hours(w.hours) for w in settings.marketing_windows}
        self._zone = ZoneInfo(settings.timezone)

    def decide(self, submits: list[Submit], snapshot: Snapshot
               ) -> tuple[list[Submit], Refused]:
        accepted: list[Submit] = []
        refused: Refused = []
        minute: int | None = None
        for submit in submits:
            sm = submit.decode()
            text = sm_text(sm)
            if not _CJK.search(text):
                accepted.append(submit)
                continue
            concat = concat_of(sm)
            first = concat is None or concat.seq == 1
            last = concat is None or concat.seq == concat.total
            line = snapshot.lines.get(submit.source_addr)
            marketing = line is not None and line.effective_kind == "advertising"
            if marketing and minute is None:
                local = datetime.fromtimestamp(snapshot.wall, self._zone)
                minute = local.hour * 60 + local.minute
            reason = self._check(snapshot.account, text, first, last,
                                 submit if marketing else None, minute)
            if reason is None:
                accepted.append(submit)
            else:
                refused.append((submit, reason))
        return accepted, refused

    def _check(self, account: str, text: str, first: bool, last: bool,
               marketing: Submit | None, minute: int | None) -> Refusal | None:
        settings = self._settings
        if first and settings.signature_required:
            signature = signature_of(text)
            if signature is None:
                return REFUSALS["signature_missing"]
            if settings.registered_only and signature not in self._signatures.get(
                    account, frozenset()):
                return REFUSALS["signature_unregistered"]
        if marketing is None:
            return None
        if last and settings.optout_suffixes and not self._ends_with_optout(text):
            return REFUSALS["optout_missing"]
        if minute is not None and not self._in_window(marketing, minute):
            return REFUSALS["outside_marketing_window"]
        return None

    def _ends_with_optout(self, text: str) -> bool:
        body = _SIGNATURE.sub("", text).rstrip(" 。.!！\n")  # a signature may close the text
        return body.endswith(self._settings.optout_suffixes)

    def _in_window(self, submit: Submit, minute: int) -> bool:
        operator = self._addresses.operator_of(submit.destination_addr,
                                               submit.dest_addr_ton, submit.dest_addr_npi)
        windows = self._windows
        return within(windows.get(operator or "", windows.get("")), minute)

    def flush(self) -> None:
        """Nothing counted: refusals are recorded by the intake."""
