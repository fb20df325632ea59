"""What the routing table costs: the relay benchmark's Chapar with 3 upstreams and a
20-rule table against Chapar with one upstream and no table, in the same run (issue 12:
at most 5 % loss).

    .venv/bin/python benchmarks/routing.py [--rounds 3] [--duration 5] [--profile DIR]

Both run `benchmarks/relay.py`'s measurement (smppsink carrier, smppload 4x64 then 1x1,
pinned CPUs, per-message checks, the 1 M blacklist).  "routing" has three upstream
entries on the same sink and 20 rules: 19 that smppload's traffic (account ``test``,
line 12345, destination 989120000000) does not match, of every kind (accounts, sources,
line kind, prefixes, operators, a time window), then an IR-MCI operator rule to a
weighted group over the three: each batch pays the per-source decider lookup, the
destination lookup per message and the weighted split.  The order of the two rotates
between rounds; the summary gives the medians and the loss of msg/s.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from project_python import use_project_python

GROUPS = [
    {"name": "one", "upstreams": ["sink"], "strategy": "failover"},
    {"name": "pair", "upstreams": ["sink2", "sink3"], "strategy": "round_robin"},
    {"name": "back", "upstreams": ["sink3", "sink2", "sink"], "strategy": "failover"},
    {"name": "split", "upstreams": ["sink", "sink2", "sink3"], "strategy": "weighted",
     "weights": [2, 1, 1]},
]
RULES = [
    *({"name": f"reseller-{i}", "accounts": [f"other{i}"], "group": "pair"} for i in range(6)),
    {"name": "gold", "account_groups": ["gold"], "group": "one"},
    {"name": "banks", "sources": ["50001", "50002", "50003"], "group": "one"},
    {"name": "otp-lines", "sources": ["30001", "30002"], "group": "back"},
    {"name": "service", "line_kinds": ["service"], "group": "back"},
    {"name": "night", "accounts": ["other9"], "hours": "01:00-05:00", "group": "pair"},
    {"name": "china-mobile", "prefixes": ["86134", "86135", "86138", "86139"], "group": "pair"},
    {"name": "china", "prefixes": ["86"], "group": "back"},
    {"name": "irancell", "operators": ["Irancell"], "group": "pair"},
    {"name": "rightel", "operators": ["Rightel"], "group": "back"},
    {"name": "mtce", "operators": ["MTCE"], "group": "one"},
    {"name": "taliya", "operators": ["Taliya"], "group": "one"},
    {"name": "shatel", "prefixes": ["989981", "989982"], "group": "pair"},
    {"name": "mci", "operators": ["IR-MCI"], "group": "split"},
    {"name": "rest", "group": "one"},
]
ROUTING = ("routing", {"groups": GROUPS, "rules": RULES,
                       "account_groups": [{"name": "gold", "accounts": ["vip1", "vip2"]}]})


def main(argv: list[str] | None = None) -> int:
    use_project_python()
    import relay

    assert len(RULES) == 20
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--json", type=Path)
    p.add_argument("--three", action="store_true",
                   help="also three upstreams without a routing table")
    p.add_argument("--profile", type=Path, metavar="DIR",
                   help="py-spy each router during 4x64 (raw stacks, one file a run)")
    mine = p.parse_args(argv)
    args, password_hash = relay.prepared(mine.rounds, mine.duration, mine.profile)
    targets = [relay.Target("one", "chapar"),
               relay.Target("routing", "chapar", extra=(ROUTING,), upstreams=3)]
    if mine.three:  # where the cost is: three connections alone, no table
        targets.append(relay.Target("three", "chapar", upstreams=3))
    results = []
    for rnd in range(1, args.rounds + 1):
        shift = (rnd - 1) % len(targets)
        relay.measure_in_turn(targets[shift:] + targets[:shift], rnd, args, password_hash,
                              results)
    meds = {t.name: relay.medians(results, t.name) for t in targets}
    ratio = relay.msg_s_ratio(meds["routing"], meds["one"])
    if "three" in meds:
        three = relay.msg_s_ratio(meds["three"], meds["one"])
        print(f"three upstreams, no table / one: {three:.3f}" if three else "")
    loss = None if ratio is None else 100.0 * (1.0 - ratio)
    per_round = [r.msg_s / o.msg_s for o in results if o.sut == "one" and o.msg_s
                 for r in results if r.sut == "routing" and r.round == o.round]
    for name, med in meds.items():
        print(f"{name:8} msg/s {med['msg_s']:,.0f}  p99 4x64 {med['p99_us']:,.0f} µs  "
              f"p50 1x1 {med['lat_p50_us']:,.0f} µs")
    if loss is not None:
        print(f"loss with routing (3 upstreams, 20 rules): {loss:.1f} % (target <= 5 %); "
              f"ratio per round: {', '.join(f'{r:.3f}' for r in per_round)}")
    warnings = [w for m in results for w in m.warnings]
    out = relay.BENCH / "out"
    out.mkdir(exist_ok=True)
    path = mine.json or out / f"routing-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"medians": meds, "loss_pct": loss, "per_round": per_round,
                                "warnings": warnings,
                                "rounds": [asdict(m) for m in results]}, indent=2) + "\n")
    print(f"summary: {path}")
    return 1 if warnings else 0


if __name__ == "__main__":
    sys.exit(main())
