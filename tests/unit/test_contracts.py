"""The committed contracts under docs/ match the code, and the AsyncAPI document describes the real messages."""
import ast
import importlib
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from services.assessment import events as assessment_events
from services.assessment.domain.scoring import Ranked
from services.assessment.facts import DataQuality, Unit
from services.assessment.ranking import Item, MonthRanking
from services.intake.domain.classification import Classifier
from services.intake.domain.dedup import Outcome
from services.intake.domain.jurisdiction import Jurisdictions
from services.intake.domain.profiles import FieldError, map_record
from services.intake.domain.triage import repeat_keys, triage
from services.intake.events import incident_events, rejected_event
from services.intake.profile_files import load_profile
from services.mediation.events import case_event
from shared.events.community import ActivityData
from shared.events.envelope import Envelope
from shared.events.topics import TOPICS, dead_letter_topic
from tools import contracts

ROOT = Path(__file__).resolve().parents[2]
KEY_PATHS = {
    "intake": ["/v1/dispatch-records", "/v1/dispatch-records/batch"],
    "mediation": ["/v1/queue", "/v1/queue/claim-next", "/v1/cases/{case_id}", "/v1/cases/{case_id}/claim",
                  "/v1/cases/{case_id}/release", "/v1/handoffs"],
    "assessment": ["/v1/rankings", "/v1/rankings/publish", "/v1/community/activities"],
}
RAW = {"source": "BJ-CAD", "incident_number": "X1", "received_at": "2024-05-31T23:30:00+08:00",
       "caller_name": "王小明", "caller_phone": "13812345678", "description": "楼上漏水，邻居争吵",
       "category_code": "dispute"}


@pytest.fixture(scope="module")
def documents() -> list[contracts.Document]:
    return contracts.render()


@pytest.fixture(scope="module")
def asyncapi() -> dict:
    return yaml.safe_load((ROOT / contracts.ASYNCAPI_PATH).read_text(encoding="utf-8"))


def test_committed_documents_match_the_code(documents):
    stale = contracts.stale(ROOT, documents)
    assert not stale, "\n".join(contracts.stale_message(path) for path in stale)


def test_a_changed_or_missing_document_is_stale(documents, tmp_path):
    for doc in documents:
        (tmp_path / doc.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / doc.path).write_bytes(doc.text.encode())
    assert contracts.stale(tmp_path, documents) == []
    edited = tmp_path / "docs/openapi/assessment.json"
    edited.write_text(edited.read_text().replace("/v1/rankings", "/v1/ranking", 1))
    (tmp_path / contracts.ASYNCAPI_PATH).unlink()
    stale = contracts.stale(tmp_path, documents)
    assert stale == [contracts.ASYNCAPI_PATH, "docs/openapi/assessment.json"]
    assert contracts.REGENERATE in contracts.stale_message(stale[0])


def test_generation_refuses_an_event_type_without_a_model(monkeypatch):
    monkeypatch.delitem(contracts.EVENT_MODELS, "ranking.published")
    with pytest.raises(contracts.ContractError, match="ranking.published"):
        contracts.asyncapi()


def _refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(document: dict, ref: str):
    node = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_topic_is_a_channel_and_every_event_type_a_message(asyncapi):
    assert asyncapi["asyncapi"] == "3.0.0"
    channels, messages = asyncapi["channels"], asyncapi["components"]["messages"]
    names = {*TOPICS, *(dead_letter_topic(name) for name in TOPICS)}
    assert set(channels) == names
    for spec in TOPICS.values():
        channel = channels[spec.name]
        assert channel["address"] == spec.name and channel["bindings"]["kafka"]["partitions"] == spec.partitions
        assert spec.key in channel["description"]
        assert set(channel["messages"]) == set(spec.event_types)
        for event_type in spec.event_types:
            assert messages[event_type]["bindings"]["kafka"]["key"]["description"] == spec.key
        dlq = channels[dead_letter_topic(spec.name)]
        headers = messages["dead-letter"]["headers"]["properties"]
        assert set(dlq["messages"]) == {"dead-letter"} and set(contracts.DEAD_LETTER_HEADERS) <= set(headers)
    for ref in _refs(asyncapi):
        assert ref.startswith("#/"), ref
        _resolve(asyncapi, ref)


def test_operations_reference_their_own_channels_messages(asyncapi):
    for name, operation in asyncapi["operations"].items():
        assert operation["action"] in ("send", "receive"), name
        channel = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel + "/messages/"), name


def _topics_imported(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("shared.events"):
            module = importlib.import_module(node.module)
            found |= {getattr(module, a.name) for a in node.names if a.name.endswith("_TOPIC")}
    return found


@pytest.mark.parametrize("service", contracts.SERVICES)
def test_who_sends_and_receives_matches_the_services_code(service, asyncapi):
    modules = sorted((ROOT / "services" / service).rglob("*.py"))
    received = _topics_imported(ROOT / "services" / service / "consumer.py")
    sent = set().union(*(_topics_imported(m) for m in modules if m.name != "consumer.py"))
    assert (sent, received) == (set(contracts.SENDS[service]), set(contracts.RECEIVES[service]))
    operations = {(o["action"], o["channel"]["$ref"].removeprefix("#/channels/"))
                  for o in asyncapi["operations"].values() if o["x-service"] == service}
    assert {("send", t) for t in sent} | {("receive", t) for t in received} <= operations


def test_every_payload_is_a_json_schema(asyncapi):
    for schema in asyncapi["components"]["schemas"].values():
        jsonschema.Draft7Validator.check_schema(schema)
    for message in asyncapi["components"]["messages"].values():
        jsonschema.Draft7Validator.check_schema(message["payload"])
        if "headers" in message:
            jsonschema.Draft7Validator.check_schema(message["headers"])


def _validate(asyncapi: dict, event_type: str, value: bytes) -> None:
    registry = Registry().with_resource("urn:asyncapi", Resource.from_contents(asyncapi, default_specification=DRAFT7))
    schema = {"$ref": f"urn:asyncapi#/components/messages/{event_type}/payload"}
    jsonschema.Draft7Validator(schema, registry=registry).validate(json.loads(value))


def _intake_rows(outcome: Outcome, kind_before: str | None = None):
    mapped = map_record(load_profile("fengqiao_json"), RAW)
    facts = triage(mapped.record, mapped.code, classifier=Classifier.load(), jurisdictions=Jurisdictions.load(),
                   keys=repeat_keys(mapped.record, b"k"), repeat_caller=False)
    return incident_events(mapped.record, facts, outcome, kind_before=kind_before)


def _case_row(event_type: str):
    now = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)
    case = {"id": uuid.uuid4(), "source": "BJ-CAD", "incident_number": "X1", "station_code": "990101001",
            "grid_code": None, "officer_id": None, "channel": "station", "state": "claimed",
            "dispute_type": "neighbour", "risk_flags": [], "high_risk": False, "address_key": "a",
            "phone_hmac": "h", "received_at": now, "version": 2, "updated_at": now}
    return case_event(case, event_type, actor="m1", details={"reason": "unclaimed"})


async def test_the_services_real_messages_match_their_payloads(asyncapi):
    rows = [*_intake_rows(Outcome.NEW), *_intake_rows(Outcome.UPDATE, kind_before="dispute"),
            rejected_event("http", "fengqiao_json", "[0]", "{", [FieldError("<json>", "malformed JSON")], 1),
            _case_row("case.claimed"), _case_row("case.escalated")]
    unit = Unit("station", "990101001", county_code="990101", cohort="urban")
    ranked = Ranked(unit=unit.code, score=Decimal("87.5"), grade="A", candidate=True, red_line=False, rank=1,
                    tied_with=(), rankable_weight=Decimal(1), contributions=())
    ranking = MonthRanking(date(2024, 5, 1), "station", "city", "v1", [Item(unit, {}, ranked)], [],
                           DataQuality(calls=0, without_unit=0, unknown_codes=()))
    published = assessment_events.ranking_published(ranking, [], by="a1")
    rows.append(assessment_events.ranking_row(published, at=datetime(2024, 6, 1, 8, 0, tzinfo=UTC)))
    seen = set()
    for row in rows:
        event_type = Envelope.from_bytes(row.value).type
        assert event_type in TOPICS[row.topic].event_types
        _validate(asyncapi, event_type, row.value)
        seen.add(event_type)
    assert {"incident.accepted", "dispute.updated", "dispatch.rejected", "ranking.published"} <= seen
    activity = ActivityData(type="patrol", occurred_at=datetime(2024, 5, 2, tzinfo=UTC), station_code="990101001",
                            participants=12)
    envelope = Envelope(type=activity.event_type, producer="app", key="990101001", data=activity.model_dump(mode="json"))
    _validate(asyncapi, "patrol.recorded", envelope.to_bytes())


def test_a_message_that_breaks_its_model_fails_its_payload(asyncapi):
    [incident, _] = _intake_rows(Outcome.NEW)
    envelope = Envelope.from_bytes(incident.value)
    broken = envelope.model_copy(update={"data": {k: v for k, v in envelope.data.items() if k != "station_code"}})
    with pytest.raises(jsonschema.ValidationError, match="station_code"):
        _validate(asyncapi, "incident.accepted", broken.to_bytes())
    wrong_type = envelope.model_copy(update={"type": "incident.updated"})
    with pytest.raises(jsonschema.ValidationError):
        _validate(asyncapi, "incident.accepted", wrong_type.to_bytes())


@pytest.mark.parametrize("service", contracts.SERVICES)
def test_each_openapi_document_has_the_services_key_paths(service):
    document = json.loads((ROOT / f"docs/openapi/{service}.json").read_text(encoding="utf-8"))
    assert document["openapi"].startswith("3.")
    assert {"/healthz", "/readyz", "/metrics", *KEY_PATHS[service]} <= set(document["paths"])


def test_the_documents_are_written_where_the_check_reads_them(documents, tmp_path, monkeypatch):
    monkeypatch.setattr(contracts, "ROOT", tmp_path)
    monkeypatch.setattr(contracts, "render", lambda: documents)
    assert contracts.main(["--check"]) == 1
    assert contracts.main([]) == 0
    assert contracts.main(["--check"]) == 0
