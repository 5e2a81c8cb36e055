"""The OpenAPI documents say every refusal with its real body (issue 14, item 5; shared/openapi.py), and the
answers that used to break them now match: a 422 with a code names its field, a body that is not UTF-8 is
422 not 400, and a number is no time."""
import json
from pathlib import Path
from types import SimpleNamespace

import httpx
import jsonschema
import pytest
from pydantic import BaseModel, ValidationError

from services.intake.domain.profiles import map_record
from services.intake.profile_files import load_profile
from services.mediation.api import create_app as mediation_app
from services.mediation.settings import MediationSettings
from shared.auth import issue_token
from shared.times import IsoDate, IsoDateTime
from tools import contracts

ROOT = Path(__file__).resolve().parents[2]


def _document(service: str) -> dict:
    return json.loads((ROOT / f"docs/openapi/{service}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("service", contracts.SERVICES)
def test_every_api_operation_documents_its_refusals_in_the_one_shape(service):
    document = _document(service)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses, where = operation["responses"], f"{method.upper()} {path}"
            if path.startswith("/v1/"):
                assert {"401", "403", "503"} <= set(responses), where
                assert "requestBody" in operation or method == "get" or "{" in path or "claim-next" in path, where
            if operation.get("parameters") or operation.get("requestBody"):
                assert "422" in responses, where
            for status, answer in responses.items():
                if int(status) >= 400 and path != "/readyz":
                    schema = answer["content"]["application/json"]["schema"]["$ref"]
                    assert schema.endswith("/InvalidOut" if status == "422" else "/ErrorOut"), (where, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_intake_documents_the_bodies_it_reads_itself():
    paths = _document("intake")["paths"]
    record = paths["/v1/dispatch-records"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    batch = paths["/v1/dispatch-records/batch"]["post"]["requestBody"]["content"]
    assert record == {"$ref": "#/components/schemas/DispatchRecordInput"}
    assert set(batch) == {"application/json", "application/x-ndjson"}
    assert batch["application/json"]["schema"]["items"] == record


def _invalid_out_schema() -> dict:
    document = _document("mediation")
    return {"$ref": "#/components/schemas/InvalidOut", "components": document["components"]}


async def test_a_bad_cursor_and_an_unreadable_body_answer_the_documented_422():
    settings = MediationSettings(environment="test")
    app = mediation_app(settings)
    app.state.resources = SimpleNamespace(settings=settings)  # enough for the token check; nothing connects
    token = issue_token(settings.jwt_secret.get_secret_value(), subject="m1", roles=["mediator", "auditor"])
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://m", headers=headers) as client:
        answers = [await client.get("/v1/queue", params={"cursor": "zz"}),
                   await client.get("/v1/audit", params={"cursor": "zz"}),
                   await client.post("/v1/cases/6f1c2e0a-3b7d-5d2e-9a41-7f0c8e2b1d35/sessions", content=b"\x80}\xb4\x81",
                                     headers={"Content-Type": "application/json"})]
    validator = jsonschema.Draft202012Validator(_invalid_out_schema())
    for answer in answers:
        assert answer.status_code == 422, answer.text
        validator.validate(answer.json())
    assert [a.json()["detail"]["errors"][0]["loc"] for a in answers] == [["query", "cursor"], ["query", "cursor"],
                                                                          ["body"]]


class _When(BaseModel):
    at: IsoDateTime | None = None
    day: IsoDate | None = None


@pytest.mark.parametrize("value", [0.5, 1700000000, "0.5", " 1e9 ", "20240502"])
def test_a_number_is_no_time_or_date(value):
    with pytest.raises(ValidationError, match="not a number"):
        _When(at=value)
    with pytest.raises(ValidationError, match="not a number"):
        _When(day=value)
    assert _When(at="2024-05-02T10:00:00+08:00", day="2024-05-02").day.isoformat() == "2024-05-02"


def test_a_boolean_is_no_coordinate():
    record = {"source": "BJ-CAD", "incident_number": "X1", "received_at": "2024-05-02T10:00:00+08:00"}
    profile = load_profile("fengqiao_json")
    assert map_record(profile, record | {"longitude": "116.4", "latitude": 39.9}).record.longitude == 116.4
    refused = map_record(profile, record | {"longitude": True, "latitude": 39.9})
    assert refused.record is None and [e.field for e in refused.errors] == ["longitude"]
