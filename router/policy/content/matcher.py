"""The compiled rules: every phrase of every category in one Aho-Corasick automaton
(ahocorasick_rs, the Rust aho-corasick crate) and every regex in one RE2 ``Set``
(google-re2), both over normalised text.  Measured for the issue on a 160-char Persian
text: 200 regexes cost 520-545 µs with Python's ``re`` and ~2 µs with one RE2 Set;
100,000 phrases 4.3 µs with pyahocorasick, 1.0 µs with ahocorasick_rs (0.15 against
0.9 µs a short ASCII text in a batch), built in the same ~0.6 s.  An ASCII text (most
traffic) is scanned by a second automaton of the ASCII keys alone (``Scanner.narrow``).
Built off the event loop (``RuleSet.build`` in a thread) and swapped whole by the stage.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from dataclasses import dataclass

import ahocorasick_rs
import re2

from router.policy.content.normalise import Normaliser
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


@dataclass(frozen=True, slots=True)
class Scanner:
    """One Aho-Corasick automaton and, per pattern, its key and the categories it
    belongs to now (REGEX_LITERAL for a literal some regex needs; none: a key the rules
    dropped since the automaton was built)."""

    automaton: ahocorasick_rs.AhoCorasick
    keys: list[str]
    owners: list[tuple[int, ...]]
    narrow: Scanner | None = None
    """The same for its ASCII keys alone, which scans an ASCII text: a key with any other
    character cannot occur in one, and the smaller automaton (7 against 46 MB for
    100,000 phrases of which a fifth Latin) leaves the rest of the relay its caches."""

    def renewed(self, owners: dict[str, tuple[int, ...]]) -> Scanner:
        """This automaton with its keys' categories as they are now."""
        narrow = self.narrow.renewed(owners) if self.narrow is not None else None
        return Scanner(self.automaton, self.keys, [owners.get(k, ()) for k in self.keys],
                       narrow)

    def of(self, normalised: str) -> Scanner:
        """The scanner for this text: the narrow one when the text is ASCII."""
        narrow = self.narrow
        return narrow if narrow is not None and normalised.isascii() else self


DELTA_MOST = 5_000
"""Keys a reload may add or drop and keep the last automaton: the automaton library holds
the GIL while it builds (~0.6 s for 100,000 phrases: the event loop stands still), a
second automaton of the added keys ~30 ms; more changes rebuild it whole."""


def scanners(owners: dict[str, tuple[int, ...]], base: Scanner | None) -> tuple[Scanner, ...]:
    """The automata for these keys: ``base`` kept (its keys' categories as they are now)
    plus one of the keys it lacks, when few changed since it was built; else one new."""
    if not owners:
        return ()
    if base is not None:
        known = set(base.keys)
        added = [key for key in owners if key not in known]
        dropped = len(known) - (len(owners) - len(added))
        if len(added) + dropped <= DELTA_MOST:
            kept = base.renewed(owners)
            return (kept, _scanner(added, owners)) if added else (kept,)
    return (_scanner(list(owners), owners),)


def _scanner(keys: list[str], owners: dict[str, tuple[int, ...]]) -> Scanner:
    narrow = [key for key in keys if key.isascii()]
    return Scanner(ahocorasick_rs.AhoCorasick(keys), keys, [owners[k] for k in keys],
                   Scanner(ahocorasick_rs.AhoCorasick(narrow), narrow,
                           [owners[k] for k in narrow])
                   if narrow and len(narrow) < len(keys) else None)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Immutable once built; the stage holds one and swaps in the next."""

    categories: list[Category]
    normaliser: Normaliser
    _scanners: tuple[Scanner, ...]
    """The phrases' automaton, and after a reload that changed few, one of the keys it
    lacks (``scanners``)."""
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
    def build(cls, categories: list[Category], normaliser: Normaliser,
              previous: RuleSet | None = None) -> RuleSet:
        """Compile (seconds for 100,000 phrases: call it off the event loop); with the
        ``previous`` rules, keep their automaton when few keys changed (``scanners``)."""
        started = time.perf_counter()
        owners: dict[str, tuple[int, ...]] = {}
        for index, category in enumerate(categories):
            for key in normalised_each(normaliser, category.phrases):
                if key:
                    had = owners.get(key, ())
                    if index not in had:
                        owners[key] = (*had, index)
        patterns = [(i, p) for i, c in enumerate(categories) for p in c.regexes]
        always = False
        for _, pattern in patterns:
            literals = leading_literals(pattern)
            always = always or literals is None
            for literal in literals or ():
                had = owners.get(literal, ())
                if REGEX_LITERAL not in had:
                    owners[literal] = (*had, REGEX_LITERAL)
        base = previous._scanners[0] if previous is not None and previous._scanners else None
        regexes: re2.Set | None = None
        regex_owner: list[tuple[int, str]] = []
        if patterns:
            regexes = re2.Set.SearchSet(quiet_options())
            for index, pattern in patterns:
                regexes.Add(pattern)
                regex_owner.append((index, pattern))
            regexes.Compile()
        return cls(categories, normaliser, scanners(owners, base), regexes, regex_owner,
                   always, time.perf_counter() - started)

    def hit_categories(self, normalised: str) -> set[int]:
        """Indices of the categories whose phrases or regexes occur."""
        hits: set[int] = set()
        for each in self._scanners:
            scanner = each.of(normalised)
            owners = scanner.owners
            matches = scanner.automaton.find_matches_as_indexes(normalised, overlapping=True)
            for pattern, _, _ in matches:
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
        for each in self._scanners:
            scanner = each.of(normalised)
            owners = scanner.owners
            matches = scanner.automaton.find_matches_as_indexes(normalised, overlapping=True)
            for pattern, start, _ in matches:
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
        for scanner in self._scanners:
            matches = scanner.automaton.find_matches_as_indexes(normalised, overlapping=True)
            for pattern, start, _ in matches:
                key = scanner.keys[pattern]
                for index in scanner.owners[pattern]:
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
"""Phrases normalised in one call while building: each call holds the GIL from the
event loop (~1 ms for 512 phrases), so the chunks stay small."""


def normalised_each(normaliser: Normaliser, phrases: tuple[str, ...]) -> list[str]:
    """Each phrase normalised (``SEP`` dropped from it), a chunk of them joined per call:
    100,000 phrases in 0.13 s against 0.35 s one by one, which a reload's thread spent
    holding the GIL the event loop needs."""
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
