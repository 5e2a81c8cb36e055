"""A page served by its service as static files (no build step): the HTML at `/<name>`, its script and
stylesheet at `/<name>/<file>`, under one strict policy. The assessment dashboard and the mediation
workbench are both served this way, so their security headers are written once."""
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

from shared.errors import ApiError

# The page asks for its own files and its service's API only: no CDN, no fonts or scripts from elsewhere,
# nothing inline. Tokens never travel in a URL the browser sends, and no-referrer keeps the rest home.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
MEDIA = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


def headers(connect_src: Sequence[str] = ()) -> dict[str, str]:
    """HEADERS, with `connect_src` origins (scheme://host[:port]) added to what the page may fetch: the
    workbench's identity provider's token endpoint. None: HEADERS exactly."""
    if not connect_src:
        return HEADERS
    policy = HEADERS["Content-Security-Policy"].replace("connect-src 'self'", " ".join(["connect-src 'self'", *connect_src]))
    return HEADERS | {"Content-Security-Policy": policy}


def page_router(name: str, folder: Path, assets: tuple[str, ...], summary: str,
                connect_src: Sequence[str] = ()) -> APIRouter:
    """Routes for the page `name`: `folder/index.html` and only the listed assets (any other name is 404,
    so no other file can be read). `connect_src`: other origins the page may fetch from."""
    router = APIRouter(tags=[name])
    policy = headers(connect_src)
    types: Mapping[str, str] = {asset: MEDIA[Path(asset).suffix] for asset in assets}

    @cache
    def read(file: str) -> bytes:
        return (folder / file).read_bytes()

    @router.get(f"/{name}", include_in_schema=False, summary=summary)
    def page() -> Response:
        return Response(read("index.html"), media_type="text/html; charset=utf-8", headers=policy)

    @router.get(f"/{name}/{{file}}", include_in_schema=False)
    def asset(file: str) -> Response:
        if file not in types:
            raise ApiError(404, "no_route")
        return Response(read(file), media_type=types[file], headers=policy)

    return router
