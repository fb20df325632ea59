"""Fuzz benchmark: up to 1,000,000 mutated PDUs against a live Chapar, bounded in time.

    .venv/bin/python benchmarks/fuzz.py [--count 1000000] [--duration 600] [--seed N]
        [--connections 4] [--progress 10]

The same mutations as tests/faults/test_fuzz.py (tests/fuzzing.py: valid PDUs of every
kind with flipped, truncated and extended bytes, every string field with non-ASCII and
non-digit characters), from ``--connections`` connections at once, against ``chapar run``
(simulator off, smppsink as its carrier) on 127.0.0.1.  Printed: PDUs sent and answered,
PDUs/s, connections used and closed by the router, and the router's RSS before (after a
1,000-PDU warm-up) and after.  Checks (exit 1 when one fails): the router is alive, its
log has no "Fatal error on transport" and no traceback, no batch went unanswered, and a
valid submit still gets ESME_ROK at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from project_python import use_project_python
from relay import REPO, Sink, ensure_tools, free_port, log

SYSTEM_ID, PASSWORD, LINE = "fuzz", "fuzz1234", "1000"
CRASH_MARKERS = ("Fatal error on transport", "Traceback", "Exception in callback")
HEADER = struct.Struct(">IIII")


def config(workdir: Path, port: int, sink_port: int, password_hash: str) -> dict[str, object]:
    return {
        "listen": {"host": "127.0.0.1", "port": port},
        "store": {"path": str(workdir / "chapar.db"),
                  "registry_path": str(workdir / "registry.db")},
        "accounts": [{"system_id": SYSTEM_ID, "password_hash": password_hash,
                      "allowed_ips": ["127.0.0.1"], "domestic_exempt": True}],
        "lines": [{"number": LINE, "account": SYSTEM_ID, "kind": "advertising"}],
        "simulator": {"enabled": False},
        "upstreams": [{"name": "sink", "host": "127.0.0.1", "port": sink_port}],
        # fuzzed binds are wrong passwords from 127.0.0.1: they must not lock it out
        "auth": {"lockout_failures": 1_000_000_000},
        # the driver replaces closed connections hundreds of times a second from one
        # address: the per-address rate of new connections would refuse it
        "smpp": {"connection_rate_per_ip": 0},
        "log": {"level": "warning"},
    }


def valid_submit_ok(port: int) -> bool:
    """Bind and submit once over a fresh connection; True on ESME_ROK for both."""
    from tests.raw import read_pdu  # after use_project_python(): it needs the project

    def read(s: socket.socket) -> tuple[int, int]:
        return read_pdu(s)[:2]

    bind = f"{SYSTEM_ID}\0{PASSWORD}\0\0".encode() + b"\x34\x00\x00\0"
    sm = (b"\0\x01\x01" + LINE.encode() + b"\0\x01\x01989121234567\0\0\0\0\0\0\0\0\0\0"
          + b"\x05hello")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(HEADER.pack(16 + len(bind), 0x09, 0, 1) + bind)
            if read(s) != (0x80000009, 0):
                return False
            s.sendall(HEADER.pack(16 + len(sm), 0x04, 0, 2) + sm)
            return read(s) == (0x80000004, 0)
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    use_project_python()
    p = argparse.ArgumentParser(description="mutated PDUs against a live Chapar")
    p.add_argument("--count", type=int, default=1_000_000)
    p.add_argument("--duration", type=float, default=600.0, help="stop sending after S s")
    p.add_argument("--seed", type=int, default=20261122)
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--progress", type=float, default=10.0, help="progress line every S s")
    args = p.parse_args(argv)
    ensure_tools()
    sys.path.insert(0, str(REPO))
    from router.policy.auth import hash_password
    from tests.fuzzing import fuzz, rss_kib

    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    with tempfile.TemporaryDirectory(prefix="chapar-fuzz-") as tmp:
        workdir = Path(tmp)
        sink = Sink(workdir, args.duration + 120)
        port = free_port()
        path = workdir / "chapar.yaml"
        path.write_text(json.dumps(config(workdir, port, sink.port, hash_password(PASSWORD))))
        err = workdir / "chapar.err"
        with err.open("wb") as err_fh:
            proc = subprocess.Popen([sys.executable, "-m", "router.cli", "run", "--config",
                                     str(path)], cwd=REPO, stdout=subprocess.DEVNULL,
                                    stderr=err_fh)
        try:
            deadline = time.monotonic() + 30
            while not valid_submit_ok(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log(f"chapar did not start: {err.read_text()[-2000:]}")
                    return 1
                time.sleep(0.2)
            log(f"fuzz: {args.count:,} PDUs at most, {args.duration:g} s at most, "
                f"seed {args.seed}, {args.connections} connections, chapar pid {proc.pid}")
            asyncio.run(fuzz(port, 1_000, args.seed + 1, SYSTEM_ID, PASSWORD))
            before = rss_kib(proc.pid)
            started = time.monotonic()
            stats = asyncio.run(fuzz(port, args.count, args.seed, SYSTEM_ID, PASSWORD,
                                     duration=args.duration, connections=args.connections,
                                     progress=args.progress))
            elapsed = time.monotonic() - started
            alive = proc.poll() is None
            after = rss_kib(proc.pid) if alive else 0
            still_ok = alive and valid_submit_ok(port)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            sink.stop()
        text = err.read_text(errors="replace")
    crashes = {m: text.count(m) for m in CRASH_MARKERS if m in text}
    print(f"sent {stats.sent:,} PDUs in {elapsed:.1f} s: {stats.sent / elapsed:,.0f} PDUs/s; "
          f"{stats.answers:,} answers; {stats.processed:,} in answered batches; "
          f"{stats.connections:,} connections, {stats.closed_by_router:,} closed by the router")
    print(f"router RSS before {before / 1024:.1f} MiB, after {after / 1024:.1f} MiB "
          f"({(after - before) / 1024:+.1f} MiB)")
    problems = []
    if not alive:
        problems.append(f"the router exited ({proc.returncode})")
    if crashes:
        problems.append(f"crash markers in its log: {crashes}")
    if stats.stalls:
        problems.append(f"{stats.stalls} batches never answered")
    if alive and not still_ok:
        problems.append("a valid submit was not accepted at the end")
    if stats.sent < args.count:
        print(f"NOTE: stopped by --duration after {stats.sent:,} of {args.count:,}")
    for problem in problems:
        print(f"FAILED: {problem}")
    if not problems:
        print("checks: alive, no crash in the log, every batch answered, still accepting")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
