"""``chapar explain``: the decision the router would make now for one message, and every
rule that led to it, without sending anything.

The verdict is the real pipeline's (the stages ``policy.stages`` names, on the rules the
router holds), run on a submit_sm built as an ESME would send it.  The trace beside it
reads the same model objects the stages read (the line, its hours, the list snapshot,
the address normaliser); it names which rule decided, it does not decide.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from router.model.limits import bucket_size
from router.model.lines import Line, format_hours
from router.model.numbersets import ListSnapshot
from router.model.status import Refusal, status_for
from router.policy.addresses import Addresses
from router.policy.billing import BillingStage
from router.policy.content.matcher import RuleSet
from router.policy.line_stage import signature_of
from router.policy.pipeline import Pipeline, StageKit
from router.policy.rules import Rules
from router.policy.settings import PolicySettings
from router.policy.throttle import ThrottleStage
from router.smpp import codec
from router.smpp.pdu import SubmitSm
from router.smpp.segments import split_message
from router.smpp.session import Submit
from router.smpp.text import TextEncodeError
from router.store.registry import Registry
from router.store.writer import RegistryWriter
from router.upstream.routing import RouteTable

Rule = dict[str, Any]


class ExplainError(ValueError):
    """The question cannot be asked as put (e.g. text the coding cannot carry)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Question:
    """One message as an ESME would submit it: from ``line`` to ``destination``."""

    account: str
    text: str = ""
    line: str
    """The source_addr."""
    destination: str
    """As the ESME writes it (normalised by the same code as a submit's)."""
    dest_ton: int = 1
    dest_npi: int = 1
    data_coding: int | None = None
    """None: GSM 7-bit when the text allows, else UCS2 (as most ESMEs choose)."""


def _rule(name: str, result: str, detail: str, **facts: Any) -> Rule:
    return {"rule": name, "result": result, "detail": detail, **facts}


def _submit(q: Question) -> tuple[Submit, dict[str, Any]]:
    """The first submit_sm an ESME would send for this text, and how it splits."""
    try:
        segments = split_message(q.text, coding=q.data_coding, reference=1)
    except (TextEncodeError, ValueError) as exc:
        raise ExplainError(f"text: {exc}") from None
    first = segments[0]
    pdu = SubmitSm(sequence=1, source_addr_ton=1, source_addr_npi=1, source_addr=q.line,
                   dest_addr_ton=q.dest_ton, dest_addr_npi=q.dest_npi,
                   destination_addr=q.destination, esm_class=0x40 if first.esm_class_udhi else 0,
                   data_coding=first.data_coding, short_message=first.short_message)
    body = codec.encode_body(pdu)
    info = {"count": len(segments), "data_coding": first.data_coding,
            "octets": sum(len(s.short_message) for s in segments)}
    return Submit(1, body, q.line, q.destination, 0, q.dest_ton, q.dest_npi), info


class Explainer:
    def __init__(self, rules: Rules, addresses: Addresses, settings: PolicySettings,
                 writer: RegistryWriter, registry: Registry, live: Pipeline | None = None,
                 routes: Callable[[], RouteTable | None] | None = None) -> None:
        """``live``: the router's pipeline, whose compiled content rules each question's
        own stages share (compiling them per question would block the loop for seconds)."""
        self._rules = rules
        self._addresses = addresses
        self._live = live
        self._routes = routes
        # a threshold of 0 never acts: explaining a refusal must not demote a line
        self._kit = StageKit(dataclasses.replace(settings, violations_threshold=0),
                             addresses, writer)
        self._zone = ZoneInfo(settings.timezone)
        self._registry = registry

    def explain(self, q: Question, now: float | None = None) -> dict[str, Any]:
        wall = time.time() if now is None else now
        submit, segments = _submit(q)
        live = self._live.content if self._live is not None else None
        kit = dataclasses.replace(self._kit, content_rules=live.rules if live else None)
        pipeline = Pipeline(self._rules, kit)  # its own stages: nothing counted
        accepted, refused = pipeline.decide(q.account, [submit])
        refusal = refused[0][1] if refused else None
        account = self._registry.get_account(q.account)
        style = account.status_style if account else "standard"
        trace = [self._account_rule(q.account)]
        trace += self._trace(q, self._rules.lists.snapshot(), wall)
        if pipeline.content is not None:
            trace.append(_content_rule(pipeline.content.rules, q))
        trace += self._delivery_rules(q, pipeline, segments["count"], wall)
        for rule in trace:
            rule["decisive"] = refusal is not None and rule.get("reason") == refusal.reason
        return {
            "decision": "accept" if accepted else "refuse",
            "reason": refusal.reason if refusal else None,
            "explanation": refusal.text if refusal else "every rule passed",
            "status": _status(refusal, style),
            "stages": list(self._kit.settings.stages),
            "rules": trace,
            "segments": segments,
            "at": wall,
        }

    def _delivery_rules(self, q: Question, pipeline: Pipeline, parts: int,
                        wall: float) -> list[Rule]:
        """Where it would go (the routing table in use) and what it would cost."""
        found: list[Rule] = []
        table = self._routes() if self._routes is not None else None
        if table is not None:
            line = self._rules.lines.get(q.line)
            kind = line.effective_kind if line is not None and line.account == q.account else ""
            answer = table.explain(q.account, q.line, q.destination, kind, wall)
            via = answer.rule.label if answer.rule else "no rule (the default)"
            found.append(_rule("route", "info", f"upstream group {answer.group or 'all'!r} "
                               f"via {via}", group=answer.group or None, steps=answer.steps))
        live = self._live
        if live is not None:
            found += _live_limits(live, self._rules, q, parts, wall)
        billing = next((s for s in pipeline.stages if isinstance(s, BillingStage)), None)
        if billing is not None:
            line = self._rules.lines.get(q.line)
            kind = line.effective_kind if line is not None else ""
            operator = self._addresses.operator_of(q.destination, q.dest_ton, q.dest_npi)
            unit = billing.price(kind, operator)
            found.append(_rule("price", "info", f"{parts} segment(s) x {unit} ({kind or '?'} "
                               f"line, operator {operator or 'unknown'})",
                               price=unit * parts, unit_price=unit))
            if live is not None:
                balance = live.wallets.balances.get(q.account, 0)
                enough = balance >= unit * parts
                found.append(_rule("balance", "pass" if enough else "fail",
                                   f"balance {balance}, the message costs {unit * parts}",
                                   balance=balance,
                                   reason=None if enough else "insufficient_balance"))
        return found

    def _account_rule(self, system_id: str) -> Rule:
        account = self._registry.get_account(system_id)
        if account is None:
            return _rule("account", "fail", f"no account {system_id!r}: it cannot bind")
        result = "pass" if account.status == "active" else "fail"
        return _rule("account", result, f"account {account.status}, status_style "
                     f"{account.status_style}", status=account.status)

    def _trace(self, q: Question, lists: ListSnapshot, wall: float) -> list[Rule]:
        line = self._rules.lines.get(q.line)
        if line is None or line.account != q.account:
            owner = f"it belongs to {line.account!r}" if line else "no such line"
            return [_rule("line", "fail", f"{q.line!r} is not a line of {q.account!r} "
                          f"({owner})", reason="not_own_line")]
        rules = [_rule("line", "pass", f"line {line.number} of {line.account}")]
        rules.append(_rule("line_status", "fail" if line.status == "suspended" else "pass",
                           f"line {line.status}" + (f": {line.status_reason}"
                                                    if line.status_reason else ""),
                           status=line.status,
                           reason="line_suspended" if line.status == "suspended" else None))
        rules.append(self._hours(line, wall))
        kind = line.effective_kind
        rules.append(_rule("line_kind", "info", f"{kind}" + (
            " (demoted service line)" if line.status == "demoted" else "") + (
            f", exempt: {line.exemption}" if kind == "service" and line.exemption else ""),
            kind=kind, exemption=line.exemption or None))
        number = self._addresses.number_of(q.destination, q.dest_ton, q.dest_npi)
        if number is None:
            rules.append(_rule("destination", "fail", f"{q.destination!r} is not a mobile "
                               "number", reason="invalid_destination"))
            return rules
        rules.append(_rule("destination", "pass", f"normalised to {number}", e164=str(number)))
        return rules + _list_rules(line, kind, number, lists, wall, q.text)

    def _hours(self, line: Line, wall: float) -> Rule:
        local = datetime.fromtimestamp(wall, self._zone)
        now = f"{local.hour:02d}:{local.minute:02d}"
        if line.hours is None:
            return _rule("hours", "pass", f"any time (now {now} {self._zone.key})")
        inside = line.open_at(local.hour * 60 + local.minute)
        return _rule("hours", "pass" if inside else "fail",
                     f"sending hours {format_hours(line.hours)}, now {now} {self._zone.key}",
                     reason=None if inside else "outside_hours")


def _list_rules(line: Line, kind: str, number: int, lists: ListSnapshot, wall: float,
                text: str) -> list[Rule]:
    na = "n/a"
    if kind == "service":
        blacklist = _rule("blacklist", na, "service lines are not checked against it")
        optout = _rule("optout", na, "service lines are not checked against opt-outs")
        if line.exemption:
            white = _rule("whitelist", na, f"exempt ({line.exemption}): no list needed")
        else:
            inside = lists.in_whitelist(line.number, number, wall)
            white = _rule("whitelist", "pass" if inside else "fail",
                          "a customer of the line" if inside else
                          "not a customer of the line (counts as a violation when sent)",
                          reason=None if inside else "not_in_whitelist")
        return [white, blacklist, optout]
    white = _rule("whitelist", na, "advertising lines do not need one")
    listed = lists.is_blacklisted(number)
    blacklist = _rule("blacklist", "fail" if listed else "pass",
                      "on the operator blacklist" if listed else "not on the blacklist",
                      reason="blacklisted" if listed else None)
    signature = signature_of(text)
    opted = lists.is_opted_out(line.number, number, signature)
    optout = _rule("optout", "fail" if opted else "pass",
                   ("opted out of the line" if opted else "has not opted out")
                   + (f" (signature {signature})" if signature else ""),
                   reason="opted_out" if opted else None)
    return [white, blacklist, optout]


def _live_limits(live: Pipeline, rules: Rules, q: Question, parts: int, wall: float
                 ) -> list[Rule]:
    """The router's own token buckets and quota now (read, never taken)."""
    throttle = next((s for s in live.stages if isinstance(s, ThrottleStage)), None)
    if throttle is None:
        return []
    limits = rules.limits
    said: list[str] = []
    short = False
    for scope, key in (("account", q.account), ("line", q.line)):
        limit = limits.by_scope(scope).get(key)
        if limit is None or not limit.rate:
            continue
        bucket = throttle.buckets.get((scope, key))
        tokens = bucket.tokens if bucket is not None else float(bucket_size(limit))
        short = short or tokens < 1.0
        said.append(f"{scope} {key}: {tokens:.0f} of {bucket_size(limit):.0f} tokens at "
                    f"{limit.rate:g}/s")
    account_limit = limits.accounts.get(q.account)
    if account_limit is not None and (account_limit.daily or account_limit.monthly):
        left = throttle.quotas.left(q.account, account_limit, wall)
        short = short or left < parts
        said.append(f"quota: {left:.0f} segments left")
    if not said:
        return [_rule("throttle", "pass", "no rate or quota set for the account or line")]
    return [_rule("throttle", "fail" if short else "pass", "; ".join(said),
                  reason="throttled" if short else None)]


_CONTENT_RESULTS = {"reject": "fail", "quarantine": "hold", "flag": "flag"}


def _content_rule(rules: RuleSet, q: Question) -> Rule:
    """The categories the text hits (where, by which phrase or regex) and the action."""
    hits = rules.explain(rules.normaliser.normalise(q.text))
    verdict = rules.verdict(q.text, q.account, q.line)
    found = [{"category": h.category, "kind": h.kind, "pattern": h.pattern,
              "position": h.position} for h in hits]
    if verdict is None:
        detail = "no category applies" + (" (hits lifted for this account or line)"
                                          if hits else "")
        return _rule("content", "pass", detail, hits=found)
    return _rule("content", _CONTENT_RESULTS[verdict.action],
                 f"{verdict.action}: {', '.join(verdict.categories)}", hits=found,
                 action=verdict.action, reason=f"content:{verdict.category}"
                 if verdict.action == "reject" else None)


def _status(refusal: Refusal | None, style: str) -> dict[str, str]:
    if refusal is None:
        return {"answered": "0x00000000"}
    return {"answered": f"0x{status_for(refusal, style):08x}",
            "vendor": f"0x{refusal.vendor:08x}", "standard": f"0x{refusal.standard:08x}"}

