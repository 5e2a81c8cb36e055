"""Scoring and ranking: a month of five stations ranked by hand, ties, red lines, candidates, rules files."""
import copy
from decimal import Decimal

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from services.assessment.domain import figures, scoring
from services.assessment.domain.figures import FIGURE_NAMES, Figure, MonthFacts, all_figures
from services.assessment.domain.scoring import Contribution, Rules, score_units

SHIPPED = yaml.safe_load(scoring.V1_RULES.read_text(encoding="utf-8"))
# Three scored figures, so every percentile and score below can be worked out by hand.
HAND = {"version": "hand.1", "normalisation": {"method": "percentile_rank", "cohort": "county"},
        "figures": {"resolution_rate": {"weight": 50, "better": "higher"},
                    "repeat_dispute_rate": {"weight": 30, "better": "lower"},
                    "civil_to_criminal_count": {"weight": 20, "better": "lower"},
                    "dispute_count": {"weight": 0, "better": "higher"}},
        "min_samples": {"resolution_rate": 5}, "score_decimals": 2,
        "grades": [{"grade": g, "min_score": m} for g, m in [("A", 75), ("B", 55), ("C", 40), ("D", 0)]],
        "candidate": {"min_score": 65, "min_rankable_weight": 0.6},
        "red_lines": [{"figure": "civil_to_criminal_count", "above": 0, "grade_at_most": "C"}]}
D = Decimal


def fig(name: str, value: float | None) -> Figure:
    """A figure with just the value scoring looks at."""
    return Figure(name, value, None, None, value is not None)


def unit(resolution: float | None, repeat: float, civil: int) -> dict[str, Figure]:
    """One unit's figures for the HAND rules; dispute_count has weight 0 there and must not matter."""
    values = {"resolution_rate": resolution, "repeat_dispute_rate": repeat, "civil_to_criminal_count": float(civil),
              "dispute_count": 9.0}
    return {name: fig(name, value) for name, value in values.items()}


def rules(**changes) -> Rules:
    return Rules.from_dict({**copy.deepcopy(HAND), **changes})


# Satisfaction alone is scored; civil-to-criminal is only checked by the red line.
SAT = {"satisfaction_rate": {"weight": 1, "better": "higher"},
       "civil_to_criminal_count": {"weight": 0, "better": "lower"}}


def sat(satisfaction: float, civil: float = 0.0) -> dict[str, Figure]:
    return {"satisfaction_rate": fig("satisfaction_rate", satisfaction),
            "civil_to_criminal_count": fig("civil_to_criminal_count", civil)}


# S5 closed only 3 cases, all with an agreement: 100% on 3 cases is below the minimum of 5, so not rankable.
S5_RESOLUTION = figures.resolution_rate(MonthFacts(agreements=3, closed=3), HAND["min_samples"])
MONTH = {"S3": unit(0.8, 0.20, 1), "S1": unit(0.9, 0.10, 0), "S4": unit(0.5, 0.10, 0), "S2": unit(0.8, 0.05, 0),
         "S5": {**unit(None, 0.00, 2), "resolution_rate": S5_RESOLUTION}}
# Percentile rank 100 (B + E/2) / N; B = units strictly worse, E = units equal, itself included.
# resolution_rate (higher better), N = 4 (S5 not rankable): 0.9 0.8 0.8 0.5
#   S1: (3 + 1/2) / 4 = 87.5; S2, S3: (1 + 2/2) / 4 = 50; S4: (0 + 1/2) / 4 = 12.5
# repeat_dispute_rate (lower better), N = 5: S5 0.00, S2 0.05, S1 0.10, S4 0.10, S3 0.20
#   S5: (4 + 1/2) / 5 = 90; S2: (3 + 1/2) / 5 = 70; S1, S4: (1 + 2/2) / 5 = 40; S3: (0 + 1/2) / 5 = 10
# civil_to_criminal_count (lower better), N = 5: S1 S2 S4 0, S3 1, S5 2
#   S1, S2, S4: (2 + 3/2) / 5 = 70; S3: (1 + 1/2) / 5 = 30; S5: (0 + 1/2) / 5 = 10
# Scores, weights 50 / 30 / 20 (S5: resolution not rankable, so 30 / 20 over 50, i.e. 60% and 40%):
#   S1 (50 x 87.5 + 30 x 40 + 20 x 70) / 100 = (4375 + 1200 + 1400) / 100 = 69.75  B, candidate (>= 65)
#   S2 (50 x 50 + 30 x 70 + 20 x 70) / 100 = (2500 + 2100 + 1400) / 100 = 60.00    B
#   S5 (30 x 90 + 20 x 10) / 50 = (2700 + 200) / 50 = 58.00    B, capped to C by its red line
#   S3 (50 x 50 + 30 x 10 + 20 x 30) / 100 = (2500 + 300 + 600) / 100 = 34.00      D, red line (D is below C)
#   S4 (50 x 12.5 + 30 x 40 + 20 x 70) / 100 = (625 + 1200 + 1400) / 100 = 32.25   D
HAND_RANKING = [  # unit, score, grade, candidate, red line, rank, rankable weight
    ("S1", D("69.75"), "B", True, False, 1, D("1.000000")),
    ("S2", D("60.00"), "B", False, False, 2, D("1.000000")),
    ("S5", D("58.00"), "C", False, True, 3, D("0.500000")),
    ("S3", D("34.00"), "D", False, True, 4, D("1.000000")),
    ("S4", D("32.25"), "D", False, False, 5, D("1.000000")),
]


def test_a_month_of_five_stations_ranks_as_computed_by_hand():
    assert S5_RESOLUTION.value is None and S5_RESOLUTION.denominator == 3
    ranking = score_units(MONTH, rules())
    assert [(r.unit, r.score, r.grade, r.candidate, r.red_line, r.rank, r.rankable_weight)
            for r in ranking] == HAND_RANKING
    assert [str(r.score) for r in ranking] == ["69.75", "60.00", "58.00", "34.00", "32.25"]  # bit for bit
    assert all(r.tied_with == () for r in ranking)
    # S1: 0.5 x 87.5 = 43.75, 0.3 x 40 = 12, 0.2 x 70 = 14; dispute_count has weight 0, so no contribution
    assert ranking[0].contributions == (
        Contribution("resolution_rate", 0.9, D("87.5000"), D("0.500000"), D("43.7500")),
        Contribution("repeat_dispute_rate", 0.1, D("40.0000"), D("0.300000"), D("12.0000")),
        Contribution("civil_to_criminal_count", 0.0, D("70.0000"), D("0.200000"), D("14.0000")))


def test_the_weight_of_a_figure_that_is_not_rankable_goes_to_the_others_in_proportion():
    s5 = next(r for r in score_units(MONTH, rules()) if r.unit == "S5")
    assert s5.contributions == (  # 30 / 50 = 0.6 and 20 / 50 = 0.4: 0.6 x 90 + 0.4 x 10 = 54 + 4 = 58
        Contribution("resolution_rate", None, None, D("0"), D("0.0000")),
        Contribution("repeat_dispute_rate", 0.0, D("90.0000"), D("0.600000"), D("54.0000")),
        Contribution("civil_to_criminal_count", 2.0, D("10.0000"), D("0.400000"), D("4.0000")))
    assert sum(c.weight_share for c in s5.contributions) == 1
    # The same score as under rules without the figure at all: redistribution is proportional.
    without = rules(figures={k: v for k, v in HAND["figures"].items() if k != "resolution_rate"})
    assert next(r for r in score_units(MONTH, without) if r.unit == "S5").score == s5.score


def test_equal_scores_share_a_rank_which_is_stated_and_ordered_by_unit_code():
    ranking = score_units({"D": sat(0.7), "C": sat(0.8), "B": sat(0.8), "A": sat(0.9)}, rules(figures=SAT))
    # N = 4: A (3 + 1/2) / 4 = 87.5; B, C (1 + 2/2) / 4 = 50; D (0 + 1/2) / 4 = 12.5
    assert [(r.unit, r.score, r.rank, r.tied_with) for r in ranking] == [
        ("A", D("87.50"), 1, ()), ("B", D("50.00"), 2, ("C",)), ("C", D("50.00"), 2, ("B",)), ("D", D("12.50"), 4, ())]


def test_scores_are_rounded_half_up_to_the_rules_decimals():
    ranking = score_units(MONTH, rules(score_decimals=0))
    # 69.75 -> 70, 60.00 -> 60, 58.00 -> 58, 34.00 -> 34, 32.25 -> 32: half up, no tie yet
    assert [(r.unit, str(r.score)) for r in ranking] == [("S1", "70"), ("S2", "60"), ("S5", "58"), ("S3", "34"),
                                                         ("S4", "32")]
    one = rules(score_decimals=1)  # 32.25 -> 32.3 (half up, not half even)
    assert [str(r.score) for r in score_units(MONTH, one)] == ["69.8", "60.0", "58.0", "34.0", "32.3"]


def test_a_red_line_caps_the_grade_but_keeps_score_and_rank():
    x, y = score_units({"Y": sat(0.5), "X": sat(0.99, civil=1.0)}, rules(figures=SAT))
    # N = 2: X (1 + 1/2) / 2 = 75 -> A (>= 75), capped to C; Y (0 + 1/2) / 2 = 25 -> D
    assert (x.unit, x.score, x.rank, x.grade, x.red_line, x.candidate) == ("X", D("75.00"), 1, "C", True, False)
    assert (y.unit, y.score, y.rank, y.grade, y.red_line) == ("Y", D("25.00"), 2, "D", False)


def test_a_candidate_needs_the_score_no_red_line_and_enough_rankable_weight():
    units = {"thin": unit(None, 0.0, 0), "R1": unit(0.9, 0.5, 0), "R2": unit(0.8, 0.6, 0)}
    # thin: repeat (2 + 1/2) / 3 = 83.33..; civil, all equal: (0 + 3/2) / 3 = 50
    #   (30 x 250/3 + 20 x 50) / 50 = (2500 + 1000) / 50 = 70.00 >= 65, but only 50 / 100 of the weight is rankable
    thin = score_units(units, rules())[0]
    assert (thin.unit, thin.score, thin.rankable_weight, thin.candidate) == ("thin", D("70.00"), D("0.500000"), False)
    assert thin.contributions[1].percentile == D("83.3333")
    lenient = rules(candidate={"min_score": 65, "min_rankable_weight": 0.5})
    assert score_units(units, lenient)[0].candidate


def test_a_unit_without_any_rankable_figure_is_unscored_and_listed_last():
    units = {"A": unit(None, 0.1, 0), "B": unit(0.5, 0.1, 0)}
    units["A"]["repeat_dispute_rate"] = fig("repeat_dispute_rate", None)
    units["A"]["civil_to_criminal_count"] = fig("civil_to_criminal_count", None)
    b, a = score_units(units, rules())
    assert (a.unit, a.score, a.grade, a.rank, a.candidate, a.rankable_weight) == ("A", None, None, None, False, D(0))
    assert (b.unit, b.rank) == ("B", 1)


def test_a_missing_figure_is_refused_naming_unit_and_figure():
    with pytest.raises(ValueError, match="unit 'S9': figure 'repeat_dispute_rate' is missing"):
        score_units({"S9": {"resolution_rate": fig("resolution_rate", 0.5)}}, rules())


def station(k: int) -> MonthFacts:
    """Station k of five, worse in every scored figure than station k - 1; k civil-to-criminal cases."""
    return MonthFacts(
        calls=40, disputes=20, agreements=18 - k, closed=20, closed_without_referral=19 - k, repeat_disputes=k,
        civil_to_criminal=k, claim_minutes=[10 + k] * 5, close_hours=[24 + k] * 10, sla_breaches=k,
        callbacks_satisfied=10 - k, callbacks_dissatisfied=k, confirmations_requested=10,
        confirmations_confirmed=10 - k,
        households_registered=1000, households_visited=900 - 10 * k, information_items=10 - k, crimes=k,
        residents=20_000, group_defence_participants=500 - k)


def test_the_v1_rules_stay_loadable_and_rank_facts_end_to_end():
    shipped = Rules.load(scoring.V1_RULES)
    assert shipped.version == "scoring.v1" and sum(w.weight for w in shipped.weights.values()) == 100
    assert set(shipped.weights) <= set(FIGURE_NAMES)  # figures added later are simply not scored by v1
    units = {f"33010200{k}": all_figures(station(k), shipped.min_samples) for k in range(5)}
    ranking = score_units(units, shipped)
    # Five strictly ordered stations: percentiles 90, 70, 50, 30, 10 in every scored figure, so the scores too.
    assert [(r.unit, str(r.score), r.grade, r.candidate, r.red_line, r.rank) for r in ranking] == [
        ("330102000", "90.00", "A", True, False, 1), ("330102001", "70.00", "C", False, True, 2),  # B capped to C
        ("330102002", "50.00", "D", False, True, 3), ("330102003", "30.00", "D", False, True, 4),
        ("330102004", "10.00", "D", False, True, 5)]


VALUES = st.sampled_from([None, 0.0, 0.25, 1 / 3, 0.5, 1.0, 7.0])
COUNTS = st.sampled_from([0.0, 1.0, 2.0, 3.0])
UNIT = st.fixed_dictionaries({name: (COUNTS if name in figures.COUNTS else VALUES).map(lambda v, n=name: fig(n, v))
                              for name in FIGURE_NAMES})
V1 = Rules.load(scoring.V1_RULES)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text("0123AB", min_size=1, max_size=3), UNIT, max_size=12), st.randoms())
def test_the_ranking_does_not_depend_on_input_order_and_repeats_exactly(units, random):
    first = score_units(units, V1)
    shuffled = list(units.items())
    random.shuffle(shuffled)
    assert score_units(dict(shuffled), V1) == first == score_units(units, V1)
    assert sorted(r.unit for r in first) == sorted(units)
    for r in first:
        if r.rank is not None:  # competition ranking: 1 + the number of strictly better scores
            assert r.rank == 1 + sum(o.score is not None and o.score > r.score for o in first)
            assert r.tied_with == tuple(sorted(o.unit for o in first if o.score == r.score and o is not r))


def test_a_custom_rules_file_changes_the_ranking(tmp_path):
    custom = copy.deepcopy(HAND)
    custom["version"] = "hand.2"
    custom["figures"]["resolution_rate"]["weight"] = 0
    custom["figures"]["civil_to_criminal_count"]["weight"] = 0
    path = tmp_path / "scoring.hand.2.yaml"
    path.write_text(yaml.safe_dump(custom), encoding="utf-8")
    ranking = score_units(MONTH, Rules.load(path))
    # Only repeat_dispute_rate counts now: its percentiles S5 90, S2 70, S1 = S4 40, S3 10.
    assert [(r.unit, str(r.score), r.rank, r.tied_with) for r in ranking] == [
        ("S5", "90.00", 1, ()), ("S2", "70.00", 2, ()), ("S1", "40.00", 3, ("S4",)), ("S4", "40.00", 3, ("S1",)),
        ("S3", "10.00", 5, ())]
    assert Rules.load(path).version == "hand.2"


def _set(path: str, value=None):
    """A change to the shipped rules: set the value at a dotted path, or delete it when there is none."""
    def change(raw):
        *parents, last = [int(key) if key.isdigit() else key for key in path.split(".")]
        for key in parents:
            raw = raw[key]
        raw.pop(last) if value is None else raw.__setitem__(last, value)
    return change


@pytest.mark.parametrize(("change", "message"), [
    (_set("version"), r"rules: missing keys \['version'\]"),
    (_set("weigths", {}), r"rules: missing keys \[\], unknown keys \['weigths'\]"),
    (_set("version", ""), "version: a non-empty string is required"),
    (_set("normalisation.method", "z_score"), "normalisation: expected method percentile_rank"),
    (_set("figures.satisfation_rate", {"weight": 5, "better": "higher"}), "satisfation_rate: expected a figure"),
    (_set("figures.resolution_rate.better", "sideways"), "figures.resolution_rate: .*better: one of"),
    (_set("figures.resolution_rate.weight", -1), "figures.resolution_rate.weight: expected a number >= 0, got -1"),
    (_set("figures.resolution_rate.weight", "15"), "figures.resolution_rate.weight: expected a number, got '15'"),
    (_set("figures.resolution_rate.weight", True), "figures.resolution_rate.weight: expected a number, got True"),
    (_set("figures.resolution_rate.wieght", 1), r"resolution_rate: missing keys \[\], unknown keys \['wieght'\]"),
    (_set("figures", {"resolution_rate": {"weight": 0, "better": "higher"}}), "at least one figure needs a weight"),
    (_set("min_samples.dispute_count", 5), "min_samples.dispute_count: not a figure with a sample"),
    (_set("min_samples.resolution_rate", 0), "min_samples.resolution_rate: expected a whole number >= 1"),
    (_set("grades.1.min_score", 90), "grades: expected distinct names, best first"),
    (_set("grades.3.min_score", 10), "min_score falling strictly to 0"),
    (_set("grades.1.grade", "A"), "grades: expected distinct names"),
    (_set("grades", []), "grades: expected a non-empty list"),
    (_set("candidate.min_score", 120), "candidate.min_score: expected a number >= 0 and <= 100, got 120"),
    (_set("candidate.min_rankable_weight", 1.5), "candidate.min_rankable_weight: expected a number >= 0 and <= 1"),
    (_set("red_lines.0.grade_at_most", "E"), r"red_lines\[0\]: expected a figure .* and a grade of \['A', 'B'"),
    (_set("red_lines.0.figure", "murders"), r"red_lines\[0\]: expected a figure"),
    (_set("red_lines", {"figure": "civil_to_criminal_count"}), "red_lines: expected a list"),
    (_set("score_decimals", 2.5), "score_decimals: expected a whole number 0..6, got 2.5"),
    ("", "rules: expected a mapping, got None"),  # text instead of a change: the file as written
    ("- version: x\n", "rules: expected a mapping, got"),
    ("version: [unclosed\n", "while parsing"),  # a YAML syntax error also names the file
])
def test_invalid_rules_files_are_refused_naming_file_and_key(tmp_path, change, message):
    raw = copy.deepcopy(SHIPPED)
    if callable(change):
        change(raw)
    path = tmp_path / "bad.yaml"
    path.write_text(change if isinstance(change, str) else yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ValueError, match=message) as refused:
        Rules.load(path)
    assert str(refused.value).startswith(f"{path}: ")
