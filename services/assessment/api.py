"""HTTP edge of assessment: monthly scorecards and rankings of stations, for chiefs and bureaus."""
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request

from services.assessment.domain.figures import all_figures
from services.assessment.domain.scoring import Rules, score_units
from services.assessment.facts import station_facts
from services.assessment.settings import AssessmentSettings
from shared.app import create_service_app
from shared.auth import Principal, require_role

router = APIRouter(prefix="/v1", tags=["assessment"])
Reader = Annotated[Principal, Depends(require_role("station_chief", "auditor"))]
Month = Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2024-05"])]


def _first_day(month: str) -> date:
    return date.fromisoformat(f"{month}-01")


def _figure_json(figure) -> dict:
    return {"value": figure.value, "numerator": figure.numerator, "denominator": figure.denominator,
            "rankable": figure.rankable}


async def _figures(request: Request, month: str) -> tuple[Rules, dict]:
    rules: Rules = request.app.state.rules
    settings = request.app.state.resources.settings
    async with request.app.state.resources.pool.acquire() as conn:
        facts = await station_facts(conn, _first_day(month), settings.time_zone)
    return rules, {station: all_figures(f, rules.min_samples) for station, f in facts.items()}


@router.get("/rankings")
async def get_rankings(request: Request, _reader: Reader, month: Month):
    """Stations ranked for the month under the current scoring rules; ties share a rank and say so."""
    rules, figures = await _figures(request, month)
    ranked = score_units(figures, rules)
    return {"month": month, "rules_version": rules.version, "items": [
        {"station_code": r.unit, "rank": r.rank, "score": None if r.score is None else str(r.score),
         "grade": r.grade, "candidate": r.candidate, "red_line": r.red_line, "tied_with": list(r.tied_with)}
        for r in ranked]}


@router.get("/scorecards/stations/{station_code}")
async def get_scorecard(request: Request, _reader: Reader, station_code: str, month: Month):
    """A station's month: every figure with its numerator and denominator."""
    _, figures = await _figures(request, month)
    if station_code not in figures:
        raise HTTPException(404, f"no facts for station {station_code} in {month}")
    return {"station_code": station_code, "month": month,
            "figures": {name: _figure_json(f) for name, f in figures[station_code].items()}}


def create_app(settings: AssessmentSettings) -> FastAPI:
    """The assessment API; the scoring rules load once at start."""
    app = create_service_app(settings, title="Fengqiao assessment: scorecards and rankings", routers=[router])
    app.state.rules = Rules.load()
    return app
