"""The matcher's shortcuts change no verdict: the RE2 Set runs only when the automaton
saw a literal some regex starts with (or a regex has none), and the normaliser's two
regex steps run only when their cheap pre-checks hit (issue 13, speed)."""

from __future__ import annotations

import functools
import pickle
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.policy.content import matcher, normalise
from router.policy.content.matcher import SEP, RuleSet, leading_literals
from router.policy.content.normalise import STEPS, Normaliser, NormaliseSettings
from router.policy.content.rules import Category, Scope


@pytest.mark.parametrize(("pattern", "literals"), [
    (r"(shaparak|shaparac|bank)[\w-]*\.(xyz|top)", ("shaparak", "shaparac", "bank")),
    ("برنده.{0,30}(واریز|کارت به کارت)", ("برنده",)),
    (r"تجمع.{0,40}ساعت\s*\d{1,2}", ("تجمع",)),
    ("ab?c", ("a",)),
    ("abc{2}", ("ab",)),
    (r"x\.y", ("x",)),
    ("abc|def", None),
    ("a(b|c)|d", None),
    ("(a|b)?x", None),
    ("(?i)abc", None),
    ("[ab]c", None),
    ("^abc", None),
])
def test_leading_literals_are_conservative(pattern: str, literals: tuple[str, ...] | None,
                                           ) -> None:
    assert leading_literals(pattern) == literals


@pytest.mark.parametrize(("regexes", "text", "hit"), [
    ((r"برنده.{0,30}واریز",), "شما برنده شدید، مبلغ را واریز کنید", True),
    ((r"برنده.{0,30}واریز",), "مبلغ را واریز کنید", False),
    ((r"(bank|shaparak)[\w-]*\.(xyz|top)",), "login at shaparak-pay.top now", True),
    ((r"[ab]an[kc]\.top",), "visit bank.top", True),  # no literal: the Set runs always
    ((r"[ab]an[kc]\.top", "zzz"), "visit bank.top", True),
])
def test_regexes_still_hit_through_the_prefilter(regexes: tuple[str, ...], text: str,
                                                 hit: bool) -> None:
    rules = RuleSet.build([Category("x", "reject", ("نامربوط",), regexes)], Normaliser())
    assert (rules.verdict(text, "acc", "3000") is not None) is hit


_COLLAPSED = re.compile(r"([^\W\d_])\1+")
"""The repeats step as defined: a run of one letter becomes that letter (the router's
pattern removes each letter the same letter follows: the same result, faster)."""


def test_the_precheck_skips_change_no_normalised_text() -> None:
    rng = random.Random(13)
    alphabet = "ab ج.-_ 1 *و  ccدد\t|"
    norm = Normaliser()
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        full = _COLLAPSED.sub(r"\1", normalise._SPREAD.sub(normalise._join_spread, text))
        assert norm._tail(text, normalise._SPREAD_HINT.search,
                          normalise._collapse_wide) == full, text
    letters = "abAB .-_1 1 *c|x\t\x0b\x1c"
    for low, high in ((0, 14), (200, 260)):  # ASCII: by ``re``, and a batch's length by RE2
        for _ in range(20_000 if low == 0 else 3_000):
            text = "".join(rng.choice(letters) for _ in range(rng.randint(low, high)))
            full = _COLLAPSED.sub(r"\1", normalise._SPREAD.sub(normalise._join_spread,
                                                                text.lower()))
            assert norm.normalise(text) == full, text


def test_the_wide_precheck_skips_change_no_normalised_text() -> None:
    """Non-ASCII texts: the one RE2 pre-check for spread and repeated letters (exact over
    the scripts it lists, falling back to ``re`` outside them) changes no result."""
    rng = random.Random(31)
    alphabet = ("سسلام ت ج.م-ع  ۱۱ 11 ααβ жжи ππ . _ 中中文 \u00a0 \u2009x \u0640ٌ "
                "\x1c\u0660\u200cAa·•")
    full = Normaliser()
    before_tail = Normaliser(NormaliseSettings.only(
        *(s for s in STEPS if s not in ("spread", "repeats"))))
    for _ in range(30_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16)))
        pre = before_tail.normalise(text)
        expected = _COLLAPSED.sub(r"\1", normalise._SPREAD.sub(normalise._join_spread, pre))
        assert full.normalise(text) == expected, text


_MIXED = ("سسلام ت ج.م-ع  ۱۱ 11 ααβ жжи ππ . _ 中中文 國 \u00a0 \u2009x \u0640ٌ "
          "\x1c\u0660\u200cAa·•ﻼ ｆｒｅｅ ß İ bank.top 12 spam s.p.a.m")


_NORMALISER = Normaliser()  # built once: opencc loads its dictionaries each time


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.text(alphabet=_MIXED, max_size=24), max_size=8))
def test_a_batch_normalised_as_one_string_equals_each_normalised(texts: list[str]) -> None:
    """The batch scan's premise: no step changes, joins across or drops the separator, so
    normalising the joined batch is normalising each text."""
    norm = _NORMALISER
    assert norm.normalise(SEP.join(texts)) == SEP.join(norm.normalise(t) for t in texts)


@functools.cache
def _batch_rules() -> RuleSet:
    return RuleSet.build([
        Category("spam", "reject", ("spam", "free", "تجمع", "中文"), (r"bank[\w-]*\.top",)),
        Category("ads", "flag", ("سلام", "ab"), (r"12\s*\d",)),
        Category("loose", "quarantine", ("ααβ",), (r"[ab]a?\.top",),
                 allow=Scope(lines=frozenset({"3000"}))),
    ], _NORMALISER)


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet=_MIXED + "\0", max_size=30),
                          st.sampled_from(["3000", "1000"])), max_size=10))
def test_batch_verdicts_equal_one_by_one(batch: list[tuple[str, str]]) -> None:
    """``verdicts`` (one scan for the batch) decides every text as ``verdict`` does, also
    with regexes that need the RE2 Set on every text, a text holding the separator, hits
    at the first and last text, and per-line categories."""
    rules = _batch_rules()
    texts, lines = [t for t, _ in batch], [line for _, line in batch]
    assert rules.verdicts(texts, "acc", lines) == [
        rules.verdict(t, "acc", line) for t, line in batch]


def test_batch_verdicts_place_each_hit_on_its_text() -> None:
    rules = _batch_rules()
    verdicts = rules.verdicts(["hello", "free stuff", "ok", "bank-pay.top", "s p a m"],
                              "acc", ["1000"] * 5)
    assert [v.category if v else None for v in verdicts] == [
        None, "spam", None, "spam", "spam"]


def test_a_phrase_inside_another_of_another_category_hits_both() -> None:
    """The automaton reports overlapping matches: a category's phrase inside a longer
    phrase of another category is not hidden by it."""
    rules = RuleSet.build([Category("long", "flag", ("free money",), ()),
                           Category("short", "reject", ("money",), ())], Normaliser())
    assert rules.hit_categories(rules.normaliser.normalise("get free money now")) == {0, 1}
    verdict = rules.verdicts(["ok", "get free money now"], "acc", ["1", "1"])[1]
    assert verdict is not None and verdict.action == "reject"
    assert verdict.categories == ("long", "short")


def test_phrases_normalised_in_chunks_equal_each_normalised() -> None:
    """A rebuild normalises the phrases a chunk per call (less GIL held from the event
    loop); each key is the phrase's own normalisation, across chunk boundaries and with
    a phrase holding the separator (that chunk one by one)."""
    rng = random.Random(7)
    phrases = tuple("".join(rng.choice(_MIXED + "\0") for _ in range(rng.randint(1, 12)))
                    if i % 400 == 5 else
                    "".join(rng.choice(_MIXED) for _ in range(rng.randint(1, 12)))
                    for i in range(2 * matcher.BUILD_CHUNK + 77))
    assert matcher.normalised_each(_NORMALISER, phrases) == [
        _NORMALISER.normalise(p).replace(SEP, "") for p in phrases]


_WORDS = ["spam", "free", "تجمع", "中文", "money", "bank", "سلام", "win", "prize", "ab"]


@settings(max_examples=200, deadline=None)
@given(groups=st.lists(st.lists(st.sampled_from(_WORDS), max_size=5), min_size=1, max_size=4),
       texts=st.lists(st.lists(st.sampled_from([*_WORDS, "x", "s.p.a.m", "bank-pay.top",
                                                "spaam", "中文字"]), max_size=6)
                      .map(" ".join), max_size=6))
def test_rules_built_in_a_child_process_decide_as_those_built_here(
        groups: list[list[str]], texts: list[str]) -> None:
    """A reload builds the rules in a child process and they come back pickled (the
    automaton as its serialised double array, the RE2 Set made again): every text gets
    the hits, verdicts and explanations of the rules as built."""
    categories = [Category(f"c{i}", "reject" if i % 2 else "flag", tuple(words),
                           (r"bank[\w-]*\.top",) if i == 0 else ())
                  for i, words in enumerate(groups)]
    built = RuleSet.build(categories, _NORMALISER)
    restored = pickle.loads(pickle.dumps(built))
    lines = ["1000"] * len(texts)
    assert restored.verdicts(texts, "acc", lines) == built.verdicts(texts, "acc", lines)
    for text in texts:
        normalised = _NORMALISER.normalise(text)
        assert restored.hit_categories(normalised) == built.hit_categories(normalised)
        assert restored.explain(normalised) == built.explain(normalised)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.lists(st.sampled_from([*_WORDS, "x", "spaam", "中文字", "ab ab"]),
                         max_size=6).map(" ".join), min_size=1, max_size=6))
def test_a_batch_hits_exactly_the_keys_that_occur_in_each_text(texts: list[str]) -> None:
    """The automaton's overlapping matches, placed on the texts of a joined batch: each
    text's categories are exactly those of the keys that occur in it (``in``, key by key),
    Latin, Persian and Chinese, a key inside another."""
    categories = [Category(f"c{i}", "flag", tuple(_WORDS[i::3]), ()) for i in range(3)]
    rules = RuleSet.build(categories, _NORMALISER)
    keys = {_NORMALISER.normalise(w): i for i, c in enumerate(categories) for w in c.phrases}
    found = rules.hits_of(texts)
    for index, text in enumerate(texts):
        normalised = _NORMALISER.normalise(text)
        assert found.get(index, set()) == {i for key, i in keys.items() if key in normalised}
