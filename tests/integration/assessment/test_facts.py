"""Facts from incidents and case events, through real Kafka into PostgreSQL: once, in the right month."""
import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from services.assessment.consumer import facts_runner
from services.assessment.settings import AssessmentSettings
from shared.db.migrations import migrate
from shared.db.pool import create_pool
from shared.events.envelope import Envelope
from shared.events.intake import INCIDENT_TOPIC
from shared.events.mediation import CASE_TOPIC
from shared.kafka.admin import ensure_registered_topics
from shared.kafka.producer import EventProducer
from tests.integration.assessment.contexts import context
from tests.integration.test_consumer_runner import wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
STATION = "990101001"


def incident(number: str, revision: int, received_at: datetime, **data) -> Envelope:
    body = {"source": "BJ-CAD", "incident_number": number, "revision": revision,
            "received_at": received_at.isoformat(), "station_code": STATION, "jurisdiction_method": "record",
            "kind": "dispute", "dispute_type": "neighbour", "confidence": 0.9, "rules_version": "v1"} | data
    return Envelope(type="incident.accepted" if revision == 1 else "incident.updated", producer="intake",
                    key=STATION, data=body)


def case_event(kind: str, sequence: int, state: str, at: datetime, **details) -> Envelope:
    data = {"case_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "C1")), "source": "BJ-CAD", "incident_number": "C1",
            "station_code": STATION, "channel": "peoples_mediator", "state": state,
            "received_at": "2024-05-10T02:00:00+00:00", "actor": "m1", "sequence": sequence, "details": details}
    return Envelope(type=kind, producer="mediation", key=STATION, occurred_at=at, data=data)


async def test_facts_land_in_their_local_month_once_and_in_order(kafka_bootstrap, database_url, topic_prefix):
    settings = AssessmentSettings(kafka_bootstrap_servers=kafka_bootstrap, database_url=database_url,
                                  topic_prefix=topic_prefix, environment="test")
    await migrate(database_url, "services.assessment")
    await ensure_registered_topics(kafka_bootstrap, prefix=topic_prefix)
    late_night = datetime(2024, 5, 31, 15, 30, tzinfo=UTC)  # 23:30 on 31 May in Beijing
    newer = incident("I1", 2, late_night, kind="crime", dispute_type=None)
    at = datetime(2024, 5, 10, 3, tzinfo=UTC)
    events = {
        INCIDENT_TOPIC: [newer, incident("I1", 1, late_night), newer, incident("I2", 1, datetime(2024, 6, 1, tzinfo=UTC))],
        CASE_TOPIC: [case_event("case.claimed", 2, "claimed", at.replace(hour=4)),       # overtook its creation
                     case_event("case.created", 1, "pending", at),
                     case_event("case.escalated", 3, "pending", at.replace(hour=5), reason="no_session"),
                     case_event("case.agreement_reached", 5, "agreement", at.replace(hour=9),
                                performance_date="2024-06-20"),
                     case_event("case.closed", 6, "closed", at.replace(hour=10))],
    }
    async with EventProducer(bootstrap_servers=kafka_bootstrap, client_id="t") as producer:
        for topic, batch in events.items():
            for event in batch:
                await producer.publish(settings.topic(topic), event)
        pool = await create_pool(database_url, max_size=3)
        runner = facts_runner(context(settings, pool, producer))
        task = asyncio.create_task(runner.run())
        try:
            async def all_applied() -> bool:
                return await pool.fetchval("SELECT count(*) FROM processed_events") == 8  # 9 sent, 1 duplicate
            await wait_for(all_applied, timeout=60)
        finally:
            runner.stop()
            await task
        rows = {r["incident_number"]: r for r in await pool.fetch("SELECT * FROM incidents")}
        case = await pool.fetchrow("SELECT * FROM cases")
        await pool.close()
    assert rows["I1"]["revision"] == 2 and rows["I1"]["kind"] == "crime", "the older revision came later and lost"
    assert str(rows["I1"]["month"]) == "2024-05-01", "23:30 Beijing time on the last day belongs to that month"
    assert str(rows["I2"]["month"]) == "2024-06-01"
    assert (case["state"], case["sequence"]) == ("closed", 6)
    assert case["created_at"] == at and case["first_claimed_at"] == at.replace(hour=4)
    assert case["agreement"] and case["closed_at"] == at.replace(hour=10)
    assert case["sla_breaches"] == 1
    assert str(case["performance_date"]) == "2024-06-20", "breach_rate counts the agreement as due in June"
