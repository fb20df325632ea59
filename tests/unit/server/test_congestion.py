"""congestion_state for SMPP 5.0 sessions (issue 11 item 1): 0-100 from the throttle
bucket fill and the dispatch queue fill, whichever is fuller (no sockets)."""

from __future__ import annotations

from router.dispatch.outbound import Outbound
from router.dispatch.settings import DispatchSettings
from router.model.limits import Limit, LimitBook
from router.model.messages import Message
from router.server.requests import Congestion
from tests.fakes import Readers, Timers
from tests.unit.policy.test_throttle import make, submit


def test_level_is_the_fuller_of_bucket_and_queue() -> None:
    """issue 11 item 1: "congestion_state on submit_sm_resp (0-100 from the bucket fill
    and the dispatch queue)"."""
    stage, _, snap = make(LimitBook(accounts={"acc": Limit(0.001, 10)}))
    outbound = Outbound(DispatchSettings(queue_limit=100), Readers(), Timers().call_later)
    congestion = Congestion(stage, outbound, 100)
    assert congestion.level("acc") == 0  # no bucket touched yet, nothing queued
    stage.decide([submit()] * 3, snap)
    assert congestion.level("acc") == 30  # 3 of 10 tokens spent
    outbound.put([Message(i, "acc", b"") for i in range(60)])
    assert congestion.level("acc") == 60  # the queue is fuller now
    assert congestion.level("other") == 60  # the queue is everyone's
    stage.decide([submit()] * 7, snap)
    assert congestion.level("acc") == 100
    outbound.put([Message(i, "acc", b"") for i in range(100, 300)])
    assert Congestion(None, outbound, 100).level("acc") == 100  # capped at 100
