"""A month's facts per station, grid or officer, aggregated from the fact rows (SQL, no state kept).

Repeat disputes (30 and 90 days) and civil-to-criminal cases are linked when facts are written, by the
link rules (domain/links.py): a precise address key or the caller-phone HMAC. Callbacks, information items and patrols count in their month;
familiarity counts the distinct households visited in the 12 months up to the month's end. Every
registered unit is listed, with zero facts if it had none; units seen in facts but not registered
are listed too, without a county.
"""
from dataclasses import dataclass
from datetime import date

import asyncpg

from services.assessment.domain.figures import MonthFacts
from services.assessment.months import FAMILIARITY_MONTHS, add_months

UNASSIGNED = "unassigned"  # intake's station code for a call no rule placed
# The fact column naming each kind of unit: fixed names, never user input, in the SQL below.
UNIT_COLUMNS = {"station": "station_code", "grid": "grid_code", "officer": "officer_id"}

# The links are kept at write time (repository.RELINK); every call counts, whatever its kind.
INCIDENT_FACTS = """
SELECT {unit} AS unit,
       count(*) AS calls,
       count(*) FILTER (WHERE kind = 'dispute') AS disputes,
       count(*) FILTER (WHERE kind = 'dispute' AND repeat_90d) AS repeat_disputes,
       count(*) FILTER (WHERE kind = 'dispute' AND repeat_30d) AS repeat_disputes_30d,
       count(*) FILTER (WHERE kind = 'crime' AND c2c_source IS NOT NULL) AS civil_to_criminal,
       count(*) FILTER (WHERE kind = 'crime') AS crimes
FROM incidents WHERE month = $1 AND {unit} IS NOT NULL
GROUP BY {unit}
"""

# Durations as float8 (numeric arrays decode slowly into Decimal); the month's closures as a range of
# closed_at in the stations' zone, which cases_closed_at serves.
CASE_FACTS = """
SELECT {unit} AS unit,
       count(*) FILTER (WHERE closed_in) AS closed,
       count(*) FILTER (WHERE closed_in AND agreement) AS agreements,
       count(*) FILTER (WHERE closed_in AND NOT referred) AS closed_without_referral,
       array_agg(extract(epoch FROM first_claimed_at - created_at)::float8 / 60)
           FILTER (WHERE month = $1 AND first_claimed_at IS NOT NULL AND created_at IS NOT NULL) AS claim_minutes,
       array_agg(extract(epoch FROM closed_at - created_at)::float8 / 3600)
           FILTER (WHERE closed_in AND created_at IS NOT NULL) AS close_hours,
       coalesce(sum(sla_breaches) FILTER (WHERE month = $1), 0) AS sla_breaches,
       count(*) FILTER (WHERE month = $1 AND confirmation_requested) AS confirmations_requested,
       count(*) FILTER (WHERE month = $1 AND confirmation_requested AND confirmed) AS confirmations_confirmed,
       count(*) FILTER (WHERE due_in) AS agreements_due,
       count(*) FILTER (WHERE due_in AND breaches > 0) AS agreements_breached
FROM (SELECT *, closed_at >= ($1::timestamp AT TIME ZONE $2)
                AND closed_at < (($1 + interval '1 month')::timestamp AT TIME ZONE $2) AS closed_in,
             coalesce(date_trunc('month', performance_date)::date = $1, false) AS due_in
      FROM cases
      WHERE (month = $1 OR (closed_at >= ($1::timestamp AT TIME ZONE $2)
                            AND closed_at < (($1 + interval '1 month')::timestamp AT TIME ZONE $2))
             OR date_trunc('month', performance_date)::date = $1)
        AND {unit} IS NOT NULL) AS c
GROUP BY {unit}
"""

COMMUNITY_FACTS = """
SELECT {unit} AS unit,
       count(*) FILTER (WHERE month = $1 AND satisfaction = 'satisfied') AS callbacks_satisfied,
       count(*) FILTER (WHERE month = $1 AND satisfaction = 'basically_satisfied') AS callbacks_basically_satisfied,
       count(*) FILTER (WHERE month = $1 AND satisfaction = 'dissatisfied') AS callbacks_dissatisfied,
       count(DISTINCT household_key) FILTER (WHERE type = 'visit') AS households_visited,
       count(*) FILTER (WHERE month = $1 AND type = 'information') AS information_items,
       coalesce(sum(participants) FILTER (WHERE month = $1 AND type = 'patrol'), 0) AS group_defence_participants
FROM community_activities
WHERE month BETWEEN $2 AND $1 AND {unit} IS NOT NULL
GROUP BY {unit}
"""

UNITS = """SELECT code, name, station_code, county_code, county_name, households, residents, cohort
FROM units WHERE kind = $1"""

# The month's calls per station code: an index-only scan of incidents_month, however large the month.
MONTH_CALLS_BY_STATION = "SELECT station_code, count(*) AS calls FROM incidents WHERE month = $1 GROUP BY station_code"
REGISTERED_STATIONS = "SELECT code FROM units WHERE kind = 'station'"
# The calls of the station codes no registered station has: placed nowhere ('unassigned'), or in a code
# the reference units do not know (intake keeps a code the record named but it does not know as
# reported_station_code), by source. Reported as data quality, never ranked.
UNPLACED_CALLS = """
SELECT station_code, reported_station_code, source, count(*) AS calls
FROM incidents
WHERE month = $1 AND station_code = ANY($2::text[])
GROUP BY station_code, reported_station_code, source
"""


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
    by_station = {row["station_code"]: row["calls"] for row in await conn.fetch(MONTH_CALLS_BY_STATION, month)}
    registered = {row["code"] for row in await conn.fetch(REGISTERED_STATIONS)}
    outside = sorted(set(by_station) - registered)
    without, unknown = 0, dict[tuple[str, str], int]()
    for row in await conn.fetch(UNPLACED_CALLS, month, outside) if outside else []:
        code = row["reported_station_code"] or (None if row["station_code"] == UNASSIGNED else row["station_code"])
        if code is None:
            without += row["calls"]
        else:
            unknown[(code, row["source"])] = unknown.get((code, row["source"]), 0) + row["calls"]
    codes = sorted((UnknownCode(code, source, calls) for (code, source), calls in unknown.items()),
                   key=lambda u: (-u.calls, u.code, u.source))
    return DataQuality(sum(by_station.values()), without, tuple(codes))

def _values(row: asyncpg.Record, *, skip: tuple[str, ...] = ("unit",)) -> dict:
    return {key: value for key, value in row.items() if key not in skip}


async def unit_facts(conn: asyncpg.Connection, month: date, kind: str,
                     time_zone: str) -> tuple[dict[str, MonthFacts], dict[str, Unit]]:
    """Every unit's facts of the month (its first day, in the stations' zone), and who each unit is."""
    unit = UNIT_COLUMNS[kind]
    found: dict[str, dict] = {}
    units: dict[str, Unit] = {}
    for row in await conn.fetch(UNITS, kind):
        units[row["code"]] = Unit(kind, row["code"], row["name"], row["station_code"], row["county_code"],
                                  row["county_name"], row["cohort"])
        found[row["code"]] = {"households_registered": row["households"], "residents": row["residents"]}
    for row in await conn.fetch(INCIDENT_FACTS.format(unit=unit), month):
        found.setdefault(row["unit"], {}).update(_values(row))
    for row in await conn.fetch(CASE_FACTS.format(unit=unit), month, time_zone):
        found.setdefault(row["unit"], {}).update(
            _values(row, skip=("unit", "claim_minutes", "close_hours")),
            claim_minutes=[max(float(v), 0.0) for v in row["claim_minutes"] or ()],
            close_hours=[max(float(v), 0.0) for v in row["close_hours"] or ()])
    for row in await conn.fetch(COMMUNITY_FACTS.format(unit=unit), month, add_months(month, 1 - FAMILIARITY_MONTHS)):
        found.setdefault(row["unit"], {}).update(_values(row))
    facts = {}
    for code, values in found.items():
        # Visits to more households than are registered (a stale register) count as all of them.
        values["households_visited"] = min(values.get("households_visited", 0),
                                           values.get("households_registered", 0))
        facts[code] = MonthFacts(**values)
        units.setdefault(code, Unit(kind, code, station_code=code if kind == "station" else None))
    return facts, units
