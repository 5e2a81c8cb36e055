"""Classify a dispatch record (kind, dispute type, risk flags) under a versioned rules file."""
import pathlib
import unicodedata
from dataclasses import dataclass
from typing import Any

import yaml

DISPUTE_TYPES = ("neighbour", "family", "labour", "property_management", "consumer", "land",
                 "traffic_damage", "debt", "other")
KINDS = ("dispute", "crime", "help", "traffic", "other")
RISK_FLAGS = ("weapon", "threat", "self_harm", "domestic_violence", "repeat_caller")

# Located next to the code rather than via importlib.resources: rules/ is data, not a package.
DEFAULT_RULES = pathlib.Path(__file__).resolve().parent.parent / "rules" / "classification.v1.yaml"
CONFIDENCE_KEYS = ("code_type", "code_type_agree", "code_kind", "code_kind_agree",
                   "keywords_base", "keywords_step", "keywords_max", "nothing")
# A separator no keyword contains: blanked text must not join its neighbours into a new match.
_GAP = "\x00"


@dataclass(frozen=True)
class Classification:
    """What the rules made of one record, and which rules fired."""

    kind: str
    dispute_type: str | None
    risk_flags: frozenset[str]
    confidence: float
    rules_version: str
    matched: tuple[str, ...]


def _normalise(text: str) -> str:
    """NFKC and lower case, so full-width and Latin variants meet the keywords."""
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


def _hits(text: str, table: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    """Distinct keywords found per group, longest first; a found keyword consumes its text."""
    return _Matcher(table).hits(text)


class _Matcher:
    """One keyword table, precompiled: what `_hits` means, at a cost that follows the text, not the table.

    The meaning: every distinct keyword (file order, first occurrence), longest first, is looked for
    in the text; a found one is recorded for every group listing it and its text is blanked with
    _GAP before the next keyword is looked for. Consuming across groups keeps 物业费 from also
    counting as 物业, and 修车费 as a consumer's 车费. Per group the hits follow the group's own order.

    The speed: blanking only ever removes text (no keyword contains _GAP), so a keyword found
    after blanking was in the text before it. Only keywords whose first character occurs in the
    text are candidates; those are checked in the same longest-first order, with the same
    blanking, so the result is the same as checking all of them.
    """

    def __init__(self, table: dict[str, tuple[str, ...]]) -> None:
        self.names = tuple(table)
        # dict.fromkeys keeps file order (a set would not), so equal-length overlaps resolve alike every run.
        words = sorted(dict.fromkeys(w for group in table.values() for w in group), key=len, reverse=True)
        self._rank = {w: i for i, w in enumerate(words)}
        # Per word, the groups it counts for: (group position, position in group, group, word),
        # so sorting a record's hits puts them in group order, then in each group's own order.
        self._entries = {w: tuple((g, group.index(w), name, w) for g, (name, group) in enumerate(table.items())
                                  if w in group) for w in words}
        index: dict[str, list[str]] = {}
        for w in words:
            index.setdefault(w[0], []).append(w)
        self._index = {c: tuple(ws) for c, ws in index.items()}
        self._first = frozenset(index)
        # A keyword holding _GAP could be made by blanking, which the first-character shortcut
        # cannot see; such a table (no shipped one) is scanned in full, exactly as described.
        self._exhaustive = any(_GAP in w for w in words)
        self._all = tuple(words)

    def scan(self, text: str, chars: set[str] | frozenset[str] | None = None) -> list[tuple[int, int, str, str]]:
        """The hits as sorted (group position, position in group, group, word); chars ⊇ set(text)."""
        if self._exhaustive:
            candidates = list(self._all)
        else:
            index = self._index
            candidates = [w for c in self._first.intersection(text if chars is None else chars)
                          for w in index[c] if w in text]
            if not candidates:
                return []
            candidates.sort(key=self._rank.__getitem__)
        found = []
        for w in candidates:
            if w in text:
                found.append(w)
                text = text.replace(w, _GAP)
        entries = self._entries
        return sorted([e for w in found for e in entries[w]])

    def hits(self, text: str) -> dict[str, list[str]]:
        """The keywords found per group, every group present, in the table's order."""
        found: dict[str, list[str]] = {name: [] for name in self.names}
        for _, _, name, w in self.scan(text):
            found[name].append(w)
        return found


class Classifier:
    """Applies one rules file; immutable after loading, so safe to share between tasks."""

    def __init__(self, rules: dict[str, Any]) -> None:
        """Validate the parsed rules; a bad file fails here, at start-up, not on a record."""
        if not isinstance(rules, dict) or not isinstance(rules.get("version"), str) or not rules["version"]:
            raise ValueError("rules: a non-empty 'version' string is required")
        self.version: str = rules["version"]
        self._codes: dict[str, tuple[str, str | None]] = {}
        for code, target in (rules.get("codes") or {}).items():
            kind, dtype = (target or {}).get("kind"), (target or {}).get("type")
            if kind not in KINDS or (dtype is not None and (kind != "dispute" or dtype not in DISPUTE_TYPES)):
                raise ValueError(f"codes.{code}: bad kind/type {kind!r}/{dtype!r}")
            self._codes[_normalise(str(code).strip())] = (kind, dtype)
        self._ignore = _words(rules.get("ignore"), "ignore")
        self._kinds = _table(rules.get("kinds"), ("crime", "help", "traffic"), "kinds")
        self._generic = _words(rules.get("dispute_generic"), "dispute_generic")
        self._types = _table(rules.get("dispute_types"), DISPUTE_TYPES, "dispute_types")
        self._risks = _table(rules.get("risk_flags"), RISK_FLAGS[:-1], "risk_flags")
        self._implies = {f: t for f, t in (rules.get("implies") or {}).items()}
        if any(f not in self._risks or t not in DISPUTE_TYPES for f, t in self._implies.items()):
            raise ValueError("implies: maps a risk flag with keywords to a dispute type")
        self._kind_order = tuple(rules.get("kind_order") or ("crime", "help", "traffic", "dispute"))
        if sorted(self._kind_order) != sorted(("crime", "help", "traffic", "dispute")):
            raise ValueError("kind_order: must list crime, help, traffic and dispute once each")
        self._conf = {k: float((rules.get("confidence") or {}).get(k, -1)) for k in CONFIDENCE_KEYS}
        if not all(0 <= v <= 1 for v in self._conf.values()):
            raise ValueError(f"confidence: needs {CONFIDENCE_KEYS}, each within 0..1")

        # Built once here: classify() looks up only the keywords whose first character it meets.
        self._main = _Matcher({**self._kinds, "dispute": self._generic, **self._types})
        self._risk = _Matcher(self._risks)
        self._ignore_first = frozenset(p[0] for p in self._ignore)
        self._type_names = frozenset(self._types)

    @classmethod
    def load(cls, path: pathlib.Path | None = None) -> "Classifier":
        """Read a rules file; by default the one shipped with the service."""
        with open(path or DEFAULT_RULES, encoding="utf-8") as handle:
            return cls(yaml.safe_load(handle))

    def classify(self, *, category: str | None, description: str | None,
                 category_text: str | None = None, repeat_caller: bool = False) -> Classification:
        """Kind, dispute type, risk flags and confidence for one record; never raises on content."""
        text = _normalise(f"{description or ''}\n{category_text or ''}")
        chars = set(text)  # still covers the text after blanking, which only removes characters
        if not self._ignore_first.isdisjoint(chars):
            for phrase in self._ignore:
                text = text.replace(phrase, _GAP)
        key = _normalise(category.strip()) if isinstance(category, str) else None
        code = self._codes.get(key) if key else None
        # Kind, generic and type keywords compete for the same text; risk keywords are read
        # separately because 家暴 must count both as a family word and as a risk.
        found = self._main.scan(text, chars)
        risks = self._risk.scan(text, chars)
        counts: dict[str, int] = {}
        for _, _, name, _ in found:
            counts[name] = counts.get(name, 0) + 1
        risk_counts: dict[str, int] = {}
        for _, _, name, _ in risks:
            risk_counts[name] = risk_counts.get(name, 0) + 1
        flags = set(risk_counts)
        if repeat_caller:
            flags.add("repeat_caller")
        implied = next((t for f, t in self._implies.items() if f in flags), None)

        # counts holds the hits of every group; the kinds score their own, dispute the rest
        # (generic and type words) plus the hits of the risk flags that imply a type.
        types = self._type_names
        best_type, most = None, 0
        for name, n in counts.items():  # in table order; the first of equal counts wins
            if n > most and name in types:
                best_type, most = name, n
        kind_counts = {k: counts.get(k, 0) for k in self._kinds}
        kind_counts["dispute"] = len(found) - sum(kind_counts.values()) + sum(
            risk_counts.get(f, 0) for f in self._implies)
        # max() keeps the first of equal candidates, so the file's order breaks ties.
        best_kind = max(self._kind_order, key=lambda k: kind_counts.get(k, 0))
        best_kind = best_kind if kind_counts.get(best_kind, 0) else None

        kind, code_type = code if code else (best_kind or "other", None)
        dispute_type = (code_type or implied or best_type or "other") if kind == "dispute" else None
        c = self._conf
        if code_type:
            confidence = c["code_type_agree"] if best_type == code_type else c["code_type"]
        elif code:
            confidence = c["code_kind_agree"] if best_kind == kind else c["code_kind"]
        elif best_kind:
            confidence = min(c["keywords_max"], c["keywords_base"] + c["keywords_step"] * (kind_counts[kind] - 1))
        else:
            confidence = c["nothing"]

        # Group order in the main table is kinds, then "dispute" (the generic words), then types.
        matched = [f"code:{key}"] if code else []
        matched += [f"keyword:{name}:{w}" for _, _, name, w in found]
        matched += [f"risk:{name}:{w}" for _, _, name, w in risks]
        if repeat_caller:
            matched.append("risk:repeat_caller")
        return Classification(kind, dispute_type, frozenset(flags), round(max(0.0, min(1.0, confidence)), 4),
                              self.version, tuple(matched))
