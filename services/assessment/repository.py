"""Every SQL statement of the assessment database, as named constants with $n parameters, and the typed
functions the rest of the service calls them through: each returns named rows (NamedTuples), never
asyncpg records read by position."""
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple
from uuid import UUID

import asyncpg

from services.assessment.domain.links import REPEAT_LONG_DAYS, REPEAT_SHORT_DAYS, LinkRules

# The fact column naming each kind of unit: fixed names, never user input, in the SQL below.
UNIT_COLUMNS = {"station": "station_code", "grid": "grid_code", "officer": "officer_id"}


# --- facts written by the consumer and the API -------------------------------------------------------

# A revision applies only when newer: events of one incident can arrive out of order.
UPSERT_INCIDENT = """
INSERT INTO incidents (source, incident_number, revision, month, received_at, station_code, grid_code, officer_id,
                       kind, dispute_type, risk_flags, address_key, phone_hmac, address_precision, crime_type,
                       reported_station_code)
VALUES ($1, $2, $3, date_trunc('month', $4::timestamptz AT TIME ZONE $5)::date, $4, $6, $7, $8, $9, $10, $11, $12, $13,
        $14, $15, $16)
ON CONFLICT (source, incident_number) DO UPDATE SET
    revision = EXCLUDED.revision, month = EXCLUDED.month, received_at = EXCLUDED.received_at,
    station_code = EXCLUDED.station_code, grid_code = EXCLUDED.grid_code, officer_id = EXCLUDED.officer_id,
    kind = EXCLUDED.kind, dispute_type = EXCLUDED.dispute_type, risk_flags = EXCLUDED.risk_flags,
    address_key = EXCLUDED.address_key, phone_hmac = EXCLUDED.phone_hmac,
    address_precision = EXCLUDED.address_precision, crime_type = EXCLUDED.crime_type,
    reported_station_code = EXCLUDED.reported_station_code
WHERE incidents.revision < EXCLUDED.revision
"""

# The keys and time an incident had before this batch's upsert: a revision may move or re-key it, and
# the incidents linked through its old keys must be linked again.
KEYS_BEFORE = """
SELECT i.address_key, i.address_precision, i.phone_hmac, i.received_at
FROM incidents i JOIN unnest($1::text[], $2::text[]) AS b(source, incident_number) USING (source, incident_number)
"""

# Link again every incident that shares a key with the batch's incidents and falls where the batch can
# change its link: from the batch's earliest time to the longest window after its latest. Only changed
# rows are written. After every batch each incident's links equal their definition (domain/links.py),
# whatever order the events came in.
#   $1 linking address keys, $2 phone HMACs, $3 the reach in days, $4..$5 the batch's time range,
#   $6/$7 the batch's own incidents (whose keys may be gone), $8 linking precisions, $9 crime types,
#   $10 civil-to-criminal look-back days, $11/$12 the repeat windows in days (30 and 90).
# The latest earlier dispute that links is found once per incident: a window holds a link exactly when
# that dispute is inside it. An address links only at a linking precision: a CASE leaves the key NULL
# otherwise, so a street's thousands of calls are never even scanned.
RELINK = """
UPDATE incidents i SET repeat_30d = l.repeat_30d, repeat_90d = l.repeat_90d,
                       c2c_source = l.c2c_source, c2c_incident_number = l.c2c_incident_number
FROM (
    SELECT c.source, c.incident_number,
           coalesce(c.kind = 'dispute' AND p.received_at >= c.received_at - make_interval(days => $11::int), false) AS repeat_30d,
           coalesce(c.kind = 'dispute' AND p.received_at >= c.received_at - make_interval(days => $12::int), false) AS repeat_90d,
           CASE WHEN c.kind = 'crime' THEN p.source END AS c2c_source,
           CASE WHEN c.kind = 'crime' THEN p.incident_number END AS c2c_incident_number
    FROM incidents c
    LEFT JOIN LATERAL (
        SELECT d.source, d.incident_number, d.received_at
        FROM incidents d
        WHERE d.kind = 'dispute' AND (d.source, d.incident_number) <> (c.source, c.incident_number)
          AND d.received_at < c.received_at
          AND d.received_at >= c.received_at - make_interval(days => CASE WHEN c.kind = 'crime' THEN $10::int ELSE $12::int END)
          AND ((d.address_key = CASE WHEN c.address_precision = ANY($8::text[]) THEN c.address_key END
                AND d.address_precision = ANY($8::text[]))
               OR d.phone_hmac = c.phone_hmac)
        ORDER BY d.received_at DESC, d.source DESC, d.incident_number DESC
        LIMIT 1
    ) AS p ON c.kind = 'dispute' OR (c.kind = 'crime' AND c.crime_type = ANY($9::text[]))
    WHERE (c.address_key = ANY($1::text[]) OR c.phone_hmac = ANY($2::text[])
           -- the batch's own incidents, whose keys may be gone; a plain ANY pair (a superset, each row still
           -- computed exactly) keeps the index scans that a row-value IN over unnest() loses
           OR (c.source = ANY($6::text[]) AND c.incident_number = ANY($7::text[])))
      AND c.received_at >= $4::timestamptz AND c.received_at <= $5::timestamptz + make_interval(days => $3::int)
) AS l
WHERE i.source = l.source AND i.incident_number = l.incident_number
  AND (i.repeat_30d, i.repeat_90d, i.c2c_source, i.c2c_incident_number)
      IS DISTINCT FROM (l.repeat_30d, l.repeat_90d, l.c2c_source, l.c2c_incident_number)
"""

# The case's latest state by its sequence; milestones are kept whatever order their events come in.
UPSERT_CASE = """
INSERT INTO cases AS c (case_id, source, incident_number, month, received_at, station_code, grid_code, officer_id,
                        channel, state, sequence, created_at, first_claimed_at, closed_at, agreement, referred,
                        confirmation_requested, confirmed, breaches, sla_breaches, performance_date)
VALUES ($1, $2, $3, date_trunc('month', $4::timestamptz AT TIME ZONE $5)::date, $4, $6, $7, $8, $9, $10, $11,
        $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
ON CONFLICT (case_id) DO UPDATE SET
    channel = CASE WHEN EXCLUDED.sequence > c.sequence THEN EXCLUDED.channel ELSE c.channel END,
    state = CASE WHEN EXCLUDED.sequence > c.sequence THEN EXCLUDED.state ELSE c.state END,
    sequence = greatest(c.sequence, EXCLUDED.sequence),
    created_at = coalesce(least(c.created_at, EXCLUDED.created_at), c.created_at, EXCLUDED.created_at),
    first_claimed_at = coalesce(least(c.first_claimed_at, EXCLUDED.first_claimed_at), c.first_claimed_at,
                                EXCLUDED.first_claimed_at),
    closed_at = coalesce(greatest(c.closed_at, EXCLUDED.closed_at), c.closed_at, EXCLUDED.closed_at),
    agreement = c.agreement OR EXCLUDED.agreement,
    referred = c.referred OR EXCLUDED.referred,
    confirmation_requested = c.confirmation_requested OR EXCLUDED.confirmation_requested,
    confirmed = c.confirmed OR EXCLUDED.confirmed,
    breaches = c.breaches + EXCLUDED.breaches,
    sla_breaches = c.sla_breaches + EXCLUDED.sla_breaches,
    performance_date = coalesce(EXCLUDED.performance_date, c.performance_date)
"""

# A re-sent activity (same id, from the API or the topic) counts once; the ids returned are the new ones.
INSERT_ACTIVITIES = """
INSERT INTO community_activities (activity_id, type, month, occurred_at, station_code, grid_code, officer_id,
                                  case_id, satisfaction, household_key, participants, received_via)
SELECT a.id, a.type, date_trunc('month', a.at AT TIME ZONE $12)::date, a.at, a.station, a.grid, a.officer,
       a.case_id, a.satisfaction, a.household, a.participants, $13
FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::uuid[],
            $8::text[], $9::text[], $10::int[], $11::int[])
     AS a(id, type, at, station, grid, officer, case_id, satisfaction, household, participants, ord)
ORDER BY a.ord
ON CONFLICT (activity_id) DO NOTHING
RETURNING activity_id
"""

# A late event changed these months: their published rankings no longer match the facts.
MARK_REVISED = """
UPDATE publications SET revised_at = now()
WHERE revised_at IS NULL AND month = ANY($1::date[])
"""

# --- a month's facts, read for the ranking --------------------------------------------------------------

UNITS = """SELECT kind, code, name, station_code, county_code, county_name, households, residents, cohort
FROM units WHERE kind = $1"""

# The links are kept at write time (RELINK); every call counts, whatever its kind.
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

# The month's civil-to-criminal crimes of a unit, each with the dispute it followed (kept by the facts).
RED_LINE_CHAINS = """
SELECT source, incident_number, c2c_source, c2c_incident_number FROM incidents
WHERE month = $1 AND {unit} = $2 AND kind = 'crime' AND c2c_source IS NOT NULL
ORDER BY received_at, source, incident_number
"""

# Which of the codes named exist as registered units of each kind.
KNOWN_UNITS = "SELECT kind, code FROM units WHERE (kind, code) IN (SELECT * FROM unnest($1::text[], $2::text[]))"

# --- publications -----------------------------------------------------------------------------------

# The offset after the last event of every source partition the facts consumer has applied.
SOURCE_OFFSETS = """
SELECT topic, partition, max(kafka_offset) + 1 AS next_offset
FROM processed_events WHERE consumer = $1
GROUP BY topic, partition ORDER BY topic, partition
"""

INSERT_PUBLICATION = """
INSERT INTO publications (publication_id, month, kind, scope, rules_version, published_at, published_by,
                          source_offsets, items)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""

LATEST_PUBLICATION = """
SELECT publication_id, published_at, published_by, rules_version, revised_at, source_offsets
FROM publications WHERE month = $1 AND kind = $2 AND scope = $3
ORDER BY published_at DESC LIMIT 1
"""


# --- reference units and the rebuild --------------------------------------------------------------------

COUNTY_OF = "SELECT county_code FROM units WHERE kind = $1 AND code = $2"
DELETE_UNITS = "DELETE FROM units"
INSERT_UNITS = """
INSERT INTO units (kind, code, name, station_code, county_code, county_name, households, residents, cohort)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::int[],
                     $9::text[])
"""
# What the rebuild empties: the facts but for activities recorded through the API, which are on no topic,
# and the facts consumer's ledger.
EMPTY_FACTS = "TRUNCATE incidents, cases"
EMPTY_TOPIC_ACTIVITIES = "DELETE FROM community_activities WHERE received_via = 'kafka'"
EMPTY_LEDGER = "DELETE FROM processed_events WHERE consumer = $1"



# --- named rows -----------------------------------------------------------------------------------------

class IncidentFact(NamedTuple):
    """An incident revision as UPSERT_INCIDENT takes it (its month is taken in time_zone)."""
    source: str
    incident_number: str
    revision: int
    received_at: datetime
    time_zone: str
    station_code: str
    grid_code: str | None
    officer_id: str | None
    kind: str
    dispute_type: str | None
    risk_flags: list[str]
    address_key: str | None
    phone_hmac: str | None
    address_precision: str | None
    crime_type: str | None
    reported_station_code: str | None


class IncidentKeys(NamedTuple):
    """The keys and time an incident is linked by."""
    address_key: str | None
    address_precision: str | None
    phone_hmac: str | None
    received_at: datetime


class CaseFact(NamedTuple):
    """A case event as UPSERT_CASE takes it: the case's state, and the milestone the event marks."""
    case_id: str
    source: str
    incident_number: str
    received_at: datetime
    time_zone: str
    station_code: str
    grid_code: str | None
    officer_id: str | None
    channel: str
    state: str
    sequence: int
    created_at: datetime | None
    first_claimed_at: datetime | None
    closed_at: datetime | None
    agreement: bool
    referred: bool
    confirmation_requested: bool
    confirmed: bool
    breaches: int
    sla_breaches: int
    performance_date: date | None


class ActivityFact(NamedTuple):
    """A community activity as INSERT_ACTIVITIES stores it."""
    activity_id: UUID
    type: str
    occurred_at: datetime
    station_code: str
    grid_code: str | None
    officer_id: str | None
    case_id: UUID | None
    satisfaction: str | None
    household_key: str | None
    participants: int | None


class ReferenceUnit(NamedTuple):
    """A station, grid or officer of the reference units, with its county and registered population."""
    kind: str
    code: str
    name: str | None
    station_code: str | None
    county_code: str | None
    county_name: str | None
    households: int
    residents: int
    cohort: str | None


class FactRow(NamedTuple):
    """One unit's aggregates from one fact table, by MonthFacts field name."""
    unit: str
    values: dict[str, Any]


class UnplacedCalls(NamedTuple):
    """The month's calls of one station code that no registered station has, from one source."""
    station_code: str
    reported_station_code: str | None
    source: str
    calls: int


class RedLineChain(NamedTuple):
    """A civil-to-criminal crime and the dispute it followed."""
    source: str
    incident_number: str
    c2c_source: str
    c2c_incident_number: str


class PartitionOffset(NamedTuple):
    """The offset after the last event of a source partition that the facts include."""
    topic: str
    partition: int
    next_offset: int


class Publication(NamedTuple):
    """The newest publication of a month's ranking; revised_at is set once later facts changed the month."""
    publication_id: UUID
    published_at: datetime
    published_by: str
    rules_version: str
    revised_at: datetime | None
    source_offsets: list


# --- functions ------------------------------------------------------------------------------------------

async def upsert_incidents(conn: asyncpg.Connection, facts: Sequence[IncidentFact]) -> None:
    """Store incident revisions; an older revision than the one kept changes nothing."""
    await conn.executemany(UPSERT_INCIDENT, facts)


async def keys_before(conn: asyncpg.Connection, sources: list[str], numbers: list[str]) -> list[IncidentKeys]:
    """The keys the named incidents have now (before a batch's upsert)."""
    return [IncidentKeys(**r) for r in await conn.fetch(KEYS_BEFORE, sources, numbers)]


async def relink(conn: asyncpg.Connection, *, addresses: list[str], phones: list[str], first: datetime,
                 last: datetime, sources: list[str], numbers: list[str], rules: LinkRules) -> None:
    """Link again the incidents that share these keys, from first to the rules' reach after last, and the
    named incidents themselves."""
    await conn.execute(RELINK, addresses, phones, rules.reach_days, first, last, sources, numbers,
                       list(rules.linking_precisions), list(rules.crime_types), rules.look_back_days,
                       REPEAT_SHORT_DAYS, REPEAT_LONG_DAYS)


async def upsert_cases(conn: asyncpg.Connection, facts: Sequence[CaseFact]) -> None:
    """Store case events in any order: the latest state by sequence, every milestone kept."""
    await conn.executemany(UPSERT_CASE, facts)


async def insert_activities(conn: asyncpg.Connection, facts: Sequence[ActivityFact], *, time_zone: str,
                            via: str) -> set[UUID]:
    """Store activities once each; returns the ids that were new."""
    columns = [list(column) for column in zip(*facts, strict=True)]
    rows = await conn.fetch(INSERT_ACTIVITIES, *columns, list(range(len(facts))), time_zone, via)
    return {row["activity_id"] for row in rows}


async def mark_revised(conn: asyncpg.Connection, months: Iterable[date]) -> None:
    """Mark the publications of these months as no longer matching the facts."""
    await conn.execute(MARK_REVISED, sorted(months))


async def reference_units(conn: asyncpg.Connection, kind: str) -> list[ReferenceUnit]:
    """Every registered unit of a kind."""
    return [ReferenceUnit(**r) for r in await conn.fetch(UNITS, kind)]


async def incident_facts(conn: asyncpg.Connection, kind: str, month: date) -> list[FactRow]:
    """Calls, disputes, repeats and crimes per unit in the month."""
    return _fact_rows(await conn.fetch(INCIDENT_FACTS.format(unit=UNIT_COLUMNS[kind]), month))


async def case_facts(conn: asyncpg.Connection, kind: str, month: date, time_zone: str) -> list[FactRow]:
    """Closures, agreements, claim and closing times, breaches and confirmations per unit in the month."""
    return _fact_rows(await conn.fetch(CASE_FACTS.format(unit=UNIT_COLUMNS[kind]), month, time_zone))


async def community_facts(conn: asyncpg.Connection, kind: str, month: date, since: date) -> list[FactRow]:
    """Callbacks, information items and patrols per unit in the month; households visited since `since`."""
    return _fact_rows(await conn.fetch(COMMUNITY_FACTS.format(unit=UNIT_COLUMNS[kind]), month, since))


def _fact_rows(records: list[asyncpg.Record]) -> list[FactRow]:
    return [FactRow(r["unit"], {key: value for key, value in r.items() if key != "unit"}) for r in records]


async def calls_by_station(conn: asyncpg.Connection, month: date) -> dict[str, int]:
    """The month's calls per station code."""
    return {r["station_code"]: r["calls"] for r in await conn.fetch(MONTH_CALLS_BY_STATION, month)}


async def registered_stations(conn: asyncpg.Connection) -> set[str]:
    """The codes of the registered stations."""
    return {r["code"] for r in await conn.fetch(REGISTERED_STATIONS)}


async def unplaced_calls(conn: asyncpg.Connection, month: date, codes: list[str]) -> list[UnplacedCalls]:
    """The month's calls held by these station codes, by code, reported code and source."""
    return [UnplacedCalls(**r) for r in await conn.fetch(UNPLACED_CALLS, month, codes)] if codes else []


async def red_line_chains(conn: asyncpg.Connection, kind: str, month: date, code: str) -> list[RedLineChain]:
    """A unit's civil-to-criminal crimes of the month with the disputes they followed."""
    return [RedLineChain(**r) for r in await conn.fetch(RED_LINE_CHAINS.format(unit=UNIT_COLUMNS[kind]), month, code)]


async def known_units(conn: asyncpg.Connection, named: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of the (kind, code) pairs are registered units."""
    if not named:
        return set()
    rows = await conn.fetch(KNOWN_UNITS, [kind for kind, _ in named], [code for _, code in named])
    return {(r["kind"], r["code"]) for r in rows}


async def county_of(conn: asyncpg.Connection, kind: str, code: str) -> str | None:
    """The county of a registered unit; None when it is not registered."""
    return await conn.fetchval(COUNTY_OF, kind, code)


async def replace_units(conn: asyncpg.Connection, units: Sequence[ReferenceUnit]) -> None:
    """Replace every reference unit (inside the caller's transaction)."""
    await conn.execute(DELETE_UNITS)
    await conn.execute(INSERT_UNITS, *[list(column) for column in zip(*units, strict=True)])


async def partition_offsets(conn: asyncpg.Connection, consumer: str) -> list[PartitionOffset]:
    """Per source partition, the offset after the last event the consumer applied."""
    return [PartitionOffset(**r) for r in await conn.fetch(SOURCE_OFFSETS, consumer)]


async def insert_publication(conn: asyncpg.Connection, *, publication_id: UUID, month: date, kind: str, scope: str,
                             rules_version: str, published_at: datetime, published_by: str,
                             source_offsets: list[dict], items: list[dict]) -> None:
    """Store a publication."""
    await conn.execute(INSERT_PUBLICATION, publication_id, month, kind, scope, rules_version, published_at,
                       published_by, source_offsets, items)


async def latest_publication(conn: asyncpg.Connection, month: date, kind: str, scope: str) -> Publication | None:
    """The newest publication of a month's ranking of a kind in a scope."""
    row = await conn.fetchrow(LATEST_PUBLICATION, month, kind, scope)
    return None if row is None else Publication(**row)


async def empty_facts(conn: asyncpg.Connection, consumer: str) -> None:
    """Empty what the rebuild fills again from the topics (inside the caller's transaction)."""
    await conn.execute(EMPTY_FACTS)
    await conn.execute(EMPTY_TOPIC_ACTIVITIES)
    await conn.execute(EMPTY_LEDGER, consumer)
