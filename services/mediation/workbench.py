"""The mediator's workbench: one static page (no build step) over mediation's own API, served by
mediation at /workbench. The page asks for a bearer token itself, or signs in through the identity
provider's login page when one is configured; the API decides what it may see and do.
"""
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter

from services.mediation import live_queue
from services.mediation.settings import MediationSettings
from shared.static_page import page_router

# The token is kept in the tab's sessionStorage, never in the address.
FOLDER = Path(__file__).resolve().with_name("static") / "workbench"
EventStream = live_queue.EventStream


def config(settings: MediationSettings) -> dict[str, object]:
    """What the page needs to sign in through the identity provider: public values only (a PKCE client has no
    secret); `oidc` is null when no login is configured. `claims` names where the token carries roles and
    stations (Keycloak: realm_access.roles), so the page shows what the API will read."""
    claims = {"roles": settings.jwt_roles_claim, "stations": settings.jwt_stations_claim}
    if not settings.oidc_login:
        return {"oidc": None, "claims": claims}
    return {"oidc": {"authorization_url": settings.oidc_authorization_url, "token_url": settings.oidc_token_url,
                     "client_id": settings.oidc_client_id, "scope": settings.oidc_scope}, "claims": claims}


def routers(settings: MediationSettings) -> tuple[APIRouter, ...]:
    """What api.py includes: the live queue, the page's configuration and the page. The page may fetch from
    the token endpoint's origin (the code exchange), and from nowhere else but itself."""
    answer = config(settings)
    settings_router = APIRouter(tags=["workbench"])

    # Before the page's routes: /workbench/{file} would otherwise answer 404 for it.
    @settings_router.get("/workbench/config.json", include_in_schema=False)
    def page_config() -> dict[str, object]:
        return answer

    token_url = urlsplit(settings.oidc_token_url)
    origins = (f"{token_url.scheme}://{token_url.netloc}",) if settings.oidc_login else ()
    page = page_router("workbench", FOLDER, ("workbench.js", "workbench.css"), "the workbench's HTML", origins)
    return live_queue.router, settings_router, page
