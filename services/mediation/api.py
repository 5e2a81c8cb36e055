"""HTTP edge of mediation: the claim queue and cases, for mediators, lawyers, court liaisons and chiefs.

Error messages are in Simplified Chinese, in English with `Accept-Language: en`.
"""
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, model_validator

from services.mediation import casework, handlers, repository
from services.mediation.bootstrap import build_context
from services.mediation.casework import VersionMismatch
from services.mediation.domain.lifecycle import (
    STATE_LABELS_ZH,
    Action,
    HandoffAction,
    State,
    allowed_actions,
    next_state,
)
from services.mediation.handlers import CaseConflict, CaseNotFound, MediationContext, NotAllowed
from services.mediation.settings import MediationSettings
from shared.app import context_with_relay, create_service_app
from shared.auth import Principal, require_role
from shared.error_messages import register
from shared.errors import english, error_response

router = APIRouter(prefix="/v1", tags=["cases"])
Caller = Annotated[Principal, Depends(require_role("mediator", "lawyer", "court_liaison", "station_chief", "auditor"))]

register({
    "not_found": ("案件不存在或无权查看", "no such case, or not one you may see"),
    "forbidden": ("当前角色无权执行此操作", "your role may not do this"),
    "empty": ("没有可认领的案件", "no case to claim"),
    "bad_cursor": ("分页游标无效", "invalid cursor"),
    "stale": ("案件已被他人修改，请刷新后重试", "the case changed since you read it: reload and retry"),
    "no_handoff": ("移交请求不存在", "no such handoff"),
})


def _english(request: Request) -> bool:
    return english(request)


def _error(request: Request, status: int, key: str, **extra: Any) -> JSONResponse:
    return error_response(request, status, key, **extra)


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
        "escalated": case["escalated"], "escalations": list(case["escalations"]),
        "agreement": case.get("agreement"), "court_case_number": case.get("court_case_number"),
        "ruling_number": case.get("ruling_number"), "handoff_pending": case["handoff_pending"],
        "confirmation_due": case["confirmation_due"] and case["confirmation_due"].isoformat(),
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
    """Run a handler call and turn its domain errors into 403/404/409/412 answers."""
    try:
        return await work
    except NotAllowed:
        return _error(request, 403, "forbidden")
    except CaseNotFound:
        return _error(request, 404, "not_found")
    except CaseConflict as exc:
        return _conflict(request, exc)
    except VersionMismatch as exc:
        return _error(request, 412, "stale", version=exc.current)
    except LookupError:
        return _error(request, 404, "no_handoff")


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


def _if_match(request: Request) -> int | None:
    value = request.headers.get("if-match", "").strip().strip('"')
    return int(value) if value.isdigit() else None


class SessionIn(BaseModel):
    """A mediation session."""

    at: datetime
    participants: list[str] = Field(min_length=1)
    notes: str = Field(default="", max_length=5000)


class OutcomeIn(BaseModel):
    """How mediation ended: an agreement with its terms, a failure with a reason, or a withdrawal."""

    type: Literal["agreement", "failure", "withdrawal"]
    terms: str | None = Field(default=None, max_length=10000)
    effective_date: date | None = None
    performance_date: date | None = None
    reason: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _complete(self) -> "OutcomeIn":
        if self.type == "agreement" and not (self.terms and self.effective_date):
            raise ValueError("an agreement needs its terms and effective_date")
        if self.type == "failure" and not self.reason:
            raise ValueError("a failure needs a reason")
        return self


class DecisionIn(BaseModel):
    """A court liaison's decision on judicial confirmation."""

    decision: Literal["confirmed", "rejected"]
    ruling_number: str | None = Field(default=None, max_length=100)
    reason: str | None = Field(default=None, max_length=2000)


class NoteIn(BaseModel):
    """A reason, for referral, closing, withdrawal or a reported breach."""

    reason: str | None = Field(default=None, max_length=2000)
    to: str | None = Field(default=None, max_length=200, description="for a referral: where to")


class HandoffIn(BaseModel):
    """Send the case to another channel or organisation."""

    to_channel: Literal["station_officer", "peoples_mediator", "lawyer", "court", "law_enforcement"]
    to_organisation: str | None = Field(default=None, max_length=200)
    court_case_number: str | None = Field(default=None, max_length=100)
    reason: str | None = Field(default=None, max_length=2000)


class AnswerIn(BaseModel):
    """Accept or reject a handoff."""

    decision: Literal["accept", "reject"]
    reason: str | None = Field(default=None, max_length=2000)


async def _act(request: Request, caller: Principal, case_id: uuid.UUID, action: Action, payload: dict):
    case = await _guarded(request, casework.act(_ctx(request), caller, case_id, action, payload,
                                                if_match=_if_match(request)))
    return case if isinstance(case, JSONResponse) else _with_etag(_case_json(dict(case)), case["version"])


@router.post("/cases/{case_id}/sessions")
async def post_session(request: Request, case_id: uuid.UUID, caller: Caller, body: SessionIn):
    """Record a mediation session (time, participants, notes)."""
    return await _act(request, caller, case_id, Action.RECORD_SESSION, body.model_dump(mode="json"))


@router.post("/cases/{case_id}/outcome")
async def post_outcome(request: Request, case_id: uuid.UUID, caller: Caller, body: OutcomeIn):
    """Record the outcome: agreement (terms, effective and performance dates), failure or withdrawal."""
    action = {"agreement": Action.REACH_AGREEMENT, "failure": Action.FAIL, "withdrawal": Action.WITHDRAW}[body.type]
    return await _act(request, caller, case_id, action, body.model_dump(mode="json"))


@router.post("/cases/{case_id}/confirmation-request")
async def post_confirmation_request(request: Request, case_id: uuid.UUID, caller: Caller):
    """Ask the court to confirm the agreement; due 30 days after it took effect (overdue is flagged)."""
    return await _act(request, caller, case_id, Action.REQUEST_CONFIRMATION, {})


@router.post("/cases/{case_id}/confirmation")
async def post_confirmation(request: Request, case_id: uuid.UUID, caller: Caller, body: DecisionIn):
    """The court liaison confirms (with the ruling number) or rejects."""
    action = Action.CONFIRM if body.decision == "confirmed" else Action.REJECT_CONFIRMATION
    return await _act(request, caller, case_id, action, body.model_dump(mode="json"))


@router.post("/cases/{case_id}/handoffs", status_code=201)
async def post_handoff(request: Request, case_id: uuid.UUID, caller: Caller, body: HandoffIn):
    """Hand the case to the court, a lawyer, back to the station, or to the law-enforcement team."""
    found = await _guarded(request, casework.request_handoff(_ctx(request), caller, case_id, **body.model_dump()))
    if isinstance(found, JSONResponse):
        return found
    handoff_id, case = found
    return _with_etag({"handoff_id": str(handoff_id), "case": _case_json(dict(case))}, case["version"], 201)


@router.get("/handoffs")
async def get_handoffs(request: Request, caller: Caller):
    """Handoffs waiting for my channels and stations."""
    rows = await _ctx(request).pool.fetch(repository.PENDING_HANDOFFS, sorted(caller.stations),
                                          sorted(handlers._channels(caller) | (
                                              {"law_enforcement"} if "station_chief" in caller.roles else set())))
    return {"items": [{k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in dict(r).items()} for r in rows]}


@router.post("/handoffs/{handoff_id}/answer")
async def post_handoff_answer(request: Request, handoff_id: uuid.UUID, caller: Caller, body: AnswerIn):
    """The receiving side accepts (becoming the holder) or rejects with a reason."""
    case = await _guarded(request, casework.answer_handoff(_ctx(request), caller, handoff_id,
                                                           HandoffAction(body.decision), body.reason))
    return case if isinstance(case, JSONResponse) else _with_etag(_case_json(dict(case)), case["version"])


# Last: its path parameter would otherwise shadow /handoffs.
@router.post("/cases/{case_id}/{step}")
async def post_step(request: Request, case_id: uuid.UUID, caller: Caller,
                    step: Literal["refer", "close", "withdraw", "breach"], body: NoteIn | None = None):
    """Refer a failed case, close a case, withdraw it, or report a breach of its agreement (reopens it)."""
    action = {"refer": Action.REFER, "close": Action.CLOSE, "withdraw": Action.WITHDRAW,
              "breach": Action.REPORT_BREACH}[step]
    return await _act(request, caller, case_id, action, (body or NoteIn()).model_dump(exclude_none=True))


def create_app(settings: MediationSettings) -> FastAPI:
    """The mediation API; its lifespan opens the pool and producer and starts the event relay."""
    return create_service_app(settings, title="Fengqiao mediation: dispute cases", routers=[router],
                              service_lifespan=context_with_relay("mediation", build_context))
