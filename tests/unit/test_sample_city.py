"""The sample city 示例市 is the same city in every service's reference data: intake's stations and grids,
mediation's channels and assessment's units name the same stations, grids, officers and populations."""
from collections import Counter

import pytest
import yaml

from services.assessment import reference
from services.intake.domain.jurisdiction import Jurisdictions
from services.mediation.domain.routing import CHANNELS, DEFAULT_CHANNELS, Router

# The first four stations: many tests rely on them exactly as they were.
FIRST_STATIONS = {"990101001": "望湖派出所", "990101002": "东关派出所", "990102001": "西山派出所",
                  "990102002": "南桥派出所"}


@pytest.fixture(scope="module")
def city() -> Jurisdictions:
    return Jurisdictions.load()


@pytest.fixture(scope="module")
def units() -> reference.ReferenceFile:
    return reference.read()


def chinese(codes) -> set[str]:
    return {c for c in codes if not c.startswith("MKE")}


def test_three_counties_of_eight_stations_keep_the_first_four(city):
    stations = [s for s in city.stations() if s.county_code != "MKE"]
    assert Counter((s.county_code, s.county_name) for s in stations) == {
        ("990101", "北城区"): 8, ("990102", "南城区"): 8, ("990103", "西岭县"): 8}
    assert {s.code: s.name for s in stations if s.code in FIRST_STATIONS} == FIRST_STATIONS
    assert {g.officer_id for g in city.grids() if g.station_code in FIRST_STATIONS} == {
        f"04{c}{s}0{g}" for c in (1, 2) for s in (1, 2) for g in (1, 2, 3)}


def test_assessment_units_are_intakes_stations_grids_and_officers(city, units):
    stations = {s.code: s for s in city.stations()}
    assert {s.code for s in units.stations} == set(stations)
    for unit in units.stations:
        assert (unit.name, unit.county_code, unit.county_name) == (
            stations[unit.code].name, stations[unit.code].county_code, stations[unit.code].county_name)
    grids = {g.code: g for g in city.grids()}
    assert {(g.code, g.name, g.station_code, g.households, g.residents) for g in units.grids} == {
        (g.code, g.name, g.station_code, g.households, g.residents) for g in grids.values()}
    assert {(o.code, o.name, o.station_code, o.grid_code) for o in units.officers} == {
        (g.officer_id, g.officer_name, g.station_code, g.code) for g in grids.values()}
    for unit in units.stations:
        own = [g for g in grids.values() if g.station_code == unit.code]
        assert (unit.households, unit.residents) == (sum(g.households for g in own), sum(g.residents for g in own))


def test_every_station_names_its_cohort():
    raw = yaml.safe_load(reference.DEFAULT_FILE.read_text(encoding="utf-8"))["stations"]
    cohorts = {s["code"]: s.get("cohort") for s in raw}
    assert set(cohorts.values()) == {"urban", "rural"}
    assert all(cohorts[f"MKE-D{i}"] == "urban" for i in range(1, 8))
    assert all(cohorts[s["code"]] == "rural" for s in raw if s["county_code"] == "990103")
    urban = [code for code, cohort in cohorts.items() if cohort == "urban" and not code.startswith("MKE")]
    assert len(urban) >= 10 and all(code[:6] in ("990101", "990102") for code in urban)


def test_every_sample_station_has_its_own_channels_and_they_differ(city):
    listed = yaml.safe_load(DEFAULT_CHANNELS.read_text(encoding="utf-8"))["stations"]
    assert chinese(s.code for s in city.stations()) <= set(listed)
    router = Router.load()
    mixes = {frozenset(router.channels_of(s.code)) for s in city.stations() if s.county_code != "MKE"}
    assert len(mixes) >= 4 and frozenset(CHANNELS) in mixes and frozenset({"station_officer"}) in mixes
