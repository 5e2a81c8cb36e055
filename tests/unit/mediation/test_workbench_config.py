"""The workbench's sign-in configuration (GET /workbench/config.json) and its CSP, with and without the
identity provider's login: nothing secret in the one, only the token endpoint's origin added to the other,
and the default policy unchanged when nothing is configured."""
import asyncio
from types import SimpleNamespace

import httpx
import pytest
from pydantic import ValidationError

from services.mediation.api import create_app
from services.mediation.settings import MediationSettings
from shared.static_page import HEADERS

SSO = "https://sso.example/realms/fengqiao/protocol/openid-connect"
OIDC = {"oidc_authorization_url": f"{SSO}/auth", "oidc_token_url": f"{SSO}/token",
        "oidc_client_id": "fengqiao-workbench"}


def _get(settings: MediationSettings, *paths: str) -> list[httpx.Response]:
    app = create_app(settings)
    app.state.resources = SimpleNamespace(settings=settings)  # what the lifespan would open; no database asked

    async def ask():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return [await client.get(path) for path in paths]

    return asyncio.run(ask())


def test_without_a_login_the_page_learns_none_and_keeps_the_default_policy():
    config, page, script = _get(MediationSettings(environment="test"),
                                "/workbench/config.json", "/workbench", "/workbench/workbench.js")
    assert config.status_code == 200 and config.json() == {"oidc": None, "claims": {"roles": "roles", "stations": "stations"}}
    for answer in (page, script):
        assert answer.headers["content-security-policy"] == HEADERS["Content-Security-Policy"]
    assert "connect-src 'self';" in HEADERS["Content-Security-Policy"]


def test_with_a_login_the_page_learns_the_public_client_and_may_fetch_only_the_token_endpoints_origin():
    settings = MediationSettings(environment="test", oidc_scope="openid profile", jwt_roles_claim="realm_access.roles",
                                 **OIDC)
    config, page, script = _get(settings, "/workbench/config.json", "/workbench", "/workbench/workbench.js")
    assert config.json() == {"oidc": {"authorization_url": f"{SSO}/auth", "token_url": f"{SSO}/token",
                                      "client_id": "fengqiao-workbench", "scope": "openid profile"},
                             "claims": {"roles": "realm_access.roles", "stations": "stations"}}
    expected = HEADERS["Content-Security-Policy"].replace(
        "connect-src 'self';", "connect-src 'self' https://sso.example;")
    assert expected != HEADERS["Content-Security-Policy"]
    for answer in (page, script):
        assert answer.status_code == 200 and answer.headers["content-security-policy"] == expected
    assert "form-action 'none'" in expected and "script-src 'self';" in expected, "the rest stays as strict"
    assert 'data-testid="oidc-sign-in"' in page.text


def test_half_a_login_or_a_url_that_is_not_one_is_refused_and_production_wants_https():
    with pytest.raises(ValidationError, match="oidc_client_id must be set"):
        MediationSettings(environment="test", **(OIDC | {"oidc_client_id": ""}))
    with pytest.raises(ValidationError, match="oidc_token_url must be an absolute http"):
        MediationSettings(environment="test", **(OIDC | {"oidc_token_url": "/token"}))
    local = OIDC | {"oidc_token_url": "http://127.0.0.1:8080/token"}
    assert MediationSettings(environment="test", **local).oidc_login
    with pytest.raises(ValidationError, match="oidc_token_url must be https in production"):
        MediationSettings(environment="production", jwt_secret="s" * 40, jwt_jwks_url=f"{SSO}/certs",
                          jwt_issuer="https://sso.example/realms/fengqiao", jwt_audience="fengqiao-mediation",
                          database_url="postgresql://u:p@db/fengqiao_mediation", kafka_bootstrap_servers="k:9092",
                          phone_hmac_secret="k" * 40, **local)
