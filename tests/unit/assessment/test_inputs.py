"""Pure rules of assessment's inputs: community activities, the reference file, months an event reaches."""
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from services.assessment import reference
from services.assessment.domain.months import add_months, month_of, months_between, reach
from shared.events.community import ActivityData

AT = "2024-05-31T15:30:00+00:00"  # 23:30 on 31 May in Beijing


@pytest.mark.parametrize("body, error", [
    ({"type": "callback"}, "a callback needs satisfaction"),
    ({"type": "visit"}, "a visit needs household_key"),
    ({"type": "patrol"}, "a patrol needs participants"),
    ({"type": "information", "participants": 3}, "participants belongs to a patrol"),
    ({"type": "visit", "household_key": "h", "satisfaction": "satisfied"}, "satisfaction belongs to a callback"),
    ({"type": "visit", "household_key": "h", "case_id": "6f1d1c9e-9a43-4c43-9d5e-8f2b7f3f0a11"},
     "case_id belongs to a callback"),
    ({"type": "callback", "satisfaction": "happy"}, "satisfaction"),
    ({"type": "patrol", "participants": -2}, "participants"),
    ({"type": "information", "occurred_at": "2024-05-31T15:30:00"}, "timezone"),
    ({"type": "information", "station_code": "99 01"}, "station_code"),
    ({"type": "information", "extra": 1}, "extra"),
])
def test_an_activity_must_carry_what_its_type_counts_and_nothing_else(body, error):
    with pytest.raises(ValidationError) as exc:
        ActivityData.model_validate({"occurred_at": AT, "station_code": "990101001"} | body)
    assert error in str(exc.value)


def test_each_type_of_activity_is_accepted_with_its_own_field():
    for body in ({"type": "callback", "satisfaction": "unreached"}, {"type": "visit", "household_key": "h-1"},
                 {"type": "patrol", "participants": 0}, {"type": "information"}):
        activity = ActivityData.model_validate({"occurred_at": AT, "station_code": "990101001"} | body)
        assert activity.event_type == f"{body['type']}.recorded"


def test_months_follow_the_station_zone_and_the_reach_of_each_fact():
    late = datetime.fromisoformat(AT)
    assert month_of(late, "Asia/Shanghai") == date(2024, 5, 1)
    assert month_of(late, "UTC") == date(2024, 5, 1) and month_of(late, "Asia/Tokyo") == date(2024, 6, 1)
    assert add_months(date(2024, 11, 1), 3) == date(2025, 2, 1) and add_months(date(2024, 1, 1), -1) == date(2023, 12, 1)
    assert months_between(date(2024, 11, 1), date(2025, 1, 1)) == [date(2024, 11, 1), date(2024, 12, 1),
                                                                    date(2025, 1, 1)]
    at = datetime(2024, 5, 10, tzinfo=UTC)
    assert reach(at, "Asia/Shanghai", "callback") == [date(2024, 5, 1)]
    assert reach(at, "Asia/Shanghai", "incident", 90) == [date(2024, 5, 1), date(2024, 6, 1), date(2024, 7, 1),
                                                          date(2024, 8, 1)], "a dispute is linked to for 90 days"
    # by default for the civil-to-criminal look-back of the shipped link rules: 365 days, 13 months
    assert reach(at, "Asia/Shanghai", "incident") == months_between(date(2024, 5, 1), date(2025, 5, 1))
    assert len(reach(at, "Asia/Shanghai", "visit")) == 12


def test_the_sample_reference_resolves_counties_and_population():
    rows = {(r[0], r[1]): r for r in reference.read().rows()}
    assert rows[("station", "990101001")][4:] == ("990101", "北城区", 3345, 8540, "urban")
    assert rows[("grid", "990101001001")][3:] == ("990101001", "990101", "北城区", 1260, 3180, "urban")
    assert rows[("officer", "041101")][2:] == ("王建国", "990101001", "990101", "北城区", 1260, 3180, "urban")
    stations = [r for r in rows.values() if r[0] == "station"]
    assert sum(r[6] for r in stations) == sum(r[6] for r in rows.values() if r[0] == "grid")


@pytest.mark.parametrize("text, error", [
    ("stations:\n  - {code: S1}\n", "stations.0.county_code"),
    ("stations:\n  - {code: S1, county_code: C, households: -1}\n", "stations.0.households"),
    ("stations:\n  - {code: S1, county_code: C}\ngrids:\n  - {code: G1, station_code: S2}\n", "S2 is not among"),
    ("stations:\n  - {code: S1, county_code: C}\n  - {code: S1, county_code: C}\n", "station codes repeat"),
    ("stations: [\n", "while parsing"),
])
def test_a_bad_reference_file_is_refused_naming_the_file_and_field(tmp_path, text, error):
    path = tmp_path / "units.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as exc:
        reference.read(path)
    assert str(path) in str(exc.value) and error in str(exc.value)
