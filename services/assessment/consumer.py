"""Kafka edge of assessment: incidents, case events and community activities become facts, exactly once."""
from services.assessment.bootstrap import AssessmentContext, assessment_context, facts_consumer_name
from services.assessment.handlers import facts_handler
from services.assessment.settings import AssessmentSettings
from shared.events.community import ACTIVITY_TOPIC
from shared.events.intake import INCIDENT_TOPIC
from shared.events.mediation import CASE_TOPIC
from shared.kafka.consumer import ConsumerRunner, service_options
from shared.runtime import on_stop_signals


def source_topics(settings: AssessmentSettings) -> list[str]:
    """Every topic facts come from."""
    return [settings.topic(INCIDENT_TOPIC), settings.topic(CASE_TOPIC), settings.topic(ACTIVITY_TOPIC)]


def facts_runner(ctx: AssessmentContext) -> ConsumerRunner:
    """A consumer-group member for intake.incident.v1, mediation.case.v1 and community.activity.v1."""
    return ConsumerRunner(name=facts_consumer_name(ctx.settings), topics=source_topics(ctx.settings),
                          producer=ctx.producer, pool=ctx.pool, handler=facts_handler(ctx),
                          **service_options(ctx.settings))


async def consume(settings: AssessmentSettings) -> None:
    """Run the facts consumer until SIGTERM or Ctrl-C."""
    async with assessment_context(settings) as ctx:
        runner = facts_runner(ctx)
        on_stop_signals(runner.stop)
        await runner.run()
