"""Messages between the ESME side and the carrier side, and what carriers answered."""

from __future__ import annotations

from dataclasses import dataclass


def format_id(message_id: int) -> str:
    """Our ids as ESMEs see them (hex: 15 characters, below the 16 many clients accept)."""
    return f"{message_id:x}"


# A carrier outcome: our id, the carrier's status, the carrier's id, receipt wanted.
Outcome = tuple[int, int, str, bool]


@dataclass(slots=True)
class Message:
    """A message accepted from an ESME and not yet finally answered by a carrier."""

    id: int
    account: str
    body: bytes
    attempts: int = 0
    receipt: bool = True
    """The ESME asked for a delivery receipt: remember the carrier's id."""
    urgent: bool = False
    """submit_sm priority_flag >= 2 (an OTP): the outbound queue's priority lane."""
    source: str = ""
    destination: str = ""
    """As the ESME wrote them (routing reads them; "" = read from the body when needed)."""
    expires: float = 0.0
    """When store-and-forward gives up on it (wall clock); 0.0 = not worked out yet."""


def accepted_at(message_id: int) -> float:
    """When a message was accepted: our ids carry their millisecond (store/ids.py)."""
    return (message_id >> 16) / 1000.0
