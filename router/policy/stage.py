"""What a policy stage is: a decision over a whole read batch against one snapshot.

A stage takes the submits still accepted and returns those it accepts and those it
refuses, each with one reason from the status table.  The pipeline runs the stages in
the order the config names them; content, throttle and billing join as new stages and
a config entry, not as edits to a loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from router.model.limits import LimitBook
from router.model.lines import LineBook
from router.model.numbersets import ListSnapshot
from router.model.status import Refusal
from router.policy.batch import BatchFacts
from router.smpp.session import Submit

Refused = list[tuple[Submit, Refusal]]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a batch is decided against, taken once per batch: a registry change
    in the middle of a batch cannot split it."""

    account: str
    wall: float
    """Epoch seconds when the batch arrived."""
    lines: LineBook
    lists: ListSnapshot
    limits: LimitBook = field(default_factory=LimitBook)
    facts: BatchFacts = field(default_factory=BatchFacts)
    """Operators and segments of the batch, computed once for every stage."""


class Stage(Protocol):
    name: str

    def decide(self, submits: list[Submit], snapshot: Snapshot
               ) -> tuple[list[Submit], Refused]: ...

    def flush(self) -> None:
        """Hand what the stage counted to the store (called on a timer and at stop)."""


class Releasing(Stage, Protocol):
    """A stage that takes something per accepted submit (tokens, money) and gives it
    back when a later stage refuses the submit: a refused submit costs nothing."""

    def release(self, submits: list[Submit], snapshot: Snapshot) -> None: ...
