"""No cache keeps intake's or mediation's answers, which carry callers' and parties' details
(docs/security.md, No caching of personal data); operations routes and the API docs stay cacheable."""
from types import SimpleNamespace

import httpx
import pytest
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.assessment.api import create_app as assessment_app
from services.assessment.settings import AssessmentSettings
from services.intake.api import create_app as intake_app
from services.intake.settings import IntakeSettings
from services.mediation.api import create_app as mediation_app
from services.mediation.settings import MediationSettings
from shared.app import create_service_app

APPS = {"intake": (intake_app, IntakeSettings, "post", "/v1/dispatch-records"),
        # Not a case address: a refusal there is audited, in a database this unit test does not have.
        "mediation": (mediation_app, MediationSettings, "get", "/v1/queue")}


async def _ask(app, method: str, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.request(method.upper(), path)


def _app(factory, cls):
    settings = cls(environment="test")
    app = factory(settings)
    app.state.resources = SimpleNamespace(settings=settings)
    return app


@pytest.mark.parametrize("service", APPS)
async def test_every_api_answer_of_intake_and_mediation_is_no_store_errors_included(service):
    factory, cls, method, path = APPS[service]
    app = _app(factory, cls)
    refused = await _ask(app, method, path)
    assert refused.status_code == 401 and refused.headers["Cache-Control"] == "no-store"
    for path in ("/healthz", "/openapi.json", "/docs"):
        answer = await _ask(app, "get", path)
        assert answer.status_code == 200 and "cache-control" not in answer.headers, path


async def test_a_handlers_own_cache_header_is_replaced_and_a_200_carries_it():
    router = APIRouter()

    @router.get("/v1/thing")
    async def thing():
        return JSONResponse({"name": "张三"}, headers={"Cache-Control": "max-age=3600"})

    answer = await _ask(create_service_app(IntakeSettings(environment="test"), title="t", routers=[router],
                                           no_store=True), "get", "/v1/thing")
    assert answer.status_code == 200 and answer.headers.get_list("Cache-Control") == ["no-store"]


async def test_assessment_keeps_its_own_caching():
    answer = await _ask(_app(assessment_app, AssessmentSettings), "get", "/v1/rankings?month=2024-05")
    assert answer.status_code == 401 and "cache-control" not in answer.headers
