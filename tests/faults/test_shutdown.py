"""D7: the whole drain on SIGTERM (ESME unbind, queued messages to carriers, carrier
unbind) fits ``dispatch.shutdown_timeout``, one deadline shared by the phases; what
does not make it stays journalled and goes out after the next start.  A second signal
exits at once."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from tests import acks, raw
from tests.conftest import RouterProcess, Sink

TIMEOUT = 3.0
MARGIN = 1.0  # process exit after the drain: interpreter teardown on a loaded machine


def _sigterm_seconds(router: RouterProcess) -> tuple[float, int]:
    assert router.proc is not None
    began = time.monotonic()
    router.proc.send_signal(signal.SIGTERM)
    rc = router.proc.wait(TIMEOUT * 6)
    return time.monotonic() - began, rc


def _silent_esme(router: RouterProcess) -> raw.socket.socket:
    """A bound ESME that never answers (the router's unbind waits on it in vain)."""
    s = raw.bound(router)
    s.sendall(raw.pdu(0x00000004, 2, raw.submit_body(b"silent")))
    assert raw.read_pdu(s)[1] == 0
    return s


def test_drain_with_a_slow_carrier_and_a_silent_esme_fits_the_timeout(
        tmp_path: Path, make_router: Callable[..., RouterProcess],
        make_sink: Callable[..., Sink]) -> None:
    sink = make_sink("--resp-delay-ms", "20", record=True)
    router = make_router(simulator={"enabled": False}, log={"level": "info"},
                         dispatch={"shutdown_timeout": TIMEOUT},
                         upstreams=[{"name": "sink", "port": sink.port, "window": 4}])
    silent = _silent_esme(router)
    ack_file = tmp_path / "acks.txt"
    # ~200 msg/s reach the carrier: 4,000 acknowledged messages queue up
    load = acks.load(router.port, ack_file, "--count", "4000", "--window", "256")
    acks.summary(load)
    got = acks.read_acks(ack_file)
    assert len(got.accepted) == 4000
    elapsed, rc = _sigterm_seconds(router)
    assert rc == 0
    assert elapsed <= TIMEOUT + MARGIN, f"SIGTERM took {elapsed:.2f} s against {TIMEOUT} s"
    stopped = router.wait_event("stopped", timeout=1)
    assert float(stopped["seconds"]) <= TIMEOUT + 0.2, stopped
    assert int(stopped["queued_left"]) > 0, "the test meant to leave a queue behind"
    silent.close()

    # what did not go out is sent after the next start: nothing acknowledged is lost
    router.start()
    deadline = time.monotonic() + 60
    lost: list[int] = list(got.accepted)
    while lost and time.monotonic() < deadline:
        time.sleep(0.5)
        lost, _ = acks.lost_and_duplicated(got, acks.delivered(sink.records()))
    assert lost == []


def test_drain_with_a_frozen_carrier_fits_the_timeout(
        tmp_path: Path, make_router: Callable[..., RouterProcess],
        make_sink: Callable[..., Sink]) -> None:
    # frozen: TCP up, binds answered, no submit_sm_resp for ten minutes
    sink = make_sink("--resp-delay-ms", "600000")
    router = make_router(simulator={"enabled": False}, log={"level": "info"},
                         dispatch={"shutdown_timeout": TIMEOUT},
                         upstreams=[{"name": "sink", "port": sink.port, "window": 16,
                                     "connections": 2}])
    load = acks.load(router.port, tmp_path / "acks.txt", "--count", "500", "--window", "64")
    acks.summary(load)
    elapsed, rc = _sigterm_seconds(router)
    assert rc == 0
    assert elapsed <= TIMEOUT + MARGIN, f"SIGTERM took {elapsed:.2f} s against {TIMEOUT} s"


def test_a_second_signal_exits_at_once(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink]) -> None:
    sink = make_sink("--resp-delay-ms", "600000")
    router = make_router(simulator={"enabled": False}, log={"level": "info"},
                         dispatch={"shutdown_timeout": 30.0},
                         upstreams=[{"name": "sink", "port": sink.port, "window": 4}])
    silent = _silent_esme(router)  # holds the first drain
    assert router.proc is not None
    router.proc.send_signal(signal.SIGTERM)
    router.wait_event("stopping")
    time.sleep(0.3)
    assert router.proc.poll() is None, "the first drain should still be waiting"
    began = time.monotonic()
    router.proc.send_signal(signal.SIGTERM)
    rc = router.proc.wait(10)
    elapsed = time.monotonic() - began
    assert elapsed < 1.0, f"the second signal took {elapsed:.2f} s"
    assert rc != 0
    router.wait_event("forced_exit", timeout=1)
    silent.close()
