"""SMPP absolute and relative times (3.4 §7.1.1) and a submit_sm's validity_period, in the
sans-IO core: store-and-forward's maximum age of a message."""

from __future__ import annotations

import calendar

import pytest

from router.smpp import codec
from router.smpp.pdu import SubmitSm
from router.smpp.validity import TimeFormatError, parse_time, validity_period

NOW = 1_800_000_000.0


def test_relative_time_counts_from_now() -> None:
    assert parse_time("000000000130000R", NOW) == NOW + 90
    assert parse_time("000001020000000R", NOW) == NOW + 86400 + 2 * 3600
    assert parse_time("010200000000000R", NOW) == NOW + 365 * 86400 + 2 * 30 * 86400


def test_absolute_time_with_its_offset_from_utc() -> None:
    utc = calendar.timegm((2026, 11, 30, 10, 0, 0, 0, 0, 0))
    assert parse_time("261130100000000+", NOW) == utc
    # Tehran, 3 h 30 ahead of UTC = 14 quarter hours: 13:30 local is 10:00 UTC
    assert parse_time("261130133000014+", NOW) == utc
    assert parse_time("261130060000016-", NOW) == utc  # 4 h behind
    assert parse_time("261130100000500+", NOW) == utc + 0.5  # tenths of a second


def test_empty_is_no_time() -> None:
    assert parse_time("", NOW) is None


@pytest.mark.parametrize("text", ["2611301000", "261130100000000X", "261330100000000+",
                                  "000000000100001R", "26113010000000+4", "２61130100000000+"])
def test_malformed_times_are_refused(text: str) -> None:
    with pytest.raises(TimeFormatError):
        parse_time(text, NOW)


def test_validity_period_read_from_a_submit_body() -> None:
    body = codec.encode(SubmitSm(source_addr="1000", destination_addr="989121234567",
                                 schedule_delivery_time="", validity_period="000000000500000R",
                                 short_message=b"hi"))[16:]
    assert validity_period(body) == "000000000500000R"
    plain = codec.encode(SubmitSm(source_addr="1000", destination_addr="98912"))[16:]
    assert validity_period(plain) == ""
    assert validity_period(b"\0\x01") == ""  # truncated: none
