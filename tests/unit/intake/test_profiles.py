"""Feed profiles map each shipped CAD format to the canonical record; errors name the field."""
import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from services.intake.domain.classification import DEFAULT_RULES, Classifier
from services.intake.domain.dedup import Outcome, decide
from services.intake.domain.profiles import map_record
from services.intake.profile_files import ProfileError, load_profile

MILWAUKEE = Path(__file__).resolve().parents[3] / "services" / "intake" / "samples" / "milwaukee_calls_2018-05-01_to_14.csv"

PIDF = ('<?xml version="1.0"?><presence><gp:location-info><civicAddress><country>CN</country>'
        '<A1>示例市</A1><A3>北城区</A3><RD>湖光路</RD><HNO>12</HNO></civicAddress>'
        '<gml:Point><gml:pos>39.965 116.415</gml:pos></gml:Point></gp:location-info></presence>')
EIDO = {
    "$id": "urn:emergency:uid:incidentid:a1:psap.example",
    "lastUpdateTimeStamp": "2024-05-02T02:10:00.5Z",
    "updatedByAgencyReference": {"$ref": "psap.example"},
    "incidentTrackingIdentifier": "urn:emergency:uid:incidentid:a1:psap.example",
    "incidentComponent": [{"incidentTypeCommonRegistryText": "DVA", "incidentTypeInternalText": "Domestic",
                           "incidentStatusInternalText": ["Open"]}],
    "callComponent": [{"callStartTimestamp": "2024-05-02T02:05:00.0Z"}],
    "callbackComponent": [{"callBackInformationUri": ["sip:8195551212@osp.com", "tel:8195551212"]}],
    "locationComponent": [{"locationByValue": PIDF}],
}


def test_every_shipped_profile_loads_and_an_unknown_one_lists_the_known():
    for name in ("fengqiao_json", "cad_csv", "nena_eido", "milwaukee_cad"):
        assert load_profile(name).name == name
    with pytest.raises(ProfileError, match="known profiles: cad_csv, fengqiao_json, milwaukee_cad, nena_eido"):
        load_profile("../etc/passwd", allow_path=False)
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile("../etc/passwd")


def test_an_eido_maps_with_its_pidf_location_and_apco_code():
    mapped = map_record(load_profile("nena_eido"), EIDO)
    record = mapped.record
    assert mapped.errors == [] and record is not None
    assert record.source == "psap.example"
    assert record.incident_number == EIDO["incidentTrackingIdentifier"]
    assert record.revision == int(datetime(2024, 5, 2, 2, 10, 0, 500000, tzinfo=UTC).timestamp() * 1000)
    assert record.received_at == datetime(2024, 5, 2, 2, 5, tzinfo=UTC)
    assert record.caller_phone == "8195551212"
    assert record.address_text == "示例市 北城区 湖光路 12"
    assert record.point == (116.415, 39.965)
    assert (mapped.code.category, mapped.code.risk) == ("dispute.family", ("domestic_violence",))
    assert record.disposition == "Open"


def test_a_later_eido_update_has_a_higher_revision():
    profile = load_profile("nena_eido")
    first = map_record(profile, EIDO).record
    later = map_record(profile, EIDO | {"lastUpdateTimeStamp": "2024-05-02T02:30:00Z"}).record
    assert decide(first.revision, later.revision) is Outcome.UPDATE


def test_every_milwaukee_row_maps_with_local_time_and_a_district_station():
    profile = load_profile("milwaukee_cad")
    with MILWAUKEE.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    mapped = [map_record(profile, row) for row in rows]
    assert all(m.record is not None for m in mapped), [m.errors for m in mapped if m.errors][:3]
    first = mapped[0].record
    assert first.received_at.utcoffset().total_seconds() == -5 * 3600  # CDT in May
    assert first.station_code == "MKE-D4"
    specials = [m.record for m, row in zip(mapped, rows, strict=True) if row["district"] == "CITY"]
    assert specials and all(r.station_code is None for r in specials)
    blank = [m.record for m, row in zip(mapped, rows, strict=True) if not row["latitude"]]
    assert blank and all(r.point is None for r in blank)


def test_a_cad_csv_row_reads_beijing_time_and_names_the_failing_column():
    profile = load_profile("cad_csv")
    row = {"警情编号": "JQ1", "报警时间": "2024-05-31 23:30:00", "警情类别代码": "0601", "简要警情": "楼上漏水"}
    record = map_record(profile, row).record
    assert record.received_at.isoformat() == "2024-05-31T23:30:00+08:00"
    broken = map_record(profile, row | {"报警时间": "31/05/2024"})
    assert broken.record is None
    [error] = broken.errors
    assert error.field == "received_at" and "%Y-%m-%d %H:%M:%S" in error.message and "报警时间" in error.message


def test_a_record_that_is_not_an_object_is_rejected():
    mapped = map_record(load_profile("fengqiao_json"), ["a", "list"])
    assert mapped.record is None and "expected an object" in mapped.errors[0].message


@pytest.mark.parametrize("stored, incoming, outcome", [
    (None, 1, Outcome.NEW), (1, 2, Outcome.UPDATE), (2, 2, Outcome.DUPLICATE), (3, 2, Outcome.SUPERSEDED)])
def test_deduplication_decisions(stored, incoming, outcome):
    assert decide(stored, incoming) is outcome


@pytest.mark.parametrize("name", ["fengqiao_json", "cad_csv", "nena_eido", "milwaukee_cad"])
def test_every_category_a_profile_maps_to_is_a_code_of_the_classification_rules(name):
    classifier = Classifier.load()
    for code, entry in load_profile(name).categories.items():
        result = classifier.classify(category=entry.category, description=None)
        # "other" is deliberately no code: the keywords decide such a record.
        assert entry.category == "other" or result.matched[:1] == (f"code:{entry.category}",), (code, entry)


def test_milwaukee_call_types_that_name_the_offence_give_the_crime_type():
    profile, classifier = load_profile("milwaukee_cad"), Classifier.load()

    def crime_type(nature: str) -> tuple[str, str | None]:
        row = {"id": "1", "time": "2018-05-01 00:10:28", "location": "5237 N 35TH ST,MKE", "latitude": "",
               "longitude": "", "district": "4", "nature": nature, "status": "Advised"}
        mapped = map_record(profile, row)
        result = classifier.classify(category=mapped.code.category, description=mapped.record.description,
                                     category_text=mapped.record.category_text)
        return result.kind, result.crime_type

    assert crime_type("SHOOTING") == crime_type("BATTERY CUTTING") == ("crime", "injury")
    assert crime_type("THEFT") == crime_type("STOLEN VEHICLE") == crime_type("SHOPLIFTER") == ("crime", "theft")
    assert crime_type("ROBBERY ARMED") == ("crime", "robbery") and crime_type("FRAUD") == ("crime", "fraud")
    assert crime_type("SEX ASSAULT-DV") == ("crime", "sexual")
    # A plain battery or an entry does not say what happened: a crime of no type, not an injury or a theft.
    assert crime_type("BATTERY") == crime_type("ENTRY") == crime_type("SHOTS FIRED") == ("crime", "other")
    assert crime_type("FAMILY TROUBLE") == ("dispute", None)


def test_our_own_format_takes_every_code_of_the_classification_rules_as_itself():
    codes = yaml.safe_load(DEFAULT_RULES.read_text("utf-8"))["codes"]
    categories = {code: entry.category for code, entry in load_profile("fengqiao_json").categories.items()}
    assert {code: code for code in codes} == {code: c for code, c in categories.items() if code != "other"}
