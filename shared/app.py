"""The FastAPI application every service builds: lifespan-managed resources and operations routes."""
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from shared.http import instrument, operations_router
from shared.resources import Resources, open_resources
from shared.settings import ServiceSettings


def create_service_app(settings: ServiceSettings, *, title: str,
                       routers: Sequence[APIRouter] = ()) -> FastAPI:
    """An app whose lifespan opens the service's resources into `app.state.resources`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_resources(settings) as resources:
            app.state.resources = resources
            yield

    app = FastAPI(title=title, lifespan=lifespan)
    instrument(app, settings.service_name)

    def checks():
        resources: Resources = app.state.resources
        return resources.readiness_checks()

    app.include_router(operations_router(checks))
    for router in routers:
        app.include_router(router)
    return app
