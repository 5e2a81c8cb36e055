"""The intake HTTP API against real PostgreSQL and Kafka: auth, answers per record, bad input."""
import json

import httpx
import pytest

from services.intake.api import create_app
from shared.auth import issue_token
from shared.events.intake import DISPUTE_TOPIC, INCIDENT_TOPIC, DisputeData, IncidentData
from tests.integration.intake.helpers import read_topic, record

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture
async def client(intake_settings):
    app = create_app(intake_settings)
    secret = intake_settings.jwt_secret.get_secret_value()
    token = issue_token(secret, subject="cad-1", roles=["feed"])
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake",
                                     headers={"Authorization": f"Bearer {token}"}) as http:
            http.app_state = app.state
            http.secret = secret
            yield http


async def rejected_rows(client) -> list:
    async with client.app_state.intake.pool.acquire() as conn:
        return await conn.fetch("SELECT position, raw, errors FROM rejected_records ORDER BY id")


async def test_feed_endpoints_need_a_feed_token(client):
    body = json.dumps(record("T1"))
    assert (await client.post("/v1/dispatch-records", content=body, headers={"Authorization": ""})).status_code == 401
    assert (await client.post("/v1/dispatch-records", content=body,
                              headers={"Authorization": "Bearer not-a-token"})).status_code == 401
    mediator = issue_token(client.secret, subject="m", roles=["mediator"])
    response = await client.post("/v1/dispatch-records", content=body, headers={"Authorization": f"Bearer {mediator}"})
    assert response.status_code == 403 and response.json()["detail"]["allowed_roles"] == ["feed"]
    assert response.json()["detail"]["code"] == "forbidden_role" and "feed" in response.json()["detail"]["message"]


async def test_one_record_is_accepted_then_a_duplicate(client):
    first = await client.post("/v1/dispatch-records", content=json.dumps(record("S1")))
    again = await client.post("/v1/dispatch-records", content=json.dumps(record("S1")))
    assert first.status_code == 200 and first.json()["status"] == "accepted"
    assert first.json()["kind"] == "dispute" and first.json()["station_code"] == "990101001"
    assert again.json()["status"] == "duplicate"


@pytest.mark.parametrize("change, loc, words", [
    ({"received_at": None}, ["body", "received_at"], "Field required"),
    ({"revision": "abc"}, ["body", "revision"], "expected an integer"),
    ({"incident_number": ""}, ["body", "incident_number"], "Field required"),
    ({"closed_at": "2024-05-31T20:00:00+08:00"}, ["body", "closed_at"], "before received_at"),
    ({"received_at": "2099-01-01T00:00:00+08:00"}, ["body", "received_at"], "in the future"),
    ({"received_at": "2024-05-31 23:30:00"}, ["body", "received_at"], None),  # naive: read as Beijing time
])
async def test_a_bad_record_is_answered_with_its_field_path_and_kept(client, change, loc, words):
    response = await client.post("/v1/dispatch-records", content=json.dumps(record("R1") | change))
    if words is None:
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]["errors"]
    assert problem["loc"] == loc and words in problem["msg"]
    [kept] = await rejected_rows(client)
    assert json.loads(kept["raw"]) == record("R1") | change


async def test_malformed_json_and_unknown_profile(client):
    broken = await client.post("/v1/dispatch-records", content=b'{"source": "x",')
    assert broken.status_code == 422 and broken.json()["detail"]["errors"][0]["loc"] == ["body", "<json>"]
    unknown = await client.post("/v1/dispatch-records?profile=nope", content=json.dumps(record("U1")))
    assert unknown.status_code == 422
    assert unknown.json()["detail"]["errors"][0]["loc"] == ["query", "profile"]
    assert "fengqiao_json" in unknown.json()["detail"]["errors"][0]["msg"]  # lists the known profiles


async def test_batch_as_json_array_answers_per_record(client):
    batch = [record("B1"), record("B1"), record("B2", revision=0), record("B3", category_code="crime",
                                                                          description="电动车被盗")]
    response = await client.post("/v1/dispatch-records/batch", json=batch)
    body = response.json()
    assert response.status_code == 200
    assert [r["status"] for r in body["results"]] == ["accepted", "duplicate", "rejected", "accepted"]
    assert body["results"][2]["errors"][0]["loc"] == ["body", "revision"]
    assert body["results"][3]["kind"] == "crime"
    assert body["summary"] == {"accepted": 2, "duplicate": 1, "rejected": 1}


async def test_batch_as_ndjson_with_a_line_that_is_not_utf8(client):
    lines = [json.dumps(record("N1"), ensure_ascii=False).encode(), b'{"source": "\xff\xfe"}', b"",
             json.dumps(record("N2")).encode()]
    response = await client.post("/v1/dispatch-records/batch", content=b"\n".join(lines),
                                 headers={"Content-Type": "application/x-ndjson"})
    results = response.json()["results"]
    assert [(r["position"], r["status"]) for r in results] == [
        ("line 1", "accepted"), ("line 2", "rejected"), ("line 4", "accepted")]
    assert "not UTF-8" in results[1]["errors"][0]["msg"]


async def test_an_oversize_batch_is_refused_whole(client, intake_settings):
    too_many = intake_settings.max_batch_records + 1
    lines = b"\n".join(json.dumps(record(f"O{i}")).encode() for i in range(too_many))
    response = await client.post("/v1/dispatch-records/batch", content=lines,
                                 headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 413
    assert str(intake_settings.max_batch_records) in response.json()["detail"]["errors"][0]["msg"]


async def test_a_body_that_is_not_an_array_is_refused_and_kept(client):
    response = await client.post("/v1/dispatch-records/batch", json={"not": "an array"})
    assert response.status_code == 422 and "array" in response.json()["detail"]["errors"][0]["msg"]
    [kept] = await rejected_rows(client)
    assert kept["position"] == "body" and '"not"' in kept["raw"]


@pytest.mark.parametrize("change, loc", [
    ({"description": "漏水\u0000争吵"}, ["body", "description"]),
    ({"revision": 2**63}, ["body", "revision"]),
    ({"received_at": "0001-01-01T00:00:00+08:00"}, ["body", "received_at"]),
    ({"incident_number": {"a": 1}}, ["body", "incident_number"]),
    ({"revision": True}, ["body", "revision"]),
    ({"revision": 2.7}, ["body", "revision"]),
    ({"description": "长" * 6000}, ["body", "description"]),
])
async def test_hostile_values_are_rejected_and_kept_not_crashed(client, change, loc):
    response = await client.post("/v1/dispatch-records/batch", json=[record("H1") | change, record("H2")])
    assert response.status_code == 200, response.text
    first, second = response.json()["results"]
    assert first["status"] == "rejected" and first["errors"][0]["loc"] == loc, first
    assert second["status"] == "accepted"
    assert len(await rejected_rows(client)) == 1


async def test_lone_surrogates_and_nul_in_ndjson_lines_are_rejected_per_line(client):
    lines = [b'{"source": "\\ud800", "incident_number": "x"}', b'{"a": "\x00"',
             json.dumps(record("L1")).encode()]
    response = await client.post("/v1/dispatch-records/batch", content=b"\n".join(lines),
                                 headers={"Content-Type": "application/x-ndjson"})
    assert [r["status"] for r in response.json()["results"]] == ["rejected", "rejected", "accepted"]
    kept = await rejected_rows(client)
    assert "\\u0000" in kept[1]["raw"]  # NUL cannot be stored as text: kept escaped


async def test_a_body_over_the_byte_limit_is_refused_before_reading(client, intake_settings):
    response = await client.post("/v1/dispatch-records/batch", content=b"[]",
                                 headers={"Content-Length": str(intake_settings.max_body_bytes + 1)})
    assert response.status_code == 413 and "limit" in response.json()["detail"]["errors"][0]["msg"]


async def test_a_made_up_station_code_is_kept_reported_and_the_record_placed_by_the_other_rules(
        client, intake_settings, kafka_bootstrap):
    # 北城区望湖街道 places the first in 望湖 (990101001); nothing places the second, a street-level crime.
    placed = record("M1", station_code="990199999")
    lost = record("M2", station_code="FAKE-9", address_text="示例市东城区人民路", category_code="crime",
                  description="男子持刀砍伤他人")
    answers = [await client.post("/v1/dispatch-records", content=json.dumps(r)) for r in (placed, lost)]
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert [(a.json()["status"], a.json()["station_code"]) for a in answers] == [
        ("accepted", "990101001"), ("accepted", "unassigned")]

    prefix = intake_settings.topic_prefix
    incidents = await read_topic(kafka_bootstrap, prefix + INCIDENT_TOPIC, expected=2)
    [dispute] = await read_topic(kafka_bootstrap, prefix + DISPUTE_TOPIC, expected=1)
    by_number = {e.data["incident_number"]: (e.key, IncidentData.model_validate(e.data)) for e in incidents}
    assert sorted(by_number) == ["M1", "M2"]
    key, first = by_number["M1"]
    assert (key, first.station_code, first.jurisdiction_method, first.reported_station_code) == (
        "990101001", "990101001", "address", "990199999")
    assert (first.kind, first.crime_type, first.address_precision) == ("dispute", None, "building")
    key, second = by_number["M2"]
    assert (key, second.station_code, second.jurisdiction_method, second.reported_station_code) == (
        "unassigned", "unassigned", "unknown_station", "FAKE-9")
    assert (second.kind, second.crime_type, second.address_precision) == ("crime", "injury", "street")
    assert DisputeData.model_validate(dispute.data).reported_station_code == "990199999"

    async with client.app_state.intake.pool.acquire() as conn:
        rows = await conn.fetch("SELECT incident_number, station_code, address_precision, crime_type, "
                                "record->>'station_code' AS reported FROM dispatch_records ORDER BY 1")
    assert [tuple(r) for r in rows] == [("M1", "990101001", "building", None, "990199999"),
                                        ("M2", "unassigned", "street", "injury", "FAKE-9")]
