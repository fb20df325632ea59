"""Throttling end to end (issue 11, "Done when"): a real ``chapar run``, real TCP,
smpplib as the ESME, limits set live with ``chapar accounts set`` / ``chapar lines set``.

requirements.md §6: "Throttle per account, per line and per upstream connector (token
buckets …); over-limit submits get ESME_RTHROTTLED (0x58), never silent loss."
"""

from __future__ import annotations

import select
import subprocess
import sys
import time
from collections.abc import Callable

from tests.clients import Esme, bound
from tests.conftest import ROOT, RouterProcess

ROK, THROTTLED = 0x00, 0x58
MCI, IRANCELL = "989121234567", "989351234567"


def chapar_set(router: RouterProcess, *args: str) -> None:
    """A CLI change, then wait until the running router applied it."""
    seen = sum(1 for e in router.events() if e.get("event") == "limits_changed")
    done = subprocess.run([sys.executable, "-m", "router.cli", *args, "--config",
                           str(router.workdir / "chapar.yaml")], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    started = time.monotonic()
    deadline = started + 5.0
    while sum(1 for e in router.events() if e.get("event") == "limits_changed") <= seen:
        assert time.monotonic() < deadline, "limits not applied"
        time.sleep(0.02)
    assert time.monotonic() - started < 1.0  # applied live within a second


def read_ready(esme: Esme) -> None:
    """Read every PDU already waiting, without blocking."""
    sock = esme.client._socket
    while select.select([sock], [], [], 0)[0]:
        esme.client.read_once(auto_send_enquire_link=False)


def statuses(esme: Esme) -> list[int]:
    """In the order sent (refusals are answered before the accepted ones commit)."""
    return [esme.responses[seq].status for seq in sorted(esme.responses)]


def send_all(esme: Esme, count: int, source: str = "98100", destination: str = MCI) -> None:
    sent = len(esme.responses)
    for _ in range(count):
        esme.send(source, destination, b"x")
    esme.pump(lambda: len(esme.responses) >= sent + count)


def test_burst_then_twice_the_rate(make_router: Callable[..., RouterProcess]) -> None:
    """1,000 submits at once, then 10 s at twice the rate: accepted = burst + rate x time
    within 5 %, every other submit answered 0x58 at once."""
    rate, burst = 100, 1000
    router = make_router(policy={"stages": ["lines", "throttle"]})
    chapar_set(router, "accounts", "set", "esme1", "--rate", str(rate), "--burst", str(burst))
    with bound(Esme(router.port)) as esme:
        started = time.monotonic()
        for _ in range(burst):
            esme.send("98100", MCI, b"x")
        esme.pump(lambda: len(esme.responses) >= burst)
        sent = burst
        step = 0.05
        while time.monotonic() - started < 10.0 + step:
            due = int((time.monotonic() - started) / step) * int(2 * rate * step) + burst
            while sent < due:
                esme.send("98100", MCI, b"x")
                sent += 1
            read_ready(esme)
            time.sleep(step / 2)
        elapsed = time.monotonic() - started
        esme.pump(lambda: len(esme.responses) >= sent)
    got = statuses(esme)
    accepted = got.count(ROK)
    expected = burst + rate * elapsed
    assert abs(accepted - expected) <= 0.05 * expected, (accepted, expected, sent)
    assert got.count(THROTTLED) == sent - accepted


def test_account_line_and_operator_limits_are_independent(
        make_router: Callable[..., RouterProcess]) -> None:
    router = make_router(policy={"stages": ["lines", "throttle"]})
    chapar_set(router, "lines", "set", "1000", "--rate", "0.01", "--burst", "5")
    chapar_set(router, "accounts", "set", "esme1", "--operator", "IR-MCI",
               "--rate", "0.01", "--burst", "7")
    chapar_set(router, "accounts", "set", "esme2", "--rate", "0.01", "--burst", "3")
    with bound(Esme(router.port)) as esme:
        send_all(esme, 10, source="1000", destination=IRANCELL)  # line: 5
        send_all(esme, 10, source="98100", destination=MCI)  # operator: 7
        send_all(esme, 10, source="98100", destination=IRANCELL)  # nothing limits these
    got = statuses(esme)
    assert [got[:10].count(ROK), got[10:20].count(ROK), got[20:].count(ROK)] == [5, 7, 10]
    with bound(Esme(router.port), system_id="esme2") as other:
        send_all(other, 10, source="98200", destination=IRANCELL)  # account: 3
    assert statuses(other).count(ROK) == 3
    assert set(statuses(other)) == {ROK, THROTTLED}
    # 0 = no limit, again live
    chapar_set(router, "accounts", "set", "esme2", "--rate", "0")
    with bound(Esme(router.port), system_id="esme2") as other:
        send_all(other, 10, source="98200", destination=IRANCELL)
    assert statuses(other).count(ROK) == 10


def test_daily_quota_refused_with_its_own_reason(
        make_router: Callable[..., RouterProcess]) -> None:
    router = make_router(policy={"stages": ["lines", "throttle"]})
    chapar_set(router, "accounts", "set", "esme1", "--daily", "4")
    with bound(Esme(router.port)) as esme:
        send_all(esme, 6)
    assert statuses(esme) == [ROK] * 4 + [0x040B] * 2  # vendor status style
