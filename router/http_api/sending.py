"""A send request through the same pipeline and journal as an ESME's read batch: every
recipient's parts decided together, the accepted ones handed to the intake, and the
answer given once the journal committed them (as an ESME's ESME_ROK is)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from router.dispatch.intake import Intake
from router.model.messages import format_id
from router.model.status import Refusal, status_for
from router.policy.addresses import Addresses
from router.policy.billing import BillingStage
from router.policy.pipeline import Pipeline
from router.policy.rules import Rules
from router.smpp.codec import Submit


class HttpSubmitter:
    """The intake's answer for one request's accepted submits."""

    def __init__(self, expected: int) -> None:
        self.ids: dict[int, int] = {}
        """sequence -> message id"""
        self.failed: dict[int, int] = {}
        """sequence -> SMPP status (the journal could not store it)"""
        self._left = expected
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def answer_accepted(self, first_id: int, submits: list[Submit]) -> None:
        for index, submit in enumerate(submits):
            self.ids[submit.sequence] = first_id + index
        self._answered(len(submits))

    def answer_refused(self, submits: list[Submit], status: int) -> None:
        for submit in submits:
            self.failed[submit.sequence] = status
        self._answered(len(submits))

    def _answered(self, count: int) -> None:
        self._left -= count
        if self._left <= 0 and not self.done.done():
            self.done.set_result(None)


@dataclass(frozen=True, slots=True)
class Sender:
    pipeline: Pipeline
    intake: Intake
    rules: Rules
    addresses: Addresses

    async def send(self, account: str, style: str, source: str, recipients: tuple[str, ...],
                   groups: list[list[Submit]]) -> list[dict[str, Any]]:
        """A result per recipient, once the journal answered for every accepted part."""
        flat = [submit for group in groups for submit in group]
        accepted, refused = self.pipeline.decide(account, flat)
        reasons = {submit.sequence: refusal for submit, refusal in refused}
        if refused:
            self.intake.record_refusals(account, [(s, r.reason) for s, r in refused])
        submitter = HttpSubmitter(len(accepted))
        if accepted:
            self.intake.accept(submitter, account, accepted)
            await submitter.done
        billing = next((s for s in self.pipeline.stages if isinstance(s, BillingStage)), None)
        line = self.rules.lines.get(source)
        kind = line.effective_kind if line is not None else ""
        return [self._result(number, group, submitter, reasons, style,
                             None if billing is None else billing.price(
                                 kind, self.addresses.operator_of(number, 1)))
                for number, group in zip(recipients, groups, strict=True)]

    def _result(self, number: str, group: list[Submit], submitter: HttpSubmitter,
                reasons: dict[int, Refusal], style: str, price: int | None
                ) -> dict[str, Any]:
        ids = [submitter.ids[s.sequence] for s in group if s.sequence in submitter.ids]
        result: dict[str, Any] = {"to": number, "segments": len(group)}
        # most batches have neither refusals nor failures: no search then
        refusal = next((reasons[s.sequence] for s in group if s.sequence in reasons),
                       None) if reasons else None
        failed = next((submitter.failed[s.sequence] for s in group
                       if s.sequence in submitter.failed), None) if submitter.failed else None
        if ids:
            formatted = [format_id(i) for i in ids]
            result.update(id=formatted[0], ids=formatted)
            if price is not None:  # what the billing stage reserved: segments x unit price
                result["price"] = price * len(ids)
        if refusal is not None:
            result.update(reason=refusal.reason, error=refusal.text,
                          smpp_status=f"0x{status_for(refusal, style):08x}")
        elif failed is not None:
            result.update(reason="not_stored", error="the journal could not store it: "
                          "send it again", smpp_status=f"0x{failed:08x}")
        result["status"] = ("accepted" if len(ids) == len(group) else
                            "partial" if ids else "refused")
        return result
