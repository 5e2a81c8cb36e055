"""Classify a dispatch record (kind, dispute type, crime type, risk flags) under a versioned rules file.

Two vocabularies decide together: Chinese keywords, found as substrings, and English phrases, found
as whole words after the CAD shorthand is expanded (services/intake/domain/word_matching.py). Their
hits count alike. A code the feed's table maps wins; otherwise the text decides, and the confidence
says on what evidence: the code table, then a pattern (a phrase of several words naming the call
type), then several keywords, then one, then nothing. A dispute decided on one keyword or none is
marked for review.
"""
import pathlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from services.intake.domain.word_matching import PhraseMatcher, Tokeniser, parse_phrase
from shared.events.intake import CRIME_TYPES, DISPUTE_TYPES, KINDS, RISK_FLAGS

# Located next to the code rather than via importlib.resources: rules/ is data, not a package.
DEFAULT_RULES = pathlib.Path(__file__).resolve().parent.parent / "rules" / "classification.v3.yaml"
CONFIDENCE_KEYS = ("code_type", "code_type_agree", "code_kind", "code_kind_agree", "pattern",
                   "keywords_base", "keywords_step", "keywords_max", "nothing", "review_below")
# Kinds that are no dispute and have words of their own; "other" (police business) only in English.
WORD_KINDS = ("crime", "help", "traffic", "other")
# The table group of each such kind: "other" is also a dispute type, so its kind words group apart.
KIND_GROUPS = {"crime": "crime", "help": "help", "traffic": "traffic", "other": "other_kind"}
_KIND_GROUP_NAMES = frozenset(KIND_GROUPS.values())
# Any Latin letter: only then is the text tokenised for the English rules.
_LATIN = re.compile(r"[a-z]")
# Results are kept for texts up to this long: CAD call types repeat, free text rarely does. 20,000 texts
# hold every call type of any export several times over; 100,000 kept mostly free text that never came
# back, and took intake's API to 182 MB after 100,000 records (bench.intake; the target is < 200 MB).
_MEMO_CHARS, _MEMO_LIMIT = 256, 20_000
# A separator no keyword contains: blanked text must not join its neighbours into a new match.
_GAP = "\x00"
# Full-width punctuation common in the centres' text, each with the ASCII character NFKC makes of it.
_FULL_WIDTH = tuple((wide, chr(ord(wide) - 0xFEE0)) for wide in "，：；（）！？")


@dataclass(frozen=True)
class Classification:
    """What the rules made of one record, and which rules fired."""

    kind: str
    dispute_type: str | None
    crime_type: str | None  # one of CRIME_TYPES when kind is crime ("other": nothing names it), else None
    risk_flags: frozenset[str]
    confidence: float
    rules_version: str
    matched: tuple[str, ...]
    needs_review: bool = False  # a dispute the text decided on weak evidence (one keyword, or none)


def _normalise(text: str) -> str:
    """NFKC and lower case, so full-width and Latin variants meet the keywords."""
    # Full-width punctuation is what usually keeps a record's text from being NFKC already. Each of
    # these decomposes to exactly the ASCII character put in its place, so NFKC's result is the same
    # either way, but without them normalize() returns at its quick check instead of rebuilding.
    if not text.isascii():
        for wide, narrow in _FULL_WIDTH:
            text = text.replace(wide, narrow)
    return unicodedata.normalize("NFKC", text).lower()


def _table(raw: Any, allowed: tuple[str, ...], section: str) -> dict[str, tuple[str, ...]]:
    """Validate one keyword table against its enum; dict order is the file's tie-break order."""
    table: dict[str, tuple[str, ...]] = {}
    for name, words in (raw or {}).items():
        if name not in allowed:
            raise ValueError(f"{section}: unknown name {name!r}, expected one of {allowed}")
        table[name] = _words(words, f"{section}.{name}")
    return table


def _words(raw: Any, section: str) -> tuple[str, ...]:
    """A list of non-empty keyword strings, normalised like the text they are matched against."""
    raw = [] if raw is None else raw
    if not isinstance(raw, list) or not all(isinstance(w, str) and w.strip() for w in raw):
        raise ValueError(f"{section}: expected a list of non-empty strings")
    return tuple(_normalise(w.strip()) for w in raw)


class _Matcher:
    """One keyword table, compiled once: the distinct keywords a text holds, per group.

    What it finds: every distinct keyword of the table (file order, first occurrence), longest
    first, is looked for in the text; a found one counts for every group listing it, and its text
    is blanked with _GAP before the next keyword is looked for. Consuming across groups keeps
    物业费 from also counting as 物业, and 修车费 as a consumer's 车费. Each group lists its hits
    in its own order.

    How it is fast: blanking only ever takes text away, so (as long as no keyword holds _GAP) a
    keyword found after blanking was in the text before. Only keywords that start with one of the
    text's characters and occur in it are candidates, and they are checked in the same order with
    the same blanking: the same result as checking every keyword, at a cost that follows the text.
    """

    def __init__(self, table: dict[str, tuple[str, ...]], label: str) -> None:
        self.names = tuple(table)
        self._label = label
        # dict.fromkeys keeps file order (a set would not), so equal-length overlaps resolve alike every run.
        words = sorted(dict.fromkeys(w for group in table.values() for w in group), key=len, reverse=True)
        self._rank = {w: i for i, w in enumerate(words)}.__getitem__
        # Per word, a hit for each group listing it: (group position, position in the group, group,
        # "label:group:word"). Sorted, a text's hits run in group order, each group in its own order.
        self._hits = {w: tuple((g, group.index(w), name, f"{label}:{name}:{w}")
                               for g, (name, group) in enumerate(table.items()) if w in group) for w in words}
        index: dict[str, list[str]] = {}
        for w in words:
            index.setdefault(w[0], []).append(w)
        self._index = {c: tuple(ws) for c, ws in index.items()}
        self.first = frozenset(index)
        # Blanking could make a keyword that holds _GAP (no shipped one does): check all of those.
        self._every = tuple(words) if any(_GAP in w for w in words) else None

    def scan(self, text: str, chars: Iterable[str] | None = None) -> list[tuple[int, int, str, str]]:
        """The text's hits, sorted: (group position, position in the group, group, "label:group:word").

        chars: the text's characters, or any set holding at least those that start a keyword.
        """
        if self._every is not None:
            candidates = list(self._every)
        else:
            index = self._index
            candidates = [w for c in self.first.intersection(text if chars is None else chars)
                          for w in index[c] if w in text]
            if len(candidates) < 2:  # nothing to compete with, the usual case
                return list(self._hits[candidates[0]]) if candidates else []
            candidates.sort(key=self._rank)
        hits: list[tuple[int, int, str, str]] = []
        for w in candidates:
            if w in text:
                hits += self._hits[w]
                text = text.replace(w, _GAP)
        hits.sort()
        return hits

    def hits(self, text: str) -> dict[str, list[str]]:
        """The keywords found per group, every group present, in table order."""
        found: dict[str, list[str]] = {name: [] for name in self.names}
        for _, _, name, label in self.scan(text):
            found[name].append(label[len(self._label) + len(name) + 2:])
        return found


def _most_hits(hits: list[tuple[int, int, str, str]]) -> str | None:
    """The group with the most hits; the first in table order of equal counts (hits come sorted)."""
    counts: dict[str, int] = {}
    for _, _, name, _ in hits:
        counts[name] = counts.get(name, 0) + 1
    best, most = None, 0
    for name, n in counts.items():
        if n > most:
            best, most = name, n
    return best


class Classifier:
    """Applies one rules file; immutable after loading, so safe to share between tasks."""

    def __init__(self, rules: dict[str, Any]) -> None:
        """Validate the parsed rules; a bad file fails here, at start-up, not on a record."""
        if not isinstance(rules, dict) or not isinstance(rules.get("version"), str) or not rules["version"]:
            raise ValueError("rules: a non-empty 'version' string is required")
        self.version: str = rules["version"]
        self.rules = rules  # as read, for with_keywords()
        # Per code: (kind, dispute type, crime type); a code's `type` is a dispute type for a
        # dispute and a crime type for a crime.
        self._codes: dict[str, tuple[str, str | None, str | None]] = {}
        for code, target in (rules.get("codes") or {}).items():
            kind, typ = (target or {}).get("kind"), (target or {}).get("type")
            known: dict[Any, tuple[str, ...]] = {"dispute": DISPUTE_TYPES, "crime": CRIME_TYPES}
            types = known.get(kind, ())
            if kind not in KINDS or (typ is not None and typ not in types):
                raise ValueError(f"codes.{code}: bad kind/type {kind!r}/{typ!r}")
            self._codes[_normalise(str(code).strip())] = (kind, typ if kind == "dispute" else None,
                                                           typ if kind == "crime" else None)
        self._ignore = _words(rules.get("ignore"), "ignore")
        self._kinds = _table(rules.get("kinds"), ("crime", "help", "traffic"), "kinds")
        self._generic = _words(rules.get("dispute_generic"), "dispute_generic")
        self._types = _table(rules.get("dispute_types"), DISPUTE_TYPES, "dispute_types")
        self._risks = _table(rules.get("risk_flags"), RISK_FLAGS[:-1], "risk_flags")
        # "other" has no keywords: it is what a crime is when none of these fires.
        self._crime_types = _table(rules.get("crime_types"), CRIME_TYPES[:-1], "crime_types")
        self._implies = {f: t for f, t in (rules.get("implies") or {}).items()}
        if any(f not in self._risks or t not in DISPUTE_TYPES for f, t in self._implies.items()):
            raise ValueError("implies: maps a risk flag with keywords to a dispute type")
        self._kind_order = tuple(rules.get("kind_order") or ("crime", "help", "traffic", "other", "dispute"))
        if sorted(set(self._kind_order) - {"other"}) != sorted(("crime", "help", "traffic", "dispute")) \
                or len(set(self._kind_order)) != len(self._kind_order):
            raise ValueError("kind_order: must list crime, help, traffic and dispute once each (and other, optionally)")
        self._conf = {k: float((rules.get("confidence") or {}).get(k, -1)) for k in CONFIDENCE_KEYS}
        if not all(0 <= v <= 1 for v in self._conf.values()):
            raise ValueError(f"confidence: needs {CONFIDENCE_KEYS}, each within 0..1")
        self._english(rules.get("english") or {})
        self._memo: dict[tuple[Any, ...], Classification] = {}

        # Compiled once here. Kind, generic and type keywords compete for the same text, in this
        # group order; risk keywords are read separately because 家暴 must count both as a family
        # word and as a risk.
        self._main = _Matcher({**self._kinds, "dispute": self._generic, **self._types}, "keyword")
        self._risk = _Matcher(self._risks, "risk")
        # Read on its own, like risks: 抢劫 names the kind (crime) and, separately, the crime type.
        self._crime = _Matcher(self._crime_types, "crime")
        self._type_names = frozenset(self._types)
        # Ignored phrases are blanked in file order; the ones the text holds are found like keywords.
        ignored: dict[str, list[tuple[int, str]]] = {}
        for i, phrase in enumerate(self._ignore):
            ignored.setdefault(phrase[0], []).append((i, phrase))
        self._ignored = {c: tuple(ps) for c, ps in ignored.items()}
        self._ignore_first = frozenset(ignored)
        # Blanking could make a phrase holding _GAP (none of the shipped ones does): then try every one.
        self._ignore_all = any(_GAP in phrase for phrase in self._ignore)
        # One pass over the text finds which of the characters that start a keyword or an
        # ignored phrase it holds; a text with none of them skips the rest outright.
        firsts = sorted(self._main.first | self._risk.first | self._crime.first | self._ignore_first)
        self._firsts = re.compile(f"[{''.join(map(re.escape, firsts))}]" if firsts else "(?!)")

    @classmethod
    def load(cls, path: pathlib.Path | None = None) -> "Classifier":
        """Read a rules file; by default the one shipped with the service."""
        with open(path or DEFAULT_RULES, encoding="utf-8") as handle:
            return cls(yaml.safe_load(handle))

    def _english(self, section: dict[str, Any]) -> None:
        """Compile the English rules: whole-word phrases after the CAD shorthand is expanded."""
        if not isinstance(section, dict):
            raise ValueError("english: expected a mapping")
        abbreviations: dict[str, tuple[str, ...]] = {}
        for short, full in (section.get("abbreviations") or {}).items():
            if not isinstance(full, str) or not full.strip():
                raise ValueError(f"english.abbreviations.{short}: expected the words it stands for")
            abbreviations[_normalise(str(short)).strip()] = tuple(w for w in parse_phrase(full).words)
        kinds = {KIND_GROUPS[k]: words for k, words in _table(section.get("kinds"), WORD_KINDS, "english.kinds").items()}
        types = _table(section.get("dispute_types"), DISPUTE_TYPES, "english.dispute_types")
        risks = _table(section.get("risk_flags"), RISK_FLAGS[:-1], "english.risk_flags")
        crimes = _table(section.get("crime_types"), CRIME_TYPES[:-1], "english.crime_types")
        generic = _words(section.get("dispute_generic"), "english.dispute_generic")
        try:
            self._en_main = PhraseMatcher({**kinds, "dispute": generic, **types}, "word")
            self._en_risk = PhraseMatcher(risks, "risk")
            self._en_crime = PhraseMatcher(crimes, "crime")
            self._en_ignore = PhraseMatcher({"ignore": _words(section.get("ignore"), "english.ignore")}, "ignore")
        except ValueError as exc:
            raise ValueError(f"english: {exc}") from None
        vocabulary: set[str] = set()
        for matcher in (self._en_main, self._en_risk, self._en_crime, self._en_ignore):
            vocabulary |= matcher.vocabulary
        self._tokeniser = Tokeniser(abbreviations, vocabulary)
        # Where an English group sorts among the Chinese ones, so merged hits break ties alike.
        names = [*self._kinds, "dispute", *self._types]
        names += [n for n in (*KIND_GROUPS.values(), "dispute", *DISPUTE_TYPES) if n not in names]
        self._position = {name: i for i, name in enumerate(names)}
        self._risk_position = {name: i for i, name in enumerate([*self._risks, *RISK_FLAGS])}
        self._crime_position = {name: i for i, name in enumerate([*self._crime_types, *CRIME_TYPES])}

    def with_keywords(self, extra: dict[str, Any]) -> "Classifier":
        """These rules plus a feed's own words (a profile's `keywords`): Latin-script words join the
        English tables, others the Chinese ones. Same version: the words are the profile's, and each
        record keeps the profile's name and version beside the rules version."""
        if not any(extra.get(k) for k in ("kinds", "dispute", "dispute_types", "risk_flags")):
            return self
        rules = yaml.safe_load(yaml.safe_dump(self.rules, allow_unicode=True))  # a deep copy of plain data
        english = rules.setdefault("english", {})

        def add(section: str, group: str | None, words: list[str]) -> None:
            for word in words:
                target = english if word.isascii() else rules
                if group is None:
                    target.setdefault(section, []).append(word)
                else:
                    target.setdefault(section, {}).setdefault(group, []).append(word)

        for group, words in (extra.get("kinds") or {}).items():
            if group == "other" and not all(w.isascii() for w in words):
                raise ValueError("keywords.kinds.other: Chinese rules have no words for other")
            add("kinds", group, words)
        add("dispute_generic", None, extra.get("dispute") or [])
        for group, words in (extra.get("dispute_types") or {}).items():
            add("dispute_types", group, words)
        for group, words in (extra.get("risk_flags") or {}).items():
            add("risk_flags", group, words)
        return Classifier(rules)

    def _latin(self, text: str) -> tuple[list[Any], list[Any], list[str | None]]:
        """English hits (main, risk) of a normalised text, and its tokens left for crime types."""
        tokens: list[str | None] = list(self._tokeniser.tokens(text))
        if not tokens:
            return [], [], []
        self._en_ignore.scan(tokens)  # negations and look-alikes ("no weapons", "civil process") go first
        kept = list(tokens)
        main = [(self._position[name], 10_000 + p, name, label) for _, p, name, label in self._en_main.scan(tokens)]
        risks = [(self._risk_position[name], 10_000 + p, name, label)
                 for _, p, name, label in self._en_risk.scan(list(kept))]
        return main, risks, kept

    def _is_pattern(self, label: str) -> bool:
        return label.startswith("word:") and label.split(":", 2)[2] in self._en_main.patterns

    def classify(self, *, category: str | None, description: str | None,
                 category_text: str | None = None) -> Classification:
        """Kind, dispute type, crime type, the text's risk flags and confidence for one record; never raises
        on content. (repeat_caller is not the text's: triage adds it from the caller's history.)"""
        memo_key = None
        if len(description or "") + len(category_text or "") <= _MEMO_CHARS and (
                category is None or isinstance(category, str)):
            # The rules are immutable and a CAD export repeats its call types: decide each once.
            memo_key = (category, description, category_text)
            known = self._memo.get(memo_key)
            if known is not None:
                return known
        result = self._classify(category, description, category_text)
        if memo_key is not None:
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[memo_key] = result
        return result

    def _classify(self, category: str | None, description: str | None, category_text: str | None) -> Classification:
        text = _normalise(f"{description or ''}\n{category_text or ''}")
        # Which of the characters that start a keyword or an ignored phrase the text holds. It stays
        # a superset after blanking, which only takes characters away (and adds _GAP, which starts
        # no keyword of a table that relies on chars).
        chars = set(self._firsts.findall(text))
        if not self._ignore_first.isdisjoint(chars):
            text = self._blank_ignored(text, chars)
        key = _normalise(category.strip()) if isinstance(category, str) else None
        code = self._codes.get(key) if key else None
        found = self._main.scan(text, chars) if chars else []
        risks = self._risk.scan(text, chars) if chars else []
        words: list[str | None] = []
        if _LATIN.search(text):
            en_found, en_risks, words = self._latin(text)
            if en_found:
                found = sorted(found + en_found)
            if en_risks:
                risks = sorted(risks + en_risks)

        # Hits per group, in table order: the kinds, "dispute" (the generic words), the types.
        counts: dict[str, int] = {}
        for _, _, name, _ in found:
            counts[name] = counts.get(name, 0) + 1
        flags = {name for _, _, name, _ in risks}
        implied, implied_hits = None, 0
        if flags:
            implied = next((t for f, t in self._implies.items() if f in flags), None)
            implied_hits = sum(1 for _, _, name, _ in risks if name in self._implies)

        # The first of equal counts wins, so the file's order breaks ties.
        best_type, type_hits = None, 0
        for name, n in counts.items():
            if n > type_hits and name in self._type_names:
                best_type, type_hits = name, n
        # A kind scores its own hits; dispute scores the generic and type words, and the hits of
        # the risk flags that imply a type.
        disputes = len(found) - sum(counts.get(g, 0) for g in KIND_GROUPS.values()) + implied_hits
        best_kind, kind_hits = None, 0
        for k in self._kind_order:
            n = disputes if k == "dispute" else counts.get(KIND_GROUPS[k], 0)
            if n > kind_hits:
                best_kind, kind_hits = k, n

        kind, code_type, code_crime = code if code else (best_kind or "other", None, None)
        crime_type, crimes = None, []
        if kind == "crime":
            if not code_crime:
                crimes = self._crime.scan(text, chars) if chars else []
                if words:
                    crimes = sorted(crimes + [(self._crime_position[n], 10_000 + p, n, label)
                                              for _, p, n, label in self._en_crime.scan(words)])
            crime_type = code_crime or _most_hits(crimes) or "other"
        dispute_type = (code_type or implied or best_type or "other") if kind == "dispute" else None
        c = self._conf
        if code_type:
            confidence = c["code_type_agree"] if best_type == code_type else c["code_type"]
        elif code:
            confidence = c["code_kind_agree"] if best_kind == kind else c["code_kind"]
        elif best_kind and self._has_pattern(found, kind):
            confidence = c["pattern"]
        elif best_kind:  # then kind is best_kind
            confidence = min(c["keywords_max"], c["keywords_base"] + c["keywords_step"] * (kind_hits - 1))
        else:
            confidence = c["nothing"]
        confidence = round(max(0.0, min(1.0, confidence)), 4)
        needs_review = kind == "dispute" and code is None and confidence < c["review_below"]

        matched = [f"code:{key}"] if code else []
        matched += [label for _, _, _, label in found]
        matched += [label for _, _, _, label in crimes]
        matched += [label for _, _, _, label in risks]
        return Classification(kind, dispute_type, crime_type, frozenset(flags), confidence, self.version,
                              tuple(matched), needs_review)

    def _has_pattern(self, found: list[tuple[int, int, str, str]], kind: str) -> bool:
        """Whether a phrase of several words among the winning kind's hits names it."""
        for _, _, name, label in found:
            mine = name == KIND_GROUPS[kind] if kind in KIND_GROUPS else name not in _KIND_GROUP_NAMES
            if mine and self._is_pattern(label):
                return True
        return False

    def _blank_ignored(self, text: str, chars: set[str]) -> str:
        """The text with every ignored phrase, in file order, replaced by _GAP."""
        if self._ignore_all:
            phrases: Sequence[str] = self._ignore
        else:
            # Blanking only takes text away, so a phrase not in the text now will not be later.
            index = self._ignored
            phrases = [p for _, p in sorted(ip for c in self._ignore_first.intersection(chars)
                                            for ip in index[c] if ip[1] in text)]
        for phrase in phrases:
            text = text.replace(phrase, _GAP)
        return text
