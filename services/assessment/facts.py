"""A month's facts per station, aggregated from the incident and case rows (pure SQL, no state).

Repeat disputes and civil-to-criminal cases are linked by normalised address key or caller-phone
HMAC within the 90 days before. Community inputs (callbacks, visits, information, group defence)
and registered households and residents have no source yet, so those figures stay unrankable.
"""
from datetime import date

import asyncpg

from services.assessment.domain.figures import MonthFacts

LINK_DAYS = 90

STATION_FACTS = """
WITH month_incidents AS (
    SELECT * FROM incidents WHERE month = $1
), linked AS (
    SELECT i.station_code, i.kind,
           EXISTS (SELECT 1 FROM incidents d
                   WHERE d.kind = 'dispute' AND (d.source, d.incident_number) <> (i.source, i.incident_number)
                     AND d.received_at < i.received_at AND d.received_at >= i.received_at - make_interval(days => $2)
                     AND ((i.address_key IS NOT NULL AND d.address_key = i.address_key)
                          OR (i.phone_hmac IS NOT NULL AND d.phone_hmac = i.phone_hmac))) AS follows_dispute
    FROM month_incidents i
)
SELECT station_code,
       count(*) FILTER (WHERE kind = 'dispute') AS disputes,
       count(*) FILTER (WHERE kind = 'dispute' AND follows_dispute) AS repeat_disputes,
       count(*) FILTER (WHERE kind = 'crime' AND follows_dispute) AS civil_to_criminal,
       count(*) FILTER (WHERE kind = 'crime') AS crimes
FROM linked GROUP BY station_code
"""

STATION_CASES = """
SELECT station_code,
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
WHERE month = $1 OR closed_in
GROUP BY station_code
"""


async def station_facts(conn: asyncpg.Connection, month: date, time_zone: str) -> dict[str, MonthFacts]:
    """Every station's facts of the month (first day of the month, in the station's zone)."""
    found: dict[str, dict] = {}
    for row in await conn.fetch(STATION_FACTS, month, LINK_DAYS):
        found.setdefault(row["station_code"], {}).update(
            {k: row[k] for k in ("disputes", "repeat_disputes", "civil_to_criminal", "crimes")})
    for row in await conn.fetch(STATION_CASES, month, time_zone):
        found.setdefault(row["station_code"], {}).update(
            {k: row[k] for k in ("closed", "agreements", "closed_without_referral", "sla_breaches",
                                 "confirmations_requested", "confirmations_confirmed")},
            claim_minutes=[max(float(v), 0.0) for v in row["claim_minutes"] or ()],
            close_hours=[max(float(v), 0.0) for v in row["close_hours"] or ()])
    return {station: MonthFacts(**values) for station, values in found.items()}
