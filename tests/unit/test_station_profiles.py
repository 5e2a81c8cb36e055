"""The main job's station profiles: spread over every county, deterministic, and different enough that
a strong station's month beats a struggling one's on every figure they drive."""
import random
from collections import Counter

import pytest

from deploy.local import station_profiles as profiles
from services.intake.domain.jurisdiction import Jurisdictions

STRONG, AVERAGE, STRUGGLING = profiles.STRONG, profiles.AVERAGE, profiles.STRUGGLING


@pytest.fixture(scope="module")
def sample_stations() -> list[tuple[str, str]]:
    return [(s.code, s.county_code) for s in Jurisdictions.load().stations() if s.address_prefixes]


def test_every_county_has_every_profile_and_the_city_a_third_of_each(sample_stations):
    assigned = profiles.assign(sample_stations)
    assert set(assigned) == {code for code, _ in sample_stations}
    for county in {county for _, county in sample_stations}:
        in_county = Counter(assigned[code].name for code, c in sample_stations if c == county)
        assert set(in_county) == {"strong", "average", "struggling"}
        assert max(in_county.values()) - min(in_county.values()) <= 1
    assert Counter(p.name for p in assigned.values()) == {"strong": 8, "average": 8, "struggling": 8}
    assert profiles.assign(reversed(sample_stations)) == assigned, "the order given does not matter"


def shares(plans: list[profiles.CasePlan]) -> Counter:
    return Counter(plan.outcome for plan in plans)


def test_case_plans_follow_the_profile_and_the_seed():
    plans = {p.name: profiles.case_plans(p, 20, profiles.rng_for(1, "990101001", "cases")) for p in profiles.PROFILES}
    assert all(len(p) == 20 for p in plans.values())
    agreements = {name: shares(p)["agreement"] for name, p in plans.items()}
    assert agreements["strong"] > agreements["average"] > agreements["struggling"] >= 1
    referred = {name: shares(p)["referred"] for name, p in plans.items()}
    assert referred["strong"] < referred["average"] < referred["struggling"]
    assert all(plan.confirmation is None for plan in plans["strong"] if plan.outcome != "agreement")
    assert any(plan.confirmation for plan in plans["strong"])
    again = profiles.case_plans(STRONG, 20, profiles.rng_for(1, "990101001", "cases"))
    assert again == plans["strong"]
    assert profiles.case_plans(STRONG, 20, profiles.rng_for(2, "990101001", "cases")) != again


def test_claims_and_deferral_make_struggling_stations_slow_and_short_handed():
    assert profiles.claims(STRONG, 12) > profiles.claims(AVERAGE, 12) > profiles.claims(STRUGGLING, 12)
    assert profiles.claims(STRUGGLING, 12) - STRUGGLING.left_open >= 10, "enough closed cases to be rankable"
    assert STRUGGLING.deferred and not STRONG.deferred and not AVERAGE.deferred


def test_community_work_differs_by_profile():
    def satisfied(p: profiles.Profile) -> float:
        answers = Counter(profiles.satisfactions(p, 40, random.Random(3)))
        return (answers["satisfied"] + answers["basically_satisfied"]) / 40

    assert satisfied(STRONG) > satisfied(AVERAGE) > satisfied(STRUGGLING)
    strong = profiles.visited_households(STRONG, 1000, random.Random(5))
    struggling = profiles.visited_households(STRUGGLING, 1000, random.Random(5))
    assert len(strong) == len(set(strong)) and all(1 <= h <= 1000 for h in strong)
    assert len(strong) >= 300 and len(struggling) <= 60
    assert min(STRONG.information) > max(STRUGGLING.information)
    assert min(STRONG.patrols) > max(STRUGGLING.patrols)
