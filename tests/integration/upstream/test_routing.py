"""Routing (issue 12 item 1) end to end: chapar run, smppload / smpplib as ESMEs, smppsink
carriers with --record.  Failover when the first upstream is down, a weighted split over
10,000 messages, prefix and operator rules, SIGHUP reload without dropping a session."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.clients import Esme, bound
from tests.conftest import RouterProcess, Sink, events, free_port, wait_for
from tests.ledger import prove, smppload


def upstream(name: str, port: int, **extra: Any) -> dict[str, Any]:
    return {"name": name, "port": port, "connections": 1, "window": 64,
            "reconnect_min": 0.1, "reconnect_max": 0.5, **extra}


def accepted(sink: Sink) -> list[dict[str, Any]]:
    return [r for r in sink.records() if r["status"] == "0x00000000"]


def test_failover_when_the_first_upstream_is_down_and_back(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        tmp_path: Path) -> None:
    """The first upstream of a failover group is down: everything goes to the second,
    and returns to the first once it is up (each change logged once)."""
    first_port = free_port()  # nothing listens yet
    second = make_sink(record=True)
    router = make_router(simulator={"enabled": False},
                         upstreams=[upstream("first", first_port), upstream("second", second.port)],
                         routing={"groups": [{"name": "main", "upstreams": ["first", "second"],
                                              "strategy": "failover"}],
                                  "default_group": "main"})
    router.wait_event("upstream_bound", where=lambda e: e["upstream"] == "second#0")
    acks = tmp_path / "acks1.txt"
    assert smppload(router.port, acks, "--count", "500")["resp_ok"] == 500
    assert wait_for(lambda: len(prove(acks, second.records()).accepted) >= 500, 20)
    proof = prove(acks, second.records())
    assert len(proof.acked) == 500 and proof.lost == []
    first = make_sink("--port", str(first_port), record=True)
    router.wait_event("upstream_bound", timeout=15, where=lambda e: e["upstream"] == "first#0")
    acks2 = tmp_path / "acks2.txt"
    assert smppload(router.port, acks2, "--count", "500", text="back")["resp_ok"] == 500
    assert wait_for(lambda: len(prove(acks2, first.records(), "back").accepted) >= 500, 20)
    assert prove(acks2, second.records(), "back").accepted == Counter()  # none to the second
    changes = [e["upstream"] for e in events(router, "route_upstream_changed")]
    assert changes == ["second", "first"], changes


def test_weighted_split_within_five_percent_over_ten_thousand(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        tmp_path: Path) -> None:
    """Weights 5:3:2 over 10,000 messages: each upstream's count within ±5 % of its
    share."""
    sinks = [make_sink(record=True) for _ in range(3)]
    names = ["u1", "u2", "u3"]
    router = make_router(simulator={"enabled": False},
                         upstreams=[upstream(n, s.port) for n, s in zip(names, sinks, strict=True)],
                         routing={"groups": [{"name": "split", "upstreams": names,
                                              "strategy": "weighted", "weights": [5, 3, 2]}],
                                  "rules": [{"accounts": ["esme1"], "group": "split"}]})
    for name in names:
        router.wait_event("upstream_bound", where=lambda e, n=name: e["upstream"] == f"{n}#0")
    acks = tmp_path / "acks.txt"
    summary = smppload(router.port, acks, "--count", "10000", "--conns", "2")
    assert summary["resp_ok"] == 10000
    assert wait_for(lambda: sum(len(prove(acks, s.records()).accepted) for s in sinks)
                    >= 10000, 40)
    counts = [len(prove(acks, s.records()).accepted) for s in sinks]
    assert sum(counts) == 10000, counts
    for count, share in zip(counts, (5000, 3000, 2000), strict=True):
        assert abs(count - share) <= share * 0.05, counts
    print(f"weighted 5:3:2 over 10,000: {counts}")


def test_prefix_and_operator_rules(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        tmp_path: Path) -> None:
    """Irancell numbers by operator to one carrier (MTCE's 98931 is not Irancell's 9893:
    the longest prefix of the numbering tables decides), MCI's by prefix to another
    (national and international forms alike), the rest to the default."""
    irancell, mci, rest = (make_sink(record=True) for _ in range(3))
    router = make_router(
        simulator={"enabled": False},
        upstreams=[upstream("irancell", irancell.port), upstream("mci", mci.port),
                   upstream("rest", rest.port)],
        routing={"groups": [{"name": n, "upstreams": [n]} for n in ("irancell", "mci", "rest")],
                 "rules": [{"name": "mtn", "operators": ["Irancell"], "group": "irancell"},
                           {"name": "mci", "prefixes": ["98912", "98990", "98991"],
                            "group": "mci"}],
                 "default_group": "rest"})
    for name in ("irancell", "mci", "rest"):
        router.wait_event("upstream_bound", where=lambda e, n=name: e["upstream"] == f"{n}#0")
    destinations = {"989351230001": irancell, "989011230002": irancell,
                    "989121230003": mci, "09901230004": mci, "989911230005": mci,
                    "989311230006": rest, "989211230007": rest}
    dst_file = tmp_path / "dst.txt"
    dst_file.write_text("\n".join(destinations) + "\n")
    acks = tmp_path / "acks.txt"
    count = 70
    assert smppload(router.port, acks, "--count", str(count), "--dst-file", str(dst_file),
                    "--dst-ton", "0")["resp_ok"] == count
    sinks = (irancell, mci, rest)
    assert wait_for(lambda: sum(len(accepted(s)) for s in sinks) >= count, 20)
    for destination, sink in destinations.items():
        got = {r["dst"] for r in accepted(sink)}
        assert destination in got, (destination, got)
        for other in sinks:
            if other is not sink:
                assert destination not in {r["dst"] for r in accepted(other)}


def test_sighup_reloads_the_routes_without_dropping_a_session(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink]) -> None:
    """A bound smpplib session keeps sending across a SIGHUP that moves its traffic to
    another carrier (and adds that carrier); no ESME or carrier session is closed."""
    a = make_sink(record=True)
    b = make_sink(record=True)
    router = make_router(simulator={"enabled": False}, upstreams=[upstream("a", a.port)],
                         routing={"groups": [{"name": "g", "upstreams": ["a"]}],
                                  "default_group": "g"})
    router.wait_event("upstream_bound")
    with bound(Esme(router.port)) as esme:
        seq = esme.send("98100", "989121234567", b"before reload")
        esme.pump(lambda: seq in esme.responses)
        assert wait_for(lambda: len(accepted(a)) == 1, 10)
        config = router.config
        config["upstreams"] = [upstream("a", a.port), upstream("b", b.port)]
        config["routing"] = {"groups": [{"name": "g", "upstreams": ["a"]},
                                        {"name": "h", "upstreams": ["b"]}],
                             "rules": [{"sources": ["98100"], "group": "h"}],
                             "default_group": "g"}
        (router.workdir / "chapar.yaml").write_text(yaml.safe_dump(config))
        assert router.proc is not None
        router.proc.send_signal(signal.SIGHUP)
        router.wait_event("routes_reloaded")
        router.wait_event("upstream_bound", where=lambda e: e["upstream"] == "b#0")
        seq = esme.send("98100", "989121234567", b"after reload")
        esme.pump(lambda: seq in esme.responses)
        assert esme.responses[seq].status == 0
        assert wait_for(lambda: len(accepted(b)) == 1, 10)
        assert len(accepted(a)) == 1
        # a broken table is refused and the one in use stays
        config["routing"]["rules"] = [{"sources": ["98100"], "group": "nowhere"}]
        (router.workdir / "chapar.yaml").write_text(yaml.safe_dump(config))
        router.proc.send_signal(signal.SIGHUP)
        router.wait_event("routes_reload_failed")
        seq = esme.send("98100", "989121234567", b"after a bad reload")
        esme.pump(lambda: seq in esme.responses)
        assert wait_for(lambda: len(accepted(b)) == 2, 10)
    assert not events(router, "upstream_disconnected")
    assert not events(router, "upstream_closing")
    assert not events(router, "session_cut_off")
