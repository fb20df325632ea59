"""Upstream groups (upstream/groups.py) without sockets: which upstream of a group takes
the messages routed to it, by strategy."""

from __future__ import annotations

from typing import Any, cast

from router.dispatch.outbound import Outbound
from router.dispatch.settings import DispatchSettings
from router.model.messages import Message
from router.upstream.groups import Group, Upstream
from tests.fakes import Readers, Timers, long_ago


class Window:
    """A connection: bound or not, a window that frees when the test says."""

    def __init__(self, size: int = 10, ready: bool = True) -> None:
        self.size, self.ready, self.sent = size, ready, 0
        self.held = 0

    def sendable(self) -> int:
        return self.size - self.held if self.ready else 0

    def send(self, messages: list[Message]) -> None:
        self.sent += len(messages)
        self.held += len(messages)


class Table:
    def __init__(self, group: str) -> None:
        self.group = group

    def route(self, messages: list[Message]) -> dict[str, list[Message]]:
        return {self.group: messages}


def setup(strategy: str, *windows: Window, weights: tuple[int, ...] = ()
          ) -> tuple[Group, Outbound]:
    outbound = Outbound(DispatchSettings(), Readers(), Timers().call_later, clock=long_ago)
    outbound.set_routes(Table("g"))
    ups = [Upstream(f"u{i}", [cast(Any, w)]) for i, w in enumerate(windows)]
    return Group("g", strategy, ups, weights), outbound


def load(outbound: Outbound, count: int, start: int = 0) -> None:
    outbound.put([Message(start + i, "acc", b"") for i in range(count)])


def test_failover_takes_the_first_upstream_up_and_never_spills_on_a_full_window() -> None:
    first, second = Window(ready=False), Window()
    group, outbound = setup("failover", first, second)
    load(outbound, 5)
    group.pump(outbound)
    assert (first.sent, second.sent) == (0, 5)  # the first is down
    first.ready = True
    load(outbound, 30, 100)
    group.pump(outbound)
    assert (first.sent, second.sent) == (10, 5)  # back on the first, its window only
    assert outbound.queued_in("g") == 20


def test_weighted_shares_follow_the_weights() -> None:
    fast, slow = Window(size=1000), Window(size=1000)
    group, outbound = setup("weighted", fast, slow, weights=(3, 1))
    for batch in range(100):
        load(outbound, 40, batch * 40)
        group.pump(outbound)
        fast.held = slow.held = 0  # answered
    assert (fast.sent, slow.sent) == (3000, 1000)  # batch by batch, to the one behind
    # the one behind (fast: 30 short of 3/4 of 4,040) has room for 10: the next one takes
    # what it lacks of its own share (10), the rest waits for fast's window
    fast.size = 10
    load(outbound, 40, 10_000)
    group.pump(outbound)
    assert (fast.sent, slow.sent) == (3010, 1010) and outbound.queued_in("g") == 20


def test_weighted_starts_over_when_an_upstream_goes_down() -> None:
    a, b = Window(size=1000), Window(size=1000)
    group, outbound = setup("weighted", a, b, weights=(1, 1))
    b.ready = False
    load(outbound, 100)
    group.pump(outbound)
    assert (a.sent, b.sent) == (100, 0)
    b.ready = True
    for batch in range(4):
        load(outbound, 25, 100 + batch * 25)
        group.pump(outbound)
    assert (a.sent, b.sent) == (150, 50)  # shares count from the change, no catch-up burst


def test_round_robin_starts_one_further_each_time() -> None:
    a, b = Window(size=100), Window(size=100)
    group, outbound = setup("round_robin", a, b)
    for batch in range(4):
        load(outbound, 10, batch * 10)
        group.pump(outbound)
    assert (a.sent, b.sent) == (20, 20)
