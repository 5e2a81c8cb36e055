"""What every service's HTTP app has: /healthz, /readyz, /metrics and request-latency metrics."""
import time
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared import metrics

ReadinessCheck = Callable[[], Awaitable[bool]]


def operations_router(checks: Callable[[], Mapping[str, ReadinessCheck]]) -> APIRouter:
    """Liveness, readiness (every dependency answers) and Prometheus metrics."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Alive: the process answers."""
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        """Ready: Kafka and the database answer."""
        results = {name: await check() for name, check in checks().items()}
        ready = all(results.values())
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": results},
                            status_code=200 if ready else 503)

    @router.get("/metrics")
    async def prometheus_metrics() -> Response:
        """Prometheus text exposition."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def instrument(app: FastAPI, service: str) -> None:
    """Record each request's latency under its route template (not the raw path)."""

    @app.middleware("http")
    async def _latency(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        metrics.HTTP_LATENCY.labels(service, request.method, getattr(route, "path", "unmatched"),
                                    str(response.status_code)).observe(time.perf_counter() - started)
        return response
