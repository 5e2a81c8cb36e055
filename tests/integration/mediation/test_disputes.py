"""Disputes from intake.dispute.v1 become cases through real Kafka: once, in order, never reopened."""
import asyncio

import pytest

from services.mediation.consumer import dispute_runner
from services.mediation.events import case_id
from shared import outbox
from shared.events.envelope import Envelope
from shared.events.intake import DISPUTE_TOPIC
from shared.events.mediation import CASE_TOPIC, CaseEventData
from shared.kafka.producer import EventProducer
from tests.integration.intake.helpers import read_topic
from tests.integration.mediation.conftest import dispute_event
from tests.integration.test_consumer_runner import wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def run_until(ctx, predicate, timeout: float = 30) -> None:
    runner = dispute_runner(ctx)
    task = asyncio.create_task(runner.run())
    try:
        await wait_for(predicate, timeout=timeout)
    finally:
        runner.stop()
        await task


async def test_duplicates_out_of_order_updates_and_a_poison_event(mediation_ctx, kafka_bootstrap):
    settings = mediation_ctx.settings
    opened = dispute_event("D1")
    update = dispute_event("D2", revision=2, kind="dispute.updated", risk_flags=["weapon"])
    late_open = dispute_event("D2", revision=1)
    poison = Envelope(type="dispute.opened", producer="intake", key="990101001", data={"incident_number": "P"})
    async with EventProducer(bootstrap_servers=kafka_bootstrap, client_id="intake") as intake:
        for event in (opened, opened, update, late_open, poison, dispute_event("D3")):
            await intake.publish(settings.topic(DISPUTE_TOPIC), event)

    async def three_cases() -> bool:
        return await mediation_ctx.pool.fetchval("SELECT count(*) FROM cases") == 3
    await run_until(mediation_ctx, three_cases)
    async with mediation_ctx.pool.acquire() as conn:
        d2 = await conn.fetchrow("SELECT revision, high_risk, channel, risk_flags FROM cases WHERE id = $1",
                                 case_id("BJ-CAD", "D2"))
        created = await conn.fetchval("SELECT count(*) FROM case_timeline WHERE action = 'created'")
    assert (d2["revision"], d2["high_risk"], d2["channel"]) == (2, True, "station_officer")
    assert created == 3, "the duplicate opening made no second case"
    letters = await read_topic(kafka_bootstrap, settings.topic(DISPUTE_TOPIC) + ".dlq", expected=1)
    assert [e.data for e in letters] == [{"incident_number": "P"}]

    await outbox.relay(mediation_ctx.pool, mediation_ctx.producer)
    events = await read_topic(kafka_bootstrap, settings.topic(CASE_TOPIC), expected=3)
    assert sorted(e.data["incident_number"] for e in events) == ["D1", "D2", "D3"]
    assert {e.type for e in events} == {"case.created"}
    for event in events:
        data = CaseEventData.model_validate(event.data)
        assert data.station_code == event.key and "caller_phone" not in event.data


async def test_an_update_to_a_closed_case_is_recorded_not_reopened(mediation_ctx, open_cases):
    await open_cases([dispute_event("Z1")])
    ident = case_id("BJ-CAD", "Z1")
    await mediation_ctx.pool.execute("UPDATE cases SET state = 'closed' WHERE id = $1", ident)
    await open_cases([dispute_event("Z1", revision=3, kind="dispute.updated", disposition="已结案")])
    async with mediation_ctx.pool.acquire() as conn:
        state, revision = await conn.fetchrow("SELECT state, revision FROM cases WHERE id = $1", ident)
        last = await conn.fetchrow("SELECT action, details FROM case_timeline WHERE case_id = $1 ORDER BY id DESC", ident)
    assert (state, revision) == ("closed", 3)
    assert last["action"] == "update_after_close" and last["details"]["revision"] == 3
