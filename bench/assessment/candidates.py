"""The facts SQL beside its alternatives (`--candidates`), on the bench's data right after the service's own
path, each checked to give the service's result.

Nothing here changes the service: the alternatives are statements of their own, run against the bench's
database. They are the statements the service ran before it kept links at write time (migration 0003)
and before its CASE_FACTS took float8 durations and a closed_at range, so every run shows what those
changes are worth, and checks that the links the load stored equal the read-time definition:

- INCIDENT_FACTS with the link computed at read time: a probe per incident of the month through the
  address and phone indexes for a dispute in the 90 days before.
- CASE_FACTS with numeric durations (which asyncpg decodes into Decimal) and the month's closures found
  by date_trunc over every case; and the service's CASE_FACTS with work_mem for its hash aggregate.
"""
import math
import time
from dataclasses import dataclass

import asyncpg

from services.assessment import facts
from services.assessment.months import LINK_DAYS

UNIT = "station_code"

READ_TIME_LINK = """
WITH month_incidents AS (
    SELECT * FROM incidents WHERE month = $1 AND {unit} IS NOT NULL
), linked AS (
    SELECT i.{unit} AS unit, i.kind,
           EXISTS (SELECT 1 FROM incidents d
                   WHERE d.kind = 'dispute' AND (d.source, d.incident_number) <> (i.source, i.incident_number)
                     AND d.received_at < i.received_at AND d.received_at >= i.received_at - make_interval(days => $2)
                     AND ((i.address_key IS NOT NULL AND d.address_key = i.address_key)
                          OR (i.phone_hmac IS NOT NULL AND d.phone_hmac = i.phone_hmac))) AS follows_dispute
    FROM month_incidents i
)
SELECT unit,
       count(*) FILTER (WHERE kind = 'dispute') AS disputes,
       count(*) FILTER (WHERE kind = 'dispute' AND follows_dispute) AS repeat_disputes,
       count(*) FILTER (WHERE kind = 'crime' AND follows_dispute) AS civil_to_criminal,
       count(*) FILTER (WHERE kind = 'crime') AS crimes
FROM linked GROUP BY unit
"""

NUMERIC_CASES = """
SELECT {unit} AS unit,
       count(*) FILTER (WHERE closed_in) AS closed,
       count(*) FILTER (WHERE closed_in AND agreement) AS agreements,
       count(*) FILTER (WHERE closed_in AND NOT referred) AS closed_without_referral,
       array_agg(extract(epoch FROM first_claimed_at - created_at) / 60)
           FILTER (WHERE month = $1 AND first_claimed_at IS NOT NULL AND created_at IS NOT NULL) AS claim_minutes,
       array_agg(extract(epoch FROM closed_at - created_at) / 3600)
           FILTER (WHERE closed_in AND created_at IS NOT NULL) AS close_hours,
       coalesce(sum(sla_breaches) FILTER (WHERE month = $1), 0) AS sla_breaches,
       count(*) FILTER (WHERE month = $1 AND confirmation_requested) AS confirmations_requested,
       count(*) FILTER (WHERE month = $1 AND confirmation_requested AND confirmed) AS confirmations_confirmed
FROM (SELECT *, closed_at IS NOT NULL AND date_trunc('month', closed_at AT TIME ZONE $2)::date = $1 AS closed_in
      FROM cases) AS c
WHERE (month = $1 OR closed_in) AND {unit} IS NOT NULL
GROUP BY {unit}
"""


@dataclass
class Result:
    """One measured statement."""

    name: str
    seconds: float
    equal: bool


def _rows(rows: list[asyncpg.Record]) -> dict[str, dict]:
    """By unit, with duration samples as sorted floats (numeric and float8 differ in the last digits)."""
    found = {}
    for row in rows:
        values = dict(row)
        for key in ("claim_minutes", "close_hours"):
            if key in values:
                values[key] = sorted(float(v) for v in values[key] or ())
        found[values.pop("unit")] = values
    return found


def _same(mine: dict[str, dict], theirs: dict[str, dict]) -> bool:
    if mine.keys() != theirs.keys():
        return False
    for unit, values in mine.items():
        for key, value in values.items():
            other = theirs[unit][key]
            if isinstance(value, list):
                if len(value) != len(other) or not all(
                        math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9) for a, b in zip(value, other)):
                    return False
            elif value != other:
                return False
    return True


def _args(sql: str, *args) -> tuple:
    """As many of the arguments as the statement has parameters ($1, $2, ...)."""
    return tuple(arg for position, arg in enumerate(args, start=1) if f"${position}" in sql)


async def _timed(conn: asyncpg.Connection, sql: str, *args) -> tuple[float, dict[str, dict]]:
    """Run, fetch and convert the duration samples as unit_facts does (a numeric array's cost is partly there)."""
    started = time.perf_counter()
    rows = await conn.fetch(sql, *_args(sql, *args))
    converted = [[max(float(v), 0.0) for v in row[key] or ()]
                 for row in rows for key in ("claim_minutes", "close_hours") if key in row]
    seconds = time.perf_counter() - started
    assert len(converted) >= 0
    return seconds, _rows(rows)


async def run(pool: asyncpg.Pool, month, time_zone: str) -> list[Result]:
    """Each alternative beside the service's statement, both timed in this run, results compared."""
    results: list[Result] = []

    def note(name: str, seconds: float, equal: bool) -> None:
        results.append(Result(name, seconds, equal))
        print(f"  {name:<72}{seconds:>8.2f} s  {'same result' if equal else 'DIFFERENT'}", flush=True)

    async with pool.acquire() as conn:
        seconds, service = await _timed(conn, facts.INCIDENT_FACTS.format(unit=UNIT), month, LINK_DAYS)
        note("INCIDENT_FACTS as the service runs it now", seconds, True)
        seconds, rows = await _timed(conn, READ_TIME_LINK.format(unit=UNIT), month, LINK_DAYS)
        note("  link computed at read time, a probe per incident (before migration 0003)", seconds,
             _same(rows, service))

        case_sql = facts.CASE_FACTS.format(unit=UNIT)
        seconds, service = await _timed(conn, case_sql, month, time_zone)
        note("CASE_FACTS as the service runs it now (fetch and float conversion)", seconds, True)
        seconds, rows = await _timed(conn, NUMERIC_CASES.format(unit=UNIT), month, time_zone)
        note("  numeric durations, closures by date_trunc over every case (before)", seconds, _same(rows, service))
        async with conn.transaction():
            await conn.execute("SET LOCAL work_mem = '256MB'")
            seconds, rows = await _timed(conn, case_sql, month, time_zone)
        note("  the service's statement with SET LOCAL work_mem = '256MB'", seconds, _same(rows, service))
    return results
