"""Submits a policy stage accepts but holds back from the carriers (content quarantine).

The stage notes them here; the intake journals them with the batch, writes their
quarantine record in the same commit, answers ESME_ROK after it (the message is held
durably), and does not hand them to the outbound queue.  An operator releases or rejects
them later (`chapar quarantine`).
"""

from __future__ import annotations

from typing import NamedTuple

from router.smpp.session import Submit


class Hold(NamedTuple):
    category: str
    reason: str


class Holds:
    """Filled by the pipeline's stages during one decision, emptied by the intake."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending: dict[Submit, Hold] = {}

    def hold(self, submit: Submit, category: str, reason: str) -> None:
        self.pending[submit] = Hold(category, reason)

    def take(self, submits: list[Submit]) -> list[tuple[int, Hold]]:
        """(index in ``submits``, hold) for the held ones; forgets them."""
        pending = self.pending
        if not pending:
            return []
        taken = [(i, hold) for i, s in enumerate(submits)
                 if (hold := pending.pop(s, None)) is not None]
        pending.clear()  # holds of submits a later stage refused
        return taken
