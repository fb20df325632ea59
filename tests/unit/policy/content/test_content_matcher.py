"""The matcher's shortcuts change no verdict: the RE2 Set runs only when the automaton
saw a literal some regex starts with (or a regex has none), and the normaliser's two
regex steps run only when their cheap pre-checks hit (issue 13, speed)."""

from __future__ import annotations

import functools
import random
import re
from dataclasses import astuple

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
@given(before=st.lists(st.lists(st.sampled_from(_WORDS), max_size=5), min_size=1, max_size=4),
       after=st.lists(st.lists(st.sampled_from(_WORDS), max_size=5), min_size=1, max_size=4),
       texts=st.lists(st.lists(st.sampled_from([*_WORDS, "x", "s.p.a.m", "bank-pay.top",
                                                "spaam", "中文字"]), max_size=6)
                      .map(" ".join), max_size=6),
       most=st.sampled_from([0, 2, 5_000]))
def test_a_reload_that_keeps_the_automaton_decides_as_a_fresh_build(
        before: list[list[str]], after: list[list[str]], texts: list[str], most: int) -> None:
    """A reload keeps the last automaton when few keys changed (a second one holds the
    added keys; a dropped key's hits are ignored; categories renumbered): every text gets
    the hits, verdicts and explanations of rules built afresh; more changes than
    ``DELTA_MOST`` rebuild it whole."""
    def rules(groups: list[list[str]], previous: RuleSet | None = None) -> RuleSet:
        categories = [Category(f"c{i}", "reject" if i % 2 else "flag", tuple(words),
                               (r"bank[\w-]*\.top",) if i == 0 else ())
                      for i, words in enumerate(groups)]
        return RuleSet.build(categories, _NORMALISER, previous)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matcher, "DELTA_MOST", most)
        fresh, kept = rules(after), rules(after, rules(before))
    lines = ["1000"] * len(texts)
    assert kept.verdicts(texts, "acc", lines) == fresh.verdicts(texts, "acc", lines)
    for text in texts:
        normalised = _NORMALISER.normalise(text)
        assert kept.hit_categories(normalised) == fresh.hit_categories(normalised)
        assert sorted(map(astuple, kept.explain(normalised))) == sorted(
            map(astuple, fresh.explain(normalised)))
    assert len(kept._scanners) <= (2 if most else 1)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.lists(st.sampled_from([*_WORDS, "x", "spaam", "中文字", "ab ab"]),
                         max_size=6).map(" ".join), min_size=1, max_size=6))
def test_an_ascii_batch_scanned_by_the_narrow_automaton_hits_every_key_it_holds(
        texts: list[str]) -> None:
    """An ASCII batch is scanned by the automaton of the ASCII keys alone: each text's
    categories are exactly those of the keys that occur in it (``in``, key by key), for
    ASCII batches and batches with a Persian or Chinese text among them."""
    categories = [Category(f"c{i}", "flag", tuple(_WORDS[i::3]), ()) for i in range(3)]
    rules = RuleSet.build(categories, _NORMALISER)
    assert rules._scanners[0].narrow is not None
    keys = {_NORMALISER.normalise(w): i for i, c in enumerate(categories) for w in c.phrases}
    found = rules.hits_of(texts)
    for index, text in enumerate(texts):
        normalised = _NORMALISER.normalise(text)
        assert found.get(index, set()) == {i for key, i in keys.items() if key in normalised}
