"""The assessment dashboard: one static page (no build step) over the rankings, scorecard and trend APIs."""
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

from shared.errors import ApiError

router = APIRouter(tags=["dashboard"])
FOLDER = Path(__file__).resolve().with_name("static")
ASSETS = {"dashboard.js": "text/javascript; charset=utf-8", "dashboard.css": "text/css; charset=utf-8"}
# The page asks for its own files and the API only: no CDN, no fonts or scripts from elsewhere.
# The token travels in the URL fragment, which browsers never send, and no-referrer keeps the rest home.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


@cache
def _read(name: str) -> bytes:
    return (FOLDER / name).read_bytes()


@router.get("/dashboard", include_in_schema=False)
def dashboard_page() -> Response:
    """The dashboard's HTML; it asks for a bearer token itself (the data API needs one, the page does not)."""
    return Response(_read("index.html"), media_type="text/html; charset=utf-8", headers=HEADERS)


@router.get("/dashboard/{name}", include_in_schema=False)
def dashboard_asset(name: str) -> Response:
    """The page's script or stylesheet; any other name is 404, so no other file can be read."""
    if name not in ASSETS:
        raise ApiError(404, "no_route")
    return Response(_read(name), media_type=ASSETS[name], headers=HEADERS)
