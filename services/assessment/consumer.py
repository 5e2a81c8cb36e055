"""Kafka edge of assessment: incidents, case events and community activities become facts, exactly once."""
import asyncpg

from services.assessment.handlers import facts_handler
from services.assessment.settings import AssessmentSettings
from shared.events.community import ACTIVITY_TOPIC
from shared.events.intake import INCIDENT_TOPIC
from shared.events.mediation import CASE_TOPIC
from shared.kafka.consumer import ConsumerRunner
from shared.kafka.producer import EventProducer
from shared.resources import open_resources
from shared.runtime import on_stop_signals


def facts_consumer_name(settings: AssessmentSettings) -> str:
    """The facts consumers' group, which also names their exactly-once ledger in processed_events."""
    return f"{settings.topic_prefix}{settings.consumer_group}"


def source_topics(settings: AssessmentSettings) -> list[str]:
    """Every topic facts come from."""
    return [settings.topic(INCIDENT_TOPIC), settings.topic(CASE_TOPIC), settings.topic(ACTIVITY_TOPIC)]


def facts_runner(settings: AssessmentSettings, pool: asyncpg.Pool, producer: EventProducer) -> ConsumerRunner:
    """A consumer-group member for intake.incident.v1, mediation.case.v1 and community.activity.v1."""
    return ConsumerRunner(
        name=facts_consumer_name(settings), topics=source_topics(settings),
        bootstrap_servers=settings.kafka_bootstrap_servers, producer=producer, pool=pool,
        handler=facts_handler(settings), max_batch=settings.consumer_max_batch,
        max_attempts=settings.consumer_max_attempts, retry_backoff_ms=settings.consumer_retry_backoff_ms,
        auth=settings.kafka_auth)


async def consume(settings: AssessmentSettings) -> None:
    """Run the facts consumer until SIGTERM or Ctrl-C."""
    async with open_resources(settings) as resources:
        runner = facts_runner(settings, resources.pool, resources.producer)
        on_stop_signals(runner.stop)
        await runner.run()
