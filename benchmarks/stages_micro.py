"""What the throttle and billing stages cost a read batch, in CPU instructions: the
relay's per-batch path without sockets (decide, journal the batch and its reservation,
settle the carrier's answers, group commit with the ledger rows) for N batches with
``policy.stages: [lines]`` ("off") or ``[lines, throttle, billing]`` ("stages"), as
throttle_billing.py configures them.  Under callgrind the instructions of two runs of
different N give the cost of one batch without the start-up's; unlike wall rates, the
count does not move with the other work on the machine.

    .venv/bin/python benchmarks/stages_micro.py [--batches 200] [--size 27] [--mode stages]
    .venv/bin/python benchmarks/stages_micro.py --callgrind [--batches 200]

``--callgrind`` runs both modes at N and 2N under ``valgrind --tool=callgrind`` and prints
instructions a batch and a message, and the stages' share (stages - off).
"""

from __future__ import annotations

import argparse
import gc
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from router.model.limits import Limit, LimitBook, operator_key  # noqa: E402
from router.model.lines import Line, LineBook  # noqa: E402
from router.model.numbersets import ListSnapshot, NumberSet  # noqa: E402
from router.model.wallets import Wallets  # noqa: E402
from router.policy.addresses import Addresses  # noqa: E402
from router.policy.lists import ListRegistry  # noqa: E402
from router.policy.pipeline import Pipeline, StageKit  # noqa: E402
from router.policy.plans import Operators  # noqa: E402
from router.policy.rules import Rules  # noqa: E402
from router.policy.settings import PolicySettings, PriceSettings  # noqa: E402
from router.smpp import codec  # noqa: E402
from router.smpp.pdu import SubmitSm  # noqa: E402
from router.store.ids import MessageIds  # noqa: E402
from router.store.journal import SqliteJournal  # noqa: E402

ACCOUNT, LINE, DESTINATION = "test", "12345", "989120000000"  # smppload's defaults
BIG = 10**9
READ = 32
"""Carrier answers a read (they straddle the batches, as the sink's do)."""
BATCHES_A_COMMIT = 2
BATCHES_A_MILLISECOND = 6
"""At the relay's ~6,000 batches a second: ids jump at each new millisecond
(store/ids.py), counted here by batches so the run under callgrind (~50x slower) sees
the same ids."""


def _bodies(count: int) -> list[bytes]:
    """submit_sm bodies with smppload's tagged text."""
    return [bytes(codec.encode(SubmitSm(
        sequence=n, source_addr=LINE, source_addr_ton=1, source_addr_npi=1,
        destination_addr=DESTINATION, dest_addr_ton=1, dest_addr_npi=1,
        short_message=f"hello from smppload #{n:010d}".encode()))[16:])
        for n in range(count)]


def _pipeline(mode: str, wallets: Wallets) -> Pipeline:
    stages = ("lines", "throttle", "billing") if mode == "stages" else ("lines",)
    settings = PolicySettings(stages=stages, default_price=2, prices=(
        PriceSettings(kind="advertising", operator="IR-MCI", price=1),))
    addresses = Addresses(settings, Operators.load(settings.prefix_folder()))
    limits = LimitBook(
        accounts={ACCOUNT: Limit(BIG, BIG, 10**12, 10**12)}, lines={LINE: Limit(BIG, BIG)},
        operators={operator_key(ACCOUNT, "IR-MCI"): Limit(BIG, BIG)}) \
        if mode == "stages" else LimitBook()
    lists = ListRegistry(ListSnapshot(blacklist=NumberSet(range(989_000_000_001,
                                                                 989_000_200_000, 2))))
    rules = Rules(LineBook([Line(number=LINE, account=ACCOUNT, kind="advertising")]),
                  lists, limits)
    return Pipeline(rules, StageKit(settings, addresses, None,  # type: ignore[arg-type]
                                    wallets=wallets))


def run(mode: str, batches: int, size: int) -> float:
    """The per-batch path ``batches`` times; returns the seconds it took."""
    wallets = Wallets({ACCOUNT: 10**15})
    pipeline = _pipeline(mode, wallets)
    billed = mode == "stages"
    bodies = _bodies(size)
    folder = tempfile.mkdtemp(prefix="chapar-stages-micro-")
    journal = SqliteJournal(Path(folder) / "journal.db")
    next_id = MessageIds().peek()
    answered: list[int] = []
    gc.collect()  # as the router does once started (app/lifecycle.py)
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    started = time.perf_counter()
    for n in range(1, batches + 1):
        # scanned as the ESME side does: each batch's strings are objects of their own
        submits = list(map(codec.scan_submit, range(size), bodies))
        accepted, refused = pipeline.decide(ACCOUNT, submits)
        assert not refused
        first, next_id = next_id, next_id + len(accepted)
        if n % BATCHES_A_MILLISECOND == 0:
            next_id = ((next_id >> 16) + 1) << 16
        journal.add_batch(first, ACCOUNT, [s.body for s in accepted], time.time())
        costs = wallets.take_staged(accepted)
        if costs is not None:
            wallets.reserved(ACCOUNT, first, costs, accepted)
        answered += range(first, first + len(accepted))
        while len(answered) >= READ:
            read, answered = answered[:READ], answered[READ:]
            if billed and wallets.open:
                wallets.settle(read, [])
            journal.add_outcomes([(i, 0, "c", False) for i in read], "sink")
        if n % BATCHES_A_COMMIT == 0:
            if wallets.unwritten:
                journal.add_ledger(wallets.take_rows())
            journal.commit()
    elapsed = time.perf_counter() - started
    journal.close()
    shutil.rmtree(folder, ignore_errors=True)
    return elapsed


def _instructions(mode: str, batches: int, size: int) -> int:
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/cg.out",
             sys.executable, __file__, "--mode", mode, "--batches", str(batches),
             "--size", str(size)], capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    assert found is not None, done.stderr[-2000:]
    return int(found.group(1))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", type=int, default=200)
    p.add_argument("--size", type=int, default=27, help="submits a read batch (4x64: ~27)")
    p.add_argument("--mode", choices=("off", "stages"), default="stages")
    p.add_argument("--callgrind", action="store_true")
    args = p.parse_args()
    if not args.callgrind:
        seconds = run(args.mode, args.batches, args.size)
        print(f"{args.mode}: {seconds / args.batches * 1e6:.1f} µs a batch")
        return 0
    per_batch = {}
    for mode in ("off", "stages"):
        one = _instructions(mode, args.batches, args.size)
        two = _instructions(mode, 2 * args.batches, args.size)
        per_batch[mode] = (two - one) / args.batches
        print(f"{mode:7} {per_batch[mode]:10,.0f} instructions a batch, "
              f"{per_batch[mode] / args.size:8,.0f} a message")
    extra = per_batch["stages"] - per_batch["off"]
    print(f"stages' share {extra:10,.0f} instructions a batch, {extra / args.size:8,.0f} "
          f"a message")
    return 0


if __name__ == "__main__":
    sys.exit(main())
