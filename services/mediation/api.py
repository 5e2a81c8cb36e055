"""HTTP edge of mediation: the claim queue and cases, for mediators, lawyers, court liaisons and chiefs.

Every refusal has the one error shape (shared/errors.py): a code, a message in Simplified Chinese (English
with `Accept-Language: en`), and what would allow the action (roles, states, the endpoints allowed now).
Times are answered with the stations' offset; times sent without one are refused.
"""
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, Path, Query, Request
from fastapi.responses import Response
from opentelemetry import trace
from pydantic import BaseModel, Field
from starlette.routing import Route

from services.mediation import api_errors, audit, casework, parties, queue, repository, search, workbench
from services.mediation.bootstrap import MediationContext, build_context
from services.mediation.callers import channels_of
from services.mediation.domain.access import CHIEF, ROLES
from services.mediation.domain.lifecycle import Action, HandoffAction, State
from services.mediation.settings import MediationSettings
from services.mediation.views import (
    ERRORS,
    CaseOut,
    CasePage,
    CaseWithTimeline,
    HandoffLists,
    HandoffSent,
    case_json,
    handoff_json,
    local,
    zone,
)
from shared.app import context_with_relay, create_service_app
from shared.auth import Principal, require_role
from shared.error_messages import register
from shared.errors import ApiError, error_response
from shared.http import OrjsonResponse
from shared.times import IsoDate, IsoDateTime

register({
    "not_found": ("案件不存在或无权查看", "no such case, or not one you may see"),
    "forbidden": ("当前角色无权执行此操作，需要以下角色之一：{roles}", "your role may not do this; it needs one of: {roles}"),
    "claimers_only": ("只有调解员、律师和法院联络员可以认领和处理案件",
                      "only mediators, lawyers and court liaisons claim and work cases"),
    "holder_only": ("只有案件的认领人（{holder}）可以执行此操作", "only the case's holder ({holder}) may do this"),
    "court_only": ("只有法院联络员可以作出司法确认决定", "only a court liaison confirms or rejects"),
    "holder_or_chief": ("只有认领人（{holder}）或所长可以撤回案件", "only the holder ({holder}) or the station chief withdraws"),
    "breach_roles": ("只有案件的认领人、经手人或所长可以报告不履行协议",
                     "only the case's holder, whoever worked it, or the station chief reports a breach"),
    "receiver_only": ("只有接收方（{roles}）可以答复此移交", "only the receiving side ({roles}) answers this handoff"),
    "party_search_roles": ("按电话查找案件需要能查看当事人信息的角色：{roles}",
                           "searching by phone needs a role that sees party data: {roles}"),
    "empty": ("没有可认领的案件", "no case to claim"),
    "bad_cursor": ("分页游标无效", "invalid cursor"),
    "bad_phone": ("电话号码无效", "not a phone number"),
    "stale": ("案件已被他人修改，请刷新后重试", "the case changed since you read it: reload and retry"),
    "no_handoff": ("移交请求不存在", "no such handoff"),
    "no_party": ("该当事人不存在", "no such party"),
    "not_claimable": ("案件当前为“{state_zh}”{holder_zh}，不能认领", "the case is {state}{holder_en}: it cannot be claimed"),
    "illegal_transition": ("不能对“{state_zh}”的案件执行“{action_zh}”；该操作需案件处于：{states_zh}；当前可执行：{allowed_zh}",
                           "cannot {action} a case that is {state}; it needs the case {states}; allowed now: {allowed}"),
    "handoff_waiting": ("案件的移交正等待对方答复，期间不能处理", "a handoff of this case waits for an answer"),
    "handoff_settled": ("该移交已答复，不能再次答复", "this handoff is already answered"),
    "case_closed": ("案件已结案或撤回，不能再处理", "the case is closed or withdrawn"),
    "answer_by_confirmation": ("这是司法确认申请：请通过 POST /v1/cases/{case_id}/confirmation 作出确认或驳回",
                               "this is a confirmation request: decide it with POST /v1/cases/{case_id}/confirmation"),
})

router = APIRouter(prefix="/v1", tags=["cases"], responses=ERRORS)
# The caller, kept on the request for the refusal audit and the 409 handler (shared/auth.py).
_AUTHENTICATED = require_role(*ROLES)
Caller = Annotated[Principal, Depends(_AUTHENTICATED)]


def _ctx(request: Request) -> MediationContext:
    return request.app.state.mediation


def _tz(request: Request):
    return zone(_ctx(request).settings.time_zone)


def _render(request: Request, caller: Principal, case: Any, case_parties: list | None = None) -> dict[str, Any]:
    shows = parties.may_read_parties(caller, case)
    body = case_json(dict(case), _tz(request), subject=caller.subject, roles=caller.roles,
                     parties=case_parties if shows else None)
    if not shows:
        body["party"] = None
    return body


def _with_etag(body: dict[str, Any], version: int, status: int = 200) -> OrjsonResponse:
    return OrjsonResponse(body, status_code=status, headers={"ETag": f'"{version}"'})


@router.get("/queue", response_model=CasePage)
async def get_queue(request: Request, caller: Caller, cursor: str | None = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50):
    """Claimable cases of my stations and channels: high risk first, then oldest; cursor-paginated."""
    try:
        after = queue.parse_cursor(cursor) if cursor else None
    except (ValueError, TypeError):
        raise ApiError(422, "bad_cursor", errors=[{"loc": ["query", "cursor"]}]) from None
    rows = await queue.page(_ctx(request), caller, after=after, limit=limit)
    items = [_render(request, caller, dict(r) | {"party": None}) for r in rows]
    return OrjsonResponse({"items": items,
                           "next_cursor": queue.cursor_of(rows[-1]) if len(rows) == limit else None})


@router.get("/cases", response_model=CasePage)
async def get_cases(
        request: Request, caller: Caller,
        mine: Annotated[bool, Query(description="cases I hold, handed off or closed: any I worked")] = False,
        state: Annotated[list[State] | None, Query(description="one or more states")] = None,
        channel: str | None = None, escalated: bool | None = None,
        overdue_confirmation: Annotated[bool, Query(description="agreements past the 30 days for confirmation")] = False,
        incident_number: str | None = None, source: str | None = None,
        incident_id: Annotated[uuid.UUID | None, Query(description="as intake answered it")] = None,
        phone: Annotated[str | None, Query(description="the caller's or a party's phone, matched by HMAC")] = None,
        received_from: IsoDateTime | None = None, received_to: IsoDateTime | None = None,
        cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50):
    """Find cases I may see: mine, by state, channel, escalation (the chief's list), overdue confirmation,
    incident (number, source, or intake's incident_id), a caller's or party's phone, or the time received;
    newest first, cursor-paginated. Searches by roles that see party data are audited."""
    try:
        after = search.parse_cursor(cursor) if cursor else None
    except (ValueError, TypeError):
        raise ApiError(422, "bad_cursor", errors=[{"loc": ["query", "cursor"]}]) from None
    filters = search.Filters(mine=mine, states=tuple(s.value for s in state) if state else None, channel=channel,
                             escalated=escalated, overdue_confirmation=overdue_confirmation,
                             incident_number=incident_number, source=source, incident_id=incident_id, phone=phone,
                             received_from=received_from, received_to=received_to)
    rows = await search.search(_ctx(request), caller, filters, after=after, limit=limit)
    shown = None
    if any(parties.may_read_parties(caller, r) for r in rows):
        async with _ctx(request).pool.acquire() as conn:
            shown = await parties.of_cases(conn, [r["id"] for r in rows])
    items = [_render(request, caller, r, shown[r["id"]] if shown else None) for r in rows]
    return OrjsonResponse({"items": items, "next_cursor": search.cursor_of(rows[-1]) if len(rows) == limit else None})


@router.post("/cases/{case_id}/claim", response_model=CaseOut)
async def post_claim(request: Request, case_id: uuid.UUID, caller: Caller):
    """Claim a case. Of concurrent claimers exactly one wins; the others get 409 naming the holder."""
    case = await queue.claim(_ctx(request), caller, case_id)
    return _with_etag(_render(request, caller, case), case["version"])


CLAIM_NEXT_PATH = "/queue/claim-next"


@router.post(CLAIM_NEXT_PATH, response_model=CaseOut)
async def post_claim_next(request: Request, caller: Caller):
    """Claim the best available case for me; 404 when the queue is empty."""
    return await _claim_next(request, caller)


async def _claim_next(request: Request, caller: Principal) -> Response:
    case = await queue.claim_next(_ctx(request), caller)
    if case is None:
        return error_response(request, 404, "empty")
    return _with_etag(_render(request, caller, case), case["version"])


async def _claim_next_first(request: Request) -> Response:
    request.scope["route"] = CLAIM_NEXT_FIRST  # the request metric's and log line's route (shared/http.py)
    trace.get_current_span().update_name(f"POST {CLAIM_NEXT_FIRST.path}")  # as FastAPI names its spans
    return await _claim_next(request, await _AUTHENTICATED(request))


# post_claim_next as the router's first route, without FastAPI's route machinery (see create_app).
CLAIM_NEXT_FIRST = Route(router.prefix + CLAIM_NEXT_PATH, _claim_next_first, methods=["POST"], include_in_schema=False)


@router.post("/cases/{case_id}/release", response_model=CaseOut)
async def post_release(request: Request, case_id: uuid.UUID, caller: Caller):
    """Give my claimed case back to the queue."""
    case = await queue.release(_ctx(request), caller, case_id)
    return _with_etag(_render(request, caller, case), case["version"])


@router.get("/cases/{case_id}", response_model=CaseWithTimeline,
            responses={304: {"description": "If-None-Match names the current version: nothing changed"}})
async def get_case(request: Request, case_id: uuid.UUID, caller: Caller,
                   purpose: Annotated[str | None, Query(max_length=500, description=(
                       "why you open the case's party data: a station chief sees the parties only with one; "
                       "kept in the audit trail"))] = None):
    """A case with its parties and full timeline; the ETag is its version. Whoever worked the case keeps
    seeing it after handing it on. Parties for the roles that work the case; for a station chief only with a
    `purpose`; never for auditors. Every answer with party data is audited (who, the case, the purpose)."""
    case, timeline, shows = await search.case_with_timeline(_ctx(request), caller, case_id, purpose)
    if request.headers.get("if-none-match") == f'"{case["version"]}"':
        return Response(status_code=304, headers={"ETag": f'"{case["version"]}"'})
    for entry in timeline:
        entry["at"] = local(entry["at"], _tz(request))
    body = _render(request, caller, case) | {"timeline": timeline}
    if shows:
        async with _ctx(request).pool.acquire() as conn:
            body["parties"] = (await parties.of_cases(conn, [case_id]))[case_id]
            body["party"] = case["party"]
            await audit.write(conn, caller, action="read", case_id=case_id, purpose=purpose)
    return _with_etag(body, case["version"])


def _if_match(request: Request) -> int | None:
    value = request.headers.get("if-match", "").strip().strip('"')
    return int(value) if value.isdigit() else None


class SessionIn(BaseModel):
    """A mediation session; `at` with its offset (Beijing time: +08:00)."""

    model_config = {"json_schema_extra": {"examples": [
        {"at": "2024-05-02T10:00:00+08:00", "participants": ["王小明", "李四"], "notes": "双方到场，同意协商"}]}}

    at: IsoDateTime
    participants: list[str] = Field(min_length=1)
    notes: str = Field(default="", max_length=5000)


class AgreementIn(BaseModel):
    """An agreement: its terms, the date it takes effect and the date by which it is to be performed."""

    type: Literal["agreement"]
    terms: str = Field(min_length=1, max_length=10000)
    effective_date: IsoDate
    performance_date: IsoDate


class FailureIn(BaseModel):
    """Mediation failed, and why."""

    type: Literal["failure"]
    reason: str = Field(min_length=1, max_length=2000)


class WithdrawalIn(BaseModel):
    """The parties withdrew."""

    type: Literal["withdrawal"]
    reason: str | None = Field(default=None, max_length=2000)


OutcomeIn = Annotated[AgreementIn | FailureIn | WithdrawalIn, Field(discriminator="type")]
_OUTCOME_EXAMPLES = {
    "agreement": {"value": {"type": "agreement", "terms": "楼上住户负责维修并赔偿2000元",
                            "effective_date": "2024-05-02", "performance_date": "2024-05-20"}},
    "failure": {"value": {"type": "failure", "reason": "双方分歧较大"}},
    "withdrawal": {"value": {"type": "withdrawal", "reason": "当事人自行和解"}},
}


class DecisionIn(BaseModel):
    """A court liaison's decision on judicial confirmation."""

    model_config = {"json_schema_extra": {"examples": [
        {"decision": "confirmed", "ruling_number": "(2024)北01民特45号"},
        {"decision": "rejected", "reason": "协议内容违反法律规定"}]}}

    decision: Literal["confirmed", "rejected"]
    ruling_number: str | None = Field(default=None, max_length=100)
    reason: str | None = Field(default=None, max_length=2000)


class NoteIn(BaseModel):
    """A reason, for referral, closing, withdrawal or a reported breach."""

    model_config = {"json_schema_extra": {"examples": [{"reason": "对方未按期赔偿"}]}}

    reason: str | None = Field(default=None, max_length=2000)
    to: str | None = Field(default=None, max_length=200, description="for a referral: where to")


class HandoffIn(BaseModel):
    """Send the case to another channel or organisation."""

    model_config = {"json_schema_extra": {"examples": [
        {"to_channel": "lawyer", "reason": "涉及工资计算，请值班律师协助"},
        {"to_channel": "court", "to_organisation": "示例市北城区人民法院", "court_case_number": "(2024)北01民诉前调123号"}]}}

    to_channel: Literal["station_officer", "peoples_mediator", "lawyer", "court", "law_enforcement"]
    to_organisation: str | None = Field(default=None, max_length=200)
    court_case_number: str | None = Field(default=None, max_length=100)
    reason: str | None = Field(default=None, max_length=2000)


class AnswerIn(BaseModel):
    """Accept or reject a handoff; a rejection says why (the sender sees it)."""

    model_config = {"json_schema_extra": {"examples": [{"decision": "reject", "reason": "材料不全，请补充工资欠条"},
                                                       {"decision": "accept"}]}}

    decision: Literal["accept", "reject"]
    reason: str | None = Field(default=None, max_length=2000)


async def _act(request: Request, caller: Principal, case_id: uuid.UUID, action: Action, payload: dict):
    case = await casework.act(_ctx(request), caller, case_id, action, payload, if_match=_if_match(request))
    return _with_etag(_render(request, caller, case), case["version"])


@router.post("/cases/{case_id}/sessions", response_model=CaseOut)
async def post_session(request: Request, case_id: uuid.UUID, caller: Caller, body: SessionIn):
    """Record a mediation session (time with its offset, participants, notes)."""
    return await _act(request, caller, case_id, Action.RECORD_SESSION, body.model_dump(mode="json"))


@router.post("/cases/{case_id}/outcome", response_model=CaseOut)
async def post_outcome(request: Request, case_id: uuid.UUID, caller: Caller,
                       body: Annotated[OutcomeIn, Body(openapi_examples=_OUTCOME_EXAMPLES)]):
    """Record the outcome: an agreement (terms, effective and performance dates, all required), a failure
    (with its reason) or a withdrawal."""
    action = {"agreement": Action.REACH_AGREEMENT, "failure": Action.FAIL, "withdrawal": Action.WITHDRAW}[body.type]
    return await _act(request, caller, case_id, action, body.model_dump(mode="json"))


@router.post("/cases/{case_id}/confirmation-request", response_model=CaseOut)
async def post_confirmation_request(request: Request, case_id: uuid.UUID, caller: Caller):
    """Ask the court to confirm the agreement: the request goes to the court liaisons of the case's station
    (their GET /v1/handoffs), due 30 days after the agreement took effect (overdue is flagged). The holder
    keeps the case; the court's decision shows on it (state, ruling_number, last_handoff)."""
    return await _act(request, caller, case_id, Action.REQUEST_CONFIRMATION, {})


@router.post("/cases/{case_id}/confirmation", response_model=CaseOut)
async def post_confirmation(request: Request, case_id: uuid.UUID, caller: Caller, body: DecisionIn):
    """The court liaison confirms (with the ruling number) or rejects (with the reason)."""
    action = Action.CONFIRM if body.decision == "confirmed" else Action.REJECT_CONFIRMATION
    return await _act(request, caller, case_id, action, body.model_dump(mode="json"))


@router.post("/cases/{case_id}/parties", response_model=CaseOut, status_code=201)
async def post_party(request: Request, case_id: uuid.UUID, caller: Caller, body: parties.PartyIn):
    """Add a party (the holder): applicant, respondent or other, with name, phone and optional ID number."""
    return await _save_party(request, caller, case_id, body, None, 201)


@router.put("/cases/{case_id}/parties/{position}", response_model=CaseOut)
async def put_party(request: Request, case_id: uuid.UUID, position: Annotated[int, Path(ge=0, le=2**31 - 1)],
                    caller: Caller, body: parties.PartyIn):
    """Correct a party (the holder); position 0 is the caller."""
    return await _save_party(request, caller, case_id, body, position, 200)


async def _save_party(request: Request, caller: Principal, case_id: uuid.UUID, body: parties.PartyIn,
                      position: int | None, status: int):
    case, case_parties = await parties.save(_ctx(request), caller, case_id, body, position)
    return _with_etag(_render(request, caller, case, case_parties), case["version"], status)


@router.post("/cases/{case_id}/handoffs", status_code=201, response_model=HandoffSent)
async def post_handoff(request: Request, case_id: uuid.UUID, caller: Caller, body: HandoffIn):
    """Hand the case to the court, a lawyer, back to the station, or to the law-enforcement team. The
    receiver sees the case while deciding; you keep seeing it after, and its answer shows on the case
    (last_handoff) and in your GET /v1/handoffs (sent)."""
    handoff_id, case = await casework.request_handoff(_ctx(request), caller, case_id, **body.model_dump())
    return _with_etag({"handoff_id": str(handoff_id), "case": _render(request, caller, case)}, case["version"], 201)


@router.get("/handoffs", response_model=HandoffLists)
async def get_handoffs(request: Request, caller: Caller, sent_limit: Annotated[int, Query(ge=0, le=200)] = 20):
    """`items`: handoffs and confirmation requests waiting for my channels at my stations; `sent`: the ones
    I sent, newest first, with their answers (a rejection's reason, a ruling number)."""
    pool, tz = _ctx(request).pool, _tz(request)
    # Chiefs list every channel's handoffs (they supervise) and answer the law-enforcement ones.
    receives = channels_of(caller) | ({"law_enforcement"} if CHIEF in caller.roles else set())
    waiting = await repository.pending_handoffs(pool, sorted(caller.stations), sorted(receives))
    sent = await repository.sent_handoffs(pool, caller.subject, sorted(caller.stations), sent_limit)
    return OrjsonResponse({"items": [handoff_json(r, tz) for r in waiting], "sent": [handoff_json(r, tz) for r in sent]})


@router.post("/handoffs/{handoff_id}/answer", response_model=CaseOut)
async def post_handoff_answer(request: Request, handoff_id: uuid.UUID, caller: Caller, body: AnswerIn):
    """The receiving side accepts (becoming the holder) or rejects with a reason (back to the sender)."""
    case = await casework.answer_handoff(_ctx(request), caller, handoff_id, HandoffAction(body.decision), body.reason)
    return _with_etag(_render(request, caller, case), case["version"])


# Last: its path parameter would otherwise shadow /handoffs and /parties.
@router.post("/cases/{case_id}/{step}", response_model=CaseOut)
async def post_step(request: Request, case_id: uuid.UUID, caller: Caller,
                    step: Literal["refer", "close", "withdraw", "breach"], body: NoteIn | None = None):
    """Refer a failed case, close a case, withdraw it, or report a breach of its agreement: the case goes
    back to the queue and is escalated to the station chief (GET /v1/cases?escalated=true)."""
    action = {"refer": Action.REFER, "close": Action.CLOSE, "withdraw": Action.WITHDRAW,
              "breach": Action.REPORT_BREACH}[step]
    return await _act(request, caller, case_id, action, (body or NoteIn()).model_dump(exclude_none=True))


def create_app(settings: MediationSettings) -> FastAPI:
    """The mediation API; its lifespan opens the pool and producer and starts the event relay."""
    app = create_service_app(settings, title="Fengqiao mediation: dispute cases", routers=[router, audit.router, *workbench.routers(settings)],
                             service_lifespan=context_with_relay("mediation", build_context), no_store=True)
    api_errors.install(app)
    # Claim-next is the mediators' hot path (bench.claims): served by a plain route ahead of every other,
    # it skips matching the routes before it and FastAPI's per-request dependency solving, about a
    # quarter of its CPU. It has no parameters or body for FastAPI to validate; its errors go through
    # the same handlers, and post_claim_next, which it shadows, documents it and shares its code.
    app.router.routes.insert(0, CLAIM_NEXT_FIRST)
    app.add_middleware(audit.Refusals)
    app.add_middleware(workbench.EventStream)  # outermost: the live queue's frames skip the per-request layers
    return app

