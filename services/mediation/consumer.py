"""Kafka edge of mediation: disputes from intake.dispute.v1 become cases, exactly once."""
from services.mediation.bootstrap import MediationContext, mediation_context
from services.mediation.handlers import dispute_handler
from services.mediation.settings import MediationSettings
from shared import outbox
from shared.events.intake import DISPUTE_TOPIC
from shared.kafka.consumer import ConsumerRunner
from shared.runtime import on_stop_signals


def dispute_runner(ctx: MediationContext) -> ConsumerRunner:
    """A consumer-group member for intake.dispute.v1."""
    settings = ctx.settings
    return ConsumerRunner(
        name=f"{settings.topic_prefix}mediation-disputes", topics=[settings.topic(DISPUTE_TOPIC)],
        bootstrap_servers=settings.kafka_bootstrap_servers, producer=ctx.producer, pool=ctx.pool,
        handler=dispute_handler(ctx), max_batch=settings.consumer_max_batch,
        max_attempts=settings.consumer_max_attempts, retry_backoff_ms=settings.consumer_retry_backoff_ms,
        auth=settings.kafka_auth)


async def consume(settings: MediationSettings) -> None:
    """Run the dispute consumer and the event relay until SIGTERM or Ctrl-C."""
    async with mediation_context(settings) as ctx:
        runner = dispute_runner(ctx)
        on_stop_signals(runner.stop)
        async with outbox.relaying(ctx.pool, ctx.producer, settings.outbox_relay_seconds):
            await runner.run()
        await outbox.relay(ctx.pool, ctx.producer)  # what the last batches wrote
