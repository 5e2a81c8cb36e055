"""Wiring of the mediation service: open resources plus the routing rules."""
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.mediation.domain.routing import Router
from services.mediation.handlers import MediationContext
from services.mediation.settings import MediationSettings
from shared.resources import Resources, open_resources


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
