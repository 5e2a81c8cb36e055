"""The FastAPI application every service builds: lifespan-managed resources and operations routes."""
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from shared import errors, openapi, outbox
from shared.collector import settled_collector
from shared.http import ReadinessCheck, instrument, operations_router, telemetry
from shared.kafka.exactly_once import INFRASTRUCTURE_ERRORS
from shared.no_store import NoStore
from shared.resources import Resources, open_resources
from shared.settings import ServiceSettings

log = structlog.get_logger(__name__)
RETRY_AFTER_S = 5
ServiceLifespan = Callable[[FastAPI, Resources], AbstractAsyncContextManager[None]]


def context_with_relay(attribute: str, build: Callable[[Resources], Any], *,
                       self_publishing: bool = False) -> ServiceLifespan:
    """A service lifespan: build the service's context into `app.state.<attribute>` and relay its
    outbox (leftovers first, then every `outbox_relay_seconds`) while the app runs. Self-publishing:
    the service's requests publish their own events after the commit (outbox.relay_threshold)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI, resources: Resources) -> AsyncIterator[None]:
        setattr(app.state, attribute, build(resources))
        async with outbox.relaying(resources.pool, resources.producer, resources.settings.outbox_relay_seconds,
                                   self_publishing=self_publishing):
            yield

    return lifespan


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database is away (a restart, a failover): nothing was committed, the caller should retry."""
    log.warning("http.database_unavailable", path=request.url.path, error_type=type(exc).__name__)
    return errors.error_response(request, 503, "database_unavailable", headers={"Retry-After": str(RETRY_AFTER_S)})


def create_service_app(settings: ServiceSettings, *, title: str, routers: Sequence[APIRouter] = (),
                       service_lifespan: ServiceLifespan | None = None, no_store: bool = False) -> FastAPI:
    """An app whose lifespan opens the service's resources into `app.state.resources`, then
    enters the service's own lifespan (its context, background workers) inside them. With
    no_store, no answer under /v1 may be cached (it may carry personal data: shared/no_store.py)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_resources(settings) as resources:
            app.state.resources = resources
            own = service_lifespan(app, resources) if service_lifespan else nullcontext()
            async with own:
                with settled_collector():  # start-up is done (shared/collector.py)
                    yield

    app = FastAPI(title=title, lifespan=lifespan, telemetry=telemetry(settings))
    instrument(app, settings.service_name)
    if no_store:
        app.add_middleware(NoStore)
    errors.install(app)
    openapi.install(app)

    def checks() -> dict[str, ReadinessCheck]:
        resources: Resources = app.state.resources
        return resources.readiness_checks()

    for error in INFRASTRUCTURE_ERRORS:
        app.add_exception_handler(error, database_unavailable)

    app.include_router(operations_router(checks))
    for router in routers:
        app.include_router(router)
    return app
