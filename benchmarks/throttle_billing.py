"""What the throttle and billing stages cost: the relay benchmark's Chapar with both
stages on (limits far above the load, so nothing is refused) against Chapar with them
off, in the same run, locally and with the limits and balances shared through Redis
(issue 11: at most 8 % loss locally, 15 % with Redis).

    .venv/bin/python benchmarks/throttle_billing.py [--rounds 3] [--duration 5]
        [--no-redis] [--profile DIR]

Both run `benchmarks/relay.py`'s measurement (smppsink carrier, smppload 4x64 then 1x1,
pinned CPUs, per-message checks, the 1 M blacklist): "stages" adds
``policy.stages: [lines, throttle, billing]``, token buckets on the account, its line
and account x IR-MCI (smppload's destination), a daily quota, per-operator prices, and a
topup.  The order of the two rotates between rounds; the summary gives the medians and
the loss of msg/s.  "redis" is "stages" with ``redis.url`` set: a redis-server of its
own (Debian's binary, 127.0.0.1, a free port, no persistence, pinned to CPU 1 beside the
load generator), a fresh key prefix a run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from project_python import use_project_python

BIG = 10**9
STAGES = (
    ("policy", {"stages": ["lines", "throttle", "billing"], "default_price": 2,
                "prices": [{"kind": "advertising", "operator": "IR-MCI", "price": 1}]}),
    ("accounts", {"rate": BIG, "burst": BIG, "daily": 10**12, "monthly": 10**12,
                  "status_style": "vendor",  # a refusal says which limit
                  "operator_limits": [{"operator": "IR-MCI", "rate": BIG, "burst": BIG}]}),
    ("lines", {"rate": BIG, "burst": BIG}),
)


@contextlib.contextmanager
def redis_server(relay: object) -> Iterator[str | None]:
    """A redis-server for the run (its URL), or None when there is none to start."""
    binary = shutil.which("redis-server") or "/usr/sbin/redis-server"
    if not Path(binary).exists():
        yield None
        return
    port = relay.free_port()  # type: ignore[attr-defined]
    folder = tempfile.mkdtemp(prefix="chapar-bench-redis-")
    proc = subprocess.Popen([*relay.pin_prefix(1), binary, "--port", str(port),  # type: ignore[attr-defined]
                             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", folder], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    use_project_python()
    import relay

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--json", type=Path)
    p.add_argument("--no-redis", action="store_true", help="local mode only")
    p.add_argument("--profile", type=Path, metavar="DIR",
                   help="py-spy each router during 4x64 (raw stacks, one file a run)")
    mine = p.parse_args(argv)
    args, password_hash = relay.prepared(mine.rounds, mine.duration, mine.profile)
    results = []
    with contextlib.ExitStack() as stack:
        url = None if mine.no_redis else stack.enter_context(redis_server(relay))
        if not mine.no_redis and url is None:
            print("WARNING: no redis-server: local mode only (apt-get install redis-server)")
        names = ["off", "stages"] + (["redis"] if url else [])
        for rnd in range(1, args.rounds + 1):
            targets = [relay.Target("off", "chapar"),
                       relay.Target("stages", "chapar", extra=STAGES, topup=10**15)]
            if url:
                shared = ("redis", {"url": url, "prefix": f"bench{rnd}-{time.time_ns()}"})
                # a new Redis (a new prefix) leases no money at a store's first report
                # (the other stores must report first), and the router asks again
                # NO_MONEY_RETRY (0.2 s) later: its first 0.2 s refused as
                # balance_elsewhere (0x58) what the warm-up sent
                targets.append(relay.Target("redis", "chapar", extra=(*STAGES, shared),
                                            topup=10**15, settle=0.5))
            relay.measure_in_turn(targets if rnd % 2 else targets[::-1], rnd, args,
                                  password_hash, results)
    meds = {name: relay.medians(results, name) for name in names}
    losses: dict[str, float | None] = {}
    for name, target_pct in (("stages", 8), ("redis", 15)):
        if name not in meds:
            continue
        ratio = relay.msg_s_ratio(meds[name], meds["off"])
        losses[name] = None if ratio is None else 100.0 * (1.0 - ratio)
        if losses[name] is not None:
            print(f"loss {name}: {losses[name]:.1f} % (target <= {target_pct} %)")
    for name, med in meds.items():
        print(f"{name:8} msg/s {med['msg_s']:,.0f}  p99 4x64 {med['p99_us']:,.0f} µs  "
              f"p50 1x1 {med['lat_p50_us']:,.0f} µs")
    loss = losses.get("stages")
    warnings = [w for m in results for w in m.warnings]
    out = relay.BENCH / "out"
    out.mkdir(exist_ok=True)
    path = mine.json or out / f"throttle_billing-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"medians": meds, "loss_pct": loss,
                                "redis_loss_pct": losses.get("redis"), "warnings": warnings,
                                "rounds": [asdict(m) for m in results]}, indent=2) + "\n")
    print(f"summary: {path}")
    return 1 if warnings else 0


if __name__ == "__main__":
    sys.exit(main())
