"""The compiled rules: every phrase of every category in one Aho-Corasick automaton
(daachorse: a double-array automaton, char-wise) and every regex in one RE2 ``Set``
(google-re2), both over normalised text.  Measured for the issue on 100,000 phrases:
0.51 µs a 160-char Persian text and 0.03 µs a short ASCII text in a batch, against
1.37 / 0.10 µs with ahocorasick_rs and 4.3 / 0.9 with pyahocorasick; 200 regexes cost
520-545 µs a Persian text with Python's ``re`` and ~2 µs with one RE2 Set.

A reload builds the rules in a child process (``stage.py``): every library builds its
automaton holding the GIL (0.44-0.73 s for 100,000 phrases: the event loop would stand
still); a ``RuleSet`` crosses the process boundary as its automaton's serialised double
array, restored in ~10 ms.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

import daachorse
import re2

from router.policy.content.normalise import Normaliser, NormaliseSettings
from router.policy.content.rules import SEVERITY, Action, Category, quiet_options

REGEX_LITERAL = -1
"""The automaton's mark for "a literal some regex starts with occurs": only then is the
RE2 Set run (~0.7 µs a call even on a short text, mostly the binding's own cost)."""
_META = frozenset(".^$*+?{}[]\\|()")
SEP = "\0"
"""Between the texts of a batch scanned as one string: no normalisation step changes it,
joins across it or drops it, and no phrase contains it (``RuleSet.build`` drops it)."""


def _top_level_bar(pattern: str) -> bool:
    """Whether the pattern has an alternation outside every group (then no literal is
    required of it)."""
    depth, index, in_class = 0, 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 1
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return True
        index += 1
    return False


def leading_literals(pattern: str) -> tuple[str, ...] | None:
    """Literals of which every match of ``pattern`` contains one (its leading literal, or
    the options of a leading ``(a|b|c)`` group), or None when none can be told cheaply;
    conservative: a None only costs the RE2 call on every text."""
    if not pattern or _top_level_bar(pattern):
        return None
    if pattern[0] == "(":
        close = pattern.find(")")
        inner = pattern[1:close]
        if (close < 0 or inner.startswith("?") or _META & set(inner.replace("|", ""))
                or pattern[close + 1:close + 2] in ("?", "*", "{")):
            return None
        options = tuple(inner.split("|"))
        return None if "" in options else options
    end = 0
    while end < len(pattern) and pattern[end] not in _META:
        end += 1
    if pattern[end:end + 1] in ("?", "*", "{"):
        end -= 1  # the last character may occur zero times
    return (pattern[:end],) if end > 0 else None


@dataclass(frozen=True, slots=True)
class Hit:
    category: str
    kind: str
    """"phrase" or "regex"."""
    pattern: str
    position: int
    """Where it starts in the normalised text."""


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    category: str
    categories: tuple[str, ...]


Automaton = daachorse.CharwiseDoubleArrayAhoCorasick


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Immutable once built; the stage holds one and swaps in the next."""

    categories: list[Category]
    normaliser: Normaliser
    _automaton: Automaton | None
    _owners: list[tuple[int, ...]]
    """Per pattern of the automaton (normalised phrases and the literals regexes need),
    the categories it belongs to (REGEX_LITERAL: a literal some regex needs); equal
    tuples are one object (a pickled reload carries each once)."""
    _regexes: re2.Set | None
    _regex_owner: list[tuple[int, str]]
    _regex_always: bool
    """Some regex has no leading literal: run the RE2 Set on every text."""
    built_in: float

    @property
    def phrase_count(self) -> int:
        return sum(len(c.phrases) for c in self.categories)

    @property
    def regex_count(self) -> int:
        return len(self._regex_owner)

    @classmethod
    def build(cls, categories: list[Category], normaliser: Normaliser) -> RuleSet:
        """Compile (a second for 100,000 phrases, holding the GIL: a running router
        calls it in a child process)."""
        started = time.perf_counter()
        owners: dict[str, tuple[int, ...]] = {}
        shared: dict[tuple[int, ...], tuple[int, ...]] = {}
        for index, category in enumerate(categories):
            for key in normalised_each(normaliser, category.phrases):
                if key:
                    had = owners.get(key, ())
                    if index not in had:
                        owners[key] = shared.setdefault((*had, index), (*had, index))
        for pattern in (p for c in categories for p in c.regexes):
            for literal in leading_literals(pattern) or ():
                had = owners.get(literal, ())
                if REGEX_LITERAL not in had:
                    owners[literal] = shared.setdefault((*had, REGEX_LITERAL),
                                                        (*had, REGEX_LITERAL))
        keys = list(owners)
        return cls._of(categories, normaliser, Automaton(keys) if keys else None,
                       [owners[k] for k in keys], time.perf_counter() - started)

    @classmethod
    def _of(cls, categories: list[Category], normaliser: Normaliser,
            automaton: Automaton | None, owners: list[tuple[int, ...]], built_in: float
            ) -> RuleSet:
        """The rules around a built automaton: the regexes compiled (~20 ms for 200)."""
        patterns = [(i, p) for i, c in enumerate(categories) for p in c.regexes]
        regexes: re2.Set | None = None
        if patterns:
            regexes = re2.Set.SearchSet(quiet_options())
            for _, pattern in patterns:
                regexes.Add(pattern)
            regexes.Compile()
        always = any(leading_literals(p) is None for _, p in patterns)
        return cls(categories, normaliser, automaton, owners, regexes, patterns,
                   always, built_in)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its parts and the automaton's serialised double array (the RE2 Set
        and the normaliser's converter cannot be pickled: they are made again)."""
        automaton = self._automaton.serialize() if self._automaton is not None else None
        return (_restored, (self.categories, self.normaliser.settings, automaton,
                            self._owners, self.built_in))

    def _matches(self, normalised: str) -> list[tuple[int, int, int]]:
        """(start, end, pattern) of every phrase occurrence, overlapping ones too."""
        if self._automaton is None:
            return []
        return self._automaton.find_overlapping(normalised)

    def hit_categories(self, normalised: str) -> set[int]:
        """Indices of the categories whose phrases or regexes occur."""
        hits: set[int] = set()
        owners = self._owners
        for _, _, pattern in self._matches(normalised):
            hits.update(owners[pattern])
        self._regex_hits(normalised, hits)
        return hits

    def _regex_hits(self, normalised: str, hits: set[int]) -> None:
        """Add the regexes' categories to ``hits`` of one text; the RE2 Set runs only when
        the automaton saw a literal some regex needs (or some regex needs none)."""
        if REGEX_LITERAL in hits:
            hits.discard(REGEX_LITERAL)
        elif not self._regex_always:
            return
        if self._regexes is not None:
            owner = self._regex_owner
            for found in self._regexes.Match(normalised) or ():
                hits.add(owner[found][0])

    def verdict(self, text: str, account: str, line: str) -> Verdict | None:
        """The strictest action of the categories that hit and apply to this account
        and line, or None for a clean text."""
        return self.judge(self.hit_categories(self.normaliser.normalise(text)), account, line)

    def verdicts(self, texts: list[str], account: str, lines: list[str]
                 ) -> list[Verdict | None]:
        """``verdict`` for each of a batch's texts (``batch_hits``)."""
        out: list[Verdict | None] = [None] * len(texts)
        for index, hits in self.hits_of(texts).items():
            out[index] = self.judge(hits, account, lines[index])
        return out

    def hits_of(self, texts: list[str]) -> dict[int, set[int]]:
        """``batch_hits`` of these texts joined, or each text's own scan when one holds
        ``SEP``."""
        joined = SEP.join(texts)
        if joined.count(SEP) == len(texts) - 1:
            return self.batch_hits(joined, len(texts))
        normalise = self.normaliser.normalise
        return {index: hits for index, text in enumerate(texts)
                if (hits := self.hit_categories(normalise(text)))}

    def batch_hits(self, joined: str, count: int) -> dict[int, set[int]]:
        """The categories hit by each of ``count`` texts joined by ``SEP`` (none holding
        it), for the texts with hits: the batch normalised and scanned as one string (the
        hot path: each C-level call costs what a short text's whole scan does, so a batch
        pays them once); the same hits as each text's own scan."""
        normalised = self.normaliser.normalise(joined)
        found: dict[int, set[int]] = {}
        starts: list[int] = []
        owners = self._owners
        for start, _, pattern in self._matches(normalised):
            if not starts:
                starts = _starts(normalised)
            found.setdefault(bisect_right(starts, start) - 1, set()).update(owners[pattern])
        if self._regex_always and self._regexes is not None:
            found.update({i: found.get(i, set()) for i in range(count)})
        for index, hits in list(found.items()):
            if REGEX_LITERAL in hits or self._regex_always:
                starts = starts or _starts(normalised)
                end = starts[index + 1] - 1 if index + 1 < len(starts) else len(normalised)
                self._regex_hits(normalised[starts[index]:end], hits)
            if not hits:
                del found[index]
        return found

    def judge(self, hits: set[int], account: str, line: str) -> Verdict | None:
        """The strictest action of the categories hit that apply to this account and
        line (per-account and per-line overrides), or None."""
        if not hits:
            return None
        categories = self.categories
        applying = [categories[i] for i in sorted(hits) if categories[i].applies(account, line)]
        if not applying:
            return None
        worst = max(applying, key=lambda c: SEVERITY[c.action])
        return Verdict(worst.action, worst.name, tuple(c.name for c in applying))

    def explain(self, normalised: str) -> list[Hit]:
        """Every hit with its position, for `chapar content test` (not the hot path)."""
        found: list[Hit] = []
        categories = self.categories
        normalise = self.normaliser.normalise
        for start, end, pattern in self._matches(normalised):
            key = normalised[start:end]
            for index in self._owners[pattern]:
                if index == REGEX_LITERAL:
                    continue
                phrase = next(p for p in categories[index].phrases
                              if normalise(p).replace(SEP, "") == key)
                found.append(Hit(categories[index].name, "phrase", phrase, start))
        if self._regexes is not None:
            for number in self._regexes.Match(normalised) or ():
                index, pattern = self._regex_owner[number]
                match = re2.search(pattern, normalised)
                found.append(Hit(categories[index].name, "regex", pattern,
                                 match.start() if match else -1))
        found.sort(key=lambda hit: (hit.position, hit.category))
        return found


BUILD_CHUNK = 512
"""Phrases normalised in one call while building."""


def normalised_each(normaliser: Normaliser, phrases: tuple[str, ...]) -> list[str]:
    """Each phrase normalised (``SEP`` dropped from it), a chunk of them joined per call:
    100,000 phrases in 0.13 s against 0.35 s one by one."""
    normalise = normaliser.normalise
    out: list[str] = []
    for start in range(0, len(phrases), BUILD_CHUNK):
        chunk = phrases[start:start + BUILD_CHUNK]
        joined = SEP.join(chunk)
        if joined.count(SEP) == len(chunk) - 1:
            out += normalise(joined).split(SEP)
        else:
            out += [normalise(phrase).replace(SEP, "") for phrase in chunk]
    return out


def _starts(joined: str) -> list[int]:
    """Where each text of a ``SEP``-joined batch starts."""
    starts = [0]
    at = joined.find(SEP)
    while at >= 0:
        starts.append(at + 1)
        at = joined.find(SEP, at + 1)
    return starts


def _restored(categories: list[Category], settings: NormaliseSettings, automaton: bytes | None,
              owners: list[tuple[int, ...]], built_in: float) -> RuleSet:
    """A ``RuleSet`` unpickled (``RuleSet.__reduce__``)."""
    return RuleSet._of(categories, Normaliser.of(settings),
                       Automaton.deserialize(automaton) if automaton is not None else None,
                       owners, built_in)
