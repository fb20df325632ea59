"""What happened to messages after they were recorded, folded into their record's state.

The journal's outcomes, receipts and ledger rows become *events* (one per journal row,
its entries as they were written); folding a run of events in order gives each message's
status, upstream, carrier id, times and charge.  The follower folds what it read before
writing; ``records verify`` folds the stored events again and compares.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from router.model.wallets import expand

# A message's state: status, upstream, upstream id, submitted at, done at, charge.
State = list[Any]
STATUS, UPSTREAM, UPSTREAM_ID, SUBMITTED_AT, DONE_AT, CHARGE = range(6)
QUEUED = "queued"
SENT = "sent"
REFUSED = "refused"


def initial(decision: str, unknown: float | None = None) -> State:
    """A new record's state; its times ``unknown`` (how the store writes "not yet")."""
    return [QUEUED if decision == "accepted" else REFUSED, "", "", unknown, unknown, 0]


def outcome_event(upstream: str, entries: bytes) -> bytes:
    return orjson.dumps([upstream, orjson.Fragment(entries)])


def ledger_event(kind: str, entries: bytes) -> bytes:
    return orjson.dumps([kind, orjson.Fragment(entries)])


def _state(states: dict[int, State], message_id: int) -> State:
    state = states.get(message_id)
    if state is None:
        state = states[message_id] = [None, None, None, None, None, 0]
    return state


def apply(states: dict[int, State], kind: str, at: float, payload: bytes) -> None:
    """One stored event into ``states`` (message id -> state; None fields: unchanged)."""
    apply_data(states, kind, at, orjson.loads(payload))


def apply_data(states: dict[int, State], kind: str, at: float, data: Any) -> None:
    """``apply`` of an event's payload already parsed."""
    if kind == "outcome":
        upstream, entries = data
        for message_id, status, carrier_id, _ in entries:
            state = _state(states, message_id)
            if status == 0:
                state[STATUS], state[UPSTREAM], state[UPSTREAM_ID] = SENT, upstream, carrier_id
                state[SUBMITTED_AT] = at
            else:
                state[STATUS], state[DONE_AT] = f"failed 0x{status:08x}", at
    elif kind == "receipt":
        for message_id, stat in data:
            state = _state(states, message_id)
            state[STATUS], state[DONE_AT] = stat, at
    elif kind == "ledger":
        money, entries = data
        if money in ("reserve", "refund"):  # reserve: -cost; refund: +cost back
            for message_id, amount in expand(entries):
                state = _state(states, message_id)
                state[CHARGE] = (state[CHARGE] or 0) - amount


def merge(base: State, change: State) -> State:
    """``change`` (None fields unchanged, charge a difference) on top of ``base``.
    Spelled out field by field: once a record folded in a round, the slices, zip and
    comprehension cost ~3x this."""
    status, upstream, upstream_id, submitted_at, done_at, charge = change
    return [base[0] if status is None else status,
            base[1] if upstream is None else upstream,
            base[2] if upstream_id is None else upstream_id,
            base[3] if submitted_at is None else submitted_at,
            base[4] if done_at is None else done_at,
            (base[5] or 0) + (charge or 0)]


def fold(events: Iterable[tuple[str, float, Any]],
         states: dict[int, State] | None = None) -> dict[int, State]:
    """``events`` (payloads parsed) applied in order onto ``states``: whole states are
    changed in place, and a message not in it gets a change (None fields) appended."""
    if states is None:
        states = {}
    for kind, at, data in events:
        apply_data(states, kind, at, data)
    return states
