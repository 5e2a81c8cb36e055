"""A month's facts per station, grid or officer, aggregated from the fact rows (repository.py's queries, no state kept).

Repeat disputes (30 and 90 days) and civil-to-criminal cases are linked when facts are written, by the
link rules (domain/links.py): a precise address key or the caller-phone HMAC. Callbacks, information items and patrols count in their month;
familiarity counts the distinct households visited in the 12 months up to the month's end. Every
registered unit is listed, with zero facts if it had none; units seen in facts but not registered
are listed too, without a county.
"""
from dataclasses import dataclass
from datetime import date

import asyncpg

from services.assessment import repository
from services.assessment.domain.figures import MonthFacts
from services.assessment.domain.months import FAMILIARITY_MONTHS, add_months

UNASSIGNED = "unassigned"  # intake's station code for a call no rule placed


@dataclass(frozen=True)
class Unit:
    """Who a unit is: code, name, its county and its cohort of similar stations (county None: not registered)."""
    kind: str
    code: str
    name: str | None = None
    station_code: str | None = None
    county_code: str | None = None
    county_name: str | None = None
    cohort: str | None = None

    @property
    def registered(self) -> bool:
        """In the reference units; only these are ranked."""
        return self.county_code is not None


@dataclass(frozen=True)
class UnknownCode:
    """Calls of the month held by a station code the reference units do not know."""
    code: str
    source: str
    calls: int


@dataclass(frozen=True)
class DataQuality:
    """What the month's ranking cannot hold: calls placed in no station, or in codes that are not stations."""
    calls: int  # every call of the month
    without_unit: int  # placed in no station at all
    unknown_codes: tuple[UnknownCode, ...]  # most calls first


async def data_quality(conn: asyncpg.Connection, month: date) -> DataQuality:
    """The month's calls without a registered station, by code and source."""
    by_station = await repository.calls_by_station(conn, month)
    outside = sorted(set(by_station) - await repository.registered_stations(conn))
    without, unknown = 0, dict[tuple[str, str], int]()
    for row in await repository.unplaced_calls(conn, month, outside):
        code = row.reported_station_code or (None if row.station_code == UNASSIGNED else row.station_code)
        if code is None:
            without += row.calls
        else:
            unknown[(code, row.source)] = unknown.get((code, row.source), 0) + row.calls
    codes = sorted((UnknownCode(code, source, calls) for (code, source), calls in unknown.items()),
                   key=lambda u: (-u.calls, u.code, u.source))
    return DataQuality(sum(by_station.values()), without, tuple(codes))


async def unit_facts(conn: asyncpg.Connection, month: date, kind: str,
                     time_zone: str) -> tuple[dict[str, MonthFacts], dict[str, Unit]]:
    """Every unit's facts of the month (its first day, in the stations' zone), and who each unit is."""
    found: dict[str, dict] = {}
    units: dict[str, Unit] = {}
    for u in await repository.reference_units(conn, kind):
        units[u.code] = Unit(kind, u.code, u.name, u.station_code, u.county_code, u.county_name, u.cohort)
        found[u.code] = {"households_registered": u.households, "residents": u.residents}
    for row in await repository.incident_facts(conn, kind, month):
        found.setdefault(row.unit, {}).update(row.values)
    for row in await repository.case_facts(conn, kind, month, time_zone):
        found.setdefault(row.unit, {}).update(
            row.values, claim_minutes=[max(float(v), 0.0) for v in row.values["claim_minutes"] or ()],
            close_hours=[max(float(v), 0.0) for v in row.values["close_hours"] or ()])
    since = add_months(month, 1 - FAMILIARITY_MONTHS)
    for row in await repository.community_facts(conn, kind, month, since):
        found.setdefault(row.unit, {}).update(row.values)
    facts = {}
    for code, values in found.items():
        # Visits to more households than are registered (a stale register) count as all of them.
        values["households_visited"] = min(values.get("households_visited", 0),
                                           values.get("households_registered", 0))
        facts[code] = MonthFacts(**values)
        units.setdefault(code, Unit(kind, code, station_code=code if kind == "station" else None))
    return facts, units
