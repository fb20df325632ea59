"""router.policy.lists: roaring-bitmap number sets, expiring whitelists, atomic swaps."""

from __future__ import annotations

import threading
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.model.numbersets import ExpiringNumberSet, NumberSet, end_of_day, signature_key
from router.policy.lists import ListRegistry

A, B, C, D = 989121234567, 989351234567, 8613812345678, 989901234567
TEHRAN = ZoneInfo("Asia/Tehran")


def test_membership_len_iteration() -> None:
    numbers = NumberSet([A, B, A, C])
    assert A in numbers and B in numbers and C in numbers
    assert D not in numbers
    assert len(numbers) == 3
    assert sorted(numbers) == sorted([A, B, C])
    assert bool(numbers) and not NumberSet()
    assert len(NumberSet()) == 0 and A not in NumberSet()


def test_built_from_generator_range_and_bitmap() -> None:
    assert len(NumberSet(n for n in (A, B))) == 2
    assert len(NumberSet(range(989120000000, 989120001000))) == 1000
    ns = NumberSet([A])
    assert NumberSet.from_bitmap(ns.bitmap) == ns


def test_operations_return_new_sets() -> None:
    base = NumberSet([A, B])
    grown = base.with_numbers([C])
    shrunk = base.without([A])
    assert C in grown and C not in base
    assert A not in shrunk and A in base
    assert base.union(NumberSet([D])) == NumberSet([A, B, D])


def test_serialise_round_trip() -> None:
    numbers = NumberSet([A, B, C, *range(989120000000, 989120100000, 7)])
    data = numbers.to_bytes()
    assert isinstance(data, bytes)
    again = NumberSet.from_bytes(data)
    assert again == numbers and len(again) == len(numbers)
    assert NumberSet.from_bytes(NumberSet().to_bytes()) == NumberSet()


def test_deserialise_garbage_is_value_error() -> None:
    with pytest.raises(ValueError, match="not a serialised number set"):
        NumberSet.from_bytes(b"not a bitmap at all")


@settings(max_examples=50, deadline=None)
@given(st.sets(st.integers(min_value=0, max_value=10**15), max_size=300))
def test_number_set_matches_python_set(values: set[int]) -> None:
    numbers = NumberSet(values)
    assert len(numbers) == len(values)
    assert set(numbers) == values
    assert NumberSet.from_bytes(numbers.to_bytes()) == numbers
    for probe in list(values)[:20]:
        assert probe in numbers
        assert probe + 10**15 + 1 not in numbers


# --- expiring whitelists ----------------------------------------------------------------


def test_expiry_at_the_exact_instant() -> None:
    expires = 1_800_000_000.0
    whitelist = ExpiringNumberSet([A], {B: expires})
    assert whitelist.contains(A, expires + 10**9)  # permanent
    assert whitelist.contains(B, expires - 1e-6)
    assert not whitelist.contains(B, expires)  # stops counting at the instant itself
    assert not whitelist.contains(B, expires + 1)
    assert not whitelist.contains(C, 0)
    assert whitelist.expiry_of(B) == expires and whitelist.expiry_of(A) is None


def test_contains_uses_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    whitelist = ExpiringNumberSet([], {B: 1000.0})
    monkeypatch.setattr("router.policy.lists.time.time", lambda: 999.0)
    assert B in whitelist
    monkeypatch.setattr("router.policy.lists.time.time", lambda: 1000.0)
    assert B not in whitelist


def test_purge_returns_new_snapshot_without_expired() -> None:
    whitelist = ExpiringNumberSet([A], {B: 100.0, C: 200.0})
    purged = whitelist.purge(150.0)
    assert purged is not whitelist
    assert len(whitelist) == 3 and len(purged) == 2
    assert purged.expiry_of(B) is None and purged.expiry_of(C) == 200.0
    assert whitelist.contains(B, 50.0)  # old snapshot untouched
    assert purged.contains(A, 10**10) and purged.contains(C, 150.0)
    assert purged.purge(150.0) is purged  # nothing to do: same object
    assert whitelist.active_count(150.0) == 2


def test_build_append_remove() -> None:
    whitelist = ExpiringNumberSet.build([A, B, C], {C: 500.0})
    assert whitelist.permanent == NumberSet([A, B])
    assert dict(whitelist.expiring) == {C: 500.0}
    grown = whitelist.with_numbers([D, C], {D: 900.0})  # C now permanent
    assert grown.contains(C, 10**9) and grown.expiry_of(D) == 900.0
    assert grown.contains(D, 899.0) and not grown.contains(D, 900.0)
    shrunk = grown.without([A, D])
    assert not shrunk.contains(A, 0) and not shrunk.contains(D, 0)
    assert whitelist.contains(C, 499.0) and not whitelist.contains(C, 500.0)


def test_permanent_entry_wins_over_expiring_duplicate() -> None:
    whitelist = ExpiringNumberSet([A], {A: 10.0})
    assert whitelist.contains(A, 20.0)
    assert len(whitelist) == 1


def test_expiring_serialise_round_trip() -> None:
    whitelist = ExpiringNumberSet([A, B], {C: 1234.5, D: 99.25})
    again = ExpiringNumberSet.from_bytes(whitelist.to_bytes())
    assert again.permanent == whitelist.permanent
    assert dict(again.expiring) == {C: 1234.5, D: 99.25}
    empty = ExpiringNumberSet.from_bytes(ExpiringNumberSet().to_bytes())
    assert len(empty) == 0
    with pytest.raises(ValueError):
        ExpiringNumberSet.from_bytes(b"XXXX" + bytes(8))
    with pytest.raises(ValueError):
        ExpiringNumberSet.from_bytes(whitelist.to_bytes()[:20])


def test_end_of_day_is_next_midnight_in_the_zone() -> None:
    instant = end_of_day(date(2026, 12, 31), TEHRAN)
    assert datetime.fromtimestamp(instant, TEHRAN) == datetime(2027, 1, 1, tzinfo=TEHRAN)
    whitelist = ExpiringNumberSet([], {A: instant})
    last_second = datetime(2026, 12, 31, 23, 59, 59, tzinfo=TEHRAN).timestamp()
    assert whitelist.contains(A, last_second)
    assert not whitelist.contains(A, instant)


# --- registry ---------------------------------------------------------------------------


def test_registry_blacklist_swap_keeps_old_snapshot_usable() -> None:
    registry = ListRegistry()
    registry.replace_blacklist(NumberSet([A]))
    before = registry.snapshot()
    old = registry.replace_blacklist(NumberSet([B]))
    after = registry.snapshot()
    assert old == NumberSet([A])
    assert before.is_blacklisted(A) and not before.is_blacklisted(B)  # old view intact
    assert after.is_blacklisted(B) and not after.is_blacklisted(A)
    assert registry.is_blacklisted(B) and registry.blacklist == NumberSet([B])


def test_registry_whitelists_per_line() -> None:
    registry = ListRegistry()
    registry.replace_whitelist("3000123", ExpiringNumberSet([A], {B: 100.0}))
    registry.replace_whitelist("1000456", ExpiringNumberSet([C]))
    snap = registry.snapshot()
    assert snap.in_whitelist("3000123", A, 0) and not snap.in_whitelist("1000456", A, 0)
    assert snap.in_whitelist("3000123", B, 99.0) and not snap.in_whitelist("3000123", B, 100.0)
    assert not snap.in_whitelist("2000999", A, 0)  # no list: nobody
    registry.replace_whitelist("3000123", None)
    assert registry.whitelist("3000123") is None
    assert snap.in_whitelist("3000123", A, 0)  # the old snapshot still answers


def test_registry_purge_expired() -> None:
    registry = ListRegistry()
    registry.replace_whitelist("3000123", ExpiringNumberSet([A], {B: 100.0, C: 300.0}))
    registry.replace_whitelist("1000456", ExpiringNumberSet([D]))
    assert registry.purge_expired(200.0) == 1
    whitelist = registry.whitelist("3000123")
    assert whitelist is not None and whitelist.expiry_of(B) is None
    assert registry.purge_expired(200.0) == 0


def test_registry_optouts_per_line_and_signature() -> None:
    registry = ListRegistry()
    assert registry.add_optout("3000123", A)
    assert not registry.add_optout("3000123", A)  # already there
    assert registry.is_opted_out("3000123", A)
    assert not registry.is_opted_out("1000456", A)
    assert registry.add_optout("106900", C, signature="【Acme】")
    assert registry.is_opted_out("106900", C, signature="[acme]")
    assert registry.is_opted_out("106900", C, signature=" Acme ")
    assert not registry.is_opted_out("106900", C, signature="【Other】")
    assert not registry.is_opted_out("106900", C)  # per signature only
    before = registry.snapshot()
    assert registry.remove_optout("3000123", A)
    assert not registry.remove_optout("3000123", A)
    assert not registry.is_opted_out("3000123", A)
    assert before.is_opted_out("3000123", A)
    registry.replace_optouts("3000123", NumberSet([B, D]))
    assert registry.optouts("3000123") == NumberSet([B, D])
    assert signature_key("【 Acme 】") == "acme"


def test_registry_concurrent_optouts_are_not_lost() -> None:
    registry = ListRegistry()

    def worker(start: int) -> None:
        for n in range(start, start + 200):
            registry.add_optout("3000123", 989120000000 + n)

    threads = [threading.Thread(target=worker, args=(i * 200,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(registry.optouts("3000123")) == 800
