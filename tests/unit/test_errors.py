"""One error shape for every service: Chinese by default, English on request, field paths kept in 422s."""
from datetime import datetime
from types import SimpleNamespace

import httpx
import pytest
from fastapi import APIRouter, Depends
from pydantic import AwareDatetime, BaseModel
from typer.testing import CliRunner

from services.intake.settings import IntakeSettings
from services.mediation.__main__ import cli as mediation_cli
from shared.app import create_service_app
from shared.auth import issue_token, require_role
from shared.errors import ApiError

SETTINGS = IntakeSettings(environment="test")


class Thing(BaseModel):
    at: AwareDatetime
    count: int


def _app():
    router = APIRouter()

    @router.post("/v1/things", dependencies=[Depends(require_role("mediator"))])
    async def store(thing: Thing):
        raise ApiError(409, "bad_request", state="closed")

    app = create_service_app(SETTINGS, title="t", routers=[router])
    app.state.resources = SimpleNamespace(settings=SETTINGS)  # what the lifespan would open; no database needed
    return app


async def _ask(headers=None, **kw) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://t") as client:
        return await client.post("/v1/things", headers=headers or {}, **kw)


def _token(role: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_token(SETTINGS.jwt_secret.get_secret_value(), subject="s", roles=[role])}


@pytest.mark.parametrize("headers, status, code", [
    ({}, 401, "unauthorized"), ({"Authorization": "Bearer nope"}, 401, "invalid_token"),
    ("auditor", 403, "forbidden_role")])
async def test_401_and_403_in_the_one_shape_in_chinese_then_english(headers, status, code):
    headers = _token(headers) if isinstance(headers, str) else headers
    zh = await _ask(headers, json={})
    en = await _ask(headers | {"Accept-Language": "en-GB"}, json={})
    assert zh.status_code == en.status_code == status
    assert zh.json()["detail"]["code"] == en.json()["detail"]["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh.json()["detail"]["message"])
    assert en.json()["detail"]["message"].isascii()
    if status == 403:
        assert zh.json()["detail"]["allowed_roles"] == ["mediator"], "a refusal says which roles would do"


async def test_422_keeps_field_paths_translates_reasons_and_does_not_echo_input():
    body = {"at": "2024-05-02T10:00:00", "count": "13812345678x"}
    zh = await _ask(_token("mediator"), json=body)
    en = await _ask(_token("mediator") | {"Accept-Language": "en"}, json=body)
    assert zh.status_code == 422 and zh.json()["detail"]["code"] == "invalid_request"
    errors = {tuple(e["loc"]): e["msg"] for e in zh.json()["detail"]["errors"]}
    assert errors == {("body", "at"): "须带时区（例如 2024-05-02T10:00:00+08:00）", ("body", "count"): "须为整数"}
    assert "body.at" in zh.json()["detail"]["message"]
    assert [e["loc"] for e in en.json()["detail"]["errors"]] == [["body", "at"], ["body", "count"]]
    assert "13812345678" not in zh.text + en.text, "the input may be personal data"


async def test_a_coded_error_carries_its_extra_keys_and_unknown_codes_fail_early():
    answer = await _ask(_token("mediator"), json={"at": datetime(2024, 5, 2).isoformat() + "+08:00", "count": 1})
    assert answer.status_code == 409 and answer.json()["detail"]["state"] == "closed"
    with pytest.raises(KeyError):
        ApiError(400, "no_such_code")


@pytest.mark.parametrize("args, words", [(["--role", "mediatr"], "unknown roles ['mediatr']"),
                                         (["--role", "mediator", "--hours", "0"], "lifetime must be positive")])
def test_the_token_command_refuses_a_wrong_role_or_lifetime_in_one_line(args, words):
    result = CliRunner().invoke(mediation_cli, ["token", "--subject", "m1", *args])
    assert result.exit_code == 2
    assert words in result.output and len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output
