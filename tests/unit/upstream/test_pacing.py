"""The pace of one carrier connection (router.upstream.pacing), on a number clock."""

from __future__ import annotations

import pytest

from router.upstream.pacing import HOLD, Pacer


def test_unlimited_until_the_carrier_is_congested() -> None:
    pacer = Pacer(min_rate=1.0, recovery=10.0, now=0.0)
    assert not pacer.limited and pacer.allowance(0.5) is None
    pacer.spend(1000)  # nothing to spend from while unlimited
    assert pacer.allowance(0.6) is None


def test_first_cut_is_half_the_accepted_rate() -> None:
    pacer = Pacer(min_rate=1.0, recovery=10.0, now=0.0)
    for n in range(1, 21):  # 100 accepted every 0.1 s: 1,000/s
        pacer.accepted(100, n * 0.1)
    assert pacer.congested(2.0) is True  # the start of the limited state
    assert pacer.limited and pacer.rate == pytest.approx(500, rel=0.1)
    assert pacer.allowance(2.0) == 0  # the bucket starts empty
    assert pacer.next_at(2.0) == pytest.approx(2.0 + 1 / pacer.rate)
    assert pacer.allowance(2.04) == 20  # 40 ms at 500/s
    pacer.spend(20)
    assert pacer.allowance(2.04) == 0


def test_cuts_at_most_once_per_hold_then_halves_again() -> None:
    pacer = Pacer(min_rate=1.0, recovery=10.0, now=0.0)
    pacer.accepted(1000, 0.5)
    assert pacer.congested(1.0)
    first = pacer.rate
    assert pacer.congested(1.0 + HOLD / 2) is False  # answers to what went before the cut
    assert pacer.rate == first
    assert pacer.congested(1.0 + HOLD) is False  # not a new state, but a new cut
    assert pacer.rate == pytest.approx(first / 2, rel=0.2)


def test_never_below_the_floor() -> None:
    pacer = Pacer(min_rate=5.0, recovery=10.0, now=0.0)
    now = 0.0
    for _ in range(50):
        pacer.congested(now)
        now += HOLD
    assert pacer.rate == pytest.approx(5.0, rel=0.5)
    assert pacer.rate >= 5.0


def test_grows_while_clean_and_is_lifted_after_recovery() -> None:
    pacer = Pacer(min_rate=1.0, recovery=10.0, now=0.0)
    pacer.accepted(200, 0.5)
    pacer.congested(1.0)
    start = pacer.rate
    pacer.allowance(3.0)
    assert pacer.rate > start * 1.5  # gradual: about doubles every 1.4 s
    pacer.allowance(10.9)
    assert pacer.limited
    assert pacer.allowance(11.0) is None  # 10 s without congestion
    assert not pacer.limited
