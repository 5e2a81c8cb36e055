"""Ingest against real PostgreSQL and Kafka: deduplication, events, rejects, repeat callers."""
import json

import pytest

from services.intake.handlers import ingest
from services.intake.profile_files import load_profile
from shared.events.intake import DISPUTE_TOPIC, INCIDENT_TOPIC, REJECTED_TOPIC
from tests.integration.intake.helpers import inputs, read_topic, record

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
JSON = load_profile("fengqiao_json")


async def test_every_deduplication_branch(intake_ctx, kafka_bootstrap):
    first = await ingest(intake_ctx, inputs(record("A1"), record("A2")), profile=JSON, channel="http")
    again = await ingest(intake_ctx, inputs(
        record("A1"),                                         # same revision: duplicate
        record("A1", 3, disposition="已调解"),                 # higher: update
        record("A1", 2),                                      # lower than stored 3: superseded
        record("A2", 1), record("A2", 1),                     # duplicates, twice in one batch
    ), profile=JSON, channel="http")
    assert [(r.status, r.change) for r in first] == [("accepted", "new"), ("accepted", "new")]
    assert [(r.status, r.change) for r in again] == [
        ("duplicate", None), ("accepted", "update"), ("superseded", None), ("duplicate", None), ("duplicate", None)]
    async with intake_ctx.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT revision, superseded_count, record FROM dispatch_records "
                                  "WHERE incident_number = 'A1'")
        outbox = await conn.fetchval("SELECT count(*) FROM outbox")
    assert row["revision"] == 3 and row["superseded_count"] == 1
    assert row["record"]["disposition"] == "已调解"
    assert outbox == 0, "published events leave the outbox"

    prefix = intake_ctx.settings.topic_prefix
    incidents = await read_topic(kafka_bootstrap, prefix + INCIDENT_TOPIC, expected=3)
    disputes = await read_topic(kafka_bootstrap, prefix + DISPUTE_TOPIC, expected=3)
    assert sorted((e.type, e.data["incident_number"], e.data["revision"]) for e in incidents) == [
        ("incident.accepted", "A1", 1), ("incident.accepted", "A2", 1), ("incident.updated", "A1", 3)]
    assert sorted((e.type, e.data["incident_number"]) for e in disputes) == [
        ("dispute.opened", "A1"), ("dispute.opened", "A2"), ("dispute.updated", "A1")]


async def test_events_are_keyed_by_station_and_incidents_carry_no_personal_data(intake_ctx, kafka_bootstrap):
    [result] = await ingest(intake_ctx, inputs(record("B1")), profile=JSON, channel="http")
    prefix = intake_ctx.settings.topic_prefix
    [incident] = await read_topic(kafka_bootstrap, prefix + INCIDENT_TOPIC, expected=1)
    [dispute] = await read_topic(kafka_bootstrap, prefix + DISPUTE_TOPIC, expected=1)
    assert result.station_code == "990101001"  # placed by the 北城区望湖街道 address prefix
    assert incident.key == dispute.key == "990101001"
    wire = incident.model_dump_json()
    assert "13812345678" not in wire and "王小明" not in wire
    assert incident.data["caller_phone_hmac"] and incident.data["address_key"]
    assert dispute.data["caller_phone"] == "13812345678"  # mediators need to call back
    assert dispute.data["dispute_type"] == "neighbour" and dispute.data["jurisdiction_method"] == "address"


async def test_rejected_input_is_kept_in_the_table_and_on_the_rejected_topic(intake_ctx, kafka_bootstrap):
    bad = record("C1", received_at="2024-05-01T10:00:00+08:00", closed_at="2024-05-01T09:00:00+08:00")
    results = await ingest(intake_ctx, inputs(bad, record("C2")), profile=JSON, channel="http")
    assert [r.status for r in results] == ["rejected", "accepted"]
    assert results[0].errors[0].field == "closed_at"
    async with intake_ctx.pool.acquire() as conn:
        kept = await conn.fetchrow("SELECT channel, position, raw, errors FROM rejected_records")
    assert (kept["channel"], kept["position"]) == ("http", "[0]")
    assert '"C1"' in kept["raw"] and kept["errors"][0]["field"] == "closed_at"
    [event] = await read_topic(kafka_bootstrap, intake_ctx.settings.topic_prefix + REJECTED_TOPIC, expected=1)
    assert event.type == "dispatch.rejected" and event.data["errors"][0]["field"] == "closed_at"


async def test_a_second_call_from_the_same_phone_is_flagged_repeat_caller(intake_ctx, kafka_bootstrap):
    await ingest(intake_ctx, inputs(record("D1", received_at="2024-05-01T10:00:00+08:00")),
                 profile=JSON, channel="http")
    await ingest(intake_ctx, inputs(
        record("D2", received_at="2024-05-03T10:00:00+08:00", caller_phone="+86 138-1234-5678"),
        record("D3", received_at="2024-07-30T10:00:00+08:00", caller_phone="13999999999"),
    ), profile=JSON, channel="http")
    incidents = await read_topic(kafka_bootstrap, intake_ctx.settings.topic_prefix + INCIDENT_TOPIC, expected=3)
    flags = {e.data["incident_number"]: e.data["risk_flags"] for e in incidents}
    assert "repeat_caller" not in flags["D1"]
    assert "repeat_caller" in flags["D2"], "same phone, other formatting, two days later"
    assert "repeat_caller" not in flags["D3"]


async def test_outbox_left_by_a_crash_is_relayed(intake_ctx, kafka_bootstrap):
    from services.intake.domain.profiles import FieldError
    from services.intake.events import rejected_event
    from services.intake.handlers import relay_outbox
    row = rejected_event("file", "cad_csv", "line 9", "x,y", [FieldError("a", "b")], 1,
                         intake_ctx.settings.topic_prefix)
    async with intake_ctx.pool.acquire() as conn:  # as if the process died right after its commit
        await conn.execute("INSERT INTO outbox (topic, key, value) VALUES ($1, $2, $3)", row.topic, row.key, row.value)
    assert await relay_outbox(intake_ctx) == 1
    [event] = await read_topic(kafka_bootstrap, intake_ctx.settings.topic_prefix + REJECTED_TOPIC, expected=1)
    assert event.data["position"] == "line 9"
    assert await relay_outbox(intake_ctx) == 0


async def test_rejected_input_can_be_replayed_after_a_fix(intake_ctx):
    from services.intake.handlers import replay_rejected
    lonely = record("E1") | {"longitude": 116.41}  # a longitude without its latitude
    [first] = await ingest(intake_ctx, inputs(lonely), profile=JSON, channel="http")
    assert first.status == "rejected"
    [again] = await replay_rejected(intake_ctx)            # nothing changed: rejected again, kept again
    assert again.status == "rejected" and again.position.startswith("rejected #")
    async with intake_ctx.pool.acquire() as conn:
        newest = await conn.fetchval("SELECT max(id) FROM rejected_records")
        await conn.execute("UPDATE rejected_records SET raw = $1 WHERE id = $2",
                           json.dumps(lonely | {"latitude": 39.96}), newest)  # the operator's fix
    [fixed] = await replay_rejected(intake_ctx)
    assert (fixed.status, fixed.incident_number) == ("accepted", "E1")
    assert await replay_rejected(intake_ctx) == []


async def test_a_huge_rejected_input_is_kept_whole_and_its_event_stays_small(intake_ctx, kafka_bootstrap):
    huge = record("G1", description="长" * 200_000)
    [result] = await ingest(intake_ctx, inputs(huge), profile=JSON, channel="http")
    assert result.status == "rejected"
    async with intake_ctx.pool.acquire() as conn:
        kept_id, kept = await conn.fetchrow("SELECT id, length(raw) FROM rejected_records")
    assert kept > 200_000
    [event] = await read_topic(kafka_bootstrap, intake_ctx.settings.topic_prefix + REJECTED_TOPIC, expected=1)
    assert event.data["raw"] is None and event.data["raw_chars"] == kept and event.data["reference"] == kept_id
    assert len(event.to_bytes()) < 4096


async def test_the_rejected_event_carries_reason_feed_and_reference_but_no_personal_data(intake_ctx, kafka_bootstrap):
    bad = [record("M1", caller_name="赵六", caller_phone="13912345678", closed_at="2024-05-30T10:00:00+08:00"),
           record("M2", caller_name="钱七", caller_phone=["13987654321"])]  # quoted in the reason
    results = await ingest(intake_ctx, inputs(*bad), profile=JSON, channel="http")
    assert [r.status for r in results] == ["rejected", "rejected"]
    async with intake_ctx.pool.acquire() as conn:
        kept = {r["position"]: r for r in await conn.fetch("SELECT id, position, raw, errors FROM rejected_records")}
    assert "赵六" in kept["[0]"]["raw"] and "13987654321" in kept["[1]"]["raw"]  # the database keeps it whole
    assert "13987654321" in json.dumps(kept["[1]"]["errors"])
    events = await read_topic(kafka_bootstrap, intake_ctx.settings.topic_prefix + REJECTED_TOPIC, expected=2)
    assert {e.data["position"]: e.data["reference"] for e in events} == {p: r["id"] for p, r in kept.items()}
    assert {e.data["profile"] for e in events} == {"fengqiao_json"} and {e.key for e in events} == {"fengqiao_json"}
    fields = {e.data["position"]: [p["field"] for p in e.data["errors"]] for e in events}
    assert fields == {"[0]": ["closed_at"], "[1]": ["caller_phone"]}
    text = b"".join(e.to_bytes() for e in events).decode()
    for personal in ("赵六", "钱七", "13912345678", "13987654321", "湖光路", "噪音"):
        assert personal not in text, personal
