"""HTTP edge of assessment: scorecards, rankings, trends, exports and publication for chiefs and bureaus,
and the community inputs (callbacks, visits, information items, group defence) only assessment keeps."""
import uuid
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from services.assessment import dashboard, export, handlers, repository
from services.assessment.bootstrap import AssessmentContext, build_context
from services.assessment.domain.months import months_between
from services.assessment.ranking import Item, MonthRanking, month_ranking
from services.assessment.settings import AssessmentSettings
from shared.app import context_with_relay, create_service_app
from shared.auth import Principal, require_role
from shared.error_messages import register
from shared.errors import ApiError, FieldErrors, english
from shared.events.community import ActivityData

register({
    "unknown_unit_kind": ("未知的单位类型 {kind}，应为 {kinds} 之一", "unknown kind of unit {kind}; expected one of {kinds}"),
    "no_unit_month": ("{month} 没有该单位（{kind} {code}）的数据，或无权查看", "no {kind} {code} in {month}"),
    "no_unit_between": ("{first} 至 {last} 没有该单位（{kind} {code}）的数据，或无权查看",
                        "no {kind} {code} between {first} and {last}"),
    "foreign_station": ("令牌不包含这些派出所：{stations}", "not a station of this token: {stations}"),
})
router = APIRouter(prefix="/v1", tags=["assessment"])
Reader = Annotated[Principal, Depends(require_role("station_chief", "auditor"))]
Publisher = Annotated[Principal, Depends(require_role("auditor"))]
Recorder = Annotated[Principal, Depends(require_role("station_chief", "feed"))]
# Years 1900-2099: year 0000 is no date, and 9999-12 has no next month to end a range with (both were 500s).
MONTH = r"^(19|20)\d{2}-(0[1-9]|1[0-2])$"
Month = Annotated[str, Query(pattern=MONTH, examples=["2024-05"])]
Kind = Annotated[Literal["station", "grid", "officer"], Query(description="which units to rank")]
County = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9-]{1,32}$", description="a county code; none: the city")]
KINDS = {"stations": "station", "grids": "grid", "officers": "officer"}
MAX_TREND_MONTHS = 36
MAX_ACTIVITIES = 5000


class CsvResponse(PlainTextResponse):
    """What the OpenAPI document says a CSV export is."""

    media_type = "text/csv"


def _first_day(month: str) -> date:
    return date.fromisoformat(f"{month}-01")


def _context(request: Request) -> AssessmentContext:
    return request.app.state.assessment


async def _ranking(request: Request, month: date, kind: str, county: str | None) -> MonthRanking:
    ctx = _context(request)
    async with ctx.pool.acquire() as conn:
        return await month_ranking(conn, month, kind, ctx.rules, ctx.settings.time_zone, county)


def _text(value) -> str | None:
    return None if value is None else str(value)


def _item_json(item: Item) -> dict:
    r = item.ranked
    return {"unit": item.unit.code, "name": item.unit.name, "station_code": item.unit.station_code,
            "county_code": item.unit.county_code, "county_name": item.unit.county_name, "cohort": item.unit.cohort,
            "rank": r.rank, "score": _text(r.score), "grade": r.grade, "candidate": r.candidate,
            "red_line": r.red_line, "tied_with": list(r.tied_with), "rankable_weight": str(r.rankable_weight),
            "not_rankable": None if item.reason is None else {"reason": item.reason, "figures": list(r.not_rankable)},
            "contributions": [{"figure": c.figure, "value": c.value, "weight_share": str(c.weight_share),
                               "percentile": _text(c.percentile), "attainment": _text(c.attainment),
                               "target": _text(c.target), "floor": _text(c.floor), "pass_at": _text(c.pass_at),
                               "points": str(c.points)} for c in r.contributions]}


def _quality_json(ranking: MonthRanking) -> dict:
    q = ranking.data_quality
    return {"calls": q.calls, "without_unit": q.without_unit,
            "unknown_codes": [{"code": u.code, "source": u.source, "calls": u.calls} for u in q.unknown_codes]}


def _figures_json(item: Item) -> dict:
    return {name: {"value": f.value, "numerator": f.numerator, "denominator": f.denominator, "rankable": f.rankable}
            for name, f in item.figures.items()}


async def _publication(request: Request, ranking: MonthRanking) -> dict | None:
    """The newest publication of the ranking's month, kind and scope, and whether facts changed since."""
    async with _context(request).pool.acquire() as conn:
        row = await repository.latest_publication(conn, ranking.month, ranking.kind, ranking.scope)
    if row is None:
        return None
    return {"publication_id": str(row.publication_id), "published_at": row.published_at.isoformat(),
            "published_by": row.published_by, "rules_version": row.rules_version,
            "revised": row.revised_at is not None,
            "revised_at": row.revised_at.isoformat() if row.revised_at else None,
            "source_offsets": row.source_offsets}


@router.get("/rankings")
async def get_rankings(request: Request, _reader: Reader, month: Month, kind: Kind = "station",
                       county: County = None):
    """A month's registered units ranked under the current scoring rules, in one county or the whole city,
    within each cohort of similar stations: scores against the rules' targets; equal scores ordered by the
    rules' tie-break, ties that survive it share a rank and name each other. Registered units without
    enough data are listed apart in `not_rankable`; calls held by no registered station are `data_quality`."""
    ranking = await _ranking(request, _first_day(month), kind, county)
    return {"month": month, "kind": kind, "scope": ranking.scope, "rules_version": ranking.rules_version,
            "publication": await _publication(request, ranking), "items": [_item_json(i) for i in ranking.items],
            "not_rankable": [_item_json(i) for i in ranking.not_rankable], "data_quality": _quality_json(ranking)}


@router.get("/rankings.csv", response_class=CsvResponse)
async def get_rankings_csv(request: Request, _reader: Reader, month: Month, kind: Kind = "station",
                           county: County = None):
    """The ranking as CSV (UTF-8 with a byte-order mark, so spreadsheet programs read the Chinese names)."""
    ranking = await _ranking(request, _first_day(month), kind, county)
    name = f"ranking-{kind}-{ranking.scope}-{month}.csv"
    return PlainTextResponse("\ufeff" + export.ranking_csv(ranking), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/reports/rankings", response_class=HTMLResponse)
async def get_report(request: Request, _reader: Reader, month: Month, kind: Kind = "station", county: County = None):
    """A printable HTML report of the ranking and every unit's figures (English with Accept-Language: en)."""
    ranking = await _ranking(request, _first_day(month), kind, county)
    return HTMLResponse(export.ranking_report(ranking, await _publication(request, ranking),
                                              "en" if english(request) else "zh"))


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    month: str = Field(pattern=MONTH, examples=["2024-05"])
    kind: Literal["station", "grid", "officer"] = "station"
    county: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,32}$")


@router.post("/rankings/publish", status_code=201)
async def publish_ranking(request: Request, principal: Publisher, body: PublishRequest):
    """Publish the month's ranking as it stands: stored with its rules version and the source offsets of
    the facts, and announced on assessment.ranking.v1. A later event that changes the month marks it revised."""
    published = await handlers.publish_ranking(_context(request), _first_day(body.month), body.kind, body.county,
                                               by=principal.subject)
    event = published.event
    return {"publication_id": event.publication_id, "month": event.month, "kind": event.kind,
            "scope": event.scope, "rules_version": event.rules_version, "units": len(event.items),
            "source_offsets": [o.model_dump() for o in event.source_offsets], "announced": published.announced}


def _allowed(principal: Principal, item: Item) -> bool:
    """Bureau auditors read every unit; a station chief reads the units of the stations in the token."""
    return "auditor" in principal.roles or item.unit.station_code in principal.stations


async def _unit(request: Request, principal: Principal, kinds: str, code: str, month: date) -> tuple[str, Item]:
    """The unit ranked in its county (the rank that matters to it), or in the city if it is not registered."""
    if kinds not in KINDS:
        raise ApiError(404, "unknown_unit_kind", params={"kind": kinds, "kinds": ", ".join(KINDS)})
    kind = KINDS[kinds]
    async with _context(request).pool.acquire() as conn:
        county = await repository.county_of(conn, kind, code)
    item = (await _ranking(request, month, kind, county)).item(code)
    if item is None or not _allowed(principal, item):
        raise ApiError(404, "no_unit_month", params={"kind": kind, "code": code, "month": f"{month:%Y-%m}"})
    return kind, item


@router.get("/scorecards/{kinds}/{code}")
async def get_scorecard(request: Request, principal: Reader, kinds: str, code: str, month: Month):
    """A station's, grid's or officer's month: every figure with its numerator and denominator, and the
    score, grade and rank among its cohort in its county with each figure's target, floor and points; for a
    red line, each crime and the dispute it followed (ids only)."""
    kind, item = await _unit(request, principal, kinds, code, _first_day(month))
    ctx = _context(request)
    async with ctx.pool.acquire() as conn:
        chains = await repository.red_line_chains(conn, kind, _first_day(month), code)
    return {"kind": kind, "unit": code, "month": month, "rules_version": ctx.rules.version,
            **{k: v for k, v in _item_json(item).items() if k != "unit"},
            "figures": _figures_json(item),
            "red_line_chains": [{"crime": {"source": c.source, "incident_number": c.incident_number},
                                 "dispute": {"source": c.c2c_source, "incident_number": c.c2c_incident_number}}
                                for c in chains]}


@router.get("/trends/{kinds}/{code}")
async def get_trend(request: Request, principal: Reader, kinds: str, code: str,
                    first: Annotated[str, Query(alias="from", pattern=MONTH)],
                    last: Annotated[str, Query(alias="to", pattern=MONTH)]):
    """Score, grade, rank (in the county) and figures of a unit month by month, from..to inclusive."""
    months = months_between(_first_day(first), _first_day(last))
    if not months or len(months) > MAX_TREND_MONTHS:
        raise FieldErrors([{"loc": ["query", "to"], "type": "value_error",
                            "msg": f"to must be from or later, at most {MAX_TREND_MONTHS} months on",
                            "msg_zh": f"须不早于 from，且最多晚 {MAX_TREND_MONTHS} 个月"}])
    kind, items = KINDS.get(kinds), list[dict[str, Any]]()
    for month in months:
        try:
            _, item = await _unit(request, principal, kinds, code, month)
        except ApiError as exc:
            if exc.status != 404 or kind is None:
                raise
            items.append({"month": f"{month:%Y-%m}", "score": None, "rank": None, "grade": None, "figures": None})
            continue
        r = item.ranked
        items.append({"month": f"{month:%Y-%m}", "score": None if r.score is None else str(r.score),
                      "rank": r.rank, "grade": r.grade, "figures": _figures_json(item)})
    if all(i["figures"] is None for i in items):
        raise ApiError(404, "no_unit_between", params={"kind": kind, "code": code, "first": first, "last": last})
    return {"kind": kind, "unit": code, "from": first, "to": last, "items": items}


@router.post("/community/activities", status_code=201)
async def record_activities(request: Request, principal: Recorder,
                            body: Annotated[list[ActivityData], Body(min_length=1, max_length=MAX_ACTIVITIES)]):
    """Record callbacks, household visits, information items and group-defence activities (a JSON array).
    A station chief records for the stations in the token; the feed role for any. Give each activity an
    activity_id so a retry counts once; the answer says which were new and which already recorded."""
    if "feed" not in principal.roles:
        if foreign := sorted({a.station_code for a in body} - principal.stations):
            raise ApiError(403, "foreign_station", params={"stations": ", ".join(foreign)}, stations=foreign)
    ctx = _context(request)
    async with ctx.pool.acquire() as conn:
        await _refuse_unknown_units(conn, body)
    pairs = [(a.activity_id or uuid.uuid4(), a) for a in body]
    async with ctx.pool.acquire() as conn, conn.transaction():
        new = await handlers.record_activities(conn, pairs, time_zone=ctx.settings.time_zone, via="api")
    return {"recorded": len(new), "duplicates": len(pairs) - len(new),
            "items": [{"activity_id": str(i), "status": "recorded" if i in new else "duplicate"} for i, _ in pairs]}


_KIND_ZH = {"station": "派出所", "grid": "网格", "officer": "民警"}
# The fields of an activity that name a unit, and the kind of unit each names.
UNIT_FIELDS = (("station_code", "station"), ("grid_code", "grid"), ("officer_id", "officer"))


async def _refuse_unknown_units(conn, body: list[ActivityData]) -> None:
    """422 naming every activity field that names a station, grid or officer the reference units lack:
    work recorded for a unit that does not exist would count nowhere, or for a made-up one."""
    named = {(kind, getattr(a, name)) for a in body for name, kind in UNIT_FIELDS if getattr(a, name) is not None}
    known = await repository.known_units(conn, named)
    errors = [{"loc": ["body", index, name], "type": "value_error", "input": getattr(a, name),
               "msg": f"no registered {kind} {getattr(a, name)}", "msg_zh": f"没有登记的{_KIND_ZH[kind]} {getattr(a, name)}"}
              for index, a in enumerate(body) for name, kind in UNIT_FIELDS
              if getattr(a, name) is not None and (kind, getattr(a, name)) not in known]
    if errors:
        raise FieldErrors(errors[:100])


def create_app(settings: AssessmentSettings) -> FastAPI:
    """The assessment API over its context (app.state.assessment: the rules load once at start); the outbox
    of publications is relayed."""
    return create_service_app(settings, title="Fengqiao assessment: scorecards and rankings",
                              routers=[router, dashboard.router],
                              service_lifespan=context_with_relay("assessment", build_context, self_publishing=True))
