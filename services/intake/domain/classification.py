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
    # Consuming across groups keeps 物业费 from also counting as 物业, and 修车费 as a consumer's 车费.
    found: dict[str, list[str]] = {name: [] for name in table}
    # dict.fromkeys keeps file order (a set would not), so equal-length overlaps resolve alike every run.
    for word in sorted(dict.fromkeys(w for words in table.values() for w in words), key=len, reverse=True):
        if word in text:
            for name, words in table.items():
                if word in words:
                    found[name].append(word)
            text = text.replace(word, _GAP)
    return {name: sorted(hits, key=table[name].index) for name, hits in found.items()}


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

    @classmethod
    def load(cls, path: pathlib.Path | None = None) -> "Classifier":
        """Read a rules file; by default the one shipped with the service."""
        with open(path or DEFAULT_RULES, encoding="utf-8") as handle:
            return cls(yaml.safe_load(handle))

    def classify(self, *, category: str | None, description: str | None,
                 category_text: str | None = None, repeat_caller: bool = False) -> Classification:
        """Kind, dispute type, risk flags and confidence for one record; never raises on content."""
        text = _normalise(f"{description or ''}\n{category_text or ''}")
        for phrase in self._ignore:
            text = text.replace(phrase, _GAP)
        key = _normalise(category.strip()) if isinstance(category, str) else None
        code = self._codes.get(key) if key else None
        # Kind, generic and type keywords compete for the same text; risk keywords are read
        # separately because 家暴 must count both as a family word and as a risk.
        found = _hits(text, {**self._kinds, "dispute": self._generic, **self._types})
        kind_hits = {k: found[k] for k in self._kinds}
        generic, type_hits = found["dispute"], {t: found[t] for t in self._types}
        risk_hits = _hits(text, self._risks)
        flags = {f for f, hits in risk_hits.items() if hits} | ({"repeat_caller"} if repeat_caller else set())
        implied = next((t for f, t in self._implies.items() if f in flags), None)

        counts = {k: len(hits) for k, hits in kind_hits.items()}
        counts["dispute"] = len(generic) + sum(map(len, type_hits.values())) + sum(
            len(risk_hits[f]) for f in self._implies if f in flags)
        # max() keeps the first of equal candidates, so the file's order breaks ties.
        best_kind = max(self._kind_order, key=lambda k: counts.get(k, 0))
        best_kind = best_kind if counts.get(best_kind, 0) else None
        best_type = max(type_hits, key=lambda t: len(type_hits[t]), default=None)
        best_type = best_type if best_type and type_hits[best_type] else None

        kind, code_type = code if code else (best_kind or "other", None)
        dispute_type = (code_type or implied or best_type or "other") if kind == "dispute" else None
        c = self._conf
        if code_type:
            confidence = c["code_type_agree"] if best_type == code_type else c["code_type"]
        elif code:
            confidence = c["code_kind_agree"] if best_kind == kind else c["code_kind"]
        elif best_kind:
            confidence = min(c["keywords_max"], c["keywords_base"] + c["keywords_step"] * (counts[kind] - 1))
        else:
            confidence = c["nothing"]

        matched = [f"code:{key}"] if code else []
        matched += [f"keyword:{k}:{w}" for k, hits in kind_hits.items() for w in hits]
        matched += [f"keyword:dispute:{w}" for w in generic]
        matched += [f"keyword:{t}:{w}" for t, hits in type_hits.items() for w in hits]
        matched += [f"risk:{f}:{w}" for f, hits in risk_hits.items() for w in hits]
        matched += ["risk:repeat_caller"] if repeat_caller else []
        return Classification(kind, dispute_type, frozenset(flags), round(max(0.0, min(1.0, confidence)), 4),
                              self.version, tuple(matched))
