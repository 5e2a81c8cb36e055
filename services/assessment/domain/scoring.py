"""Score, grade and rank the units of one cohort under a versioned rules file (rules/scoring.v2.yaml).

Two methods, chosen by the rules file:
- targets (scoring.v2): each figure earns points against the targets written in the rules, full marks
  at or beyond the target, none at the floor, linear between; a basic duty (pass_at) earns all or
  nothing. A score means the same in every county and month.
- percentile_rank (scoring.v1): each figure becomes a percentile among the units of the cohort, so a
  score says where a unit stands among the others, not how good it is.
Both give a weighted score over the figures that have enough data, a grade, red lines, candidacy, and
a rank in which a written tie-break decides between equal scores.
"""
import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from itertools import groupby
from pathlib import Path
from typing import Any, NamedTuple, cast

import yaml

from services.assessment.domain.figures import FIGURE_NAMES, Figure, check_min_samples

RULES_DIR = Path(__file__).resolve().parents[1] / "rules"
DEFAULT_RULES = RULES_DIR / "scoring.v2.yaml"
V1_RULES = RULES_DIR / "scoring.v1.yaml"
DIRECTIONS, METHODS = ("higher", "lower"), ("percentile_rank", "targets")
# Who is ranked against whom: the units of one county, of the whole city, or of one cohort of similar
# stations named in the reference data (urban, rural, ...).
COHORTS = ("county", "city", "reference")
_KEYS = {"version", "normalisation", "figures", "min_samples", "grades", "candidate", "red_lines", "score_decimals"}
_OPTIONAL_KEYS = {"tie_break", "rankable"}  # scoring.v2 on; scoring.v1 has neither
_DETAIL = 4  # decimals of a contribution's percentile and points; shares get 6 (they are below 1)


# How much a figure counts and which way is better; a figure above `above` caps the grade and bars a candidacy.
Weight = NamedTuple("Weight", [("weight", Fraction), ("better", str)])
# targets method: full marks at `target`, none at `floor`, linear between; or all-or-nothing at `pass_at`.
Target = NamedTuple("Target", [("target", Fraction | None), ("floor", Fraction | None), ("pass_at", Fraction | None)])
TieBreak = NamedTuple("TieBreak", [("figure", str), ("better", str)])
RedLine = NamedTuple("RedLine", [("figure", str), ("above", Fraction), ("grade_at_most", str)])


@dataclass(frozen=True)
class Contribution:
    """One figure's part of a score: its normalised value (a percentile in the cohort, or the share of full
    marks its targets give), its share of the unit's weight, and the points it adds."""
    figure: str
    value: float | None
    percentile: Decimal | None  # percentile_rank: 0..100; None when not rankable (or under targets)
    weight_share: Decimal  # weight / the unit's rankable weight; 0 when not rankable
    points: Decimal  # weight_share x (percentile or 100 x attainment), rounded on its own
    attainment: Decimal | None = None  # targets: 0..1 of full marks; None when not rankable (or percentiles)
    target: Decimal | None = None  # the rules' target, floor or pass mark, shown beside the value
    floor: Decimal | None = None
    pass_at: Decimal | None = None


@dataclass(frozen=True)
class Ranked:
    """One unit's place in the ranking, with everything needed to explain it."""
    unit: str
    score: Decimal | None  # None when none of its scored figures is rankable
    grade: str | None
    candidate: bool
    red_line: bool
    rank: int | None  # competition ranking: 1, 2, 2, 4; None when unscored
    tied_with: tuple[str, ...]  # the other units with the same rank, by unit code
    rankable_weight: Decimal  # share of the total weight its rankable figures carry
    contributions: tuple[Contribution, ...]
    not_rankable: tuple[str, ...] = ()  # why it is listed apart: the scored figures without enough data
    tie_values: tuple[float | None, ...] = ()  # the tie-break figures' values, in the rules' order


def _number(raw: Any, where: str, low: Fraction = Fraction(0), high: Fraction | None = None) -> Fraction:
    """An exact number from YAML: 0.6 is 3/5, not the nearest binary float, so sums never depend on order."""
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise ValueError(f"{where}: expected a number, got {raw!r}")
    value = Fraction(repr(raw)) if isinstance(raw, float) else Fraction(raw)
    if value < low or (high is not None and value > high):
        raise ValueError(f"{where}: expected a number >= {low}{'' if high is None else f' and <= {high}'}, got {raw}")
    return value


def _mapping(raw: Any, where: str, keys: Set[str] | None = None, optional: Set[str] = frozenset()) -> dict[str, Any]:
    """A mapping, with exactly `keys` (and any of `optional`) when given, so a misspelt key is refused."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping, got {raw!r}")
    if keys is not None and not keys <= set(raw) <= keys | optional:
        raise ValueError(f"{where}: missing keys {sorted(keys - set(raw))}, unknown keys "
                         f"{sorted(map(str, set(raw) - keys - optional))}; expected exactly {sorted(keys)}"
                         + (f" and optionally {sorted(optional)}" if optional else ""))
    return raw


@dataclass(frozen=True)
class Rules:
    """One validated rules file; immutable after loading."""
    version: str
    cohort: str
    weights: Mapping[str, Weight]
    min_samples: Mapping[str, int]
    grades: tuple[tuple[str, Fraction], ...]  # best first
    candidate_min_score: Fraction
    candidate_min_weight: Fraction
    red_lines: tuple[RedLine, ...]
    score_decimals: int
    method: str = "percentile_rank"
    targets: Mapping[str, Target] = field(default_factory=dict)
    tie_break: tuple[TieBreak, ...] = ()
    # A unit whose figures with enough data carry less than this share of the weight is not ranked.
    min_rankable_weight: Fraction = Fraction(0)

    @classmethod
    def from_dict(cls, raw: Any) -> "Rules":
        """Validate parsed rules; every error names the key at fault."""
        raw = _mapping(raw, "rules", _KEYS, _OPTIONAL_KEYS)
        if not isinstance(raw["version"], str) or not raw["version"]:
            raise ValueError("version: a non-empty string is required")
        norm = _mapping(raw["normalisation"], "normalisation", {"method", "cohort"})
        if norm["method"] not in METHODS or norm["cohort"] not in COHORTS:
            raise ValueError(f"normalisation: expected method {' or '.join(METHODS)} and cohort one of {COHORTS}, "
                             f"got {norm}")
        method = norm["method"]
        weights, targets = {}, {}
        for name, entry in _mapping(raw["figures"], "figures").items():
            entry = _mapping(entry, f"figures.{name}", {"weight", "better"},
                             {"target", "floor", "pass_at"} if method == "targets" else set())
            if name not in FIGURE_NAMES or entry["better"] not in DIRECTIONS:
                raise ValueError(f"figures.{name}: expected a figure of {FIGURE_NAMES} and better: one of {DIRECTIONS}")
            weights[name] = Weight(_number(entry["weight"], f"figures.{name}.weight"), entry["better"])
            if method == "targets" and weights[name].weight > 0:
                targets[name] = _target(entry, f"figures.{name}")
        if not sum(w.weight for w in weights.values()):
            raise ValueError("figures: at least one figure needs a weight above 0")
        if method == "targets" and sum(w.weight for w in weights.values()) != 100:
            raise ValueError(f"figures: under targets the weights must sum to 100, got "
                             f"{sum(w.weight for w in weights.values())}")
        check_min_samples(_mapping(raw["min_samples"], "min_samples"))
        grades, red_lines = _grades(raw["grades"]), raw["red_lines"]
        candidate = _mapping(raw["candidate"], "candidate", {"min_score", "min_rankable_weight"})
        if not isinstance(red_lines, list):
            raise ValueError(f"red_lines: expected a list, got {red_lines!r}")
        decimals = raw["score_decimals"]
        if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 6:
            raise ValueError(f"score_decimals: expected a whole number 0..6, got {decimals!r}")
        rankable = _mapping(raw.get("rankable", {"min_weight": 0}), "rankable", {"min_weight"})
        return cls(raw["version"], norm["cohort"], weights, dict(raw["min_samples"]), grades,
                   _number(candidate["min_score"], "candidate.min_score", high=Fraction(100)),
                   _number(candidate["min_rankable_weight"], "candidate.min_rankable_weight", high=Fraction(1)),
                   tuple(_red_line(line, i, dict(grades)) for i, line in enumerate(red_lines)), decimals,
                   method, targets, _tie_break(raw.get("tie_break", [])),
                   _number(rankable["min_weight"], "rankable.min_weight", high=Fraction(1)))

    @classmethod
    def load(cls, path: Path | str | None = None) -> "Rules":
        """Read a rules file, by default the current one shipped with the service (scoring.v2); a bad file
        fails here, naming it."""
        path = Path(path or DEFAULT_RULES)
        try:
            return cls.from_dict(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (ValueError, yaml.YAMLError) as error:  # YAMLError is not a ValueError: both get the file's name
            raise ValueError(f"{path}: {error}") from None


def _grades(raw: Any) -> tuple[tuple[str, Fraction], ...]:
    """The 'grades' list: distinct names, best first, min_score falling strictly down to 0."""
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"grades: expected a non-empty list, got {raw!r}")
    grades = tuple((entry["grade"], _number(entry["min_score"], f"grades[{i}].min_score", high=Fraction(100)))
                   for i, entry in enumerate(_mapping(g, f"grades[{i}]", {"grade", "min_score"})
                                             for i, g in enumerate(raw)))
    names = [name for name, _ in grades]
    if (any(not isinstance(name, str) or not name for name in names) or len(set(names)) < len(names)
            or any(better[1] <= worse[1] for better, worse in zip(grades, grades[1:])) or grades[-1][1] != 0):
        raise ValueError(f"grades: expected distinct names, best first, min_score falling strictly to 0, got {raw}")
    return grades


def _target(entry: dict[str, Any], where: str) -> Target:
    """A scored figure's targets: target and floor (the floor on the worse side), or a pass mark alone."""
    given = {key for key in ("target", "floor", "pass_at") if key in entry}
    if given == {"pass_at"}:
        return Target(None, None, _number(entry["pass_at"], f"{where}.pass_at"))
    if given != {"target", "floor"}:
        raise ValueError(f"{where}: expected target and floor, or pass_at alone, got {sorted(given)}")
    target, floor = _number(entry["target"], f"{where}.target"), _number(entry["floor"], f"{where}.floor")
    if (floor >= target) if entry["better"] == "higher" else (floor <= target):
        raise ValueError(f"{where}: the floor ({entry['floor']}) must be worse than the target ({entry['target']}) "
                         f"for a figure where {entry['better']} is better")
    return Target(target, floor, None)


def _tie_break(raw: Any) -> tuple[TieBreak, ...]:
    """The 'tie_break' list: figures compared in order, each in its better direction, when scores are equal."""
    if not isinstance(raw, list):
        raise ValueError(f"tie_break: expected a list, got {raw!r}")
    entries = []
    for i, entry in enumerate(raw):
        entry = _mapping(entry, f"tie_break[{i}]", {"figure", "better"})
        if entry["figure"] not in FIGURE_NAMES or entry["better"] not in DIRECTIONS:
            raise ValueError(f"tie_break[{i}]: expected a figure of {FIGURE_NAMES} and better: one of {DIRECTIONS}")
        entries.append(TieBreak(entry["figure"], entry["better"]))
    return tuple(entries)


def _red_line(raw: Any, index: int, grades: Mapping[str, Fraction]) -> RedLine:
    """One entry of 'red_lines'."""
    raw = _mapping(raw, f"red_lines[{index}]", {"figure", "above", "grade_at_most"})
    if raw["figure"] not in FIGURE_NAMES or raw["grade_at_most"] not in grades:
        raise ValueError(f"red_lines[{index}]: expected a figure of {FIGURE_NAMES} and a grade of {list(grades)}")
    return RedLine(raw["figure"], _number(raw["above"], f"red_lines[{index}].above"), raw["grade_at_most"])


def _round(value: Fraction, places: int) -> Decimal:
    """Round half up, exactly: floor(v 10^p + 1/2) in integers, as no binary float may touch a score."""
    return Decimal((2 * value.numerator * 10**places + value.denominator) // (2 * value.denominator)).scaleb(-places)


def _percentiles(values: Mapping[str, float], better: str) -> dict[str, Fraction]:
    """Percentile rank 100 (B + E/2) / N of each unit; B counts units strictly worse, E equal ones (itself too)."""
    ordered, n = sorted(values.values()), len(values)
    ranks = {}
    for unit, value in values.items():
        low, high = bisect_left(ordered, value), bisect_right(ordered, value)  # floats compare exactly
        worse = low if better == "higher" else n - high
        ranks[unit] = Fraction(100 * (2 * worse + high - low), 2 * n)
    return ranks


def _attainment(value: float, weight: Weight, target: Target) -> Fraction:
    """The share of full marks a value earns against its targets: 1 at or beyond the target, 0 at or beyond
    the floor, linear between; a basic duty earns 1 when it meets its pass mark and 0 otherwise."""
    exact, higher = Fraction(value), weight.better == "higher"  # a float is an exact binary fraction
    if target.pass_at is not None:
        return Fraction(int(exact >= target.pass_at if higher else exact <= target.pass_at))
    goal, floor = cast(Fraction, target.target), cast(Fraction, target.floor)  # set whenever pass_at is not
    share = (exact - floor) / (goal - floor)  # the signs agree when lower is better
    return min(Fraction(1), max(Fraction(0), share))


def _normalised(name: str, figure: Figure, percentiles: dict[str, dict[str, Fraction]], unit: str,
                rules: Rules) -> Fraction | None:
    """0..100 for a figure with enough data: its percentile, or 100 x its attainment; None otherwise."""
    if rules.method == "targets":
        return 100 * _attainment(cast(float, figure.value), rules.weights[name], rules.targets[name]) if figure.rankable else None
    return percentiles[name].get(unit)


def _decimal(value: Fraction | None) -> Decimal | None:
    return None if value is None else _round(value, _DETAIL)


def _score(unit: str, figures: Mapping[str, Figure], percentiles: dict[str, dict[str, Fraction]],
           scored: list[str], rules: Rules) -> Ranked:
    """One unit's score: the weighted mean of its normalised figures that have enough data, with grade, red
    line, candidacy, and why it is not rankable when too little of the weight has data."""
    normal = {name: _normalised(name, figures[name], percentiles, unit, rules) for name in scored}
    total = sum(rules.weights[name].weight for name in scored)
    rankable = sum(rules.weights[name].weight for name in scored if normal[name] is not None)
    parts: list[Contribution] = []
    exact = Fraction(0)
    for name in scored:
        share = rules.weights[name].weight / rankable if normal[name] is not None else Fraction(0)
        exact += (points := share * (normal[name] or 0))
        target = rules.targets.get(name, Target(None, None, None))
        parts.append(Contribution(
            name, figures[name].value, _decimal(normal[name]) if rules.method == "percentile_rank" else None,
            _round(share, 6), _round(points, _DETAIL),
            _decimal(cast(Fraction, normal[name]) / 100) if rules.method == "targets" and normal[name] is not None else None,
            *(_decimal(value) for value in target)))
    red_lines = [line for line in rules.red_lines if (figures[line.figure].value or 0) > line.above]  # exact compare
    missing = tuple(name for name in scored if normal[name] is None)
    enough = bool(rankable) and rankable >= rules.min_rankable_weight * total
    score = _round(exact, rules.score_decimals) if enough else None
    names = [name for name, _ in rules.grades]
    earned = None if score is None else sum(least > Fraction(score) for _, least in rules.grades)  # index, best first
    grade = None if earned is None else names[max([earned] + [names.index(line.grade_at_most) for line in red_lines])]
    candidate = (score is not None and not red_lines and Fraction(score) >= rules.candidate_min_score
                 and rankable >= rules.candidate_min_weight * total)
    ties = tuple(figures[t.figure].value if t.figure in figures else None for t in rules.tie_break)
    return Ranked(unit, score, grade, candidate, bool(red_lines), None, (), _round(cast(Fraction, rankable / total), 6), tuple(parts),
                  () if score is not None else missing, ties)


def score_units(units: Mapping[str, Mapping[str, Figure]], rules: Rules) -> list[Ranked]:
    """Score and rank one cohort's units: best score first (the tie-break deciding between equal scores),
    ties that survive it sharing a rank and listed by unit code, units that are not rankable last."""
    scored = [name for name in FIGURE_NAMES if name in rules.weights and rules.weights[name].weight > 0]
    for unit, figures in units.items():
        needed = scored + [line.figure for line in rules.red_lines] + [t.figure for t in rules.tie_break]
        if missing := [name for name in needed if name not in figures]:
            raise ValueError(f"unit {unit!r}: figure {missing[0]!r} is missing; the rules score or check it")
    percentiles = {} if rules.method == "targets" else {
        name: _percentiles({unit: cast(float, figures[name].value) for unit, figures in units.items() if figures[name].rankable},
                           rules.weights[name].better) for name in scored}
    return rank_by_score([_score(unit, figures, percentiles, scored, rules) for unit, figures in units.items()],
                         rules.tie_break)


def _order(row: Ranked, tie_break: Sequence[TieBreak]) -> tuple[Any, ...]:
    """The sort key of a scored row: score, then each tie-break figure, best first; no value sorts last."""
    key: list[Any] = [-cast(Decimal, row.score)]
    for rule, value in zip(tie_break, row.tie_values):
        key += [(1, 0.0) if value is None else (0, -value if rule.better == "higher" else value)]
    return tuple(key)


def rank_by_score(rows: Sequence[Ranked], tie_break: Sequence[TieBreak] = ()) -> list[Ranked]:
    """Rank scored rows, best first: equal scores are ordered by the tie-break figures (floats compare
    exactly); rows equal in all of them share a rank and are listed by unit code; unscored rows come last.
    Also ranks rows scored in different cohorts (the counties of a city) against each other."""
    scored = sorted((row for row in rows if row.score is not None), key=lambda row: (_order(row, tie_break), row.unit))
    ranked: list[Ranked] = []
    for _, group in groupby(scored, key=lambda row: _order(row, tie_break)):  # equal keys are adjacent
        tied = list(group)
        rank = len(ranked) + 1  # competition ranking: skip the places ties take
        ranked += [replace(row, rank=rank, tied_with=tuple(other.unit for other in tied if other is not row))
                   for row in tied]
    return ranked + sorted((replace(row, rank=None, tied_with=()) for row in rows if row.score is None),
                           key=lambda row: row.unit)
