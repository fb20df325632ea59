"""Receipt parsing, rewriting and id normalisation."""

from __future__ import annotations

import re

from router.dlr import receipt
from router.smpp.pdu import MessageState, Tag

TEXT = ("id:00AB12 sub:001 dlvrd:001 submit date:261122101500 done date:2611221016 "
        "stat:DELIVRD err:000 text:hello")


def test_parse_text_only() -> None:
    r = receipt.parse(TEXT, [])
    assert r is not None
    assert (r.message_id, r.stat, r.err, r.state) == ("00AB12", "DELIVRD", "000",
                                                      MessageState.DELIVERED)


def test_tlvs_win_over_text() -> None:
    tlvs = [(Tag.RECEIPTED_MESSAGE_ID, b"XYZ\0"), (Tag.MESSAGE_STATE, bytes([5]))]
    r = receipt.parse("stat:DELIVRD", tlvs)
    assert r is not None and r.message_id == "XYZ" and r.state == 5


def test_no_id_is_not_a_receipt() -> None:
    assert receipt.parse("hello there", []) is None


def test_rewrite_puts_our_id_and_ten_digit_dates() -> None:
    out = receipt.rewrite_text(TEXT, "abc123")
    assert out.startswith("id:abc123 ")
    assert re.findall(r"date:(\d+)", out) == ["2611221015", "2611221016"]
    assert "stat:DELIVRD" in out and out.endswith("text:hello")


def test_id_variants_cover_case_zeros_and_bases() -> None:
    assert receipt.normalise_id(" 00ab ") == "AB"
    assert "171" in receipt.id_variants("00AB")
    assert "AB" in receipt.id_variants("171")


def test_id_variants_never_raise_on_what_int_refuses() -> None:
    """'²' passes str.isdigit() but not int(); '_', blanks and Arabic-Indic digits pass
    int(s, 16) but are no carrier id; 5,000 digits exceed int()'s digit limit.  None may
    raise (a raise here used to kill the carrier connection), none is converted."""
    for odd in ("1\xb23", "\xb2", "1_0", "0x1F", "\u0661\u0662", "9" * 5000, "\u00bd"):
        assert receipt.id_variants(odd) == [receipt.normalise_id(odd)], odd
    assert receipt.id_variants("ff") == ["FF", "255"]
