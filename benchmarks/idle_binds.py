"""Idle binds: how much memory Chapar holds for N bound, silent ESME sessions (issue 16:
10,000 idle binds with RSS <= 1 GB in total).

    .venv/bin/python benchmarks/idle_binds.py [--binds 10000] [--workers 1] [--hold 5]

Starts ``chapar run`` (one account, the simulator as carrier, connection caps raised to
the count), opens ``--binds`` TCP connections from 127.0.0.1-127.0.0.8 with a raw
bind_transceiver each (asyncio, 500 at a time; the password is verified once and then
cached by the router), checks every bind_resp is ESME_ROK, holds them ``--hold`` seconds
and sums the VmRSS of the router's processes (the supervisor and its workers).  Loopback
only; every step has a time limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from project_python import use_project_python

SYSTEM_ID, PASSWORD = "idle", "idle1234"


def bind_pdu(sequence: int) -> bytes:
    body = (SYSTEM_ID.encode() + b"\0" + PASSWORD.encode() + b"\0" + b"\0"
            + bytes([0x34, 0, 0]) + b"\0")  # system_type "", 3.4, ton, npi, range ""
    return struct.pack(">IIII", 16 + len(body), 0x00000009, 0, sequence) + body


async def one_bind(port: int, index: int, held: list[asyncio.StreamWriter]) -> int:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, local_addr=(f"127.0.0.{1 + index % 8}", 0))
    writer.write(bind_pdu(index + 1))
    header = await asyncio.wait_for(reader.readexactly(16), 60)
    length, _, status, _ = struct.unpack(">IIII", header)
    await reader.readexactly(length - 16)
    held.append(writer)
    return int(status)


async def bind_all(port: int, count: int) -> tuple[list[asyncio.StreamWriter], list[int]]:
    held: list[asyncio.StreamWriter] = []
    statuses = [await one_bind(port, 0, held)]  # the one hash; the router caches it
    for start in range(1, count, 500):
        batch = [one_bind(port, i, held) for i in range(start, min(count, start + 500))]
        for result in await asyncio.gather(*batch, return_exceptions=True):
            statuses.append(result if isinstance(result, int) else -1)
    return held, statuses


def rss_mb(pid: int) -> float:
    """VmRSS of a process and its children, MB."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    return total / 1024 + sum(rss_mb(int(kid)) for kid in kids)


def wait_port(port: int, timeout: float) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"chapar is not listening on {port}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main() -> int:
    use_project_python()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--binds", type=int, default=10_000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--hold", type=float, default=5.0)
    args = p.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from router.policy.auth import hash_password

    with tempfile.TemporaryDirectory(prefix="chapar-idle-") as tmp:
        work = Path(tmp)
        port = free_port()
        config = {
            "listen": {"host": "127.0.0.1", "port": port},
            "store": {"path": str(work / "chapar.db"), "registry_path": str(work / "reg.db")},
            "accounts": [{"system_id": SYSTEM_ID, "password_hash": hash_password(PASSWORD),
                          "allowed_ips": ["127.0.0.0/8"], "domestic_exempt": True}],
            "smpp": {"max_connections": args.binds + 100, "max_connections_per_ip": 0,
                     "connection_rate_per_ip": 0},
            "simulator": {"enabled": True}, "admin": {"enabled": False},
            "log": {"level": "warning"},
        }
        (work / "c.yaml").write_text(json.dumps(config))
        cmd = [sys.executable, "-m", "router.cli", "run", "--config", str(work / "c.yaml")]
        if args.workers > 1:
            cmd += ["--workers", str(args.workers)]
        router = subprocess.Popen(cmd, cwd=work, stderr=subprocess.DEVNULL)
        try:
            wait_port(port, 60)
            time.sleep(1 + args.workers)  # every worker listening
            before = rss_mb(router.pid)
            started = time.monotonic()
            after, statuses = asyncio.run(asyncio.wait_for(
                _hold(port, args, lambda: rss_mb(router.pid)), 600))
            ok = statuses.count(0)
            if ok < len(statuses):
                from collections import Counter
                print("bind answers (status: count):", dict(Counter(statuses)))
            print(f"{ok} of {args.binds} binds ESME_ROK in {time.monotonic() - started:.1f} s "
                  f"(held {args.hold:g} s); router RSS {before:.0f} MB idle -> {after:.0f} MB "
                  f"with them ({(after - before) * 1024 / max(ok, 1):.1f} KB a bind); "
                  f"target <= 1024 MB: {'PASS' if after <= 1024 and ok == args.binds else 'FAIL'}")
        finally:
            router.terminate()
            router.wait(60)
    return 0


async def _hold(port: int, args: argparse.Namespace, measure: Callable[[], float]
                ) -> tuple[float, list[int]]:
    """Bind them all, hold them, measure the router while they are bound."""
    held, statuses = await bind_all(port, args.binds)
    await asyncio.sleep(args.hold)
    rss = measure()
    for writer in held:
        writer.close()
    return rss, statuses


if __name__ == "__main__":
    sys.exit(main())
