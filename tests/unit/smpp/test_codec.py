"""Tests for router.smpp.codec: table-driven and property round trips, decode errors,
and cross-checks against two third-party SMPP implementations (smpplib, aiosmpplib).
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

import pytest
from aiosmpplib import protocol as aio
from aiosmpplib.state import NPI, TON, OptionalParam
from hypothesis import given, settings
from hypothesis import strategies as st
from smpplib import smpp as smpplib_smpp

from router.smpp import codec
from router.smpp.pdu import (
    TLV_INT_SIZE,
    AlertNotification,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CancelSm,
    CancelSmResp,
    CommandId,
    CommandStatus,
    DataSm,
    DataSmResp,
    DecodeError,
    DeliverSm,
    DeliverSmResp,
    Destination,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    MessageState,
    Outbind,
    Pdu,
    QuerySm,
    QuerySmResp,
    ReplaceSm,
    ReplaceSmResp,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    SubmitSmResp,
    Tag,
    Tlvs,
    Unbind,
    UnbindResp,
    UnsuccessfulSme,
    is_response,
    tlv_int,
    tlv_str,
)
from router.smpp.segments import SplitMethod, join_parts, parse_udh, split_message
from router.smpp.text import DataCoding, decode_text, encode_text

S = CommandStatus
STATUSES = frozenset(int(s) for s in CommandStatus)

# --- helpers --------------------------------------------------------------------------


def decode_frame(data: bytes) -> Pdu:
    """Decode one whole PDU (header + body) with our codec, checking command_length."""
    length, command_id, status, sequence = struct.unpack_from(">IIII", data)
    assert length == len(data)
    return codec.decode(command_id, status, sequence, data[16:])


def roundtrip(pdu: Pdu) -> Pdu:
    return decode_frame(codec.encode(pdu))


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    assert f.default_factory is not dataclasses.MISSING
    return f.default_factory()


def body_fields(pdu: Pdu) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(pdu)  # type: ignore[arg-type]
            if f.name not in ("sequence", "status", "wire")]


# --- samples: one PDU of every command in codec.FIELDS, every field non-default -------

PERSIAN = "سلام دنیا، این یک پیام آزمایشی است"
CHINESE = "你好，世界"
GSM_TEXT = "Hello @Chapar! Price: 5€ [promo] {ok} ~ ^ | \\ Ωmega"

SUBMIT = SubmitSm(
    sequence=11, status=0, service_type="CMT", source_addr_ton=5, source_addr_npi=9,
    source_addr="Chapar", dest_addr_ton=1, dest_addr_npi=1, destination_addr="989121234567",
    esm_class=0x40, protocol_id=0x7F, priority_flag=1,
    schedule_delivery_time="240101120000000+", validity_period="000001000000000R",
    registered_delivery=1, replace_if_present_flag=1, data_coding=8, sm_default_msg_id=3,
    short_message=b"\x05\x00\x03\x2a\x02\x01" + PERSIAN.encode("utf-16-be")[:60],
    tlvs=[(Tag.USER_MESSAGE_REFERENCE, b"\x00\x07"), (0x1401, b"vendor"),
          (Tag.SOURCE_PORT, b"\x1f\x90")],
)
DELIVER = DeliverSm(
    sequence=12, status=0, service_type="DLR", source_addr_ton=1, source_addr_npi=1,
    source_addr="989121234567", dest_addr_ton=2, dest_addr_npi=1, destination_addr="30001234",
    esm_class=0x04, protocol_id=1, priority_flag=2, schedule_delivery_time="240101120000000+",
    validity_period="240102120000000+", registered_delivery=1, replace_if_present_flag=1,
    data_coding=3, sm_default_msg_id=1,
    short_message=b"id:0A1B2C sub:001 dlvrd:001 submit date:2401011200 "
                  b"done date:2401011201 stat:DELIVRD err:000 Text:hello",
    tlvs=[(Tag.RECEIPTED_MESSAGE_ID, b"0A1B2C\0"), (Tag.MESSAGE_STATE, b"\x02"),
          (Tag.NETWORK_ERROR_CODE, b"\x03\x00\x00")],
)

SAMPLES: list[Pdu] = [
    GenericNack(7, S.ESME_RINVCMDID),
    BindReceiver(1, 0, "esme_rx", "secret12", "VMA", 0x50, 1, 1, "^98912"),
    BindTransmitter(2, 0, "esme_tx", "pw", "SMPP", 0x33, 2, 8, "3000*"),
    BindTransceiver(3, 0, "esme_trx", "12345678", "x", 0x50, 5, 9, "[0-9]+"),
    BindReceiverResp(1, 0, "chapar", [(Tag.SC_INTERFACE_VERSION, b"\x34")]),
    BindTransmitterResp(2, 0, "chapar-tx", [(Tag.SC_INTERFACE_VERSION, b"\x34"),
                                            (0x1500, b"v")]),
    BindTransceiverResp(3, 0, "chapar-trx", [(Tag.SC_INTERFACE_VERSION, b"\x50")]),
    Outbind(4, 0, "smsc", "outpw"),
    Unbind(5),
    UnbindResp(5),
    EnquireLink(6),
    EnquireLinkResp(6),
    SUBMIT,
    DELIVER,
    SubmitSmResp(11, 0, "0A1B2C3D"),
    DeliverSmResp(12, 0, "mo-1"),
    DataSm(13, 0, "WAP", 1, 1, "9" * 64, 2, 1, "1" * 64, 0x40, 1, 8,
           [(Tag.MESSAGE_PAYLOAD, CHINESE.encode("utf-16-be") * 40),
            (Tag.SAR_MSG_REF_NUM, b"\x01\x02")]),
    DataSmResp(13, 0, "data-id", [(Tag.ADDITIONAL_STATUS_INFO_TEXT, b"queued\0"),
                                  (Tag.DELIVERY_FAILURE_REASON, b"\x01")]),
    QuerySm(14, 0, "0A1B2C3D", 1, 1, "989121234567"),
    QuerySmResp(14, 0, "0A1B2C3D", "240101120000000+", MessageState.DELIVERED, 7),
    CancelSm(15, 0, "CMT", "mid", 1, 1, "30001234", 1, 1, "989121234567"),
    CancelSmResp(15),
    ReplaceSm(16, 0, "mid", 1, 1, "30001234", "240101120000000+", "000002000000000R", 1, 2,
              b"new text"),
    ReplaceSmResp(16),
    SubmitMulti(
        17, 0, "CMT", 1, 1, "30001234",
        [Destination(1, 1, "989121234567"), Destination(dl_name="customers"),
         Destination(2, 9, "0912")],
        0x40, 1, 2, "240101120000000+", "000001000000000R", 1, 1, 8, 4, b"\x00\x41\x00\x42",
        [(Tag.USER_MESSAGE_REFERENCE, b"\x00\x08")]),
    SubmitMultiResp(17, 0, "multi-id", [UnsuccessfulSme(1, 1, "989351234567", 0x0B),
                                        UnsuccessfulSme(0, 0, "", 0x400)]),
    AlertNotification(18, 0, 1, 1, "989121234567", 2, 8, "30001234",
                      [(Tag.MS_AVAILABILITY_STATUS, b"\x00")]),
]
SAMPLE_IDS = [type(p).__name__ for p in SAMPLES]
WITH_BODY = [p for p in SAMPLES if codec.encode_body(p)]


def test_samples_cover_every_command_in_the_field_table() -> None:
    assert sorted(p.command_id for p in SAMPLES) == sorted(codec.FIELDS)
    assert len({p.command_id for p in SAMPLES}) == len(SAMPLES)


@pytest.mark.parametrize("pdu", SAMPLES, ids=SAMPLE_IDS)
def test_samples_set_every_body_field(pdu: Pdu) -> None:
    """Otherwise a field the codec drops would round-trip as its default unnoticed."""
    defaulted = [f.name for f in body_fields(pdu) if getattr(pdu, f.name) == _default(f)]
    assert defaulted == []


@pytest.mark.parametrize("pdu", SAMPLES, ids=SAMPLE_IDS)
def test_table_round_trip(pdu: Pdu) -> None:
    data = codec.encode(pdu)
    length, command_id, status, sequence = struct.unpack_from(">IIII", data)
    assert (length, command_id, status, sequence) == (
        len(data), pdu.command_id, pdu.status, pdu.sequence)
    decoded = decode_frame(data)
    assert type(decoded) is type(pdu)
    assert decoded == pdu
    assert codec.encode(decoded) == data


@pytest.mark.parametrize("pdu", SAMPLES, ids=SAMPLE_IDS)
def test_encode_body_matches_encode(pdu: Pdu) -> None:
    body = codec.encode_body(pdu)
    assert codec.encode(pdu) == codec.encode_frame(pdu.command_id, pdu.status, pdu.sequence,
                                                   body)


def test_known_submit_sm_bytes() -> None:
    """A hand-assembled submit_sm, field by field as SMPP 3.4 §4.4.1 lays it out."""
    pdu = SubmitSm(sequence=2, source_addr_ton=1, source_addr_npi=1, source_addr="3000",
                   dest_addr_ton=1, dest_addr_npi=1, destination_addr="98912",
                   registered_delivery=1, short_message=b"hi",
                   tlvs=[(Tag.SAR_MSG_REF_NUM, b"\x00\x05")])
    body = (b"\0" + b"\x01\x01" + b"3000\0" + b"\x01\x01" + b"98912\0" + b"\0\0\0"
            + b"\0" + b"\0" + b"\x01\x00\x00\x00" + b"\x02hi" + b"\x02\x0c\x00\x02\x00\x05")
    assert codec.encode(pdu) == struct.pack(">IIII", 16 + len(body), 4, 0, 2) + body
    assert codec.decode(4, 0, 2, body) == pdu


# --- header-only responses ------------------------------------------------------------

RESPONSE_SAMPLES = [p for p in SAMPLES if is_response(p.command_id)
                    and p.command_id != CommandId.GENERIC_NACK]


@pytest.mark.parametrize("pdu", RESPONSE_SAMPLES,
                         ids=[type(p).__name__ for p in RESPONSE_SAMPLES])
def test_error_response_is_header_only_and_decodes(pdu: Pdu) -> None:
    failed = dataclasses.replace(pdu, status=S.ESME_RSYSERR)  # type: ignore[type-var]
    data = codec.encode(failed)
    assert data == struct.pack(">IIII", 16, pdu.command_id, S.ESME_RSYSERR, pdu.sequence)
    decoded = decode_frame(data)
    assert type(decoded) is type(pdu)
    assert decoded.status == S.ESME_RSYSERR
    assert decoded.sequence == pdu.sequence
    assert all(getattr(decoded, f.name) == _default(f) for f in body_fields(decoded))


@pytest.mark.parametrize("status", [S.ESME_RINVPASWD, S.ESME_RTHROTTLED, 0x400, 0x4FF])
def test_header_only_bind_and_submit_responses_with_status(status: int) -> None:
    bind = codec.decode(CommandId.BIND_TRANSCEIVER_RESP, status, 1, b"")
    assert bind == BindTransceiverResp(1, status)
    submit = codec.decode(CommandId.SUBMIT_SM_RESP, status, 2, b"")
    assert submit == SubmitSmResp(2, status, "")


def test_generic_nack_keeps_its_status() -> None:
    nack = GenericNack(9, S.ESME_RINVCMDLEN)
    assert codec.encode(nack) == struct.pack(">IIII", 16, 0x80000000, 2, 9)
    assert roundtrip(nack) == nack


def test_response_with_ok_status_and_empty_body_decodes() -> None:
    # some peers omit the body of an OK response too
    assert codec.decode(CommandId.SUBMIT_SM_RESP, 0, 3, b"") == SubmitSmResp(3, 0, "")


# --- hypothesis round trips -----------------------------------------------------------

NO_NUL_LATIN1 = st.characters(min_codepoint=1, max_codepoint=255)
ADDR_CHARS = st.characters(min_codepoint=1, max_codepoint=255)
OCTET = st.integers(min_value=0, max_value=255)


def cstr(max_chars: int, alphabet: st.SearchStrategy[str] = NO_NUL_LATIN1
         ) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, max_size=max_chars)


@st.composite
def tlv(draw: st.DrawFn) -> tuple[int, bytes]:
    tag = draw(st.one_of(st.sampled_from(sorted(int(t) for t in Tag)),
                         st.integers(min_value=0, max_value=0xFFFF)))
    size = TLV_INT_SIZE.get(tag)
    if size is not None:
        return tag, draw(st.binary(min_size=size, max_size=size))
    return tag, draw(st.binary(max_size=40))


tlv_lists = st.lists(tlv(), max_size=8)


@st.composite
def short_messages(draw: st.DrawFn, cls: type[SubmitSm] | type[DeliverSm]
                   ) -> SubmitSm | DeliverSm:
    return cls(
        sequence=draw(st.integers(min_value=1, max_value=0x7FFFFFFF)),
        status=0,
        service_type=draw(cstr(5)),
        source_addr_ton=draw(OCTET), source_addr_npi=draw(OCTET),
        source_addr=draw(cstr(20, ADDR_CHARS)),
        dest_addr_ton=draw(OCTET), dest_addr_npi=draw(OCTET),
        destination_addr=draw(cstr(20, ADDR_CHARS)),
        esm_class=draw(OCTET), protocol_id=draw(OCTET), priority_flag=draw(OCTET),
        schedule_delivery_time=draw(cstr(16)), validity_period=draw(cstr(16)),
        registered_delivery=draw(OCTET), replace_if_present_flag=draw(OCTET),
        data_coding=draw(OCTET), sm_default_msg_id=draw(OCTET),
        short_message=draw(st.binary(max_size=254)),
        tlvs=draw(tlv_lists),
    )


@settings(max_examples=200, deadline=None)
@given(st.one_of(short_messages(SubmitSm), short_messages(DeliverSm)))
def test_short_message_round_trip(pdu: SubmitSm | DeliverSm) -> None:
    data = codec.encode(pdu)
    decoded = decode_frame(data)
    assert type(decoded) is type(pdu)
    assert decoded == pdu
    assert decoded.tlvs == pdu.tlvs  # unknown tags too, in their order
    assert decoded.wire == data[16:]
    assert codec.encode(decoded) == data


@st.composite
def binds(draw: st.DrawFn) -> Pdu:
    cls = draw(st.sampled_from([BindTransmitter, BindReceiver, BindTransceiver]))
    return cls(draw(st.integers(min_value=1, max_value=0x7FFFFFFF)), 0, draw(cstr(15)),
               draw(cstr(8)), draw(cstr(12)), draw(OCTET), draw(OCTET), draw(OCTET),
               draw(cstr(40)))


@st.composite
def bind_resps(draw: st.DrawFn) -> Pdu:
    cls = draw(st.sampled_from([BindTransmitterResp, BindReceiverResp, BindTransceiverResp]))
    return cls(draw(st.integers(min_value=1, max_value=0x7FFFFFFF)), 0, draw(cstr(15)),
               draw(tlv_lists))


@st.composite
def message_id_resps(draw: st.DrawFn) -> Pdu:
    cls = draw(st.sampled_from([SubmitSmResp, DeliverSmResp]))
    return cls(draw(st.integers(min_value=1, max_value=0x7FFFFFFF)), 0, draw(cstr(64)))


@settings(max_examples=200, deadline=None)
@given(st.one_of(binds(), bind_resps(), message_id_resps()))
def test_bind_and_response_round_trip(pdu: Pdu) -> None:
    assert roundtrip(pdu) == pdu


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([SubmitSmResp, DeliverSmResp, BindTransceiverResp, DataSmResp,
                        QuerySmResp, SubmitMultiResp, UnbindResp, GenericNack]),
       st.integers(min_value=1, max_value=0xFFFFFFFF),
       st.integers(min_value=1, max_value=0x7FFFFFFF))
def test_any_nonzero_status_survives_header_only(cls: type[Pdu], status: int,
                                                 sequence: int) -> None:
    pdu = cls(sequence, status)  # type: ignore[call-arg]
    data = codec.encode(pdu)
    assert len(data) == 16
    assert roundtrip(pdu) == pdu


# --- encode-side limits ---------------------------------------------------------------


@pytest.mark.parametrize(("pdu", "field"), [
    (SubmitSm(source_addr="1" * 21), "source_addr"),
    (SubmitSm(destination_addr="1" * 21), "destination_addr"),
    (SubmitSm(service_type="ABCDEF"), "service_type"),
    (DeliverSm(validity_period="1" * 17), "validity_period"),
    (BindTransmitter(system_id="s" * 16), "system_id"),
    (BindTransmitter(password="p" * 9), "password"),
    (SubmitSmResp(message_id="m" * 65), "message_id"),
])
def test_encode_rejects_over_long_c_strings(pdu: Pdu, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        codec.encode(pdu)


def test_encode_rejects_short_message_over_255() -> None:
    with pytest.raises(ValueError):
        codec.encode(SubmitSm(short_message=b"x" * 256))


# --- decode errors --------------------------------------------------------------------


def _body_with(pdu: Pdu, placeholder: str, replacement: bytes) -> bytes:
    body = codec.encode_body(pdu)
    raw = placeholder.encode("latin-1") + b"\0"
    assert body.count(raw) == 1
    return body.replace(raw, replacement + b"\0")


OVERLONG = [
    # (pdu, placeholder value, max chars, field status)
    (BindTransmitter(1, 0, "SYSID", "pw", "", 0x34, 0, 0, ""), "SYSID", 15, S.ESME_RINVSYSID),
    (BindReceiver(1, 0, "esme", "PASS", "", 0x34, 0, 0, ""), "PASS", 8, S.ESME_RINVPASWD),
    (BindTransceiver(1, 0, "esme", "pw", "STYPE", 0x34, 0, 0, ""), "STYPE", 12,
     S.ESME_RINVSYSTYP),
    (SubmitSm(1, source_addr="SRC", destination_addr="dst"), "SRC", 20, S.ESME_RINVSRCADR),
    (SubmitSm(1, source_addr="src", destination_addr="DST"), "DST", 20, S.ESME_RINVDSTADR),
    (DeliverSm(1, source_addr="SRC", destination_addr="dst"), "SRC", 20, S.ESME_RINVSRCADR),
    (DeliverSm(1, source_addr="src", destination_addr="DST"), "DST", 20, S.ESME_RINVDSTADR),
    (SubmitSm(1, service_type="SVC"), "SVC", 5, S.ESME_RINVSERTYP),
    (SubmitSm(1, schedule_delivery_time="SCHED"), "SCHED", 16, S.ESME_RINVSCHED),
    (SubmitSm(1, validity_period="VALID"), "VALID", 16, S.ESME_RINVEXPIRY),
    (DataSm(1, 0, "", 0, 0, "SRC", 0, 0, "dst"), "SRC", 64, S.ESME_RINVSRCADR),
    (DataSm(1, 0, "", 0, 0, "src", 0, 0, "DST"), "DST", 64, S.ESME_RINVDSTADR),
    (QuerySm(1, 0, "mid", 0, 0, "SRC"), "SRC", 20, S.ESME_RINVSRCADR),
    (QuerySm(1, 0, "MID", 0, 0, "src"), "MID", 64, S.ESME_RINVMSGID),
    (CancelSm(1, 0, "", "mid", 0, 0, "src", 0, 0, "DST"), "DST", 20, S.ESME_RINVDSTADR),
]


@pytest.mark.parametrize(("pdu", "placeholder", "max_chars", "status"), OVERLONG,
                         ids=[f"{type(p).__name__}-{ph}" for p, ph, _, _ in OVERLONG])
def test_over_long_c_string_gives_field_status(pdu: Pdu, placeholder: str, max_chars: int,
                                               status: int) -> None:
    at_limit = _body_with(pdu, placeholder, b"7" * max_chars)
    decoded = codec.decode(pdu.command_id, 0, 1, at_limit)
    assert getattr(decoded, next(f.name for f in body_fields(pdu)
                                 if getattr(pdu, f.name) == placeholder)) == "7" * max_chars
    over = _body_with(pdu, placeholder, b"7" * (max_chars + 1))
    with pytest.raises(DecodeError) as info:
        codec.decode(pdu.command_id, 0, 1, over)
    assert info.value.status == status


TLV_CARRIERS: list[Pdu] = [SubmitSm(1), DeliverSm(1), BindTransceiverResp(1, 0, "smsc"),
                           DataSm(1), DataSmResp(1, 0, "id"), AlertNotification(1)]


@pytest.mark.parametrize("carrier", TLV_CARRIERS, ids=[type(p).__name__ for p in TLV_CARRIERS])
@pytest.mark.parametrize("tag", sorted(TLV_INT_SIZE))
def test_fixed_size_tlv_with_wrong_length(carrier: Pdu, tag: int) -> None:
    size = TLV_INT_SIZE[tag]
    base = codec.encode_body(carrier)
    good = codec.decode(carrier.command_id, 0, 1, base + codec.encode_tlvs([(tag, b"\1" * size)]))
    assert getattr(good, "tlvs") == [(tag, b"\1" * size)]  # noqa: B009
    for wrong in {size + 1, max(size - 1, 0) if size else 2}:
        body = base + codec.encode_tlvs([(tag, b"\1" * wrong)])
        with pytest.raises(DecodeError) as info:
            codec.decode(carrier.command_id, 0, 1, body)
        assert info.value.status == S.ESME_RINVPARLEN


def test_tlv_running_past_the_body() -> None:
    body = codec.encode_body(SubmitSm(1)) + struct.pack(">HH", 0x1400, 10) + b"abc"
    with pytest.raises(DecodeError) as info:
        codec.decode(CommandId.SUBMIT_SM, 0, 1, body)
    assert info.value.status == S.ESME_RINVOPTPARSTREAM


def test_short_message_running_past_the_body() -> None:
    body = bytearray(codec.encode_body(SubmitSm(1, short_message=b"abc")))
    body[-4] = 200  # sm_length
    with pytest.raises(DecodeError) as info:
        codec.decode(CommandId.SUBMIT_SM, 0, 1, bytes(body))
    assert info.value.status == S.ESME_RINVMSGLEN


def test_unknown_command_id() -> None:
    with pytest.raises(DecodeError) as info:
        codec.decode(0x00000099, 0, 1, b"")
    assert info.value.status == S.ESME_RINVCMDID


def test_submit_multi_bad_dest_flag() -> None:
    body = bytearray(codec.encode_body(SubmitMulti(1, destinations=[Destination(1, 1, "9")])))
    at = body.index(b"\x01\x01\x01\x01\x39")  # number_of_dests=1, dest_flag=1, ton, npi
    body[at + 1] = 3
    with pytest.raises(DecodeError) as info:
        codec.decode(CommandId.SUBMIT_MULTI, 0, 1, bytes(body))
    assert info.value.status == S.ESME_RINVDESTFLAG


def _tlv_boundaries(pdu: Pdu) -> dict[int, Tlvs]:
    """Cut points of pdu's body that leave a valid PDU, with the TLVs left at each."""
    body = codec.encode_body(pdu)
    tlvs: Tlvs = getattr(pdu, "tlvs")  # noqa: B009
    return {len(body) - len(codec.encode_tlvs(tlvs[i:])): tlvs[:i] for i in range(len(tlvs))}


@pytest.mark.parametrize("pdu", [SUBMIT, DELIVER], ids=["submit_sm", "deliver_sm"])
def test_truncated_short_message_raises_decode_error_at_every_cut(pdu: SubmitSm | DeliverSm
                                                                  ) -> None:
    body = codec.encode_body(pdu)
    valid = _tlv_boundaries(pdu)
    assert valid  # the sample has TLVs, so some cuts are legitimately complete PDUs
    for cut in range(len(body)):
        if cut in valid:
            decoded = codec.decode(pdu.command_id, 0, 1, body[:cut])
            assert isinstance(decoded, type(pdu))
            assert decoded.tlvs == valid[cut]
            assert decoded.short_message == pdu.short_message
            continue
        with pytest.raises(DecodeError) as info:  # never IndexError or anything else
            codec.decode(pdu.command_id, 0, 1, body[:cut])
        assert info.value.status in STATUSES, cut


LENGTH_STATUSES = {S.ESME_RINVMSGLEN, S.ESME_RINVCMDLEN, S.ESME_RINVOPTPARSTREAM}
@pytest.mark.parametrize("pdu", WITH_BODY, ids=[type(p).__name__ for p in WITH_BODY])
def test_truncation_reports_a_length_status(pdu: Pdu) -> None:
    """A body cut short is a length problem, not an invalid address or service type."""
    body = codec.encode_body(pdu)
    wrong: dict[int, str] = {}
    for cut in range(len(body)):
        try:
            codec.decode(pdu.command_id, 0, 1, body[:cut])
        except DecodeError as exc:
            if exc.status not in LENGTH_STATUSES:
                wrong[cut] = CommandStatus(exc.status).name
    assert wrong == {}


ALL_COMMAND_IDS = [*sorted(int(c) for c in codec.FIELDS),
                   0x0000000A, 0x00000099, 0x80000099, 0x00010200, 0xFFFFFFFF]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ALL_COMMAND_IDS), st.integers(min_value=0, max_value=0xFFFFFFFF),
       st.binary(max_size=300))
def test_decode_of_arbitrary_bytes_raises_only_decode_error(command_id: int, status: int,
                                                            body: bytes) -> None:
    try:
        pdu = codec.decode(command_id, status, 42, body)
    except DecodeError as exc:
        assert exc.status in STATUSES
        return
    assert pdu.command_id == command_id
    assert (pdu.sequence, pdu.status) == (42, status)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_decode_of_mutated_pdus_raises_only_decode_error(data: st.DataObject) -> None:
    sample = data.draw(st.sampled_from(WITH_BODY))
    body = bytearray(codec.encode_body(sample))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        body[data.draw(st.integers(min_value=0, max_value=len(body) - 1))] = data.draw(OCTET)
    cut = data.draw(st.integers(min_value=0, max_value=len(body)))
    mutated = bytes(body[:cut]) + data.draw(st.binary(max_size=8))
    try:
        pdu = codec.decode(sample.command_id, 0, 1, mutated)
    except DecodeError as exc:
        assert exc.status in STATUSES
        return
    # whatever we accept, we can write back out and read identically
    assert roundtrip(dataclasses.replace(pdu)) == pdu  # type: ignore[type-var]


# --- `wire`: the parsed body is kept and reused ---------------------------------------


@pytest.mark.parametrize("pdu", [SUBMIT, DELIVER], ids=["submit_sm", "deliver_sm"])
def test_wire_is_kept_and_reused(pdu: SubmitSm | DeliverSm) -> None:
    data = codec.encode(pdu)
    decoded = decode_frame(data)
    assert isinstance(decoded, SubmitSm | DeliverSm)
    assert decoded.wire == data[16:]
    # the body is forwarded as parsed, whatever the fields say now (PDUs are values)
    decoded.short_message = b"tampered"
    decoded.sequence = 99
    reencoded = codec.encode(decoded)
    assert reencoded[16:] == data[16:]
    assert struct.unpack_from(">I", reencoded, 12)[0] == 99  # the header is fresh
    assert codec.encode_body(decoded) is decoded.wire


def test_wire_is_not_an_init_field_and_not_compared() -> None:
    decoded = roundtrip(SUBMIT)
    assert isinstance(decoded, SubmitSm)
    assert decoded.wire is not None
    assert SUBMIT.wire is None
    assert decoded == SUBMIT
    assert "wire" not in repr(decoded)


def test_dataclasses_replace_drops_wire() -> None:
    decoded = roundtrip(SUBMIT)
    assert isinstance(decoded, SubmitSm)
    changed = dataclasses.replace(decoded, destination_addr="989350000000")
    assert changed.wire is None
    again = decode_frame(codec.encode(changed))
    assert isinstance(again, SubmitSm)
    assert again.destination_addr == "989350000000"
    assert again.short_message == SUBMIT.short_message
    same = dataclasses.replace(decoded)
    assert same.wire is None
    assert codec.encode(same) == codec.encode(SUBMIT)


def test_wire_is_used_even_when_it_is_not_canonical() -> None:
    """A relay forwards exactly what it received, e.g. a TLV we would never write."""
    body = codec.encode_body(SubmitSm(1, short_message=b"x")) + struct.pack(">HH", 0x1400, 0)
    decoded = codec.decode(CommandId.SUBMIT_SM, 0, 5, body)
    assert codec.encode(decoded)[16:] == body


# ======================================================================================
# Cross-checks against third-party SMPP libraries
# ======================================================================================


class _SmpplibClient:
    """What smpplib's PDU classes need of a client: a sequence counter."""

    def __init__(self) -> None:
        self.sequence = 0

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence


def smpplib_build(command: str, sequence: int, **fields: Any) -> bytes:
    pdu = smpplib_smpp.make_pdu(command, client=_SmpplibClient(), **fields)
    pdu.sequence = sequence
    data: bytes = pdu.generate()
    return data


def smpplib_parse(data: bytes) -> Any:
    return smpplib_smpp.parse_pdu(data, client=_SmpplibClient(),
                                  allow_unknown_opt_params=True)


def aio_parse(data: bytes) -> Any:
    header = aio.SmppMessage.parse_header(data)
    cls = aio.MESSAGE_TYPE_MAP[header.smpp_command]
    return cls.from_pdu(data, header, default_encoding="gsm0338")


def b(text: str) -> bytes:
    return text.encode("latin-1")


TEXTS = [
    pytest.param(GSM_TEXT, DataCoding.DEFAULT, id="gsm7"),
    pytest.param(PERSIAN, DataCoding.UCS2, id="persian-ucs2"),
    pytest.param(CHINESE, DataCoding.UCS2, id="chinese-ucs2"),
]
SM_COMMANDS = [pytest.param("submit_sm", SubmitSm, aio.SubmitSm, id="submit_sm"),
               pytest.param("deliver_sm", DeliverSm, aio.DeliverSm, id="deliver_sm")]


def _ours(cls: type[SubmitSm] | type[DeliverSm], text: str, coding: int, **extra: Any
          ) -> SubmitSm | DeliverSm:
    fields: dict[str, Any] = {
        "sequence": 21, "source_addr_ton": 5, "source_addr_npi": 0, "source_addr": "Chapar",
        "dest_addr_ton": 1, "dest_addr_npi": 1, "destination_addr": "989121234567",
        "registered_delivery": 1, "data_coding": coding,
        "short_message": encode_text(text, coding),
    }
    fields.update(extra)
    return cls(**fields)


def _assert_decodes_to_ours(data: bytes, ours_cls: type[SubmitSm] | type[DeliverSm],
                            text: str, coding: int) -> None:
    """A third party's short message (service type CMT, user_message_reference 7)
    decodes to what :func:`_ours` builds, text and all."""
    decoded = decode_frame(data)
    expected = _ours(ours_cls, text, coding, service_type="CMT",
                     tlvs=[(Tag.USER_MESSAGE_REFERENCE, b"\x00\x07")])
    assert decoded == expected
    assert isinstance(decoded, SubmitSm | DeliverSm)
    assert decode_text(decoded.short_message, decoded.data_coding) == text


# --- smpplib: submit_sm / deliver_sm --------------------------------------------------


@pytest.mark.parametrize(("name", "ours_cls", "aio_cls"), SM_COMMANDS)
@pytest.mark.parametrize(("text", "coding"), TEXTS)
def test_smpplib_short_message_to_ours(name: str, ours_cls: type[SubmitSm] | type[DeliverSm],
                                       aio_cls: Any, text: str, coding: int) -> None:
    message = encode_text(text, coding)
    data = smpplib_build(name, 21, service_type="CMT", source_addr_ton=5,
                         source_addr_npi=0, source_addr="Chapar", dest_addr_ton=1,
                         dest_addr_npi=1, destination_addr="989121234567",
                         registered_delivery=1, data_coding=coding, short_message=message,
                         user_message_reference=7)
    _assert_decodes_to_ours(data, ours_cls, text, coding)


@pytest.mark.parametrize(("name", "ours_cls", "aio_cls"), SM_COMMANDS)
@pytest.mark.parametrize(("text", "coding"), TEXTS)
def test_ours_short_message_to_smpplib(name: str, ours_cls: type[SubmitSm] | type[DeliverSm],
                                       aio_cls: Any, text: str, coding: int) -> None:
    pdu = _ours(ours_cls, text, coding, service_type="CMT", protocol_id=0, priority_flag=1,
                tlvs=[(Tag.USER_MESSAGE_REFERENCE, b"\x00\x07"), (0x1400, b"vendor"),
                      (Tag.SOURCE_PORT, b"\x1f\x90")])
    parsed = smpplib_parse(codec.encode(pdu))
    assert parsed.command == name
    assert parsed.sequence == 21
    assert parsed.status == 0
    assert parsed.service_type == b"CMT"
    assert (parsed.source_addr_ton, parsed.source_addr_npi, parsed.source_addr) == (
        5, 0, b"Chapar")
    assert (parsed.dest_addr_ton, parsed.dest_addr_npi, parsed.destination_addr) == (
        1, 1, b"989121234567")
    assert (parsed.esm_class, parsed.priority_flag, parsed.registered_delivery) == (0, 1, 1)
    assert parsed.data_coding == coding
    assert parsed.sm_length == len(pdu.short_message)
    assert parsed.short_message == pdu.short_message
    assert decode_text(parsed.short_message, parsed.data_coding) == text
    # known TLVs land in their attributes; smpplib skips the unknown vendor tag
    assert parsed.user_message_reference == 7
    assert parsed.source_port == 0x1F90


def test_smpplib_delivery_receipt_tlvs_both_ways() -> None:
    data = smpplib_build("deliver_sm", 5, source_addr="989121234567",
                         destination_addr="30001234", esm_class=0x04,
                         short_message=DELIVER.short_message,
                         receipted_message_id="0A1B2C", message_state=2,
                         network_error_code=b"\x03\x00\x00")
    decoded = decode_frame(data)
    assert isinstance(decoded, DeliverSm)
    assert tlv_str(decoded.tlvs, Tag.RECEIPTED_MESSAGE_ID) == "0A1B2C"
    assert tlv_int(decoded.tlvs, Tag.MESSAGE_STATE) == MessageState.DELIVERED
    assert dict(decoded.tlvs)[Tag.NETWORK_ERROR_CODE] == b"\x03\x00\x00"

    parsed = smpplib_parse(codec.encode(DELIVER))
    assert parsed.receipted_message_id == b"0A1B2C"
    assert parsed.message_state == 2
    assert parsed.network_error_code == b"\x03\x00\x00"
    assert parsed.short_message == DELIVER.short_message
    assert parsed.esm_class == 0x04


@settings(max_examples=100, deadline=None)
@given(source=cstr(20, st.characters(min_codepoint=0x21, max_codepoint=0x7E)),
       dest=cstr(20, st.characters(min_codepoint=0x30, max_codepoint=0x39)),
       ton=OCTET, esm=OCTET, coding=OCTET,
       message=st.binary(min_size=1, max_size=254),
       sar=st.tuples(st.integers(0, 0xFFFF), st.integers(1, 255), st.integers(1, 255)))
def test_smpplib_agrees_on_random_submit_sm(source: str, dest: str, ton: int, esm: int,
                                            coding: int, message: bytes,
                                            sar: tuple[int, int, int]) -> None:
    pdu = SubmitSm(sequence=3, source_addr_ton=ton, source_addr=source, destination_addr=dest,
                   esm_class=esm, data_coding=coding, short_message=message,
                   tlvs=[(Tag.SAR_MSG_REF_NUM, sar[0].to_bytes(2, "big")),
                         (Tag.SAR_TOTAL_SEGMENTS, bytes([sar[1]])),
                         (Tag.SAR_SEGMENT_SEQNUM, bytes([sar[2]]))])
    parsed = smpplib_parse(codec.encode(pdu))
    assert (parsed.source_addr_ton, parsed.source_addr, parsed.destination_addr) == (
        ton, b(source), b(dest))
    assert (parsed.esm_class, parsed.data_coding, parsed.short_message) == (esm, coding, message)
    assert (parsed.sar_msg_ref_num, parsed.sar_total_segments,
            parsed.sar_segment_seqnum) == sar

    data = smpplib_build("submit_sm", 3, source_addr_ton=ton, source_addr=source,
                         destination_addr=dest, esm_class=esm, data_coding=coding,
                         short_message=message, sar_msg_ref_num=sar[0],
                         sar_total_segments=sar[1], sar_segment_seqnum=sar[2])
    assert decode_frame(data) == pdu


# --- smpplib: binds and responses -----------------------------------------------------

BIND_COMMANDS = [
    pytest.param("bind_transmitter", BindTransmitter, aio.BindTransmitter, id="tx"),
    pytest.param("bind_receiver", BindReceiver, aio.BindReceiver, id="rx"),
    pytest.param("bind_transceiver", BindTransceiver, aio.BindTransceiver, id="trx"),
]
BIND_RESPONSES = [
    pytest.param("bind_transmitter_resp", BindTransmitterResp, aio.BindTransmitterResp,
                 id="tx_resp"),
    pytest.param("bind_receiver_resp", BindReceiverResp, aio.BindReceiverResp, id="rx_resp"),
    pytest.param("bind_transceiver_resp", BindTransceiverResp, aio.BindTransceiverResp,
                 id="trx_resp"),
]


@pytest.mark.parametrize(("name", "ours_cls", "aio_cls"), BIND_COMMANDS)
def test_smpplib_bind_both_ways(name: str, ours_cls: type[Pdu], aio_cls: Any) -> None:
    expected = ours_cls(8, 0, "esme1", "secret12", "VMA", 0x34, 1, 1,  # type: ignore[call-arg]
                        "^9891")
    data = smpplib_build(name, 8, system_id="esme1", password="secret12", system_type="VMA",
                         addr_ton=1, addr_npi=1, address_range="^9891")
    assert decode_frame(data) == expected
    assert codec.encode(expected) == data  # byte-identical, both canonical

    parsed = smpplib_parse(codec.encode(expected))
    assert parsed.command == name
    assert parsed.sequence == 8
    assert (parsed.system_id, parsed.password, parsed.system_type) == (
        b"esme1", b"secret12", b"VMA")
    assert (parsed.interface_version, parsed.addr_ton, parsed.addr_npi) == (0x34, 1, 1)
    assert parsed.address_range == b"^9891"


@pytest.mark.parametrize(("name", "ours_cls", "aio_cls"), BIND_RESPONSES)
def test_smpplib_bind_resp_both_ways(name: str, ours_cls: type[Pdu], aio_cls: Any) -> None:
    data = smpplib_build(name, 8, system_id="chapar", sc_interface_version=0x34)
    assert decode_frame(data) == ours_cls(  # type: ignore[call-arg]
        8, 0, "chapar", [(Tag.SC_INTERFACE_VERSION, b"\x34")])

    ours = ours_cls(8, 0, "chapar", [(Tag.SC_INTERFACE_VERSION, b"\x34")])  # type: ignore[call-arg]
    parsed = smpplib_parse(codec.encode(ours))
    assert (parsed.command, parsed.sequence, parsed.status) == (name, 8, 0)
    assert parsed.system_id == b"chapar"
    assert parsed.sc_interface_version == 0x34

    # a refused bind: header only, both ways
    refused = ours_cls(8, S.ESME_RINVPASWD)  # type: ignore[call-arg]
    parsed = smpplib_parse(codec.encode(refused))
    assert (parsed.command, parsed.status, parsed.sequence) == (name, S.ESME_RINVPASWD, 8)
    data = smpplib_build(name, 8, status=S.ESME_RBINDFAIL, system_id="chapar")
    decoded = decode_frame(data)
    assert type(decoded) is ours_cls
    assert decoded.status == S.ESME_RBINDFAIL


@pytest.mark.parametrize(("name", "ours_cls"), [("submit_sm_resp", SubmitSmResp),
                                                ("deliver_sm_resp", DeliverSmResp)])
def test_smpplib_message_id_responses_both_ways(name: str, ours_cls: type[Pdu]) -> None:
    data = smpplib_build(name, 30, message_id="0A1B2C3D")
    assert decode_frame(data) == ours_cls(30, 0, "0A1B2C3D")  # type: ignore[call-arg]
    parsed = smpplib_parse(codec.encode(ours_cls(30, 0, "5F00AA")))  # type: ignore[call-arg]
    assert (parsed.command, parsed.sequence, parsed.message_id) == (name, 30, b"5F00AA")
    parsed = smpplib_parse(codec.encode(ours_cls(31, S.ESME_RTHROTTLED)))  # type: ignore[call-arg]
    assert (parsed.command, parsed.status, parsed.sequence) == (name, S.ESME_RTHROTTLED, 31)


@pytest.mark.parametrize(("name", "pdu"), [
    ("enquire_link", EnquireLink(40)), ("enquire_link_resp", EnquireLinkResp(40)),
    ("unbind", Unbind(41)), ("unbind_resp", UnbindResp(41)),
    ("generic_nack", GenericNack(42, S.ESME_RINVCMDID)),
])
def test_smpplib_empty_body_commands_both_ways(name: str, pdu: Pdu) -> None:
    data = smpplib_build(name, pdu.sequence, status=pdu.status)
    assert data == codec.encode(pdu)
    assert decode_frame(data) == pdu
    parsed = smpplib_parse(codec.encode(pdu))
    assert (parsed.command, parsed.sequence, parsed.status) == (name, pdu.sequence, pdu.status)


# --- smpplib: long messages -----------------------------------------------------------

LONG_TEXTS = [
    pytest.param("Chapar long GSM message {with} [extension] chars € and more. " * 6,
                 DataCoding.DEFAULT, id="gsm7"),
    pytest.param(f"{PERSIAN} " * 4, DataCoding.UCS2, id="persian"),
    pytest.param(CHINESE * 30, DataCoding.UCS2, id="chinese"),
]
METHODS: list[SplitMethod] = ["udh8", "udh16", "sar"]
REFERENCE = {"udh8": 0xA7, "udh16": 0xBEEF, "sar": 0x1234}


def _segments(text: str, coding: int, method: SplitMethod) -> list[SubmitSm]:
    segments = split_message(text, coding=coding, method=method, reference=REFERENCE[method])
    assert len(segments) > 1
    parts = []
    for n, seg in enumerate(segments, start=1):
        tlvs: Tlvs = []
        if seg.sar is not None:
            ref, total, seq = seg.sar
            tlvs = [(Tag.SAR_MSG_REF_NUM, ref.to_bytes(2, "big")),
                    (Tag.SAR_TOTAL_SEGMENTS, bytes([total])),
                    (Tag.SAR_SEGMENT_SEQNUM, bytes([seq]))]
        parts.append(SubmitSm(sequence=100 + n, source_addr="30001234",
                              destination_addr="989121234567",
                              esm_class=0x40 if seg.esm_class_udhi else 0,
                              data_coding=seg.data_coding, short_message=seg.short_message,
                              tlvs=tlvs))
    return parts


def _join(short_messages: list[bytes], coding: int, method: SplitMethod) -> str:
    return join_parts(short_messages, coding, udh=method != "sar")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("text", "coding"), LONG_TEXTS)
def test_smpplib_long_message_parts_both_ways(text: str, coding: int,
                                              method: SplitMethod) -> None:
    parts = _segments(text, coding, method)
    total = len(parts)

    # (b) ours -> smpplib
    seen: list[bytes] = []
    for n, part in enumerate(parts, start=1):
        parsed = smpplib_parse(codec.encode(part))
        assert parsed.short_message == part.short_message
        assert parsed.data_coding == coding
        seen.append(parsed.short_message)
        if method == "sar":
            assert parsed.esm_class == 0
            assert (parsed.sar_msg_ref_num, parsed.sar_total_segments,
                    parsed.sar_segment_seqnum) == (REFERENCE[method], total, n)
        else:
            assert parsed.esm_class == 0x40
            assert parsed.sar_msg_ref_num is None
            info, _ = parse_udh(parsed.short_message)
            assert info is not None
            assert (info.ref, info.total, info.seq) == (REFERENCE[method], total, n)
    assert _join(seen, coding, method) == text
    if method != "sar":  # UDH parts carry their order; SAR parts are joined as given
        assert _join(list(reversed(seen)), coding, method) == text

    # (a) smpplib -> ours
    received: list[bytes] = []
    for n, part in enumerate(parts, start=1):
        extra: dict[str, Any] = {}
        if method == "sar":
            extra = {"sar_msg_ref_num": REFERENCE[method], "sar_total_segments": total,
                     "sar_segment_seqnum": n}
        data = smpplib_build("submit_sm", part.sequence, source_addr="30001234",
                             destination_addr="989121234567", esm_class=part.esm_class,
                             data_coding=coding, short_message=part.short_message, **extra)
        decoded = decode_frame(data)
        assert decoded == part
        assert isinstance(decoded, SubmitSm)
        received.append(decoded.short_message)
    assert _join(received, coding, method) == text


# --- aiosmpplib: submit_sm / deliver_sm -----------------------------------------------


def _aio_message(aio_cls: Any, sequence: int, text: str, coding: int, **extra: Any) -> Any:
    return aio_cls(
        sequence_num=sequence, short_message=text,
        source=aio.PhoneNumber("Chapar", TON.ALPHANUMERIC, NPI.UNKNOWN),
        destination=aio.PhoneNumber("989121234567", TON.INTERNATIONAL, NPI.ISDN),
        encoding="ucs2" if coding == DataCoding.UCS2 else None, **extra)


@pytest.mark.parametrize(("name", "ours_cls", "aio_cls"), SM_COMMANDS)
@pytest.mark.parametrize(("text", "coding"), TEXTS)
def test_aiosmpplib_short_message_to_ours(name: str,
                                          ours_cls: type[SubmitSm] | type[DeliverSm],
                                          aio_cls: Any, text: str, coding: int) -> None:
    message = _aio_message(aio_cls, 21, text, coding, service_type="CMT",
                           optional_params=[OptionalParam(Tag.USER_MESSAGE_REFERENCE, 7)])
    _assert_decodes_to_ours(message.pdu(), ours_cls, text, coding)


@pytest.mark.parametrize(("name", "ours_cls", "aio_cls"), SM_COMMANDS)
@pytest.mark.parametrize(("text", "coding"), TEXTS)
def test_ours_short_message_to_aiosmpplib(name: str,
                                          ours_cls: type[SubmitSm] | type[DeliverSm],
                                          aio_cls: Any, text: str, coding: int) -> None:
    pdu = _ours(ours_cls, text, coding, service_type="CMT",
                tlvs=[(Tag.USER_MESSAGE_REFERENCE, b"\x00\x07"), (0x1400, b"vendor")])
    parsed = aio_parse(codec.encode(pdu))
    assert type(parsed) is aio_cls
    assert parsed.sequence_num == 21
    assert parsed.service_type == "CMT"
    assert parsed.source == aio.PhoneNumber("Chapar", TON.ALPHANUMERIC, NPI.UNKNOWN)
    assert parsed.destination == aio.PhoneNumber("989121234567", TON.INTERNATIONAL, NPI.ISDN)
    assert parsed.registered_delivery == 1
    assert parsed.esm_class == 0
    assert parsed.short_message == text
    assert parsed.encoding == ("ucs2" if coding == DataCoding.UCS2 else None)
    # aiosmpplib keeps unknown tags as strings, in order
    assert [(p.tag, p.value) for p in parsed.optional_params] == [
        (Tag.USER_MESSAGE_REFERENCE, 7), (0x1400, "vendor")]


def test_aiosmpplib_delivery_receipt_from_ours() -> None:
    parsed = aio_parse(codec.encode(DELIVER))
    assert isinstance(parsed, aio.DeliverSm)
    assert parsed.is_receipt()
    receipt = parsed.parse_receipt()
    assert receipt["id"] == "0A1B2C"
    assert receipt["stat"] == "DELIVRD"
    tags = {p.tag: p.value for p in parsed.optional_params}
    assert tags[Tag.RECEIPTED_MESSAGE_ID] == "0A1B2C"
    assert tags[Tag.MESSAGE_STATE] == MessageState.DELIVERED


# --- aiosmpplib: binds and responses --------------------------------------------------


@pytest.mark.parametrize(("name", "ours_cls", "aio_cls"), BIND_COMMANDS)
def test_aiosmpplib_bind_both_ways(name: str, ours_cls: type[Pdu], aio_cls: Any) -> None:
    expected = ours_cls(8, 0, "esme1", "secret12", "VMA", 0x34, 1, 1,  # type: ignore[call-arg]
                        "^9891")
    theirs = aio_cls(sequence_num=8, system_id="esme1", password="secret12",
                     system_type="VMA", addr_ton=TON.INTERNATIONAL, addr_npi=NPI.ISDN,
                     address_range="^9891")
    assert decode_frame(theirs.pdu()) == expected
    assert theirs.pdu() == codec.encode(expected)

    parsed = aio_parse(codec.encode(expected))
    assert type(parsed) is aio_cls
    assert parsed == theirs


@pytest.mark.parametrize(("name", "ours_cls", "aio_cls"), BIND_RESPONSES)
def test_aiosmpplib_bind_resp_both_ways(name: str, ours_cls: type[Pdu], aio_cls: Any) -> None:
    theirs = aio_cls(sequence_num=8, system_id="chapar", sc_interface_version=0x34)
    ours = ours_cls(8, 0, "chapar", [(Tag.SC_INTERFACE_VERSION, b"\x34")])  # type: ignore[call-arg]
    assert decode_frame(theirs.pdu()) == ours
    parsed = aio_parse(codec.encode(ours))
    assert type(parsed) is aio_cls
    assert parsed == theirs
    # The header-only refusal is not cross-checked: aiosmpplib 0.7.4 cannot parse a
    # bind_*_resp without a body (ValueError 'subsection not found', domain.md §(e)).


@pytest.mark.parametrize(("aio_cls", "ours_cls"), [(aio.SubmitSmResp, SubmitSmResp),
                                                   (aio.DeliverSmResp, DeliverSmResp)])
def test_aiosmpplib_message_id_responses_both_ways(aio_cls: Any, ours_cls: type[Pdu]) -> None:
    theirs = aio_cls(sequence_num=30, message_id="0A1B2C3D")
    assert decode_frame(theirs.pdu()) == ours_cls(30, 0, "0A1B2C3D")  # type: ignore[call-arg]
    parsed = aio_parse(codec.encode(ours_cls(30, 0, "0A1B2C3D")))  # type: ignore[call-arg]
    assert parsed == theirs
    parsed = aio_parse(codec.encode(ours_cls(31, S.ESME_RTHROTTLED)))  # type: ignore[call-arg]
    assert type(parsed) is aio_cls
    assert (parsed.sequence_num, parsed.command_status, parsed.message_id) == (
        31, S.ESME_RTHROTTLED, "")


@pytest.mark.parametrize(("theirs", "ours"), [
    (aio.EnquireLink(40), EnquireLink(40)), (aio.EnquireLinkResp(40), EnquireLinkResp(40)),
    (aio.Unbind(41), Unbind(41)), (aio.UnbindResp(41), UnbindResp(41)),
])
def test_aiosmpplib_empty_body_commands_both_ways(theirs: Any, ours: Pdu) -> None:
    assert decode_frame(theirs.pdu()) == ours
    assert aio_parse(codec.encode(ours)) == theirs


# --- aiosmpplib: long messages --------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("text", "coding"), LONG_TEXTS)
def test_aiosmpplib_long_message_parts_both_ways(text: str, coding: int,
                                                 method: SplitMethod) -> None:
    parts = _segments(text, coding, method)
    total = len(parts)
    ref = REFERENCE[method]

    # (c1) ours -> aiosmpplib: it reads the UDH (or SAR TLVs) into SAR optional params
    # and decodes each part's payload to text
    texts: dict[int, str] = {}
    for n, part in enumerate(parts, start=1):
        parsed = aio_parse(codec.encode(part))
        assert isinstance(parsed, aio.SubmitSm)
        assert parsed.esm_class == part.esm_class
        got_ref, got_seq, got_total = parsed.get_segmentation_data()
        assert (got_seq, got_total) == (n, total)
        if method == "udh16":
            # aiosmpplib 0.7.4 reads a 16-bit reference as a 4-byte integer from UDH
            # offset 3 (refHi refLo total seq); only its high half is the reference.
            assert got_ref >> 16 == ref
        else:
            assert got_ref == ref
        texts[got_seq] = parsed.short_message
    assert "".join(texts[n] for n in sorted(texts)) == text

    # (c2) aiosmpplib -> ours: parts pre-encoded (as its own splitter does) with our UDH
    # or with SAR optional params
    received: list[bytes] = []
    for n, part in enumerate(parts, start=1):
        optional: list[OptionalParam] = []
        if method == "sar":
            optional = [OptionalParam(Tag.SAR_MSG_REF_NUM, ref),
                        OptionalParam(Tag.SAR_TOTAL_SEGMENTS, total),
                        OptionalParam(Tag.SAR_SEGMENT_SEQNUM, n)]
        theirs = aio.SubmitSm(
            sequence_num=part.sequence, short_message="placeholder",
            source=aio.PhoneNumber("30001234"), destination=aio.PhoneNumber("989121234567"),
            esm_class=part.esm_class, registered_delivery=0,
            encoding="ucs2" if coding == DataCoding.UCS2 else None,
            optional_params=optional)
        theirs.set_encoded_message(part.short_message)
        decoded = decode_frame(theirs.pdu())
        assert decoded == part
        assert isinstance(decoded, SubmitSm)
        if method != "sar":
            info, _ = parse_udh(decoded.short_message)
            assert info is not None
            assert (info.ref, info.total, info.seq) == (ref, total, n)
        received.append(decoded.short_message)
    assert _join(received, coding, method) == text


def test_aiosmpplib_own_udh_splitter_joins_with_ours() -> None:
    """Parts cut by aiosmpplib's own splitter reassemble with our join_parts."""
    from aiosmpplib.utils import split_sms_udh

    text = f"{PERSIAN} " * 4
    chunks = split_sms_udh(text, "ucs2", csms_ref=0x42)
    assert len(chunks) > 1
    decoded: list[bytes] = []
    for n, chunk in enumerate(chunks, start=1):
        theirs = aio.SubmitSm(sequence_num=n, short_message="placeholder",
                              source=aio.PhoneNumber("30001234"),
                              destination=aio.PhoneNumber("989121234567"),
                              esm_class=0x40, encoding="ucs2")
        theirs.set_encoded_message(chunk)
        pdu = decode_frame(theirs.pdu())
        assert isinstance(pdu, SubmitSm)
        info, _ = parse_udh(pdu.short_message)
        assert info is not None
        assert (info.ref, info.total, info.seq) == (0x42, len(chunks), n)
        decoded.append(pdu.short_message)
    assert join_parts(list(reversed(decoded)), DataCoding.UCS2) == text


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120) | st.builds(
    lambda sm, cut: codec.encode_body(sm)[:cut],
    st.builds(SubmitSm, source_addr=st.text("0123456789", max_size=20),
              destination_addr=st.text("0123456789", max_size=20),
              registered_delivery=st.integers(0, 255), dest_addr_ton=st.integers(0, 6),
              dest_addr_npi=st.integers(0, 18), short_message=st.binary(max_size=40)),
    st.integers(0, 200)))
def test_scan_submit_agrees_with_decode(body: bytes) -> None:
    """The hot-path scanner accepts exactly what the decoder accepts, with the same
    fields, and refuses with the same status."""
    try:
        pdu = codec.decode(0x04, 0, 1, body)
    except DecodeError as exc:
        with pytest.raises(DecodeError) as scanned:
            codec.scan_submit(1, body)
        assert scanned.value.status == exc.status
        return
    assert isinstance(pdu, SubmitSm)
    one_part = not pdu.tlvs and not pdu.esm_class & 0x40
    text_at = len(body) - len(pdu.short_message) if one_part else -1
    assert codec.scan_submit(1, body) == (1, body, pdu.source_addr, pdu.destination_addr,
                                          pdu.registered_delivery, pdu.dest_addr_ton,
                                          pdu.dest_addr_npi, pdu.priority_flag, text_at)


@settings(max_examples=200)
@given(service_type=st.text(alphabet=st.characters(max_codepoint=255, blacklist_characters="\0"),
                            max_size=5),
       source=st.text(alphabet="0123456789+", max_size=20),
       destinations=st.lists(st.text(alphabet="0123456789", max_size=20), max_size=5),
       text=st.binary(max_size=160), udhi=st.booleans())
def test_submit_bodies_equal_a_body_encoded_per_destination(
        service_type: str, source: str, destinations: list[str], text: bytes, udhi: bool) -> None:
    """One text to many numbers (the HTTP API's batches): splicing each destination into
    a body encoded once gives exactly the bytes of encoding each PDU whole."""
    template = SubmitSm(service_type=service_type, source_addr_ton=1, source_addr_npi=1,
                        source_addr=source, dest_addr_ton=1, dest_addr_npi=1,
                        esm_class=0x40 if udhi else 0, registered_delivery=1,
                        short_message=text)
    assert codec.submit_bodies(template, destinations) == [
        codec.encode_body(dataclasses.replace(template, destination_addr=d))
        for d in destinations]


def test_submit_bodies_refuse_a_destination_over_its_size() -> None:
    template = SubmitSm(source_addr="98300012345", short_message=b"hi")
    with pytest.raises(ValueError, match="destination_addr"):
        codec.submit_bodies(template, ["9" * 21])
