"""The per-message decision, a read batch at a time: the stages the config names, in
order (``policy.stages``; today ``lines``).  Refusals are data with one status and one
reason each, from model/status.py; the caller answers them at once and records them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from router.model.holds import Holds
from router.model.status import REFUSALS, Refusal
from router.model.wallets import Wallets
from router.policy.addresses import Addresses
from router.policy.billing import BillingStage
from router.policy.content.chinese import ChineseStage
from router.policy.content.matcher import RuleSet
from router.policy.content.stage import ContentStage
from router.policy.leases import LeasedBucket, LeasedQuotas
from router.policy.line_stage import LineStage
from router.policy.rules import Rules
from router.policy.settings import PolicySettings
from router.policy.stage import Refused, Releasing, Snapshot, Stage
from router.policy.throttle import Quotas, ThrottleStage
from router.smpp.session import Submit
from router.store.ledger import Ledger
from router.store.writer import RegistryWriter


@dataclass(frozen=True, slots=True)
class StageKit:
    """What a stage may be built from."""

    settings: PolicySettings
    addresses: Addresses
    writer: RegistryWriter
    holds: Holds = dataclasses.field(default_factory=Holds)
    """Submits accepted but held from the carriers (quarantine); the intake reads it."""
    usage: dict[tuple[str, str], int] = dataclasses.field(default_factory=dict)
    """Quota segments already used in the current periods (from the registry)."""
    wallets: Wallets = dataclasses.field(default_factory=Wallets)
    """Prepaid balances and reservations; the intake and the reports settle them."""
    ledger: Ledger | None = None
    front_ledger: Ledger | None = None
    """``--workers``: worker 0 also reads the config's own ledger (billing.py)."""
    content_rules: RuleSet | None = None
    """Compiled content rules to share (explain's stages use the router's)."""
    shared: bool = False
    """Limits shared through Redis: the throttle holds leased tokens and segments."""


STAGES: dict[str, Callable[[StageKit], Stage]] = {
    "lines": lambda kit: LineStage(kit.settings, kit.addresses, kit.writer),
    "content": lambda kit: ContentStage(kit.settings, kit.holds, kit.content_rules),
    "chinese": lambda kit: ChineseStage(kit.settings.chinese, kit.addresses),
    "throttle": lambda kit: (
        ThrottleStage(kit.settings, kit.addresses, kit.writer,
                      LeasedQuotas(kit.settings.timezone, kit.usage), bucket_type=LeasedBucket)
        if kit.shared else ThrottleStage(kit.settings, kit.addresses, kit.writer,
                                         Quotas(kit.settings.timezone, kit.usage))),
    "billing": lambda kit: BillingStage(kit.settings, kit.addresses, kit.wallets, kit.ledger,
                                           kit.front_ledger),
}
"""Every stage by the name ``policy.stages`` uses for it."""


class Pipeline:
    def __init__(self, rules: Rules, kit: StageKit) -> None:
        self.rules = rules
        self.holds = kit.holds
        self.wallets = kit.wallets
        self.stages: list[Stage] = [STAGES[name](kit) for name in kit.settings.stages]
        self.content = next((s for s in self.stages if isinstance(s, ContentStage)), None)
        self._takes: list[Releasing | None] = [
            cast(Releasing, stage) if hasattr(stage, "release") else None
            for stage in self.stages]
        """Stages that take tokens or money: given back when a later stage refuses."""

    def decide(self, account: str, submits: list[Submit]) -> tuple[list[Submit], Refused]:
        """Split a read batch into accepted submits and refusals (one snapshot each)."""
        if self.holds.pending:
            self.holds.pending.clear()
        rules = self.rules
        snapshot = Snapshot(account, time.time(), rules.lines, rules.lists.snapshot(),
                            rules.limits)
        accepted = submits
        refused: Refused = []
        taking: list[Releasing] = []
        for stage, takes in zip(self.stages, self._takes, strict=True):
            accepted, more = stage.decide(accepted, snapshot)
            if more:
                refused += more
                if taking:
                    later = [submit for submit, _ in more]
                    for earlier in taking:
                        earlier.release(later, snapshot)
            if not accepted:
                break
            if takes is not None:
                taking.append(takes)
        return accepted, refused

    def check(self, account: str, submit: Submit) -> Refusal | None:
        """One submit against the stages that take nothing (tokens, money): a
        replace_sm's new text is judged like a submit's, but was paid for already.
        Content that would be held in quarantine is refused here (a replaced message
        is already accepted)."""
        rules = self.rules
        snapshot = Snapshot(account, time.time(), rules.lines, rules.lists.snapshot(),
                            rules.limits)
        accepted = [submit]
        refusal: Refusal | None = None
        for stage, takes in zip(self.stages, self._takes, strict=True):
            if takes is None:
                accepted, refused = stage.decide(accepted, snapshot)
                if refused:
                    refusal = refused[0][1]
                    break
        held = self.holds.pending.pop(submit, None)
        self.holds.flagged.pop(submit, None)
        if refusal is None and held is not None:
            refusal = REFUSALS["content_rejected"]
        return refusal

    def give_back(self, account: str, submits: list[Submit]) -> None:
        """Submits the stages accepted but the journal commit refused (ESME_RSYSERR):
        the tokens and quota they took are given back (money: ``Wallets.unreserve``)."""
        rules = self.rules
        snapshot = Snapshot(account, time.time(), rules.lines, rules.lists.snapshot(),
                            rules.limits)
        for takes in self._takes:
            if takes is not None:
                takes.release(submits, snapshot)

    def tick(self) -> None:
        """Judge long messages whose parts did not all come in time (a timer calls it)."""
        if self.content is not None:
            self.content.tick(time.time())

    def restore(self, parts: list[tuple[int, str, float, bytes, str]]) -> None:
        """Parts of long messages the last run journalled while awaiting the rest."""
        if self.content is not None:
            self.content.restore(parts)

    def reopen(self, no_receipt: set[int]) -> None:
        """Reservations the last run left open go back into the wallets (after the
        journal's recovery: ``no_receipt`` are ids it redispatches without a receipt)."""
        for stage in self.stages:
            if isinstance(stage, BillingStage) and stage.reopened:
                self.wallets.restore(stage.reopened, no_receipt)
                stage.reopened = {}

    def flush(self) -> None:
        for stage in self.stages:
            stage.flush()
