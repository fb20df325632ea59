"""Held (quarantined) messages as ops see them: decoded text, our hex id.  Shared by the
API (``admin/quarantine.py``) and `chapar quarantine`; no aiohttp here, so the CLI stays
quick to start."""

from __future__ import annotations

from typing import Any

from router.policy.content.stage import text_of
from router.smpp import codec
from router.smpp.pdu import CommandId, SubmitSm
from router.smpp.session import Submit
from router.store.quarantine import Held

STATES = ("held", "released", "rejected", "all")


def decoded(body: bytes) -> tuple[SubmitSm, str]:
    """A held submit_sm body: the PDU and its text."""
    sm = codec.decode(CommandId.SUBMIT_SM, 0, 0, body)
    assert isinstance(sm, SubmitSm)
    return sm, text_of(Submit(0, body, sm.source_addr, sm.destination_addr, 0, 0, 0))


def parse_id(raw: str) -> int:
    """Our message id as shown everywhere (hex); ValueError otherwise."""
    if not raw or len(raw) > 16:
        raise ValueError(raw)
    return int(raw, 16)


def held_json(held: Held) -> dict[str, Any]:
    sm, text = decoded(held.body)
    return {"id": f"{held.message_id:x}", "account": held.account, "at": held.at,
            "category": held.category, "reason": held.reason, "state": held.state,
            "decided_at": held.decided_at, "dispatched": held.dispatched,
            "source": sm.source_addr, "destination": sm.destination_addr, "text": text}
