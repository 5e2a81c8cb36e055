"""dispatch.raw.v1: CAD centres that publish to Kafka; bad messages never block the partition."""
import asyncio
import json

import pytest

from services.intake.consumer import PROFILE_HEADER, raw_runner
from shared.events.intake import INCIDENT_TOPIC, RAW_TOPIC
from shared.kafka.producer import EventProducer
from tests.integration.intake.helpers import read_topic, record

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

EIDO = {
    "incidentTrackingIdentifier": "urn:emergency:uid:incidentid:77:psap.example",
    "OwningAgencyIdentifier": "psap.example", "lastUpdateTimeStamp": "2024-05-02T02:10:00.0Z",
    "incidentComponent": [{"incidentTypeCommonRegistryText": "NOISE", "incidentTypeInternalText": "Loud party"}],
    "callComponent": [{"callStartTimestamp": "2024-05-02T02:05:00.0Z"}],
    "callbackComponent": [{"callBackInformationUri": ["sip:1@x", "tel:+8613800000000"]}],
}


async def test_raw_records_are_ingested_and_bad_ones_rejected_without_blocking(intake_ctx, kafka_bootstrap):
    settings = intake_ctx.settings
    topic = settings.topic(RAW_TOPIC)
    messages = [
        (json.dumps(record("K1")).encode(), []),
        (b"{broken", []),                                              # not JSON
        (json.dumps(record("K2")).encode(), [(PROFILE_HEADER, b"no_such_profile")]),
        (json.dumps(EIDO).encode(), [(PROFILE_HEADER, b"nena_eido")]),
        (b"\xff\xfe\xfd", []),                                        # not UTF-8
        (json.dumps(record("K9", description="a\u0000b")).encode(), []),  # NUL: PostgreSQL text cannot hold it
        (json.dumps(record("K3")).encode(), []),
    ]
    async with EventProducer(bootstrap_servers=kafka_bootstrap, client_id="cad") as cad:
        # One key: all on one partition, so the good records after the bad ones prove it moves on.
        for value, headers in messages:
            await cad.send_raw(topic, value, key=b"one-partition", headers=headers)
    runner = raw_runner(intake_ctx)
    task = asyncio.create_task(runner.run())
    try:
        incidents = await read_topic(kafka_bootstrap, settings.topic(INCIDENT_TOPIC), expected=3, timeout=30)
    finally:
        runner.stop()
        await task
    assert sorted(e.data["incident_number"] for e in incidents) == [
        "K1", "K3", "urn:emergency:uid:incidentid:77:psap.example"]
    eido = next(e for e in incidents if e.data["source"] == "psap.example")
    assert eido.data["kind"] == "dispute" and eido.data["dispute_type"] == "neighbour"
    async with intake_ctx.pool.acquire() as conn:
        rejected = await conn.fetch("SELECT channel, position, errors FROM rejected_records ORDER BY id")
    assert len(rejected) == 4 and {r["channel"] for r in rejected} == {"kafka"}
    fields = sorted(r["errors"][0]["field"] for r in rejected)
    assert fields == ["<encoding>", "<json>", "description", "headers.profile"]
