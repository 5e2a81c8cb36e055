"""End to end: a 110 dispatch record posted to intake becomes a claimable case in mediation and, after
claim, session, agreement, close and a callback, shows in assessment's scorecard of the station; the
post's trace goes on in the events' Kafka headers and shows in each service's logs.

Real Kafka and PostgreSQL; intake, mediation and assessment each in their own OS processes, each with its
own database, all on one unique topic prefix; data crosses service lines only as events and public APIs.
"""
import asyncio
import json
import secrets
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from deploy.local.processes import SERVICES, ServiceGroup, ServiceProcess, free_port, run_command, service_env
from shared.auth import issue_token
from shared.db.provision import drop_database
from shared.events.envelope import Envelope
from shared.events.intake import DISPUTE_TOPIC, INCIDENT_TOPIC
from shared.events.mediation import CASE_TOPIC
from shared.events.topics import TOPICS
from shared.kafka.tracing import record_traceparent
from shared.tracing import parse_traceparent

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(180)]

STATION = "990101001"  # 望湖: has a people's mediator, where a neighbour dispute goes
ZONE = ZoneInfo("Asia/Shanghai")  # the stations' zone: a month is a Beijing month
CALLER_NAME, CALLER_PHONE = "王小明", "13812345678"
DESCRIPTION = "楼上邻居装修噪音太大，双方发生争吵"
HOP_WAIT_S = 30.0
T = TypeVar("T")


@pytest.fixture
async def service_databases(database_url: str, unique: str) -> AsyncIterator[dict[str, str]]:
    """One database URL per service on the test's server (created by each `migrate`); dropped afterwards."""
    parts = urlsplit(database_url)
    urls = {s: urlunsplit(parts._replace(path=f"/e2e_{unique}_{s}")) for s in SERVICES}
    yield urls
    for url in urls.values():
        await drop_database(url)


async def eventually(hop: str, probe: Callable[[], Awaitable[T | None]], services: ServiceGroup,
                     within_s: float = HOP_WAIT_S) -> T:
    """Poll `probe` until it returns something; fail naming the hop that did not happen, with what
    the probe saw last (probe may return None or raise AssertionError while it waits)."""
    deadline, last = time.monotonic() + within_s, "nothing yet"
    while True:
        services.check_alive()
        try:
            found = await probe()
        except AssertionError as exc:
            found, last = None, str(exc)
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{hop}: did not happen within {within_s:.0f} s; last seen: {last}")
        await asyncio.sleep(0.25)


async def record_time() -> datetime:
    """When the call came in: a minute ago in Beijing time, within the month that the case's close and
    the callback will also fall in (next to a month's end this waits for the next month to begin)."""
    now = datetime.now(ZONE)
    month_end = (now.replace(day=28) + timedelta(days=4)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if month_end - now < timedelta(minutes=2):
        await asyncio.sleep((month_end - now).total_seconds() + 1)
        now = datetime.now(ZONE)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return max(now - timedelta(minutes=1), start).replace(microsecond=0)


async def read_topic(bootstrap: str, prefix: str, name: str) -> list[tuple[Envelope, int | None]]:
    """Every envelope on a registered topic now, each partition from its start to its end offset,
    with the trace id of its `traceparent` header (None without one)."""
    topic = prefix + name
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(TOPICS[name].partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[tuple[Envelope, int | None]] = []
        deadline = time.monotonic() + 15
        while [p for p in partitions if await consumer.position(p) < ends[p]]:
            assert time.monotonic() < deadline, f"could not read {topic} to its end offsets {ends}"
            batch = await consumer.getmany(*partitions, timeout_ms=300)
            for record in (r for part in batch.values() for r in part):
                context = parse_traceparent(record_traceparent(record))
                found.append((Envelope.from_bytes(record.value), context.trace_id if context else None))
        return found
    finally:
        await consumer.stop()


async def consumer_lag(metrics_port: int) -> dict[tuple[str, str, str], float]:
    """fengqiao_consumer_lag of a consumer process, by (consumer, topic, partition)."""
    async with httpx.AsyncClient(timeout=5.0) as scraper:
        answer = await scraper.get(f"http://127.0.0.1:{metrics_port}/metrics")
    assert answer.status_code == 200, answer.text
    return {(s.labels["consumer"], s.labels["topic"], s.labels["partition"]): s.value
            for family in text_string_to_metric_families(answer.text) if family.name == "fengqiao_consumer_lag"
            for s in family.samples}


async def assessment_rows(database_url: str) -> dict[str, list[str]]:
    """Every row of every table of assessment's database, as JSON text."""
    conn = await asyncpg.connect(database_url)
    try:
        tables = [r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        # Table names come from the catalogue, quoted: no injection.
        return {t: [r[0] for r in await conn.fetch(f'SELECT row_to_json(t)::text FROM "{t}" AS t')] for t in tables}
    finally:
        await conn.close()


async def test_a_dispute_posted_to_intake_is_mediated_and_scored_in_its_month(
        kafka_bootstrap, service_databases, topic_prefix, unique, tmp_path):
    secret = f"e2e-{unique}-jwt-secret-of-this-test-only"  # 32 bytes or more: HS256's minimum
    ports = {s: free_port() for s in SERVICES}
    metrics_ports = {s: free_port() for s in ("mediation", "assessment")}  # the consumers' /metrics
    common = dict(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix, environment="test",
                  jwt_secret=secret)
    env = {s: service_env(s, database_url=service_databases[s], http_port=ports[s], **common) for s in SERVICES}
    started = time.monotonic()

    # Databases, topics and reference data, as an operator would set them up.
    await asyncio.gather(*(run_command(s, "migrate", env=env[s]) for s in SERVICES),
                         run_command("intake", "topics", env=env["intake"]))
    await run_command("assessment", "load-reference", env=env["assessment"])

    async with ServiceGroup(tmp_path / "logs") as services:
        intake = services.start("intake", "api", env["intake"], port=ports["intake"])
        services.start("mediation", "consume",
                       env["mediation"] | {"MEDIATION_METRICS_PORT": str(metrics_ports["mediation"])})
        mediation = services.start("mediation", "api", env["mediation"], port=ports["mediation"])
        services.start("assessment", "consume",
                       env["assessment"] | {"ASSESSMENT_METRICS_PORT": str(metrics_ports["assessment"])})
        assessment = services.start("assessment", "api", env["assessment"], port=ports["assessment"])
        await services.wait_ready(intake, mediation, assessment)
        ready_s = time.monotonic() - started

        def client(service: ServiceProcess, subject: str, roles: list[str], stations: list[str] = ()) -> httpx.AsyncClient:
            token = issue_token(secret, subject=subject, roles=roles, stations=list(stations))
            return httpx.AsyncClient(base_url=service.url, timeout=10.0,
                                     headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"})

        async with (client(intake, "cad-e2e", ["feed"]) as cad,
                    client(mediation, "mediator-e2e", ["mediator"], [STATION]) as mediator,
                    client(assessment, "callback-centre-e2e", ["feed"]) as feed,
                    client(assessment, "bureau-e2e", ["auditor"]) as auditor):

            # 1. The 110 centre posts the dispatch record to intake.
            received_at = await record_time()
            month = f"{received_at:%Y-%m}"
            number = f"110-E2E-{unique}"
            record = {"source": "BJ-CAD", "incident_number": number, "revision": 1,
                      "received_at": received_at.isoformat(), "caller_name": CALLER_NAME, "caller_phone": CALLER_PHONE,
                      "address_text": "示例市北城区望湖街道湖光路12号", "station_code": STATION,
                      "category_code": "dispute", "description": DESCRIPTION, "disposition": "已调解"}
            posted_at = time.monotonic()
            # The CAD system's own trace: intake's request span continues it, and so does everything after.
            trace_id = secrets.token_hex(16)
            posted = await cad.post("/v1/dispatch-records", json=record,
                                    headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"})
            assert posted.status_code == 200, posted.text
            accepted = posted.json()
            assert (accepted["status"], accepted["change"], accepted["kind"], accepted["station_code"]) == (
                "accepted", "new", "dispute", STATION), accepted

            # 2. intake.dispute.v1 -> mediation: the case shows in the queue of the station's mediators.
            async def queued() -> dict | None:
                answer = await mediator.get("/v1/queue", params={"limit": 500})
                assert answer.status_code == 200, answer.text
                items = answer.json()["items"]
                assert items, "the queue is empty"
                return next((c for c in items if c["incident_number"] == number), None)

            case = await eventually("intake.dispute.v1 -> mediation consume (the case in the mediator's queue)",
                                    queued, services)
            case_id = case["id"]
            assert (case["state"], case["station_code"], case["channel"], case["dispute_type"]) == (
                "pending", STATION, "peoples_mediator", "neighbour"), case
            assert case["party"] is None, "the queue shows no party data"

            # 3. Casework through mediation's API, each write conditional on the version just read.
            async def step(path: str, body: dict | None, etag: str | None, state: str) -> str:
                headers = {"If-Match": etag} if etag else {}
                answer = await mediator.post(f"/v1/cases/{case_id}/{path}", json=body, headers=headers)
                assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text}"
                assert answer.json()["state"] == state, answer.json()
                return answer.headers["ETag"]

            today = datetime.now(ZONE).date()
            etag = await step("claim", None, None, "claimed")
            etag = await step("sessions", {"at": datetime.now(ZONE).isoformat(), "participants": [CALLER_NAME, "李四"],
                                           "notes": f"{CALLER_NAME}与李四到场，同意协商"}, etag, "in_session")
            etag = await step("outcome", {"type": "agreement", "terms": "装修限于工作日8点至18点，赔偿邻居500元",
                                          "effective_date": today.isoformat(),
                                          "performance_date": (today + timedelta(days=14)).isoformat()},
                              etag, "agreement")
            etag = await step("close", None, etag, "closed")
            worked = (await mediator.get(f"/v1/cases/{case_id}")).json()
            assert [e["action"] for e in worked["timeline"]] == [
                "created", "claim", "record_session", "reach_agreement", "close"], worked["timeline"]
            assert worked["party"] and worked["party"].get("caller_phone") == CALLER_PHONE, \
                "mediators see the parties they must call"

            # 4. The callback centre reports the satisfaction callback to assessment.
            callback = {"activity_id": str(uuid.uuid4()), "type": "callback",
                        "occurred_at": datetime.now(ZONE).isoformat(), "station_code": STATION,
                        "case_id": case_id, "satisfaction": "satisfied"}
            recorded = await feed.post("/v1/community/activities", json=[callback])
            assert recorded.status_code == 201, recorded.text
            assert recorded.json()["recorded"] == 1, recorded.json()

            # 5. intake.incident.v1 and mediation.case.v1 -> assessment consume -> the station's scorecard.
            def figures_when(condition: Callable[[dict], bool], what: str) -> Callable[[], Awaitable[dict]]:
                async def probe() -> dict | None:
                    answer = await auditor.get(f"/v1/scorecards/stations/{STATION}", params={"month": month})
                    assert answer.status_code == 200, f"scorecard {answer.status_code}: {answer.text}"
                    figures = answer.json()["figures"]
                    assert condition(figures), f"{what}: {json.dumps(figures, ensure_ascii=False)}"
                    return answer.json()
                return probe

            await eventually("intake.incident.v1 -> assessment consume (dispute_count 1 in the scorecard)",
                             figures_when(lambda f: f["dispute_count"]["numerator"] == 1, "dispute_count"),
                             services)
            scorecard = await eventually(
                "mediation.case.v1 -> assessment consume (the closed, agreed case in the scorecard)",
                figures_when(lambda f: f["resolution_rate"]["denominator"] == 1, "resolution_rate"), services)
            flow_s = time.monotonic() - posted_at

            # 6. Each consumer process serves its lag per partition to Prometheus: caught up, none behind.
            for service, group, topic in (("mediation", "mediation-disputes", DISPUTE_TOPIC),
                                          ("assessment", "assessment-facts", CASE_TOPIC)):
                lag = await consumer_lag(metrics_ports[service])
                mine = {k: v for k, v in lag.items() if k[:2] == (topic_prefix + group, topic_prefix + topic)}
                assert mine and set(mine.values()) == {0.0}, f"{service} consume lag: {lag}"

            figures = scorecard["figures"]
            assert (scorecard["kind"], scorecard["unit"], scorecard["month"]) == ("station", STATION, month)
            assert figures["dispute_count"] == {"value": 1.0, "numerator": 1, "denominator": None,
                                                     "rankable": True}, figures["dispute_count"]
            # One of each sample is below the rules' minimums: the figures are shown, but not rankable.
            for name in ("resolution_rate", "local_resolution_rate", "satisfaction_rate"):
                assert (figures[name]["numerator"], figures[name]["denominator"]) == (1, 1), (name, figures[name])
                assert (figures[name]["value"], figures[name]["rankable"]) == (None, False), (name, figures[name])
            # The milestones: claimed once, closed once (time to claim and time to close have one sample each).
            assert figures["median_minutes_to_claim"]["denominator"] == 1, figures["median_minutes_to_claim"]
            assert figures["p90_hours_to_close"]["denominator"] == 1, figures["p90_hours_to_close"]
            assert figures["repeat_dispute_rate"]["numerator"] == 0, figures["repeat_dispute_rate"]
            assert figures["civil_to_criminal_count"]["value"] == 0, figures["civil_to_criminal_count"]
            assert figures["sla_breaches"]["value"] == 0, figures["sla_breaches"]

        # Stopping: SIGTERM is a clean stop for every process.
        codes = await services.stop()
        logs = services.logs()
        logs_of = {p.name: p.output() for p in services.processes}
    # A consumer exits 0; uvicorn re-raises the SIGTERM after its graceful shutdown. None: it had to be killed.
    clean = {name: code == 0 or (name.endswith(" api") and code == -signal.SIGTERM) for name, code in codes.items()}
    assert all(clean.values()), f"not a clean stop on SIGTERM (exit codes {codes}):\n{logs}"

    # The facts assessment keeps of the case: every milestone, and no personal data anywhere in its database.
    rows = await assessment_rows(service_databases["assessment"])
    conn = await asyncpg.connect(service_databases["assessment"])
    try:
        kept = await conn.fetchrow("SELECT * FROM cases WHERE case_id = $1", uuid.UUID(case_id))
        incident = await conn.fetchrow("SELECT * FROM incidents WHERE incident_number = $1", number)
    finally:
        await conn.close()
    assert kept is not None, "assessment has no row of the case"
    assert (kept["state"], kept["agreement"], kept["referred"], kept["month"]) == (
        "closed", True, False, received_at.date().replace(day=1)), dict(kept)
    assert kept["created_at"] <= kept["first_claimed_at"] <= kept["closed_at"], dict(kept)
    assert incident is not None and (incident["kind"], incident["dispute_type"]) == ("dispute", "neighbour")
    assert incident["phone_hmac"], "repeat callers are found through the phone's HMAC"
    for secret_value in (CALLER_NAME, CALLER_PHONE, DESCRIPTION):
        leaks = [f"{table}: {row}" for table, found in rows.items() for row in found if secret_value in row]
        assert not leaks, f"personal data {secret_value!r} in assessment's database:\n" + "\n".join(leaks)
        assert secret_value not in json.dumps(scorecard, ensure_ascii=False), "personal data in the scorecard"

    # What crossed to assessment on Kafka: the one incident event carries no personal data, nor do the case events.
    incident_traced = await read_topic(kafka_bootstrap, topic_prefix, INCIDENT_TOPIC)
    case_traced = await read_topic(kafka_bootstrap, topic_prefix, CASE_TOPIC)
    incident_events, case_events = [e for e, _ in incident_traced], [e for e, _ in case_traced]
    assert [(e.type, e.data["incident_number"]) for e in incident_events] == [("incident.accepted", number)]
    assert [e.type for e in case_events] == ["case.created", "case.claimed", "case.session_recorded",
                                             "case.agreement_reached", "case.closed"]
    for event in incident_events + case_events:
        text = json.dumps(event.data, ensure_ascii=False)
        for secret_value in (CALLER_NAME, CALLER_PHONE, DESCRIPTION):
            assert secret_value not in text, f"{event.type} carries personal data {secret_value!r}: {text}"

    # The post's trace crossed to mediation and assessment in the events' headers...
    traced = {e.type: t for e, t in incident_traced + case_traced}
    assert (traced["incident.accepted"], traced["case.created"]) == (int(trace_id, 16),) * 2, traced

    # ... and the log lines of each hop carry its trace id (intake's request, each consumer's batch).
    for name in ("intake api", "mediation consume", "assessment consume"):
        lines = [json.loads(line) for line in logs_of[name].splitlines() if line.startswith("{")]
        assert any(line.get("trace_id") == trace_id for line in lines), \
            f"no log line of {name} with the post's trace id {trace_id}:\n{logs_of[name][-4000:]}"

    # Personal data never appears in logs (docs/design.md, "Non-negotiables").
    for secret_value in (CALLER_NAME, CALLER_PHONE):
        assert secret_value not in logs, f"{secret_value!r} in a service log:\n{logs}"
    print(f"set up and ready in {ready_s:.1f} s; from the POST to intake to the scorecard in {flow_s:.1f} s")
