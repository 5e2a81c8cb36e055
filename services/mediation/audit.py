"""The audit trail of mediation: who did what to which case, when, and why if they said.

Written: every API write (changes.record; claim-next in its one statement), every answer that carries personal data (a case with its
parties, a search that can return them), and every refused attempt on a case (401, 403, 404), the last
by a middleware so no endpoint can forget it. Never written: the personal data itself, only which
filters a search used, which case was read and the stated purpose. The table is append-only in the
database (migration 0007); auditors read it with GET /v1/audit, by case, subject and time range.
"""
import re
import uuid
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.mediation import repository
from services.mediation.domain.permissions import roles_for
from services.mediation.events import PUBLIC_DETAILS
from services.mediation.views import ERRORS, local, zone
from shared.auth import Principal, require_role
from shared.errors import ApiError
from shared.http import OrjsonResponse
from shared.times import IsoDateTime

# What a row's details may keep: the events' public details and the audit trail's own bookkeeping.
# Participants are kept as a count; free text (notes, reasons, terms) never.
SAFE_DETAILS = PUBLIC_DETAILS | {"via", "position", "role", "escalated", "court_case_number", "filters", "found",
                                 "cases", "status", "code", "method", "path"}
REFUSALS = frozenset({401, 403, 404})
# The paths that name a case (or a handoff of one): a refusal there is an attempt on that case.
_CASE_PATH = re.compile(r"^/v1/cases/(?P<case>[0-9a-fA-F-]{36})(?:/|$)")
_HANDOFF_PATH = re.compile(r"^/v1/handoffs/(?P<handoff>[0-9a-fA-F-]{36})/")


def safe_details(details: dict[str, Any] | None) -> dict[str, Any]:
    """A row's details without anything that could name or describe a person."""
    details = details or {}
    kept = {k: v for k, v in details.items() if k in SAFE_DETAILS}
    if isinstance(details.get("participants"), list):
        kept["participants"] = len(details["participants"])
    return kept


async def write(conn: repository.Executor, principal: Principal | None, *, action: str, case_id: Any, outcome: str = "ok",
                purpose: str | None = None, details: dict[str, Any] | None = None, handoff_id: Any = None) -> None:
    """One row. Without a principal (no valid token, or a role the API does not know) the actor is `-`."""
    actor = principal.subject if principal is not None else "-"
    roles = sorted(principal.roles) if principal is not None else []
    stations = sorted(principal.stations) if principal is not None else []
    details = dict(details or {}) | ({"handoff_id": str(handoff_id)} if handoff_id is not None else {})
    actor, purpose = _storable(actor), _storable(purpose)
    roles, stations, details = _storable(roles), _storable(stations), _storable(safe_details(details))
    await repository.add_audit_entry(conn, actor=actor, roles=roles, action=_storable(action), case_id=case_id,
                                     outcome=outcome, details=details, purpose=purpose, stations=stations,
                                     handoff_id=handoff_id)


def _storable(value: Any) -> Any:
    """The value with NUL written as \\u0000: PostgreSQL's text and jsonb cannot hold it, and a purpose, a
    token's subject or a searched number with one must still leave its row (it answered 500 before)."""
    if isinstance(value, str):
        return value.replace("\x00", "\\u0000")
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    return value


def _target(path: str) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """(case id, handoff id) named by a path, or (None, None)."""
    try:
        if found := _CASE_PATH.match(path):
            return uuid.UUID(found["case"]), None
        if found := _HANDOFF_PATH.match(path):
            return None, uuid.UUID(found["handoff"])
    except ValueError:
        pass
    return None, None


class Refusals:
    """Middleware: every 401/403/404 on a case or handoff leaves a row (`refused`, with the status), written
    before the answer goes out. Pure ASGI: it spawns no task and wraps no body, so the requests it lets
    pass (every claim) cost next to nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        case_id, handoff_id = _target(scope["path"])
        if case_id is None and handoff_id is None:
            await self.app(scope, receive, send)
            return

        async def send_after_audit(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in REFUSALS:
                request = Request(scope)
                principal = scope.get("state", {}).get("principal")
                await write(request.app.state.mediation.pool, principal,
                            action=f"{request.method} {request.url.path}", case_id=case_id, outcome="refused",
                            purpose=request.query_params.get("purpose"), handoff_id=handoff_id,
                            details={"status": message["status"], "method": request.method})
            await send(message)

        await self.app(scope, receive, send_after_audit)


# --- GET /v1/audit ---------------------------------------------------------------------------------

class AuditEntry(BaseModel):
    """One row of the audit trail; never personal data."""

    id: int
    at: datetime
    actor: str = Field(description="the token's subject; `-` when there was no valid token")
    roles: list[str]
    action: str
    case_id: str | None
    outcome: str = Field(description="ok, or refused (details.status: 401, 403 or 404)")
    purpose: str | None = Field(description="the reason the caller gave for reading party data")
    details: dict[str, Any]


class AuditPage(BaseModel):
    """A page of the audit trail, oldest first; pass next_cursor as cursor for the next page."""

    items: list[AuditEntry]
    next_cursor: str | None = None


router = APIRouter(prefix="/v1", tags=["audit"], responses=ERRORS)
Auditor = Annotated[Principal, Depends(require_role(*roles_for("audit")))]


def _cursor(row_id: int) -> str:
    return orjson.dumps([row_id]).hex()


def _after(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        (row_id,) = orjson.loads(bytes.fromhex(cursor))
        if isinstance(row_id, int) and not isinstance(row_id, bool):
            return row_id
    except (ValueError, TypeError, orjson.JSONDecodeError):
        pass
    raise ApiError(422, "bad_cursor", errors=[{"loc": ["query", "cursor"]}])


@router.get("/audit", response_model=AuditPage)
async def get_audit(request: Request, caller: Auditor, case_id: uuid.UUID | None = None,
                    subject: Annotated[str | None, Query(max_length=200, description="the actor")] = None,
                    since: Annotated[IsoDateTime | None, Query(alias="from")] = None,
                    until: Annotated[IsoDateTime | None, Query(alias="to", description="exclusive")] = None,
                    cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 100):
    """The audit trail of my stations (rows about their cases, or by their people), oldest first: by case,
    by subject (the actor) and by time range `[from, to)`; cursor-paginated. Auditors only."""
    after = _after(cursor)
    ctx = request.app.state.mediation
    rows = await repository.audit_trail(ctx.pool, stations=sorted(caller.stations), case_id=case_id, actor=subject,
                                        since=since, until=until, after=after, limit=limit)
    tz = zone(ctx.settings.time_zone)
    items = [{"id": r["id"], "at": local(r["at"], tz), "actor": r["actor"], "roles": list(r["roles"]),
              "action": r["action"], "case_id": r["case_id"] and str(r["case_id"]), "outcome": r["outcome"],
              "purpose": r["purpose"], "details": safe_details(r["details"])} for r in rows]
    return OrjsonResponse({"items": items, "next_cursor": _cursor(rows[-1]["id"]) if len(rows) == limit else None})
