"""Whole-word phrase matching for Latin-script dispatch text (English call types and notes).

Chinese keywords are substrings (services/intake/domain/classification.py); English needs words:
"dv" must not fire inside "advised", nor "arm" inside "alarm". CAD exports also write their call
types in a shorthand of their own, so a text goes through three steps before it is matched:

1. Tokens: runs of a-z and 0-9 of the normalised (NFKC, lower-case) text. Everything else
   separates, so `TRBL W/SUBJ-DV` is trbl, w, subj, dv.
2. Abbreviations: a token the rules' `abbreviations` table knows becomes its words (trbl →
   trouble, pdo → property damage only, w → with). The table is the CAD shorthand that recurs
   across centres, not any one centre's codes.
3. Truncation: CAD systems cut call types to a fixed width (16 characters is common), leaving
   FAMILY TROUBL-DV or ABAND/PROP WEAPO. The last token of each line, when it is no known word, is
   completed to the shortest vocabulary word it begins (5 letters at least, on a line of 10 or more): troubl → trouble.

A phrase is one or more words; a word ending in `*` matches any token beginning with it (threat*
takes threats, threatening). Phrases are looked for longest first (most words, then most letters)
and consume the tokens they match, like the Chinese keywords, so "bomb threat" counts once, as a
crime, and not again as a threat; a phrase counts once however often it occurs.
"""
import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

_TOKEN = re.compile(r"[a-z0-9]+")
# A shortened word at the end of a line must keep this many letters to be completed, and the line
# be this long: CAD systems cut at a fixed width of 10 characters or more, and a short word at the
# end of a short line ("card") is a word, not a cut-off one ("cardiac").
MIN_TRUNCATED, MIN_CUT_LINE = 5, 10
# Distinct tokens seen; CAD call types repeat, so their expansion is looked up once.
_CACHE_LIMIT = 50_000


@dataclass(frozen=True)
class Phrase:
    """One entry of a table: its words (a trailing * is a prefix) and where it came from."""

    words: tuple[str, ...]
    text: str

    @property
    def weight(self) -> tuple[int, int]:
        """Longest first: more words, then more letters."""
        return (len(self.words), sum(len(w) for w in self.words))

    @property
    def is_pattern(self) -> bool:
        """A phrase of several words names the thing itself (family trouble, loud music): strong evidence."""
        return len(self.words) > 1


def parse_phrase(text: str) -> Phrase:
    """A phrase as written in the rules: words separated by spaces or by what tokenising drops."""
    words = tuple(w + "*" if star else w for w, star in
                  ((m.group(1), bool(m.group(2))) for m in re.finditer(r"([a-z0-9]+)(\*?)", text.lower())))
    if not words:
        raise ValueError(f"{text!r}: a phrase needs at least one word of a-z or 0-9")
    return Phrase(words, text)


def _word_matches(pattern: str, token: str) -> bool:
    return token.startswith(pattern[:-1]) if pattern.endswith("*") else token == pattern


class Tokeniser:
    """Text → canonical words: tokens, abbreviations expanded, truncated line ends completed."""

    def __init__(self, abbreviations: dict[str, tuple[str, ...]], vocabulary: Iterable[str]) -> None:
        self._abbreviations = abbreviations
        self._words = sorted({w.rstrip("*") for w in vocabulary if len(w.rstrip("*")) >= MIN_TRUNCATED})
        self._known = frozenset(w for w in vocabulary if not w.endswith("*")) | frozenset(abbreviations)
        self._prefixes = tuple(w[:-1] for w in vocabulary if w.endswith("*"))
        self._completed: dict[str, str | None] = {}

    def tokens(self, text: str) -> list[str]:
        """The canonical words of a normalised text, line by line."""
        out: list[str] = []
        for line in text.split("\n"):
            found = _TOKEN.findall(line)
            if not found:
                continue
            last = len(found) - 1 if len(line.strip()) >= MIN_CUT_LINE else -1
            for i, token in enumerate(found):
                expanded = self._abbreviations.get(token)
                if expanded is not None:
                    out += expanded
                elif i == last and token not in self._known and not token.isdigit():
                    out.append(self._complete(token))
                else:
                    out.append(token)
        return out

    def _complete(self, token: str) -> str:
        """A cut-off last word completed to the shortest vocabulary word it begins, else itself."""
        done = self._completed.get(token)
        if done is None:
            done = token
            if len(token) >= MIN_TRUNCATED and not any(token.startswith(p) for p in self._prefixes):
                i = bisect.bisect_left(self._words, token)
                longer = []
                while i < len(self._words) and self._words[i].startswith(token):
                    longer.append(self._words[i])
                    i += 1
                if longer:
                    done = min(longer, key=len)
            if len(self._completed) > _CACHE_LIMIT:
                self._completed.clear()
            self._completed[token] = done
        return done


class PhraseMatcher:
    """One table of phrases per group, compiled once: the distinct phrases a token list holds, per group.

    Same contract as the Chinese keyword matcher: hits come sorted as (group position, position in
    the group, group, "label:group:phrase"); a phrase listed by several groups counts for each.
    """

    def __init__(self, table: dict[str, tuple[str, ...]], label: str) -> None:
        self.names = tuple(table)
        self._label = label
        phrases: dict[str, Phrase] = {}
        for group in table.values():
            for text in group:
                phrases.setdefault(text, parse_phrase(text))
        order = {text: i for i, text in enumerate(phrases)}
        # Longest first; equal weights keep the file's order, so a run is the same every time.
        self._phrases = sorted(phrases.values(), key=lambda p: (-p.weight[0], -p.weight[1], order[p.text]))
        self._rank = {p.text: i for i, p in enumerate(self._phrases)}
        self._hits = {text: tuple((g, group.index(text), name, f"{label}:{name}:{text}")
                                  for g, (name, group) in enumerate(table.items()) if text in group)
                      for text in phrases}
        self.patterns = frozenset(p.text for p in self._phrases if p.is_pattern)
        # First word → phrases; prefix first words are checked against each new token once.
        self._by_first: dict[str, list[Phrase]] = {}
        self._by_prefix: list[tuple[str, Phrase]] = []
        for phrase in self._phrases:
            first = phrase.words[0]
            if first.endswith("*"):
                self._by_prefix.append((first[:-1], phrase))
            else:
                self._by_first.setdefault(first, []).append(phrase)
        self._starting: dict[str, tuple[Phrase, ...]] = {}
        self.vocabulary = frozenset(w for p in self._phrases for w in p.words)

    def _starting_with(self, token: str) -> tuple[Phrase, ...]:
        found = self._starting.get(token)
        if found is None:
            found = tuple(self._by_first.get(token, ())) + tuple(p for prefix, p in self._by_prefix
                                                                 if token.startswith(prefix))
            if len(self._starting) > _CACHE_LIMIT:
                self._starting.clear()
            self._starting[token] = found
        return found

    def scan(self, tokens: list[str | None]) -> list[tuple[int, int, str, str]]:
        """The hits in the tokens (consumed tokens are set to None in place), sorted."""
        candidates = {p.text: p for t in tokens if t is not None for p in self._starting_with(t)}
        if not candidates:
            return []
        hits: list[tuple[int, int, str, str]] = []
        for phrase in sorted(candidates.values(), key=lambda p: self._rank[p.text]):
            if _consume(tokens, phrase.words):
                hits += self._hits[phrase.text]
        hits.sort()
        return hits

    def hits(self, tokens: list[str]) -> dict[str, list[str]]:
        """The phrases found per group, every group present, in table order."""
        found: dict[str, list[str]] = {name: [] for name in self.names}
        for _, _, name, label in self.scan(list(tokens)):
            found[name].append(label[len(self._label) + len(name) + 2:])
        return found


def _consume(tokens: list[str | None], words: tuple[str, ...]) -> bool:
    """Blank every occurrence of the phrase in the tokens; True when there was one."""
    n, found = len(words), False
    i = 0
    while i + n <= len(tokens):
        if all(tokens[i + j] is not None and _word_matches(words[j], cast(str, tokens[i + j])) for j in range(n)):
            for j in range(n):
                tokens[i + j] = None
            found = True
            i += n
        else:
            i += 1
    return found
