"""The content stage (requirements §3, issue 13): decode every submit, normalise, match
the category rules, act: **reject** (a refusal from the status table, recorded with its
category), **quarantine** (accepted, journalled and answered ESME_ROK, held from the
carriers until an operator decides), **flag** (sent, counted, logged sampled).

A concatenated message is judged on its joined text (assembly.py): each part is
journalled as ``part`` and answered ESME_ROK once held durably; the part that completes
the message (or the timeout) brings the verdict, which applies to every part: the parts
of the completing batch are decided with it, the earlier ones settled together through
the intake's next commit (released to the carriers together, quarantined as one group,
or rejected with REJECTD receipts).

The compiled rules are rebuilt in a child process when a file under
``policy.content_dir`` changes (checked once a second) and swapped whole; a bad file is
refused with a readable error and the old rules stay.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

import structlog

from router.logs import sampled
from router.model.holds import Holds, Part, SettledState, Settlement
from router.model.status import REFUSALS, Refusal
from router.policy.content.assembly import Assembling, Assembly, Key, concat_of
from router.policy.content.matcher import RuleSet, Verdict
from router.policy.content.normalise import Normaliser, NormaliseSettings
from router.policy.content.rules import RuleError, load_folder
from router.policy.settings import PolicySettings
from router.policy.stage import Refused, Snapshot
from router.smpp.codec import scan_submit
from router.smpp.pdu import SubmitSm, Tag, tlv_get
from router.smpp.segments import parse_udh
from router.smpp.session import Submit
from router.smpp.text import decode_text, gsm7_joined_ascii

log = structlog.get_logger("chapar.content")
CHECK_EVERY = 1.0  # seconds between looks at the rule files' mtimes
_REJECTED = REFUSALS["content_rejected"]
_SETTLED: dict[str | None, SettledState] = {
    None: "released", "flag": "released", "quarantine": "held", "reject": "rejected"}
Judged = tuple[Verdict | None, str]
"""A verdict for one submit of the batch, and the group of its long message ("" if none)."""


def text_of(submit: Submit) -> str:
    """The submit's text: message_payload or short_message, UDH stripped, decoded by its
    data_coding (GSM 03.38, UCS2, Latin-1…)."""
    return sm_text(submit.decode())


def sm_text(sm: SubmitSm) -> str:
    payload = tlv_get(sm.tlvs, Tag.MESSAGE_PAYLOAD) or sm.short_message
    if sm.esm_class & 0x40:
        payload = parse_udh(payload)[1]
    return decode_text(payload, sm.data_coding)


def one_part_texts(submits: list[Submit]) -> tuple[list[int], list[bytes], list[int]]:
    """Per submit, the index of its one-part text among the batch's distinct texts (-1:
    no such text, the decoded PDU decides); those raw texts, a run of one text (a
    campaign's) once; their data_codings.  Read from the body where the intake found
    the text (``Submit.text_at``): building the SubmitSm cost ~2.4 µs a message."""
    slots: list[int] = []
    raws: list[bytes] = []
    codings: list[int] = []
    last, last_coding = b"", -1
    for submit in submits:
        at = submit.text_at
        if at < 0:
            slots.append(-1)
            continue
        body = submit.body
        raw, coding = body[at:], body[at - 3]
        if raw != last or coding != last_coding:
            raws.append(raw)
            codings.append(coding)
            last, last_coding = raw, coding
        slots.append(len(raws) - 1)
    return slots, raws, codings


def build_rules(settings: PolicySettings) -> RuleSet:
    """Load and compile the rule folder (raises RuleError with a readable message);
    ``built_in``: reading the files and compiling them."""
    started = time.perf_counter()
    normaliser = Normaliser.of(NormaliseSettings.only(*settings.content_normalise))
    rules = RuleSet.build(load_folder(settings.content_folder()), normaliser)
    return dataclasses.replace(rules, built_in=time.perf_counter() - started)


def _stamp(folder: Path) -> tuple[tuple[str, float, int], ...]:
    try:
        return tuple(sorted((p.name, p.stat().st_mtime, p.stat().st_size)
                            for p in folder.glob("*.yaml")))
    except OSError:
        return ()


class ContentStage:
    name = "content"

    def __init__(self, settings: PolicySettings, holds: Holds,
                 rules: RuleSet | None = None) -> None:
        """``rules``: compiled already (explain's stages share the router's); without,
        they are compiled here (seconds for 100,000 phrases)."""
        self._settings = settings
        self._holds = holds
        self._folder = settings.content_folder()
        self._stamp = _stamp(self._folder)
        self.rules = rules or build_rules(settings)
        self._next_check = 0.0
        self._building: Future[RuleSet] | None = None
        self._build_started = 0.0
        self._built = False
        """Set by the build's future when it ends (the executor's thread)."""
        self._pool: ProcessPoolExecutor | None = None
        """A child process for one rebuild: the automaton is built holding the GIL
        (~0.5 s for 100,000 phrases), which in this process would stop the event loop;
        the rules come back pickled (matcher.py) and are restored in ~50 ms."""
        self.counts: Counter[tuple[str, str]] = Counter()
        """(category, action) -> messages since start."""
        self._refusals: dict[str, Refusal] = {}
        self.assembly = Assembly(settings.content_assembly_timeout,
                                 settings.content_assembly_bytes)
        self._batch = 1
        """Counts decisions; restored parts carry 0, so they are always "earlier"."""
        if rules is None:
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
        self._batch += 1  # before the tick: parts of the last batch are "earlier" to it
        if snapshot.wall >= self._next_check:
            self._next_check = snapshot.wall + CHECK_EVERY
            self.poll()
            self.tick(snapshot.wall)
        elif self._built:  # a rebuild ended: swap it in now, not at the next look
            self.poll()
        slots, raws, codings = one_part_texts(submits)
        found = self._hits(raws, codings)
        if not found and -1 not in slots:  # one-part texts, all clean: the common case
            return submits, []
        judged: list[Judged | tuple[Part, Assembling]] = []
        judge = self.rules.judge
        for submit, slot in zip(submits, slots, strict=True):
            if slot >= 0:
                hits = found.get(slot)
                judged.append((judge(hits, snapshot.account, submit.source_addr)
                               if hits else None, ""))
                continue
            sm = submit.decode()
            concat = concat_of(sm)
            if concat is None:
                judged.append((self.rules.verdict(sm_text(sm), snapshot.account,
                                                  submit.source_addr), ""))
                continue
            part = Part(submit, concat.seq, concat.payload, self._batch)
            key: Key = (snapshot.account, submit.source_addr, submit.destination_addr,
                        concat.kind, concat.reference)
            message, pushed = self.assembly.add(key, concat, sm.data_coding, part,
                                                snapshot.wall)
            judged.append((part, message))
            for old in pushed:
                self._judge(old, judged)
            if message.complete:
                self._judge(message, judged)
        return self._act(submits, judged, snapshot.account)

    def _hits(self, raws: list[bytes], codings: list[int]) -> dict[int, set[int]]:
        """The categories each distinct one-part text hits (texts with hits only)."""
        if not raws:
            return {}
        joined = gsm7_joined_ascii(raws, codings)
        if joined is not None:
            return self.rules.batch_hits(joined, len(raws))
        return self.rules.hits_of([decode_text(r, c) for r, c in zip(raws, codings,
                                                                      strict=True)])

    def _act(self, submits: list[Submit], judged: list[Judged | tuple[Part, Assembling]],
             account: str) -> tuple[list[Submit], Refused]:
        accepted: list[Submit] = []
        refused: Refused = []
        for submit, (verdict, group) in zip(submits, judged, strict=True):
            if isinstance(verdict, Part):  # waits for the rest of its message, held
                assert isinstance(group, Assembling)
                self._holds.hold_part(submit, verdict, group.group)
                accepted.append(submit)
            elif verdict is None:
                accepted.append(submit)
            elif verdict.action == "flag":  # recorded with its batch (the flags table)
                self._holds.flag(submit, verdict.category, ",".join(verdict.categories))
                accepted.append(submit)
            elif verdict.action == "reject":
                refused.append((submit, self._refusal(verdict.category)))
            else:
                assert isinstance(group, str)
                self._holds.hold(submit, verdict.category, ",".join(verdict.categories),
                                 group)
                accepted.append(submit)
            if not group and verdict is not None and not isinstance(verdict, Part):
                self._count(verdict, account, submit.source_addr)
        return accepted, refused

    def _count(self, verdict: Verdict, account: str, source: str) -> None:
        self.counts[verdict.category, verdict.action] += 1
        total = self.counts[verdict.category, verdict.action]
        if verdict.action != "reject" and sampled(total):
            log.warning("content_" + ("held" if verdict.action == "quarantine"
                                      else "flagged"),
                        account=account, source=source, category=verdict.category,
                        total=total)

    def _judge(self, message: Assembling,
               judged: list[Judged | tuple[Part, Assembling]] | None = None) -> None:
        """The verdict on a long message (whole, or what came), for every part: those of
        this batch in ``judged``, the earlier ones by a settlement."""
        verdict = self.rules.verdict(message.text(), message.account, message.source)
        if verdict is not None:
            self._count(verdict, message.account, message.source)
        earlier = tuple(p for p in message.parts.values() if p.batch != self._batch)
        if judged is not None:
            for index, entry in enumerate(judged):
                if entry[1] is message:
                    judged[index] = (verdict, message.group)
        if earlier:
            action = None if verdict is None else verdict.action
            self._holds.settle(Settlement(
                message.account, earlier, _SETTLED[action],
                verdict.category if verdict else "", ",".join(verdict.categories)
                if verdict else ("whole" if message.complete else "incomplete"),
                message.group))

    def tick(self, now: float) -> None:
        """Judge the long messages whose parts did not all come in time."""
        self._batch += 1  # every part that came so far is "earlier" to this judgement
        for message in self.assembly.expired(now):
            log.info("content_parts_expired", account=message.account,
                     source=message.source, parts=len(message.parts), total=message.total)
            self._judge(message)

    def restore(self, parts: list[tuple[int, str, float, bytes, str]]) -> None:
        """Parts the last run journalled while awaiting the rest of their message."""
        for message_id, account, at, body, group in parts:
            submit = scan_submit(0, body)
            source, destination = submit.source_addr, submit.destination_addr
            sm = submit.decode()
            concat = concat_of(sm)
            if concat is None:
                continue
            part = Part(submit, concat.seq, concat.payload, 0, message_id)
            self.assembly.add((account, source, destination, concat.kind, concat.reference),
                              concat, sm.data_coding, part, at, group)
        if parts:
            log.info("content_parts_restored", parts=len(parts), messages=len(self.assembly))

    def poll(self) -> None:
        """Swap in rules built meanwhile; start a build when a file changed."""
        building = self._building
        if building is not None:
            if not building.done():
                return
            self._building = None
            self._built = False
            self._stop_pool()
            try:
                rules = building.result()
            except RuleError as exc:
                log.error("content_rules_refused", error=str(exc), kept="previous rules")
            except Exception as exc:  # the child died (killed, out of memory) or a bug
                log.error("content_rules_build_failed", error=repr(exc), kept="previous rules")
                if isinstance(exc, BrokenProcessPool):
                    self._stamp = ()  # built again at the next look
            else:
                self.rules = rules
                log.info("content_rules_loaded", categories=len(rules.categories),
                         phrases=rules.phrase_count, regexes=rules.regex_count,
                         seconds=round(rules.built_in, 3),
                         reload_s=round(time.monotonic() - self._build_started, 3))
        stamp = _stamp(self._folder)
        if stamp != self._stamp:
            self._stamp = stamp
            self._pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"))
            self._build_started = time.monotonic()
            self._building = self._pool.submit(build_rules, self._settings)
            self._building.add_done_callback(self._on_built)

    def _on_built(self, _: Future[RuleSet]) -> None:
        self._built = True

    def _stop_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def flush(self) -> None:
        self.poll()
