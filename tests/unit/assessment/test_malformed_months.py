"""Every assessment endpoint that takes a month answers a malformed one with 422 naming the field, never
500 (docs/security.md, Malformed months): year 0000 is no date, 9999-12 has no following month."""
from types import SimpleNamespace

import httpx
import pytest

from services.assessment.api import create_app
from services.assessment.settings import AssessmentSettings
from shared.auth import issue_token

SETTINGS = AssessmentSettings(environment="test")
BAD = ["0000-01", "2024-00", "2024-13", "9999-12", "1899-12", "2024-1", "24-01", "２０２４-０１"]


def _requests(month: str) -> list[tuple[str, str, dict, list]]:
    """(method, path, keyword arguments, the field's location) of each endpoint taking a month."""
    return [("get", "/v1/rankings", {"params": {"month": month}}, ["query", "month"]),
            ("get", "/v1/rankings.csv", {"params": {"month": month}}, ["query", "month"]),
            ("get", "/v1/reports/rankings", {"params": {"month": month}}, ["query", "month"]),
            ("get", "/v1/scorecards/stations/990101001", {"params": {"month": month}}, ["query", "month"]),
            ("get", "/v1/trends/stations/990101001", {"params": {"from": month, "to": "2024-05"}}, ["query", "from"]),
            ("get", "/v1/trends/stations/990101001", {"params": {"from": "2024-05", "to": month}}, ["query", "to"]),
            ("post", "/v1/rankings/publish", {"json": {"month": month, "kind": "station"}}, ["body", "month"])]


@pytest.mark.parametrize("month", BAD)
async def test_a_malformed_month_is_422_on_every_endpoint_that_takes_one(month):
    app = create_app(SETTINGS)
    app.state.resources = SimpleNamespace(settings=SETTINGS)  # validation answers before any database is asked
    token = issue_token(SETTINGS.jwt_secret.get_secret_value(), subject="bureau", roles=["auditor"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        for method, path, kwargs, loc in _requests(month):
            answer = await client.request(method.upper(), path, **kwargs)
            assert answer.status_code == 422, (path, answer.text)
            assert answer.json()["detail"]["code"] == "invalid_request"
            assert loc in [e["loc"] for e in answer.json()["detail"]["errors"]], (path, answer.text)
