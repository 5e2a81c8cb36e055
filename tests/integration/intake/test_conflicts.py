"""The same revision with other content is a conflict: rejected, kept and counted, never a duplicate;
each record keeps the profile that mapped it; a dispute on weak evidence says it needs review."""
import pytest

from services.intake.handlers import ingest
from services.intake.profile_files import load_profile
from shared.events.intake import DISPUTE_TOPIC, REJECTED_TOPIC
from tests.integration.intake.helpers import inputs, read_topic, record

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
JSON = load_profile("fengqiao_json")


async def test_a_revision_resent_with_other_content_is_a_conflict(intake_ctx, kafka_bootstrap):
    first = await ingest(intake_ctx, inputs(record("K1")), profile=JSON, channel="http")
    again = await ingest(intake_ctx, inputs(
        record("K1"),                                  # the same again: a duplicate
        record("K1", description="另一件事：邻居家狗叫"),   # the same revision saying something else
        record("K2"), record("K2", disposition="已调解"),  # and both inside one batch
    ), profile=JSON, channel="http")
    assert [r.status for r in first] == ["accepted"]
    assert [r.status for r in again] == ["duplicate", "conflict", "accepted", "conflict"]
    assert again[1].errors[0].field == "revision" and "different content" in again[1].errors[0].message
    async with intake_ctx.pool.acquire() as conn:
        kept = await conn.fetch("SELECT position, raw, errors FROM rejected_records ORDER BY id")
        stored = await conn.fetchrow("SELECT record, profile, profile_version, content_hash FROM dispatch_records "
                                     "WHERE incident_number = 'K1'")
    assert [r["position"] for r in kept] == ["[1]", "[3]"] and "狗叫" in kept[0]["raw"]
    assert stored["record"]["description"] == record("K1")["description"], "the stored revision stands"
    assert (stored["profile"], stored["profile_version"]) == ("fengqiao_json", JSON.version)
    assert stored["content_hash"]
    rejected = await read_topic(kafka_bootstrap, intake_ctx.settings.topic_prefix + REJECTED_TOPIC, expected=2)
    assert len(rejected) == 2 and all("conflict" in e.data["errors"][0]["message"] for e in rejected)


async def test_a_dispute_the_text_decided_on_one_word_needs_review(intake_ctx, kafka_bootstrap):
    weak = record("R1", category_code=None, description="邻居来了")
    strong = record("R2", category_code="dispute.neighbour")
    await ingest(intake_ctx, inputs(weak, strong), profile=JSON, channel="http")
    disputes = await read_topic(kafka_bootstrap, intake_ctx.settings.topic_prefix + DISPUTE_TOPIC, expected=2)
    assert {e.data["incident_number"]: e.data["needs_review"] for e in disputes} == {"R1": True, "R2": False}
    async with intake_ctx.pool.acquire() as conn:
        flags = dict(await conn.fetch("SELECT incident_number, needs_review FROM dispatch_records ORDER BY 1"))
    assert flags == {"R1": True, "R2": False}
