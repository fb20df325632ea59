"""``chapar explain`` as an operator runs it: the verdict and the rule that decided it,
from the registry, without sending or recording anything."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from router.model.lines import Line
from router.store.lines import LineStore
from tests.conftest import ROOT
from tests.integration.cli.support import EXIT_USAGE, ok, write_csv
from tests.integration.cli.support import registry_chapar as chapar


def lines(registry_path: Path) -> None:
    with LineStore(registry_path) as store:
        store.add_line(Line(number="3000", account="acme"))
        store.add_line(Line(number="2000", account="bank", kind="service"))
        store.add_line(Line(number="2001", account="bank", kind="service",
                            exemption="bank_transaction"))


def explain(config: Path, *args: str) -> tuple[int, dict[str, object]]:
    done = chapar("explain", *args, "--json", config=config)
    assert done.returncode in (0, 1), done.stderr
    answer: dict[str, object] = json.loads(done.stdout)
    return done.returncode, answer


def decisive(answer: dict[str, object]) -> list[str]:
    rules = answer["rules"]
    assert isinstance(rules, list)
    return [r["rule"] for r in rules if r["decisive"]]


def test_each_rule_that_decides(config: Path, registry_path: Path, tmp_path: Path) -> None:
    lines(registry_path)
    ok("lists", "import", "blacklist", str(write_csv(tmp_path / "b.csv", [["09121111111"]])),
       config=config)
    cases = [
        (("acme", "3000", "989122222222", "hello"), 0, None, []),
        (("acme", "3000", "989121111111"), 1, "blacklisted", ["blacklist"]),
        (("acme", "2000", "989122222222"), 1, "not_own_line", ["line"]),
        (("bank", "2000", "989122222222"), 1, "not_in_whitelist", ["whitelist"]),
        (("bank", "2001", "989122222222"), 0, None, []),
        (("acme", "3000", "12"), 1, "invalid_destination", ["destination"]),
    ]
    for args, code, reason, rules in cases:
        got, answer = explain(config, *args)
        assert (got, answer["reason"], decisive(answer)) == (code, reason, rules), args
    ok("lines", "suspend", "3000", config=config)
    _, answer = explain(config, "acme", "3000", "989122222222")
    assert answer["reason"] == "line_suspended" and decisive(answer) == ["line_status"]
    # the explanation did not count a violation for the service line
    with LineStore(registry_path) as store:
        assert store.violation_counts(0) == {}


def test_human_output_and_bad_input(config: Path, registry_path: Path) -> None:
    lines(registry_path)
    done = chapar("explain", "acme", "3000", "989122222222", "سلام " * 30, config=config)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ACCEPT")
    assert "segments: 3 (data_coding 8" in done.stdout
    done = chapar("explain", "acme", "3000", "989122222222", "سلام", "--coding", "0",
                  config=config)
    assert done.returncode == EXIT_USAGE and done.stderr.startswith("chapar: text:")


def test_content_hits_are_explained(config: Path, registry_path: Path) -> None:
    """requirements §3: the explanation names the content category a text hits and the
    action it takes (held for review, or refused)."""
    lines(registry_path)
    settings = yaml.safe_load(config.read_text())
    settings["policy"]["stages"] = ["lines", "content"]
    settings["policy"]["content_dir"] = str(ROOT / "config" / "content")
    config.write_text(yaml.safe_dump(settings))
    done = chapar("explain", "acme", "3000", "989122222222", "تبریک! شما برنده جایزه شدید",
                  config=config)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ACCEPT, HELD for review (quarantine: fake_prizes_jobs")
    assert "HOLD content" in done.stdout
    _, answer = explain(config, "acme", "3000", "989122222222", "hello")
    rules = answer["rules"]
    assert isinstance(rules, list)
    assert [r["result"] for r in rules if r["rule"] == "content"] == ["pass"]
