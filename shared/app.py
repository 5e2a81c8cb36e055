"""The FastAPI application every service builds: lifespan-managed resources and operations routes."""
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any

from fastapi import APIRouter, FastAPI

from shared import outbox
from shared.http import TELEMETRY, instrument, operations_router
from shared.resources import Resources, open_resources
from shared.settings import ServiceSettings

ServiceLifespan = Callable[[FastAPI, Resources], AbstractAsyncContextManager[None]]


def context_with_relay(attribute: str, build: Callable[[Resources], Any]) -> ServiceLifespan:
    """A service lifespan: build the service's context into `app.state.<attribute>` and relay its
    outbox (leftovers first, then every `outbox_relay_seconds`) while the app runs."""

    @asynccontextmanager
    async def lifespan(app: FastAPI, resources: Resources) -> AsyncIterator[None]:
        setattr(app.state, attribute, build(resources))
        async with outbox.relaying(resources.pool, resources.producer, resources.settings.outbox_relay_seconds):
            yield

    return lifespan


def create_service_app(settings: ServiceSettings, *, title: str, routers: Sequence[APIRouter] = (),
                       service_lifespan: ServiceLifespan | None = None) -> FastAPI:
    """An app whose lifespan opens the service's resources into `app.state.resources`, then
    enters the service's own lifespan (its context, background workers) inside them."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_resources(settings) as resources:
            app.state.resources = resources
            own = service_lifespan(app, resources) if service_lifespan else nullcontext()
            async with own:
                yield

    app = FastAPI(title=title, lifespan=lifespan, telemetry=TELEMETRY)
    instrument(app, settings.service_name)

    def checks():
        resources: Resources = app.state.resources
        return resources.readiness_checks()

    app.include_router(operations_router(checks))
    for router in routers:
        app.include_router(router)
    return app
