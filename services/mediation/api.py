"""HTTP edge of mediation: the claim queue and cases, for mediators, lawyers, court liaisons and chiefs.

Error messages are in Simplified Chinese, in English with `Accept-Language: en`.
"""
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response

from services.mediation import handlers
from services.mediation.bootstrap import build_context
from services.mediation.domain.lifecycle import STATE_LABELS_ZH, State, allowed_actions, next_state
from services.mediation.handlers import CaseConflict, CaseNotFound, MediationContext, NotAllowed
from services.mediation.settings import MediationSettings
from shared import outbox
from shared.app import create_service_app
from shared.auth import Principal, require_role
from shared.resources import Resources

router = APIRouter(prefix="/v1", tags=["cases"])
Caller = Annotated[Principal, Depends(require_role("mediator", "lawyer", "court_liaison", "station_chief", "auditor"))]

_MESSAGES = {
    "not_found": ("案件不存在或无权查看", "no such case, or not one you may see"),
    "forbidden": ("当前角色无权执行此操作", "your role may not do this"),
    "empty": ("没有可认领的案件", "no case to claim"),
    "bad_cursor": ("分页游标无效", "invalid cursor"),
}


def _english(request: Request) -> bool:
    return request.headers.get("accept-language", "").lower().startswith("en")


def _error(request: Request, status: int, key: str, **extra: Any) -> JSONResponse:
    zh, en = _MESSAGES[key]
    return JSONResponse({"detail": {"code": key, "message": en if _english(request) else zh, **extra}},
                        status_code=status)


def _ctx(request: Request) -> MediationContext:
    return request.app.state.mediation


def _case_json(case: dict[str, Any]) -> dict[str, Any]:
    state = State(case["state"])
    actions = allowed_actions(state, had_agreement=case["had_agreement"])
    return {
        "id": str(case["id"]), "source": case["source"], "incident_number": case["incident_number"],
        "station_code": case["station_code"], "grid_code": case["grid_code"], "channel": case["channel"],
        "state": state.value, "state_label": STATE_LABELS_ZH[state], "dispute_type": case["dispute_type"],
        "risk_flags": list(case["risk_flags"]), "high_risk": case["high_risk"],
        "received_at": case["received_at"].isoformat(), "claim_due_at": case["claim_due_at"].isoformat(),
        "claimed_by": case["claimed_by"], "claimed_at": case["claimed_at"] and case["claimed_at"].isoformat(),
        "sessions": case["sessions"], "version": case["version"], "party": case.get("party"),
        "allowed_actions": [a.value for a in actions]}


def _with_etag(body: dict[str, Any], version: int, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"ETag": f'"{version}"'})


def _conflict(request: Request, exc: CaseConflict) -> JSONResponse:
    state = State(exc.state)
    holder_zh = f"，由 {exc.holder} 认领" if exc.holder else ""
    message = str(exc) if _english(request) else f"案件当前为“{STATE_LABELS_ZH[state]}”{holder_zh}"
    return JSONResponse({"detail": {
        "code": "conflict", "message": message, "state": state.value, "holder": exc.holder,
        "allowed_actions": [a.value for a in exc.allowed],
        "allowed_next_states": sorted({next_state(state, a, had_agreement=True).value for a in exc.allowed})}},
        status_code=409)


async def _guarded(request: Request, work) -> Any:
    """Run a handler call and turn its domain errors into 403/404/409 answers."""
    try:
        return await work
    except NotAllowed:
        return _error(request, 403, "forbidden")
    except CaseNotFound:
        return _error(request, 404, "not_found")
    except CaseConflict as exc:
        return _conflict(request, exc)


@router.get("/queue")
async def get_queue(request: Request, caller: Caller, cursor: str | None = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50):
    """Claimable cases of my stations and channels: high risk first, then oldest; cursor-paginated."""
    try:
        after = handlers.parse_cursor(cursor) if cursor else None
    except (ValueError, TypeError):
        return _error(request, 422, "bad_cursor")
    rows = await _guarded(request, handlers.queue(_ctx(request), caller, after=after, limit=limit))
    if isinstance(rows, JSONResponse):
        return rows
    items = [_case_json(dict(r) | {"party": None}) for r in rows]
    return {"items": items, "next_cursor": handlers.cursor_of(rows[-1]) if len(rows) == limit else None}


@router.post("/cases/{case_id}/claim")
async def post_claim(request: Request, case_id: uuid.UUID, caller: Caller):
    """Claim a case. Of concurrent claimers exactly one wins; the others get 409 naming the holder."""
    case = await _guarded(request, handlers.claim(_ctx(request), caller, case_id))
    return case if isinstance(case, JSONResponse) else _with_etag(_case_json(dict(case)), case["version"])


@router.post("/queue/claim-next")
async def post_claim_next(request: Request, caller: Caller):
    """Claim the best available case for me; 404 when the queue is empty."""
    case = await _guarded(request, handlers.claim_next(_ctx(request), caller))
    if isinstance(case, JSONResponse):
        return case
    if case is None:
        return _error(request, 404, "empty")
    return _with_etag(_case_json(dict(case)), case["version"])


@router.post("/cases/{case_id}/release")
async def post_release(request: Request, case_id: uuid.UUID, caller: Caller):
    """Give my claimed case back to the queue."""
    case = await _guarded(request, handlers.release(_ctx(request), caller, case_id))
    return case if isinstance(case, JSONResponse) else _with_etag(_case_json(dict(case)), case["version"])


@router.get("/cases/{case_id}")
async def get_case(request: Request, case_id: uuid.UUID, caller: Caller):
    """A case with its full timeline; the ETag is its version."""
    found = await _guarded(request, handlers.case_with_timeline(_ctx(request), caller, case_id))
    if isinstance(found, JSONResponse):
        return found
    case, timeline = found
    for entry in timeline:
        entry["at"] = entry["at"].isoformat()
    if request.headers.get("if-none-match") == f'"{case["version"]}"':
        return Response(status_code=304, headers={"ETag": f'"{case["version"]}"'})
    return _with_etag(_case_json(case) | {"timeline": timeline}, case["version"])


@asynccontextmanager
async def _mediation_lifespan(app: FastAPI, resources: Resources) -> AsyncIterator[None]:
    ctx = build_context(resources)
    app.state.mediation = ctx
    async with outbox.relaying(ctx.pool, ctx.producer, ctx.settings.outbox_relay_seconds):
        yield


def create_app(settings: MediationSettings) -> FastAPI:
    """The mediation API; its lifespan opens the pool and producer and starts the event relay."""
    return create_service_app(settings, title="Fengqiao mediation: dispute cases", routers=[router],
                              service_lifespan=_mediation_lifespan)
