"""Receipts and MO queued per account for its RX/TRX sessions (no sockets)."""

from __future__ import annotations

from structlog.testing import capture_logs

from router.dispatch.inbound import Inbound, Outgoing
from router.model.status import ESME_NACKED
from tests.fakes import Timers


class FakeReceiver:
    def __init__(self, account: str, window: int) -> None:
        self._account = account
        self.window = window
        self.got: list[Outgoing] = []
        self.batches = 0

    @property
    def account(self) -> str:
        return self._account

    def receipt_window(self) -> int:
        return self.window - len(self.got)

    def deliver(self, items: list[Outgoing]) -> None:
        self.got.extend(items)
        self.batches += 1


def body(n: int) -> bytes:
    return b"r%d" % n


def test_receipts_wait_for_a_receiver() -> None:
    """A receipt for an account with no RX bind waits in its queue, then is delivered."""
    inbound = Inbound(10, 3, Timers().call_later)
    inbound.enqueue("acc", [body(1)])
    assert inbound.queued("acc") == 1
    rx = FakeReceiver("acc", 10)
    inbound.attach(rx)
    assert inbound.queued("acc") == 0 and rx.got[0].body == b"r1"


def test_round_robin_and_window() -> None:
    inbound = Inbound(10, 3, Timers().call_later)
    a, b = FakeReceiver("acc", 2), FakeReceiver("acc", 2)
    inbound.attach(a)
    inbound.attach(b)
    for i in range(5):
        inbound.enqueue("acc", [body(i)])
    assert len(a.got) + len(b.got) == 4 and inbound.queued("acc") == 1
    assert a.got and b.got


def test_queue_overflow_drops_oldest_and_counts() -> None:
    inbound = Inbound(2, 3, Timers().call_later)
    for i in range(3):
        inbound.enqueue("acc", [body(i)])
    assert inbound.queued("acc") == 2 and inbound.dropped == 1


def test_throttled_answer_offers_it_again_later() -> None:
    """An ESME answering ESME_RTHROTTLED (0x58) to a deliver_sm gets it again, later."""
    timers = Timers()
    inbound = Inbound(10, 3, timers.call_later)
    rx = FakeReceiver("acc", 1)
    inbound.attach(rx)
    inbound.enqueue("acc", [body(1)])
    item = rx.got.pop()
    inbound.on_answers([(item, 0x58)])
    assert inbound.queued("acc") == 0 and len(timers.due) == 1
    timers.due[0][1]()
    assert rx.got == [item] and item.attempts == 1


def test_unanswered_on_close_go_back_to_the_front() -> None:
    inbound = Inbound(10, 3, Timers().call_later)
    rx = FakeReceiver("acc", 1)
    inbound.attach(rx)
    inbound.enqueue("acc", [body(1)])
    inbound.enqueue("acc", [body(2)])
    inbound.detach(rx, rx.got)
    later = FakeReceiver("acc", 5)
    inbound.attach(later)
    assert [o.body for o in later.got] == [b"r1", b"r2"]


def test_gives_up_after_max_attempts() -> None:
    timers = Timers()
    inbound = Inbound(10, 2, timers.call_later)
    item = Outgoing("acc", body(1), attempts=1)
    inbound.on_answers([(item, ESME_NACKED)])
    assert timers.due == []


def test_a_batch_reaches_a_receiver_at_once() -> None:
    """A carrier read's receipts for one account: one hand-over to the session."""
    inbound = Inbound(100, 3, Timers().call_later)
    rx = FakeReceiver("acc", 64)
    inbound.attach(rx)
    inbound.enqueue("acc", [body(i) for i in range(10)])
    assert rx.batches == 1 and [o.body for o in rx.got] == [body(i) for i in range(10)]


def test_overflow_of_a_batch_drops_the_oldest_and_logs_sampled() -> None:
    inbound = Inbound(4, 3, Timers().call_later)
    with capture_logs() as logs:
        inbound.enqueue("acc", [body(i) for i in range(7)])
        inbound.enqueue("acc", [body(7)])
    assert inbound.dropped == 4 and inbound.queued("acc") == 4
    assert [e["dropped_total"] for e in logs if e["event"] == "receipt_queue_full"] == [3, 4]
