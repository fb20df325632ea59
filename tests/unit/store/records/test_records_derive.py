"""Journal bodies -> record fields: line, destination, text, segments."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from router.store.records.derive import (
    Record,
    _record_of,
    keep_text,
    record_of,
    records_of,
    refusal_ids,
    refused_records,
)
from tests.unit.store.records.records_helpers import body


def test_a_plain_submit_becomes_its_record() -> None:
    """requirements §4: a record holds account, peer IP, line, destination, content,
    segment count and the decision."""
    record = record_of(77, "acc", 5.0, "10.1.2.3", body("1000", "98912", b"hello"), "full")
    assert record == (77, 5.0, "acc", "10.1.2.3", "1000", "98912", "hello", 1, 0, 1,
                      "accepted", "")


def test_udh_parts_ucs2_and_payload() -> None:
    udh = bytes([5, 0, 3, 9, 3, 2])
    part = record_of(1, "a", 0.0, "", body(text=udh + "سلام".encode("utf-16-be"),
                                           esm_class=0x40, data_coding=8), "full")
    assert (part.text, part.segments, part.part) == ("سلام", 3, 2)
    long_text = b"x" * 400
    payload = body(text=b"", tlvs=[(0x0424, long_text)])
    record = record_of(2, "a", 0.0, "", payload, "full")
    assert record.text == "x" * 400 and record.segments == 3
    sar = body(text=b"abc", tlvs=[(0x020C, struct.pack(">H", 7)), (0x020E, b"\x04"),
                                  (0x020F, b"\x01")])
    assert record_of(3, "a", 0.0, "", sar, "full")[7:9] == (4, 1)


def test_text_policies_redact_what_they_say() -> None:
    """requirements §4: content or a configurable redaction."""
    assert keep_text("code 123456 for Ali", "digits") == "code ###### for Ali"
    assert keep_text("code 123456", "none") == ""
    assert record_of(1, "a", 0.0, "", body(text=b"pin 42"), "digits").text == "pin ##"


def test_an_undecodable_body_is_recorded_not_raised() -> None:
    record = record_of(9, "a", 1.0, "", b"\x00garbage", "full")
    assert record.reason == "undecodable body" and record.message_id == 9


def test_refusals_are_keyed_by_their_journal_row() -> None:
    records = [Record._make(r) for r in refused_records(
        3, 2.0, "a", "10.0.0.1", [[1, "1000", "98912", "not_own_line"], [2, "1000", "x", "r"]])]
    assert [r.message_id for r in records] == list(refusal_ids(3, 2))
    assert records[0].message_id < records[1].message_id < refusal_ids(4, 1)[0]
    assert records[0][3:7] == ("10.0.0.1", "1000", "98912", "")
    assert (records[0].decision, records[0].reason) == ("refused", "not_own_line")


_TEXTS = st.one_of(st.binary(max_size=40), st.text("abc 123@$", max_size=40).map(str.encode),
                   st.sampled_from([b"", b"\x00", b"\x1b\x65 euro", b"\xff\x80"]))


@given(st.lists(st.tuples(_TEXTS, st.sampled_from([0, 0, 0, 3, 8, 0xF0]),
                          st.sampled_from([0, 0, 0x40]), st.booleans()), max_size=12),
       st.sampled_from(["full", "digits", "none"]))
@settings(max_examples=300, deadline=None)
def test_a_batch_makes_the_records_its_messages_make_one_by_one(
        messages: list[tuple[bytes, int, int, bool]], policy: str) -> None:
    """The batch path (usual submits' texts decoded together) against the general one
    message by message: UDH, TLVs, codings, NUL, escapes and octets above 0x7F mixed."""
    bodies = [body("1000", f"98912{i}", text, esm_class=esm, data_coding=coding,
                   tlvs=[(0x0424, text)] if payload else [])
              for i, (text, coding, esm, payload) in enumerate(messages)]
    bodies.append(b"\x00garbage")
    assert records_of(50, "acc", 2.0, "10.0.0.9", bodies, policy) == [  # type: ignore[arg-type]
        _record_of(50 + i, "acc", 2.0, "10.0.0.9", b, policy)  # type: ignore[arg-type]
        for i, b in enumerate(bodies)]


def test_plain_texts_decoded_together_are_each_their_own() -> None:
    bodies = [body(text=t) for t in (b"code 1234", b"", b"hello world", b"x" * 160)]
    records = [Record._make(r) for r in records_of(7, "acc", 1.0, "", bodies, "full")]
    assert [r.text for r in records] == ["code 1234", "", "hello world", "x" * 160]
    assert [r.message_id for r in records] == [7, 8, 9, 10]
