"""The content stage (requirements §3, issue 13): decode every submit, normalise, match
the category rules, act: **reject** (a refusal from the status table, recorded with its
category), **quarantine** (accepted, journalled and answered ESME_ROK, held from the
carriers until an operator decides), **flag** (sent, counted, logged sampled).

The compiled rules are rebuilt on a thread when a file under ``policy.content_dir``
changes (checked once a second) and swapped whole; a bad file is refused with a readable
error and the old rules stay.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import structlog

from router.logs import sampled
from router.model.holds import Holds
from router.model.status import REFUSALS, Refusal
from router.policy.content.matcher import RuleSet
from router.policy.content.normalise import Normaliser, NormaliseSettings
from router.policy.content.rules import RuleError, load_folder
from router.policy.settings import PolicySettings
from router.policy.stage import Refused, Snapshot
from router.smpp.pdu import Tag, tlv_get
from router.smpp.segments import parse_udh
from router.smpp.session import Submit
from router.smpp.text import decode_text

log = structlog.get_logger("chapar.content")
CHECK_EVERY = 1.0  # seconds between looks at the rule files' mtimes
_REJECTED = REFUSALS["content_rejected"]


def text_of(submit: Submit) -> str:
    """The submit's text: message_payload or short_message, UDH stripped, decoded by its
    data_coding (GSM 03.38, UCS2, Latin-1…)."""
    sm = submit.decode()
    payload = tlv_get(sm.tlvs, Tag.MESSAGE_PAYLOAD) or sm.short_message
    if sm.esm_class & 0x40:
        payload = parse_udh(payload)[1]
    return decode_text(payload, sm.data_coding)


def build_rules(settings: PolicySettings) -> RuleSet:
    """Load and compile the rule folder (raises RuleError with a readable message)."""
    normaliser = Normaliser(NormaliseSettings.only(*settings.content_normalise))
    return RuleSet.build(load_folder(settings.content_folder()), normaliser)


def _stamp(folder: Path) -> tuple[tuple[str, float, int], ...]:
    try:
        return tuple(sorted((p.name, p.stat().st_mtime, p.stat().st_size)
                            for p in folder.glob("*.yaml")))
    except OSError:
        return ()


class ContentStage:
    name = "content"

    def __init__(self, settings: PolicySettings, holds: Holds) -> None:
        self._settings = settings
        self._holds = holds
        self._folder = settings.content_folder()
        self._stamp = _stamp(self._folder)
        self.rules = build_rules(settings)
        self._next_check = 0.0
        self._building: Future[RuleSet] | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="content-rules")
        self.counts: Counter[tuple[str, str]] = Counter()
        """(category, action) -> messages since start."""
        self._refusals: dict[str, Refusal] = {}
        log.info("content_rules_loaded", categories=len(self.rules.categories),
                 phrases=self.rules.phrase_count, regexes=self.rules.regex_count,
                 seconds=round(self.rules.built_in, 3))

    def _refusal(self, category: str) -> Refusal:
        refusal = self._refusals.get(category)
        if refusal is None:
            refusal = self._refusals[category] = dataclasses.replace(
                _REJECTED, reason=f"content:{category}")
        return refusal

    def decide(self, submits: list[Submit], snapshot: Snapshot
               ) -> tuple[list[Submit], Refused]:
        if snapshot.wall >= self._next_check:
            self._next_check = snapshot.wall + CHECK_EVERY
            self.poll()
        rules = self.rules
        account = snapshot.account
        accepted: list[Submit] = []
        refused: Refused = []
        for submit in submits:
            verdict = rules.verdict(text_of(submit), account, submit.source_addr)
            if verdict is None:
                accepted.append(submit)
                continue
            self.counts[verdict.category, verdict.action] += 1
            if verdict.action == "reject":
                refused.append((submit, self._refusal(verdict.category)))
                continue
            accepted.append(submit)
            if verdict.action == "quarantine":
                self._holds.hold(submit, verdict.category, ",".join(verdict.categories))
            total = self.counts[verdict.category, verdict.action]
            if sampled(total):
                log.warning("content_" + ("held" if verdict.action == "quarantine"
                                          else "flagged"),
                            account=account, source=submit.source_addr,
                            category=verdict.category, total=total)
        return accepted, refused

    def poll(self) -> None:
        """Swap in rules built meanwhile; start a build when a file changed."""
        building = self._building
        if building is not None:
            if not building.done():
                return
            self._building = None
            try:
                rules = building.result()
            except RuleError as exc:
                log.error("content_rules_refused", error=str(exc), kept="previous rules")
            else:
                self.rules = rules
                log.info("content_rules_loaded", categories=len(rules.categories),
                         phrases=rules.phrase_count, regexes=rules.regex_count,
                         seconds=round(rules.built_in, 3))
        stamp = _stamp(self._folder)
        if stamp != self._stamp:
            self._stamp = stamp
            self._building = self._pool.submit(build_rules, self._settings)

    def flush(self) -> None:
        self.poll()
