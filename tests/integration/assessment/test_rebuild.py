"""`rebuild --from-beginning` gives exactly the live facts and ranking back."""
import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from services.assessment.consumer import facts_runner
from services.assessment.domain.figures import all_figures
from services.assessment.domain.scoring import Rules, score_units
from services.assessment.facts import station_facts
from services.assessment.rebuild import rebuild
from services.assessment.settings import AssessmentSettings
from shared.db.migrations import migrate
from shared.db.pool import create_pool
from shared.events.intake import INCIDENT_TOPIC
from shared.events.mediation import CASE_TOPIC
from shared.kafka.admin import ensure_registered_topics
from shared.kafka.producer import EventProducer
from tests.integration.assessment.test_facts import case_event, incident
from tests.integration.assessment.test_scorecards import at_station
from tests.integration.test_consumer_runner import wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
START = datetime(2024, 5, 1, 1, tzinfo=UTC)
STATIONS = ("990101001", "990101002", "990102001", "990102002")


def month_of_events() -> tuple[list, list]:
    incidents, cases = [], []
    for n in range(120):
        station = STATIONS[n % 4]
        kind = "crime" if n % 9 == 0 else "dispute"
        event = incident(f"R{n}", 1 + n % 2, START + timedelta(hours=5 * n), kind=kind,
                         dispute_type=None if kind == "crime" else "neighbour",
                         caller_phone_hmac=f"p{n % 17}", address_key=f"a{n % 23}")
        incidents.append(at_station(event, station))
    for n, kind in enumerate(("case.created", "case.claimed", "case.agreement_reached", "case.closed")):
        cases.append(case_event(kind, n + 1, kind.split(".")[1], START + timedelta(days=n)))
    return incidents, cases


async def snapshot(pool, settings) -> tuple:
    async with pool.acquire() as conn:
        incidents = [tuple(r) for r in await conn.fetch("SELECT * FROM incidents ORDER BY source, incident_number")]
        cases = [tuple(r) for r in await conn.fetch("SELECT * FROM cases ORDER BY case_id")]
        facts = await station_facts(conn, START.date().replace(day=1), settings.time_zone)
    rules = Rules.load()
    ranking = score_units({s: all_figures(f, rules.min_samples) for s, f in facts.items()}, rules)
    return incidents, cases, [(r.unit, r.rank, r.score, r.grade, r.red_line) for r in ranking]


async def test_a_rebuild_from_the_beginning_equals_the_live_facts_and_ranking(kafka_bootstrap, database_url,
                                                                              topic_prefix):
    settings = AssessmentSettings(kafka_bootstrap_servers=kafka_bootstrap, database_url=database_url,
                                  topic_prefix=topic_prefix, environment="test")
    await migrate(database_url, "services.assessment")
    await ensure_registered_topics(kafka_bootstrap, prefix=topic_prefix)
    incidents, cases = month_of_events()
    pool = await create_pool(database_url, max_size=3)
    try:
        async with EventProducer(bootstrap_servers=kafka_bootstrap, client_id="t") as producer:
            await producer.publish_many(settings.topic(INCIDENT_TOPIC), incidents)
            await producer.publish_many(settings.topic(CASE_TOPIC), cases)
            runner = facts_runner(settings, pool, producer)
            task = asyncio.create_task(runner.run())
            try:
                async def live_done() -> bool:
                    return await pool.fetchval("SELECT count(*) FROM processed_events") == len(incidents) + len(cases)
                await wait_for(live_done, timeout=60)
            finally:
                runner.stop()
                await task
        live = await snapshot(pool, settings)
        await pool.execute("DELETE FROM incidents WHERE station_code = $1", STATIONS[0])  # damage to repair
        assert await rebuild(settings) == len(incidents) + len(cases)
        rebuilt = await snapshot(pool, settings)
    finally:
        await pool.close()
    assert len(live[0]) == 120 and len(live[2]) == 4
    assert rebuilt == live, "the same events and rules give the same facts and ranking, bit for bit"
