"""Receipt text rewrite: bytes, one pass for the usual layout, the same rules always."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from router.dlr.rewrite import MAX_SHORT_MESSAGE, rewrite, text_id

# The three-pass rewrite the receipt path used before (id, printable, dates), kept here as
# the oracle the one-pass rewrite must agree with.
_ID = re.compile(r"\bid:(\S*)", re.IGNORECASE)
_DATE = re.compile(r"((?:submit|done) date:)(\d+)", re.IGNORECASE)


def three_pass(text: str, our_id: str) -> str:
    text = _ID.sub(lambda m: "id:" + our_id, text, count=1)
    text = "".join(c if " " <= c < "\x7f" else "." for c in text)
    return _DATE.sub(lambda m: m.group(1) + m.group(2)[:10].ljust(10, "0"), text)


SINK = (b"id:0123456789abcdef sub:001 dlvrd:001 submit date:2611221015 "
        b"done date:2611221016 stat:DELIVRD err:000 text:hello from smppload")


def test_usual_layout_gets_our_id_and_keeps_the_rest() -> None:
    assert rewrite(SINK, b"19ab") == b"id:19ab" + SINK[len(b"id:0123456789abcdef"):]


def test_dates_forced_to_ten_digits_and_text_made_printable() -> None:
    text = (b"ID:77 sub:001 dlvrd:001 submit date:261122101500 done date:26112210 "
            b"stat:DELIVRD err:000 text:\x00h\xe9\n")
    out = rewrite(text, b"abc")
    assert out.startswith(b"id:abc ")
    assert re.findall(rb"date:(\d+)", out) == [b"2611221015", b"2611221000"]
    assert out.endswith(b"text:.h..")


def test_twelve_digit_dates_cut_and_the_rest_kept() -> None:
    text = (b"id:00AB12 sub:001 dlvrd:001 submit date:261122101500 done date:2611221016 "
            b"stat:DELIVRD err:000 text:hello")
    out = rewrite(text, b"abc123")
    assert out.startswith(b"id:abc123 ")
    assert re.findall(rb"date:(\d+)", out) == [b"2611221015", b"2611221016"]
    assert b"stat:DELIVRD" in out and out.endswith(b"text:hello")


def test_a_date_after_the_usual_fields_is_fixed_too() -> None:
    out = rewrite(SINK + b" done date:1", b"x")
    assert out.endswith(b"done date:1000000000")


def test_no_id_in_the_text_keeps_it_without_one() -> None:
    assert rewrite(b"stat:DELIVRD", b"x") == b"stat:DELIVRD"


def test_long_text_is_cut_to_255() -> None:
    out = rewrite(b"id:1 " + b"x" * 300, b"0123456789abcde")
    assert len(out) == MAX_SHORT_MESSAGE and out.startswith(b"id:0123456789abcde x")


def test_text_id_is_the_first_id_field() -> None:
    assert text_id(SINK) == "0123456789abcdef"
    assert text_id(b"stat:DELIVRD text:no id here") == ""
    assert text_id(b"xid:1 id:2") == "2"


_token = st.sampled_from([
    "id:", "ID:", "sub:001", "dlvrd:001", "submit date:", "done date:", "stat:DELIVRD",
    "err:000", "text:", " ", "0", "12", "2611221015", "26112210150", "ab", "x", ".", "~",
])


@settings(max_examples=400)
@given(st.lists(_token, max_size=14).map("".join), st.text("0123456789abcdef", min_size=1,
                                                            max_size=16))
def test_same_result_as_the_three_pass_rewrite(text: str, our_id: str) -> None:
    """For printable text the one-pass rewrite says what the three-pass one says."""
    expected = three_pass(text, our_id).encode("latin-1")[:MAX_SHORT_MESSAGE]
    assert rewrite(text.encode("latin-1"), our_id.encode()) == expected


@given(st.binary(max_size=300), st.binary(max_size=20))
def test_any_bytes_give_printable_text_within_255(text: bytes, our_id: bytes) -> None:
    out = rewrite(text, our_id.translate(bytes(c if 32 < c < 127 else 97 for c in range(256))))
    assert len(out) <= MAX_SHORT_MESSAGE and all(32 <= c < 127 for c in out)
