"""Carrier answers turned into outcomes and retries, and the outbound queue's bound
(router.dispatch.reports, router.dispatch.outbound), without sockets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from router.dispatch.inbound import Inbound
from router.dispatch.outbound import Outbound
from router.dispatch.reports import Reports
from router.dispatch.settings import DispatchSettings
from router.dlr.book import ReceiptBook
from router.model.messages import Message, Outcome
from router.model.status import GIVEN_UP, CarrierClass, carrier_class
from router.smpp.pdu import CommandStatus as S


class Timers:
    def __init__(self) -> None:
        self.due: list[tuple[float, Callable[[], None]]] = []

    def call_later(self, delay: float, fn: Callable[[], None]) -> object:
        self.due.append((delay, fn))
        return None

    def run(self) -> None:
        due, self.due = self.due, []
        for _, fn in due:
            fn()


class Readers:
    def __init__(self) -> None:
        self.changes: list[bool] = []

    def set_paused(self, paused: bool) -> None:
        self.changes.append(paused)


class Carriers:
    """Takes nothing unless told to: the queue's content is what the test inspects."""

    def __init__(self) -> None:
        self.outbound: Outbound | None = None
        self.take = 0

    def pump(self) -> None:
        if self.take and self.outbound is not None:
            self.outbound.take(self.take)

    def lowest_in_flight(self) -> int | None:
        return None


class Journal:
    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []

    def record_outcomes(self, outcomes: list[Outcome]) -> None:
        self.outcomes.extend(outcomes)


def parts(**settings: Any) -> tuple[Reports, Outbound, Journal, Timers, Readers]:
    timers, readers, journal = Timers(), Readers(), Journal()
    outbound = Outbound(DispatchSettings(**settings), readers, timers.call_later)
    carriers = Carriers()
    carriers.outbound = outbound
    outbound.attach(carriers)
    reports = Reports(cast(Any, journal), outbound, Inbound(10, 3, timers.call_later),
                      ReceiptBook(), cast(Any, None))
    return reports, outbound, journal, timers, readers


def message(n: int) -> Message:
    return Message(id=n, account="acc", body=b"", receipt=False)


def test_congestion_answers_go_back_without_spending_an_attempt() -> None:
    reports, outbound, journal, timers, _ = parts(max_attempts=2)
    m1, m2 = message(1), message(2)
    for _ in range(50):  # throttled far more often than max_attempts: never given up
        reports.on_results([(m1, S.ESME_RTHROTTLED, ""), (m2, S.ESME_RMSGQFUL, "")])
        assert outbound.take(10) == [m1, m2]  # at once, at the front, in order
    assert (m1.attempts, m2.attempts) == (0, 0)
    assert journal.outcomes == [] and timers.due == []
    assert reports.congested == 100 and reports.refused == 0
    reports.on_results([(m1, 0, "c1"), (m2, 0, "c2")])
    assert journal.outcomes == [(1, 0, "c1", False), (2, 0, "c2", False)]


def test_other_temporary_refusals_spend_attempts_and_wait() -> None:
    reports, outbound, journal, timers, _ = parts(max_attempts=2, retry_delay=5.0)
    m = message(7)
    reports.on_results([(m, S.ESME_RSYSERR, "")])
    assert m.attempts == 1 and outbound.queued == 0 and [d for d, _ in timers.due] == [5.0]
    timers.run()
    assert outbound.take(10) == [m]
    reports.on_results([(m, S.ESME_RSYSERR, "")])
    assert journal.outcomes == [(7, GIVEN_UP, "", False)] and reports.refused == 1


def test_lost_with_the_connection_goes_back_at_once_spending_one() -> None:
    reports, outbound, _, timers, _ = parts(max_attempts=3)
    m = message(3)
    reports.on_no_answer([m], "connection lost", True)
    assert m.attempts == 1 and outbound.take(10) == [m] and timers.due == []


def test_status_table_classes() -> None:
    assert carrier_class(0) is CarrierClass.ACCEPTED
    assert carrier_class(S.ESME_RTHROTTLED) is CarrierClass.CONGESTED
    assert carrier_class(S.ESME_RMSGQFUL) is CarrierClass.CONGESTED
    assert carrier_class(S.ESME_RSYSERR) is CarrierClass.TEMPORARY
    assert carrier_class(S.ESME_RINVDSTADR) is CarrierClass.FINAL


def test_queue_over_its_limit_pauses_readers_until_it_halves() -> None:
    _, outbound, _, _, readers = parts(queue_limit=10)
    outbound.put([message(n) for n in range(10)])
    assert readers.changes == []
    outbound.put([message(10)])
    assert readers.changes == [True]
    outbound.put([message(n) for n in range(11, 30)])  # still paused: no second call
    assert readers.changes == [True]
    outbound.take(24)  # 6 left: above half
    assert readers.changes == [True]
    outbound.take(1)  # 5 = half
    assert readers.changes == [True, False]
    assert not outbound.empty.is_set()
    outbound.take(5)
    assert outbound.empty.is_set()
