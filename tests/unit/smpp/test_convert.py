"""Tests for router.smpp.convert: data_sm, submit_multi destinations and replace_sm as
submit_sm bodies (read back by the hot-path scan and the full decoder), and the 5.0
answers."""

from __future__ import annotations

import struct

import pytest

from router.smpp import codec, convert
from router.smpp.pdu import (
    CommandStatus,
    DataSm,
    DecodeError,
    Destination,
    ReplaceSm,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    Tag,
    UnsuccessfulSme,
    tlv_get,
)

S = CommandStatus


def submit_of(body: bytes) -> SubmitSm:
    codec.scan_submit(1, body)  # the relay's own check passes
    pdu = codec.decode(0x04, 0, 1, body)
    assert isinstance(pdu, SubmitSm)
    return pdu


def test_data_sm_becomes_a_submit_with_its_payload_and_tlvs() -> None:
    data = DataSm(7, 0, "CMT", 1, 1, "1000", 1, 1, "989121234567", 0x40, 1, 8,
                  [(Tag.MESSAGE_PAYLOAD, b"\x00h\x00i"), (Tag.SOURCE_PORT, b"\x00\x10")])
    sm = submit_of(convert.data_sm_body(data))
    assert (sm.service_type, sm.source_addr, sm.destination_addr) == ("CMT", "1000",
                                                                     "989121234567")
    assert (sm.esm_class, sm.registered_delivery, sm.data_coding) == (0x40, 1, 8)
    assert sm.short_message == b""
    assert sm.tlvs == data.tlvs


@pytest.mark.parametrize(("fields", "status"), [
    ({"tlvs": []}, S.ESME_RMISSINGOPTPARAM),
    ({"source_addr": "1" * 21}, S.ESME_RINVSRCADR),
    ({"destination_addr": "9" * 21}, S.ESME_RINVDSTADR),
])
def test_data_sm_that_no_submit_can_carry_is_refused(fields: dict[str, object],
                                                     status: int) -> None:
    base: dict[str, object] = {"source_addr": "1000", "destination_addr": "989121234567",
                               "tlvs": [(Tag.MESSAGE_PAYLOAD, b"hi")]}
    with pytest.raises(DecodeError) as err:
        convert.data_sm_body(DataSm(**{**base, **fields}))  # type: ignore[arg-type]
    assert err.value.status == status


def test_submit_multi_fans_out_and_refuses_distribution_lists() -> None:
    multi = SubmitMulti(3, 0, "", 1, 1, "1000", [
        Destination(1, 1, "989121234567"), Destination(dl_name="friends"),
        Destination(2, 9, "989351234567")], 0, 0, 1, "", "000001000000000R", 1, 0, 0, 0,
        b"hello", [(Tag.USER_MESSAGE_REFERENCE, b"\x00\x07")])
    bodies, refused = convert.multi_as_submits(multi)
    assert refused == [UnsuccessfulSme(0, 0, "friends", S.ESME_RINVDLNAME)]
    sms = [submit_of(body) for body in bodies]
    assert [(s.dest_addr_ton, s.dest_addr_npi, s.destination_addr) for s in sms] == [
        (1, 1, "989121234567"), (2, 9, "989351234567")]
    for sm in sms:
        assert (sm.source_addr, sm.short_message, sm.priority_flag) == ("1000", b"hello", 1)
        assert (sm.validity_period, sm.registered_delivery) == ("000001000000000R", 1)
        assert sm.tlvs == multi.tlvs


def test_submit_multi_without_destinations_is_refused() -> None:
    with pytest.raises(DecodeError) as err:
        convert.multi_as_submits(SubmitMulti(source_addr="1000"))
    assert err.value.status == S.ESME_RINVNUMDESTS


def test_replace_changes_text_and_delivery_keeps_the_rest() -> None:
    old = codec.encode_body(SubmitSm(
        1, 0, "", 1, 1, "1000", 1, 1, "989121234567", 0, 0, 2, "", "261201000000000+", 0, 0,
        0, 0, b"", [(Tag.MESSAGE_PAYLOAD, b"old text"), (Tag.SOURCE_PORT, b"\x00\x01")]))
    new = submit_of(convert.replaced_body(old, ReplaceSm(
        2, 0, "0011", 1, 1, "1000", "", "", 1, 0, b"new text")))
    assert (new.short_message, new.registered_delivery) == (b"new text", 1)
    assert (new.priority_flag, new.validity_period, new.destination_addr) == (
        2, "261201000000000+", "989121234567")
    assert tlv_get(new.tlvs, Tag.MESSAGE_PAYLOAD) is None
    assert tlv_get(new.tlvs, Tag.SOURCE_PORT) == b"\x00\x01"
    later = submit_of(convert.replaced_body(old, ReplaceSm(
        2, 0, "0011", 1, 1, "1000", "", "261202000000000+", 0, 0, b"x")))
    assert later.validity_period == "261202000000000+"


def test_parts_of_long_messages_are_recognised() -> None:
    plain = codec.encode_body(SubmitSm(source_addr="1", destination_addr="2",
                                       short_message=b"hi"))
    udh = codec.encode_body(SubmitSm(source_addr="1", destination_addr="2", esm_class=0x40,
                                     short_message=b"\x05\x00\x03\x01\x02\x01hi"))
    sar = codec.encode_body(SubmitSm(source_addr="1", destination_addr="2",
                                     short_message=b"hi",
                                     tlvs=[(Tag.SAR_MSG_REF_NUM, b"\x00\x01")]))
    assert [convert.is_part(b) for b in (plain, udh, sar)] == [False, True, True]


@pytest.mark.parametrize(("level", "octet"), [(0, 0), (37, 37), (100, 100), (140, 100),
                                              (-3, 0)])
def test_congestion_tlv_is_clamped(level: int, octet: int) -> None:
    assert convert.congestion_tlv(level) == struct.pack(">HHB", 0x0428, 1, octet)


def test_id_answers_carry_tlvs_and_decode() -> None:
    """5.0 sessions' submit_sm_resp and data_sm_resp: the id then congestion_state; a
    '%' in the TLV bytes is not taken for a format."""
    tlvs = convert.congestion_tlv(37)  # 0x25 is '%'
    frames = codec.submit_sm_resp_frames(0xABC, [5, 6], 0x80000103, tlvs)
    for i, frame in enumerate(frames):
        length, command_id, status, seq = struct.unpack(">IIII", frame[:16])
        assert (length, command_id, status, seq) == (len(frame), 0x80000103, 0, 5 + i)
        resp = codec.decode(command_id, 0, seq, frame[16:])
        assert getattr(resp, "message_id") == f"{0xABC + i:x}"  # noqa: B009
        assert getattr(resp, "tlvs") == [(Tag.CONGESTION_STATE, b"\x25")]  # noqa: B009
    assert codec.submit_sm_resp_frames(1, [2])[0][16:] == b"1\0"


def test_submit_multi_resp_lists_the_refused() -> None:
    frame = convert.submit_multi_resp(9, "abc", [UnsuccessfulSme(1, 1, "12", 0x0B)])
    resp = codec.decode(0x80000021, 0, 9, frame[16:])
    assert resp == SubmitMultiResp(9, 0, "abc", [UnsuccessfulSme(1, 1, "12", 0x0B)])
