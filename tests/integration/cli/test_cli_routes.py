"""``chapar routes test|show`` and ``chapar check-config`` on a routing table: the group a
message would take and each rule's verdict, from the config and the registry's lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.integration.cli.support import EXIT_CONFIG, chapar, ok, refused

ROUTING: dict[str, Any] = {
    "groups": [{"name": "mci", "upstreams": ["a", "b"], "strategy": "failover"},
               {"name": "mtn", "upstreams": ["c"]},
               {"name": "split", "upstreams": ["a", "c"], "strategy": "weighted",
                "weights": [3, 1]}],
    "account_groups": [{"name": "gold", "accounts": ["acme"]}],
    "rules": [{"name": "night", "account_groups": ["gold"], "hours": "01:00-05:00",
               "group": "split"},
              {"name": "service-mci", "line_kinds": ["service"], "operators": ["IR-MCI"],
               "group": "mci"},
              {"name": "irancell", "prefixes": ["9893", "9890"], "group": "mtn"}],
    "default_group": "split",
}


def with_routing(config: Path, routing: dict[str, Any]) -> Path:
    data = yaml.safe_load(config.read_text())
    data["upstreams"] = [{"name": n, "port": 2800 + i} for i, n in enumerate("abc")]
    data["routing"] = routing
    data["lines"] = [{"number": "3000", "account": "acme", "kind": "service"}]
    config.write_text(yaml.safe_dump(data))
    return config


def test_routes_test_names_the_group_and_why(config: Path) -> None:
    with_routing(config, ROUTING)
    out = ok("routes", "test", "--account", "acme", "--from", "3000", "--to", "09121234567",
             "--at", "2026-11-30T10:00", config=config)
    lines = out.splitlines()
    assert lines[0] == "route: group 'mci' (failover ['a', 'b']) via rule 2 (service-mci)"
    assert "-> '989121234567', operator IR-MCI; line kind service; local time 10:00" in lines[1]
    assert lines[2].strip() == "rule 1 (night): no, outside its hours"
    assert lines[3].strip() == "rule 2 (service-mci): yes -> group 'mci'"
    night = json.loads(ok("routes", "test", "--account", "acme", "--from", "3000", "--to",
                          "989351234567", "--at", "2026-11-30T03:00", "--json", config=config))
    assert (night["group"], night["rule"], night["rule_name"]) == ("split", 1, "night")
    other = ok("routes", "test", "--account", "bank", "--from", "3000", "--to", "989351234567",
               "--at", "2026-11-30T10:00", config=config).splitlines()
    assert other[0] == "route: group 'mtn' (failover ['c']) via rule 3 (irancell)"
    assert "line kind 'unknown' is not one of ['service']" in other[3]  # not bank's line
    assert "account 'bank' is not one of ['acme']" in other[2]


def test_routes_show_lists_the_table(config: Path) -> None:
    with_routing(config, ROUTING)
    out = ok("routes", "show", config=config).splitlines()
    assert out[2] == "group 'split' (weighted [('a', 3), ('c', 1)])"
    assert out[4] == "rule 2 (service-mci): line_kinds ['service']; operators ['IR-MCI'] -> 'mci'"
    assert out[-1] == "otherwise -> 'split' (weighted [('a', 3), ('c', 1)])"


def test_a_table_that_cannot_work_is_refused(config: Path) -> None:
    bad = {**ROUTING, "rules": [{"operators": ["Vodafone"], "group": "mci"}]}
    with_routing(config, bad)
    refused("routes", "show", config=config, words="unknown operator 'Vodafone'")
    done = chapar("check-config", str(config))
    assert done.returncode == EXIT_CONFIG and "routing.rules[0].operators" in done.stderr
    with_routing(config, {**ROUTING, "default_group": "nowhere"})
    done = chapar("check-config", str(config))
    assert done.returncode == EXIT_CONFIG
    assert "routing.default_group: no group named 'nowhere'" in done.stderr
