"""Wiring of the mediation service: its context (open resources plus the routing rules), and the one
function that builds it. The API, the dispute consumer and the SLA worker all take this context."""
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from services.mediation.domain.routing import Router
from services.mediation.settings import MediationSettings
from shared.kafka.producer import EventProducer
from shared.resources import Resources, open_resources


@dataclass
class MediationContext:
    """What mediation's handlers need."""

    settings: MediationSettings
    pool: asyncpg.Pool
    producer: EventProducer
    router: Router


def build_context(resources: Resources) -> MediationContext:
    """A mediation context over already-open resources."""
    settings = resources.settings
    assert isinstance(settings, MediationSettings)
    return MediationContext(settings=settings, pool=resources.pool, producer=resources.producer,
                            router=Router.load())


@asynccontextmanager
async def mediation_context(settings: MediationSettings) -> AsyncIterator[MediationContext]:
    """Open the pool and producer and load the rules; close everything on exit."""
    async with open_resources(settings) as resources:
        yield build_context(resources)
