"""What every service's HTTP app has: /healthz, /readyz, /metrics, request-latency metrics, a log
line per request and a span per request (FastAPI's own OpenTelemetry support)."""
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Literal

import orjson
import structlog
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import metrics, tracing
from shared.settings import ServiceSettings

log = structlog.get_logger(__name__)

ReadinessCheck = Callable[[], Awaitable[bool]]
# Probes and scrapes: measured, but neither logged nor traced (they would drown the requests).
OPERATIONS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def is_operations_request(scope: MutableMapping[str, Any]) -> bool:
    """True for a request to /healthz, /readyz or /metrics."""
    return scope.get("path") in OPERATIONS_PATHS


def telemetry(settings: ServiceSettings) -> TelemetryConfig:
    """FastAPI's native OpenTelemetry for an app: server spans on the global tracer provider
    (shared/tracing.py installs it at start) when they will be recorded; metrics stay Prometheus', and
    no OTLP set-up of FastAPI's own.

    FastAPI builds a span's attributes whether the span is recorded or not, and checks its middleware
    stack on every request: about a quarter of claim-next's CPU (bench.claims.profile). So it traces only
    when a span can go somewhere (an exporter is configured, or a recording provider is installed, as
    tests do); otherwise _Instrumented gives each request its trace context itself. One span per request:
    FastAPI's operation spans (one per dependency, the endpoint, the serialisation) quadrupled the spans
    to say what the server span's duration and the Kafka and outbox spans under it already say."""
    traced = tracing.enabled(settings) and (tracing.recording() or tracing.exporter_name(settings.trace_exporter) != "none")
    return {"tracing": traced, "operation_spans": False, "metrics": False, "logs": False, "auto_configure": False,
            # a provider that samples nothing, installed after all: _Instrumented's context instead
            "exclude": lambda scope: is_operations_request(scope) or not tracing.recording()}


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


class OrjsonResponse(JSONResponse):
    """A JSON answer rendered by orjson: several times faster than the standard library's encoder, and it
    writes datetimes, UUIDs and dataclasses itself."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class _Instrumented:
    """Latency metric and log line of each request, as a pure ASGI middleware: Starlette's
    BaseHTTPMiddleware (`app.middleware("http")`) runs the rest of the app in a task of its own and
    streams the body through a queue, which cost more than many handlers do."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif tracing.unrecorded() and not is_operations_request(scope):
            # No span is recorded (no exporter): the request and its log line get their trace context here.
            traceparent = next((v for k, v in scope["headers"] if k == b"traceparent"), None)
            with tracing.unrecorded_request(traceparent):
                await self._measured(scope, receive, send)
        else:
            await self._measured(scope, receive, send)

    async def _measured(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500  # an exception that escapes every handler answers 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            metrics.HTTP_LATENCY.labels(self.service, method, route, str(status)).observe(elapsed)
            if not is_operations_request(scope):
                log.info("http.request", method=method, route=route, status=status, ms=round(elapsed * 1000, 1))


def instrument(app: FastAPI, service: str) -> None:
    """Record each request's latency under its route template (not the raw path, nor the query, which
    may name people), and log it with the trace ids of its span."""
    app.add_middleware(_Instrumented, service=service)
