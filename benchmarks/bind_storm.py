"""Bind storm: does steady traffic survive 400 binds hashing argon2id at once?

One account's traffic runs at 4x64 (smppload) through Chapar to the C sink, once alone
and once while 200 binds with a wrong password and 200 with the right one arrive from
127.0.0.2-127.0.0.9, 16 at a time.  Printed: the steady throughput and p99 latency in
both runs (same process tree, same config), the steady throughput during the storm
window, the bind rate and bind latency.  Targets: >= 80 % of the throughput and
p99 <= 50 ms during the storm.

By default the lockout threshold is raised so every wrong password is really hashed
(the worst case); ``--lockout`` keeps the default policy (5 failures lock an address,
after which refusals cost no hashing).

    .venv/bin/python benchmarks/bind_storm.py [--duration 8] [--lockout]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from project_python import use_project_python
from relay import (  # a sibling script, not a package
    REPO,
    SMPPLOAD,
    Sink,
    ensure_tools,
    free_port,
    last_json,
    log,
    pin_prefix,
)

STEADY, STORM, PASSWORD = "test", "storm", "test"
RBINDFAIL = 0x0D
HEADER = struct.Struct(">IIII")
_PROGRESS = re.compile(r"t=([\d.]+)s sent=\d+ resp=(\d+)")


def bind_pdu(system_id: str, password: str, seq: int) -> bytes:
    body = system_id.encode() + b"\0" + password.encode() + b"\0\0\x34\x00\x00\0"
    return HEADER.pack(16 + len(body), 0x09, 0, seq) + body


async def one_bind(source: str, port: int, password: str) -> tuple[float, int]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        writer.write(bind_pdu(STORM, password, 1))
        head = await reader.readexactly(16)
        length, _, status, _ = HEADER.unpack(head)
        await reader.readexactly(length - 16)
        latency = time.perf_counter() - started
        if status == 0:
            writer.write(HEADER.pack(16, 0x06, 0, 2))  # unbind
            await asyncio.wait_for(reader.read(16), 2)
        return latency, status
    finally:
        writer.close()


async def storm(port: int, count: int, concurrency: int, seconds: float,
                grace: float = 30.0) -> dict[str, Any]:
    """The binds, ``concurrency`` at a time, started for at most ``seconds``; binds already
    sent then get ``grace`` seconds more to be answered.  What completed, and how."""
    # every wrong password differs (a brute force, not a stale client): each costs a hash
    jobs = [(f"127.0.0.{2 + i % 8}", f"bad{i:05d}" if i % 2 else PASSWORD) for i in range(count)]
    results: list[tuple[float, int]] = []
    checked: list[tuple[bool, int]] = []  # (right password?, status)
    errors: dict[str, int] = {}
    started_binds = 0
    queue = iter(jobs)
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal started_binds
        for source, password in queue:
            if time.perf_counter() >= stop_at:
                return
            started_binds += 1
            try:
                result = await one_bind(source, port, password)
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                name = type(exc).__name__  # closed without an answer, refused, ...
                errors[name] = errors.get(name, 0) + 1
                continue
            results.append(result)
            checked.append((password == PASSWORD, result[1]))

    started = time.perf_counter()
    workers = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
    _, unfinished = await asyncio.wait(workers, timeout=seconds + grace)
    for task in unfinished:
        task.cancel()
    await asyncio.gather(*unfinished, return_exceptions=True)
    elapsed = time.perf_counter() - started
    unanswered = started_binds - len(results) - sum(errors.values())
    if not results:
        return {"binds": 0, "seconds": elapsed, "rate": 0.0, "p50_ms": float("nan"),
                "p99_ms": float("nan"), "by_status": {}, "started": started_binds,
                "unanswered": unanswered, "errors": errors, "checked": checked}
    latencies = sorted(lat for lat, _ in results)
    by_status: dict[str, int] = {}
    for _, status in results:
        by_status[f"0x{status:02x}"] = by_status.get(f"0x{status:02x}", 0) + 1
    return {"binds": len(results), "seconds": elapsed, "rate": len(results) / elapsed,
            "p50_ms": 1000 * latencies[len(latencies) // 2],
            "p99_ms": 1000 * latencies[int(len(latencies) * 0.99) - 1],
            "by_status": by_status, "started": started_binds, "unanswered": unanswered,
            "errors": errors, "checked": checked}


def wrong_statuses(checked: list[tuple[bool, int]], lockout: bool) -> int:
    """Binds answered with a status they should not get: a right password is ESME_ROK
    (with the default lockout policy a locked-out address may get 0x0D for it too), a
    wrong one ESME_RBINDFAIL 0x0D (uniform_bind_failure)."""
    def expected(right: bool) -> set[int]:
        if not right:
            return {RBINDFAIL}
        return {0, RBINDFAIL} if lockout else {0}
    return sum(1 for right, status in checked if status not in expected(right))


def start_chapar(workdir: Path, sink_port: int, lockout: bool) -> tuple[subprocess.Popen[bytes],
                                                                        int]:
    from router.policy.auth import hash_password

    port = free_port()
    password_hash = hash_password(PASSWORD)
    loopback = {"allowed_ips": ["127.0.0.0/8"], "domestic_exempt": True}
    config = {
        "listen": {"host": "127.0.0.1", "port": port},
        "store": {"path": str(workdir / "chapar.db"),
                  "registry_path": str(workdir / "registry.db")},
        "accounts": [{"system_id": STEADY, "password_hash": password_hash, **loopback},
                     {"system_id": STORM, "password_hash": password_hash, **loopback}],
        "lines": [{"number": "12345", "account": STEADY}],
        "auth": {} if lockout else {"lockout_failures": 100_000},
        "simulator": {"enabled": False},
        "upstreams": [{"name": "sink", "port": sink_port, "window": 256}],
        "log": {"level": "warning"},
    }
    path = workdir / "chapar.yaml"
    path.write_text(json.dumps(config))
    proc = subprocess.Popen([*pin_prefix(0), sys.executable, "-m", "router.cli", "run",
                             "--config", str(path)], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=(workdir / "chapar.err").open("wb"))
    return proc, port


def steady(port: int, duration: float) -> tuple[dict[str, Any], list[tuple[float, int]], float]:
    """smppload 4x64 with progress lines; its JSON, the (t, responses) points, start time."""
    started = time.monotonic()
    done = subprocess.run(
        [*pin_prefix(1), str(SMPPLOAD), "--port", str(port), "--conns", "4", "--window", "64",
         "--duration", str(duration), "--interval", "1", "--max-time", str(int(duration) + 30)],
        capture_output=True, text=True, timeout=duration + 40)
    points = [(float(t), int(r)) for t, r in _PROGRESS.findall(done.stderr)]
    return last_json(done.stdout), points, started


def rate_between(points: list[tuple[float, int]], start: float, end: float) -> float:
    """Responses per second between two instants of the load's clock (progress lines)."""
    inside = [(t, r) for t, r in points if start - 1.0 <= t <= end + 1.0]
    if len(inside) < 2:
        return float("nan")
    (t0, r0), (t1, r1) = inside[0], inside[-1]
    return (r1 - r0) / (t1 - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=8.0, help="seconds of steady load per run")
    p.add_argument("--binds", type=int, default=400)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--lockout", action="store_true", help="keep the default lockout policy")
    args = p.parse_args(argv)
    use_project_python()
    ensure_tools()
    sys.path.insert(0, str(REPO))
    pinned = bool(pin_prefix(1))
    with tempfile.TemporaryDirectory(prefix="chapar-storm-") as tmp:
        workdir = Path(tmp)
        sink = Sink(workdir, bound_s=4 * args.duration + 120)
        chapar, port = start_chapar(workdir, sink.port, args.lockout)
        if pinned:  # only now: Chapar (CPU0) and the sink (CPU1) are pinned already
            os.sched_setaffinity(0, {1})  # the storm driver shares the load generator's core
        try:
            deadline = time.monotonic() + 30
            while sink.stats().get("binds_ok", 0) < 1:
                if chapar.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((workdir / "chapar.err").read_text()[-2000:])
                time.sleep(0.1)
            alone, _, _ = steady(port, args.duration)
            log(f"alone: {alone.get('throughput_ok', 0):,.0f} msg/s")
            outcome: dict[str, Any] = {}

            def run_storm() -> None:
                time.sleep(1.0)
                outcome["start"] = time.monotonic()
                outcome.update(asyncio.run(storm(port, args.binds, args.concurrency,
                                                 args.duration - 2.0)))
                outcome["end"] = time.monotonic()

            driver = threading.Thread(target=run_storm)
            driver.start()
            during, points, load_started = steady(port, args.duration)
            driver.join()
        finally:
            chapar.terminate()
            chapar.wait(30)
            sink.stop()
    window = (outcome["start"] - load_started, outcome["end"] - load_started)
    in_storm = rate_between(points, *window)
    base = alone.get("throughput_ok", 0.0)
    rows = [("alone", base, alone["latency_us"]["p99"] / 1000),
            ("with storm (whole run)", during.get("throughput_ok", 0.0),
             during["latency_us"]["p99"] / 1000),
            ("with storm (storm window)", in_storm, float("nan"))]
    print(f"{'steady 4x64':28} {'msg/s':>10} {'p99 ms':>8}")
    for name, rate, p99 in rows:
        print(f"{name:28} {rate:10,.0f} {p99:8.2f}")
    print(f"storm: {outcome['binds']} of {args.binds} binds answered in "
          f"{outcome['seconds']:.2f} s = "
          f"{outcome['rate']:.0f} binds/s; bind latency p50 {outcome['p50_ms']:.1f} ms, "
          f"p99 {outcome['p99_ms']:.1f} ms; statuses {outcome['by_status']}")
    kept = in_storm / base if base else 0.0
    p99 = during["latency_us"]["p99"] / 1000
    ok = kept >= 0.8 and p99 <= 50
    print(f"throughput kept during the storm: {kept:.2f} (target >= 0.80); "
          f"p99 with storm {p99:.1f} ms (target <= 50) -> {'PASS' if ok else 'FAIL'}")
    wrong = wrong_statuses(outcome["checked"], args.lockout)
    problems = []
    if outcome["unanswered"] or outcome["errors"]:
        problems.append(f"{outcome['unanswered']} of {outcome['started']} binds sent were never "
                        f"answered; errors {outcome['errors']}")
    if wrong:
        problems.append(f"{wrong} binds answered with the wrong status")
    for name, load in (("alone", alone), ("with storm", during)):
        if load.get("unanswered") or load.get("resp_ok") != load.get("sent"):
            problems.append(f"steady load {name}: {load.get('unanswered')} unanswered, "
                            f"resp_ok {load.get('resp_ok')} of sent {load.get('sent')} "
                            f"(by status {load.get('resp_by_status')})")
    for problem in problems:
        print(f"WARNING: {problem}")
    if not problems:
        print(f"checks: all {outcome['started']} binds sent were answered with the expected "
              "status; every steady submit answered ROK")
    return 0 if ok and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
