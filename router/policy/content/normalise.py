"""Text normalisation that defeats simple evasion, before any content rule is matched
(requirements §3, issue 13 item 2).  Rules are normalised by the same function, so a
phrase written with Arabic letter forms matches a text written with Persian ones.

Every step is switchable (``content.normalise`` in the YAML) and done with C-level
calls, as measured for the issue: NFKC (0.4 µs per 160 Persian characters; it also folds
full-width Latin and digits and Arabic presentation forms), ``str.replace`` for the letter
folds, one compiled ``re.sub`` for the characters that are removed (zero-width and bidi
marks, tatweel, harakat), a ``translate`` only when a character it changes is present
(digits, look-alikes: a dict translate costs 10-18 µs per 160 characters), opencc for
traditional Chinese only when CJK is present.  ASCII texts take a fast path.
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, fields

import re2

STEPS = ("nfkc", "zero_width", "tatweel", "diacritics", "letters", "digits", "chinese",
         "confusables", "casefold", "spread", "repeats")
"""Every step by its config name, in the order they run."""

_ZERO_WIDTH = "\u200b\u200c\u200d\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff\u00ad"
_TATWEEL = "\u0640"
_DIACRITICS = "\u064b-\u065f\u0670\u06d6-\u06ed"
_LETTER_FOLDS = (
    ("\u064a", "\u06cc"),  # ي Arabic yeh -> ی Persian yeh
    ("\u0649", "\u06cc"),  # ى alef maksura -> ی
    ("\u0626", "\u06cc"),  # ئ yeh with hamza -> ی
    ("\u0643", "\u06a9"),  # ك Arabic kaf -> ک Persian keheh
    ("\u0629", "\u0647"),  # ة teh marbuta -> ه
    ("\u06c0", "\u0647"),  # ۀ heh with yeh -> ه
    ("\u06c1", "\u0647"),  # ہ heh goal -> ه
    ("\u0623", "\u0627"),  # أ alef with hamza above -> ا
    ("\u0625", "\u0627"),  # إ alef with hamza below -> ا
    ("\u0622", "\u0627"),  # آ alef with madda -> ا
    ("\u0671", "\u0627"),  # ٱ alef wasla -> ا
    ("\u0624", "\u0648"),  # ؤ waw with hamza -> و
    ("\u0621", ""),        # ء lone hamza dropped
)
_DIGIT_FOLDS = tuple((chr(base + i), str(i)) for base in (0x0660, 0x06F0) for i in range(10))
"""Arabic-Indic and Persian digits: an ``in`` then a ``replace`` for each costs 0.1 µs on
160 Persian characters, a findall of the digits 1.2 µs, a ``translate`` 10-18 µs."""
_SCRIPTS = "[\u0370-\u052f\u3400-\u9fff]"
"""Greek, Cyrillic or CJK present: the look-alike and opencc steps have work to do."""
_CJK = re.compile("[\u3400-\u9fff]")
_DIGITS_OR_SCRIPTS = "[\u0660-\u0669\u06f0-\u06f9\u0370-\u052f\u3400-\u9fff]"
"""One scan that tells whether either of the two steps above has work."""
# Cyrillic and Greek letters that look like Latin ones (Unicode confusables, the common set)
_LOOKALIKES = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
    "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j",
    "ԁ": "d", "һ": "h", "ԛ": "q", "ԝ": "w", "ӏ": "l",
    "А": "a", "В": "b", "Е": "e", "К": "k", "М": "m", "Н": "h", "О": "o", "Р": "p",
    "С": "c", "Т": "t", "Х": "x", "У": "y", "І": "i", "Ј": "j", "Ѕ": "s",
    "α": "a", "ο": "o", "ν": "v", "ρ": "p", "τ": "t", "υ": "u", "ι": "i", "κ": "k",
    "Α": "a", "Β": "b", "Ε": "e", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n",
    "Ο": "o", "Ρ": "p", "Τ": "t", "Χ": "x", "Υ": "y", "Ζ": "z",
}
_LOOKALIKE_CHARS = re.compile("[\u0370-\u03ff\u0400-\u052f]")
_CONFUSABLES = str.maketrans(_LOOKALIKES)
# three or more single letters (or digits) with separators between them: "s.p.a.m",
# "ت ج م ع", "f-r-e-e"; a word of its own before and after (Persian "و" alone is kept)
_SPREAD = re.compile(r"(?<!\w)\w(?:[\s.\-_*+·•,|/\\~]+\w(?!\w)){2,}")
_SEPARATORS = re.compile(r"[\s.\-_*+·•,|/\\~]+")
# A letter removed where the same letter follows (letters only: amounts keep their
# zeros): "ییییک" -> "یک".  The same as ``([^\W\d_])\1+`` -> ``\1``, but the empty
# replacement needs no call per match (0.45 against 0.72 µs a 30-char ASCII text in a
# batch, 2.6 against 2.9 a 70-char Persian one).
_REPEATS = re.compile(r"([^\W\d_])(?=\1)")
# Cheap necessary conditions, so the two steps above (~4 and ~9 µs per 160 Persian
# characters) run only on texts they can change.  A spread of three or more letters has a
# middle letter with a separator before it and a separator and a lone letter after it;
# starting with a character class lets re skip to the separators (~1 µs).  A repeated
# letter is a repeated \w: "(\w)\1" costs a third of the letters-only class.
_SPREAD_HINT = re.compile(r"[\s.\-_*+·•,|/\\~]\w[\s.\-_*+·•,|/\\~]+\w(?!\w)")
_REPEAT_HINT = re.compile(r"(\w)\1")
_ASCII_REPEATS = re.compile(r"([a-zA-Z])(?=\1)")  # _REPEATS on an ASCII text, cheaper


def _re2(pattern: str) -> re2._Regexp:
    options = re2.Options()
    options.log_errors = False
    options.never_capture = True
    return re2.compile(pattern, options)


def _re2_hints(covered: list[tuple[int, int]]) -> tuple[str, str]:
    """The spread and repeat pre-checks above as RE2 patterns, exact over the code point
    ranges ``covered``: a spread, and a letter twice (every such letter listed: RE2 has no
    back-references)."""
    letter = re.compile(r"[^\W\d_]")
    doubles = "|".join(c + c for low, high in covered for c in map(chr, range(low, high + 1))
                       if letter.match(c))
    sep = r"[\t\n\x0b\f\r\x1c-\x1f .\-_*+,|/\\~]"  # re's \s over ASCII, and the rest
    word, other = r"[\pL\pN_]", r"[^\pL\pN_]"
    return f"{sep}{word}{sep}+{word}(?:{other}|$)", doubles


def _wide_hints() -> re2._Regexp:
    """Both pre-checks above in one RE2 pass for non-ASCII texts (~1.6-1.9 µs against
    2.3-5 µs for the two ``re`` searches on 70-160 Persian characters).  Exact over the
    scripts it enumerates (ASCII, Greek, Cyrillic, Arabic/Persian); any character outside
    them also matches, and the ``re`` pre-checks then decide."""
    covered = [(0x00, 0x7F), (0x370, 0x52F), (0x600, 0x6FF)]
    spread, doubles = _re2_hints(covered)
    outside = "[^" + "".join(f"\\x{{{low:x}}}-\\x{{{high:x}}}" for low, high in covered) + "]"
    return _re2(f"{spread}|{doubles}|{outside}")


_WIDE_HINTS = _wide_hints()
_RE2_FROM = 200
"""Texts this long (a read batch scanned as one) take the RE2 pre-checks: a scan that
finds nothing costs RE2 ~4 ns a character against ``re``'s ~6 (ASCII: 0.08 against 1.0 µs
a 37-char text in a batch of 64); on one short text the binding's own cost (~0.7 µs) is
more than the ``re`` searches."""


class _Search:
    """A search by ``re`` on short texts and RE2 on long ones (``long_pattern``: RE2's
    spelling of the same condition, when it differs)."""

    def __init__(self, pattern: str, long_pattern: str | None = None) -> None:
        self._short, self._long = re.compile(pattern).search, _re2(long_pattern or pattern).search

    def __call__(self, text: str) -> bool:
        return (self._long if len(text) >= _RE2_FROM else self._short)(text) is not None


_ascii_spread = _Search(_SPREAD_HINT.pattern, _re2_hints([(0x00, 0x7F)])[0])
"""The spread pre-check of an ASCII text, by RE2 on a batch: ``re`` cost 0.21 µs a
message of a 64-text batch, RE2 0.05."""


def _collapse_wide(text: str) -> str:
    return _REPEATS.sub("", text) if _REPEAT_HINT.search(text) else text


class _AsciiCollapse:
    """Repeated letters of an ASCII text collapsed.  On a batch, one RE2 ``Set`` pass
    says which letters occur twice in a row and a ``str.replace`` collapses each: 0.14
    µs a message of a 64-text batch where the ``re`` sub took 0.31 (0.33 against 0.49 on
    English prose, where more letters double)."""

    def __init__(self) -> None:
        options = re2.Options()
        options.log_errors = False
        options.never_capture = True
        self._doubles = re2.Set.SearchSet(options)
        self._letters = string.ascii_letters
        for letter in self._letters:
            self._doubles.Add(letter + letter)
        self._doubles.Compile()

    def __call__(self, text: str) -> str:
        if len(text) < _RE2_FROM:
            return _ASCII_REPEATS.sub("", text) if _ASCII_REPEATS.search(text) else text
        for index in self._doubles.Match(text) or ():
            letter = self._letters[index]
            double = letter + letter
            while double in text:  # a run of n letters takes ~log2(n) rounds
                text = text.replace(double, letter)
        return text


_collapse_ascii = _AsciiCollapse()
_has_scripts, _has_digits_or_scripts = _Search(_SCRIPTS), _Search(_DIGITS_OR_SCRIPTS)


@dataclass(frozen=True, slots=True, kw_only=True)
class NormaliseSettings:
    """Which steps run (all by default)."""

    nfkc: bool = True
    zero_width: bool = True
    tatweel: bool = True
    diacritics: bool = True
    letters: bool = True
    digits: bool = True
    chinese: bool = True
    confusables: bool = True
    casefold: bool = True
    spread: bool = True
    repeats: bool = True

    @classmethod
    def only(cls, *steps: str) -> NormaliseSettings:
        """Settings with just these steps on (tests and `chapar content test`)."""
        unknown = set(steps) - set(STEPS)
        if unknown:
            raise ValueError(f"unknown normalisation step(s): {', '.join(sorted(unknown))}")
        return cls(**{f.name: f.name in steps for f in fields(cls)})


def _t2s() -> Callable[[str], str] | None:
    """opencc's traditional -> simplified converter (the kept tables, not a hand list)."""
    try:
        import opencc
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    converter = opencc.OpenCC("t2s")
    convert: Callable[[str], str] = converter.convert
    return convert


def _join_spread(match: re.Match[str]) -> str:
    return _SEPARATORS.sub("", match.group())


class Normaliser:
    """``normalise(text)`` with the configured steps; build once, call per message."""

    def __init__(self, settings: NormaliseSettings | None = None) -> None:
        self.settings = s = settings or NormaliseSettings()
        removed = ((_ZERO_WIDTH if s.zero_width else "") + (_TATWEEL if s.tatweel else "")
                   + (_DIACRITICS if s.diacritics else ""))
        self._removable = re.compile(f"[{removed}]+") if removed else None
        self._folds = _LETTER_FOLDS if s.letters else ()
        self._zwnj = s.zero_width
        self._t2s = _t2s() if s.chinese else None

    @staticmethod
    @functools.cache
    def of(settings: NormaliseSettings) -> Normaliser:
        """One normaliser per settings (opencc loads its tables for each ~10 ms)."""
        return Normaliser(settings)

    def normalise(self, text: str) -> str:
        s = self.settings
        if text.isascii():  # fast path: none of the non-ASCII steps can apply
            if s.casefold:
                text = text.lower()
            return self._tail(text, _ascii_spread, _collapse_ascii)
        if s.nfkc:
            text = unicodedata.normalize("NFKC", text)
        removable = self._removable
        if self._zwnj and "\u200c" in text:  # in most Persian texts: replace is 0.1 µs
            text = text.replace("\u200c", "")
        if removable is not None and removable.search(text):  # search: 0.35 µs, sub: 2 µs
            text = removable.sub("", text)
        for old, new in self._folds:
            if old in text:
                text = text.replace(old, new)
        if _has_digits_or_scripts(text):
            text = self._scripts(text)
        if s.casefold:
            text = text.casefold()
        if (s.spread or s.repeats) and _WIDE_HINTS.search(text) is None:
            return text
        return self._tail(text, _SPREAD_HINT.search, _collapse_wide)

    def _scripts(self, text: str) -> str:
        """Persian/Arabic digits, then Chinese and look-alikes (only when present)."""
        if self.settings.digits:
            for digit, ascii_digit in _DIGIT_FOLDS:
                if digit in text:
                    text = text.replace(digit, ascii_digit)
        if not _has_scripts(text):
            return text
        if self._t2s is not None and _CJK.search(text):
            text = self._t2s(text)
        if self.settings.confusables and _LOOKALIKE_CHARS.search(text):
            text = text.translate(_CONFUSABLES)
        return text

    def _tail(self, text: str, spread_hint: Callable[[str], object],
              collapse: Callable[[str], str]) -> str:
        """Letters spread by separators joined (when the cheaper pre-check finds a
        spread), then repeated letters collapsed."""
        s = self.settings
        if s.spread and spread_hint(text):
            text = _SPREAD.sub(_join_spread, text)
        return collapse(text) if s.repeats else text
