"""HTTP edge of intake: CAD systems post dispatch records, one or a batch, with a `feed` token."""
from collections import Counter
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from services.intake.bootstrap import IntakeContext, build_context
from services.intake.domain.profiles import FeedProfile, FieldError
from services.intake.domain.results import RecordResult
from services.intake.handlers import ingest_safely
from services.intake.parsing import BodyError, RawInput, parse_array, parse_ndjson, parse_one
from services.intake.profile_files import ProfileError
from services.intake.record_schema import fengqiao_json_record
from services.intake.settings import IntakeSettings
from shared.app import context_with_relay, create_service_app
from shared.auth import Principal, require_role
from shared.error_messages import register
from shared.errors import FieldErrors, error_response, invalid_fields
from shared.events.intake import incident_id_text
from shared.openapi import raw_body, schema_of

router = APIRouter(prefix="/v1", tags=["dispatch records"])
FeedCaller = Annotated[Principal, Depends(require_role("feed"))]


async def _context(request: Request) -> IntakeContext:
    # async, so FastAPI calls it on the loop instead of handing it to a worker thread.
    return request.app.state.intake


# What every route works with: the context the app's lifespan built (bootstrap.build_context).
Context = Annotated[IntakeContext, Depends(_context)]
ProfileName = Annotated[str, Query(description="feed profile of the body's format",
                                   examples=["fengqiao_json", "nena_eido", "cad_csv"])]
register({
    "body_too_large": ("请求体过大，请拆分后重发（{reason}）", "the body is too large: {reason}"),
    "batch_too_large": ("一批记录过多，请拆分后重发（{reason}）", "too many records in one batch: {reason}"),
    "record_conflict": ("同一警情同一版本的内容与已收记录不同：已作为拒收记录保存，原记录不变",
                        "the same incident and revision with other content: kept as rejected, the stored one stands"),
})
_NDJSON = ("application/x-ndjson", "application/ndjson", "application/jsonl")
# The handlers read the body themselves (a rejected record is kept, not just refused), so it is declared here.
_RECORD = "DispatchRecordInput"
_RECORD_BODY = raw_body({"application/json": schema_of(_RECORD, fengqiao_json_record())}, (
    "one record, in the format of the feed profile `profile` names: in fengqiao_json (the default) the "
    "record below; other profiles map their own JSON fields to it (services/intake/profiles)"))
_BATCH_BODY = raw_body({"application/json": schema_of(_RECORD, fengqiao_json_record(), array=True),
                        "application/x-ndjson": schema_of(_RECORD, fengqiao_json_record(), array=True)}, (
    "a JSON array of records, or NDJSON (one record per line; also application/ndjson, application/jsonl), "
    "each in the format of the feed profile `profile` names"))


class Problem(BaseModel):
    """One reason, with the path of the field it is about."""

    loc: list[str | int]
    msg: str
    type: str = "rejected"


class Result(BaseModel):
    """What happened to one record."""

    position: str
    status: str = Field(description="accepted, duplicate (the same revision again, same content), superseded (a "
                                    "lower revision), conflict (the same revision with different content: kept as "
                                    "rejected, the stored one stands) or rejected")
    source: str | None = None
    incident_number: str | None = None
    incident_id: str | None = Field(default=None, description="the incident's stable id, the same for every revision: "
                                                             "mediation finds the incident's case by it")
    revision: int | None = None
    change: str | None = None
    station_code: str | None = None
    kind: str | None = None
    dispute_type: str | None = None
    errors: list[Problem] = []


class BatchResult(BaseModel):
    """Counts per status and a result per record, in input order."""

    summary: dict[str, int]
    results: list[Result]


def _problems(errors: list[FieldError], prefix: list[str | int]) -> list[Problem]:
    return [Problem(loc=[*prefix, *e.field.split(".")], msg=e.message) for e in errors]


def _result(r: RecordResult) -> dict[str, Any]:
    # Plain dicts, not models: a batch answers 10,000 of them and re-validating costs more than ingesting.
    # Written out field by field (Result's fields): a comprehension over __dict__ cost twice as much.
    return {"position": r.position, "status": r.status, "source": r.source, "incident_number": r.incident_number,
            "revision": r.revision, "change": r.change, "station_code": r.station_code, "kind": r.kind,
            "dispute_type": r.dispute_type,
            "incident_id": incident_id_text(r.source, r.incident_number) if r.source and r.incident_number else None,
            "errors": [{"loc": ["body", *e.field.split(".")], "msg": e.message, "type": "rejected"}
                       for e in r.errors]}


def _unprocessable(request: Request, problems: list[Problem], **extra: Any) -> JSONResponse:
    return invalid_fields(request, [p.model_dump() for p in problems], **extra)


def _too_large(request: Request, problem: Problem) -> JSONResponse:
    return error_response(request, 413, problem.type, params={"reason": problem.msg}, errors=[problem.model_dump()])


def _chosen_profile(ctx: Context, profile: ProfileName = "fengqiao_json") -> FeedProfile:
    """The feed profile `?profile=` names, or a 422 naming the parameter."""
    try:
        return ctx.profile(profile)
    except ProfileError as exc:
        problem = Problem(loc=["query", "profile"], msg=str(exc), type="unknown_profile")
        raise FieldErrors([problem.model_dump()]) from None


Chosen = Annotated[FeedProfile, Depends(_chosen_profile)]


@router.post("/dispatch-records", response_model=Result,
             responses={409: {"description": "conflict: this revision was accepted before with other content"},
                        422: {"description": "rejected: field paths and reasons"}}, openapi_extra=_RECORD_BODY)
async def post_record(request: Request, _caller: FeedCaller, ctx: Context, chosen: Chosen):
    """Accept one record; answers after it is durable. A rejected record is kept for replay."""
    [result] = await ingest_safely(ctx, [parse_one(await request.body(), "body")], profile=chosen, channel="http")
    if result.status == "rejected":
        return _unprocessable(request, _problems(result.errors, ["body"]), result=_result(result))
    if result.status == "conflict":
        return error_response(request, 409, "record_conflict",
                              errors=[p.model_dump() | {"type": "conflict"} for p in _problems(result.errors, ["body"])],
                              result=_result(result))
    return JSONResponse(_result(result))


@router.post("/dispatch-records/batch", response_model=BatchResult,
             responses={413: {"description": "more records than the batch limit"},
                        422: {"description": "the body is not a JSON array or NDJSON"}}, openapi_extra=_BATCH_BODY)
async def post_batch(request: Request, _caller: FeedCaller, ctx: Context, chosen: Chosen):
    """Accept a JSON array or NDJSON (application/x-ndjson) of records; a result per record."""
    declared = int(request.headers.get("content-length") or 0)
    if declared > ctx.settings.max_body_bytes:
        return _too_large(request, Problem(loc=["body"], type="body_too_large", msg=(
            f"{declared} bytes; the limit is {ctx.settings.max_body_bytes}: split the batch")))
    body = await request.body()
    try:
        if request.headers.get("content-type", "").split(";")[0].strip() in _NDJSON:
            inputs = list(parse_ndjson(body))
        else:
            inputs = parse_array(body)
    except BodyError as exc:
        # Unreadable as a whole: still kept, as one rejected input, before answering.
        text = body.decode("utf-8", errors="replace")
        await ingest_safely(ctx, [RawInput("body", text, parse_error=FieldError(exc.field, str(exc)))],
                     profile=chosen, channel="http")
        return _unprocessable(request, [Problem(loc=["body"], msg=str(exc), type="malformed_body")])
    limit = ctx.settings.max_batch_records
    if len(inputs) > limit:
        return _too_large(request, Problem(loc=["body"], type="batch_too_large", msg=(
            f"{len(inputs)} records in one batch; the limit is {limit}: split the batch")))
    results = await ingest_safely(ctx, inputs, profile=chosen, channel="http") if inputs else []
    return Response(orjson.dumps({"summary": dict(Counter(r.status for r in results)),
                                  "results": [_result(r) for r in results]}), media_type="application/json")


_relaying = context_with_relay("intake", build_context, self_publishing=True)


def create_app(settings: IntakeSettings) -> FastAPI:
    """The intake API; its lifespan opens the pool and producer and loads rules and reference data."""
    return create_service_app(settings, title="Fengqiao intake: 110 dispatch feeds", routers=[router],
                              service_lifespan=_relaying,
                              no_store=True)
