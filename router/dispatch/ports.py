"""What the queues need of the parts on either side of them, as Protocols.

The ESME side (server/) and the carrier side (upstream/) never import each other: each
talks to dispatch/, and dispatch/ knows them only through these shapes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from router.model.messages import Message
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
        """Messages are waiting: take what the open windows allow."""

    def lowest_in_flight(self) -> int | None:
        """The smallest id sent and not yet answered, if any."""


class CarrierReports(Protocol):
    """What the carrier side reports, a read batch at a time."""

    def on_results(self, results: list[tuple[Message, int, str]], upstream: str = "") -> None:
        """submit_sm_resp: (message, carrier status, carrier message id)."""

    def on_deliver(self, delivers: list[Deliver]) -> None:
        """deliver_sm from a carrier (scanned, not decoded): receipts and MO."""

    def on_no_answer(self, messages: list[Message], reason: str, at_once: bool) -> None:
        """Sent but never answered (timeout, connection lost): to be sent again."""


class MoRouting(Protocol):
    """Policy's view of an MO: opt-outs applied, and which account it belongs to."""

    def on_mo(self, pdu: DeliverSm) -> tuple[str, DeliverSm] | None: ...
