"""What the throttle and billing stages cost: the relay benchmark's Chapar with both
stages on (limits far above the load, so nothing is refused) against Chapar with them
off, in the same run (issue 11: at most 8 % loss locally).

    .venv/bin/python benchmarks/throttle_billing.py [--rounds 3] [--duration 5] [--profile DIR]

Both run `benchmarks/relay.py`'s measurement (smppsink carrier, smppload 4x64 then 1x1,
pinned CPUs, per-message checks, the 1 M blacklist): "stages" adds
``policy.stages: [lines, throttle, billing]``, token buckets on the account, its line
and account x IR-MCI (smppload's destination), a daily quota, per-operator prices, and a
topup.  The order of the two rotates between rounds; the summary gives the medians and
the loss of msg/s.  Local mode only (the Redis mode is not built yet).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from project_python import use_project_python

BIG = 10**9
STAGES = (
    ("policy", {"stages": ["lines", "throttle", "billing"], "default_price": 2,
                "prices": [{"kind": "advertising", "operator": "IR-MCI", "price": 1}]}),
    ("accounts", {"rate": BIG, "burst": BIG, "daily": 10**12, "monthly": 10**12,
                  "operator_limits": [{"operator": "IR-MCI", "rate": BIG, "burst": BIG}]}),
    ("lines", {"rate": BIG, "burst": BIG}),
)


def main(argv: list[str] | None = None) -> int:
    use_project_python()
    import relay

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--json", type=Path)
    p.add_argument("--profile", type=Path, metavar="DIR",
                   help="py-spy each router during 4x64 (raw stacks, one file a run)")
    args = relay.parse_args(["--rounds", "1"])
    mine = p.parse_args(argv)
    args.rounds, args.duration, args.profile = mine.rounds, mine.duration, mine.profile
    relay.ensure_tools()
    sys.path.insert(0, str(relay.REPO))
    from router.policy.auth import hash_password

    password_hash = hash_password(relay.PASSWORD)
    targets = [relay.Target("off", "chapar"),
               relay.Target("stages", "chapar", extra=STAGES, topup=10**15)]
    results = []
    for rnd in range(1, args.rounds + 1):
        order = targets if rnd % 2 else targets[::-1]
        for target in order:
            m = relay.measure(target, rnd, args, password_hash)
            results.append(m)
            print(relay.row(relay.fmt(m)), flush=True)
            for w in m.warnings:
                print(f"WARNING: {w}")
    meds = {t.name: relay.medians(results, t.name) for t in targets}
    ratio = relay.msg_s_ratio(meds["stages"], meds["off"])
    loss = None if ratio is None else 100.0 * (1.0 - ratio)
    for name, med in meds.items():
        print(f"{name:8} msg/s {med['msg_s']:,.0f}  p99 4x64 {med['p99_us']:,.0f} µs  "
              f"p50 1x1 {med['lat_p50_us']:,.0f} µs")
    if loss is not None:
        print(f"loss with throttle + billing: {loss:.1f} % (target <= 8 %)")
    warnings = [w for m in results for w in m.warnings]
    out = relay.BENCH / "out"
    out.mkdir(exist_ok=True)
    path = mine.json or out / f"throttle_billing-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"medians": meds, "loss_pct": loss, "warnings": warnings,
                                "rounds": [asdict(m) for m in results]}, indent=2) + "\n")
    print(f"summary: {path}")
    return 1 if warnings else 0


if __name__ == "__main__":
    sys.exit(main())
