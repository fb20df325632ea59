"""Tests for router.smpp.segments: splitting long texts and joining parts back."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smpplib import consts as smpp_consts
from smpplib import gsm as smpp_gsm

from router.smpp.segments import (
    ConcatInfo,
    Segment,
    SplitMethod,
    join_parts,
    parse_udh,
    segment_count,
    split_message,
)
from router.smpp.text import (
    DataCoding,
    TextEncodeError,
    choose_coding,
    decode_text,
    gsm7_encode,
    ucs2_decode,
    ucs2_encode,
)
from tests.alphabets import GSM_ALL_CHARS, GSM_BASIC_CHARS, gsm_text, ucs2_roundtrip_text

METHODS: tuple[SplitMethod, ...] = ("udh8", "udh16", "sar", "payload")


def _segment_payload(seg: Segment) -> bytes:
    """Payload bytes of a segment with any UDH removed."""
    if seg.message_payload is not None:
        return seg.message_payload
    if seg.esm_class_udhi:
        info, payload = parse_udh(seg.short_message)
        assert info is not None
        return payload
    return seg.short_message


def _rejoin(segments: list[Segment]) -> str:
    data_coding = segments[0].data_coding
    if segments[0].message_payload is not None:
        return decode_text(segments[0].message_payload, data_coding)
    if segments[0].esm_class_udhi:
        return join_parts([s.short_message for s in segments], data_coding)
    return join_parts([s.short_message for s in segments], data_coding, udh=False)


# ---------------------------------------------------------------------------
# Splitting
# ---------------------------------------------------------------------------


def _payload_lengths(segments: list[Segment]) -> list[int]:
    return [len(_segment_payload(s)) for s in segments]


@pytest.mark.parametrize(
    ("text", "method", "lengths"),
    [
        ("a" * 160, "udh8", [160]),
        ("a" * 161, "udh8", [153, 8]),
        ("a" * 161, "udh16", [152, 9]),
        ("a" * 161, "sar", [153, 8]),
        ("a" * 306, "udh8", [153, 153]),
        ("a" * 307, "udh8", [153, 153, 1]),
        ("€" * 80, "udh8", [160]),
        ("€" * 80 + "a", "udh8", [152, 9]),  # 76 pairs; 153 would split a pair
        ("a" * 152 + "€" + "b" * 10, "udh8", [152, 12]),
        ("a" * 153 + "€" + "b" * 10, "udh8", [153, 12]),
        ("a" * 151 + "€" + "b" * 10, "udh8", [153, 10]),
        ("a" * 151 + "€" + "b" * 10, "udh16", [151, 12]),
        ("a" * 151 + "€" + "b" * 10, "sar", [153, 10]),
        ("س" * 70, "udh8", [140]),
        ("س" * 71, "udh8", [134, 8]),
        ("س" * 71, "udh16", [132, 10]),
        ("س" * 71, "sar", [134, 8]),
        ("a" * 66 + "😀" + "b" * 10, "udh8", [132, 24]),
        ("a" * 65 + "😀" + "b" * 10, "udh8", [134, 20]),
        ("a" * 65 + "😀" + "b" * 10, "udh16", [130, 24]),
        ("😀" * 35, "udh8", [140]),
        ("😀" * 36, "udh8", [132, 12]),
    ],
)
def test_split_boundaries(text: str, method: SplitMethod, lengths: list[int]) -> None:
    segments = split_message(text, method=method, reference=7)
    assert _payload_lengths(segments) == lengths
    assert segment_count(text, method=method) == len(lengths)
    assert _rejoin(segments) == text
    # Every part decodes on its own: nothing was split mid-character.
    assert "".join(decode_text(_segment_payload(s), s.data_coding) for s in segments) == text


@pytest.mark.parametrize(
    ("text", "coding", "lengths"),
    [
        ("é" * 140, DataCoding.LATIN1, [140]),
        ("é" * 141, DataCoding.LATIN1, [134, 7]),
        ("x" * 141, DataCoding.IA5, [134, 7]),
        ("\x00" * 141, DataCoding.BINARY, [134, 7]),
        ("a" * 161, DataCoding.UCS2, [134, 134, 54]),
        ("a" * 161, 0x18, [134, 134, 54]),
    ],
)
def test_split_explicit_coding(text: str, coding: int, lengths: list[int]) -> None:
    segments = split_message(text, coding=coding, reference=1)
    assert _payload_lengths(segments) == lengths
    assert {s.data_coding for s in segments} == {coding}
    assert _rejoin(segments) == text


def test_split_udh8_layout() -> None:
    segments = split_message("a" * 161, method="udh8", reference=0xAB)
    assert [s.short_message[:6] for s in segments] == [
        b"\x05\x00\x03\xab\x02\x01",
        b"\x05\x00\x03\xab\x02\x02",
    ]
    assert all(s.esm_class_udhi and s.sar is None and s.message_payload is None for s in segments)
    assert all(s.data_coding == DataCoding.DEFAULT for s in segments)
    assert segments[0].short_message[6:] == b"a" * 153  # unpacked septets


def test_split_udh16_layout() -> None:
    segments = split_message("س" * 71, method="udh16", reference=0x1234)
    assert [s.short_message[:7] for s in segments] == [
        b"\x06\x08\x04\x12\x34\x02\x01",
        b"\x06\x08\x04\x12\x34\x02\x02",
    ]
    assert all(s.data_coding == DataCoding.UCS2 for s in segments)
    info, payload = parse_udh(segments[1].short_message)
    assert info == ConcatInfo(0x1234, 2, 2)
    assert payload == ucs2_encode("س" * 5)


def test_split_sar_layout() -> None:
    segments = split_message("a" * 161, method="sar", reference=0xBEEF)
    assert [s.sar for s in segments] == [(0xBEEF, 2, 1), (0xBEEF, 2, 2)]
    assert [s.short_message for s in segments] == [b"a" * 153, b"a" * 8]
    assert not any(s.esm_class_udhi for s in segments)


def test_split_payload_layout() -> None:
    text = "سلام " * 100
    (segment,) = split_message(text, method="payload", reference=0)
    assert segment == Segment(b"", False, None, ucs2_encode(text), DataCoding.UCS2)
    assert segment_count(text, method="payload") == 1


@pytest.mark.parametrize("method", METHODS)
def test_single_part_has_no_udh_or_sar(method: SplitMethod) -> None:
    (segment,) = split_message("hello", method=method, reference=3)
    assert segment == Segment(b"hello", False, None, None, DataCoding.DEFAULT)


def test_split_empty_text() -> None:
    assert split_message("", reference=0) == [Segment(b"", False, None, None, 0)]
    assert segment_count("") == 1


def test_split_part_limit() -> None:
    assert segment_count("a" * 153 * 255) == 255
    assert len(split_message("a" * 153 * 255, reference=9)) == 255
    with pytest.raises(ValueError, match="256 parts"):
        split_message("a" * (153 * 255 + 1), reference=9)
    with pytest.raises(ValueError, match="at most 255"):
        segment_count("你" * (67 * 255 + 1))
    # message_payload has no part limit, only the 16-bit TLV length.
    (segment,) = split_message("a" * (153 * 255 + 1), method="payload", reference=0)
    assert segment.message_payload == b"a" * (153 * 255 + 1)
    with pytest.raises(ValueError, match="message_payload"):
        split_message("a" * 0x10000, method="payload", reference=0)


@pytest.mark.parametrize(
    ("method", "reference"),
    [("udh8", 256), ("udh8", -1), ("udh16", 0x10000), ("sar", 0x10000)],
)
def test_split_rejects_bad_reference(method: SplitMethod, reference: int) -> None:
    with pytest.raises(ValueError, match="reference"):
        split_message("a" * 200, method=method, reference=reference)


def test_split_rejects_bad_method_and_text() -> None:
    with pytest.raises(ValueError, match="method"):
        split_message("a", method="udh9", reference=0)  # type: ignore[arg-type]
    with pytest.raises(TextEncodeError):
        split_message("你", coding=DataCoding.DEFAULT, reference=0)
    with pytest.raises(TextEncodeError):
        split_message("你", coding=DataCoding.KS_C_5601, reference=0)


_CAPACITIES = {
    ("udh8", DataCoding.DEFAULT): 153,
    ("sar", DataCoding.DEFAULT): 153,
    ("udh16", DataCoding.DEFAULT): 152,
    ("udh8", DataCoding.UCS2): 134,
    ("sar", DataCoding.UCS2): 134,
    ("udh16", DataCoding.UCS2): 132,
}


def _check_split(text: str, method: SplitMethod, reference: int) -> None:
    segments = split_message(text, method=method, reference=reference)
    assert _rejoin(segments) == text
    coding = choose_coding(text)
    assert {s.data_coding for s in segments} == {coding}
    assert segment_count(text, method=method) == len(segments)
    if len(segments) == 1:
        return
    cap = _CAPACITIES[(method, coding)]
    payloads = [_segment_payload(s) for s in segments]
    assert all(0 < len(p) <= cap for p in payloads)
    # Greedy: a part is only shortened to keep a character whole.
    slack = 1 if coding is DataCoding.DEFAULT else 2
    assert all(len(p) >= cap - slack for p in payloads[:-1])
    for seq, (seg, payload) in enumerate(zip(segments, payloads, strict=True), start=1):
        assert "\ufffd" not in decode_text(payload, coding) or "\ufffd" in text
        if coding is DataCoding.DEFAULT:
            assert not payload.endswith(b"\x1b")
        else:
            assert len(payload) % 2 == 0
            assert not 0xD8 <= payload[-2] <= 0xDB
        if method == "sar":
            assert seg.sar == (reference, len(segments), seq)
        else:
            info, _ = parse_udh(seg.short_message)
            assert info == ConcatInfo(reference, len(segments), seq)
    assert "".join(decode_text(p, coding) for p in payloads) == text


@settings(deadline=None)
@given(
    st.one_of(
        gsm_text,
        ucs2_roundtrip_text,
        st.text(alphabet=GSM_ALL_CHARS, min_size=150, max_size=1200),
        st.text(
            alphabet=st.characters(blacklist_categories=["Cs"]), min_size=60, max_size=600
        ).filter(lambda s: not s.startswith("\ufeff")),
        st.text(alphabet="a€😀س{", max_size=600),
    ),
    st.sampled_from(METHODS),
    st.integers(0, 255),
)
def test_split_join_round_trip(text: str, method: SplitMethod, reference: int) -> None:
    _check_split(text, method, reference)


@settings(deadline=None, max_examples=50)
@given(st.integers(150, 700), st.sampled_from(METHODS), st.sampled_from("a€😀س"))
def test_split_join_long_runs(length: int, method: SplitMethod, filler: str) -> None:
    _check_split("x" * (length % 7) + filler * length, method, 200)


# ---------------------------------------------------------------------------
# UDH parsing and joining
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("short_message", "info", "payload"),
    [
        (b"\x05\x00\x03\x07\x02\x01hi", ConcatInfo(7, 2, 1), b"hi"),
        (b"\x06\x08\x04\x01\x02\x03\x03xy", ConcatInfo(0x0102, 3, 3), b"xy"),
        # Port addressing IE before the concat IE.
        (b"\x0b\x05\x04\x0b\x84\x23\xf0\x00\x03\x07\x02\x01wap", ConcatInfo(7, 2, 1), b"wap"),
        # Only a non-concat IE.
        (b"\x04\x05\x02\x0b\x84body", None, b"body"),
        (b"\x00text", None, b"text"),
        # Invalid seq numbers: IE ignored, UDH still stripped.
        (b"\x05\x00\x03\x07\x02\x00p", None, b"p"),
        (b"\x05\x00\x03\x07\x02\x03p", None, b"p"),
    ],
)
def test_parse_udh(short_message: bytes, info: ConcatInfo | None, payload: bytes) -> None:
    assert parse_udh(short_message) == (info, payload)


@pytest.mark.parametrize(
    "short_message",
    [
        b"",
        b"\x05\x00\x03\x07",  # UDHL past the end
        b"\x01\x00",  # IE header truncated
        b"\x03\x00\x03\x07",  # IE data longer than UDH
        b"\x04\x00\x02\x07\x02rest",  # concat IE with wrong length
        b"\x05\x08\x03\x01\x02\x03rest",  # 16-bit concat IE with wrong length
    ],
)
def test_parse_udh_malformed_returns_original(short_message: bytes) -> None:
    assert parse_udh(short_message) == (None, short_message)


@settings(deadline=None)  # a loaded CI machine is no performance test
@given(st.binary())
def test_parse_udh_never_raises(data: bytes) -> None:
    info, payload = parse_udh(data)
    assert data.endswith(payload)
    if info is not None:
        assert 1 <= info.seq <= info.total


def test_join_parts_orders_by_seq() -> None:
    segments = split_message("a" * 200 + "b" * 200, reference=5)
    shuffled = [segments[2].short_message, segments[0].short_message, segments[1].short_message]
    assert join_parts(shuffled, DataCoding.DEFAULT) == "a" * 200 + "b" * 200


def test_join_parts_reassembles_split_characters() -> None:
    # A sender that cut a surrogate pair and an escape pair across parts.
    emoji = ucs2_encode("x😀y")
    parts = [b"\x05\x00\x03\x01\x02\x02" + emoji[4:], b"\x05\x00\x03\x01\x02\x01" + emoji[:4]]
    assert join_parts(parts, DataCoding.UCS2) == "x😀y"
    gsm = gsm7_encode("a€b")
    parts = [b"\x05\x00\x03\x01\x02\x01" + gsm[:2], b"\x05\x00\x03\x01\x02\x02" + gsm[2:]]
    assert join_parts(parts, DataCoding.DEFAULT) == "a€b"
    assert join_parts([gsm[:2], gsm[2:]], DataCoding.DEFAULT, udh=False) == "a€b"


def test_join_parts_without_concat_info_keeps_order() -> None:
    parts = [b"\x00first ", b"\x05\x00\x03\x01\x02\x01second"]
    assert join_parts(parts, DataCoding.DEFAULT) == "first second"


# ---------------------------------------------------------------------------
# Cross-checks against smpplib
# ---------------------------------------------------------------------------


def test_capacities_match_smpplib_constants() -> None:
    single = "a" * smpp_consts.SEVENBIT_LENGTH
    assert segment_count(single) == 1
    assert segment_count(single + "a") == 2
    assert _payload_lengths(split_message(single + "a", reference=0))[0] == (
        smpp_consts.SEVENBIT_PART_SIZE
    )
    assert segment_count("é" * smpp_consts.EIGHTBIT_LENGTH, DataCoding.LATIN1) == 1
    latin = split_message("é" * 200, coding=DataCoding.LATIN1, reference=0)
    assert _payload_lengths(latin)[0] == smpp_consts.EIGHTBIT_PART_SIZE
    assert segment_count("你" * (smpp_consts.UCS2_LENGTH // 2)) == 1
    ucs2 = split_message("你" * 100, reference=0)
    assert _payload_lengths(ucs2)[0] == smpp_consts.UCS2_PART_SIZE
    assert DataCoding.DEFAULT == smpp_consts.SMPP_ENCODING_DEFAULT
    assert DataCoding.IA5 == smpp_consts.SMPP_ENCODING_IA5
    assert DataCoding.BINARY == smpp_consts.SMPP_ENCODING_BINARY
    assert DataCoding.LATIN1 == smpp_consts.SMPP_ENCODING_ISO88591
    assert DataCoding.BINARY_4 == smpp_consts.SMPP_ENCODING_BINARY2
    assert DataCoding.UCS2 == smpp_consts.SMPP_ENCODING_ISO10646
    assert DataCoding.KS_C_5601 == smpp_consts.SMPP_ENCODING_KSC5601


def _normalise_ref(parts: list[bytes]) -> list[bytes]:
    # smpplib picks a random 8-bit reference; blank it for comparison.
    return [p[:3] + b"\x00" + p[4:] for p in parts]


@settings(deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xD7FF), max_size=800))
def test_ucs2_parts_match_smpplib(text: str) -> None:
    """Without surrogate pairs both splitters must agree byte for byte."""
    theirs, encoding, esm_class = smpp_gsm.make_parts(text, smpp_consts.SMPP_ENCODING_ISO10646)
    ours = split_message(text, coding=DataCoding.UCS2, reference=0)
    assert encoding == DataCoding.UCS2
    assert bool(esm_class & smpp_consts.SMPP_GSMFEAT_UDHI) == ours[0].esm_class_udhi
    assert (_normalise_ref(theirs) if len(theirs) > 1 else theirs) == [
        s.short_message for s in ours
    ]
    assert join_parts(theirs, DataCoding.UCS2, udh=len(theirs) > 1) == text


@settings(deadline=None)
@given(st.text(alphabet=GSM_BASIC_CHARS, max_size=800))
def test_gsm_parts_match_smpplib(text: str) -> None:
    """Without extension characters both splitters must agree byte for byte."""
    theirs, encoding, _ = smpp_gsm.make_parts(text, smpp_consts.SMPP_ENCODING_DEFAULT)
    ours = [s.short_message for s in split_message(text, reference=0)]
    assert encoding == DataCoding.DEFAULT
    assert (_normalise_ref(theirs) if len(theirs) > 1 else theirs) == ours


def test_smpplib_fallback_agrees_with_choose_coding() -> None:
    for text in ["hello", "سلام دنیا", "你好世界", "😀", "€"]:
        _, encoding, _ = smpp_gsm.make_parts(text, smpp_consts.SMPP_ENCODING_DEFAULT)
        assert encoding == choose_coding(text)


def test_emoji_at_boundary_where_smpplib_splits_the_pair() -> None:
    text = "a" * 66 + "😀" + "b" * 10
    theirs, _, _ = smpp_gsm.make_parts(text, smpp_consts.SMPP_ENCODING_ISO10646)
    assert len(theirs) == 2
    _, first = parse_udh(theirs[0])
    assert ucs2_decode(first).endswith("\ufffd")  # smpplib breaks the pair...
    ours = split_message(text, reference=0)
    assert ucs2_decode(_segment_payload(ours[0])) == "a" * 66  # ...we do not
    # Both still reassemble to the same text.
    assert join_parts(theirs, DataCoding.UCS2) == join_parts(
        [s.short_message for s in ours], DataCoding.UCS2
    )
