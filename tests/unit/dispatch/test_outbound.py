"""The outbound queue between intake and the carriers (no sockets): bounded, with
backpressure on the ESME side, retries that spend attempts, and the low-water mark the
journal's recovery starts from (design.md §3.4)."""

from __future__ import annotations

from router.dispatch.lanes import priority_of, source_of
from router.dispatch.outbound import Outbound
from router.dispatch.settings import DispatchSettings
from router.model.messages import Message
from router.model.status import RetryClass
from router.smpp import codec
from router.smpp.pdu import SubmitSm
from tests.fakes import Readers, Timers, long_ago


class Carriers:
    def __init__(self, in_flight: int | None = None) -> None:
        self.pumps = 0
        self.in_flight = in_flight

    def pump(self) -> None:
        self.pumps += 1

    def lowest_in_flight(self) -> int | None:
        return self.in_flight




def messages(*ids: int) -> list[Message]:
    return [Message(i, "acc", b"") for i in ids]


def test_pressure_above_the_limit_and_release_below_half() -> None:
    """design §3.4: a full queue pauses ESME reading; it resumes at half, not before."""
    readers = Readers()
    outbound = Outbound(DispatchSettings(queue_limit=4), readers, Timers().call_later,
                        clock=long_ago)
    outbound.put(messages(1, 2, 3, 4))
    assert readers.paused == []
    outbound.put(messages(5))
    assert readers.paused == [True]
    assert [m.id for m in outbound.take(2)] == [1, 2]
    assert readers.paused == [True]  # 3 left: above half of 4
    outbound.take(1)
    assert readers.paused == [True, False]


def test_put_wakes_the_carriers_and_empty_tracks_the_queue() -> None:
    outbound = Outbound(DispatchSettings(), Readers(), Timers().call_later,
                        clock=long_ago)
    carriers = Carriers()
    outbound.attach(carriers)
    assert outbound.empty.is_set()
    outbound.put(messages(1, 2))
    assert carriers.pumps == 1 and not outbound.empty.is_set()
    assert [m.id for m in outbound.take(10)] == [1, 2]
    assert outbound.empty.is_set()


def test_again_at_once_goes_first_and_later_waits_for_its_timer() -> None:
    timers = Timers()
    outbound = Outbound(DispatchSettings(retry_delay=5.0), Readers(), timers.call_later,
                        clock=long_ago)
    outbound.put(messages(3))
    outbound.again(messages(1, 2), RetryClass.BIND_LOST)
    assert [m.id for m in outbound.take(1)] == [1]
    outbound.again(messages(9), RetryClass.SYSTEM_ERROR)
    assert timers.due and timers.due[0][0] == 5.0
    assert not outbound.empty.is_set()
    assert [m.id for m in outbound.take(10)] == [2, 3]
    timers.due[0][1]()
    assert [m.id for m in outbound.take(10)] == [9]


def test_attempts_run_out() -> None:
    """A message sent max_attempts times is handed back for a final refusal."""
    outbound = Outbound(DispatchSettings(max_attempts=2), Readers(), Timers().call_later,
                        clock=long_ago)
    message = Message(1, "acc", b"")
    assert outbound.again([message], RetryClass.BIND_LOST) == []
    assert outbound.again([message], RetryClass.BIND_LOST) == [message]


def test_low_water_covers_queued_delayed_and_in_flight() -> None:
    """The journal's done_below mark never passes a message without a final answer."""
    timers = Timers()
    outbound = Outbound(DispatchSettings(), Readers(), timers.call_later,
                        clock=long_ago)
    assert outbound.low_water(100) == 100
    outbound.put(messages(50, 60))
    assert outbound.low_water(100) == 50
    outbound.take(2)
    outbound.again(messages(40), RetryClass.SYSTEM_ERROR)
    assert outbound.low_water(100) == 40
    timers.due[0][1]()
    outbound.take(1)
    outbound.attach(Carriers(in_flight=30))
    assert outbound.low_water(100) == 30


def submit_body(priority: int, source: bytes = b"3000", destination: bytes = b"989121234567"
                ) -> bytes:
    """service_type, ton, npi, source, ton, npi, destination, esm_class, protocol_id,
    priority_flag, ..."""
    return (b"\0" + b"\x05\x00" + source + b"\0" + b"\x01\x01" + destination + b"\0"
            + b"\x00\x00" + bytes([priority]) + b"\0\0\x00\x00\x00\x00\x00\x00\x02hi")


def test_priority_flag_read_from_the_body() -> None:
    assert priority_of(submit_body(3)) == 3
    assert priority_of(submit_body(0, source=b"")) == 0
    assert priority_of(submit_body(2, destination=b"")) == 2
    assert priority_of(b"\0\x05") == 0  # truncated: no priority


def test_source_read_from_the_body() -> None:
    """A message released from quarantine from a line marked ``priority`` takes the
    priority lane: its source comes from the journalled body."""
    assert source_of(submit_body(0, source=b"3000")) == "3000"
    assert source_of(submit_body(0, source=b"")) == ""
    assert source_of(b"\0\x05\x0030") == ""  # truncated


def test_a_backlog_does_not_starve_another_account_and_priority_goes_first() -> None:
    """Issue 11: accounts sharing the carriers are served round-robin from their own
    queues; a priority_flag >= 2 message (an OTP) goes ahead of every backlog."""
    outbound = Outbound(DispatchSettings(queue_limit=100_000), Readers(), Timers().call_later,
                        clock=long_ago)
    outbound.put([Message(i, "bulk", submit_body(0)) for i in range(10_000)])
    outbound.put([Message(20_000 + i, "shop", submit_body(0)) for i in range(5)])
    outbound.put([Message(30_000, "bank", submit_body(2), urgent=True)])
    first = outbound.take(64)
    assert first[0].id == 30_000  # the priority lane first
    assert [m.id for m in first if m.account == "shop"] == list(range(20_000, 20_005))
    assert sum(m.account == "bulk" for m in first) == 58  # the rest of the window
    assert outbound.queued == 10_000 - 58
    assert [m.id for m in outbound.take(3)] == [58, 59, 60]  # bulk keeps its order
    assert outbound.low_water(99_999) == 61


def test_round_robin_shares_a_take_between_busy_accounts() -> None:
    outbound = Outbound(DispatchSettings(queue_limit=100_000), Readers(), Timers().call_later,
                        clock=long_ago)
    outbound.put([Message(i, "a", b"") for i in range(100)])
    outbound.put([Message(1000 + i, "b", b"") for i in range(100)])
    counts = [sum(m.account == "a" for m in outbound.take(10)) for _ in range(4)]
    assert counts == [5, 5, 5, 5]
    outbound.again([Message(7, "b", b"")], RetryClass.BIND_LOST)
    taken = outbound.take(200)
    assert next(m.id for m in taken if m.account == "b") == 7  # b's retry leads b's queue
    assert len(taken) == 161 and outbound.queued == 0


class Finals:
    def __init__(self) -> None:
        self.expired: list[int] = []

    def expire(self, messages: list[Message]) -> None:
        self.expired += [m.id for m in messages]


def aged(accepted: float, validity: str = "", account: str = "acc") -> Message:
    """A message accepted at ``accepted`` (its id carries the millisecond)."""
    body = codec.encode(SubmitSm(source_addr="3000", destination_addr="989121234567",
                                 validity_period=validity, short_message=b"hi"))[16:]
    return Message(int(accepted * 1000) << 16, account, body)


def test_validity_own_then_account_then_default() -> None:
    """Issue 12: the maximum age is the message's validity_period, else its account's
    default, else dispatch.validity."""
    outbound = Outbound(DispatchSettings(validity=600), Readers(), Timers().call_later,
                        {"shop": 60.0})
    t = 1_800_000_000.0
    assert outbound.expiry(aged(t, "000000000030000R")) == t + 30
    assert outbound.expiry(aged(t, "261130100000000+")) == 1_796_032_800
    assert outbound.expiry(aged(t, account="shop")) == t + 60
    assert outbound.expiry(aged(t)) == t + 600
    assert outbound.expiry(aged(t, "garbage_garbage!")) == t + 600  # unreadable: default


def test_a_retry_past_its_validity_ends_expired_and_the_sweep_finds_waiting_ones() -> None:
    now = [1_800_000_000.0]
    timers = Timers()
    outbound = Outbound(DispatchSettings(validity=100, expiry_sweep=1.0), Readers(),
                        timers.call_later, clock=lambda: now[0])
    finals = Finals()
    outbound.attach_finals(finals)
    old, young = aged(now[0] - 200), aged(now[0] - 10)
    assert outbound.again([old, young], RetryClass.BIND_LOST) == []
    assert finals.expired == [old.id] and [m.id for m in outbound.take(5)] == [young.id]
    outbound.put([young])
    delayed = aged(now[0] - 50)
    outbound.again([delayed], RetryClass.SYSTEM_ERROR)
    outbound.start_sweeps()
    now[0] += 95  # young is 105 s old, delayed 145 s: both past 100 s
    sweep = timers.due[-1][1]
    sweep()
    assert finals.expired == [old.id, young.id, delayed.id]
    assert outbound.queued == 0 and outbound.empty.is_set()
    timers.due[1][1]()  # the delayed one's retry timer: nothing left to send
    assert outbound.queued == 0


def test_retry_table_backoff_doubles_per_spent_attempt() -> None:
    timers = Timers()
    outbound = Outbound(DispatchSettings(retry_delay=1.0, max_attempts=10), Readers(),
                        timers.call_later, clock=long_ago)
    message = Message(1, "acc", b"")
    for _ in range(4):
        outbound.again([message], RetryClass.SYSTEM_ERROR)
    assert [d for d, _ in timers.due] == [1.0, 2.0, 4.0, 8.0]


def test_find_and_withdraw_queued_urgent_and_delayed_messages() -> None:
    """cancel_sm: a message not yet sent is found by id wherever it waits (account
    lane, priority lane, waiting to be sent again) and withdrawn for good; one already
    taken is not there any more."""
    timers = Timers()
    outbound = Outbound(DispatchSettings(retry_delay=5.0), Readers(), timers.call_later,
                        clock=long_ago)
    queued = [Message(1, "a", b""), Message(2, "b", b""), Message(3, "a", b"", urgent=True)]
    outbound.put(queued)
    delayed = Message(4, "a", b"")
    outbound.again([delayed], RetryClass.SYSTEM_ERROR)
    assert [outbound.find(i) for i in (1, 3, 4)] == [queued[0], queued[2], delayed]
    assert outbound.find(99) is None
    assert sorted(m.id for m in outbound.waiting("a")) == [1, 3, 4]
    assert all(outbound.withdraw(m) for m in (queued[0], queued[2], delayed))
    assert not outbound.withdraw(queued[0])
    assert outbound.queued == 1 and outbound.find(1) is None
    timers.due[0][1]()  # the delayed one's time comes: it was withdrawn, nothing comes back
    assert [m.id for m in outbound.take(10)] == [2]
    assert outbound.empty.is_set()
    assert not outbound.withdraw(queued[1])  # taken by a carrier already
