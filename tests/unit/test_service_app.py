"""The app every service builds: a database outage answers 503 with Retry-After, never a 500."""
import asyncpg
import httpx
import pytest
from fastapi import APIRouter

from services.intake.settings import IntakeSettings
from shared.app import create_service_app


@pytest.mark.parametrize("error", [asyncpg.CannotConnectNowError("starting up"), ConnectionRefusedError(111, "no"),
                                   asyncpg.AdminShutdownError("terminating connection")])
async def test_a_database_outage_answers_503_with_retry_after(error):
    router = APIRouter()

    @router.post("/v1/things")
    async def store():
        raise error

    app = create_service_app(IntakeSettings(environment="test"), title="t", routers=[router])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        answer = await client.post("/v1/things", headers={"Accept-Language": "en"})
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert answer.json()["detail"]["code"] == "database_unavailable" and "retry" in answer.json()["detail"]["message"]


def test_the_relay_waits_for_self_publishing_requests_and_no_longer_than_two_periods_otherwise():
    from shared.outbox import PUBLISH_TIMEOUT_S, relay_threshold
    assert relay_threshold(0.25, self_publishing=False) == 0.5, "a case event must not trail its commit by seconds"
    assert relay_threshold(0.25, self_publishing=True) == PUBLISH_TIMEOUT_S + 0.25
    assert relay_threshold(10.0, self_publishing=True) == 20.0
