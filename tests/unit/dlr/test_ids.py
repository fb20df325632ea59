"""Receipt correlation: one id in the forms carriers write it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.dlr.ids import IdMap, as_decimal, as_hex, forms, normalise


def test_normalise_folds_case_blanks_and_zeros() -> None:
    assert normalise(" 00ab ") == "AB"
    assert normalise("000") == "0"


@pytest.mark.parametrize(("remembered", "received"), [
    ("00AB", "ab"),  # case and leading zeros
    ("AB", "171"),  # hex in submit_sm_resp, decimal in the receipt
    ("171", "ab"),  # decimal in submit_sm_resp, hex in the receipt
    ("369", "171"),  # decimal resp, hex receipt made only of digits
    ("171", "369"),  # the reverse
    ("0123456789abcdef", "81985529216486895"),
])
def test_take_finds_every_form(remembered: str, received: str) -> None:
    ids = IdMap()
    ids.remember(remembered, 7, "acc")
    assert ids.take(normalise(received)) == (7, "acc")
    assert ids.take(normalise(received)) is None and len(ids) == 0  # taken out


def test_unknown_and_odd_ids_miss_without_raising() -> None:
    ids = IdMap()
    ids.remember("AB", 1, "acc")
    for odd in ("nope", "\xb2", "1_0", "٣", "", "  ", "-1", "0x10"):
        assert ids.take(normalise(odd)) is None
    assert as_hex("\xb2") is None and as_decimal("1_0") is None
    assert forms("\xb2") == ["\xb2"]  # '²'.isdigit(), but int() refuses it


def test_forms_never_raise_on_what_int_refuses() -> None:
    """'²' passes str.isdigit() but not int(); '_', blanks and Arabic-Indic digits pass
    int(s, 16) but are no carrier id; 5,000 digits exceed int()'s digit limit.  None may
    raise (a raise here used to kill the carrier connection), none is converted."""
    ids = IdMap()
    for odd in ("1\xb23", "\xb2", "1_0", "0x1F", "\u0661\u0662", "9" * 5000, "\u00bd"):
        assert forms(odd) == [normalise(odd)], odd
        assert ids.take(normalise(odd)) is None
    assert forms("ff") == ["FF", "255"]
    assert "171" in forms("00AB") and "AB" in forms("171")


def test_two_generations_keep_the_recent_half() -> None:
    ids = IdMap(limit=4)
    for i in range(5):
        ids.remember(f"C{i}", i, "acc")
    assert ids.take("C0") is None  # dropped with the older generation
    assert [ids.take(f"C{i}") for i in (2, 3, 4)] == [(2, "acc"), (3, "acc"), (4, "acc")]


@given(st.integers(0, 2**64))
def test_hex_and_decimal_of_one_number_meet(n: int) -> None:
    ids = IdMap()
    ids.remember(f"{n:x}", 1, "a")
    assert ids.take(normalise(str(n))) == (1, "a")
    ids = IdMap()
    ids.remember(str(n), 2, "b")
    assert ids.take(normalise(f"{n:X}")) == (2, "b")


def test_put_back_is_found_again_in_the_form_it_was_taken_by() -> None:
    ids = IdMap()
    ids.remember("AB", 3, "acc")
    found = ids.take(normalise("171"))  # decimal receipt for a hex id
    assert found == (3, "acc")
    ids.put("171", found)
    assert ids.take(normalise("ab")) == (3, "acc")
