"""Profiles are validated strictly at load: every problem names the file, the key and what is allowed."""
from pathlib import Path

import pytest
import yaml

from services.intake.domain.profiles import map_record
from services.intake.profile_files import ProfileError, known_profiles, load_profile
from services.intake.settings import IntakeSettings

GOOD = {
    "name": "town_cad", "version": 3, "format": "csv", "time_zone": "America/Chicago",
    "fields": {"source": {"const": "TOWN"}, "incident_number": "id",
               "received_at": {"path": "time", "format": "%m/%d/%Y %H:%M"}, "category_code": "type"},
    "categories": {"DISTURBANCE": "dispute", "DOM": {"category": "dispute.family", "risk": ["domestic_violence"]}},
}


def write(tmp_path: Path, profile: dict, name: str = "town_cad") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(profile, sort_keys=False), encoding="utf-8")
    return path


def test_a_good_profile_loads_by_path_and_from_a_profile_folder(tmp_path):
    path = write(tmp_path, GOOD)
    by_path = load_profile(str(path))
    assert (by_path.name, by_path.version) == ("town_cad", 3)
    assert load_profile("town_cad", [tmp_path]) == by_path
    assert "town_cad" in known_profiles([tmp_path]) and "milwaukee_cad" in known_profiles([tmp_path])
    with pytest.raises(ProfileError, match="unknown profile 'town_cad'; known profiles: cad_csv"):
        load_profile("town_cad")
    # The API and the consumer take names only: a path is not a way to read any file on the server.
    with pytest.raises(ProfileError, match="unknown profile"):
        load_profile(str(path), [tmp_path], allow_path=False)


def test_the_folders_come_from_intake_profile_dirs(tmp_path, monkeypatch):
    other = tmp_path / "more"
    other.mkdir()
    monkeypatch.setenv("INTAKE_PROFILE_DIRS", f"{tmp_path}:{other}")
    assert IntakeSettings().profile_dirs == [tmp_path, other]


@pytest.mark.parametrize(("change", "expected"), [
    ({"colour": "red"}, "colour: unknown key 'colour'; allowed keys: name, version, description, format"),
    ({"categories": {"X": "dispute.neighbor"}}, "categories.X.category: Input should be 'dispute', "
                                               "'dispute.neighbour'"),
    ({"categories": {"X": {"category": "dispute", "risk": ["thret"]}}},
     "categories.X.risk.0: Input should be 'weapon', 'threat', 'self_harm' or 'domestic_violence'"),
    ({"categories": {"X": {"category": "dispute", "flags": []}}}, "categories.X.flags: unknown key 'flags'; "
                                                                  "allowed keys: category, risk"),
    ({"categories": {"X" * 65: "dispute"}}, "longer than 64 characters"),
    ({"time_zone": "America/Chicag"}, "time_zone: unknown time zone 'America/Chicag'; expected an IANA zone"),
    ({"format": "xlsx"}, "format: Input should be 'json' or 'csv'"),
    ({"name": "Town CAD"}, "name: String should match pattern"),
    ({"version": 0}, "version: Input should be greater than or equal to 1"),
])
def test_a_bad_profile_is_refused_naming_file_key_and_allowed_values(tmp_path, change, expected):
    path = write(tmp_path, GOOD | change)
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    assert f"{path}: " in str(caught.value) and expected in str(caught.value), str(caught.value)


@pytest.mark.parametrize(("fields", "expected"), [
    ({"recieved_at": "time"}, "fields.recieved_at: Input should be 'source'"),
    ({"received_at": {"path": "time", "format": "%Y-%m-%d %Q"}}, "fields.received_at: time format '%Y-%m-%d %Q' "
                                                                  "is not a strptime format"),
    ({"received_at": {"path": "time", "format": "YYYY-MM-DD"}}, "has no % directive"),
    ({"received_at": {"path": "time", "fromat": "%Y"}}, "fields.received_at.fromat: unknown key 'fromat'; allowed keys: "
                                                         "path, parts, separator, const"),
    ({"address_text": {"path": "a", "format": "%Y"}}, "fields.address_text.format: only time fields"),
    ({"address_text": {"path": "a", "as": "upper"}}, "fields.address_text.as: Input should be 'epoch_millis'"),
    ({"incident_number": {"path": "a", "const": "b"}}, "give one of path, parts or const, not path and const"),
    ({"closed_at": {"path": "c", "fallback": ["dispatched_at"]}}, "only received_at takes a fallback"),
    ({"received_at": {"path": "t", "fallback": ["closed"]}}, "fields.received_at.fallback.0: Input should be "
                                                              "'dispatched_at', 'arrived_at' or 'closed_at'"),
])
def test_bad_fields_are_refused(tmp_path, fields, expected):
    path = write(tmp_path, GOOD | {"fields": GOOD["fields"] | fields})
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    assert expected in str(caught.value), str(caught.value)


def test_source_incident_number_and_received_at_must_be_mapped(tmp_path):
    fields = {k: v for k, v in GOOD["fields"].items() if k != "received_at"}
    with pytest.raises(ProfileError, match="received_at must be mapped"):
        load_profile(str(write(tmp_path, GOOD | {"fields": fields})))


def test_a_file_named_unlike_its_profile_is_refused(tmp_path):
    write(tmp_path, GOOD, name="other_name")
    with pytest.raises(ProfileError, match="name 'town_cad' does not match the file name 'other_name'"):
        load_profile("other_name", [tmp_path])


def test_an_incident_number_built_from_several_columns(tmp_path):
    fields = GOOD["fields"] | {"incident_number": {"parts": ["year", "seq"], "separator": "/"}}
    profile = load_profile(str(write(tmp_path, GOOD | {"fields": fields})))
    row = {"year": "2024", "seq": " 000123 ", "time": "05/31/2024 23:30", "type": "DOM"}
    assert map_record(profile, row).record.incident_number == "2024/000123"
    missing = map_record(profile, row | {"seq": ""})
    assert missing.record is None and missing.errors[0].field == "incident_number"


def test_a_missing_call_time_falls_back_and_the_record_says_so(tmp_path):
    fields = GOOD["fields"] | {
        "received_at": {"path": "time", "format": "%m/%d/%Y %H:%M", "fallback": ["dispatched_at", "arrived_at"]},
        "dispatched_at": {"path": "dispatched", "format": "%m/%d/%Y %H:%M"},
        "arrived_at": {"path": "arrived", "format": "%m/%d/%Y %H:%M"}}
    profile = load_profile(str(write(tmp_path, GOOD | {"fields": fields})))
    row = {"id": "1", "time": "05/31/2024 23:30", "dispatched": "05/31/2024 23:35", "arrived": "05/31/2024 23:50"}
    direct = map_record(profile, row).record
    assert direct.received_at.minute == 30 and direct.received_at_derived_from is None
    derived = map_record(profile, row | {"time": ""}).record
    assert derived.received_at.minute == 35 and derived.received_at_derived_from == "dispatched_at"
    last = map_record(profile, row | {"time": "", "dispatched": ""}).record
    assert last.received_at.minute == 50 and last.received_at_derived_from == "arrived_at"
    none = map_record(profile, {"id": "1", "time": "", "dispatched": "", "arrived": ""})
    assert none.record is None and none.errors[0].field == "received_at"


def test_every_shipped_profile_has_a_version():
    for name in ("fengqiao_json", "cad_csv", "nena_eido", "milwaukee_cad"):
        assert load_profile(name).version >= 1
