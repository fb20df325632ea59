"""Submits a policy stage accepts but holds back from the carriers (content quarantine,
and the parts of a concatenated message until the whole message is judged).

The stage notes them here; the intake journals them with the batch, writes their
quarantine record in the same commit, answers ESME_ROK after it (the message is held
durably), and does not hand them to the outbound queue.  An operator releases or rejects
quarantined ones later (`chapar quarantine`); the parts of a long message are settled by
the stage once the message is whole or its time is up (``Settlement``), through the
same table and the same commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from router.smpp.session import Submit

SettledState = Literal["released", "held", "rejected"]


class Hold(NamedTuple):
    category: str
    reason: str
    group: str = ""
    """Rows of one long message share it: an operator decides them together."""
    state: str = "held"
    """``held`` (quarantine) or ``part`` (waiting for the rest of its message)."""


@dataclass(slots=True, eq=False)
class Part:
    """One part of a concatenated message, held until its message is judged."""

    submit: Submit
    seq: int
    payload: bytes
    batch: int
    """The stage's batch counter when it arrived (parts of the current batch are decided
    with it, earlier ones by a settlement)."""
    message_id: int = 0
    """Set by the intake when journalled; -1 when that commit failed (never answered ROK)."""


@dataclass(frozen=True, slots=True)
class Settlement:
    """The verdict on a long message, for its parts already journalled as ``part``."""

    account: str
    parts: tuple[Part, ...]
    state: SettledState
    category: str
    reason: str
    group: str


@dataclass(slots=True)
class Holds:
    """Filled by the pipeline's stages during one decision, emptied by the intake."""

    pending: dict[Submit, tuple[Hold, Part | None]] = field(default_factory=dict)
    settled: list[Settlement] = field(default_factory=list)
    flagged: dict[Submit, tuple[str, str]] = field(default_factory=dict)
    """Accepted and sent, but recorded: (category, every category that applied)."""
    wake: Callable[[], None] | None = None
    """Set by the intake: a settlement outside a batch (a timeout) asks for a commit."""

    def hold(self, submit: Submit, category: str, reason: str, group: str = "") -> None:
        self.pending[submit] = (Hold(category, reason, group), None)

    def flag(self, submit: Submit, category: str, categories: str) -> None:
        self.flagged[submit] = (category, categories)

    def take_flags(self, submits: list[Submit]) -> list[tuple[int, str, str]]:
        """(index in ``submits``, category, categories) for the flagged ones; forgets them."""
        flagged = self.flagged
        taken = [(i, *found) for i, s in enumerate(submits)
                 if (found := flagged.pop(s, None)) is not None]
        flagged.clear()  # flags of submits a later stage refused
        return taken

    def hold_part(self, submit: Submit, part: Part, group: str) -> None:
        self.pending[submit] = (Hold("", "assembling", group, "part"), part)

    def settle(self, settlement: Settlement) -> None:
        self.settled.append(settlement)
        if self.wake is not None:
            self.wake()

    def take(self, submits: list[Submit]) -> list[tuple[int, Hold, Part | None]]:
        """(index in ``submits``, hold, part) for the held ones; forgets them."""
        pending = self.pending
        if not pending:
            return []
        taken = [(i, *held) for i, s in enumerate(submits)
                 if (held := pending.pop(s, None)) is not None]
        pending.clear()  # holds of submits a later stage refused
        return taken
