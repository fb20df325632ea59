"""Store benchmark: records written per second, and the lawful export's speed and memory.

    .venv/bin/python benchmarks/store.py [--records 200000] [--export-rows 1000000]
        [--rounds 3] [--json OUT] [--postgres] [--relay [--relay-rounds 3]]

``records``: a journal holding ``--records`` messages (read batches of 256, their
carrier outcomes, their receipts: what the relay journals) is turned into records by the
follower, timed from the first round to caught up: records/s (the target is the relay's
sustained msg/s, ``benchmarks/relay.py``, so the follower keeps pace).  ``--postgres``
adds the same on PostgreSQL (COPY), on a cluster started under a temp folder (Debian's
binaries through tests/pg_ctl.sh, pytest-postgresql's executor, 127.0.0.1, a free port).
``--relay`` runs ``benchmarks/relay.py --postgres DSN`` on that cluster: Chapar on
SQLite and on PostgreSQL in the same rounds.

``export``: a records store with ``--export-rows`` records (written through the real
path: chained, indexed) is exported by ``chapar export --account`` as CSV and as JSON
lines in a child process: rows/s and the child's peak RSS (targets: >= 200,000 rows/s,
<= 200 MB).  Results are printed and written to ``benchmarks/out/store-<ts>.json``.
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

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from router.smpp import codec  # noqa: E402
from router.smpp.pdu import SubmitSm  # noqa: E402
from router.store.interface import Journal  # noqa: E402
from router.store.journal import SqliteJournal  # noqa: E402
from router.store.records.derive import Record  # noqa: E402
from router.store.records.follower import Follower  # noqa: E402
from router.store.records.settings import RecordSettings  # noqa: E402
from router.store.records.source import SqliteSource  # noqa: E402
from router.store.records.sqlite import SqliteRecords, Step  # noqa: E402

BATCH = 256


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


def records_rate(tmp: Path, count: int) -> float:
    journal = tmp / "journal.db"
    fill_journal(SqliteJournal(journal), count)
    settings = RecordSettings(path=str(tmp / "records.db"))
    records = SqliteRecords(Path(settings.path))
    follower = Follower(SqliteSource(journal), records, settings)
    started = time.perf_counter()
    while follower.step():
        pass
    elapsed = time.perf_counter() - started
    written = follower.written
    assert written >= count, written
    follower.close()
    records.close()
    return written / elapsed


def fill_records(path: Path, count: int) -> None:
    records = SqliteRecords(path)
    now = time.time()
    base = int(now * 1000) << 16
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


def records_rate_pg(tmp: Path, dsn: str, count: int) -> float:
    from router.store.postgres.journal import PgJournal
    from router.store.postgres.source import PgSource
    from router.store.records.open import open_records
    from router.store.settings import StoreSettings

    fill_journal(PgJournal(dsn), count, int(tmp.name[1:]) << 40)  # rounds never collide
    store = StoreSettings(backend="postgres", dsn=dsn)
    settings = RecordSettings()
    records = open_records(store, settings)
    follower = Follower(PgSource(dsn), records, settings)
    started = time.perf_counter()
    while follower.step():
        pass
    elapsed = time.perf_counter() - started
    written = follower.written
    follower.close()
    records.close()
    return written / elapsed


def export_run(tmp: Path, fmt: str, db: Path) -> tuple[float, int, float]:
    """(seconds, rows, peak RSS in MB) of ``chapar export --account acc1`` in a child."""
    config = tmp / "c.yaml"
    config.write_text(f"simulator: {{enabled: true}}\nrecords: {{path: {db}}}\n")
    out = tmp / f"export.{fmt}"
    script = ("import resource, sys, time; from router.cli import main; t = time.perf_counter();"
              " code = main(sys.argv[1:]); e = time.perf_counter() - t;"
              " print('BENCH', e, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,"
              " file=sys.stderr); sys.exit(code)")
    run = subprocess.run([sys.executable, "-c", script, "export", "-q", "--config",
                          str(config), "--account", "acc1", "--format", fmt, "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=3600)
    assert run.returncode == 0, run.stderr
    line = next(x for x in run.stderr.splitlines() if x.startswith("BENCH"))
    _, seconds, rss_kb = line.split()
    rows = json.loads(Path(str(out) + ".manifest.json").read_text())["rows"]
    out.unlink()
    return float(seconds), rows, int(rss_kb) / 1024


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=200_000)
    p.add_argument("--export-rows", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json")
    p.add_argument("--export-db", help="the records file to export (filled with "
                   "--export-rows records when missing; kept for the next run)")
    p.add_argument("--postgres", action="store_true", help="records/s on PostgreSQL too")
    p.add_argument("--relay", action="store_true",
                   help="relay.py --postgres on the cluster (SQLite vs PostgreSQL)")
    p.add_argument("--relay-rounds", type=int, default=3)
    p.add_argument("--relay-duration", type=float, default=5.0)
    args = p.parse_args()
    result: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="chapar-store-") as name:
        tmp = Path(name)
        rates = []
        for r in range(args.rounds):
            round_dir = tmp / f"r{r}"
            round_dir.mkdir()
            rates.append(records_rate(round_dir, args.records))
            print(f"records sqlite round {r + 1}: {rates[-1]:,.0f} records/s", flush=True)
        result["records_per_s_sqlite"] = statistics.median(rates)
        if args.postgres or args.relay:
            with cluster(tmp) as dsn:
                if args.postgres:
                    rates = []
                    for r in range(args.rounds):
                        rates.append(records_rate_pg(tmp / f"p{r}", dsn, args.records))
                        print(f"records postgres round {r + 1}: {rates[-1]:,.0f} records/s",
                              flush=True)
                    result["records_per_s_postgres"] = statistics.median(rates)
                if args.relay:
                    out = tmp / "relay.json"
                    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "relay.py"),
                                    "--postgres", dsn, "--rounds", str(args.relay_rounds),
                                    "--duration", str(args.relay_duration), "--json", str(out)],
                                   cwd=ROOT, check=False, timeout=3600)  # exit 1: warnings
                    relay = json.loads(out.read_text())
                    result["relay"] = {name: {k: m.get(k) for k in ("msg_s", "p99_us")}
                                       for name, m in relay["medians"].items()}
        if args.export_rows:
            db = Path(args.export_db) if args.export_db else tmp / "exp.db"
            started = time.perf_counter()
            if not db.exists():
                fill_records(db, args.export_rows)
            print(f"{db}: {args.export_rows:,} records ready in "
                  f"{time.perf_counter() - started:.0f} s",
                  flush=True)
            for fmt in ("csv", "jsonl"):
                seconds, rows, rss = export_run(tmp, fmt, db)
                result[f"export_{fmt}"] = {"rows": rows, "seconds": round(seconds, 2),
                                           "rows_per_s": round(rows / seconds),
                                           "peak_rss_mb": round(rss, 1)}
                print(f"export {fmt}: {rows:,} rows in {seconds:.1f} s = "
                      f"{rows / seconds:,.0f} rows/s, peak RSS {rss:.0f} MB", flush=True)
    out = Path(args.json) if args.json else (
        ROOT / "benchmarks" / "out" / time.strftime("store-%Y%m%dT%H%M%S.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
