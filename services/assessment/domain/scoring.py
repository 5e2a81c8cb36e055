"""Score, grade and rank the units of one cohort under a versioned rules file (rules/scoring.v1.yaml)."""
import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction
from itertools import groupby
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from services.assessment.domain.figures import FIGURE_NAMES, Figure, check_min_samples

DEFAULT_RULES = Path(__file__).resolve().parents[1] / "rules" / "scoring.v1.yaml"
DIRECTIONS, COHORTS = ("higher", "lower"), ("county", "city")  # a cohort: the units of one score_units call
_KEYS = {"version", "normalisation", "figures", "min_samples", "grades", "candidate", "red_lines", "score_decimals"}
_DETAIL = 4  # decimals of a contribution's percentile and points; shares get 6 (they are below 1)


# How much a figure counts and which way is better; a figure above `above` caps the grade and bars a candidacy.
Weight = NamedTuple("Weight", [("weight", Fraction), ("better", str)])
RedLine = NamedTuple("RedLine", [("figure", str), ("above", Fraction), ("grade_at_most", str)])


@dataclass(frozen=True)
class Contribution:
    """One figure's part of a score: percentile in the cohort, share of the unit's weight, points added."""
    figure: str
    value: float | None
    percentile: Decimal | None  # None: not rankable for this unit, so it adds nothing
    weight_share: Decimal  # weight / the unit's rankable weight; 0 when not rankable
    points: Decimal  # weight_share x percentile, rounded on its own (the sum may differ in the last place)


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


def _number(raw: Any, where: str, low: Fraction = Fraction(0), high: Fraction | None = None) -> Fraction:
    """An exact number from YAML: 0.6 is 3/5, not the nearest binary float, so sums never depend on order."""
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise ValueError(f"{where}: expected a number, got {raw!r}")
    value = Fraction(repr(raw)) if isinstance(raw, float) else Fraction(raw)
    if value < low or (high is not None and value > high):
        raise ValueError(f"{where}: expected a number >= {low}{'' if high is None else f' and <= {high}'}, got {raw}")
    return value


def _mapping(raw: Any, where: str, keys: set[str] | None = None) -> dict:
    """A mapping, with exactly `keys` when given, so a misspelt key is refused rather than ignored."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping, got {raw!r}")
    if keys is not None and set(raw) != keys:
        raise ValueError(f"{where}: missing keys {sorted(keys - set(raw))}, unknown keys "
                         f"{sorted(map(str, set(raw) - keys))}; expected exactly {sorted(keys)}")
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

    @classmethod
    def from_dict(cls, raw: Any) -> "Rules":
        """Validate parsed rules; every error names the key at fault."""
        raw = _mapping(raw, "rules", _KEYS)
        if not isinstance(raw["version"], str) or not raw["version"]:
            raise ValueError("version: a non-empty string is required")
        norm = _mapping(raw["normalisation"], "normalisation", {"method", "cohort"})
        if norm["method"] != "percentile_rank" or norm["cohort"] not in COHORTS:
            raise ValueError(f"normalisation: expected method percentile_rank and cohort one of {COHORTS}, got {norm}")
        weights = {}
        for name, entry in _mapping(raw["figures"], "figures").items():
            entry = _mapping(entry, f"figures.{name}", {"weight", "better"})
            if name not in FIGURE_NAMES or entry["better"] not in DIRECTIONS:
                raise ValueError(f"figures.{name}: expected a figure of {FIGURE_NAMES} and better: one of {DIRECTIONS}")
            weights[name] = Weight(_number(entry["weight"], f"figures.{name}.weight"), entry["better"])
        if not sum(w.weight for w in weights.values()):
            raise ValueError("figures: at least one figure needs a weight above 0")
        check_min_samples(_mapping(raw["min_samples"], "min_samples"))
        grades, red_lines = _grades(raw["grades"]), raw["red_lines"]
        candidate = _mapping(raw["candidate"], "candidate", {"min_score", "min_rankable_weight"})
        if not isinstance(red_lines, list):
            raise ValueError(f"red_lines: expected a list, got {red_lines!r}")
        decimals = raw["score_decimals"]
        if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 6:
            raise ValueError(f"score_decimals: expected a whole number 0..6, got {decimals!r}")
        return cls(raw["version"], norm["cohort"], weights, dict(raw["min_samples"]), grades,
                   _number(candidate["min_score"], "candidate.min_score", high=Fraction(100)),
                   _number(candidate["min_rankable_weight"], "candidate.min_rankable_weight", high=Fraction(1)),
                   tuple(_red_line(line, i, dict(grades)) for i, line in enumerate(red_lines)), decimals)

    @classmethod
    def load(cls, path: Path | str | None = None) -> "Rules":
        """Read a rules file, by default the one shipped with the service; a bad file fails here, naming it."""
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


def _score(unit: str, figures: Mapping[str, Figure], percentiles: dict[str, dict[str, Fraction]],
           rules: Rules) -> Ranked:
    """One unit's score: the weighted mean of its rankable percentiles, with grade, red line and candidacy."""
    total = sum(rules.weights[name].weight for name in percentiles)
    rankable = sum(rules.weights[name].weight for name in percentiles if unit in percentiles[name])
    parts, exact = [], Fraction(0)
    for name, ranks in percentiles.items():
        share = rules.weights[name].weight / rankable if unit in ranks else Fraction(0)
        exact += (points := share * ranks.get(unit, 0))
        parts.append(Contribution(name, figures[name].value, _round(ranks[unit], _DETAIL) if unit in ranks else None,
                                  _round(share, 6), _round(points, _DETAIL)))
    red_lines = [line for line in rules.red_lines if (figures[line.figure].value or 0) > line.above]  # exact compare
    score = _round(exact, rules.score_decimals) if rankable else None
    names = [name for name, _ in rules.grades]
    earned = None if score is None else sum(least > Fraction(score) for _, least in rules.grades)  # index, best first
    grade = None if earned is None else names[max([earned] + [names.index(line.grade_at_most) for line in red_lines])]
    candidate = (score is not None and not red_lines and Fraction(score) >= rules.candidate_min_score
                 and rankable >= rules.candidate_min_weight * total)
    return Ranked(unit, score, grade, candidate, bool(red_lines), None, (), _round(rankable / total, 6), tuple(parts))


def score_units(units: Mapping[str, Mapping[str, Figure]], rules: Rules) -> list[Ranked]:
    """Rank one cohort's units: best score first, ties sharing a rank and listed by unit code, unscored last."""
    scored = [name for name in FIGURE_NAMES if name in rules.weights and rules.weights[name].weight > 0]
    for unit, figures in units.items():
        if missing := [name for name in scored + [line.figure for line in rules.red_lines] if name not in figures]:
            raise ValueError(f"unit {unit!r}: figure {missing[0]!r} is missing; the rules score or check it")
    percentiles = {name: _percentiles({unit: figures[name].value for unit, figures in units.items()
                                       if figures[name].rankable}, rules.weights[name].better) for name in scored}
    return rank_by_score([_score(unit, figures, percentiles, rules) for unit, figures in units.items()])


def rank_by_score(rows: Sequence[Ranked]) -> list[Ranked]:
    """Rank scored rows, best first: ties share a rank and are listed by unit code, unscored last.
    Also ranks rows scored in different cohorts (the counties of a city) against each other."""
    rows = sorted(rows, key=lambda row: (row.score is None, -(row.score or 0), row.unit))
    ranked: list[Ranked] = []
    for score, group in groupby(rows, key=lambda row: row.score):  # rows of equal score are adjacent
        tied = list(group)
        rank = None if score is None else len(ranked) + 1  # competition ranking: skip the places ties take
        ranked += [replace(row, rank=rank, tied_with=tuple(other.unit for other in tied if other is not row)
                           if rank else ()) for row in tied]
    return ranked
