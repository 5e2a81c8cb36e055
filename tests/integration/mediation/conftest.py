"""A mediation service of the test's own: database, migrations, topics under a unique prefix."""
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.mediation.api import create_app
from services.mediation.bootstrap import MediationContext, mediation_context
from services.mediation.handlers import dispute_handler
from services.mediation.settings import MediationSettings
from shared.auth import issue_token
from shared.db.migrations import migrate
from shared.events.envelope import Envelope
from shared.kafka.admin import ensure_registered_topics

STATION = "990101001"  # has all four channels


@pytest.fixture
async def mediation_settings(kafka_bootstrap: str, database_url: str, topic_prefix: str) -> MediationSettings:
    settings = MediationSettings(kafka_bootstrap_servers=kafka_bootstrap, database_url=database_url,
                                 topic_prefix=topic_prefix, environment="test")
    await migrate(database_url, "services.mediation")
    await ensure_registered_topics(kafka_bootstrap, prefix=settings.topic_prefix)
    return settings


@pytest.fixture
async def mediation_ctx(mediation_settings) -> AsyncIterator[MediationContext]:
    async with mediation_context(mediation_settings) as ctx:
        yield ctx


def dispute_event(number: str, *, revision: int = 1, kind: str = "dispute.opened", station: str = STATION,
                  dispute_type: str = "neighbour", risk_flags: list[str] | None = None,
                  received_at: datetime | None = None, **extra) -> Envelope:
    """A dispute event as intake publishes it."""
    data = {"source": "BJ-CAD", "incident_number": number, "revision": revision,
            "received_at": (received_at or datetime(2024, 5, 1, tzinfo=UTC)).isoformat(),
            "station_code": station, "jurisdiction_method": "record", "kind": "dispute",
            "dispute_type": dispute_type, "risk_flags": risk_flags or [], "confidence": 0.9,
            "rules_version": "classification.v1", "caller_name": "王小明", "caller_phone": "13812345678",
            "description": "楼上漏水"} | extra
    return Envelope(type=kind, producer="intake", key=station, data=data)


@pytest.fixture
def open_cases(mediation_ctx) -> Callable:
    """Apply dispute events directly through the consumer's handler (one transaction)."""

    async def apply(events: list[Envelope]) -> None:
        async with mediation_ctx.pool.acquire() as conn, conn.transaction():
            await dispute_handler(mediation_ctx)(conn, events)

    return apply


def many_cases(n: int, start: datetime = datetime(2024, 5, 1, tzinfo=UTC)) -> list[Envelope]:
    """n neighbour disputes at the sample station, one minute apart."""
    return [dispute_event(f"N{i:05d}", received_at=start + timedelta(minutes=i)) for i in range(n)]


@pytest.fixture
async def api(mediation_settings) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """A factory of HTTP clients, each with its own token, on one running app."""
    app = create_app(mediation_settings)
    secret = mediation_settings.jwt_secret.get_secret_value()
    clients: list[httpx.AsyncClient] = []

    def client(subject: str = "m1", roles: tuple[str, ...] = ("mediator",), stations: tuple[str, ...] = (STATION,),
               channels: tuple[str, ...] = ()) -> httpx.AsyncClient:
        token = issue_token(secret, subject=subject, roles=list(roles), stations=list(stations), channels=list(channels))
        made = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mediation",
                                 headers={"Authorization": f"Bearer {token}"})
        clients.append(made)
        return made

    async with app.router.lifespan_context(app):
        client.app = app
        yield client
        for made in clients:
            await made.aclose()
