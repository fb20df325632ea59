"""What the queues need of the parts on either side of them, as Protocols.

The ESME side (server/) and the carrier side (upstream/) never import each other: each
talks to dispatch/, and dispatch/ knows them only through these shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from router.model.messages import Message
from router.model.status import RetryClass
from router.smpp.deliver import Deliver
from router.smpp.pdu import DeliverSm
from router.smpp.session import Submit

if TYPE_CHECKING:
    from router.dispatch.inbound import Outgoing


class Submitter(Protocol):
    """The ESME connection an accepted read batch came from."""

    def answer_accepted(self, first_id: int, submits: list[Submit]) -> None: ...

    def answer_refused(self, submits: list[Submit], status: int) -> None: ...


class Receiver(Protocol):
    """An ESME session that can take deliver_sm (bound RX or TRX)."""

    @property
    def account(self) -> str: ...

    def receipt_window(self) -> int: ...

    def deliver(self, items: list[Outgoing]) -> None:
        """deliver_sm for this session, at most ``receipt_window()`` of them, as one
        batch (encoded into one buffer, written once per loop turn)."""


class Readers(Protocol):
    """The ESME side's reading, paused while the outbound queue is over its limit."""

    def set_paused(self, paused: bool) -> None: ...


class Carriers(Protocol):
    """The carrier side as the outbound queue sees it."""

    def pump(self) -> None:
        """Messages are waiting: take what the open windows allow (``Outbound.take``
        per upstream group)."""

    def lowest_in_flight(self) -> int | None:
        """The smallest id sent and not yet answered, if any."""


class CarrierReports(Protocol):
    """What the carrier side reports, a read batch at a time."""

    def on_results(self, results: list[tuple[Message, int, str]], upstream: str = "") -> None:
        """submit_sm_resp: (message, carrier status, carrier message id)."""

    def on_deliver(self, delivers: list[Deliver], answer: Callable[[], None]) -> None:
        """deliver_sm from a carrier (scanned, not decoded): receipts and MO.
        ``answer()`` when the carrier may be told ESME_ROK: at once, or once what they
        became is stored or taken by an ESME (a crash must not lose an answered one)."""

    def on_no_answer(self, messages: list[Message], reason: str, cause: RetryClass) -> None:
        """Sent but never answered (connection lost, carrier silent): to be sent again,
        by the retry table's row ``cause``."""


class Routes(Protocol):
    """The routing table as the outbound queue sees it (upstream/routing.py)."""

    def route(self, messages: list[Message]) -> dict[str, list[Message]]:
        """A batch split by upstream group name (decided per batch, not per rule)."""


class Finals(Protocol):
    """Where messages the outbound queue gives up on go (validity passed)."""

    def expire(self, messages: list[Message]) -> None: ...


class InboxLog(Protocol):
    """The store's record of the receipt and MO queue (rows ride the journal's group
    commit; SQLite today, PostgreSQL later)."""

    def add(self, account: str, at: float, bodies: list[bytes], *, waits: bool = True
            ) -> int:
        """A hand-over to be kept: the key of its first item (the others follow).
        ``waits``: it may wait a moment to be written (an ESME is bound to take it)."""

    def done(self, keys: list[int]) -> list[int]:
        """Items that left the queue for good; the hand-overs now gone whole (their
        first keys)."""

    def unsafe(self, firsts: list[int]) -> list[int]:
        """Those hand-overs (by ``add``'s first keys) still queued and not yet stored."""


class MoRouting(Protocol):
    """Policy's view of an MO: opt-outs applied, and which account it belongs to."""

    def on_mo(self, pdu: DeliverSm) -> tuple[str, DeliverSm] | None: ...
