"""deliver_sm scan and rebuild: the same answers as the full decoder."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.smpp import codec
from router.smpp.deliver import Deliver, rebuild, scan_deliver
from router.smpp.pdu import CommandStatus, DecodeError, DeliverSm, Tag, tlv_int, tlv_str
from router.smpp.session import Role, Session, State

RMI, STATE = int(Tag.RECEIPTED_MESSAGE_ID), int(Tag.MESSAGE_STATE)

_tlv = st.one_of(
    st.tuples(st.just(RMI), st.binary(max_size=20).map(lambda b: b.replace(b"\0", b"") + b"\0")),
    st.tuples(st.just(STATE), st.integers(0, 8).map(lambda n: bytes([n]))),
    st.tuples(st.just(0x0423), st.binary(min_size=1, max_size=1)),  # network_error_code-ish
    st.tuples(st.integers(0x1400, 0x14FF), st.binary(max_size=8)),  # vendor TLVs
)
_delivers = st.builds(
    DeliverSm, sequence=st.just(1), source_addr=st.text("0123456789", max_size=20),
    destination_addr=st.text("0123456789+", max_size=20),
    source_addr_ton=st.integers(0, 6), source_addr_npi=st.integers(0, 18),
    dest_addr_ton=st.integers(0, 6), dest_addr_npi=st.integers(0, 18),
    esm_class=st.integers(0, 255), data_coding=st.integers(0, 255),
    service_type=st.text("ABC", max_size=5), short_message=st.binary(max_size=60),
    tlvs=st.lists(_tlv, max_size=4))


# The usual receipt: receipted_message_id then message_state (the one-match path).
_usual = st.builds(
    lambda pdu, rid, state: replace(pdu, tlvs=[(RMI, rid), (STATE, state)]), _delivers,
    st.binary(max_size=20).map(lambda b: b.replace(b"\0", b"") + b"\0")
    | st.binary(max_size=20), st.binary(min_size=1, max_size=2))


def _bodies() -> st.SearchStrategy[bytes]:
    return st.binary(max_size=120) | st.builds(
        lambda pdu, cut: codec.encode_body(pdu)[:cut], _delivers | _usual,
        st.integers(0, 250) | st.just(1000))


@settings(max_examples=1000, deadline=None)
@given(_bodies())
def test_scan_deliver_agrees_with_decode(body: bytes) -> None:
    """The scanner accepts exactly what the decoder accepts, with the same fields, and
    refuses with the same status."""
    try:
        pdu = codec.decode(0x05, 0, 7, body)
    except DecodeError as exc:
        with pytest.raises(DecodeError) as scanned:
            scan_deliver(7, body)
        assert scanned.value.status == exc.status
        return
    assert isinstance(pdu, DeliverSm)
    d = scan_deliver(7, body)
    f = d.fields()
    assert (d.sequence, d.esm_class, f.esm_class, f.source_addr_ton, f.source_addr_npi,
            f.source_addr, f.dest_addr_ton, f.dest_addr_npi, f.destination_addr,
            f.data_coding, d.short_message) == (
        7, pdu.esm_class, pdu.esm_class, pdu.source_addr_ton, pdu.source_addr_npi,
        pdu.source_addr.encode("latin-1"), pdu.dest_addr_ton, pdu.dest_addr_npi,
        pdu.destination_addr.encode("latin-1"), pdu.data_coding,
        pdu.short_message)
    assert d.receipted_message_id == tlv_str(pdu.tlvs, Tag.RECEIPTED_MESSAGE_ID)
    assert d.message_state == tlv_int(pdu.tlvs, Tag.MESSAGE_STATE)
    assert body[d.sm_start:d.sm_end] == pdu.short_message
    assert d.decode() == pdu


@settings(max_examples=300, deadline=None)
@given(_delivers, st.binary(max_size=255), st.text("0123456789abcdef", min_size=1,
                                                    max_size=20))
def test_rebuild_replaces_text_and_id_and_keeps_the_rest(pdu: DeliverSm, text: bytes,
                                                          our_id: str) -> None:
    d = scan_deliver(1, codec.encode_body(pdu))
    body = rebuild(d, text, our_id.encode())
    out = codec.decode(0x05, 0, 1, body)
    first = next((i for i, (t, _) in enumerate(pdu.tlvs) if t == RMI), None)
    rest = list(pdu.tlvs) if first is None else pdu.tlvs[:first] + pdu.tlvs[first + 1:]
    expected = replace(pdu, short_message=text,
                       tlvs=[(RMI, our_id.encode() + b"\0"), *rest])
    assert out == expected


def test_scan_of_a_sink_style_receipt() -> None:
    text = (b"id:0123456789abcdef sub:001 dlvrd:001 submit date:2611221015 "
            b"done date:2611221015 stat:DELIVRD err:000 text:hello")
    pdu = DeliverSm(3, 0, "", 1, 1, "989120000000", 1, 1, "12345", 0x04, 0, 0, "", "", 0,
                    0, 0, 0, text, [(RMI, b"0123456789abcdef\0"), (STATE, b"\x02")])
    d = scan_deliver(3, codec.encode_body(pdu))
    assert d.receipted_message_id == "0123456789abcdef"
    assert d.message_state == 2
    assert d.esm_class == 0x04 and d.short_message == text
    assert (d.fields().source_addr, d.fields().destination_addr) == (b"989120000000",
                                                                    b"12345")


def test_session_hands_back_deliver_and_nacks_malformed_ones() -> None:
    esme = Session(Role.ESME)
    esme.state = State.BOUND_TRX
    good = codec.encode(DeliverSm(5, 0, "", 1, 1, "1", 1, 1, "2", 0x04, 0, 0, "", "", 0, 0,
                                  0, 0, b"id:1 stat:DELIVRD"))
    bad = codec.encode_frame(0x05, 0, 6, b"\x01" * 8)  # service_type without its NUL
    events = esme.receive_data(good + bad, 0.0)
    assert [type(e) for e in events] == [Deliver]
    assert events[0].sequence == 5  # type: ignore[union-attr]
    assert esme.unanswered_inbound == 1
    assert esme.data_to_send() == codec.encode_frame(
        0x80000005, CommandStatus.ESME_RINVSERTYP, 6, b"")
