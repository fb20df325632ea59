"""Tests for router.smpp.framing.FrameReader: cutting a TCP byte stream into PDUs."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.smpp import codec
from router.smpp.framing import Frame, FrameReader
from router.smpp.pdu import (
    BindTransceiver,
    CommandId,
    CommandStatus,
    DeliverSm,
    EnquireLink,
    FramingError,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    Tag,
    Unbind,
)

STREAM_PDUS: list[Pdu] = [
    BindTransceiver(1, 0, "esme1", "secret12", "", 0x34, 1, 1, ""),
    SubmitSm(2, 0, source_addr="30001234", destination_addr="989121234567",
             data_coding=8, short_message="سلام".encode("utf-16-be"),
             tlvs=[(Tag.USER_MESSAGE_REFERENCE, b"\x00\x01")]),
    EnquireLink(3),
    SubmitSmResp(4, 0, "0A1B2C"),
    DeliverSm(5, 0, source_addr="989121234567", destination_addr="30001234",
              short_message=b"x" * 254),
    SubmitSmResp(6, CommandStatus.ESME_RTHROTTLED),
    Unbind(7),
]
STREAM = b"".join(codec.encode(p) for p in STREAM_PDUS)


def _expected_frames() -> list[Frame]:
    out: list[Frame] = []
    for pdu in STREAM_PDUS:
        raw = codec.encode(pdu)
        out.append((int(pdu.command_id), pdu.status, pdu.sequence, raw[16:]))
    return out


EXPECTED = _expected_frames()


def _header(length: int, command_id: int = CommandId.SUBMIT_SM, status: int = 0,
            sequence: int = 1) -> bytes:
    return struct.pack(">IIII", length, command_id, status, sequence)


def _feed_chunks(reader: FrameReader, data: bytes, cuts: list[int]) -> list[Frame]:
    frames: list[Frame] = []
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        frames.extend(reader.feed(data[start:cut]))
        start = cut
    return frames


def test_one_shot_feed_yields_every_frame_in_order() -> None:
    reader = FrameReader()
    assert reader.feed(STREAM) == EXPECTED
    assert reader.buffered == 0


def test_byte_by_byte_feed_equals_one_shot() -> None:
    reader = FrameReader()
    frames: list[Frame] = []
    for i in range(len(STREAM)):
        frames.extend(reader.feed(STREAM[i:i + 1]))
    assert frames == EXPECTED
    assert reader.buffered == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=40))
def test_random_split_points_equal_one_shot(cuts: list[int]) -> None:
    reader = FrameReader()
    assert _feed_chunks(reader, STREAM, cuts) == EXPECTED
    assert reader.buffered == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=20),
       st.integers(min_value=1, max_value=len(STREAM) - 1))
def test_truncated_stream_keeps_the_partial_frame(cuts: list[int], stop: int) -> None:
    reader = FrameReader()
    prefix = STREAM[:stop]
    frames = _feed_chunks(reader, prefix, [c for c in cuts if c <= stop])
    # exactly the frames whose last byte arrived; the rest stays buffered
    complete = 0
    consumed = 0
    for pdu in STREAM_PDUS:
        size = len(codec.encode(pdu))
        if consumed + size > stop:
            break
        consumed += size
        complete += 1
    assert frames == EXPECTED[:complete]
    assert reader.buffered == stop - consumed
    assert reader.feed(STREAM[stop:]) == EXPECTED[complete:]
    assert reader.buffered == 0


def test_partial_header_is_kept() -> None:
    reader = FrameReader()
    raw = codec.encode(SubmitSmResp(9, 0, "abc"))
    assert reader.feed(raw[:10]) == []
    assert reader.buffered == 10
    assert reader.feed(raw[10:15]) == []
    assert reader.buffered == 15
    assert reader.feed(raw[15:]) == [(CommandId.SUBMIT_SM_RESP, 0, 9, b"abc\0")]
    assert reader.buffered == 0


def test_partial_body_is_kept_after_a_complete_frame() -> None:
    reader = FrameReader()
    first = codec.encode(EnquireLink(1))
    second = codec.encode(SubmitSmResp(2, 0, "message-id"))
    assert reader.feed(first + second[:20]) == [(CommandId.ENQUIRE_LINK, 0, 1, b"")]
    assert reader.buffered == 20
    assert reader.feed(second[20:]) == [(CommandId.SUBMIT_SM_RESP, 0, 2, b"message-id\0")]


def test_header_only_frame() -> None:
    assert FrameReader().feed(_header(16, CommandId.ENQUIRE_LINK, 0, 5)) == [
        (CommandId.ENQUIRE_LINK, 0, 5, b"")]


@pytest.mark.parametrize("length", [0, 1, 8, 15])
def test_command_length_below_16_is_a_framing_error(length: int) -> None:
    reader = FrameReader()
    with pytest.raises(FramingError) as info:
        reader.feed(_header(length, sequence=0x1234) + b"\0" * 32)
    assert info.value.status == CommandStatus.ESME_RINVCMDLEN
    assert info.value.sequence == 0x1234
    assert reader.buffered == 0


def test_command_length_above_max_is_a_framing_error_from_the_header_alone() -> None:
    reader = FrameReader(max_length=1024)
    # only the header has arrived: the reader must not wait for a 1025-byte body
    with pytest.raises(FramingError) as info:
        reader.feed(_header(1025, sequence=77))
    assert info.value.status == CommandStatus.ESME_RINVCMDLEN
    assert info.value.sequence == 77
    assert reader.buffered == 0


def test_command_length_huge_is_a_framing_error() -> None:
    with pytest.raises(FramingError) as info:
        FrameReader().feed(_header(0xFFFFFFFF, sequence=3))
    assert info.value.status == CommandStatus.ESME_RINVCMDLEN
    assert info.value.sequence == 3


def test_command_length_equal_to_max_is_accepted() -> None:
    reader = FrameReader(max_length=64)
    body = b"b" * 48
    assert reader.feed(_header(64, CommandId.DATA_SM, 0, 8) + body) == [
        (CommandId.DATA_SM, 0, 8, body)]


def test_bad_length_after_good_frames_in_a_later_read() -> None:
    reader = FrameReader(max_length=1024)
    assert reader.feed(codec.encode(EnquireLink(1))) == [(CommandId.ENQUIRE_LINK, 0, 1, b"")]
    with pytest.raises(FramingError) as info:
        reader.feed(b"\0\0" + _header(5000, sequence=2)[2:])
    assert info.value.sequence == 2


def test_bad_length_split_across_reads() -> None:
    reader = FrameReader(max_length=1024)
    bad = _header(4, sequence=99)
    assert reader.feed(bad[:7]) == []
    with pytest.raises(FramingError) as info:
        reader.feed(bad[7:])
    assert info.value.sequence == 99
    assert info.value.status == CommandStatus.ESME_RINVCMDLEN


def test_empty_feed_is_harmless() -> None:
    reader = FrameReader()
    assert reader.feed(b"") == []
    assert reader.feed(STREAM[:3]) == []
    assert reader.feed(b"") == []
    assert reader.buffered == 3
