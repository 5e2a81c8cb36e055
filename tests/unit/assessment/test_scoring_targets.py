"""Scoring against targets (scoring.v2): points by hand, absolute meaning, pass/fail duties, not rankable, tie-break."""
import copy
from decimal import Decimal
from fractions import Fraction

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from services.assessment.domain import figures, scoring
from services.assessment.domain.figures import FIGURE_NAMES, Figure, all_figures
from services.assessment.domain.scoring import Rules, score_units

D = Decimal
# Three scored figures and a duty, so every score below can be worked out by hand.
HAND = {"version": "targets.1", "normalisation": {"method": "targets", "cohort": "reference"},
        "figures": {"satisfaction_rate": {"weight": 50, "better": "higher", "target": 0.9, "floor": 0.5},
                    "repeat_dispute_rate": {"weight": 30, "better": "lower", "target": 0.05, "floor": 0.25},
                    "information_items": {"weight": 20, "better": "higher", "pass_at": 4},
                    "resolution_rate": {"weight": 0, "better": "higher"},
                    "sla_breaches": {"weight": 0, "better": "lower"},
                    "civil_to_criminal_count": {"weight": 0, "better": "lower"}},
        "min_samples": {}, "score_decimals": 2, "rankable": {"min_weight": 0.5},
        "grades": [{"grade": g, "min_score": m} for g, m in [("A", 90), ("B", 75), ("C", 60), ("D", 0)]],
        "candidate": {"min_score": 90, "min_rankable_weight": 0.8},
        "red_lines": [{"figure": "civil_to_criminal_count", "above": 0, "grade_at_most": "C"}],
        "tie_break": [{"figure": "resolution_rate", "better": "higher"}, {"figure": "sla_breaches", "better": "lower"}]}


def fig(name: str, value: float | None) -> Figure:
    return Figure(name, value, None, None, value is not None)


def unit(satisfaction, repeat, items, resolution=0.9, breaches=0.0, civil=0.0) -> dict[str, Figure]:
    values = {"satisfaction_rate": satisfaction, "repeat_dispute_rate": repeat, "information_items": items,
              "resolution_rate": resolution, "sla_breaches": breaches, "civil_to_criminal_count": civil}
    return {name: fig(name, value) for name, value in values.items()}


def rules(**changes) -> Rules:
    return Rules.from_dict({**copy.deepcopy(HAND), **changes})


def test_points_are_linear_between_floor_and_target_and_a_duty_is_all_or_nothing():
    # satisfaction 0.8: (0.8 - 0.5) / (0.9 - 0.5) = 0.75 of 50 = 37.5
    # repeat 0.10 (lower is better): (0.25 - 0.10) / (0.25 - 0.05) = 0.75 of 30 = 22.5
    # information items 3 < 4: fails the duty, 0 of 20.  Score 37.5 + 22.5 + 0 = 60.00, grade C
    (row,) = score_units({"S1": unit(0.8, 0.10, 3.0)}, rules())
    assert (row.score, row.grade, row.rank) == (D("60.00"), "C", 1)
    assert [(c.figure, c.attainment, c.points, c.target, c.floor, c.pass_at) for c in row.contributions] == [
        ("repeat_dispute_rate", D("0.7500"), D("22.5000"), D("0.0500"), D("0.2500"), None),
        ("satisfaction_rate", D("0.7500"), D("37.5000"), D("0.9000"), D("0.5000"), None),
        ("information_items", D("0.0000"), D("0.0000"), None, None, D("4.0000"))]
    assert all(c.percentile is None for c in row.contributions)


@pytest.mark.parametrize(("satisfaction", "repeat", "items", "score"), [
    (0.95, 0.0, 9.0, "100.00"),  # beyond every target: full marks, never more
    (0.5, 0.25, 4.0, "20.00"),  # at both floors, duty met: only the duty's 20
    (0.1, 0.9, 0.0, "0.00"),  # beyond every floor: nothing, never less
    (0.7, 0.15, 4.0, "60.00"),  # halfway on both: 25 + 15 + 20
])
def test_points_are_clamped_to_the_figures_weight(satisfaction, repeat, items, score):
    (row,) = score_units({"S": unit(satisfaction, repeat, items)}, rules())
    assert str(row.score) == score


def test_a_score_means_the_same_whatever_the_other_units_do():
    alone = score_units({"S1": unit(0.8, 0.10, 5.0)}, rules())[0]
    crowd = {"S1": unit(0.8, 0.10, 5.0), **{f"X{i}": unit(0.5 + i / 20, 0.2, float(i)) for i in range(8)}}
    among = next(r for r in score_units(crowd, rules()) if r.unit == "S1")
    assert alone.score == among.score == D("80.00")  # 37.5 + 22.5 + 20
    everyone_better = {code: unit(0.9, 0.05, 4.0) for code in ("A", "B", "C")}
    assert {r.score for r in score_units(everyone_better, rules())} == {D("100.00")}  # "everyone improved"


def test_a_figure_without_enough_data_hands_its_weight_on_and_too_little_weight_is_not_rankable():
    # repeat not rankable: 50 + 20 = 70 of 100 rankable (>= 0.5): (37.5 + 20) / 70 x 100 = 82.142857.. -> 82.14
    (row,) = score_units({"S": unit(0.8, None, 4.0)}, rules())
    assert (row.score, row.rankable_weight, row.not_rankable) == (D("82.14"), D("0.700000"), ())
    # satisfaction and repeat not rankable: 20 of 100 < 0.5: listed apart with the figures it lacks
    (thin,) = score_units({"T": unit(None, None, 4.0)}, rules())
    assert (thin.score, thin.grade, thin.rank) == (None, None, None)
    assert thin.not_rankable == ("repeat_dispute_rate", "satisfaction_rate")


def test_a_red_line_caps_an_absolute_grade():
    (row,) = score_units({"S": unit(0.95, 0.0, 9.0, civil=1.0)}, rules())
    assert (row.score, row.grade, row.red_line, row.candidate) == (D("100.00"), "C", True, False)


def test_equal_scores_are_ordered_by_the_tie_break_and_survivors_share_a_rank():
    month = {"E": unit(0.9, 0.05, 4.0, resolution=0.95, breaches=3.0),
             "B": unit(0.9, 0.05, 4.0, resolution=0.95, breaches=1.0),
             "C": unit(0.9, 0.05, 4.0, resolution=0.99, breaches=9.0),
             "A": unit(0.9, 0.05, 4.0, resolution=0.95, breaches=1.0),
             "N": unit(0.9, 0.05, 4.0, resolution=None, breaches=0.0),
             "L": unit(0.6, 0.05, 4.0)}
    ranking = score_units(month, rules())
    # all score 100 but L: C has the best resolution; A and B tie on both tie-break figures; E more breaches;
    # N has no resolution rate and comes after every unit that has one
    assert [(r.unit, r.rank, r.tied_with) for r in ranking] == [
        ("C", 1, ()), ("A", 2, ("B",)), ("B", 2, ("A",)), ("E", 4, ()), ("N", 5, ()), ("L", 6, ())]


def test_the_shipped_v2_rules_decide_every_figure_and_weigh_100():
    shipped = Rules.load()
    assert shipped.version == "scoring.v2" and shipped.method == "targets" and shipped.cohort == "reference"
    assert set(shipped.weights) == set(FIGURE_NAMES)  # every figure has an explicit decision, if only weight 0
    assert sum(w.weight for w in shipped.weights.values()) == 100
    assert set(shipped.targets) == {name for name, w in shipped.weights.items() if w.weight > 0}
    assert [line.figure for line in shipped.red_lines] == ["civil_to_criminal_count"]
    # a resolution rate barely separates stations (93-100% reported): shown and used for ties, not scored
    assert shipped.weights["resolution_rate"].weight == 0 and shipped.tie_break[0].figure == "resolution_rate"


def test_the_shipped_v2_rules_grade_a_good_and_a_poor_month_apart():
    shipped = Rules.load()
    good = figures.MonthFacts(
        calls=200, disputes=50, agreements=45, closed=48, closed_without_referral=47, repeat_disputes=2,
        repeat_disputes_30d=1, claim_minutes=[20] * 10, close_hours=[48] * 10, callbacks_satisfied=38,
        callbacks_basically_satisfied=1, callbacks_dissatisfied=1, households_registered=3000,
        households_visited=400, information_items=6, crimes=3, residents=9000)
    poor = figures.MonthFacts(
        calls=100, disputes=80, agreements=40, closed=60, closed_without_referral=40, repeat_disputes=25,
        repeat_disputes_30d=15, civil_to_criminal=1, claim_minutes=[600] * 10, close_hours=[900] * 10,
        callbacks_satisfied=10, callbacks_dissatisfied=10, households_registered=3000, households_visited=30,
        information_items=1, crimes=20, residents=9000)
    ranking = score_units({"good": all_figures(good, shipped.min_samples),
                           "poor": all_figures(poor, shipped.min_samples)}, shipped)
    assert [(r.unit, r.grade, r.red_line) for r in ranking] == [("good", "A", False), ("poor", "D", True)]
    assert ranking[0].score == D("100.00") and ranking[1].score < 20


@pytest.mark.parametrize(("change", "message"), [
    ({"figures": {**HAND["figures"], "information_items": {"weight": 10, "better": "higher", "pass_at": 4}}},
     "under targets the weights must sum to 100, got 90"),
    ({"figures": {**HAND["figures"], "satisfaction_rate": {"weight": 50, "better": "higher", "target": 0.5,
                                                           "floor": 0.9}}},
     "satisfaction_rate: the floor .* must be worse than the target"),
    ({"figures": {**HAND["figures"], "satisfaction_rate": {"weight": 50, "better": "higher", "target": 0.9}}},
     r"satisfaction_rate: expected target and floor, or pass_at alone, got \['target'\]"),
    ({"figures": {**HAND["figures"], "information_items": {"weight": 20, "better": "higher", "pass_at": 4,
                                                           "target": 5, "floor": 1}}},
     "information_items: expected target and floor, or pass_at alone"),
    ({"tie_break": [{"figure": "luck", "better": "higher"}]}, r"tie_break\[0\]: expected a figure"),
    ({"tie_break": {"figure": "resolution_rate"}}, "tie_break: expected a list"),
    ({"rankable": {"min_weight": 2}}, "rankable.min_weight: expected a number >= 0 and <= 1"),
    ({"normalisation": {"method": "targets", "cohort": "province"}}, "normalisation: expected method"),
])
def test_invalid_target_rules_are_refused_naming_the_key(change, message):
    with pytest.raises(ValueError, match=message):
        rules(**change)


def test_percentile_rules_refuse_targets():
    v1 = yaml.safe_load(scoring.V1_RULES.read_text(encoding="utf-8"))
    v1["figures"]["resolution_rate"]["target"] = 0.9
    with pytest.raises(ValueError, match=r"figures.resolution_rate: missing keys \[\], unknown keys \['target'\]"):
        Rules.from_dict(v1)


VALUES = st.sampled_from([None, 0.0, 0.05, 0.25, 1 / 3, 0.5, 0.9, 1.0, 4.0, 7.0])
UNIT = st.fixed_dictionaries({name: VALUES.map(lambda v, n=name: fig(n, v)) for name in FIGURE_NAMES})
SHIPPED = Rules.load()


def _key(row, tie_break):
    return scoring._order(row, tie_break)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text("0123AB", min_size=1, max_size=3), UNIT, max_size=12), st.randoms())
def test_a_target_ranking_is_order_free_repeatable_and_ranks_by_score_then_tie_break(units, random):
    first = score_units(units, SHIPPED)
    shuffled = list(units.items())
    random.shuffle(shuffled)
    assert score_units(dict(shuffled), SHIPPED) == first
    scored = [r for r in first if r.score is not None]
    assert first[len(scored):] == sorted(first[len(scored):], key=lambda r: r.unit)  # not rankable: last, by code
    for r in scored:
        assert r.rank == 1 + sum(_key(o, SHIPPED.tie_break) < _key(r, SHIPPED.tie_break) for o in scored)
        assert Fraction(0) <= Fraction(r.score) <= 100
        assert r.tied_with == tuple(sorted(o.unit for o in scored if o is not r
                                           and _key(o, SHIPPED.tie_break) == _key(r, SHIPPED.tie_break)))
