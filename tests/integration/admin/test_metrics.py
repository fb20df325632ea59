"""Prometheus /metrics scraped while smppload sends: the counters move as the traffic did
(submits counted = smppload's acknowledged count), with no token on loopback."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import PASSWORD, ROOT, SMPPLOAD, RouterProcess
from tests.integration.admin.support import admin_port

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def smppload(port: int, source: str, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [str(SMPPLOAD), "--port", str(port), "--system-id", "esme1", "--password", PASSWORD,
         "--bind", "tx", "--src", source, "--dst", "989121234567", "--max-time", "40", *args],
        capture_output=True, text=True, timeout=60)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_counters_follow_the_traffic(make_router: Callable[..., RouterProcess]) -> None:
    router = make_router()
    port = admin_port(router.events())
    seen: list[float] = []
    stop = threading.Event()

    def scraper() -> None:
        while not stop.is_set():  # bounded by the load's own run
            seen.append(value(scrape(port), "chapar_submits_total", status="ok", reason=""))
            time.sleep(0.2)

    thread = threading.Thread(target=scraper)
    thread.start()
    try:
        ok_run = smppload(router.port, "98100", "--conns", "2", "--window", "32",
                          "--duration", "2")
    finally:
        stop.set()
        thread.join(10)
    refused_run = smppload(router.port, "98200", "--count", "50")
    after = scrape(port)
    acked = ok_run["resp_ok"]
    assert isinstance(acked, int) and acked > 1000
    assert value(after, "chapar_submits_total", status="ok", reason="") == acked
    assert value(after, "chapar_account_submits_total", account="esme1") == acked
    assert refused_run["resp_by_status"] == {"0x0000000a": 50}
    assert value(after, "chapar_submits_total", status="refused", reason="not_own_line") == 50
    assert len(seen) >= 5 and seen == sorted(seen) and max(seen[:-1], default=0) > 0
    assert value(after, "chapar_binds_total", outcome="accepted", reason="ok") == 3
    assert value(after, "chapar_journal_commit_seconds_count") > 0
    assert value(after, "chapar_journal_commit_seconds_bucket", le="+Inf") == value(
        after, "chapar_journal_commit_seconds_count")
    sent = sum(v for (name, _), v in after.items() if name == "chapar_upstream_sent_total")
    queued = value(after, "chapar_queue_depth", queue="outbound")
    assert sent + queued >= acked  # every acknowledged message went out or still waits
    assert value(after, "chapar_upstream_window_size", upstream="simulator#0") > 0
    assert ("chapar_queue_depth", (("queue", "outbound"),)) in after
    assert value(after, "chapar_sessions", state="open") == 0
    # the Grafana dashboard is built on names the router exposes
    dashboard = (ROOT / "config" / "grafana" / "chapar.json").read_text()
    used = set(re.findall(r"chapar_[a-z_]+", dashboard)) - {"chapar_router"}
    exposed = {name for name, _ in after}
    assert used and used <= exposed, used - exposed
