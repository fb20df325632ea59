"""The registry, the ledger and the quarantine end to end on each backend (issue #14:
SQLite, then a real PostgreSQL through ``store_backend``): a real ``chapar run`` with the
content, throttle and billing stages, an smpplib ESME, the C sink as the carrier, and
the CLI changing things under the running router (limits, a line, a list import).

requirements.md §5: a message reserves its cost when accepted and the charge is kept on
success; §3: a held message waits for an operator and goes out once released; §2 and §6
and the registry's promise: a line suspended, a blacklist imported and a limit changed
with ``chapar accounts set`` apply live, within a second.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from tests.clients import Esme, bound
from tests.conftest import LINES, ROOT, RouterProcess, Sink
from tests.integration.cli.support import write_csv

SOURCE = LINES["esme1"][0]
MCI = "989121234567"
ROK, THROTTLED, LINE_SUSPENDED, BLACKLISTED = 0x00, 0x58, 0x0401, 0x0404
HELD_TEXT = "تبریک! شما برنده جایزه شدید".encode("utf-16-be")  # the starter rules hold it


def chapar(router: RouterProcess, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "router.cli", *args, "--config",
                           str(router.workdir / "chapar.yaml")], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def balance_becomes(router: RouterProcess, amount: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (got := int(chapar(router, "billing", "balance", "esme1"))) != amount:
        assert time.monotonic() < deadline, got
        time.sleep(0.2)


def sent_texts(sink: Sink, count: int, timeout: float = 10.0) -> list[bytes]:
    deadline = time.monotonic() + timeout
    while len(records := sink.records()) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return [bytes.fromhex(r["short_message"]) for r in records]


def statuses(esme: Esme, *sends: tuple[str, str]) -> list[int]:
    """Each (source, destination) submitted, the answers' statuses in order."""
    seqs = [esme.send(source, destination, b"x") for source, destination in sends]
    esme.pump(lambda: all(s in esme.responses for s in seqs))
    return [esme.responses[s].status for s in seqs]


def applied_within_a_second(router: RouterProcess, event: str, *args: str) -> None:
    """A CLI change, then the running router's log says it applied it, within 1 s."""
    seen = sum(1 for e in router.events() if e.get("event") == event)
    chapar(router, *args)
    started = time.monotonic()
    while sum(1 for e in router.events() if e.get("event") == event) <= seen:
        assert time.monotonic() - started < 5.0, f"{event}: not applied"
        time.sleep(0.02)
    assert time.monotonic() - started < 1.0


def test_charged_held_released_and_limited_live(
        make_router: Callable[..., RouterProcess], make_sink: Callable[..., Sink],
        store_backend: dict[str, Any]) -> None:
    sink = make_sink(record=True)
    router = make_router(store=store_backend, simulator={"enabled": False},
                         upstreams=[{"name": "sink", "port": sink.port,
                                     "reconnect_min": 0.1, "reconnect_max": 0.5}],
                         policy={"stages": ["lines", "content", "throttle", "billing"],
                                 "default_price": 10})
    router.wait_event("upstream_bound")
    chapar(router, "billing", "topup", "esme1", "100", "--note", "e2e")
    time.sleep(1.3)  # the router reads topups once a second
    with bound(Esme(router.port)) as esme:
        clean = esme.send(SOURCE, MCI, b"your order has shipped")
        held = esme.send(SOURCE, MCI, HELD_TEXT, data_coding=8)
        esme.pump(lambda: held in esme.responses and clean in esme.responses)
        assert [esme.responses[s].status for s in (clean, held)] == [ROK, ROK]
        held_id = esme.responses[held].message_id
        held_id = held_id.decode() if isinstance(held_id, bytes) else str(held_id)
        assert sent_texts(sink, 1) == [b"your order has shipped"]
        balance_becomes(router, 80)  # both reserved; the held one until it is decided
        assert held_id in chapar(router, "quarantine", "list")
        chapar(router, "quarantine", "release", held_id)
        router.wait_event("quarantine_applied", where=lambda e: e.get("released") == 1)
        assert HELD_TEXT in sent_texts(sink, 2)
        balance_becomes(router, 80)  # the carrier took it: the charge is kept
        applied_within_a_second(router, "line_changed", "lines", "suspend", "1000")
        blacklist = write_csv(router.workdir / "black.csv", [["09121111111"]])
        applied_within_a_second(router, "lists_loaded", "lists", "import", "blacklist",
                                str(blacklist))
        assert statuses(esme, ("1000", MCI), (SOURCE, "989121111111")) == [
            LINE_SUSPENDED, BLACKLISTED]  # refusals are not charged
        applied_within_a_second(router, "limits_changed", "accounts", "set", "esme1",
                                "--rate", "0.01", "--burst", "1")
        assert statuses(esme, (SOURCE, MCI), (SOURCE, MCI)) == [ROK, THROTTLED]
    balance_becomes(router, 70)
    assert "e2e" in chapar(router, "billing", "ledger", "esme1")
    files = {p.name for p in (router.workdir / "var").iterdir()}
    on_files = {"registry.db", "chapar.db"} <= files
    assert on_files == (store_backend.get("backend") != "postgres"), files
    assert not [e for e in router.events() if e.get("event") == "registry_watch_failed"]
