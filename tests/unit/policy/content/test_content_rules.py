"""Rules by category (issue 13 item 3): YAML files under config/content/, one matcher for
the phrases and one RE2 Set for the regexes, overrides per account and line, the
strictest action winning, and a bad file refused with a readable error.

requirements.md §3: "Rules are keyword/phrase lists and regular expressions grouped by
category, each with an action: reject, hold for human review (quarantine), or flag."
"""

from __future__ import annotations

from pathlib import Path

import pytest

from router.policy.content.matcher import RuleSet
from router.policy.content.normalise import Normaliser
from router.policy.content.rules import Category, RuleError, Scope, load_folder

SHIPPED = Path(__file__).resolve().parents[4] / "config" / "content"


def _rules(*categories: Category) -> RuleSet:
    return RuleSet.build(list(categories), Normaliser())


def test_shipped_starter_sets_load_and_are_marked() -> None:
    """The seeds' categories ship as starters in Persian and Chinese."""
    categories = load_folder(SHIPPED)
    assert {c.name for c in categories} >= {"protest_calls", "bank_fraud", "illegal_sales",
                                             "obscene_gambling", "fake_prizes_jobs"}
    assert all(c.starter for c in categories)
    rules = RuleSet.build(categories, Normaliser())
    verdict = rules.verdict("فردا دعوت به تـجـمّـع مي\u200cكنيم", "acme", "1000")
    assert verdict is not None and verdict.action == "reject"
    assert verdict.category == "protest_calls"
    traditional = rules.verdict("【商城】網上賭場 註冊送錢", "acme", "1000")
    assert traditional is not None and traditional.category == "obscene_gambling"


VERDICTS = [
    ("hello world", None),
    ("cheap loan now", "flag"),
    ("you won a car, call", "quarantine"),
    ("buy guns and cheap loan", "reject"),  # the strictest action wins
    ("B.U.Y G.U.N.S", None),  # spread letters join into one word: "buyguns"
    ("buy   gunns", None),
    ("prize 1000 usd", "quarantine"),  # regex
]


@pytest.mark.parametrize(("text", "action"), VERDICTS)
def test_actions_and_the_strictest_wins(text: str, action: str | None) -> None:
    """requirements.md §3: each category has its action; several hits take the strictest."""
    rules = _rules(Category("weapons", "reject", ("buy guns",), ()),
                   Category("prizes", "quarantine", ("you won",), (r"prize\s*\d{3,}",)),
                   Category("loans", "flag", ("cheap loan",), ()))
    verdict = rules.verdict(text, "acme", "1000")
    assert (verdict.action if verdict else None) == action


def test_allow_and_deny_overrides_per_account_and_line() -> None:
    """Issue 13 item 3: per-account and per-line allow/deny overrides."""
    rules = _rules(
        Category("medical", "reject", ("pills",), (), allow=Scope(frozenset({"pharma"}),
                                                                  frozenset({"3000"}))),
        Category("acme_only", "flag", ("discount",), (), deny=Scope(frozenset({"acme"}))))
    assert rules.verdict("pills", "other", "1000") is not None
    assert rules.verdict("pills", "pharma", "1000") is None
    assert rules.verdict("pills", "other", "3000") is None
    assert rules.verdict("discount", "acme", "1000") is not None
    assert rules.verdict("discount", "other", "1000") is None


def test_explain_lists_every_hit_with_its_position() -> None:
    rules = _rules(Category("weapons", "reject", ("guns",), (r"am+o\d+",)))
    normalised = rules.normaliser.normalise("GUNS and ammo45")
    hits = rules.explain(normalised)
    assert [(h.kind, h.pattern, h.position) for h in hits] == [
        ("phrase", "guns", 0), ("regex", r"am+o\d+", 9)]


BAD_FILES = [
    ("name: x\naction: delete\n", "action must be one of reject, quarantine, flag"),
    ("action: reject\n", "name is required"),
    ("name: x\naction: reject\nregexes: ['(unclosed']\n", "is not a valid RE2 pattern"),
    ("name: x\naction: reject\nphrases: nope\n", "phrases must be a list of strings"),
    ("name: x\naction: reject\ncolour: red\n", "unknown key(s) colour"),
    ("name: x\naction: reject\nallow: {people: [a]}\n", "allow takes only"),
    ("- just\n- a list\n", "a category file is a mapping"),
    ("name: [unclosed\n", "cannot be read"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_a_bad_file_is_refused_with_a_readable_error(tmp_path: Path, text: str,
                                                     message: str) -> None:
    """Issue 13 item 3: a bad file is refused with a readable error naming it."""
    (tmp_path / "bad.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(RuleError) as caught:
        load_folder(tmp_path)
    assert message in str(caught.value)
    assert "bad.yaml" in str(caught.value)


def test_the_same_category_twice_is_refused(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.yaml").write_text("name: x\naction: flag\n", encoding="utf-8")
    with pytest.raises(RuleError, match="also in"):
        load_folder(tmp_path)
