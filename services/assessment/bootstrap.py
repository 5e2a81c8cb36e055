"""Wiring of the assessment service: open resources plus the scoring and link rules."""
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from services.assessment.domain.links import LinkRules
from services.assessment.domain.scoring import Rules
from services.assessment.settings import AssessmentSettings
from shared.kafka.producer import EventProducer
from shared.resources import Resources, open_resources


@dataclass(frozen=True)
class AssessmentContext:
    """What assessment's handlers, API and runners need: connections, the scoring rules and the link rules."""

    settings: AssessmentSettings
    pool: asyncpg.Pool
    producer: EventProducer
    rules: Rules
    link_rules: LinkRules


def facts_consumer_name(settings: AssessmentSettings) -> str:
    """The facts consumers' group, which also names their exactly-once ledger in processed_events (the
    publications' source offsets and the rebuild read it)."""
    return f"{settings.topic_prefix}{settings.consumer_group}"


def build_context(resources: Resources) -> AssessmentContext:
    """An assessment context over already-open resources; the rules load once here."""
    settings = resources.settings
    assert isinstance(settings, AssessmentSettings)
    return AssessmentContext(settings=settings, pool=resources.pool, producer=resources.producer,
                             rules=Rules.load(settings.scoring_rules), link_rules=LinkRules.load(settings.link_rules))


@asynccontextmanager
async def assessment_context(settings: AssessmentSettings) -> AsyncIterator[AssessmentContext]:
    """Open the pool and producer and load the rules; close everything on exit."""
    async with open_resources(settings) as resources:
        yield build_context(resources)
