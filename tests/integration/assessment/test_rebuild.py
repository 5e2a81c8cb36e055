"""`rebuild --from-beginning` gives exactly the live facts and ranking back."""
import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.assessment import handlers, reference
from services.assessment.bootstrap import assessment_context
from services.assessment.consumer import facts_runner
from services.assessment.domain.scoring import Rules
from services.assessment.ranking import month_ranking
from services.assessment.rebuild import rebuild
from services.assessment.settings import AssessmentSettings
from shared.db.migrations import migrate
from shared.db.pool import create_pool
from shared.events.community import ACTIVITY_TOPIC, ActivityData
from shared.events.envelope import Envelope
from shared.events.intake import INCIDENT_TOPIC
from shared.events.mediation import CASE_TOPIC
from shared.kafka.admin import ensure_registered_topics
from shared.kafka.producer import EventProducer
from tests.integration.assessment.contexts import context
from tests.integration.assessment.test_facts import case_event, incident
from tests.integration.assessment.test_scorecards import at_station
from tests.integration.test_consumer_runner import wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
START = datetime(2024, 5, 1, 1, tzinfo=UTC)
STATIONS = ("990101001", "990101002", "990102001", "990102002")


def activity(kind: str, n: int, station: str, **data) -> Envelope:
    body = {"type": kind, "occurred_at": (START + timedelta(hours=7 * n)).isoformat(), "station_code": station} | data
    return Envelope(type=f"{kind}.recorded", producer="feed", key=station, data=body)


def month_of_events() -> tuple[list, list, list]:
    incidents, cases, community = [], [], []
    for n in range(120):
        station = STATIONS[n % 4]
        kind = "crime" if n % 9 == 0 else "dispute"
        event = incident(f"R{n}", 1 + n % 2, START + timedelta(hours=5 * n), kind=kind,
                         dispute_type=None if kind == "crime" else "neighbour",
                         crime_type=("injury", "theft")[n % 2] if kind == "crime" else None,
                         caller_phone_hmac=f"p{n % 17}", address_key=f"a{n % 23}",
                         address_precision=("room", "building", "street")[n % 3])
        incidents.append(at_station(event, station))
    for n, kind in enumerate(("case.created", "case.claimed", "case.agreement_reached", "case.closed")):
        cases.append(case_event(kind, n + 1, kind.split(".")[1], START + timedelta(days=n)))
    for n in range(60):
        station = STATIONS[n % 4]
        community.append(activity("callback", n, station, satisfaction=("satisfied", "dissatisfied")[n % 5 == 0]))
        community.append(activity("visit", n, station, household_key=f"h{n % 40}"))
        community.append(activity("patrol", n, station, participants=n % 7))
    return incidents, cases, community


async def snapshot(pool, settings) -> tuple:
    async with pool.acquire() as conn:
        incidents = [tuple(r) for r in await conn.fetch("SELECT * FROM incidents ORDER BY source, incident_number")]
        cases = [tuple(r) for r in await conn.fetch("SELECT * FROM cases ORDER BY case_id")]
        community = [tuple(r) for r in await conn.fetch("SELECT * FROM community_activities ORDER BY activity_id")]
        rankings = [await month_ranking(conn, START.date().replace(day=1), kind, Rules.load(), settings.time_zone)
                    for kind in ("station", "grid")]
    return incidents, cases, community, [
        [(i.unit.code, i.ranked.rank, i.ranked.score, i.ranked.grade, i.ranked.red_line, i.ranked.contributions,
          i.reason, i.ranked.not_rankable) for i in ranking.items + ranking.not_rankable] for ranking in rankings]


async def test_a_rebuild_from_the_beginning_equals_the_live_facts_and_ranking(kafka_bootstrap, database_url,
                                                                              topic_prefix):
    settings = AssessmentSettings(kafka_bootstrap_servers=kafka_bootstrap, database_url=database_url,
                                  topic_prefix=topic_prefix, environment="test")
    await migrate(database_url, "services.assessment")
    await ensure_registered_topics(kafka_bootstrap, prefix=topic_prefix)
    incidents, cases, community = month_of_events()
    total = len(incidents) + len(cases) + len(community)
    pool = await create_pool(database_url, max_size=3)
    try:
        async with pool.acquire() as conn:
            await reference.load(conn, reference.read())
            # Recorded through the API, so on no topic: the rebuild must keep it.
            await handlers.record_activities(conn, [(uuid.uuid4(), ActivityData(
                type="information", occurred_at=START, station_code=STATIONS[1]))], time_zone=settings.time_zone,
                via="api")
        async with EventProducer(bootstrap_servers=kafka_bootstrap, client_id="t") as producer:
            await producer.publish_many(settings.topic(INCIDENT_TOPIC), incidents)
            await producer.publish_many(settings.topic(CASE_TOPIC), cases)
            await producer.publish_many(settings.topic(ACTIVITY_TOPIC), community)
            runner = facts_runner(context(settings, pool, producer))
            task = asyncio.create_task(runner.run())
            try:
                async def live_done() -> bool:
                    return await pool.fetchval("SELECT count(*) FROM processed_events") == total
                await wait_for(live_done, timeout=60)
            finally:
                runner.stop()
                await task
        live = await snapshot(pool, settings)
        linked = await pool.fetchval("SELECT count(*) FROM incidents WHERE c2c_source IS NOT NULL")
        await pool.execute("DELETE FROM incidents WHERE station_code = $1", STATIONS[0])  # damage to repair
        await pool.execute("DELETE FROM community_activities WHERE type = 'visit'")
        await pool.execute("INSERT INTO publications (publication_id, month, kind, scope, rules_version, published_by,"
                           " source_offsets, items) VALUES (gen_random_uuid(), $1, 'station', 'city', 'v', 't',"
                           " '[]', '[]')", START.date().replace(day=1))
        async with assessment_context(settings) as ctx:
            assert await rebuild(ctx) == total
        rebuilt = await snapshot(pool, settings)
        revised = await pool.fetchval("SELECT count(*) FROM publications WHERE revised_at IS NOT NULL")
    finally:
        await pool.close()
    assert len(live[0]) == 120 and len(live[2]) == 181
    scored = [row for row in live[3][0] if row[1] is not None]
    assert len(scored) >= 4 and len(live[3][1]) >= 12, "stations and grids of the reference are listed"
    assert linked > 0, "some injuries follow a dispute of their flat or caller: the links are rebuilt too"
    assert revised == 0, "a rebuild re-applies what publications included: it revises nothing"
    assert rebuilt == live, "the same events and rules give the same facts and ranking, bit for bit"
