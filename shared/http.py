"""What every service's HTTP app has: /healthz, /readyz, /metrics, request-latency metrics, a log
line per request and a span per request (FastAPI's own OpenTelemetry support)."""
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Literal

import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from shared import metrics

log = structlog.get_logger(__name__)

ReadinessCheck = Callable[[], Awaitable[bool]]
# Probes and scrapes: measured, but neither logged nor traced (they would drown the requests).
OPERATIONS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def is_operations_request(scope: MutableMapping[str, Any]) -> bool:
    """True for a request to /healthz, /readyz or /metrics."""
    return scope.get("path") in OPERATIONS_PATHS


# FastAPI's native OpenTelemetry: server spans on the global tracer provider (shared/tracing.py
# installs it at start); metrics stay Prometheus', and no OTLP set-up of FastAPI's own.
TELEMETRY: TelemetryConfig = {"tracing": True, "metrics": False, "logs": False, "auto_configure": False,
             "exclude": is_operations_request}


class Readiness(BaseModel):
    """Whether every dependency answers, and each one's answer."""

    status: Literal["ready", "not ready"]
    checks: dict[str, bool]


def operations_router(checks: Callable[[], Mapping[str, ReadinessCheck]]) -> APIRouter:
    """Liveness, readiness (every dependency answers) and Prometheus metrics."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Alive: the process answers."""
        return {"status": "ok"}

    @router.get("/readyz", responses={200: {"model": Readiness}, 503: {"model": Readiness, "description": (
        "not ready: a dependency does not answer (checks names which)")}})
    async def readyz() -> JSONResponse:
        """Ready: Kafka and the database answer."""
        results = {name: await check() for name, check in checks().items()}
        ready = all(results.values())
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": results},
                            status_code=200 if ready else 503)

    @router.get("/metrics", response_class=Response,
                responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}})
    async def prometheus_metrics() -> Response:
        """Prometheus text exposition."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def instrument(app: FastAPI, service: str) -> None:
    """Record each request's latency under its route template (not the raw path, nor the query, which
    may name people), and log it with the trace ids of its span."""

    @app.middleware("http")
    async def _latency(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        elapsed = time.perf_counter() - started
        route = getattr(request.scope.get("route"), "path", "unmatched")
        metrics.HTTP_LATENCY.labels(service, request.method, route, str(response.status_code)).observe(elapsed)
        if not is_operations_request(request.scope):
            log.info("http.request", method=request.method, route=route, status=response.status_code,
                     ms=round(elapsed * 1000, 1))
        return response
