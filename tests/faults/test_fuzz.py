"""10,000 mutated PDUs over real TCP against a live router (issue 9).

Valid PDUs of every kind, flipped, truncated and extended, and with every string field
replaced by non-ASCII and non-digit characters (tests/fuzzing.py), from several
connections at once.  What must hold: no connection dies of an exception (asyncio logs
those as "Fatal error on transport" with a traceback; Chapar's own guards log theirs with
one too), every batch is answered (the router never stalls on a connection), the
process is alive and still accepts a valid submit, and its memory stays bounded.
The seed is fixed (FUZZ_SEED overrides it) so a failure reproduces.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

from tests.conftest import PASSWORD, RouterProcess, Sink
from tests.fuzzing import fuzz, rss_kib
from tests.raw import assert_alive, no_crash_in_log

SEED = int(os.environ.get("FUZZ_SEED", "20261122"))
COUNT = 10_000
WARM_UP = 1_000
RSS_GROWTH_LIMIT_KIB = 48 * 1024


def test_ten_thousand_mutated_pdus(make_router: Callable[..., RouterProcess],
                                   make_sink: Callable[..., Sink]) -> None:
    """Why: one hostile client must never kill a connection by exception, stall the
    router, or grow its memory without bound (D1 killed connections with one byte)."""
    sink = make_sink()
    router = make_router(
        simulator={"enabled": False},
        upstreams=[{"name": "sink", "port": sink.port, "reconnect_min": 0.1}],
        # fuzzed binds are wrong passwords from 127.0.0.1: they must not lock it out
        auth={"lockout_failures": 1_000_000},
        # closed connections are replaced at once, far above the per-address rate
        smpp={"connection_rate_per_ip": 0},
        log={"level": "info"})
    router.wait_event("upstream_bound")
    assert router.proc is not None
    pid = router.proc.pid

    warm = asyncio.run(fuzz(router.port, WARM_UP, SEED + 1, "esme1", PASSWORD))
    assert warm.sent == WARM_UP
    before = rss_kib(pid)
    started = time.monotonic()
    stats = asyncio.run(fuzz(router.port, COUNT, SEED, "esme1", PASSWORD, duration=120))
    elapsed = time.monotonic() - started
    after = rss_kib(pid)
    print(f"fuzz seed {SEED}: {stats} in {elapsed:.1f} s; RSS {before} -> {after} KiB")

    assert stats.sent == COUNT, f"seed {SEED}: only {stats.sent} sent in {elapsed:.0f} s"
    assert stats.stalls == 0, f"seed {SEED}: the router left {stats.stalls} batches unanswered"
    assert stats.processed > COUNT // 2, "too few PDUs reached a live session"
    assert stats.bind_failures == 0
    assert router.proc.poll() is None, "the router died"
    no_crash_in_log(router)
    assert after - before < RSS_GROWTH_LIMIT_KIB, f"RSS grew {before} -> {after} KiB"
    assert_alive(router)
