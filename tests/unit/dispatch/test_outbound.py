"""The outbound queue between intake and the carriers (no sockets): bounded, with
backpressure on the ESME side, retries that spend attempts, and the low-water mark the
journal's recovery starts from (design.md §3.4)."""

from __future__ import annotations

from router.dispatch.outbound import Outbound
from router.dispatch.settings import DispatchSettings
from router.model.messages import Message
from tests.fakes import Readers, Timers


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
    outbound = Outbound(DispatchSettings(queue_limit=4), readers, Timers().call_later)
    outbound.put(messages(1, 2, 3, 4))
    assert readers.paused == []
    outbound.put(messages(5))
    assert readers.paused == [True]
    assert [m.id for m in outbound.take(2)] == [1, 2]
    assert readers.paused == [True]  # 3 left: above half of 4
    outbound.take(1)
    assert readers.paused == [True, False]


def test_put_wakes_the_carriers_and_empty_tracks_the_queue() -> None:
    outbound = Outbound(DispatchSettings(), Readers(), Timers().call_later)
    carriers = Carriers()
    outbound.attach(carriers)
    assert outbound.empty.is_set()
    outbound.put(messages(1, 2))
    assert carriers.pumps == 1 and not outbound.empty.is_set()
    assert [m.id for m in outbound.take(10)] == [1, 2]
    assert outbound.empty.is_set()


def test_again_at_once_goes_first_and_later_waits_for_its_timer() -> None:
    timers = Timers()
    outbound = Outbound(DispatchSettings(retry_delay=5.0), Readers(), timers.call_later)
    outbound.put(messages(3))
    outbound.again(messages(1, 2), at_once=True)
    assert [m.id for m in outbound.take(1)] == [1]
    outbound.again(messages(9))
    assert timers.due and timers.due[0][0] == 5.0
    assert not outbound.empty.is_set()
    assert [m.id for m in outbound.take(10)] == [2, 3]
    timers.due[0][1]()
    assert [m.id for m in outbound.take(10)] == [9]


def test_attempts_run_out() -> None:
    """A message sent max_attempts times is handed back for a final refusal."""
    outbound = Outbound(DispatchSettings(max_attempts=2), Readers(), Timers().call_later)
    message = Message(1, "acc", b"")
    assert outbound.again([message], at_once=True) == []
    assert outbound.again([message], at_once=True) == [message]


def test_low_water_covers_queued_delayed_and_in_flight() -> None:
    """The journal's done_below mark never passes a message without a final answer."""
    timers = Timers()
    outbound = Outbound(DispatchSettings(), Readers(), timers.call_later)
    assert outbound.low_water(100) == 100
    outbound.put(messages(50, 60))
    assert outbound.low_water(100) == 50
    outbound.take(2)
    outbound.again(messages(40))
    assert outbound.low_water(100) == 40
    timers.due[0][1]()
    outbound.take(1)
    outbound.attach(Carriers(in_flight=30))
    assert outbound.low_water(100) == 30
