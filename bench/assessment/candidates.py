"""The facts SQL beside its alternatives (`--candidates`), on the bench's data right after the service's own
path, each checked to give the service's result.

Nothing here changes the service: the alternatives are statements of their own, run against the bench's
database (the one exception, the service's own RELINK, runs in a transaction that is rolled back). They
show what keeping links at write time and the float8 CASE_FACTS are worth, and check that the links the
load stored are the links the consumer would keep:

- The stored links, row by row: the service's repository.RELINK, run over every key of the table inside
  a transaction that is rolled back, writes only rows whose links differ from the definition, so it must
  write none (repeat_30d, repeat_90d and the civil-to-criminal dispute's ids of every incident).
- INCIDENT_FACTS with the links computed at read time: a probe per incident of the month through the
  address and phone indexes for the latest linking dispute, as RELINK finds it.
- CASE_FACTS with numeric durations (which asyncpg decodes into Decimal) and the month's closures found
  by date_trunc over every case; and the service's CASE_FACTS with work_mem for its hash aggregate.

The row-by-row check visits every incident of the table through the indexes: minutes at national size,
so run --candidates on a small size to check the load, and at national size only to time the others.
"""
import math
import time
from dataclasses import dataclass

import asyncpg

from services.assessment import repository
from services.assessment.domain.links import REPEAT_LONG_DAYS, REPEAT_SHORT_DAYS, LinkRules

UNIT = "station_code"

# The links of the month's incidents computed when the facts are read: RELINK's lookup of the latest
# linking dispute, once per incident.
#   $1 month, $2 linking precisions, $3 crime types, $4 look-back days, $5 / $6 the repeat windows in days.
READ_TIME_LINK = """
WITH linked AS (
    SELECT c.{unit} AS unit, c.kind,
           coalesce(c.kind = 'dispute' AND p.received_at >= c.received_at - make_interval(days => $5::int), false) AS repeat_30d,
           coalesce(c.kind = 'dispute' AND p.received_at >= c.received_at - make_interval(days => $6::int), false) AS repeat_90d,
           c.kind = 'crime' AND p.source IS NOT NULL AS civil_to_criminal
    FROM incidents c
    LEFT JOIN LATERAL (
        SELECT d.source, d.received_at
        FROM incidents d
        WHERE d.kind = 'dispute' AND (d.source, d.incident_number) <> (c.source, c.incident_number)
          AND d.received_at < c.received_at
          AND d.received_at >= c.received_at - make_interval(days => CASE WHEN c.kind = 'crime' THEN $4::int ELSE $6::int END)
          AND ((d.address_key = CASE WHEN c.address_precision = ANY($2::text[]) THEN c.address_key END
                AND d.address_precision = ANY($2::text[]))
               OR d.phone_hmac = c.phone_hmac)
        ORDER BY d.received_at DESC, d.source DESC, d.incident_number DESC
        LIMIT 1
    ) AS p ON c.kind = 'dispute' OR (c.kind = 'crime' AND c.crime_type = ANY($3::text[]))
    WHERE c.month = $1 AND c.{unit} IS NOT NULL
)
SELECT unit,
       count(*) AS calls,
       count(*) FILTER (WHERE kind = 'dispute') AS disputes,
       count(*) FILTER (WHERE repeat_90d) AS repeat_disputes,
       count(*) FILTER (WHERE repeat_30d) AS repeat_disputes_30d,
       count(*) FILTER (WHERE civil_to_criminal) AS civil_to_criminal,
       count(*) FILTER (WHERE kind = 'crime') AS crimes
FROM linked GROUP BY unit
"""

# Every linking key and phone of the table, and its time span: RELINK's arguments for "all of it".
ALL_KEYS = """
SELECT array_agg(DISTINCT address_key) FILTER (WHERE address_precision = ANY($1::text[])) AS addresses,
       array_agg(DISTINCT phone_hmac) FILTER (WHERE phone_hmac IS NOT NULL) AS phones,
       min(received_at) AS first, max(received_at) AS last
FROM incidents
"""
# Incidents RELINK does not visit (no linking key, no phone) can link to nothing.
UNREACHABLE_LINKED = """
SELECT count(*) FROM incidents
WHERE (address_key IS NULL OR NOT address_precision = ANY($1::text[])) AND phone_hmac IS NULL
  AND (repeat_30d OR repeat_90d OR c2c_source IS NOT NULL)
"""
LINK_COUNTS = """
SELECT count(*) FILTER (WHERE repeat_30d) AS repeat_30d, count(*) FILTER (WHERE repeat_90d) AS repeat_90d,
       count(*) FILTER (WHERE c2c_source IS NOT NULL) AS civil_to_criminal, count(*) AS incidents
FROM incidents
"""


async def stored_links_differ(conn: asyncpg.Connection, rules: LinkRules) -> int:
    """How many incidents' stored links differ from what the consumer's RELINK computes over the whole
    table (it writes only those); its writes are rolled back."""
    precisions = list(rules.linking_precisions)
    keys = await conn.fetchrow(ALL_KEYS, precisions)
    transaction = conn.transaction()
    await transaction.start()
    try:
        status = await conn.execute(repository.RELINK, keys["addresses"] or [], keys["phones"] or [], 0,
                                    keys["first"], keys["last"], [], [], precisions, list(rules.crime_types),
                                    rules.look_back_days, REPEAT_SHORT_DAYS, REPEAT_LONG_DAYS)
    finally:
        await transaction.rollback()
    return int(status.rsplit(" ", 1)[-1])


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

    rules = LinkRules.load()
    async with pool.acquire() as conn:
        started = time.perf_counter()
        changed = await stored_links_differ(conn, rules)
        seconds = time.perf_counter() - started
        unreachable = await conn.fetchval(UNREACHABLE_LINKED, list(rules.linking_precisions))
        counts = await conn.fetchrow(LINK_COUNTS)
        note(f"stored links vs the service's RELINK over every incident ({changed + unreachable:,} differ)",
             seconds, changed == 0 and unreachable == 0)
        print(f"    of {counts['incidents']:,} incidents: {counts['repeat_30d']:,} repeat within 30 days, "
              f"{counts['repeat_90d']:,} within 90, {counts['civil_to_criminal']:,} civil-to-criminal", flush=True)

        seconds, service = await _timed(conn, repository.INCIDENT_FACTS.format(unit=UNIT), month)
        note("INCIDENT_FACTS as the service runs it now (links stored)", seconds, True)
        seconds, rows = await _timed(conn, READ_TIME_LINK.format(unit=UNIT), month, list(rules.linking_precisions),
                                     list(rules.crime_types), rules.look_back_days, REPEAT_SHORT_DAYS,
                                     REPEAT_LONG_DAYS)
        note("  links computed at read time, a probe per incident", seconds, _same(rows, service))

        case_sql = repository.CASE_FACTS.format(unit=UNIT)
        seconds, service = await _timed(conn, case_sql, month, time_zone)
        note("CASE_FACTS as the service runs it now (fetch and float conversion)", seconds, True)
        seconds, rows = await _timed(conn, NUMERIC_CASES.format(unit=UNIT), month, time_zone)
        note("  numeric durations, closures by date_trunc over every case (before)", seconds, _same(rows, service))
        async with conn.transaction():
            await conn.execute("SET LOCAL work_mem = '256MB'")
            seconds, rows = await _timed(conn, case_sql, month, time_zone)
        note("  the service's statement with SET LOCAL work_mem = '256MB'", seconds, _same(rows, service))
    return results
