"""Outgoing events and answers are built without validation on the hot path, so the contract is checked here."""
from dataclasses import fields
from datetime import UTC, datetime

from services.intake.api import Result, _result
from services.intake.domain.classification import Classifier
from services.intake.domain.dedup import Outcome
from services.intake.domain.jurisdiction import Jurisdictions
from services.intake.domain.profiles import FieldError, map_record
from services.intake.domain.results import RecordResult
from services.intake.domain.triage import repeat_keys, triage
from services.intake.events import event_id, incident_events
from services.intake.profile_files import load_profile
from shared.events.envelope import Envelope
from shared.events.intake import DisputeData, IncidentData, incident_id

RAW = {"source": "BJ-CAD", "incident_number": "X1", "revision": 2, "received_at": "2024-05-31T23:30:00+08:00",
       "caller_name": "王小明", "caller_phone": "13812345678", "address_text": "示例市北城区望湖街道湖光路12号",
       "description": "楼上漏水，邻居争吵", "category_code": "dispute"}


def events_for(outcome: Outcome, prefix: str = "", kind_before: str | None = None, **change):
    mapped = map_record(load_profile("fengqiao_json"), RAW | change)
    facts = triage(mapped.record, mapped.code, classifier=Classifier.load(), jurisdictions=Jurisdictions.load(),
                   keys=repeat_keys(mapped.record, b"k"), repeat_caller=False)
    return mapped.record, incident_events(mapped.record, facts, outcome, prefix, kind_before=kind_before)


def test_events_validate_against_the_shared_contracts():
    record, [incident, dispute] = events_for(Outcome.NEW, "t.")
    assert (incident.topic, dispute.topic) == ("t.intake.incident.v1", "t.intake.dispute.v1")
    incident_envelope, dispute_envelope = Envelope.from_bytes(incident.value), Envelope.from_bytes(dispute.value)
    data = IncidentData.model_validate(incident_envelope.data)
    DisputeData.model_validate(dispute_envelope.data)
    assert incident_envelope.type == "incident.accepted" and dispute_envelope.type == "dispute.opened"
    assert incident_envelope.event_id == event_id("incident.accepted", record)
    assert incident_envelope.occurred_at == datetime(2024, 5, 31, 15, 30, tzinfo=UTC)
    assert incident.key == incident_envelope.key.encode() == data.station_code.encode()
    assert "caller_phone" not in incident_envelope.data and "caller_name" not in incident_envelope.data


def test_updates_have_their_own_stable_ids():
    _, [incident, dispute] = events_for(Outcome.UPDATE, kind_before="dispute")
    _, [again, _] = events_for(Outcome.UPDATE, kind_before="dispute")
    assert Envelope.from_bytes(incident.value).type == "incident.updated"
    assert Envelope.from_bytes(dispute.value).type == "dispute.updated"
    assert Envelope.from_bytes(incident.value).event_id == Envelope.from_bytes(again.value).event_id


def test_a_reclassified_incident_opens_or_updates_its_dispute():
    _, [_, opened] = events_for(Outcome.UPDATE, kind_before="help")
    assert Envelope.from_bytes(opened.value).type == "dispute.opened"
    _, [incident, left] = events_for(Outcome.UPDATE, kind_before="dispute", category_code="crime",
                                      description="电动车被盗")
    gone = Envelope.from_bytes(left.value)
    assert gone.type == "dispute.updated" and gone.data["kind"] == "crime"
    _, only = events_for(Outcome.UPDATE, kind_before="crime", category_code="crime", description="电动车被盗")
    assert [Envelope.from_bytes(r.value).type for r in only] == ["incident.updated"]


def test_both_events_carry_the_precision_of_the_address_behind_the_key():
    _, [incident, dispute] = events_for(Outcome.NEW)
    assert Envelope.from_bytes(incident.value).data["address_precision"] == "building"  # 湖光路12号
    assert DisputeData.model_validate(Envelope.from_bytes(dispute.value).data).address_precision == "building"
    _, [street, _] = events_for(Outcome.NEW, address_text="示例市东城区人民路")
    _, [room, _] = events_for(Outcome.NEW, address_text="示例市北城区湖光路12号3栋501室")
    _, [nowhere, _] = events_for(Outcome.NEW, address_text=None)
    got = [IncidentData.model_validate(Envelope.from_bytes(r.value).data) for r in (street, room, nowhere)]
    assert [(d.address_precision, d.address_key is None) for d in got] == [
        ("street", False), ("room", False), ("none", True)]


def test_a_crime_carries_its_type_and_a_dispute_none():
    _, [crime] = events_for(Outcome.NEW, category_code="crime", description="男子持刀砍伤他人")
    _, [coded] = events_for(Outcome.NEW, category_code="crime.homicide", description="情况不明")
    _, [incident, dispute] = events_for(Outcome.NEW)
    types = [IncidentData.model_validate(Envelope.from_bytes(r.value).data).crime_type for r in (crime, coded, incident)]
    assert types == ["injury", "homicide", None]
    assert DisputeData.model_validate(Envelope.from_bytes(dispute.value).data).crime_type is None
    # A dispute reclassified as a crime says so on the dispute topic too, with the crime's type.
    _, [_, left] = events_for(Outcome.UPDATE, kind_before="dispute", category_code="crime", description="电动车被盗")
    assert (Envelope.from_bytes(left.value).data["kind"], Envelope.from_bytes(left.value).data["crime_type"]) == (
        "crime", "theft")


def test_a_made_up_station_code_is_reported_and_the_events_go_to_the_station_that_places_the_record():
    _, [incident, dispute] = events_for(Outcome.NEW, station_code="999999999")
    data = IncidentData.model_validate(Envelope.from_bytes(incident.value).data)
    assert (data.station_code, data.jurisdiction_method, data.reported_station_code) == (
        "990101001", "address", "999999999")  # 北城区望湖街道 places it in 望湖
    assert incident.key == dispute.key == b"990101001"
    _, [lost, _] = events_for(Outcome.NEW, station_code="999999999", address_text="火星基地1号")
    data = IncidentData.model_validate(Envelope.from_bytes(lost.value).data)
    assert (data.station_code, data.jurisdiction_method, data.reported_station_code) == (
        "unassigned", "unknown_station", "999999999")
    _, [known, _] = events_for(Outcome.NEW, station_code="990102001")
    assert Envelope.from_bytes(known.value).data["reported_station_code"] is None


def test_an_answer_has_every_field_of_the_documented_result():
    # api._result writes the answer out field by field; a field added to RecordResult or Result must be in it.
    accepted = RecordResult("line 3", "accepted", "BJ-CAD", "X1", 2, "update", "990101001", "dispute", "neighbour")
    answer = _result(accepted)
    assert list(answer) == [*(f.name for f in fields(RecordResult) if f.name != "errors"), "incident_id", "errors"]
    assert set(answer) == set(Result.model_fields)
    assert answer["incident_id"] == str(incident_id("BJ-CAD", "X1"))
    assert Result.model_validate(answer).revision == 2
    rejected = _result(RecordResult("line 4", "rejected", errors=[FieldError("closed_at", "before received_at")]))
    assert rejected["incident_id"] is None
    assert rejected["errors"] == [{"loc": ["body", "closed_at"], "msg": "before received_at", "type": "rejected"}]
