"""The mediator's workbench: one static page (no build step) over mediation's own API, served by
mediation at /workbench. The page asks for a bearer token itself; the API decides what it may see and do.
"""
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

from services.mediation import live_queue
from shared.errors import ApiError

router = APIRouter(tags=["workbench"])
FOLDER = Path(__file__).resolve().with_name("static") / "workbench"
ASSETS = {"workbench.js": "text/javascript; charset=utf-8", "workbench.css": "text/css; charset=utf-8"}
# Its own files and the API only: no CDN, no fonts or scripts from elsewhere, nothing inline. The
# token is kept in the tab's sessionStorage, never in the address; no-referrer keeps the rest home.
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


@router.get("/workbench", include_in_schema=False)
def workbench_page() -> Response:
    """The workbench's HTML."""
    return Response(_read("index.html"), media_type="text/html; charset=utf-8", headers=HEADERS)


@router.get("/workbench/{name}", include_in_schema=False)
def workbench_asset(name: str) -> Response:
    """The page's script or stylesheet; any other name is 404, so no other file can be read."""
    if name not in ASSETS:
        raise ApiError(404, "no_route")
    return Response(_read(name), media_type=ASSETS[name], headers=HEADERS)


# What api.py includes: the page and the live queue it listens to, and the live queue's stream writer.
ROUTERS = (live_queue.router, router)
EventStream = live_queue.EventStream
