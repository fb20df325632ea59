"""Lockout counts failures per key within a window and locks for a period."""

from __future__ import annotations

from router.policy.lockout import Lockout, LockoutPolicy


def test_locks_after_n_failures_within_the_window() -> None:
    lock = Lockout(LockoutPolicy(max_failures=3, window=10, lock_for=60))
    assert lock.fail("ip:a", 0) is None
    assert lock.fail("ip:a", 5) is None
    assert lock.fail("ip:a", 9) == 69
    assert lock.locked_until("ip:a", 30) == 69
    assert lock.locked_until("ip:a", 69) is None  # expired exactly at the end
    assert lock.locked_until("ip:b", 30) is None


def test_old_failures_fall_out_of_the_window() -> None:
    lock = Lockout(LockoutPolicy(max_failures=3, window=10, lock_for=60))
    lock.fail("k", 0)
    lock.fail("k", 1)
    assert lock.fail("k", 11.5) is None  # the first two are older than 10 s


def test_success_resets_and_unlock_clears() -> None:
    lock = Lockout(LockoutPolicy(max_failures=2, window=10, lock_for=60))
    lock.fail("k", 0)
    lock.succeed("k")
    assert lock.fail("k", 1) is None
    assert lock.fail("k", 2) == 62
    lock.unlock("k")
    assert lock.locked_until("k", 3) is None


def test_sweep_bounds_memory() -> None:
    lock = Lockout(LockoutPolicy(max_failures=5, window=10, lock_for=60))
    for i in range(1000):
        lock.fail(f"ip:{i}", 0)
    lock.sweep(100)
    assert not lock._failures
