"""Tests for router.smpp.text: GSM 03.38, UCS2 and data_coding dispatch."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smpplib import gsm as smpp_gsm

from router.smpp.text import (
    DataCoding,
    TextEncodeError,
    alphabet_for,
    choose_coding,
    decode_text,
    encode_text,
    gsm7_decode,
    gsm7_encodable,
    gsm7_encode,
    gsm7_pack,
    gsm7_unpack,
    septet_length,
    ucs2_decode,
    ucs2_encode,
)
from tests.alphabets import gsm_text, ucs2_roundtrip_text

# ---------------------------------------------------------------------------
# GSM 03.38
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("@", b"\x00"),
        ("£$¥", b"\x01\x02\x03"),
        ("\n\r", b"\x0a\x0d"),
        ("Δ_", b"\x10\x11"),
        ("ÆæßÉ", b"\x1c\x1d\x1e\x1f"),
        ("¤", b"\x24"),
        ("¡", b"\x40"),
        ("§", b"\x5f"),
        ("¿", b"\x60"),
        ("à", b"\x7f"),
        ("Hello", b"Hello"),
        ("^", b"\x1b\x14"),
        ("{", b"\x1b\x28"),
        ("}", b"\x1b\x29"),
        ("\\", b"\x1b\x2f"),
        ("[", b"\x1b\x3c"),
        ("~", b"\x1b\x3d"),
        ("]", b"\x1b\x3e"),
        ("|", b"\x1b\x40"),
        ("€", b"\x1b\x65"),
        ("\x0c", b"\x1b\x0a"),
        ("a€b", b"a\x1b\x65b"),
        ("", b""),
    ],
)
def test_gsm7_encode_decode_table(text: str, encoded: bytes) -> None:
    assert gsm7_encodable(text)
    assert gsm7_encode(text) == encoded
    assert gsm7_decode(encoded) == text
    assert septet_length(text) == len(encoded)


@pytest.mark.parametrize("text", ["`", "ç", "سلام", "你好", "😀", "\x1b", "\t", "a\x00b", "Ä€ß©"])
def test_gsm7_rejects_unencodable(text: str) -> None:
    assert not gsm7_encodable(text)
    with pytest.raises(TextEncodeError) as excinfo:
        gsm7_encode(text)
    assert isinstance(excinfo.value, ValueError)
    with pytest.raises(TextEncodeError):
        septet_length(text)


def test_gsm7_encode_error_names_offending_char() -> None:
    with pytest.raises(TextEncodeError, match=r"'ç' at index 3"):
        gsm7_encode("abcç")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x1b\x41", "A"),  # unknown extension -> basic char
        (b"\x1b\x00", "@"),
        (b"\x1b\x1b", " "),  # reserved second escape -> space
        (b"\x1b\x1bA", " A"),
        (b"ab\x1b", "ab "),  # dangling escape at the end
        (b"\x80\xff", "\ufffd\ufffd"),  # not septets
        (b"\x1b\xff", "\ufffd"),
        (b"\x1b\x65\x1b\x65", "€€"),
    ],
)
def test_gsm7_decode_tolerates_bad_input(data: bytes, expected: str) -> None:
    assert gsm7_decode(data) == expected


@settings(deadline=None)  # a loaded CI machine is no performance test
@given(gsm_text)
def test_gsm7_round_trip(text: str) -> None:
    encoded = gsm7_encode(text)
    assert max(encoded, default=0) <= 0x7F
    assert gsm7_decode(encoded) == text
    assert septet_length(text) == len(encoded)


@settings(deadline=None)  # a loaded CI machine is no performance test
@given(gsm_text.filter(lambda s: "§" not in s and "\x0c" not in s))
def test_gsm7_encode_matches_smpplib(text: str) -> None:
    assert gsm7_encode(text) == smpp_gsm.gsm_encode(text)


@settings(deadline=None)  # a loaded CI machine is no performance test
@given(st.binary())
def test_gsm7_decode_never_raises(data: bytes) -> None:
    assert isinstance(gsm7_decode(data), str)


@settings(deadline=None)  # a loaded CI machine is no performance test
@given(st.text())
def test_gsm7_encodable_agrees_with_encode(text: str) -> None:
    try:
        gsm7_encode(text)
    except TextEncodeError:
        assert not gsm7_encodable(text)
    else:
        assert gsm7_encodable(text)


# ---------------------------------------------------------------------------
# 7-bit packing
# ---------------------------------------------------------------------------


def _reference_pack(septets: bytes, fill_bits: int) -> bytes:
    """Big-integer oracle: septet i occupies bits fill+7i .. fill+7i+6, LSB first."""
    if not septets:
        return b""
    value = sum(s << (fill_bits + 7 * i) for i, s in enumerate(septets))
    nbytes = (fill_bits + 7 * len(septets) + 7) // 8
    return value.to_bytes(nbytes, "little")


@pytest.mark.parametrize(
    ("septets", "fill_bits", "packed"),
    [
        (b"hellohello", 0, bytes.fromhex("E8329BFD4697D9EC37")),
        (b"", 0, b""),
        (b"", 3, b""),
        (b"\x7f", 0, b"\x7f"),
        (b"\x7f", 1, b"\xfe"),
        (b"\x7f" * 8, 0, b"\xff" * 7),
        (b"A", 1, b"\x82"),
    ],
)
def test_gsm7_pack_known_vectors(septets: bytes, fill_bits: int, packed: bytes) -> None:
    assert gsm7_pack(septets, fill_bits) == packed
    assert gsm7_unpack(packed, len(septets), fill_bits) == septets


@settings(deadline=None)  # a loaded CI machine is no performance test
@given(st.binary().map(lambda b: bytes(x & 0x7F for x in b)), st.integers(0, 6))
def test_gsm7_pack_unpack_round_trip(septets: bytes, fill_bits: int) -> None:
    packed = gsm7_pack(septets, fill_bits)
    assert packed == _reference_pack(septets, fill_bits)
    assert gsm7_unpack(packed, len(septets), fill_bits) == septets
    # Without a count every whole septet comes back, padding included.
    unpacked = gsm7_unpack(packed, fill_bits=fill_bits)
    assert unpacked[: len(septets)] == septets
    assert set(unpacked[len(septets) :]) <= {0}


def test_gsm7_unpack_clamps_count_and_validates() -> None:
    assert gsm7_unpack(b"\xe8\x32", 10) == b"he"
    with pytest.raises(ValueError):
        gsm7_pack(b"\x80")
    with pytest.raises(ValueError):
        gsm7_pack(b"a", fill_bits=7)
    with pytest.raises(ValueError):
        gsm7_unpack(b"a", fill_bits=-1)
    with pytest.raises(ValueError):
        gsm7_unpack(b"a", count=-1)


def test_gsm7_pack_after_udh_fill_bits() -> None:
    # 6-octet concat UDH = 48 bits; 1 fill bit puts the first septet at bit 49.
    udh = b"\x05\x00\x03\x01\x02\x01"
    septets = gsm7_encode("Hi")
    user_data = udh + gsm7_pack(septets, fill_bits=1)
    assert gsm7_unpack(user_data[len(udh) :], 2, fill_bits=1) == septets
    whole = gsm7_unpack(user_data, count=7 + 2)  # header occupies 7 septets
    assert whole[7:] == septets


# ---------------------------------------------------------------------------
# UCS2 and other codings
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hex_bytes"),
    [
        ("سلام دنیا", "0633064406270645 0020 062f064606cc0627"),
        ("你好世界", "4f60597d4e16754c"),
        ("😀", "d83dde00"),
        ("a😀b", "0061 d83dde00 0062"),
        ("€", "20ac"),
        ("", ""),
    ],
)
def test_ucs2_table(text: str, hex_bytes: str) -> None:
    encoded = bytes.fromhex(hex_bytes)
    assert ucs2_encode(text) == encoded
    assert ucs2_decode(encoded) == text
    assert ucs2_decode(b"\xfe\xff" + encoded) == text


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x00a\x00", "a\ufffd"),  # odd trailing byte
        (b"\xd8\x3d\x00a", "\ufffda"),  # lone high surrogate
        (b"\xde\x00", "\ufffd"),  # lone low surrogate
        (b"\xfe\xff", ""),
        (b"\xfe\xff\xfe\xff\x00a", "\ufeffa"),  # only one BOM is stripped
    ],
)
def test_ucs2_decode_tolerates_bad_input(data: bytes, expected: str) -> None:
    assert ucs2_decode(data) == expected


def test_ucs2_encode_rejects_lone_surrogate() -> None:
    with pytest.raises(TextEncodeError):
        ucs2_encode("a\ud800b")


@settings(deadline=None)  # a loaded CI machine is no performance test
@given(ucs2_roundtrip_text)
def test_ucs2_round_trip(text: str) -> None:
    encoded = ucs2_encode(text)
    assert len(encoded) % 2 == 0
    assert not encoded.startswith(b"\xfe\xff")
    assert ucs2_decode(encoded) == text


@settings(deadline=None)  # a loaded CI machine is no performance test
@given(st.binary())
def test_ucs2_decode_never_raises(data: bytes) -> None:
    assert isinstance(ucs2_decode(data), str)


@pytest.mark.parametrize(
    ("text", "data_coding", "encoded"),
    [
        ("Hello€", DataCoding.DEFAULT, b"Hello\x1b\x65"),
        ("abc", DataCoding.IA5, b"abc"),
        ("café", DataCoding.LATIN1, b"caf\xe9"),
        ("\x00\xff", DataCoding.BINARY, b"\x00\xff"),
        ("\x01\x80", DataCoding.BINARY_4, b"\x01\x80"),
        ("Привет", DataCoding.CYRILLIC, "Привет".encode("iso8859_5")),
        ("שלום", DataCoding.LATIN_HEBREW, "שלום".encode("iso8859_8")),
        ("سلام", DataCoding.UCS2, bytes.fromhex("0633064406270645")),
        ("Hi", 0xF0, b"Hi"),  # GSM 7-bit, flash class
        ("Hi", 0x10, b"Hi"),  # general group, GSM 7-bit
        ("سلام", 0x18, bytes.fromhex("0633064406270645")),  # UCS2 flash
        ("سلام", 0xE0, bytes.fromhex("0633064406270645")),  # MWI UCS2
        ("\xff", 0xF4, b"\xff"),  # 8-bit data class 0
    ],
)
def test_encode_decode_text_dispatch(text: str, data_coding: int, encoded: bytes) -> None:
    assert encode_text(text, data_coding) == encoded
    assert decode_text(encoded, data_coding) == text


@pytest.mark.parametrize(
    ("data_coding", "alphabet"),
    [
        (0x00, DataCoding.DEFAULT),
        (0x01, DataCoding.IA5),
        (0x03, DataCoding.LATIN1),
        (0x08, DataCoding.UCS2),
        (0x0B, DataCoding.BINARY),
        (0x11, DataCoding.DEFAULT),
        (0x15, DataCoding.BINARY),
        (0x19, DataCoding.UCS2),
        (0x1C, DataCoding.BINARY),
        (0x38, DataCoding.BINARY),  # compressed
        (0x48, DataCoding.UCS2),  # automatic deletion group
        (0x90, DataCoding.BINARY),  # reserved
        (0xC8, DataCoding.DEFAULT),
        (0xD0, DataCoding.DEFAULT),
        (0xE8, DataCoding.UCS2),
        (0xF1, DataCoding.DEFAULT),
        (0xF6, DataCoding.BINARY),
    ],
)
def test_alphabet_for(data_coding: int, alphabet: DataCoding) -> None:
    assert alphabet_for(data_coding) is alphabet


def test_decode_text_edge_cases() -> None:
    assert decode_text(b"a\xffb", DataCoding.IA5) == "a\ufffdb"
    assert decode_text("안녕".encode("euc_kr"), DataCoding.KS_C_5601) == "안녕"
    assert decode_text(b"\x1b$B$3$s\x1b(B", DataCoding.ISO2022_JP) == "こん"
    assert decode_text(b"\x30\x22", DataCoding.JIS) == '0"'  # opaque, Latin-1 view
    with pytest.raises(ValueError):
        decode_text(b"", 0x100)
    with pytest.raises(ValueError):
        alphabet_for(-1)


@pytest.mark.parametrize(
    ("text", "data_coding"),
    [
        ("é", DataCoding.IA5),
        ("€", DataCoding.LATIN1),
        ("你", DataCoding.BINARY),
        ("a", DataCoding.KS_C_5601),  # decode-only coding
        ("a", DataCoding.JIS),
    ],
)
def test_encode_text_rejects(text: str, data_coding: int) -> None:
    with pytest.raises(TextEncodeError):
        encode_text(text, data_coding)


@settings(deadline=None)  # a loaded CI machine is no performance test
@given(st.binary(), st.integers(0, 255))
def test_decode_text_never_raises(data: bytes, data_coding: int) -> None:
    assert isinstance(decode_text(data, data_coding), str)


@settings(deadline=None)  # a loaded CI machine is no performance test
@given(st.binary())
def test_binary_is_lossless(data: bytes) -> None:
    assert encode_text(decode_text(data, DataCoding.BINARY), DataCoding.BINARY) == data


@pytest.mark.parametrize(
    ("text", "coding"),
    [
        ("hello", DataCoding.DEFAULT),
        ("€{}", DataCoding.DEFAULT),
        ("", DataCoding.DEFAULT),
        ("ç", DataCoding.UCS2),
        ("سلام دنیا", DataCoding.UCS2),
        ("你好世界", DataCoding.UCS2),
        ("ok 😀", DataCoding.UCS2),
    ],
)
def test_choose_coding(text: str, coding: DataCoding) -> None:
    assert choose_coding(text) is coding
