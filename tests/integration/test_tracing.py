"""One trace from an HTTP request to intake, through Kafka headers, into mediation's consumer and on,
with mediation's case event, into assessment's: real Kafka and PostgreSQL, services in process."""
import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from aiokafka.structs import ConsumerRecord
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind

from services.assessment.bootstrap import build_context
from services.assessment.consumer import facts_consumer_name, facts_runner
from services.assessment.settings import AssessmentSettings
from services.intake.api import create_app as intake_app
from services.intake.settings import IntakeSettings
from services.mediation.bootstrap import mediation_context
from services.mediation.consumer import dispute_runner
from services.mediation.settings import MediationSettings
from shared import outbox
from shared.auth import issue_token
from shared.db.migrations import migrate
from shared.db.provision import drop_database, ensure_database
from shared.events.intake import DISPUTE_TOPIC, INCIDENT_TOPIC
from shared.events.mediation import CASE_TOPIC
from shared.kafka.admin import ensure_registered_topics
from shared.kafka.consumer import ConsumerRunner
from shared.kafka.tracing import record_traceparent
from shared.resources import open_resources
from shared.tracing import parse_traceparent
from tests.integration.intake.helpers import record
from tests.integration.test_consumer_runner import read_all, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(150)]

STATION = "990101001"


@pytest.fixture
async def service_databases(database_url: str) -> AsyncIterator[dict[str, str]]:
    """The test's database for intake, and one more each for mediation and assessment."""
    urls = {"intake": database_url, "mediation": f"{database_url}_mediation",
            "assessment": f"{database_url}_assessment"}
    for service, url in urls.items():
        await ensure_database(url)
        await migrate(url, f"services.{service}")
    yield urls
    for url in (urls["mediation"], urls["assessment"]):
        await drop_database(url)


def carried(records: list[ConsumerRecord]) -> list[SpanContext]:
    """The span context each record's `traceparent` header names (AssertionError when one has none)."""
    contexts = [parse_traceparent(record_traceparent(r)) for r in records]
    assert all(contexts), f"records without a valid traceparent: {[r.headers for r in records]}"
    return contexts


def consumer_spans(spans, group: str) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans()
            if s.kind is SpanKind.CONSUMER and s.attributes.get("messaging.consumer.group.name") == group]


async def run_until(runner: ConsumerRunner, predicate) -> None:
    task = asyncio.create_task(runner.run())
    try:
        await wait_for(predicate, timeout=45)
    finally:
        runner.stop()
        await task


async def test_an_intake_request_is_one_trace_through_mediation_into_assessment(
        spans, kafka_bootstrap, topic_prefix, service_databases):
    common = dict(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix, environment="test")
    intake = IntakeSettings(database_url=service_databases["intake"], **common)
    mediation = MediationSettings(database_url=service_databases["mediation"], **common)
    assessment = AssessmentSettings(database_url=service_databases["assessment"], **common)
    await ensure_registered_topics(kafka_bootstrap, prefix=topic_prefix)

    # 1. A CAD system posts a dispute to intake's API: FastAPI makes the request's server span.
    app = intake_app(intake)
    token = issue_token(intake.jwt_secret.get_secret_value(), subject="cad", roles=["feed"])
    async with (app.router.lifespan_context(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake",
                                  headers={"Authorization": f"Bearer {token}"}) as cad):
        posted = await cad.post("/v1/dispatch-records", json=record("110-TRACE-1", station_code=STATION))
        await cad.get("/readyz")  # probes are not traced
    assert posted.status_code == 200 and posted.json()["kind"] == "dispute", posted.text
    [request] = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert request.attributes["http.route"] == "/v1/dispatch-records"
    request_trace = request.context.trace_id
    in_request = {s.context.span_id for s in spans.get_finished_spans() if s.context.trace_id == request_trace}

    # 2. Its events, written to the outbox in the request's transaction, carry the request's trace.
    [dispute] = carried(await read_all(kafka_bootstrap, intake.topic(DISPUTE_TOPIC), expected=1))
    [incident] = carried(await read_all(kafka_bootstrap, intake.topic(INCIDENT_TOPIC), expected=1))
    for context in (dispute, incident):
        assert context.trace_id == request_trace and context.span_id in in_request

    # 3. Mediation's consumer applies the dispute in a span of the same trace, a child of the record's.
    async with mediation_context(mediation) as ctx:
        async def case_made() -> bool:
            return await ctx.pool.fetchval("SELECT count(*) FROM cases") == 1
        await run_until(dispute_runner(ctx), case_made)
        await outbox.relay(ctx.pool, ctx.producer)  # the case event the batch wrote
    [applied] = consumer_spans(spans, f"{topic_prefix}mediation-disputes")
    assert applied.name == f"process {mediation.topic(DISPUTE_TOPIC)}"
    assert (applied.context.trace_id, applied.parent.span_id) == (request_trace, dispute.span_id)

    # 4. ... and the case.created event it emitted carries that span on to assessment.
    case_records = await read_all(kafka_bootstrap, mediation.topic(CASE_TOPIC), expected=1)
    [case] = carried(case_records)
    assert (case.trace_id, case.span_id) == (request_trace, applied.context.span_id)

    # 5. Assessment's consumer applies the incident and the case event within the request's trace.
    async with open_resources(assessment) as resources:
        async def facts_kept() -> bool:
            return (await resources.pool.fetchval("SELECT count(*) FROM cases"),
                    await resources.pool.fetchval("SELECT count(*) FROM incidents")) == (1, 1)
        await run_until(facts_runner(build_context(resources)), facts_kept)
    batches = consumer_spans(spans, facts_consumer_name(assessment))
    assert batches and all(s.context.trace_id == request_trace for s in batches), [s.to_json() for s in batches]
    followed = {(c.trace_id, c.span_id) for s in batches for c in [s.parent, *(link.context for link in s.links)]}
    assert {(case.trace_id, case.span_id), (incident.trace_id, incident.span_id)} <= followed
