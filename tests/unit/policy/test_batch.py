"""What the throttle and billing stages read of a batch: each destination's operator,
whichever way it is found (issue 11 §5: one match a batch for canonical numbers)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from router.policy.addresses import Addresses
from router.policy.batch import BatchFacts
from router.policy.plans import default_operators
from router.policy.settings import PolicySettings
from router.smpp.session import Submit

ADDRESSES = Addresses(PolicySettings(), default_operators())

canonical = st.from_regex(r"989[0-9]{9}", fullmatch=True)
odd = st.one_of(st.from_regex(r"0?9[0-9]{9}", fullmatch=True), st.text(max_size=14),
                st.from_regex(r"98[0-9]{10}", fullmatch=True), st.just("989123456789\n"))


def _submits(destinations: list[str], ton: int = 1) -> list[Submit]:
    return [Submit(1, b"hi", "1000", d, 0, ton, 1) for d in destinations]


@settings(max_examples=300)
@given(st.lists(st.one_of(canonical, canonical, odd), min_size=1, max_size=64),
       st.sampled_from([0, 1, 2, 5]))
def test_operators_agree_with_one_by_one(destinations: list[str], ton: int) -> None:
    """A batch's operators are what ``operator_of`` says of each destination, whether
    the batch takes the one-match path (all canonical) or not."""
    got = BatchFacts().operators(_submits(destinations, ton), ADDRESSES)
    assert got == [ADDRESSES.operator_of(d, ton, 1) for d in destinations]


def test_a_canonical_batch_takes_one_match() -> None:
    destinations = ["989121234567", "989351234567", "989011234567"]
    assert ADDRESSES.canonical_operators(destinations) == [
        ADDRESSES.operator_of(d, 1) for d in destinations]
    assert ADDRESSES.canonical_operators([*destinations, "09121234567"]) is None
    assert ADDRESSES.canonical_operators(["989121234567\n989121234567"]) is None
