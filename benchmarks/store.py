"""Store benchmark: records written per second, and the lawful export's speed and memory.

    .venv/bin/python benchmarks/store.py [--records 200000] [--export-rows 10000000]
        [--rounds 3] [--json OUT] [--postgres] [--relay [--relay-rounds 3]]
        [--relay-target]

``records``: a journal holding ``--records`` messages (read batches of 256, their
carrier outcomes, their receipts: what the relay journals) is turned into records by the
follower, timed from the first round to caught up: records/s in wall time and in the
follower's own CPU time (on a shared machine the wall figure measures the neighbours
too), against ``--records-target`` (the relay's sustained msg/s, ``benchmarks/relay.py``,
~170 k quiet: the follower must keep pace).  The follower runs as in its own process
(SQLite ``unlock``ed, ``quiet_collector``, ``Follower.round``).  ``--postgres`` adds the
same on PostgreSQL (COPY), on a cluster started under a temp folder (Debian's binaries through
tests/pg_ctl.sh, pytest-postgresql's executor, 127.0.0.1, a free port); its CPU figure
is the Python side's.  ``--relay`` runs ``benchmarks/relay.py --postgres DSN`` on that
cluster: Chapar on SQLite and on PostgreSQL in the same rounds.

``--relay-target`` measures that target first (``relay.py``, one 5 s round) instead of
taking the quiet figure: on a machine whose load varies, records and relay measured
minutes apart compare like with like.

``export``: a records store with ``--export-rows`` records (10 M by default; written
through the real path: chained) is exported by ``chapar export --account`` as CSV and
as JSON lines in a child process: rows/s and the child's peak RSS against the targets
(>= 200,000 rows/s, <= 200 MB).  ``--postgres`` exports the same rows from PostgreSQL
too.  Results are printed and written to ``benchmarks/out/store-<ts>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from router.smpp import codec  # noqa: E402
from router.smpp.pdu import SubmitSm  # noqa: E402
from router.store.interface import Journal  # noqa: E402
from router.store.journal import SqliteJournal  # noqa: E402
from router.store.records.derive import Record  # noqa: E402
from router.store.records.follower import Follower, quiet_collector  # noqa: E402
from router.store.records.settings import RecordSettings  # noqa: E402
from router.store.records.source import SqliteSource  # noqa: E402
from router.store.records.sqlite import SqliteRecords, Step  # noqa: E402
from router.store.sqlite_unlocked import unlock  # noqa: E402

BATCH = 256
EXPORT_RATE = 200_000
"""rows/s: issue #14's target for the export."""
EXPORT_RSS_MB = 200.0


def _body(i: int) -> bytes:
    return codec.encode_body(SubmitSm(1, source_addr="98100", destination_addr=f"98912{i:07d}",
                                      short_message=b"Your verification code is 123456",
                                      registered_delivery=1))


def fill_journal(journal: Journal, count: int, base: int = 0) -> None:
    """``count`` messages in read batches, with their outcomes and half their receipts,
    one commit a batch; ``base`` keeps the ids of different runs apart."""
    bodies = [_body(i) for i in range(BATCH)]
    now = time.time()
    base += int(now * 1000) << 16
    for n in range(0, count, BATCH):
        first = base + n
        journal.add_batch(first, f"acc{n // BATCH % 4}", bodies, now, "10.0.0.1")
        journal.add_outcomes([(first + i, 0, f"C{first + i:x}", True) for i in range(BATCH)],
                             "carrier#0")
        journal.add_receipts([(first + i, "DELIVRD") for i in range(0, BATCH, 2)])
        journal.commit()
    journal.close()


Rate = tuple[float, float]
"""(per second of wall time, per second of this process's CPU time)"""


def catch_up(follower: Follower) -> Rate:
    """Rounds until the journal is all recorded, as the follower's process runs them."""
    quiet_collector()
    started, cpu = time.perf_counter(), time.process_time()
    while follower.round():
        pass
    follower.flush()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return follower.written / elapsed, follower.written / cpu


def records_rate(tmp: Path, count: int) -> Rate:
    journal = tmp / "journal.db"
    fill_journal(SqliteJournal(journal), count)
    settings = RecordSettings(path=str(tmp / "records.db"))
    records = SqliteRecords(Path(settings.path))
    follower = Follower(SqliteSource(journal), records, settings)
    rate = catch_up(follower)
    assert follower.written >= count, follower.written
    follower.close()
    records.close()
    return rate


def fill_records(path: Path, count: int) -> None:
    fill_store(SqliteRecords(path), count)


def fill_records_pg(dsn: str, count: int) -> None:
    from router.store.postgres.records import PgRecords
    fill_store(PgRecords(dsn), count, base=8 << 40)  # apart from the records/s rounds


def fill_store(records: SqliteRecords | Any, count: int, base: int = 0) -> None:
    """``count`` delivered records of acc1, written as the follower writes them."""
    now = time.time()
    base += int(now * 1000) << 16
    chunk = 50_000
    for n in range(0, count, chunk):
        step = Step()
        for i in range(n, min(count, n + chunk)):
            record = Record(base + i, now + i / 1e6, "acc1", "10.0.0.1", "98100",
                            f"98912{i % 1000000:07d}", "Your verification code is 123456",
                            1, 0, 1, "accepted", "")
            step.records.append((record, ["DELIVRD", "carrier#0", f"C{i}", now, now, 2]))
        records.write(step)
    records.close()


@contextlib.contextmanager
def cluster(tmp: Path) -> Iterator[str]:
    """A PostgreSQL cluster under ``tmp`` for the run; its DSN (database ``chapar``)."""
    import asyncio

    import asyncpg
    from pytest_postgresql.executors.proc import PostgreSQLExecutor

    folder = tmp / "pg"
    folder.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    executor = PostgreSQLExecutor(
        executable=str(ROOT / "tests" / "pg_ctl.sh"), host="127.0.0.1", port=port,
        datadir=str(folder / "data"), unixsocketdir=str(folder),
        logfile=str(folder / "pg.log"), startparams="-w", dbname="chapar")
    executor.start()
    try:
        async def create() -> None:
            conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres",
                                         database="postgres")
            await conn.execute("CREATE DATABASE chapar")
            await conn.close()

        asyncio.run(create())
        yield f"postgresql://postgres@127.0.0.1:{port}/chapar"
    finally:
        executor.stop()


def records_rate_pg(tmp: Path, dsn: str, count: int) -> Rate:
    from router.store.postgres.journal import PgJournal
    from router.store.postgres.source import PgSource
    from router.store.records.open import open_records
    from router.store.settings import StoreSettings

    fill_journal(PgJournal(dsn), count, int(tmp.name[1:]) << 40)  # rounds never collide
    store = StoreSettings(backend="postgres", dsn=dsn)
    settings = RecordSettings()
    records = open_records(store, settings)
    follower = Follower(PgSource(dsn), records, settings)
    rate = catch_up(follower)
    assert follower.written >= count, follower.written
    follower.close()
    records.close()
    return rate


def export_run(tmp: Path, fmt: str, config: Path) -> dict[str, float]:
    """``chapar export --account acc1`` in a child: rows, seconds, rows/s (wall and the
    child's CPU time, both threads), peak RSS in MB."""
    out = tmp / f"export.{fmt}"
    # VmHWM, not ru_maxrss: Linux carries the parent's RSS at the fork into the child's
    # ru_maxrss across exec, so it reported this (large) benchmark process, not the export
    script = ("import resource, sys, time; from router.cli import main; t = time.perf_counter();"
              " code = main(sys.argv[1:]); e = time.perf_counter() - t;"
              " u = resource.getrusage(resource.RUSAGE_SELF);"
              " hwm = next(int(x.split()[1]) for x in open('/proc/self/status')"
              " if x.startswith('VmHWM'));"
              " print('BENCH', e, u.ru_utime + u.ru_stime, hwm, file=sys.stderr);"
              " sys.exit(code)")
    run = subprocess.run([sys.executable, "-c", script, "export", "-q", "--config",
                          str(config), "--account", "acc1", "--format", fmt, "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=3600)
    assert run.returncode == 0, run.stderr
    line = next(x for x in run.stderr.splitlines() if x.startswith("BENCH"))
    _, seconds, cpu, rss_kb = line.split()
    rows = json.loads(Path(str(out) + ".manifest.json").read_text())["rows"]
    out.unlink()
    return {"rows": rows, "seconds": round(float(seconds), 2),
            "rows_per_s": round(rows / float(seconds)),
            "rows_per_cpu_s": round(rows / float(cpu)),
            "peak_rss_mb": round(int(rss_kb) / 1024, 1)}


def exports(tmp: Path, config: Path, backend: str, result: dict[str, object]) -> None:
    """CSV and JSON lines, each against the targets."""
    for fmt in ("csv", "jsonl"):
        m = export_run(tmp, fmt, config)
        result[f"export_{fmt}" + ("" if backend == "sqlite" else f"_{backend}")] = m
        print(f"export {backend} {fmt}: {m['rows']:,} rows in {m['seconds']:.1f} s = "
              f"{m['rows_per_s']:,} rows/s ({m['rows_per_s'] / EXPORT_RATE:.2f}x the "
              f"{EXPORT_RATE:,} target; CPU {m['rows_per_cpu_s']:,} rows/s), peak RSS "
              f"{m['peak_rss_mb']:.0f} MB ({m['peak_rss_mb'] / EXPORT_RSS_MB:.2f}x the "
              f"{EXPORT_RSS_MB:.0f} MB bound)", flush=True)


def relay_rate() -> float:
    """Chapar's msg/s by ``benchmarks/relay.py`` (4x64, records on), measured now: the
    pace the records must keep on this machine in its present state."""
    with tempfile.TemporaryDirectory(prefix="chapar-store-relay-") as name:
        out = Path(name) / "relay.json"
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "relay.py"), "--rounds",
                        "1", "--duration", "5", "--json", str(out)],
                       cwd=ROOT, check=False, timeout=900, stdout=subprocess.DEVNULL)
        rate = float(json.loads(out.read_text())["medians"]["chapar"]["msg_s"])
    print(f"relay.py now: Chapar {rate:,.0f} msg/s (the records' target)", flush=True)
    return rate


def _rates(label: str, rates: list[Rate], target: float, result: dict[str, object]) -> None:
    wall = statistics.median(r[0] for r in rates)
    cpu = statistics.median(r[1] for r in rates)
    result[f"records_per_s_{label}"] = round(wall)
    result[f"records_per_cpu_s_{label}"] = round(cpu)
    print(f"records {label} (median of {len(rates)}): {wall:,.0f} records/s "
          f"({wall / target:.2f}x the relay's {target:,.0f} msg/s), CPU time "
          f"{cpu:,.0f} records/s ({cpu / target:.2f}x)", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=200_000)
    p.add_argument("--records-target", type=float, default=170_000,
                   help="msg/s the records must keep pace with (the relay's, quiet)")
    p.add_argument("--relay-target", action="store_true",
                   help="measure that target first: relay.py's Chapar msg/s (one 5 s "
                   "round, SQLite), on this machine as it is now")
    p.add_argument("--export-rows", type=int, default=10_000_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json")
    p.add_argument("--export-db", help="the records file to export (filled with "
                   "--export-rows records when missing; kept for the next run)")
    p.add_argument("--postgres", action="store_true",
                   help="records/s and the export on PostgreSQL too")
    p.add_argument("--relay", action="store_true",
                   help="relay.py --postgres on the cluster (SQLite vs PostgreSQL)")
    p.add_argument("--relay-rounds", type=int, default=3)
    p.add_argument("--relay-duration", type=float, default=5.0)
    args = p.parse_args()
    if not unlock():  # as the follower's process does, before any connection
        print("SQLite keeps its locks: the library was not found", file=sys.stderr)
    result: dict[str, object] = {}
    target = relay_rate() if args.relay_target else args.records_target
    result["records_target"] = round(target)
    with tempfile.TemporaryDirectory(prefix="chapar-store-") as name:
        tmp = Path(name)
        rates = []
        for r in range(args.rounds):
            round_dir = tmp / f"r{r}"
            round_dir.mkdir()
            rates.append(records_rate(round_dir, args.records))
            print(f"records sqlite round {r + 1}: {rates[-1][0]:,.0f} records/s "
                  f"(CPU time {rates[-1][1]:,.0f})", flush=True)
        _rates("sqlite", rates, target, result)
        if args.export_rows:
            db = Path(args.export_db) if args.export_db else tmp / "exp.db"
            started = time.perf_counter()
            if not db.exists():
                fill_records(db, args.export_rows)
            print(f"{db}: {args.export_rows:,} records ready in "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
            config = tmp / "c.yaml"
            config.write_text(f"simulator: {{enabled: true}}\nrecords: {{path: {db}}}\n")
            exports(tmp, config, "sqlite", result)
        if args.postgres or args.relay:
            with cluster(tmp) as dsn:
                if args.postgres:
                    rates = []
                    for r in range(args.rounds):
                        rates.append(records_rate_pg(tmp / f"p{r}", dsn, args.records))
                        print(f"records postgres round {r + 1}: {rates[-1][0]:,.0f} "
                              f"records/s (CPU time, Python side {rates[-1][1]:,.0f})",
                              flush=True)
                    _rates("postgres", rates, target, result)
                    if args.export_rows:
                        started = time.perf_counter()
                        fill_records_pg(dsn, args.export_rows)
                        print(f"postgres: {args.export_rows:,} records ready in "
                              f"{time.perf_counter() - started:.0f} s", flush=True)
                        config = tmp / "pg.yaml"
                        config.write_text("simulator: {enabled: true}\nstore: {backend: "
                                          f"postgres, dsn: '{dsn}'}}\n")
                        exports(tmp, config, "postgres", result)
                if args.relay:
                    out = tmp / "relay.json"
                    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "relay.py"),
                                    "--postgres", dsn, "--rounds", str(args.relay_rounds),
                                    "--duration", str(args.relay_duration), "--json", str(out)],
                                   cwd=ROOT, check=False, timeout=3600)  # exit 1: warnings
                    relay = json.loads(out.read_text())
                    result["relay"] = {name: {k: m.get(k) for k in ("msg_s", "p99_us")}
                                       for name, m in relay["medians"].items()}
    out = Path(args.json) if args.json else (
        ROOT / "benchmarks" / "out" / time.strftime("store-%Y%m%dT%H%M%S.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
