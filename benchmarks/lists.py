"""Number-list benchmark: a 10 M blacklist, 1,000 whitelists, imports and lookups.

    .venv/bin/python benchmarks/lists.py [--numbers 10000000] [--whitelists 1000]
        [--whitelist-size 500] [--lookups 2000000] [--seed 5] [--json OUT]

Steps (all data generated deterministically from ``--seed``; temp files in a temp dir,
removed at the end):

1. memory — ``--numbers`` distinct random Iranian mobiles (98 9XX XXX XXXX) go into a
   :class:`NumberSet` in a fresh child process; RSS (``/proc/self/status`` VmRSS) is
   read just before and after, so the figure is what the held blacklist adds (with the
   build's temporaries: an upper bound).  Same for the whitelists
   (permanent entries plus five per list that expire) and opt-out lists.
2. lookups — ``--lookups`` membership tests, half hits and half (mostly) misses, shuffled:
   raw bitmap, ``ListSnapshot.is_blacklisted``, and the router's real per-message
   decision, ``Pipeline.decide``, on read batches of ``--batch`` submits from one line
   (advertising line: line rule, destination parse, blacklist + opt-out; service line:
   whitelist with a clock, violations counted), over the first ``--decisions`` queries.
   The figures include the Python loop; the empty loop is printed for reference.
3. import — the numbers are written to a CSV (header row; ``09…``, ``98…`` and ``9…`` forms
   mixed) and read back through ``router.ingest.import_csv`` into a NumberSet.

Targets (issue 5): blacklist RSS added <= 64 MB, <= 1 µs per lookup/decision,
import of 10 M numbers <= 60 s.  PASS/FAIL is printed per target.
"""

from __future__ import annotations

import argparse
import array
import gc
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from project_python import use_project_python

use_project_python()  # before the imports below, which need the project's dependencies

from router.ingest import import_csv  # noqa: E402
from router.model.lines import Line, LineBook  # noqa: E402
from router.model.numbersets import ExpiringNumberSet, NumberSet  # noqa: E402
from router.policy.addresses import Addresses  # noqa: E402
from router.policy.line_stage import LineStage  # noqa: E402
from router.policy.lists import ListRegistry  # noqa: E402
from router.policy.pipeline import Pipeline, StageKit  # noqa: E402
from router.policy.plans import DEFAULT_PREFIX_DIR, Operators  # noqa: E402
from router.policy.rules import Rules  # noqa: E402
from router.policy.settings import PolicySettings  # noqa: E402
from router.smpp.session import Submit  # noqa: E402
from router.store.writer import RegistryWriter  # noqa: E402

BASE = 989_000_000_000  # 98 9XX XXX XXXX: 10^9 possible Iranian mobiles
SPAN = 1_000_000_000
TARGET_RSS_MB = 64.0
TARGET_NS = 1000.0
TARGET_IMPORT_S = 60.0


def rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def distinct_mobiles(rng: random.Random, count: int) -> array.array[int]:
    """``count`` distinct numbers in random order (a bitmap removes repeats)."""
    from pyroaring import BitMap64

    seen = BitMap64()
    out = array.array("Q")
    while len(out) < count:
        need = count - len(out)
        raw = array.array("I")
        raw.frombytes(rng.randbytes(4 * (need + need // 100 + 16)))
        for value in raw:
            number = BASE + value % SPAN
            if number not in seen:
                seen.add(number)
                out.append(number)
                if len(out) == count:
                    break
    return out


def time_loop(probe: Any, queries: array.array[int]) -> float:
    """ns per call of ``probe(q)`` over ``queries`` (best of 3).

    The queries are an array, so each lookup gets a fresh int object as a decoded
    submit_sm destination would; a shuffled list of 2 M long-lived ints would add a
    cache miss per element that the router never pays."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter_ns()
        for q in queries:
            probe(q)
        best = min(best, (time.perf_counter_ns() - start) / len(queries))
    return best


def time_decide(pipeline: Pipeline, account: str, batches: list[list[Submit]]) -> float:
    """ns per message of ``Pipeline.decide`` over read batches (best of 3)."""
    count = sum(len(batch) for batch in batches)
    best = float("inf")
    decide = pipeline.decide
    stage = pipeline.stages[0]
    assert isinstance(stage, LineStage)
    for _ in range(3):
        stage.violations.take_pending()  # the router hands them to its writer
        start = time.perf_counter_ns()
        for batch in batches:
            decide(account, batch)
        best = min(best, (time.perf_counter_ns() - start) / count)
    return best


def submit_batches(queries: array.array[int], lines: int, prefix: str,
                   size: int) -> list[list[Submit]]:
    """Submits to ``queries`` (TON 1 / NPI 1, as E.164), ``size`` a batch, each batch
    from one line ``prefix`` + a 6-digit index (one ESME's read)."""
    batches: list[list[Submit]] = []
    for n, start in enumerate(range(0, len(queries), size)):
        source = f"{prefix}{n % lines:06d}"
        batches.append([Submit(i, b"", source, str(q), 0, 1, 1)
                         for i, q in enumerate(queries[start:start + size])])
    return batches


def write_csv(path: Path, numbers: array.array[int]) -> None:
    """Header row, then blocks of 09…, 98… and 9… forms."""
    national_offset = 980_000_000_000  # 989121234567 - offset = 9121234567
    block = 100_000
    with path.open("w", encoding="utf-8") as fh:
        fh.write("mobile\n")
        for index, start in enumerate(range(0, len(numbers), block)):
            chunk = numbers[start : start + block]
            form = index % 3
            if form == 0:
                fh.write("0" + "\n0".join(map(str, map(national_offset.__rsub__, chunk))))
            elif form == 1:
                fh.write("\n".join(map(str, chunk)))
            else:
                fh.write("\n".join(map(str, map(national_offset.__rsub__, chunk))))
            fh.write("\n")


def rng_for_whitelists(seed: int) -> random.Random:
    return random.Random(seed * 7919 + 1)


def build_registry(
    rng: random.Random, args: argparse.Namespace, blacklist: NumberSet
) -> tuple[ListRegistry, float]:
    """The blacklist, ``--whitelists`` service-line whitelists (5 entries of each expire
    tomorrow: bank test numbers) and as many advertising-line opt-out lists."""
    registry = ListRegistry()
    registry.replace_blacklist(blacklist)
    now = time.time()
    for index in range(args.whitelists):
        members = [BASE + rng.randrange(SPAN) for _ in range(args.whitelist_size)]
        expiring = {n: now + 86_400 for n in members[:5]}
        registry.replace_whitelist(f"3000{index:06d}", ExpiringNumberSet.build(members, expiring))
        registry.add_optout(f"1000{index:06d}", members[-1])
    return registry, now


def measure_memory(args: argparse.Namespace) -> int:
    """Child process: RSS around building the whitelists, then the blacklist (an upper
    bound: temporaries of the build count too); prints JSON on stdout."""
    size = Path(args.measure_memory).stat().st_size // 8
    numbers = array.array("Q")
    with open(args.measure_memory, "rb") as fh:
        numbers.fromfile(fh, size)
    gc.collect()
    rss0 = rss_kib()
    registry, _ = build_registry(rng_for_whitelists(args.seed), args, NumberSet())
    gc.collect()
    rss1 = rss_kib()
    started = time.perf_counter()
    blacklist = NumberSet(numbers)
    build_s = time.perf_counter() - started
    gc.collect()
    rss2 = rss_kib()
    data = blacklist.to_bytes()
    assert NumberSet.from_bytes(data) == blacklist
    assert len(registry.snapshot().whitelists) == args.whitelists
    print(json.dumps({
        "whitelists_rss_mb": (rss1 - rss0) / 1024,
        "blacklist_rss_mb": (rss2 - rss1) / 1024,
        "blacklist_sizeof_mb": blacklist.bitmap.__sizeof__() / 2**20,
        "blacklist_build_s": build_s,
        "blacklist_serialised_mb": len(data) / 2**20,
    }))  # fmt: skip
    return 0


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="number-list benchmark (see module doc)")
    p.add_argument("--numbers", type=int, default=10_000_000)
    p.add_argument("--whitelists", type=int, default=1000)
    p.add_argument("--whitelist-size", type=int, default=500)
    p.add_argument("--lookups", type=int, default=2_000_000)
    p.add_argument("--decisions", type=int, default=200_000,
                   help="submits timed through Pipeline.decide (from the lookups)")
    p.add_argument("--batch", type=int, default=64, help="submits per decide() call")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--measure-memory", metavar="FILE", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.measure_memory is not None:
        return measure_memory(args)
    rng = random.Random(args.seed)
    results: dict[str, Any] = {"numbers": args.numbers}

    # 1. memory (in a fresh child process, so no freed memory is reused) -------------
    started = time.perf_counter()
    numbers = distinct_mobiles(rng, args.numbers)
    log(f"generated {len(numbers):,} distinct numbers in {time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory(prefix="chapar-lists-") as tmp:
        raw = Path(tmp) / "numbers.u64"
        raw.write_bytes(numbers.tobytes())
        child = subprocess.run(
            [sys.executable, __file__, "--measure-memory", str(raw),
             "--whitelists", str(args.whitelists), "--whitelist-size", str(args.whitelist_size),
             "--seed", str(args.seed)],
            check=True, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    memory = json.loads(child.stdout)
    results.update(memory)
    blacklist_mb = memory["blacklist_rss_mb"]
    whitelists_mb = memory["whitelists_rss_mb"]
    log(
        f"blacklist {args.numbers:,} numbers: build {memory['blacklist_build_s']:.2f} s, "
        f"RSS added {blacklist_mb:.1f} MB (bitmap's own count "
        f"{memory['blacklist_sizeof_mb']:.1f} MB; serialised "
        f"{memory['blacklist_serialised_mb']:.1f} MB)"
    )
    log(
        f"{args.whitelists} whitelists x {args.whitelist_size} (+ registry, opt-out lists): "
        f"RSS added {whitelists_mb:.1f} MB"
    )
    blacklist = NumberSet(numbers)
    step = max(1, len(numbers) // max(1, args.lookups // 2))
    hits = [numbers[i] for i in range(0, len(numbers), step)][: args.lookups // 2]
    registry, _now = build_registry(rng_for_whitelists(args.seed), args, blacklist)

    # 2. lookups --------------------------------------------------------------------
    misses = [BASE + rng.randrange(SPAN) for _ in range(args.lookups - len(hits))]
    queries = hits + misses
    rng.shuffle(queries)
    expected_hits = sum(1 for q in queries if q in blacklist)
    query_array = array.array("Q", queries)
    del queries
    snapshot = registry.snapshot()
    book = LineBook(
        [Line(number=f"1000{i:06d}", account="acc", kind="advertising")
         for i in range(args.whitelists)]
        + [Line(number=f"3000{i:06d}", account="acc", kind="service")
           for i in range(args.whitelists)])
    settings = PolicySettings(violations_threshold=0)
    # the writer opens its registry only for a job; violations are never flushed here
    writer = RegistryWriter(Path(tempfile.mkdtemp()) / "registry.db")
    pipeline = Pipeline(Rules(book, registry), StageKit(
        settings, Addresses(settings, Operators.load(DEFAULT_PREFIX_DIR)), writer))
    decided = query_array[:args.decisions]
    advertising = submit_batches(decided, args.whitelists, "1000", args.batch)
    service = submit_batches(decided, args.whitelists, "3000", args.batch)
    for batch in advertising[:200]:  # the real decision, not a shortcut: same verdicts
        kept = {s.sequence for s in pipeline.decide("acc", batch)[0]}
        assert kept == {s.sequence for s in batch
                        if not snapshot.is_blacklisted(int(s.destination_addr))
                        and not snapshot.is_opted_out(s.source_addr,
                                                      int(s.destination_addr))}, \
            "Pipeline.decide disagrees with the lists"

    contains = blacklist.bitmap.__contains__
    timings = {
        "empty loop": time_loop(lambda q: None, query_array),
        "bitmap contains": time_loop(contains, query_array),
        "NumberSet in": time_loop(blacklist.__contains__, query_array),
        "snapshot.is_blacklisted": time_loop(snapshot.is_blacklisted, query_array),
        "decision: advertising line": time_decide(pipeline, "acc", advertising),
        "decision: service line": time_decide(pipeline, "acc", service),
    }
    results["lookups"] = len(query_array)
    results["hit_ratio"] = expected_hits / len(query_array)
    results["ns"] = timings
    log(f"{len(query_array):,} lookups, {expected_hits / len(query_array):.0%} hits (ns per call):")
    for name, ns in timings.items():
        log(f"  {name:28s} {ns:7.0f}")
    log(f"  (decisions: Pipeline.decide on {len(decided):,} submits in batches of "
        f"{args.batch}, per message)")

    # 3. import ---------------------------------------------------------------------
    with tempfile.TemporaryDirectory(prefix="chapar-lists-") as tmp:
        path = Path(tmp) / "blacklist.csv"
        started = time.perf_counter()
        write_csv(path, numbers)
        written_s = time.perf_counter() - started
        log(f"wrote {path.stat().st_size / 2**20:.0f} MB CSV in {written_s:.1f} s")
        expected = blacklist
        del numbers
        gc.collect()
        progress: list[int] = []
        started = time.perf_counter()
        result = import_csv(path, on_progress=lambda done, total: progress.append(done))
        imported = result.number_set
        import_s = time.perf_counter() - started
        assert imported == expected, "import lost or invented numbers"
        assert not result.rejected and result.header_rows == 1
        results["import_s"] = import_s
        results["import_rows"] = result.total_rows
        log(
            f"import {result.total_rows:,} rows -> {len(imported):,} numbers in {import_s:.1f} s "
            f"({result.total_rows / import_s / 1e6:.2f} M rows/s, {len(progress)} progress calls)"
        )

    decision_ns = max(timings["decision: advertising line"], timings["decision: service line"])
    checks = [
        ("blacklist RSS added", f"{blacklist_mb:.1f} MB", f"<= {TARGET_RSS_MB:.0f} MB",
         blacklist_mb <= TARGET_RSS_MB),
        ("ns per lookup (snapshot.is_blacklisted)", f"{timings['snapshot.is_blacklisted']:.0f} ns",
         f"<= {TARGET_NS:.0f} ns", timings["snapshot.is_blacklisted"] <= TARGET_NS),
        ("ns per decision (worst of the two)", f"{decision_ns:.0f} ns", f"<= {TARGET_NS:.0f} ns",
         decision_ns <= TARGET_NS),
        ("import of the CSV", f"{import_s:.1f} s", f"<= {TARGET_IMPORT_S:.0f} s",
         import_s <= TARGET_IMPORT_S),
    ]  # fmt: skip
    print(
        f"\nlists benchmark: {len(blacklist):,}-number blacklist, "
        f"{args.whitelists} whitelists x {args.whitelist_size}"
    )
    for name, value, target, ok in checks:
        print(f"  {verdict(ok)}  {name:42s} {value:>10s}  (target {target})")
    print(f"  info  whitelists RSS added                       {whitelists_mb:8.1f} MB")
    results["blacklist_rss_mb"] = blacklist_mb
    results["whitelists_rss_mb"] = whitelists_mb
    results["pass"] = all(ok for *_, ok in checks)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if results["pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
