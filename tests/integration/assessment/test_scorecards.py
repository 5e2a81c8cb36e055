"""Scorecards and rankings from facts in the real database: linked repeats, the red line and its chain, targets
and points, only registered stations ranked, and the calls no station holds as data quality."""
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.assessment import reference
from services.assessment.api import create_app
from services.assessment.handlers import facts_handler
from services.assessment.settings import AssessmentSettings
from shared.auth import issue_token
from shared.db.migrations import migrate
from tests.integration.assessment.contexts import context
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
    room = {"address_precision": "room"}
    events = [
        # 990101001: a dispute, the same caller again ten days later (a repeat), then an intentional injury
        # in the first dispute's flat (civil-to-criminal: the red line), and a theft there (not one).
        incident("A1", 1, MAY, caller_phone_hmac="p1", address_key="addr-1", **room),
        incident("A2", 1, MAY + timedelta(days=10), caller_phone_hmac="p1", address_key="addr-2", **room),
        incident("A3", 1, MAY + timedelta(days=12), kind="crime", crime_type="injury", dispute_type=None,
                 address_key="addr-1", **room),
        incident("A4", 1, MAY + timedelta(days=13), kind="crime", crime_type="theft", dispute_type=None,
                 address_key="addr-1", **room),
        # 990102002: two unrelated disputes on one street: not a repeat.
        at_station(incident("B1", 1, MAY, caller_phone_hmac="p2", address_key="street", address_precision="street"),
                   "990102002"),
        at_station(incident("B2", 1, MAY + timedelta(days=1), caller_phone_hmac="p3", address_key="street",
                            address_precision="street"), "990102002"),
        # Calls no registered station holds: one placed nowhere, two in a code a feed made up.
        at_station(incident("U1", 1, MAY), "unassigned"),
        at_station(incident("U2", 1, MAY, reported_station_code="FAKE-1", jurisdiction_method="unknown_station"),
                   "unassigned"),
        at_station(incident("U3", 1, MAY), "FAKE-1"),
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
            await reference.load(conn, reference.read())
            await facts_handler(context(settings))(conn, events)
        token = issue_token(settings.jwt_secret.get_secret_value(), subject="bureau", roles=["auditor"])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://assessment",
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            card = (await client.get("/v1/scorecards/stations/990101001", params={"month": "2024-05"})).json()
            ranking = (await client.get("/v1/rankings", params={"month": "2024-05"})).json()
            bad_month = await client.get("/v1/rankings", params={"month": "2024-13"})
            made_up = await client.get("/v1/scorecards/stations/FAKE-1", params={"month": "2024-05"})
            feed = await client.get("/v1/rankings", params={"month": "2024-05"}, headers={
                "Authorization": "Bearer " + issue_token(settings.jwt_secret.get_secret_value(), subject="f",
                                                         roles=["feed"])})
    figures = card["figures"]
    assert figures["dispute_count"]["value"] == 2 and figures["dispute_share"]["denominator"] == 4
    assert (figures["repeat_dispute_rate"]["numerator"], figures["repeat_dispute_rate"]["denominator"]) == (1, 2)
    assert figures["repeat_dispute_rate_30d"]["numerator"] == 1
    assert figures["civil_to_criminal_count"]["value"] == 1
    assert figures["civil_to_criminal_per_10k_residents"]["denominator"] == 8540
    assert (figures["resolution_rate"]["numerator"], figures["resolution_rate"]["denominator"]) == (1, 1)
    assert card["red_line_chains"] == [{"crime": {"source": "BJ-CAD", "incident_number": "A3"},
                                        "dispute": {"source": "BJ-CAD", "incident_number": "A1"}}]
    assert card["rules_version"] == "scoring.v2" and card["cohort"] == "urban"
    # Too little data to rank in May: listed apart with what is missing, and its target points still shown.
    assert card["rank"] is None and card["not_rankable"]["reason"] == "too_little_data"
    assert "satisfaction_rate" in card["not_rankable"]["figures"]
    c2c = next(c for c in card["contributions"] if c["figure"] == "civil_to_criminal_per_10k_residents")
    assert (c2c["target"], c2c["floor"], c2c["attainment"], c2c["points"]) == ("0.0000", "1.0000", "0.0000", "0.0000")
    assert card["red_line"] and card["grade"] is None
    # Only registered stations, each either ranked or listed apart; the made-up code only as data quality.
    listed = {i["unit"]: i for i in ranking["items"] + ranking["not_rankable"]}
    assert "FAKE-1" not in listed and "unassigned" not in listed and "990102002" in listed
    assert len(listed) == len(reference.read().stations), "every registered station, ranked or not"
    assert all(i["rank"] is None and i["score"] is None for i in ranking["not_rankable"])
    assert ranking["data_quality"] == {"calls": 9, "without_unit": 1, "unknown_codes": [
        {"code": "FAKE-1", "source": "BJ-CAD", "calls": 2}]}
    assert made_up.status_code == 404
    assert bad_month.status_code == 422 and feed.status_code == 403
