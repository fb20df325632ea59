"""Receipts and MO queued per account for its RX/TRX sessions (no sockets)."""

from __future__ import annotations

from structlog.testing import capture_logs

from router.dispatch.inbound import Inbound, Outgoing
from router.model.status import ESME_NACKED
from router.store.inbox import KEY_BITS, InboxRows
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
    assert rx.got == [item._replace(attempts=1)]  # the same item, one attempt more


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


# --- the durable queue (issue 12) ----------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def durable(limit: int = 10, ttl: float = 0.0, limits: dict[str, int] | None = None
            ) -> tuple[Inbound, InboxRows, Timers, Clock]:
    rows, timers, clock = InboxRows(), Timers(), Clock()
    inbound = Inbound(limit, 5, timers.call_later, rows, ttl, limits, clock)
    wakes: list[int] = []
    inbound.wake = lambda: wakes.append(1)
    return inbound, rows, timers, clock


def test_an_item_leaves_the_store_only_on_esme_rok() -> None:
    """issue 12: removed when the ESME answers deliver_sm_resp ROK; a 0x58, 0x14 or 0x64
    keeps it (offered again later)."""
    inbound, rows, timers, _ = durable()
    rx = FakeReceiver("acc", 10)
    inbound.attach(rx)
    inbound.enqueue("acc", [body(i) for i in range(4)])
    assert rows.open_batches == 1
    a, b, c, d = rx.got
    inbound.on_answers([(a, 0), (b, 0x58), (c, 0x14), (d, 0x64)])
    assert rows.open_batches == 1 and len(timers.due) == 3 and inbound.acknowledged == 1
    rx.got.clear()
    timers.run()
    inbound.on_answers([(item, 0) for item in rx.got])
    assert rows.open_batches == 0 and inbound.acknowledged == 4
    pending = rows.take(0.0)
    assert not pending.added and not pending.dropped  # never written: nothing to delete


def test_final_esme_refusal_is_given_up_logged_and_forgotten() -> None:
    inbound, rows, timers, _ = durable()
    rx = FakeReceiver("acc", 10)
    inbound.attach(rx)
    inbound.enqueue("acc", [body(1)])
    with capture_logs() as logs:
        inbound.on_answers([(rx.got[0], 0x45)])
    assert timers.due == [] and rows.open_batches == 0 and inbound.refused == 1
    assert [e["status"] for e in logs if e["event"] == "receipt_refused_by_esme"] == [0x45]


def test_items_past_the_ttl_are_given_up_when_a_receiver_comes() -> None:
    inbound, rows, _, clock = durable(ttl=60.0)
    inbound.enqueue("acc", [body(1)])
    clock.now += 30
    inbound.enqueue("acc", [body(2)])
    clock.now += 40  # the first is 70 s old, the second 40 s
    rx = FakeReceiver("acc", 10)
    with capture_logs() as logs:
        inbound.attach(rx)
    assert [o.body for o in rx.got] == [b"r2"] and inbound.expired == 1
    assert rows.open_batches == 1
    assert [e["expired_total"] for e in logs if e["event"] == "receipt_expired"] == [1]


def test_queue_bound_per_account_overrides_the_default() -> None:
    inbound, rows, _, _ = durable(limit=5, limits={"small": 2})
    inbound.enqueue("small", [body(i) for i in range(4)])
    inbound.enqueue("big", [body(i) for i in range(4)])
    assert inbound.queued("small") == 2 and inbound.queued("big") == 4
    assert inbound.dropped == 2 and rows.open_batches == 2


def test_restored_items_are_queued_again_not_recorded_again() -> None:
    inbound, rows, _, _ = durable()
    assert inbound.restore([(5 << KEY_BITS, "acc", 1.0, b"old1"),
                            ((5 << KEY_BITS) + 2, "acc", 1.0, b"old2")]) == 2
    assert not rows.dirty
    rows.resume({5: 2}, 5)
    rx = FakeReceiver("acc", 10)
    inbound.attach(rx)
    assert [o.body for o in rx.got] == [b"old1", b"old2"]
    inbound.on_answers([(item, 0) for item in rx.got])
    assert rows.open_batches == 0 and rows.take(0.0).dropped == [5]


# --- a carrier's deliver_sm answered only when what it brought is safe ----------------


def test_a_carriers_answer_waits_until_the_esme_took_every_item() -> None:
    """requirements §3 (never lose an acknowledged message): the carrier hears ESME_ROK
    for its receipts when the ESME has answered ROK to each of them (nothing was stored:
    the usual case, a crash before that makes the carrier send them again)."""
    inbound, rows, _, _ = durable()
    rx = FakeReceiver("acc", 10)
    inbound.attach(rx)
    answered: list[int] = []
    inbound.when_safe(inbound.enqueue("acc", [body(1), body(2)]), lambda: answered.append(1))
    assert answered == []
    first, second = rx.got
    inbound.on_answers([(first, 0)])
    assert answered == []
    inbound.on_answers([(second, 0x58)])  # offered again later: still in the queue
    assert answered == []
    inbound.on_answers([(second, 0)])
    assert answered == [1]
    assert not rows.take(0.0).added  # never written


def test_a_carriers_answer_waits_for_the_commit_that_stores_its_items() -> None:
    """An ESME bound but not answering: the items are written by the first commit after
    the write delay, and the carrier is answered after that commit, not before (nor
    after a commit that failed)."""
    inbound, rows, _, clock = durable()
    rows.delay = 0.05
    inbound.attach(FakeReceiver("acc", 10))
    inbound.attach(FakeReceiver("other", 10))
    answered: list[int] = []
    handed = inbound.enqueue("acc", [body(1)]) + inbound.enqueue("other", [body(2)])
    inbound.when_safe(handed, lambda: answered.append(1))
    rows.take(clock.now)  # a commit inside the delay writes nothing
    inbound.on_committed()
    assert answered == []
    pending = rows.take(clock.now + 1.0)  # the delay passed: both written
    assert sorted(pending.added) == [first >> KEY_BITS for first in handed]
    rows.keep(pending)  # ... but that commit failed: the carrier still waits
    inbound.on_committed()
    assert answered == []
    assert sorted(rows.take(clock.now + 1.0).added) == [f >> KEY_BITS for f in handed]
    inbound.on_committed()
    assert answered == [1]


def test_with_nobody_bound_the_next_commit_writes_them_without_waiting() -> None:
    """No RX/TRX session for the account: waiting the delay could save no write, and the
    carrier waits for it; the next commit writes the items (the answer follows it)."""
    inbound, rows, _, clock = durable()
    rows.delay = 5.0
    answered: list[int] = []
    inbound.when_safe(inbound.enqueue("acc", [body(1)]), lambda: answered.append(1))
    assert len(rows.take(clock.now).added) == 1
    inbound.on_committed()
    assert answered == [1]


def test_without_a_store_or_anything_queued_the_carrier_is_answered_at_once() -> None:
    answered: list[int] = []
    plain = Inbound(10, 3, Timers().call_later)
    plain.when_safe(plain.enqueue("acc", [body(1)]), lambda: answered.append(1))
    inbound, _, _, _ = durable()
    inbound.when_safe([], lambda: answered.append(2))  # e.g. only repeats in that read
    assert answered == [1, 2]
