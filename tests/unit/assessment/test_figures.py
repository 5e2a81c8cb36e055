"""The monthly figures: each formula against hand-computed values, and None rather than 0% or 100% on thin samples."""
import math

import pytest

from services.assessment.domain import figures
from services.assessment.domain.figures import FIGURE_NAMES, FIGURES, Figure, MonthFacts, all_figures

# One station's month, small enough to compute every figure by hand.
MONTH = MonthFacts(
    calls=160, disputes=40, agreements=18, closed=24, closed_without_referral=21, repeat_disputes=6,
    repeat_disputes_30d=4, civil_to_criminal=1,
    claim_minutes=[12, 3, 45, 7, 30, 18], close_hours=[5, 1, 9, 2, 8, 3, 7, 4, 10, 6, 48], sla_breaches=2,
    callbacks_satisfied=30, callbacks_basically_satisfied=8, callbacks_dissatisfied=2,
    confirmations_requested=8, confirmations_confirmed=6, agreements_due=10, agreements_breached=1,
    households_visited=420, households_registered=600,
    information_items=15, crimes=9, residents=36_000, group_defence_participants=540)

# (figure, value, numerator, denominator), each worked out by hand from MONTH.
EXPECTED = [
    ("dispute_count", 40.0, 40, None),
    ("dispute_share", 0.25, 40, 160),  # 40 / 160 = 0.25
    ("resolution_rate", 0.75, 18, 24),  # 18 / 24 = 0.75
    ("local_resolution_rate", 0.875, 21, 24),  # 21 / 24 = 0.875
    ("repeat_dispute_rate", 0.15, 6, 40),  # 6 / 40 = 0.15
    ("repeat_dispute_rate_30d", 0.1, 4, 40),  # 4 / 40 = 0.1
    ("civil_to_criminal_count", 1.0, 1, None),
    ("civil_to_criminal_per_10k_residents", 1 / 3.6, 1, 36_000),  # 1 x 10,000 / 36,000 = 0.2777..
    ("median_minutes_to_claim", 15.0, None, 6),  # sorted 3 7 12 18 30 45: n = 6 even, (12 + 18) / 2 = 15
    ("p90_hours_to_close", 10.0, None, 11),  # sorted 1..10, 48: k = ceil(0.9 x 11) = ceil(9.9) = 10, x(10) = 10
    ("sla_breaches", 2.0, 2, None),
    ("satisfaction_rate", 0.95, 38, 40),  # (30 + 8) / (30 + 8 + 2) = 38 / 40 = 0.95
    ("judicial_confirmation_rate", 0.75, 6, 8),  # 6 / 8 = 0.75
    ("breach_rate", 0.1, 1, 10),  # 1 / 10 = 0.1
    ("familiarity_rate", 0.7, 420, 600),  # 420 / 600 = 0.7
    ("information_items", 15.0, 15, None),
    ("crimes_per_10k_residents", 2.5, 9, 36_000),  # 9 x 10,000 / 36,000 = 2.5
    ("group_defence_per_10k_residents", 150.0, 540, 36_000),  # 540 x 10,000 / 36,000 = 150
]


@pytest.mark.parametrize(("name", "value", "numerator", "denominator"), EXPECTED)
def test_each_formula_gives_the_hand_computed_value(name, value, numerator, denominator):
    figure = getattr(figures, name)(MONTH)
    assert figure == Figure(name, value, numerator, denominator, True)


def test_all_figures_are_the_figures_of_the_design_each_with_its_formula_in_the_docstring():
    found = all_figures(MONTH, {})
    assert list(found) == list(FIGURE_NAMES) == [name for name, *_ in EXPECTED]
    assert all(found[name].value == value for name, value, *_ in EXPECTED)
    for figure in FIGURES:
        assert figure.__doc__.startswith(f"{figure.__name__} = "), figure.__name__


@pytest.mark.parametrize(("hours", "expected"), [
    ([7], 7),  # n = 1: k = ceil(0.9) = 1
    ([5, 1, 4, 2, 3], 5),  # n = 5: k = ceil(4.5) = 5, the longest
    (list(range(10, 0, -1)), 9),  # n = 10: k = ceil(9) = 9, exactly 9 and not rounded up to 10
    (list(range(1, 21)), 18),  # n = 20: k = ceil(18) = 18
    ([2.5] * 3 + [100.0], 100.0),  # n = 4: k = ceil(3.6) = 4
])
def test_p90_is_the_nearest_rank_without_interpolation(hours, expected):
    figure = figures.p90_hours_to_close(MonthFacts(closed=len(hours), close_hours=hours))
    assert (figure.value, figure.denominator) == (expected, len(hours))


@pytest.mark.parametrize(("minutes", "expected"), [([9, 1, 5], 5.0), ([4, 1, 3, 2], 2.5), ([0.5], 0.5)])
def test_median_is_the_middle_value_or_the_mean_of_the_two_middle_values(minutes, expected):
    # [9, 1, 5] sorted 1 5 9: 5; [4, 1, 3, 2] sorted 1 2 3 4: (2 + 3) / 2 = 2.5
    assert figures.median_minutes_to_claim(MonthFacts(claim_minutes=minutes)).value == expected


@pytest.mark.parametrize(("name", "facts", "least"), [
    ("resolution_rate", MonthFacts(agreements=4, closed=4), 5),  # 100% of 4 cases is not shown as 100%
    ("local_resolution_rate", MonthFacts(closed=4), 5),  # 0% of 4 cases is not shown as 0%
    ("dispute_share", MonthFacts(calls=19, disputes=19), 20),
    ("repeat_dispute_rate", MonthFacts(calls=9, disputes=9, repeat_disputes=9), 10),
    ("repeat_dispute_rate_30d", MonthFacts(calls=9, disputes=9, repeat_disputes=9, repeat_disputes_30d=9), 10),
    ("civil_to_criminal_per_10k_residents", MonthFacts(residents=999, calls=1, crimes=1, civil_to_criminal=1), 1000),
    ("median_minutes_to_claim", MonthFacts(claim_minutes=[1, 2, 3, 4]), 5),
    ("p90_hours_to_close", MonthFacts(close_hours=[1.0] * 9), 10),
    ("satisfaction_rate", MonthFacts(callbacks_dissatisfied=9), 10),
    ("judicial_confirmation_rate", MonthFacts(confirmations_requested=2, confirmations_confirmed=2), 3),
    ("familiarity_rate", MonthFacts(households_registered=49, households_visited=49), 50),
    ("crimes_per_10k_residents", MonthFacts(residents=999, calls=3, crimes=3), 1000),
    ("group_defence_per_10k_residents", MonthFacts(residents=999, group_defence_participants=30), 1000),
])
def test_below_the_minimum_sample_a_figure_is_none_and_not_rankable(name, facts, least):
    below = all_figures(facts, {name: least})[name]
    assert (below.value, below.rankable) == (None, False)
    assert below.denominator == least - 1  # the scorecard still shows how thin the sample was
    assert all_figures(facts, {name: least - 1})[name].rankable  # one fewer required: shown


@pytest.mark.parametrize("name", [name for name in FIGURE_NAMES if name not in figures.COUNTS])
def test_an_empty_sample_is_none_even_without_a_minimum(name):
    figure = all_figures(MonthFacts(), {})[name]
    assert (figure.value, figure.rankable, figure.denominator) == (None, False, 0)


@pytest.mark.parametrize("name", figures.COUNTS)
def test_a_count_has_no_sample_and_is_rankable_at_zero(name):
    assert all_figures(MonthFacts(), {})[name] == Figure(name, 0.0, 0, None, True)


def test_a_minimum_of_exactly_the_sample_size_shows_the_figure():
    # 5 closed, 4 agreements, minimum 5: 4 / 5 = 0.8
    assert figures.resolution_rate(MonthFacts(agreements=4, closed=5), {"resolution_rate": 5}).value == 0.8


def test_samples_are_kept_as_tuples_so_the_facts_stay_immutable():
    facts = MonthFacts(claim_minutes=[3, 1], close_hours=(2.0,))
    assert facts.claim_minutes == (3, 1) and facts.close_hours == (2.0,)
    assert hash(facts) == hash(MonthFacts(claim_minutes=(3, 1), close_hours=[2.0]))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"disputes": -1}, "disputes: expected a whole number >= 0, got -1"),
    ({"closed": 2.0}, "closed: expected a whole number >= 0, got 2.0"),
    ({"crimes": True}, "crimes: expected a whole number >= 0, got True"),
    ({"agreements": 3, "closed": 2}, r"agreements \(3\) exceeds closed \(2\)"),
    ({"closed_without_referral": 1}, r"closed_without_referral \(1\) exceeds closed \(0\)"),
    ({"repeat_disputes": 1}, "repeat_disputes"),
    ({"calls": 5, "disputes": 6}, r"disputes \(6\) exceeds calls \(5\)"),
    ({"calls": 5, "crimes": 2, "civil_to_criminal": 3}, r"civil_to_criminal \(3\) exceeds crimes \(2\)"),
    ({"calls": 9, "disputes": 9, "repeat_disputes": 2, "repeat_disputes_30d": 3}, "repeat_disputes_30d"),
    ({"confirmations_confirmed": 1}, "confirmations_confirmed"),
    ({"households_visited": 1}, "households_visited"),
    ({"claim_minutes": [1, -2]}, "claim_minutes: expected finite durations >= 0, got -2"),
    ({"close_hours": [math.nan]}, "close_hours: expected finite durations >= 0, got nan"),
    ({"close_hours": [False]}, "close_hours: expected finite durations >= 0, got False"),
    ({"close_hours": "12"}, "close_hours: expected a list of durations, got '12'"),
])
def test_impossible_facts_are_refused_naming_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MonthFacts(**kwargs)


@pytest.mark.parametrize(("min_samples", "message"), [
    ({"dispute_count": 5}, "min_samples.dispute_count: not a figure with a sample"),
    ({"satisfaction": 5}, "min_samples.satisfaction: not a figure with a sample"),
    ({"resolution_rate": 0}, "min_samples.resolution_rate: expected a whole number >= 1, got 0"),
    ({"resolution_rate": 2.5}, "min_samples.resolution_rate: expected a whole number >= 1, got 2.5"),
])
def test_bad_minimum_samples_are_refused(min_samples, message):
    with pytest.raises(ValueError, match=message):
        all_figures(MONTH, min_samples)


def test_a_figure_is_rankable_exactly_when_it_has_a_value():
    with pytest.raises(ValueError, match="rankable=True does not fit value None"):
        Figure("resolution_rate", None, 0, 0, True)
    with pytest.raises(ValueError, match="rankable=False"):
        Figure("resolution_rate", 0.5, 1, 2, False)
    with pytest.raises(ValueError, match="inf"):
        Figure("crimes_per_10k_residents", math.inf, 1, 0, True)
