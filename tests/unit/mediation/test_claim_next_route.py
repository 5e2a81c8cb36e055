"""Claim-next is served by a plain route ahead of every other (services/mediation/api.py, create_app),
while post_claim_next documents it: the two must stay one operation, and the plain route must refuse
as the documented one does (no database is needed to refuse)."""
import asyncio
from types import SimpleNamespace

import httpx

from services.mediation.api import CLAIM_NEXT_FIRST, create_app
from services.mediation.settings import MediationSettings
from shared.auth import issue_token

SETTINGS = MediationSettings(environment="test")


def test_the_first_route_is_claim_next_and_the_documented_operation_is_the_same_path_and_method() -> None:
    app = create_app(SETTINGS)
    assert app.router.routes[0] is CLAIM_NEXT_FIRST
    documented = app.openapi()["paths"][CLAIM_NEXT_FIRST.path]
    assert sorted(documented) == sorted(m.lower() for m in CLAIM_NEXT_FIRST.methods - {"HEAD"}) == ["post"]
    assert documented["post"]["operationId"].startswith("post_claim_next")
    assert documented["post"]["security"] == [{"HTTPBearer": []}]


def test_the_first_route_refuses_in_the_apis_shape() -> None:
    app = create_app(SETTINGS)
    # What the lifespan would open; a refusal asks no database.
    app.state.resources, app.state.mediation = SimpleNamespace(settings=SETTINGS), SimpleNamespace(settings=SETTINGS)
    auditor = issue_token(SETTINGS.jwt_secret.get_secret_value(), subject="a1", roles=["auditor"],
                          stations=["990101001"])

    async def ask():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return [await client.post(CLAIM_NEXT_FIRST.path),
                    await client.post(CLAIM_NEXT_FIRST.path, headers={"Authorization": "Bearer nonsense"}),
                    await client.post(CLAIM_NEXT_FIRST.path, headers={"Authorization": f"Bearer {auditor}",
                                                                       "Accept-Language": "en"}),
                    await client.get(CLAIM_NEXT_FIRST.path)]

    missing, invalid, auditor_answer, get = asyncio.run(ask())
    assert (missing.status_code, missing.json()["detail"]["code"]) == (401, "unauthorized")
    assert missing.headers["www-authenticate"] == "Bearer" and missing.headers["cache-control"] == "no-store"
    assert (invalid.status_code, invalid.json()["detail"]["code"]) == (401, "invalid_token")
    assert auditor_answer.status_code == 403
    assert auditor_answer.json()["detail"]["code"] == "claimers_only"
    assert get.status_code == 405
