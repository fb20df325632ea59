"""The lawful export from PostgreSQL, side by side: two source trees take turns exporting
the same records of one cluster, wall time, the export's CPU time, the server's CPU time
and the export's peak RSS each.

    .venv/bin/python benchmarks/pg_export.py --dsn DSN --trees OLD,NEW
        [--formats jsonl,csv] [--rounds 2] [--account acc1]

The cluster must run on this machine (its CPU time is read from /proc: the postmaster's
reaped children, which are the backends and parallel workers once they end) and hold
the records (``benchmarks/store.py --postgres`` fills 10 M of acc1; a tree is a checkout,
e.g. ``git worktree add /tmp/old REV``).  Each tree runs ``chapar export`` in a child as
``store.py`` does; the rounds interleave the trees, so a busy machine slows both alike
(trust the ratios, and the CPU-time rates beside the wall ones).  The manifests'
SHA-256 must agree: a faster export of other bytes is a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

SCRIPT = ("import resource, sys, time; from router.cli import main; t = time.perf_counter();"
          " code = main(sys.argv[1:]); e = time.perf_counter() - t;"
          " u = resource.getrusage(resource.RUSAGE_SELF);"
          " hwm = next(int(x.split()[1]) for x in open('/proc/self/status')"
          " if x.startswith('VmHWM'));"
          " print('BENCH', e, u.ru_utime + u.ru_stime, hwm, file=sys.stderr); sys.exit(code)")


def postmaster(dsn: str) -> int:
    """The cluster's postmaster: the parent of a backend."""
    async def pid() -> int:
        conn = await asyncpg.connect(dsn)
        try:
            backend = await conn.fetchval("SELECT pg_backend_pid()")
            return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
        finally:
            await conn.close()

    return asyncio.run(pid())


def cpu(pid: int) -> float:
    """A process's CPU seconds and its reaped children's."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def run(tree: str, fmt: str, config: Path, account: str, server: int,
        out: Path) -> dict[str, object]:
    before = cpu(server)
    done = subprocess.run(["nice", "-n", "19", sys.executable, "-c", SCRIPT, "export", "-q",
                           "--config", str(config), "--account", account, "--format", fmt,
                           "--out", str(out)], cwd=tree, capture_output=True, text=True,
                          timeout=3600, env=dict(os.environ, PYTHONPATH=tree), check=False)
    assert done.returncode == 0, done.stderr
    time.sleep(0.3)  # the backend's exit, reaped
    server_s = cpu(server) - before
    line = next(x for x in done.stderr.splitlines() if x.startswith("BENCH"))
    _, seconds, client_s, hwm = line.split()
    manifest = json.loads(Path(str(out) + ".manifest.json").read_text())
    out.unlink()
    rows = int(manifest["rows"])
    return {"tree": tree, "format": fmt, "rows": rows, "seconds": round(float(seconds), 1),
            "rows_per_s": round(rows / float(seconds)),
            "rows_per_server_cpu_s": round(rows / server_s) if server_s else None,
            "rows_per_cpu_s": round(rows / (server_s + float(client_s))),
            "client_cpu_s": round(float(client_s), 1), "server_cpu_s": round(server_s, 1),
            "peak_rss_mb": round(int(hwm) / 1024), "sha256": manifest["sha256"],
            "load": round(os.getloadavg()[0], 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dsn", required=True)
    p.add_argument("--trees", required=True, help="source trees, comma-separated")
    p.add_argument("--formats", default="jsonl,csv")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--account", default="acc1")
    args = p.parse_args()
    server = postmaster(args.dsn)
    with tempfile.TemporaryDirectory(prefix="chapar-pgexport-") as name:
        tmp = Path(name)
        config = tmp / "c.yaml"
        config.write_text("simulator: {enabled: true}\nstore: {backend: postgres, "
                          f"dsn: '{args.dsn}'}}\n")
        digests: dict[str, set[str]] = {}
        for _ in range(args.rounds):
            for fmt in args.formats.split(","):
                for tree in args.trees.split(","):
                    m = run(tree, fmt, config, args.account, server, tmp / f"x.{fmt}")
                    digests.setdefault(fmt, set()).add(str(m["sha256"]))
                    print(json.dumps(m), flush=True)
    same = all(len(d) == 1 for d in digests.values())
    print("the trees' files are " + ("the same bytes" if same else "DIFFERENT"))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
