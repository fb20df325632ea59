"""Normalisation before content matching, one table per step (issue 13 item 2).

requirements.md §3: "A content filter runs on every message, after text decoding ... and
normalisation that defeats simple evasion (Arabic vs Persian letter forms, zero-width
characters, diacritics, spacing, digit forms)"; domain.md (b) "Content rules" lists the
folds.  Each row: the step alone on, the input, what it must become.  A last table runs
every step together on evasions of a forbidden phrase.
"""

from __future__ import annotations

import pytest

from router.policy.content.normalise import STEPS, Normaliser, NormaliseSettings

STEP_CASES: list[tuple[str, str, str]] = [
    # letters: Arabic forms -> Persian, hamza forms folded
    ("letters", "علي", "علی"),
    ("letters", "كتاب", "کتاب"),
    ("letters", "مدرسة", "مدرسه"),
    ("letters", "أإآ", "ااا"),
    ("letters", "مسئول", "مسیول"),
    ("letters", "مؤمن", "مومن"),
    # zero-width and bidi marks
    ("zero_width", "می\u200cکنیم", "میکنیم"),
    ("zero_width", "تج\u200dمع", "تجمع"),
    ("zero_width", "ت\u200bجمع\u200f\u202b", "تجمع"),
    ("zero_width", "spa\u00adm\ufeff", "spam"),
    # tatweel
    ("tatweel", "تــجــمــع", "تجمع"),
    # diacritics (harakat)
    ("diacritics", "تَجَمُّع", "تجمع"),
    ("diacritics", "مُحَمَّدٌ", "محمد"),
    # digits: Persian and Arabic-Indic; full-width via NFKC
    ("digits", "ساعت ۱۰", "ساعت 10"),
    ("digits", "٠١٢٣٤٥٦٧٨٩", "0123456789"),
    ("nfkc", "１２３", "123"),
    # full-width vs half-width Latin, Arabic presentation forms
    ("nfkc", "ＦＲＥＥ", "FREE"),
    ("nfkc", "\ufefb", "\u0644\u0627"),
    # traditional -> simplified Chinese (opencc)
    ("chinese", "發票", "发票"),
    ("chinese", "賭博網站", "赌博网站"),
    # case folding
    ("casefold", "FrEe", "free"),
    ("casefold", "STRASSE", "strasse"),
    # look-alike Cyrillic / Greek letters
    ("confusables", "рaураl", "paypal"),
    ("confusables", "bаnk", "bank"),
    ("confusables", "ΒΑΝΚ", "bank"),
    # letters spread by spaces, dots, dashes
    ("spread", "s.p.a.m", "spam"),
    ("spread", "f-r-e-e now", "free now"),
    ("spread", "ت ج م ع", "تجمع"),
    ("spread", "کتاب و دفتر", "کتاب و دفتر"),  # a lone "and" between words stays
    # repeated letters (amounts keep their zeros)
    ("repeats", "freeeee", "fre"),
    ("repeats", "تجمممممع", "تجمع"),
    ("repeats", "1000", "1000"),
]


@pytest.mark.parametrize(("step", "text", "expected"), STEP_CASES)
def test_each_step_alone(step: str, text: str, expected: str) -> None:
    """requirements.md §3: each evasion form is folded by its own step."""
    assert Normaliser(NormaliseSettings.only(step)).normalise(text) == expected


@pytest.mark.parametrize("step", STEPS)
def test_each_step_can_be_switched_off(step: str) -> None:
    """Issue 13 item 2: every step is switchable; with it off, its own input is kept."""
    others = [s for s in STEPS if s != step]
    normaliser = Normaliser(NormaliseSettings.only(*others))
    changed = [text for s, text, expected in STEP_CASES if s == step and text != expected]
    assert changed, step
    # with the step off, at least one of its inputs no longer becomes its expected form
    assert any(normaliser.normalise(text) != Normaliser(NormaliseSettings.only(step))
               .normalise(text) for text in changed)


def test_unknown_step_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown normalisation step"):
        NormaliseSettings.only("stemming")


EVASIONS = [
    "دعوت به تجمع",
    "دعوت به ت\u200cج\u200cم\u200cع",
    "دعوت به تــجــمــع",
    "دعوت به تَجَمُّع",
    "دعوت به ت ج م ع",
    "دعوت به تجمممع",
    "دعوت به تجمع\u200f",
]


@pytest.mark.parametrize("text", EVASIONS)
def test_all_steps_fold_evasions_to_the_phrase(text: str) -> None:
    """requirements.md §3 / domain.md (b): a forbidden phrase with ZWNJ, tatweel,
    harakat, spacing or repeated letters inserted normalises like the phrase."""
    normaliser = Normaliser()
    assert normaliser.normalise("دعوت به تجمع") in normaliser.normalise(text)


def test_ascii_fast_path_only_folds_case_spread_and_repeats() -> None:
    assert Normaliser().normalise("Your CODE is 123456") == "your code is 123456"
