"""PostgreSQL stopped under load: the ESMEs get temporary errors, never ESME_ROK for a
message that was not stored; nothing acknowledged is lost; the router recovers by itself
when the server returns."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from router.model.status import TEMPORARY_CARRIER_STATUSES
from tests import acks
from tests.clients import Esme, bound
from tests.conftest import RouterProcess, Sink


def test_postgres_stopped_under_load(tmp_path: Path, make_router: Callable[..., RouterProcess],
                                     make_sink: Callable[..., Sink],
                                     pg_outage: tuple[Any, str]) -> None:
    """design §3.3: when the journal cannot commit, the router answers an error and never
    ESME_ROK for a message it could lose; the store returning needs no restart."""
    cluster, dsn = pg_outage
    sink = make_sink(record=True)
    router = make_router(simulator={"enabled": False}, log={"level": "info"},
                         upstreams=[{"name": "sink", "port": sink.port, "window": 64}],
                         store={"backend": "postgres", "dsn": dsn, "timeout": 2.0})
    ack_file = tmp_path / "acks.txt"
    load = acks.load(router.port, ack_file, "--conns", "2", "--window", "32",
                     "--duration", "8", "--rate", "3000", max_time=40)
    deadline = time.monotonic() + 10
    while len(acks.read_acks(ack_file).accepted) < 2000 and time.monotonic() < deadline:
        time.sleep(0.05)
    with cluster.stopped():
        time.sleep(2.0)
        during = acks.read_acks(ack_file)
    acks.summary(load)
    got = acks.read_acks(ack_file)
    assert len(got.accepted) >= 2000, "the load never got going"
    assert during.refused, "no submit was refused while PostgreSQL was down"
    statuses = set(got.refused.values())
    assert statuses <= TEMPORARY_CARRIER_STATUSES, f"not temporary: {statuses}"
    assert len(got.accepted) > len(during.accepted), "nothing accepted after it returned"
    router.wait_event("postgres_reconnected", timeout=10)
    with bound(Esme(router.port)) as esme:  # and a new client is served again
        seq = esme.send("1000", "989121234567", b"after the outage")
        esme.pump(lambda: seq in esme.responses)
        assert esme.responses[seq].status == 0
    lost: list[int] = list(got.accepted)
    deadline = time.monotonic() + 30
    while lost and time.monotonic() < deadline:
        time.sleep(0.5)
        lost, _ = acks.lost_and_duplicated(got, acks.delivered(sink.records()))
    assert lost == [], f"{len(lost)} of {len(got.accepted)} acknowledged ids lost"
    print(f"outage: {len(got.accepted)} acknowledged, {len(got.refused)} refused "
          f"({sorted(hex(s) for s in statuses)}), 0 lost")
