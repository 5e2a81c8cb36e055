"""Scorecards and rankings from facts in the real database: linked repeats, the red line, the API."""
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.assessment.api import create_app
from services.assessment.handlers import facts_handler
from services.assessment.settings import AssessmentSettings
from shared.auth import issue_token
from shared.db.migrations import migrate
from tests.integration.assessment.test_facts import case_event, incident

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
MAY = datetime(2024, 5, 3, 2, tzinfo=UTC)


def at_station(event, station: str):
    """The same event, for another station."""
    data = event.data | {"station_code": station}
    return event.model_copy(update={"data": data, "key": station})


async def test_scorecard_links_repeats_and_civil_to_criminal_and_ranks_stations(kafka_bootstrap, database_url):
    settings = AssessmentSettings(kafka_bootstrap_servers=kafka_bootstrap, database_url=database_url,
                                  environment="test")
    await migrate(database_url, "services.assessment")
    events = [
        # 990101001: a dispute, the same caller again ten days later (a repeat), then a crime at the
        # first dispute's address (civil-to-criminal: the red line).
        incident("A1", 1, MAY, caller_phone_hmac="p1", address_key="addr-1"),
        incident("A2", 1, MAY + timedelta(days=10), caller_phone_hmac="p1", address_key="addr-2"),
        incident("A3", 1, MAY + timedelta(days=12), kind="crime", dispute_type=None, address_key="addr-1"),
        # 990102002: two unrelated disputes.
        at_station(incident("B1", 1, MAY, caller_phone_hmac="p2"), "990102002"),
        at_station(incident("B2", 1, MAY + timedelta(days=1), caller_phone_hmac="p3"), "990102002"),
        # One case of 990101001, created, claimed after 30 minutes, agreed and closed in May.
        case_event("case.created", 1, "pending", MAY),
        case_event("case.claimed", 2, "claimed", MAY + timedelta(minutes=30)),
        case_event("case.agreement_reached", 4, "agreement", MAY + timedelta(days=1)),
        case_event("case.closed", 5, "closed", MAY + timedelta(days=2)),
    ]
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        pool = app.state.resources.pool
        async with pool.acquire() as conn, conn.transaction():
            await facts_handler(settings)(conn, events)
        token = issue_token(settings.jwt_secret.get_secret_value(), subject="bureau", roles=["auditor"])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://assessment",
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            card = (await client.get("/v1/scorecards/stations/990101001", params={"month": "2024-05"})).json()
            ranking = (await client.get("/v1/rankings", params={"month": "2024-05"})).json()
            bad_month = await client.get("/v1/rankings", params={"month": "2024-13"})
            feed = await client.get("/v1/rankings", params={"month": "2024-05"}, headers={
                "Authorization": "Bearer " + issue_token(settings.jwt_secret.get_secret_value(), subject="f",
                                                         roles=["feed"])})
    figures = card["figures"]
    assert figures["dispute_count"]["value"] == 2
    assert (figures["repeat_dispute_rate"]["numerator"], figures["repeat_dispute_rate"]["denominator"]) == (1, 2)
    assert figures["civil_to_criminal_count"]["value"] == 1
    assert figures["crimes_per_10k_residents"]["value"] is None, "no residents registered: not rankable, not 0"
    assert (figures["resolution_rate"]["numerator"], figures["resolution_rate"]["denominator"]) == (1, 1)
    items = {i["unit"]: i for i in ranking["items"]}
    assert set(items) == {"990101001", "990102002"} and ranking["rules_version"]
    assert items["990101001"]["red_line"] and not items["990102002"]["red_line"]
    assert sorted(i["rank"] for i in ranking["items"] if i["rank"] is not None) in ([1, 2], [1, 1])
    assert bad_month.status_code == 422 and feed.status_code == 403
