"""The customers' HTTP API against the SMPP relay, same run (issue 17): messages accepted
per second over HTTP with batches of 100 numbers and of 1, and the relay benchmark's
SMPP msg/s (smppload 4x64).  Target: batches of 100 reach at least 0.5x the SMPP rate.

    .venv/bin/python benchmarks/http_api.py [--rounds 3] [--duration 5] [--concurrency 16]

Each round: ``relay.measure`` for SMPP (smppsink carrier, pinned CPUs, per-message
check); then Chapar again with ``http_api`` on and the same carrier, an API key made in
its registry, and this file's own HTTP client (aiohttp, keep-alive, ``--concurrency``
requests in flight) pinned to CPU 1 like smppload, sending for ``--duration`` seconds
with batches of 100, then of 1.  A message counts when its result says ``accepted``;
the sink's count is checked against it after Chapar drained.  Loopback only, every step
time-bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from project_python import use_project_python

NUMBER = "989120000000"  # relay.py keeps it off the seeded blacklist
LINE = "12345"


async def _client(port: int, key: str, batch: int, duration: float,
                  concurrency: int) -> dict[str, Any]:
    import aiohttp

    body = json.dumps({"from": LINE, "to": [NUMBER] * batch, "text": "http bench"})
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    accepted = refused = requests = 0
    latencies: list[float] = []
    stop = time.monotonic() + duration

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal accepted, refused, requests
        while time.monotonic() < stop:
            started = time.perf_counter()
            async with session.post(f"http://127.0.0.1:{port}/v1/messages", data=body,
                                    headers=headers) as resp:
                answer = await resp.json()
            latencies.append(time.perf_counter() - started)
            requests += 1
            accepted += answer.get("accepted", 0)
            refused += answer.get("refused", 0)

    timeout = aiohttp.ClientTimeout(total=30)
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    latencies.sort()
    return {"batch": batch, "requests": requests, "accepted": accepted, "refused": refused,
            "msg_s": accepted / elapsed, "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)]}


def http_phase(relay: Any, args: argparse.Namespace, password_hash: str, rnd: int
               ) -> list[dict[str, Any]]:
    """Chapar with the HTTP API on: batches of 100, then of 1; the sink's count checked."""
    target = relay.Target("http", "chapar", extra=(("http_api", {
        "enabled": True, "port": relay.free_port(), "max_recipients": 1000}),))
    bound = 120 + 2 * args.duration
    with tempfile.TemporaryDirectory(prefix="chapar-bench-http-") as tmp:
        workdir = Path(tmp)
        sink = relay.Sink(workdir, bound)
        sut = relay.Sut(target, workdir, sink.port, args, password_hash)
        results: list[dict[str, Any]] = []
        try:
            sut.wait_ready(sink, args.upstream_connections)
            from router.store.api_keys import ApiKeyStore

            with ApiKeyStore(workdir / "registry.db") as store:
                key = store.add(relay.SYSTEM_ID, "benchmark")[1]
            time.sleep(0.5)  # the router loads new keys within its registry poll
            port = dict(target.extra)["http_api"]["port"]
            for batch in (100, 1):
                done = subprocess.run(
                    [*relay.pin_prefix(1), sys.executable, __file__, "--client", str(port),
                     key, str(batch), str(args.duration), str(args.concurrency)],
                    capture_output=True, text=True, timeout=args.duration + 60, check=True)
                result = json.loads(done.stdout.strip().splitlines()[-1])
                result["round"] = rnd
                results.append(result)
        finally:
            sut.stop()
            received = sink.stop().get("submit_sm", 0)
        sent = sum(r["accepted"] for r in results)
        if received < sent:
            raise RuntimeError(f"the sink got {received} of {sent} accepted messages")
        return results


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["--client"]:
        port, key, batch, duration, concurrency = sys.argv[2:7]
        print(json.dumps(asyncio.run(_client(int(port), key, int(batch), float(duration),
                                             int(concurrency)))))
        return 0
    use_project_python()
    import relay

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--json", type=Path)
    mine = p.parse_args(argv)
    args, password_hash = relay.prepared(mine.rounds, mine.duration)
    args.no_per_message, args.concurrency = True, mine.concurrency
    smpp: list[float] = []
    http: list[dict[str, Any]] = []
    for rnd in range(1, mine.rounds + 1):
        m = relay.measure(relay.Target("smpp", "chapar"), rnd, args, password_hash)
        smpp.append(m.msg_s)
        http += http_phase(relay, args, password_hash, rnd)
        of = {r["batch"]: r for r in http if r["round"] == rnd}
        print(f"round {rnd}: SMPP {m.msg_s:,.0f} msg/s; HTTP batches of 100 "
              f"{of[100]['msg_s']:,.0f} msg/s (p99 {of[100]['p99_ms']:.1f} ms), of 1 "
              f"{of[1]['msg_s']:,.0f} msg/s", flush=True)
    med_smpp = statistics.median(smpp)
    med = {b: statistics.median(r["msg_s"] for r in http if r["batch"] == b) for b in (100, 1)}
    ratio = med[100] / med_smpp if med_smpp else 0.0
    print(f"medians: SMPP {med_smpp:,.0f} msg/s; HTTP x100 {med[100]:,.0f} ({ratio:.2f}x, "
          f"target >= 0.5x), x1 {med[1]:,.0f} ({med[1] / med_smpp:.2f}x)")
    out = relay.BENCH / "out"
    out.mkdir(exist_ok=True)
    path = mine.json or out / f"http_api-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"smpp_msg_s": smpp, "http": http, "ratio_100": ratio},
                               indent=2) + "\n")
    print(f"summary: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
