"""RIR delegated statistics: ipv4 counts, ipv6 prefixes, countries, lookups."""

from __future__ import annotations

import ipaddress

import pytest

from router.model.ranges import DomesticRanges
from router.policy.ranges import RangesError, parse_delegated

APNIC = """# comment
2.3|apnic|20261120|6|19830613|20261119|+1000
apnic|*|asn|*|1|summary
apnic|*|ipv4|*|4|summary
apnic|CN|asn|4134|1|19980101|allocated
apnic|CN|ipv4|1.0.1.0|256|20110414|allocated
apnic|CN|ipv4|1.0.2.0|768|20110414|allocated|A91872ED|e-stats
apnic|JP|ipv4|1.0.16.0|4096|20110412|allocated
apnic|CN|ipv4|203.0.113.0|256|20110412|available
apnic|CN|ipv6|2001:250::|35|20000426|allocated
"""


def test_counts_not_power_of_two_and_prefixes() -> None:
    parsed = parse_delegated(APNIC, ["cn"], "apnic")
    assert (parsed.registry, parsed.serial) == ("apnic", "20261120")
    first = int(ipaddress.IPv4Address("1.0.2.0"))
    assert (first, first + 767) in parsed.v4  # 768 addresses: not one CIDR
    assert len(parsed.v4) == 2  # JP and the 'available' block are left out
    net = ipaddress.IPv6Network("2001:250::/35")
    assert parsed.v6 == [(int(net.network_address), int(net.broadcast_address))]


def test_lookup_merges_and_bisects() -> None:
    parsed = parse_delegated(APNIC, ["CN"])
    ranges = DomesticRanges.build("v1", parsed.v4, parsed.v6)
    assert len(ranges.v4) == 1  # 1.0.1.0/24 and 1.0.2.0+768 touch: merged
    for inside in ("1.0.1.0", "1.0.3.255", "1.0.4.255", "2001:250::1", "::ffff:1.0.1.7"):
        assert inside in ranges, inside
    for outside in ("1.0.0.255", "1.0.5.0", "1.0.16.1", "2001:251::", "nonsense", "203.0.113.5"):
        assert outside not in ranges, outside


def test_many_prefixes_stay_correct() -> None:
    intervals = [(i * 1000, i * 1000 + 499) for i in range(5000)]
    ranges = DomesticRanges.build("v", intervals, [])
    assert str(ipaddress.IPv4Address(1_000_250)) in ranges
    assert str(ipaddress.IPv4Address(1_000_750)) not in ranges


@pytest.mark.parametrize("text", ["", "not|a|header\n", "2|ripencc|1|1|1|1|0\nripencc|IR|ipv4|"
                                  "300.1.1.1|256|2011|allocated\n"])
def test_bad_files_are_named(text: str) -> None:
    with pytest.raises(RangesError, match=r"ranges\.txt"):
        parse_delegated(text, ["IR"], "ranges.txt")
