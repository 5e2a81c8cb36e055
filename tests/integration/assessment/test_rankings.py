"""A month of known events gives the hand-computed ranking in a county and the city; grids and officers
have scorecards; CSV, report and trends agree; publishing records the rules and offsets, announces the
ranking, and a late event marks it revised. Real PostgreSQL and Kafka."""
import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.assessment import reference
from services.assessment.api import create_app
from services.assessment.consumer import facts_runner
from services.assessment.domain.scoring import V1_RULES
from services.assessment.handlers import facts_handler
from services.assessment.settings import AssessmentSettings
from shared.auth import issue_token
from shared.db.migrations import migrate
from shared.db.pool import create_pool
from shared.events.assessment import RANKING_TOPIC
from shared.events.community import ACTIVITY_TOPIC
from shared.events.envelope import Envelope
from shared.events.topics import dead_letter_topic
from shared.kafka.admin import ensure_registered_topics
from shared.kafka.producer import EventProducer
from tests.integration.assessment.contexts import context
from tests.integration.assessment.test_facts import case_event
from tests.integration.assessment.test_scorecards import at_station
from tests.integration.intake.helpers import read_topic
from tests.integration.test_consumer_runner import read_all, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
MAY = datetime(2024, 5, 3, 2, tzinfo=UTC)
A, B = "990101001", "990101002"  # the two stations of county 990101 in the first sample city
GRID, OFFICER = "990101001001", "041101"
FIRST_CITY = ("990101001", "990101002", "990102001", "990102002")


def first_city() -> reference.ReferenceFile:
    """The sample reference cut back to its first four stations (and the Milwaukee districts): the
    ranking below is computed by hand, and every station in a county moves every percentile."""
    units = reference.read()
    kept = [s for s in units.stations if s.code in FIRST_CITY or s.county_code == "MKE"]
    codes = {s.code for s in kept}
    return reference.ReferenceFile(stations=kept, grids=[g for g in units.grids if g.station_code in codes],
                                   officers=[o for o in units.officers if o.station_code in codes])


def activity(kind: str, station: str, at: datetime = MAY, **data) -> Envelope:
    body = {"type": kind, "occurred_at": at.isoformat(), "station_code": station} | data
    return Envelope(type=f"{kind}.recorded", producer="feed", key=station, data=body)


def month_events() -> list[Envelope]:
    """A: two information items and a patrol of 10 residents (grid 990101001001, officer 041101).
    B: one case that waited unclaimed past its SLA. Nothing else anywhere."""
    where = {"grid_code": GRID, "officer_id": OFFICER}
    return [activity("information", A, **where), activity("information", A, MAY + timedelta(days=2), **where),
            activity("patrol", A, participants=10, **where),
            at_station(case_event("case.created", 1, "pending", MAY), B),
            at_station(case_event("case.escalated", 2, "pending", MAY + timedelta(hours=1), reason="unclaimed"), B)]


def token(settings: AssessmentSettings, *roles: str, stations: tuple[str, ...] = ()) -> dict:
    signed = issue_token(settings.jwt_secret.get_secret_value(), subject="t", roles=list(roles),
                         stations=list(stations))
    return {"Authorization": f"Bearer {signed}"}


async def test_a_known_month_ranks_as_computed_by_hand_and_publishes_and_revises(kafka_bootstrap, database_url,
                                                                                 topic_prefix):
    # scoring.v1 (percentiles within the county) stays usable, chosen by a setting.
    settings = AssessmentSettings(kafka_bootstrap_servers=kafka_bootstrap, database_url=database_url,
                                  topic_prefix=topic_prefix, environment="test", scoring_rules=str(V1_RULES))
    await migrate(database_url, "services.assessment")
    await ensure_registered_topics(kafka_bootstrap, prefix=topic_prefix)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        pool = app.state.resources.pool
        async with pool.acquire() as conn:
            await reference.load(conn, first_city())
            async with conn.transaction():
                await facts_handler(context(settings))(conn, month_events())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://assessment",
                                     headers=token(settings, "auditor")) as client:
            county = (await client.get("/v1/rankings", params={"month": "2024-05", "county": "990101"})).json()
            city = (await client.get("/v1/rankings", params={"month": "2024-05"})).json()
            grid = (await client.get(f"/v1/scorecards/grids/{GRID}", params={"month": "2024-05"})).json()
            officer = await client.get(f"/v1/scorecards/officers/{OFFICER}", params={"month": "2024-05"})
            grids = (await client.get("/v1/rankings", params={"month": "2024-05", "kind": "grid"})).json()
            exported = await client.get("/v1/rankings.csv", params={"month": "2024-05", "county": "990101"})
            report = await client.get("/v1/reports/rankings", params={"month": "2024-05", "county": "990101"})
            trend = (await client.get(f"/v1/trends/stations/{A}", params={"from": "2024-04", "to": "2024-06"})).json()
            chief_own = await client.get(f"/v1/scorecards/stations/{A}", params={"month": "2024-05"},
                                         headers=token(settings, "station_chief", stations=(A,)))
            chief_other = await client.get(f"/v1/scorecards/stations/{B}", params={"month": "2024-05"},
                                           headers=token(settings, "station_chief", stations=(A,)))
            published = await client.post("/v1/rankings/publish", json={"month": "2024-05", "county": "990101"})
            chief_publish = await client.post("/v1/rankings/publish", json={"month": "2024-05"},
                                              headers=token(settings, "station_chief", stations=(A,)))
            before = (await client.get("/v1/rankings", params={"month": "2024-05", "county": "990101"})).json()
            late = await client.post("/v1/community/activities", headers=token(settings, "feed"), json=[
                {"type": "callback", "occurred_at": (MAY + timedelta(days=20)).isoformat(), "station_code": B,
                 "satisfaction": "satisfied"}])
            after = (await client.get("/v1/rankings", params={"month": "2024-05", "county": "990101"})).json()
            june = (await client.get("/v1/rankings", params={"month": "2024-06", "county": "990101"})).json()
    # By hand. Rankable for both stations of 990101 (everything else is below its minimum sample):
    # civil-to-criminal 0/0 -> 50/50, SLA breaches A 0 B 1 -> 75/25, information items 2/0 -> 75/25,
    # crimes per 10k 0/0 -> 50/50, familiarity 0/0 -> 50/50, group defence 10x10000/8540 vs 0 -> 75/25;
    # six figures of weight 5 each: A = (50+75+75+50+50+75)/6 = 62.50 (grade C), B = 225/6 = 37.50 (D).
    assert [(i["unit"], i["rank"], i["score"], i["grade"]) for i in county["items"]] == [
        (A, 1, "62.50", "C"), (B, 2, "37.50", "D")]
    assert county["scope"] == "990101" and county["items"][0]["rankable_weight"] == "0.300000"
    assert county["rules_version"] == "scoring.v1" and county["not_rankable"] == []
    points = {c["figure"]: c["points"] for c in county["items"][0]["contributions"]}
    assert points["information_items"] == "12.5000" and points["resolution_rate"] == "0.0000"
    # The city: every other registered station's cohort is all ties at 50.00 between A and B.
    assert [(i["unit"], i["rank"]) for i in city["items"]][0] == (A, 1) and city["items"][-1]["unit"] == B
    assert city["items"][-1]["rank"] == len(city["items"]) == 11
    middle = city["items"][1:-1]
    assert {i["score"] for i in middle} == {"50.00"} and {i["rank"] for i in middle} == {2}
    assert len(middle[0]["tied_with"]) == 8
    # Grid and officer scorecards from the activities' grid and officer.
    assert grid["figures"]["information_items"]["value"] == 2 and grid["county_code"] == "990101"
    assert grid["figures"]["group_defence_per_10k_residents"]["numerator"] == 10
    assert grid["figures"]["group_defence_per_10k_residents"]["denominator"] == 3180
    assert officer.status_code == 200 and officer.json()["name"] == "王建国"
    assert len(grids["items"]) == 12 and grids["items"][0]["unit"] == GRID
    # CSV and report say the same.
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert [(r["unit"], r["rank"], r["score"], r["grade"]) for r in rows] == [(A, "1", "62.50", "C"),
                                                                              (B, "2", "37.50", "D")]
    assert exported.headers["content-type"].startswith("text/csv")
    assert report.status_code == 200 and "62.50" in report.text and "望湖派出所" in report.text
    assert [(i["month"], i["score"]) for i in trend["items"]] == [("2024-04", "50.00"), ("2024-05", "62.50"),
                                                                   ("2024-06", "50.00")]
    assert chief_own.status_code == 200 and chief_other.status_code == 404
    # Publication: rules and offsets recorded, the event announced, the ranking marked revised by a late event.
    assert published.status_code == 201, published.text
    assert published.json()["rules_version"] == county["rules_version"] and published.json()["announced"]
    assert chief_publish.status_code == 403
    [event] = await read_topic(kafka_bootstrap, settings.topic(RANKING_TOPIC), expected=1)
    assert event.type == "ranking.published" and event.key == "990101"
    assert [(i["unit"], i["rank"], i["score"]) for i in event.data["items"]] == [(A, 1, "62.50"), (B, 2, "37.50")]
    assert before["publication"]["publication_id"] == published.json()["publication_id"]
    assert before["publication"]["revised"] is False
    assert late.status_code == 201 and late.json()["recorded"] == 1
    assert after["publication"]["revised"] is True, "a late callback for May revises May's published ranking"
    assert june["publication"] is None


async def test_community_inputs_are_authorised_validated_and_counted_once(kafka_bootstrap, database_url):
    settings = AssessmentSettings(kafka_bootstrap_servers=kafka_bootstrap, database_url=database_url,
                                  environment="test")
    await migrate(database_url, "services.assessment")
    visit = {"activity_id": "6f1d1c9e-9a43-4c43-9d5e-8f2b7f3f0a11", "type": "visit",
             "occurred_at": MAY.isoformat(), "station_code": A, "household_key": "hh-1"}
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with app.state.resources.pool.acquire() as conn:
            await reference.load(conn, reference.read())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://assessment") as client:
            url = "/v1/community/activities"
            made_up = await client.post(url, headers=token(settings, "feed"), json=[
                visit, visit | {"activity_id": None, "station_code": "FAKE-9"},
                visit | {"activity_id": None, "grid_code": "990101001999", "officer_id": "041101"}])
            anonymous = await client.post(url, json=[visit])
            auditor = await client.post(url, json=[visit], headers=token(settings, "auditor"))
            other_station = await client.post(url, json=[visit], headers=token(settings, "station_chief",
                                                                               stations=(B,)))
            first = await client.post(url, json=[visit], headers=token(settings, "station_chief", stations=(A,)))
            again = await client.post(url, json=[visit, visit | {"activity_id": None, "household_key": "hh-2"}],
                                      headers=token(settings, "feed"))
            bad = await client.post(url, headers=token(settings, "feed"), json=[
                visit, {"type": "callback", "occurred_at": "2024-05-03T10:00:00", "station_code": A},
                {"type": "patrol", "occurred_at": MAY.isoformat(), "station_code": A, "participants": -1,
                 "household_key": "x"}])
            empty = await client.post(url, json=[], headers=token(settings, "feed"))
        stored = await app.state.resources.pool.fetchval("SELECT count(*) FROM community_activities")
    assert (anonymous.status_code, auditor.status_code, other_station.status_code) == (401, 403, 403)
    assert B not in other_station.text and A in other_station.json()["detail"]["message"]
    assert first.status_code == 201 and first.json()["recorded"] == 1
    assert again.json()["recorded"] == 1 and again.json()["items"][0]["status"] == "duplicate"
    assert bad.status_code == 422 and empty.status_code == 422
    locations = {tuple(e["loc"]) for e in bad.json()["detail"]["errors"]}
    assert ("body", 1, "occurred_at") in locations, "a time without an offset is refused, by field path"
    assert any(loc[:2] == ("body", 2) for loc in locations), "a negative patrol is refused"
    assert stored == 2, "nothing of the refused batch was recorded"
    assert made_up.status_code == 422, "activities for units that do not exist count nowhere: refused"
    assert [(e["loc"], e["input"]) for e in made_up.json()["detail"]["errors"]] == [
        (["body", 1, "station_code"], "FAKE-9"), (["body", 2, "grid_code"], "990101001999")]


async def test_activities_on_the_topic_count_once_bad_ones_are_dead_lettered_and_publication_offsets_match(
        kafka_bootstrap, database_url, topic_prefix):
    settings = AssessmentSettings(kafka_bootstrap_servers=kafka_bootstrap, database_url=database_url,
                                  topic_prefix=topic_prefix, environment="test")
    await migrate(database_url, "services.assessment")
    await ensure_registered_topics(kafka_bootstrap, prefix=topic_prefix)
    good = [activity("callback", A, satisfaction="satisfied"), activity("visit", A, household_key="hh-9"),
            activity("information", B)]
    poison = [activity("visit", A),  # a visit must name its household
              activity("patrol", A, participants=3).model_copy(update={"type": "visit.recorded"})]
    topic = settings.topic(ACTIVITY_TOPIC)
    pool = await create_pool(database_url, max_size=3)
    try:
        async with EventProducer(bootstrap_servers=kafka_bootstrap, client_id="t") as producer:
            await producer.publish_many(topic, good + poison + good[:1])  # the first one again: counted once
            runner = facts_runner(context(settings, pool, producer))
            task = asyncio.create_task(runner.run())
            try:
                letters = await read_all(kafka_bootstrap, dead_letter_topic(topic), expected=2)
                sent = await read_all(kafka_bootstrap, topic, expected=len(good) + len(poison) + 1)

                async def applied() -> bool:
                    return await pool.fetchval("SELECT count(*) FROM community_activities") == 3
                await wait_for(applied, timeout=30)
            finally:
                runner.stop()
                await task
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://assessment",
                                         headers=token(settings, "auditor")) as client:
                published = (await client.post("/v1/rankings/publish", json={"month": "2024-05"})).json()
        stored = await pool.fetchval("SELECT source_offsets FROM publications")
    finally:
        await pool.close()
    assert sorted(r.value for r in letters) == sorted(e.to_bytes() for e in poison)
    errors = [dict(r.headers) for r in letters]
    assert all(any(b"household_key" in v or b"carries an activity" in v for v in h.values()) for h in errors), errors
    # Offsets: one past the first delivery of the last good event in each partition (poison and repeats
    # after it were not applied).
    first_seen: dict = {}
    for record in sorted(sent, key=lambda r: (r.partition, r.offset)):
        first_seen.setdefault(Envelope.from_bytes(record.value).event_id, record)
    expected = {}
    for event in good:
        record = first_seen[event.event_id]
        expected[record.partition] = max(expected.get(record.partition, 0), record.offset + 1)
    assert {o["partition"]: o["next_offset"] for o in published["source_offsets"]} == expected
    assert {o["topic"] for o in published["source_offsets"]} == {topic} and stored == published["source_offsets"]


async def test_bad_queries_and_bodies_are_refused_with_the_field_that_is_wrong(kafka_bootstrap, database_url):
    settings = AssessmentSettings(kafka_bootstrap_servers=kafka_bootstrap, database_url=database_url,
                                  environment="test")
    await migrate(database_url, "services.assessment")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://assessment",
                                     headers=token(settings, "auditor")) as client:
            answers = {
                ("query", "month"): await client.get("/v1/rankings", params={"month": "2024-5"}),
                ("query", "kind"): await client.get("/v1/rankings", params={"month": "2024-05", "kind": "city"}),
                ("query", "county"): await client.get("/v1/rankings.csv", params={"month": "2024-05",
                                                                                  "county": "北城区"}),
                ("query", "from"): await client.get(f"/v1/trends/stations/{A}", params={"from": "x", "to": "2024-05"}),
                ("query", "to"): await client.get(f"/v1/trends/stations/{A}", params={"from": "2024-05",
                                                                                      "to": "2021-01"}),
                ("body", "month"): await client.post("/v1/rankings/publish", json={"month": "May"}),
                ("body", "kind"): await client.post("/v1/rankings/publish", json={"month": "2024-05", "kind": "x"}),
            }
            unknown_kind = await client.get(f"/v1/scorecards/counties/{A}", params={"month": "2024-05"})
            unknown_unit = await client.get("/v1/scorecards/stations/NOPE", params={"month": "2024-05"})
    for (where, name), answer in answers.items():
        assert answer.status_code == 422, (name, answer.text)
        assert any(tuple(e["loc"][:2]) == (where, name) for e in answer.json()["detail"]["errors"]), (name, answer.json())
    assert unknown_kind.status_code == 404 and "stations" in unknown_kind.json()["detail"]["message"]
    assert unknown_unit.status_code == 404 and "NOPE" in unknown_unit.json()["detail"]["message"]
