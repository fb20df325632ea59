"""Relay benchmark: Chapar against the simplest batch-per-read relay, same load, same run.

    .venv/bin/python benchmarks/relay.py [--rounds 3] [--duration 5]
        [--upstream-connections 1] [--upstream-window 256] [--json OUT] [--profile DIR]
        [--compare-rev REV [--compare-without-lines]] [--only baseline|chapar|compare]
        [--receipts] [--content [--text TEXT --data-coding 8] [--content-phrases N]]
        [--postgres DSN]

Each round measures every system under test (the order rotates between rounds):
smppsink is the carrier, the SUT is ``benchmarks/baseline_relay.py`` or ``chapar run``
(one account, simulator off, one upstream pointing at the sink), and smppload drives it:
a warm-up (``--count 20000``), then 4 connections x window 64 for ``--duration`` seconds
(throughput and latency under load), then 1 x 1 for 3 s (latency at low load).  With
``taskset`` the SUT runs on CPU 0, smppload and the sink on CPU 1.  Everything talks to
127.0.0.1 and every step has a time limit.  The summary (medians, and Chapar's msg/s as
a ratio of the baseline's) is printed and written to ``benchmarks/out/relay-<ts>.json``.

Chapar's records (``records.path`` in the run's folder) are on, as in production: the
row also shows the records written per second during 4x64 (the follower beside the
relay), the backlog of messages journalled but not yet recorded as 4x64 ended, and how
long after it the follower caught up (``benchmarks/records_lag.py``).

``--compare-rev REV`` adds a third SUT, ``chapar@REV``: Chapar as of git revision REV,
checked out into a temporary ``git worktree`` (removed at exit) and started the same way
(cwd and PYTHONPATH = that tree, so it imports its own ``router``), with the same config;
the summary adds its ratio to the baseline and the change of Chapar's msg/s against it.
``--compare-without-lines`` leaves the ``lines`` key out of its config and seeds no
blacklist for it, for revisions from before line checks (they reject unknown keys).

``--receipts`` measures Chapar twice per round instead: ``chapar`` (MT only, as above) and
``chapar+dlr`` (smppsink ``--dlr`` sends a receipt per message, smppload submits with
``--registered-delivery 1 --wait-dlr`` during 4x64 and 1x1), and prints the MT/s with
receipts as a ratio of the MT/s without, per round and of the medians.  It also checks,
from smppload's ``--ack-file``, that every id acknowledged during 4x64 came back in
exactly one receipt carrying that id (Chapar's, not the carrier's), and no other.
With ``--compare-rev REV`` it measures ``chapar@REV`` and ``chapar@REV+dlr`` too, in the
same rounds, and prints the change of the receipts ratio against REV's.

``--postgres DSN`` measures Chapar twice per round: ``chapar`` (SQLite) and ``chapar+pg``
(``store.backend: postgres`` at DSN: the journal by COPY, the records follower on
PostgreSQL); ``benchmarks/store.py --relay`` starts a cluster and runs it.

``--content`` measures Chapar twice per round: ``chapar`` with ``policy.stages: [lines]``
and ``chapar+content`` with ``[lines, content]`` (the shipped starter sets under
``config/content/``, plus ``--content-phrases N`` generated phrases and 200 regexes of
``benchmarks/content.py`` in one more category file), and prints the loss of msg/s.
``--text`` and ``--data-coding`` are smppload's, for every phase (``--data-coding 8``:
UCS2, e.g. a 70-character Persian text; smppload tags only data_coding 0 texts, so the
per-message check is off then).  Targets: loss <= 8 % ASCII, <= 25 % Persian.

Checks: every submit answered ESME_ROK (resp_ok == sent, smppload exit 0), and the sink
received at least as many submit_sm as the SUT acknowledged (nothing lost: Chapar acks
after its journal commit, so it is stopped first and drains its queue to the sink).
Per message, not only in counts (a loss can hide behind a duplicate): smppload tags each
text with its message number (``--tag-text``) and writes every answer to ``--ack-file``;
the sink records every submit_sm (``--record``); every acknowledged number must appear
in the record, and numbers recorded more than once are reported as duplicates
(at-least-once allows them; they are not a failure).  ``--no-per-message`` turns the
record off (the sink then spends ~1 µs less per message).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import records_lag
from project_python import use_project_python
from scraper import TOKEN as ADMIN_TOKEN
from scraper import Scraper

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
TOOLS_SRC = REPO.parent / "shared" / "tools"  # ../shared beside the checkout
TOOLS = REPO / ".tools"
SMPPLOAD = TOOLS / "smppload"
SMPPSINK = TOOLS / "smppsink"
SYSTEM_ID, PASSWORD = "test", "test"  # smppload's default credentials
WARMUP_COUNT = 20000
LATENCY_DURATION = 3.0
SUT_KINDS = ("baseline", "chapar", "compare", "admin")
# compare: Chapar at --compare-rev; admin: Chapar with the admin API + metrics on and
# scraped every second (--admin-compare; then plain "chapar" runs with them off)
WAIT_DLR_S = 30  # how long smppload keeps reading receipts after its send phase


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- environment ---------------------------------------------------------------------

def ensure_tools() -> None:
    if SMPPLOAD.exists() and SMPPSINK.exists():
        return
    log(f"building smppload/smppsink into {TOOLS}")
    subprocess.run(["make", "-s", "-C", str(TOOLS_SRC), f"OUT={TOOLS}"], check=True,
                   timeout=180)


def pin_prefix(cpu: int) -> list[str]:
    """``taskset -c CPU`` when taskset exists and CPUs 0 and 1 are both ours."""
    if shutil.which("taskset") is None:
        return []
    try:
        cpus = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return []
    return ["taskset", "-c", str(cpu)] if {0, 1} <= cpus else []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its live children (a --workers supervisor's
    workers), from Linux /proc; 0.0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        kids = [int(k) for k in children.read_text().split()]
    except OSError:
        kids = []
    return own + sum(cpu_seconds(kid) for kid in kids)


def cpu_busy(cpus: tuple[int, ...] = (0, 1)) -> tuple[float, float]:
    """(busy, total) jiffies summed over CPUs from /proc/stat; (0, 0) where unavailable.

    Busy is user + nice + system: what processes used (irq/softirq, largely the SUT's own
    loopback traffic, is left out).
    """
    busy = total = 0.0
    names = {f"cpu{c}" for c in cpus}
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            name, _, rest = line.partition(" ")
            if name in names:
                ticks = [float(x) for x in rest.split()]
                busy += ticks[0] + ticks[1] + ticks[2]
                total += sum(ticks)
    except (OSError, ValueError, IndexError):
        return 0.0, 0.0
    return busy, total


def last_json(text: str) -> dict[str, Any]:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                value: dict[str, Any] = json.loads(line)
                return value
    return {}


# --- processes -----------------------------------------------------------------------

class Sink:
    """smppsink as the carrier, stdout to a file (its JSON summaries)."""

    def __init__(self, workdir: Path, bound_s: float, record: Path | None = None,
                 dlr: bool = False) -> None:
        self.out = workdir / "sink.out"
        port_file = workdir / "sink.port"
        extra = ["--record", str(record)] if record is not None else []
        if dlr:
            extra.append("--dlr")
        with self.out.open("wb") as out, (workdir / "sink.err").open("wb") as err:
            self.proc = subprocess.Popen(
                [*pin_prefix(1), str(SMPPSINK), "--port", "0", "--port-file", str(port_file),
                 "--duration", str(int(bound_s)), *extra], stdout=out, stderr=err)
        deadline = time.monotonic() + 10
        while not port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("smppsink did not start")
            time.sleep(0.02)
        self.port = int(port_file.read_text())

    def stats(self) -> dict[str, Any]:
        """SIGUSR1: the summary so far."""
        before = self.out.stat().st_size
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 2
        while self.out.stat().st_size == before and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.01)
        return last_json(self.out.read_text())

    def stop(self) -> dict[str, Any]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        return last_json(self.out.read_text())


@dataclass(frozen=True)
class Target:
    """A system under test: its name in the report and the tree it runs from."""

    name: str  # "baseline", "chapar" or "chapar@REV"
    kind: str  # one of SUT_KINDS
    tree: Path = REPO  # cwd of the process; a compare checkout is also its PYTHONPATH
    lines: bool = True  # Chapar's config has the `lines` key and a seeded blacklist
    receipts: bool = False  # the sink sends receipts and smppload asks for and awaits them
    extra: tuple[tuple[str, Any], ...] = ()
    """Config keys merged over Chapar's (benchmarks/throttle_billing.py: the stages)."""
    topup: int = 0  # written to the prepaid ledger of the account before the start
    settle: float = 0.0
    """Seconds between the SUT's being ready and the warm-up (throttle_billing.py's
    Redis target: a new Redis leases no money at the first report)."""
    workers: int = 0
    """``chapar run --workers N`` (0: a plain single process); unpinned, so the workers
    and the load share both CPUs."""
    upstreams: int = 1
    """Upstream entries, all on the sink (``sink``, ``sink2``, …; benchmarks/routing.py)."""
    reload_rules: Path | None = None
    """``--content-reload``: this rule folder is changed a third into 4x64
    (``changed_later``), so the router rebuilds its rules while the load runs."""

    @property
    def is_chapar(self) -> bool:
        return self.kind != "baseline"

    def env(self) -> dict[str, str] | None:
        """A checkout other than this one imports its own ``router``; else inherited."""
        return None if self.tree == REPO else {**os.environ, "PYTHONPATH": str(self.tree)}


@contextlib.contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """A detached ``git worktree`` of REV in a temporary directory, removed on exit."""
    parent = Path(tempfile.mkdtemp(prefix="chapar-bench-rev-"))
    tree = parent / "chapar"
    try:
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--quiet", "--detach",
                        str(tree), rev], check=True, timeout=120)
        yield tree
    finally:
        if tree.exists():
            done = subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                                   str(tree)], timeout=120)
            if done.returncode != 0:
                log(f"WARNING: could not remove the worktree {tree}")
        shutil.rmtree(parent, ignore_errors=True)


# Run in the tree under test (its own ``router``): N random Iranian mobiles, fixed seed.
SEED_BLACKLIST = """\
import random, sys
from pathlib import Path
from router.model.numbersets import NumberSet
from router.store.lines import LineStore
registry, size = Path(sys.argv[1]), int(sys.argv[2])
rng = random.Random(98)
numbers = {989_000_000_000 + rng.randrange(1_000_000_000) for _ in range(size)}
numbers.discard(989120000000)  # smppload's destination stays deliverable
with LineStore(registry) as store:
    store.save_blacklist(NumberSet(numbers))
"""


def seed_blacklist(target: Target, registry: Path, size: int) -> None:
    """The operator blacklist of SIZE numbers, written by the target's own store code."""
    subprocess.run([sys.executable, "-c", SEED_BLACKLIST, str(registry), str(size)],
                   cwd=target.tree, env=target.env(), check=True, timeout=300)


def chapar_config(target: Target, workdir: Path, port: int, sink_port: int,
                  args: argparse.Namespace, password_hash: str) -> dict[str, Any]:
    config: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": port},
        "store": {"path": str(workdir / "chapar.db"),
                  "registry_path": str(workdir / "registry.db")},
        "accounts": [{"system_id": SYSTEM_ID, "password_hash": password_hash,
                      "allowed_ips": ["127.0.0.1"], "domestic_exempt": True}],
        # smppload's default source is an advertising line of the account, so
        # every message goes through the line and blacklist/opt-out checks
        "lines": [{"number": "12345", "account": SYSTEM_ID, "kind": "advertising"}],
        "simulator": {"enabled": False},
        "upstreams": [{"name": f"sink{i + 1 if i else ''}", "host": "127.0.0.1",
                       "port": sink_port, "connections": args.upstream_connections,
                       "window": args.upstream_window} for i in range(target.upstreams)],
        "log": {"level": "warning"},
    }
    if not target.lines:
        del config["lines"]
    if (target.tree / "router" / "store" / "records").is_dir():  # read by records_lag
        config["records"] = {"path": str(workdir / "records.db")}
    # older revisions do not know the key; those that do must not take the default
    # admin port (9775), which another router on a shared machine may hold
    if target.kind in ("chapar", "admin") or (target.tree / "router" / "admin").is_dir():
        config["admin"] = {"enabled": target.kind == "admin" or not args.admin_compare,
                           "port": free_port(), "token": ADMIN_TOKEN}
    for key, value in target.extra:
        if key == "accounts":  # fields added to the one account
            config["accounts"] = [{**config["accounts"][0], **value}]
        elif key == "lines":
            config["lines"] = [{**config["lines"][0], **value}]
        elif key == "store":  # the backend, merged over the paths
            config["store"] = {**config["store"], **value}
        else:
            config[key] = value
    return config


class Sut:
    """The system under test: the baseline relay or Chapar, pinned to CPU 0."""

    def __init__(self, target: Target, workdir: Path, sink_port: int,
                 args: argparse.Namespace, password_hash: str) -> None:
        self.name = target.name
        self.port = free_port()
        self.admin_port = 0
        self.config: dict[str, Any] = {}
        if not target.is_chapar:
            cmd = [sys.executable, str(BENCH / "baseline_relay.py"), "--port", str(self.port),
                   "--upstream-port", str(sink_port)]
        else:
            config = self.config = chapar_config(target, workdir, self.port, sink_port, args,
                                                 password_hash)
            self.admin_port = int(config.get("admin", {}).get("port", 0))
            if target.lines and args.blacklist:
                seed_blacklist(target, workdir / "registry.db", args.blacklist)
            if target.topup:
                from router.store.ledger import Ledger

                with Ledger(workdir / "chapar.db") as ledger:
                    ledger.topup(SYSTEM_ID, target.topup, "benchmark")
            path = workdir / "chapar.yaml"
            path.write_text(json.dumps(config, indent=2))  # JSON is YAML
            cmd = [sys.executable, "-m", "router.cli", "run", "--config", str(path)]
            if target.workers:
                cmd += ["--workers", str(target.workers)]
                if args.share:
                    cmd += ["--share", args.share]
            if args.chapar_gc == "off":  # experiment: the same CLI with the cyclic GC off
                cmd[1:3] = ["-c", "import gc, sys; gc.disable(); from router.cli import main; "
                            "sys.exit(main(sys.argv[1:]))"]
        self.err = workdir / f"{target.kind}.err"
        with self.err.open("wb") as err:
            # taskset execs the command: proc.pid is the Python process itself
            pin = [] if target.workers else pin_prefix(0)
            self.proc = subprocess.Popen([*pin, *cmd], cwd=target.tree,
                                         env=target.env(), stdout=subprocess.DEVNULL,
                                         stderr=err)

    def wait_ready(self, sink: Sink, upstream_binds: int, timeout: float = 30.0) -> None:
        """The port accepts connections and the sink saw the SUT's upstream binds.

        (At log level warning Chapar's "listening" event, an info, is filtered out.)
        """
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}): "
                                   f"{self.err.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready after {timeout} s")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
            except OSError:
                time.sleep(0.05)
                continue
            if sink.stats().get("binds_ok", 0) >= upstream_binds:
                return
            time.sleep(0.05)

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log(f"WARNING: {self.name} did not stop within {timeout} s; killed")
            self.proc.kill()
            self.proc.wait(timeout=5)
            return None


def smppload(port: int, *options: str, bound_s: float) -> dict[str, Any]:
    cmd = [*pin_prefix(1), str(SMPPLOAD), "--port", str(port), *options,
           "--max-time", str(int(bound_s))]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=bound_s + 10)
    except subprocess.TimeoutExpired:
        return {"error": "timeout", "cmd": cmd}
    result = last_json(done.stdout)
    result["exit_status"] = done.returncode
    if not result.get("sent") and done.stderr:
        result["stderr"] = done.stderr[-500:]
    return result


def profile(pid: int, seconds: float, out: Path, rate: int, form: str = "raw"
            ) -> subprocess.Popen[bytes] | None:
    pyspy = REPO / ".venv" / "bin" / "py-spy"
    if not pyspy.exists():
        log("WARNING: py-spy not found; no profile")
        return None
    return subprocess.Popen(
        [*pin_prefix(1), str(pyspy), "record", "--nonblocking", "--format", form,
         "--rate", str(rate), "-o", str(out), "-d", str(max(1, int(seconds))),
         "--pid", str(pid)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# --- per message ---------------------------------------------------------------------

PHASE_TEXT = "hello from {}"  # smppload's default text is "hello from smppload"


def phase_options(phase: str, ack_file: Path | None, args: argparse.Namespace) -> list[str]:
    """smppload options that make each message of PHASE traceable in the sink's record
    (and the --text / --data-coding of the run)."""
    text = getattr(args, "text", None)
    coding = ["--data-coding", str(args.data_coding)] if getattr(args, "data_coding", 0) \
        else []
    if ack_file is None:
        return [*(["--text", text] if text else []), *coding]
    return ["--text", text or PHASE_TEXT.format(phase), "--tag-text", "--ack-file",
            str(ack_file), *coding]


_SHORT_MESSAGE = re.compile(r'"short_message":\s*"([0-9a-fA-F]*)"')


def _count(counts: bytearray, tag: int) -> None:
    if tag >= len(counts):
        counts.extend(bytes(max(tag + 1 - len(counts), len(counts))))
    if counts[tag] < 255:
        counts[tag] += 1


def verify_per_message(record: Path, acks: dict[str, Path]) -> dict[str, int]:
    """Every acknowledged message number of each phase in the sink's record?

    The record holds the text as hex; the text is ``hello from PHASE #NNNNNNNNNN``.
    Counts are kept in one byte per message number (millions of messages, no sets)."""
    prefixes = {phase: (PHASE_TEXT.format(phase) + " #").encode().hex() for phase in acks}
    counts = {phase: bytearray() for phase in acks}
    foreign = 0
    with record.open() as fh:
        for line in fh:
            found = _SHORT_MESSAGE.search(line)
            if found is None:
                continue
            text = found.group(1)
            for phase, prefix in prefixes.items():
                if text.startswith(prefix) and len(text) == len(prefix) + 20:
                    _count(counts[phase], int(bytes.fromhex(text[len(prefix):])))
                    break
            else:
                foreign += 1
    acked = lost = refused = 0
    for phase, path in acks.items():
        mine = counts[phase]
        with path.open() as fh:
            for line in fh:
                tag, _, answer = line.partition(" ")
                if tag == "R" or not tag.isdigit():
                    continue
                if answer.startswith("!"):
                    refused += 1
                    continue
                acked += 1
                number = int(tag)
                if number >= len(mine) or mine[number] == 0:
                    lost += 1
    duplicates = sum(sum(1 for c in mine if c > 1) for mine in counts.values())
    return {"acked_ids": acked, "refused_ids": refused, "lost_ids": lost,
            "duplicate_ids": duplicates, "unknown_records": foreign}


# --- one measurement -----------------------------------------------------------------

@dataclass
class Measurement:
    sut: str
    round: int
    msg_s: float = 0.0
    p50_us: float = 0.0
    p99_us: float = 0.0
    lat_p50_us: float = 0.0
    lat_p99_us: float = 0.0
    sut_cpu_pct: float = 0.0
    loadgen_cpu_pct: float = 0.0
    others_cpu_pct: float = 0.0  # CPU 0+1 time used by other processes (contention)
    records_s: float = 0.0  # records written per second during 4x64 (records_lag.py)
    records_backlog: int = -1  # messages journalled, not recorded, as 4x64 ended
    records_drain_s: float = -1.0  # from then until the follower caught up
    acked: int = 0
    sink_submits: int = 0
    per_message: dict[str, int] = field(default_factory=dict)
    receipts: int = 0  # receipts smppload received during 4x64 (receipts mode)
    receipts_e2e_s: float = 0.0  # 4x64: first submit to last receipt, seconds
    warnings: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


def safe_name(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)


def measure(target: Target, rnd: int, args: argparse.Namespace,
            password_hash: str) -> Measurement:
    kind = target.name  # in the report and warnings
    m = Measurement(kind, rnd)
    bound = 60 + args.duration + LATENCY_DURATION + 60
    with tempfile.TemporaryDirectory(prefix=f"chapar-bench-{target.kind}-") as tmp:
        workdir = Path(tmp)
        record = None if args.no_per_message else workdir / "sink.jsonl"
        acks = {} if record is None and not target.receipts else {
            phase: workdir / f"acks-{phase}.txt" for phase in ("warmup", "4x64", "1x1")}
        dlr = ["--registered-delivery", "1", "--wait-dlr", str(WAIT_DLR_S)] \
            if target.receipts else []
        sink = Sink(workdir, bound, record, dlr=target.receipts)
        sut: Sut | None = None
        lag0 = lag1 = lag2 = None
        scraper: Scraper | None = None
        stack = contextlib.ExitStack()
        pool = stack.enter_context(ThreadPoolExecutor(1))  # records_lag during 1x1
        try:
            sut = Sut(target, workdir, sink.port, args, password_hash)
            sut.wait_ready(sink, args.upstream_connections * target.upstreams
                           * max(1, target.workers) if target.is_chapar else 1)
            if target.kind == "admin":
                scraper = stack.enter_context(Scraper(sut.admin_port))
            time.sleep(target.settle)
            warm = smppload(sut.port, "--conns", "4", "--window", "64", "--count",
                            str(WARMUP_COUNT), *phase_options("warmup", acks.get("warmup"), args),
                            bound_s=60)
            prof = None
            if args.profile is not None:
                args.profile.mkdir(parents=True, exist_ok=True)
                suffix = "svg" if args.profile_format == "flamegraph" else "txt"
                prof = profile(sut.proc.pid, args.duration - 0.5,
                               args.profile / f"{safe_name(target.name)}-round{rnd}.{suffix}",
                               args.profile_rate, args.profile_format)
            if target.reload_rules is not None:
                stack.enter_context(changed_later(target.reload_rules, args.duration / 3))
            lag0 = records_lag.reading(sut.config, target.workers)
            cpu0, t0 = cpu_seconds(sut.proc.pid), time.monotonic()
            sink_cpu0, busy0 = cpu_seconds(sink.proc.pid), cpu_busy()
            tput = smppload(sut.port, "--conns", "4", "--window", "64", "--duration",
                            str(args.duration), *phase_options("4x64", acks.get("4x64"), args),
                            *dlr, bound_s=args.duration + 40 + WAIT_DLR_S)
            cpu1, t1 = cpu_seconds(sut.proc.pid), time.monotonic()
            lag1 = records_lag.reading(sut.config, target.workers)
            drain = None if lag1 is None else pool.submit(records_lag.recorded, sut.config,
                                                          lag1.journalled, 60.0,
                                                          target.workers)
            sink_cpu1, busy1 = cpu_seconds(sink.proc.pid), cpu_busy()
            if prof is not None:
                try:
                    prof.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    prof.kill()
            lat = smppload(sut.port, "--conns", "1", "--window", "1", "--duration",
                           str(LATENCY_DURATION), *phase_options("1x1", acks.get("1x1"), args),
                           *dlr, bound_s=LATENCY_DURATION + 40 + WAIT_DLR_S)
            lag2 = None if drain is None else drain.result(timeout=70)
        finally:
            stack.close()
            code = sut.stop() if sut is not None else None
            sink_summary = sink.stop()
        if record is not None:
            if record.exists() and all(p.exists() for p in acks.values()):
                m.per_message = verify_per_message(record, acks)
            else:
                m.warnings.append(f"{kind} round {rnd}: no sink record or ack file: "
                                  "per-message check not done")
        loads = {"warmup": warm, "4x64": tput, "1x1": lat}
        m.raw = {**loads, "sink": sink_summary, "sut_exit": code}
        if target.reload_rules is not None:
            m.raw["reloads_s"] = rules_loaded_seconds(sut.err)
        if scraper is not None:
            m.raw["scrapes"] = {"ok": scraper.scrapes, "failed": scraper.failures}
            if scraper.failures or not scraper.scrapes:
                m.warnings.append(f"{kind} round {rnd}: {scraper.failures} scrapes failed, "
                                  f"{scraper.scrapes} answered")
        m.msg_s = float(tput.get("throughput_ok", 0.0))
        if lag0 is not None and lag1 is not None and lag1.at > lag0.at:
            m.records_s = (lag1.recorded - lag0.recorded) / (lag1.at - lag0.at)
            m.records_backlog = lag1.backlog
            if lag2 is not None:
                m.records_drain_s = max(0.0, lag2.at - lag1.at)
        m.p50_us = float(tput.get("latency_us", {}).get("p50", 0.0))
        m.p99_us = float(tput.get("latency_us", {}).get("p99", 0.0))
        m.lat_p50_us = float(lat.get("latency_us", {}).get("p50", 0.0))
        m.lat_p99_us = float(lat.get("latency_us", {}).get("p99", 0.0))
        m.sut_cpu_pct = 100.0 * (cpu1 - cpu0) / (t1 - t0) if t1 > t0 else 0.0
        m.loadgen_cpu_pct = float(tput.get("cpu_pct", 0.0))
        if busy1[1] > busy0[1] and t1 > t0:
            # CPU time of CPUs 0+1 not spent by the SUT, the sink or smppload
            ticks = os.sysconf("SC_CLK_TCK")
            ours = (cpu1 - cpu0) + (sink_cpu1 - sink_cpu0) + float(
                tput.get("cpu_user_s", 0.0)) + float(tput.get("cpu_sys_s", 0.0))
            others = (busy1[0] - busy0[0]) / ticks - ours
            m.others_cpu_pct = max(0.0, 100.0 * others / (t1 - t0))
        m.acked = sum(int(r.get("resp_ok", 0)) for r in loads.values())
        m.sink_submits = int(sink_summary.get("submit_sm", 0))
        for name, r in loads.items():
            if r.get("error") or r.get("exit_status") != 0:
                m.warnings.append(f"{kind} round {rnd} {name}: smppload "
                                  f"{r.get('error') or 'exit ' + str(r.get('exit_status'))}")
            if r.get("resp_ok") != r.get("sent") or not r.get("sent"):
                m.warnings.append(f"{kind} round {rnd} {name}: resp_ok {r.get('resp_ok')} != "
                                  f"sent {r.get('sent')} (by status {r.get('resp_by_status')})")
        if m.sink_submits < m.acked:
            m.warnings.append(f"{kind} round {rnd}: sink got {m.sink_submits} submit_sm < "
                              f"{m.acked} acknowledged: messages lost")
        pm = m.per_message
        if pm and pm["lost_ids"]:
            m.warnings.append(f"{kind} round {rnd}: {pm['lost_ids']} of {pm['acked_ids']} "
                              "acknowledged message ids never reached the sink")
        if pm and pm["acked_ids"] != m.acked:
            m.warnings.append(f"{kind} round {rnd}: ack files hold {pm['acked_ids']} ROK, "
                              f"smppload counted {m.acked}")
        if target.receipts:
            m.receipts = int(tput.get("dlr_received", 0))
            m.receipts_e2e_s = float(tput.get("elapsed_s", 0.0))
            m.warnings.extend(f"{kind} round {rnd} 4x64: {p}"
                              for p in check_receipts(acks["4x64"]))
            if lat.get("dlr_received") != lat.get("resp_ok"):
                m.warnings.append(f"{kind} round {rnd} 1x1: {lat.get('dlr_received')} "
                                  f"receipts for {lat.get('resp_ok')} messages")
        if code != 0:
            m.warnings.append(f"{kind} round {rnd}: exit status {code}")
        if pin_prefix(0) and m.others_cpu_pct > 10 and args.profile is None:  # py-spy counts
            m.warnings.append(f"{kind} round {rnd}: other processes used "
                              f"{m.others_cpu_pct:.0f}% of a CPU on CPUs 0-1 during 4x64: "
                              "figures disturbed (is something else running?)")
        if m.loadgen_cpu_pct > 80:
            m.warnings.append(f"{kind} round {rnd}: smppload at {m.loadgen_cpu_pct:.0f}% CPU, "
                              "the load source may be the limit")
    return m


def check_receipts(acks: Path) -> list[str]:
    """Problems with smppload's ack file: every id acked with ESME_ROK must come back in
    exactly one receipt (the ``id:`` of its text), and no receipt may carry another id."""
    acked: set[str] = set()
    got: Counter[str] = Counter()
    try:
        text = acks.read_text(errors="replace")
    except OSError as exc:
        return [f"no ack file: {exc}"]
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "R":
            got[parts[1]] += 1
        elif len(parts) == 2 and not parts[1].startswith("!"):
            acked.add(parts[1])
    problems = []
    missing = acked - got.keys()
    foreign = got.keys() - acked
    twice = [i for i, n in got.items() if n > 1]
    if not acked:
        problems.append("no message acknowledged")
    if missing:
        problems.append(f"{len(missing)} of {len(acked)} acked ids got no receipt "
                        f"(e.g. {sorted(missing)[:3]})")
    if foreign:
        problems.append(f"{len(foreign)} receipts carry an id not acked "
                        f"(e.g. {sorted(foreign)[:3]})")
    if twice:
        problems.append(f"{len(twice)} ids got more than one receipt (e.g. {twice[:3]})")
    return problems


# --- report --------------------------------------------------------------------------

COLUMNS = ("sut", "msg/s", "p50 4x64", "p99 4x64", "p50 1x1", "p99 1x1", "SUT cpu%",
           "others%", "load cpu%", "acked", "sink rx", "records/s", "rec lag", "caught up")


def measure_in_turn(order: list[Target], rnd: int, args: argparse.Namespace,
                    password_hash: str, results: list[Measurement]) -> None:
    """Each target once in round ``rnd``, in ``order``: its row and warnings printed as
    it ends (the scripts built on this one)."""
    for target in order:
        m = measure(target, rnd, args, password_hash)
        results.append(m)
        print(row(fmt(m)), flush=True)
        for w in m.warnings:
            print(f"WARNING: {w}")


def row(values: list[str], first: int = 10) -> str:
    """Right-aligned columns; the first (the SUT's name) is FIRST wide."""
    return "  ".join(v.rjust(first if i == 0 else 10) for i, v in enumerate(values))


def fmt(m: Measurement) -> list[str]:
    return [m.sut, f"{m.msg_s:,.0f}", f"{m.p50_us:,.0f}", f"{m.p99_us:,.0f}",
            f"{m.lat_p50_us:,.0f}", f"{m.lat_p99_us:,.0f}", f"{m.sut_cpu_pct:.0f}",
            f"{m.others_cpu_pct:.0f}", f"{m.loadgen_cpu_pct:.0f}", str(m.acked),
            str(m.sink_submits), f"{m.records_s:,.0f}", str(m.records_backlog),
            f"{m.records_drain_s:.1f} s"]


def medians(results: list[Measurement], name: str) -> dict[str, float]:
    mine = [m for m in results if m.sut == name]
    if not mine:
        return {}
    keys = ("msg_s", "p50_us", "p99_us", "lat_p50_us", "lat_p99_us", "sut_cpu_pct",
            "records_s", "records_backlog", "records_drain_s")
    return {k: statistics.median(float(getattr(m, k)) for m in mine) for k in keys}


def msg_s_ratio(num: dict[str, float], den: dict[str, float]) -> float | None:
    """Median msg/s of NUM over DEN's, None when either is missing."""
    return num["msg_s"] / den["msg_s"] if num and den.get("msg_s") else None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Chapar vs a baseline relay (see module doc)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0, help="seconds at 4x64")
    p.add_argument("--upstream-connections", type=int, default=1)
    p.add_argument("--upstream-window", type=int, default=256)
    p.add_argument("--only", choices=SUT_KINDS,
                   help="measure one SUT only (compare: chapar@REV, needs --compare-rev)")
    p.add_argument("--receipts", action="store_true",
                   help="measure Chapar without and with a receipt per message (see above)")
    p.add_argument("--content", action="store_true",
                   help="measure Chapar with policy.stages [lines] and [lines, content]")
    p.add_argument("--content-phrases", type=int, default=0, metavar="N",
                   help="--content: also N generated phrases + 200 regexes "
                        "(benchmarks/content.py) beside the starter sets")
    p.add_argument("--content-reload", action="store_true",
                   help="--content: also chapar+content with every generated phrase "
                        "changed a third into 4x64 (p99 and max during the reload, the "
                        "build's seconds)")
    p.add_argument("--text", help="smppload's text for every phase")
    p.add_argument("--data-coding", type=int, default=0, choices=(0, 8),
                   help="smppload's data_coding (8: UCS2; no per-message check then)")
    p.add_argument("--json", type=Path, help="also write the summary here")
    p.add_argument("--profile", type=Path, metavar="DIR",
                   help="py-spy record (raw) each SUT during 4x64 into DIR (perturbs figures)")
    p.add_argument("--profile-rate", type=int, default=250, help="py-spy samples/s")
    p.add_argument("--profile-format", choices=("raw", "flamegraph"), default="raw",
                   help="py-spy's output: collapsed stacks (benchmarks/pyspy_top.py) or an "
                        "SVG flame graph")
    p.add_argument("--blacklist", type=int, default=1_000_000, metavar="N",
                   help="operator blacklist size loaded into Chapar (random mobiles; the "
                        "load's destination is not on it); 0 = empty")
    p.add_argument("--no-per-message", action="store_true",
                   help="no sink --record / smppload --ack-file, no per-message check")
    p.add_argument("--chapar-gc", choices=("default", "off"), default="default",
                   help="experiment: run Chapar with gc.disable()")
    p.add_argument("--compare-rev", metavar="REV",
                   help="also measure Chapar as of git revision REV (chapar@REV), run from "
                        "a temporary git worktree")
    p.add_argument("--admin-compare", action="store_true",
                   help="also measure chapar+admin (admin API and /metrics on, scraped every "
                        "second) against chapar with them off, in the same rounds")
    p.add_argument("--postgres", metavar="DSN",
                   help="measure chapar (SQLite) and chapar+pg (store.backend postgres at "
                        "DSN) in the same rounds")
    p.add_argument("--workers", metavar="N,M",
                   help="measure chapar run --workers N for each N (e.g. 1,2), unpinned")
    p.add_argument("--share", choices=("reuseport", "inherit", "deal"),
                   help="with --workers: chapar run --share (default: chapar's own)")
    p.add_argument("--compare-without-lines", action="store_true",
                   help="chapar@REV's config has no `lines` key and no blacklist is seeded "
                        "for it (revisions from before line checks)")
    args = p.parse_args(argv)
    if args.receipts and args.only:
        p.error("--receipts measures chapar and chapar+dlr (and chapar@REV, +dlr) only")
    if args.content and (args.compare_rev or args.only or args.receipts):
        p.error("--content measures chapar and chapar+content only")
    if args.data_coding:
        args.no_per_message = True  # smppload tags data_coding 0 texts only
    if args.only == "compare" and not args.compare_rev:
        p.error("--only compare needs --compare-rev")
    if args.compare_without_lines and not args.compare_rev:
        p.error("--compare-without-lines needs --compare-rev")
    args.compare_commit = resolve_rev(args.compare_rev) if args.compare_rev else None
    if args.compare_rev and args.compare_commit is None:
        p.error(f"--compare-rev: {args.compare_rev!r} is not a commit of {REPO}")
    return args


def prepared(rounds: int, duration: float, profile: Path | None = None
             ) -> tuple[argparse.Namespace, str]:
    """For a benchmark built on this one: the relay's arguments, the instruments built,
    the router importable, and the benchmark account's password hash."""
    args = parse_args(["--rounds", "1"])
    args.rounds, args.duration, args.profile = rounds, duration, profile
    ensure_tools()
    sys.path.insert(0, str(REPO))
    from router.policy.auth import hash_password

    return args, hash_password(PASSWORD)


def resolve_rev(rev: str) -> str | None:
    done = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", "--quiet",
                           f"{rev}^{{commit}}"], capture_output=True, text=True, timeout=30)
    return done.stdout.strip() if done.returncode == 0 else None


def main(argv: list[str] | None = None) -> int:
    use_project_python()
    args = parse_args(argv)
    ensure_tools()
    sys.path.insert(0, str(REPO))
    from router.policy.auth import hash_password

    password_hash = hash_password(PASSWORD)
    # SIGTERM unwinds like Ctrl-C: the SUTs and the sink stop, the worktree goes
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    with contextlib.ExitStack() as stack:
        targets = [Target("baseline", "baseline"), Target("chapar", "chapar")]
        if args.receipts:
            targets = [Target("chapar", "chapar"),
                       Target("chapar+dlr", "chapar", receipts=True)]
        if args.content:
            folder = stack.enter_context(content_rules(args.content_phrases))
            targets = [Target("chapar", "chapar", extra=(("policy", {"stages": ["lines"]}),)),
                       Target("chapar+content", "chapar", extra=(("policy", {
                           "stages": ["lines", "content"], "content_dir": str(folder)}),))]
            if args.content_reload:  # info: the log says how long each build took
                targets.append(replace(
                    targets[1], name="chapar+content+reload", reload_rules=folder,
                    extra=(*targets[1].extra, ("log", {"level": "info"}))))
        if args.compare_rev and args.only in (None, "compare"):
            tree = stack.enter_context(worktree(args.compare_commit))
            targets.append(Target(f"chapar@{args.compare_rev}", "compare", tree,
                                  lines=not args.compare_without_lines))
            if args.receipts:
                targets.append(Target(f"chapar@{args.compare_rev}+dlr", "compare", tree,
                                      lines=not args.compare_without_lines, receipts=True))
        if args.admin_compare:
            targets.append(Target("chapar+admin", "admin"))
        if args.postgres:
            targets = [Target("chapar", "chapar"),
                       Target("chapar+pg", "chapar", extra=(("store", {
                           "backend": "postgres", "dsn": args.postgres}),))]
        if args.workers:
            targets = [Target(f"chapar-w{n}", "chapar", workers=int(n))
                       for n in args.workers.split(",")]
        if args.only:
            targets = [t for t in targets if t.kind == args.only]
        return run(args, targets, password_hash)


@contextlib.contextmanager
def content_rules(phrases: int) -> Iterator[Path]:
    """A temporary rule folder: the shipped starter sets, and with PHRASES > 0 one more
    file of generated phrases and 200 regexes (benchmarks/content.py's generator)."""
    import yaml
    from content import categories

    with tempfile.TemporaryDirectory(prefix="chapar-bench-content-") as tmp:
        folder = Path(tmp)
        for path in (REPO / "config" / "content").glob("*.yaml"):
            shutil.copy(path, folder / path.name)
        if phrases > 0:
            generated = categories(phrases, 200, 13)
            data = {"name": "generated", "action": "reject",
                    "phrases": [p for c in generated for p in c.phrases],
                    "regexes": [r for c in generated for r in c.regexes]}
            (folder / "zz_generated.yaml").write_text(
                yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        yield folder



@contextlib.contextmanager
def changed_later(folder: Path, seconds: float) -> Iterator[None]:
    """After ``seconds``, every phrase of the generated rule file replaced by new ones
    (the shipped files only touched when there is none): the router's next look (once a
    second) rebuilds the rules in a child process and swaps them in."""
    import yaml

    def change() -> None:
        generated = folder / "zz_generated.yaml"
        if not generated.exists():
            for path in sorted(folder.glob("*.yaml"))[:1]:
                os.utime(path)
            return
        data = yaml.load(generated.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        tag = time.monotonic_ns() % 10**9  # new words each time: a real change each round
        data["phrases"] = [f"qzx{tag}w{i}" for i in range(len(data["phrases"]))]
        generated.write_text(yaml.dump(data, Dumper=yaml.CSafeDumper, allow_unicode=True),
                             encoding="utf-8")

    timer = threading.Timer(seconds, change)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def rules_loaded_seconds(err: Path) -> list[float]:
    """Each reload's time in the router's log (``content_rules_loaded``: from the look that
    saw the change to the swap, the child's start and the build included)."""
    out = []
    for line in err.read_text(errors="replace").splitlines():
        if '"content_rules_loaded"' in line:
            with contextlib.suppress(ValueError, KeyError):
                out.append(float(json.loads(line)["reload_s"]))
    return out


def reload_report(results: list[Measurement]) -> dict[str, Any] | None:
    """p99 and max at 4x64 with a reload of every rule during the run, beside the same
    rounds without; printed."""
    def of(name: str, key: str) -> float:
        values = [float(m.raw.get("4x64", {}).get("latency_us", {}).get(key, 0.0))
                  for m in results if m.sut == name]
        return statistics.median(values) if values else 0.0

    loaded = [s for m in results if m.sut == "chapar+content+reload"
              for s in m.raw.get("reloads_s", [])]
    if not any(m.sut == "chapar+content+reload" for m in results):
        return None
    report = {"reloads": len(loaded), "reload_s": loaded,
              **{f"{key}_us{suffix}": of(name, key) for key in ("p99", "max")
                 for name, suffix in (("chapar+content", ""),
                                      ("chapar+content+reload", "_reload"))}}
    print(f"rules rebuilt during 4x64 (every phrase changed): {len(loaded)} "
          f"time(s), built in "
          f"{', '.join(f'{s:.2f}' for s in loaded) or '-'} s (target <= 2 s); 4x64 p99 "
          f"{report['p99_us_reload']:,.0f} µs, max {report['max_us_reload']:,.0f} µs with "
          f"the reload, {report['p99_us']:,.0f} / {report['max_us']:,.0f} µs without")
    return report


def content_change(meds: dict[str, dict[str, float]], args: argparse.Namespace,
                   ) -> float | None:
    """Loss of msg/s of chapar+content against chapar, in percent; printed."""
    ratio = msg_s_ratio(meds.get("chapar+content", {}), meds.get("chapar", {}))
    if ratio is None:
        return None
    loss = 100.0 * (1.0 - ratio)
    target = 25 if args.data_coding else 8
    print(f"loss of msg/s with the content stage: {loss:.1f} % (target <= {target} %; "
          f"data_coding {args.data_coding}, text {args.text or 'smppload default'!r})")
    return loss


def receipts_ratios(results: list[Measurement], meds: dict[str, dict[str, float]],
                    name: str) -> float | None:
    """MT/s of ``name``+dlr against ``name`` (medians, and per round); printed."""
    ratio = msg_s_ratio(meds.get(f"{name}+dlr", {}), meds.get(name, {}))
    if ratio is None:
        return None
    per_round = [d.msg_s / c.msg_s for c in results if c.sut == name and c.msg_s
                 for d in results if d.sut == f"{name}+dlr" and d.round == c.round]
    print(f"ratio {name} MT/s with receipts / without (medians): {ratio:.3f}; "
          f"per round: {', '.join(f'{r:.3f}' for r in per_round)}")
    return ratio


def admin_change(meds: dict[str, dict[str, float]]) -> float | None:
    """chapar+admin against chapar (admin off), msg/s, in percent; printed."""
    on, off = meds.get("chapar+admin"), meds.get("chapar")
    if not on or not off:
        return None
    ratio = msg_s_ratio(on, off)
    if ratio is None:
        return None
    change = 100.0 * (ratio - 1.0)
    print(f"change of chapar+admin (API + metrics scraped every 1 s) vs chapar (admin off) "
          f"msg/s: {change:+.1f}% (target: loss <= 3%)")
    return change


def run(args: argparse.Namespace, targets: list[Target], password_hash: str) -> int:
    pinned = bool(pin_prefix(0))
    compare = next((t for t in targets if t.kind == "compare"), None)
    about = ""
    if compare is not None:
        about = (f"; {compare.name} = {args.compare_commit[:12]} in {compare.tree}"
                 f"{'' if compare.lines else ', without lines'}")
    log(f"relay benchmark: {args.rounds} rounds x {args.duration:g} s at 4x64, "
        f"{LATENCY_DURATION:g} s at 1x1; upstream connections={args.upstream_connections} "
        f"window={args.upstream_window}; pinned={pinned}; chapar gc={args.chapar_gc}{about}")
    first = max(10, *(len(t.name) for t in targets))
    results: list[Measurement] = []
    started = time.time()
    for rnd in range(1, args.rounds + 1):
        shift = (rnd - 1) % len(targets)  # each SUT takes each place in turn
        batch = [measure(t, rnd, args, password_hash)
                 for t in targets[shift:] + targets[:shift]]
        results.extend(batch)
        print(f"\nround {rnd}  (msg/s = throughput_ok at 4x64; latencies in µs)")
        print(row(list(COLUMNS), first))
        for m in batch:
            print(row(fmt(m), first))
            if m.per_message:
                pm = m.per_message
                print(f"  per message: {pm['acked_ids']} acked ids, {pm['lost_ids']} lost, "
                      f"{pm['duplicate_ids']} duplicated at the sink")
            if m.receipts:
                print(f"  {m.receipts} receipts, first submit to last receipt "
                      f"{m.receipts_e2e_s:.2f} s ({m.receipts / m.receipts_e2e_s:,.0f}/s)")
            for w in m.warnings:
                print(f"WARNING: {w}")

    meds = {t.name: medians(results, t.name) for t in targets}
    base, chapar = meds.get("baseline", {}), meds.get("chapar", {})
    ratio = msg_s_ratio(chapar, base)
    print(f"\nmedians over {args.rounds} rounds")
    print(row(["sut", "msg/s", "p50 4x64", "p99 4x64", "p50 1x1", "p99 1x1", "SUT cpu%"],
              first))
    for name, med in meds.items():
        if med:
            print(row([name, f"{med['msg_s']:,.0f}", f"{med['p50_us']:,.0f}",
                       f"{med['p99_us']:,.0f}", f"{med['lat_p50_us']:,.0f}",
                       f"{med['lat_p99_us']:,.0f}", f"{med['sut_cpu_pct']:.0f}"], first))
    if ratio is not None:
        print(f"ratio chapar/baseline msg/s (medians): {ratio:.3f}")
    receipts_ratio = receipts_ratios(results, meds, "chapar")
    compare_receipts = (receipts_ratios(results, meds, compare.name)
                        if compare is not None else None)
    if receipts_ratio is not None and compare_receipts is not None:
        print(f"change of the receipts ratio vs {compare.name}: "
              f"{100.0 * (receipts_ratio / compare_receipts - 1.0):+.1f}%")
    compared: dict[str, Any] | None = None
    if compare is not None:
        ratio_compare = msg_s_ratio(meds[compare.name], base)
        to_compare = msg_s_ratio(chapar, meds[compare.name])
        change = 100.0 * (to_compare - 1.0) if to_compare is not None else None
        if ratio_compare is not None:
            print(f"ratio {compare.name}/baseline msg/s (medians): {ratio_compare:.3f}")
        if change is not None:  # negative: Chapar is slower now than at REV
            print(f"change of chapar vs {compare.name} msg/s: {change:+.1f}%")
        compared = {"rev": args.compare_rev, "commit": args.compare_commit,
                    "without_lines": not compare.lines, "ratio_msg_s": ratio_compare,
                    "change_msg_s_pct": change, "ratio_receipts_msg_s": compare_receipts}
    admin = admin_change(meds)
    content = content_change(meds, args)
    reload = reload_report(results) if args.content_reload else None
    w1, w2 = meds.get("chapar-w1"), meds.get("chapar-w2")
    if w1 and w2:
        print(f"2 workers / 1 worker msg/s (medians): {w2['msg_s'] / w1['msg_s']:.2f} "
              "(target >= 1.5; the load generator shares the 2 CPUs)")
    warnings = [w for m in results for w in m.warnings]
    per_id = "" if args.no_per_message else " (per message id)"
    print(f"{len(warnings)} warning(s)" if warnings
          else f"checks: all submits ROK, nothing lost{per_id}")
    dlr = meds.get("chapar+dlr", {})
    if dlr and (receipts_ratio is None or receipts_ratio < 0.5 or dlr["p99_us"] > 10_000):
        print("NOTE: below target (receipts ratio >= 0.5, p99 at 4x64 <= 10 ms)")
    if chapar and ((ratio is not None and ratio < 0.6) or chapar["p99_us"] > 10_000):
        print("NOTE: below target (ratio >= 0.6, p99 at 4x64 <= 10 ms): profile Chapar")

    summary = {
        "benchmark": "relay", "started": started, "elapsed_s": round(time.time() - started, 1),
        "settings": {"rounds": args.rounds, "duration": args.duration,
                     "latency_duration": LATENCY_DURATION, "warmup_count": WARMUP_COUNT,
                     "upstream_connections": args.upstream_connections,
                     "upstream_window": args.upstream_window, "pinned": pinned,
                     "profiled": args.profile is not None, "chapar_gc": args.chapar_gc,
                     "per_message": not args.no_per_message,
                     "python": sys.version.split()[0]},
        "medians": meds, "ratio_msg_s": ratio, "compare": compared, "admin": admin,
        "receipts": args.receipts, "ratio_receipts_msg_s": receipts_ratio,
        "content": {"text": args.text, "data_coding": args.data_coding,
                    "phrases": args.content_phrases, "loss_pct": content, "reload": reload}
        if args.content else None,
        "warnings": warnings, "rounds": [asdict(m) for m in results],
    }
    out_dir = BENCH / "out"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
    outputs = [out_dir / f"relay-{stamp}.json", *([args.json] if args.json else [])]
    for output in outputs:
        output.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"summary: {', '.join(str(o) for o in outputs)}")
    return 1 if warnings else 0


if __name__ == "__main__":
    sys.exit(main())
