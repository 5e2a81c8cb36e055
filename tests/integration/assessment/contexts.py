"""Assessment contexts over what a test opened itself (services/assessment/bootstrap.py builds the real one)."""
import asyncpg

from services.assessment.bootstrap import AssessmentContext, build_context
from services.assessment.settings import AssessmentSettings
from shared.kafka.producer import EventProducer
from shared.resources import Resources


def context(settings: AssessmentSettings, pool: asyncpg.Pool | None = None,
            producer: EventProducer | None = None) -> AssessmentContext:
    """The context the service would build; the facts handler writes through the caller's connection and
    needs neither pool nor producer."""
    return build_context(Resources(settings, pool, producer))  # type: ignore[arg-type]
