"""A national month of assessment facts, generated inside PostgreSQL (INSERT … SELECT … generate_series).

Every random choice is a hash of a row's number (`hashint8extended`), never random(): the same
arguments give the same rows, whatever the plan or the order of execution.

What one run writes into the assessment schema (services/assessment/migrations):

- `units`: S stations (kind 'station') in about S x 2,900 / 40,000 counties, every county at least
  one station; residents log-normal around 28,000 (1.4 billion people / 40,000 stations is 35,000),
  2.3-3.2 residents per household; a cohort by residents (COHORTS: urban from 45,000, town from 20,000,
  rural below), which scoring.v2 ranks within.
- `incidents`: D disputes in the ranked month, split over the stations in proportion to residents
  times a station propensity; the same number again in each of `history_months` months before, so
  that repeats reach back across the month boundary and cases opened late last month close in this
  one. Each dispute's caller household is drawn from a skewed pool of the station's households
  (a few call again and again, as real repeat callers do): the address key is the household's, the
  phone usually the household's and sometimes another household's. 3% have no address key
  (precision 'none'), 8% no phone. A household's key has one precision, drawn once per (station,
  household) from its cohort's mix (PRECISION_SHARES: urban mostly room, rural a quarter area), so the
  same key always has the same precision. Crimes: 12% of the disputes' volume (0.5x-1.5x by station),
  2% of them at a household of the dispute pool (its key, precision and phone), with a crime type from
  CRIME_TYPES_AT_HOUSEHOLD (40% injury, 2% homicide); the others have keys of their own and mostly theft,
  fraud or other (CRIME_TYPES_ELSEWHERE).
- the links, as the consumer keeps them (repository.RELINK under rules/links.v1.yaml): repeat_30d and
  repeat_90d by window counts over the disputes, c2c_source / c2c_incident_number by a hash join of the
  crimes of the listed types against the disputes (REPEATS, CIVIL_TO_CRIMINAL below).
- `cases`: one per dispute (every month generated): created seconds after the call, claimed after a
  log-normal 25 minutes (3% never), closed after a log-normal 30 hours (3x at court, 7% never),
  80% of the closed with an agreement, 45% of the rest referred; 6% of agreements ask for judicial
  confirmation, 85% of those confirmed; an SLA breach when the claim took over 4 hours, plus 1%.
  Everything after the end of the ranked month has not happened yet (ranking runs at month end).
- `community_activities` (ranked month only): callbacks for 35% of the cases closed in the month
  (70% satisfied, 15% basically satisfied, 5% dissatisfied, 10% unreached), household visits (0.3
  per dispute, some households twice), information items (0.05) and patrols (0.02).
"""
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from time import perf_counter
from zoneinfo import ZoneInfo

import asyncpg

from services.assessment.domain.links import REPEAT_LONG_DAYS, REPEAT_SHORT_DAYS, LinkRules

# Ratio of counties to stations nationally: about 2,900 county-level divisions for 40,000 stations.
COUNTIES_PER_STATION = 2_900 / 40_000
CRIME_SHARE = 0.12          # crimes per dispute, on average
POOL_FACTOR = 20            # households in a station's caller pool, per dispute of one month
POOL_SKEW = 2.0             # household = floor(pool x u^skew): low numbers call far more often
DISPUTE_TYPES = (("neighbour", 22), ("family", 20), ("labour", 8), ("property_management", 10), ("consumer", 8),
                 ("land", 5), ("traffic_damage", 10), ("debt", 9), ("other", 8))
CHANNELS = (("station_officer", 50), ("peoples_mediator", 35), ("lawyer", 10), ("court", 5))
TABLES = ("units", "incidents", "cases", "community_activities")
# Cohorts of similar stations (units.cohort; scoring.v2 ranks within each), by registered residents: with
# residents log-normal around 28,000 that makes about a quarter urban, two fifths town, a third rural.
COHORTS = (("urban", 45_000), ("town", 20_000), ("rural", 0))
# How precise a household's address is, by cohort: shares of room, building, street, area. Cities number
# their flats; villages often name only the village or its group, so fewer rural calls link by address.
PRECISIONS = ("room", "building", "street", "area")
PRECISION_SHARES = {"urban": (70, 20, 7, 3), "town": (45, 35, 12, 8), "rural": (15, 45, 15, 25)}
# Crime types in tenths of a percent. Crimes at a household that called about a dispute are the ones a
# dispute turns into: far more often injury (and now and then homicide) than crimes elsewhere.
CRIME_TYPES_ELSEWHERE = (("theft", 450), ("fraud", 250), ("other", 160), ("injury", 90), ("robbery", 30),
                         ("sexual", 10), ("arson", 5), ("poisoning", 2), ("homicide", 3))
CRIME_TYPES_AT_HOUSEHOLD = (("injury", 400), ("other", 200), ("theft", 200), ("fraud", 100), ("robbery", 30),
                            ("arson", 30), ("homicide", 20), ("poisoning", 10), ("sexual", 10))

# Uniform [0, 1) and standard normal of (row number, stream): pure functions of their arguments.
FUNCTIONS = """
CREATE FUNCTION bench_u(i bigint, k integer) RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT ((hashint8extended(i, k) >> 11) & 9007199254740991)::float8 / 9007199254740992.0 $$;
CREATE FUNCTION bench_z(i bigint, k integer) RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT sqrt(-2 * ln(1 - bench_u(i, k))) * cos(2 * pi() * bench_u(i, k + 100000)) $$;
CREATE FUNCTION bench_pick(choices text[], i bigint, k integer) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT choices[1 + floor(bench_u(i, k) * cardinality(choices))::integer] $$;
CREATE FUNCTION bench_precision(cuts float8[], u float8) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT (ARRAY['room', 'building', 'street', 'area'])[1 + (u >= cuts[1])::integer + (u >= cuts[2])::integer
                                                         + (u >= cuts[3])::integer] $$;
"""
DROP_FUNCTIONS = "DROP FUNCTION IF EXISTS bench_u, bench_z, bench_pick, bench_precision"

# The stations with their county, population and dispute volume; the largest-remainder split makes
# the volumes add up to exactly $1 disputes. County c: stations j < $3 found it, the rest join at random.
STATIONS = """
CREATE UNLOGGED TABLE bench_stations AS
WITH placed AS (
    SELECT j, CASE WHEN j < $3 THEN j ELSE floor(bench_u(j, 1) * $3)::integer END AS c FROM generate_series(0, $2 - 1) j
), coded AS (
    SELECT j, (11 + c / 100)::text || lpad((c % 100 / 10 + 1)::text, 2, '0') || lpad((c % 10 + 1)::text, 2, '0')
               AS county_code,
           row_number() OVER (PARTITION BY c ORDER BY j) AS k,
           least(greatest(exp(ln(28000) + 0.7 * bench_z(j, 2)), 1500), 400000)::integer AS residents
    FROM placed
), weighted AS (
    SELECT *, residents * exp(0.35 * bench_z(j, 3)) AS w FROM coded
), shares AS (
    SELECT *, $1::float8 * w / sum(w) OVER () AS exact FROM weighted
), rounded AS (
    SELECT *, floor(exact)::integer AS base FROM shares
), counted AS (
    SELECT j, county_code, county_code || lpad(k::text, 3, '0') AS code, residents,
           (residents / (2.3 + 0.9 * bench_u(j, 4)))::integer AS households,
           base + (row_number() OVER (ORDER BY exact - base DESC, j) <= $1 - sum(base) OVER ())::integer AS disputes
    FROM rounded
)
SELECT j, code, county_code, residents, households, disputes,
       {cohort} AS cohort,
       (sum(disputes) OVER (ORDER BY j) - disputes)::bigint AS first_dispute,
       round(disputes * $4::float8 * (0.5 + bench_u(j, 5)))::integer AS crimes,
       greatest(ceil(disputes * $5::float8), 1)::integer AS pool,
       6 + floor(bench_u(j, 6) * 7)::integer AS grids
FROM counted
"""


def _cohort_sql() -> str:
    """The CASE that names a station's cohort from its residents (constants of this module, not input)."""
    return "CASE " + " ".join(f"WHEN residents >= {least} THEN '{name}'" for name, least in COHORTS) + " END"


def _precision_cuts_sql() -> str:
    """The CASE that gives a station's cumulative precision shares (room, +building, +street) by cohort."""
    def cuts(shares: tuple[int, ...]) -> str:
        total, running = sum(shares), 0
        values = []
        for share in shares[:-1]:
            running += share
            values.append(f"{running / total!r}")
        return f"ARRAY[{', '.join(values)}]::float8[]"
    return "CASE cohort " + " ".join(f"WHEN '{name}' THEN {cuts(shares)}" for name, shares in PRECISION_SHARES.items()) + " END"


STATIONS = STATIONS.format(cohort=_cohort_sql())
# Each station's cumulative precision shares, for bench_precision.
STATION_CUTS = f"ALTER TABLE bench_stations ADD COLUMN cuts float8[]; UPDATE bench_stations SET cuts = {_precision_cuts_sql()}"

UNITS = """
INSERT INTO units (kind, code, name, station_code, county_code, households, residents, cohort)
SELECT 'station', code, 'Station ' || code, code, county_code, households, residents, cohort FROM bench_stations
"""
# The links as the consumer keeps them (repository.RELINK under rules/links.v1.yaml, migration 0004), set
# set-based after the load instead of a probe per row. An address links only at a linking precision, and
# the load gives every key one precision (it is the household's), so "both keys link and are equal" is
# "the linking key is equal": the key where its precision links, else NULL.
#
# Repeats: a dispute with a dispute of the same linking key or caller phone in the 30 / 90 days strictly
# before. Window counts over the disputes alone (only disputes repeat and only disputes are repeated);
# timestamps have microsecond resolution, so a frame ending 1 microsecond before the row is exactly
# "strictly before", and a frame start of N days PRECEDING is RELINK's received_at - make_interval(days => N).
#   $1 linking precisions, $2 / $3 the short and long windows in days (30, 90).
REPEATS = """
UPDATE incidents i SET repeat_30d = w.repeat_30d, repeat_90d = true
FROM (
    SELECT source, incident_number,
           (link_key IS NOT NULL AND by_address_short > 0) OR (phone_hmac IS NOT NULL AND by_phone_short > 0)
               AS repeat_30d,
           (link_key IS NOT NULL AND by_address_long > 0) OR (phone_hmac IS NOT NULL AND by_phone_long > 0)
               AS repeat_90d
    FROM (
        SELECT source, incident_number, link_key, phone_hmac,
               count(*) OVER (PARTITION BY link_key ORDER BY received_at
                              RANGE BETWEEN make_interval(days => $2::int) PRECEDING AND '1 microsecond' PRECEDING)
                   AS by_address_short,
               count(*) OVER (PARTITION BY link_key ORDER BY received_at
                              RANGE BETWEEN make_interval(days => $3::int) PRECEDING AND '1 microsecond' PRECEDING)
                   AS by_address_long,
               count(*) OVER (PARTITION BY phone_hmac ORDER BY received_at
                              RANGE BETWEEN make_interval(days => $2::int) PRECEDING AND '1 microsecond' PRECEDING)
                   AS by_phone_short,
               count(*) OVER (PARTITION BY phone_hmac ORDER BY received_at
                              RANGE BETWEEN make_interval(days => $3::int) PRECEDING AND '1 microsecond' PRECEDING)
                   AS by_phone_long
        FROM (SELECT source, incident_number, received_at, phone_hmac,
                     CASE WHEN address_precision = ANY($1::text[]) THEN address_key END AS link_key
              FROM incidents WHERE kind = 'dispute') AS d) AS w) AS w
WHERE w.repeat_90d AND i.source = w.source AND i.incident_number = w.incident_number
"""

# Civil-to-criminal: a crime of a listed type names the latest dispute of the same linking key or caller
# phone within the look-back, ties broken as RELINK breaks them (received_at, source, incident_number, all
# descending). The crimes of those types are few (about 1 in 10 crimes): a hash join of them against the
# disputes, once by key and once by phone, then the latest pair per crime.
#   $1 linking precisions, $2 crime types, $3 look-back days.
CIVIL_TO_CRIMINAL = """
WITH crimes AS (
    SELECT source, incident_number, received_at, phone_hmac,
           CASE WHEN address_precision = ANY($1::text[]) THEN address_key END AS link_key
    FROM incidents WHERE kind = 'crime' AND crime_type = ANY($2::text[])
), disputes AS (
    SELECT source, incident_number, received_at, phone_hmac,
           CASE WHEN address_precision = ANY($1::text[]) THEN address_key END AS link_key
    FROM incidents WHERE kind = 'dispute'
), pairs AS (
    SELECT c.source, c.incident_number, d.received_at, d.source AS d_source, d.incident_number AS d_number
    FROM crimes c JOIN disputes d ON d.link_key = c.link_key
    WHERE d.received_at < c.received_at AND d.received_at >= c.received_at - make_interval(days => $3::int)
    UNION ALL
    SELECT c.source, c.incident_number, d.received_at, d.source, d.incident_number
    FROM crimes c JOIN disputes d ON d.phone_hmac = c.phone_hmac
    WHERE d.received_at < c.received_at AND d.received_at >= c.received_at - make_interval(days => $3::int)
)
UPDATE incidents i SET c2c_source = l.d_source, c2c_incident_number = l.d_number
FROM (SELECT DISTINCT ON (source, incident_number) source, incident_number, d_source, d_number
      FROM pairs ORDER BY source, incident_number, received_at DESC, d_source DESC, d_number DESC) AS l
WHERE i.source = l.source AND i.incident_number = l.incident_number
"""

# Where the units table has county names (migration 0002 as it grows), they are filled in too.
HAS_COUNTY_NAME = "SELECT 1 FROM information_schema.columns WHERE table_name = 'units' AND column_name = 'county_name'"
COUNTY_NAMES = "UPDATE units SET county_name = 'County ' || county_code"

# Month t (0 = ranked, 1 = the one before, ...): dispute ids t*D + first + g; g orders the station's
# disputes in time, so draws from the same household pool give repeats at known earlier times.
DISPUTES = """
INSERT INTO incidents (source, incident_number, revision, month, received_at, station_code, grid_code, officer_id,
                       kind, dispute_type, risk_flags, address_key, phone_hmac, address_precision)
SELECT 'CAD-' || left(s.code, 2), 'D' || x.id, 1 + (bench_u(x.id, 7) < 0.1)::integer, $2::date,
       $3::timestamptz + (g + bench_u(x.id, 8)) / s.disputes * ($4::timestamptz - $3::timestamptz),
       s.code, s.code || lpad(y.grid::text, 2, '0'), 'P' || s.code || lpad((2 * y.grid - (bench_u(x.id, 10) < 0.5)::integer)::text, 2, '0'),
       'dispute', bench_pick($5::text[], x.id, 11),
       CASE WHEN bench_u(x.id, 12) < 0.02 THEN '{threat}' WHEN bench_u(x.id, 12) < 0.03 THEN '{domestic_violence}'
            WHEN bench_u(x.id, 12) < 0.035 THEN '{weapon}' ELSE '{}' END::text[],
       CASE WHEN bench_u(x.id, 13) >= 0.03 THEN md5(s.code || ':a:' || y.household) END,
       CASE WHEN bench_u(x.id, 14) < 0.08 THEN NULL
            WHEN bench_u(x.id, 15) < 0.85 THEN encode(sha256(convert_to(s.code || ':p:' || y.household, 'UTF8')), 'hex')
            ELSE encode(sha256(convert_to(s.code || ':p:' || floor(s.pool * bench_u(x.id, 16) ^ $6)::bigint, 'UTF8')), 'hex')
       END,
       CASE WHEN bench_u(x.id, 13) >= 0.03 THEN bench_precision(s.cuts, y.key_u) ELSE 'none' END
FROM bench_stations s
CROSS JOIN LATERAL generate_series(0, s.disputes - 1) g
CROSS JOIN LATERAL (SELECT $1::bigint * $7 + s.first_dispute + g AS id) x
CROSS JOIN LATERAL (SELECT floor(s.pool * bench_u(x.id, 17) ^ $6)::bigint AS household,
                           1 + floor(bench_u(x.id, 9) * s.grids)::integer AS grid) h
CROSS JOIN LATERAL (SELECT h.*, bench_u(s.j::bigint * 100000000 + h.household, 34) AS key_u) y
"""

# Crimes have ids of their own (from 1e12, two per dispute of their month: a station has at most 0.18
# crimes per dispute); 2% are at a household of the dispute pool, some of them after its dispute.
CRIMES = """
INSERT INTO incidents (source, incident_number, revision, month, received_at, station_code, grid_code, officer_id,
                       kind, dispute_type, risk_flags, address_key, phone_hmac, address_precision, crime_type)
SELECT 'CAD-' || left(s.code, 2), 'C' || x.id, 1, $2::date,
       $3::timestamptz + bench_u(x.id, 8) * ($4::timestamptz - $3::timestamptz),
       s.code, s.code || lpad(y.grid::text, 2, '0'), 'P' || s.code || lpad((2 * y.grid)::text, 2, '0'),
       'crime', NULL, CASE WHEN bench_u(x.id, 12) < 0.1 THEN '{weapon}' ELSE '{}' END::text[],
       CASE WHEN bench_u(x.id, 13) < 0.02 THEN md5(s.code || ':a:' || y.household)
            WHEN bench_u(x.id, 13) < 0.9 THEN md5('crime:' || x.id) END,
       CASE WHEN bench_u(x.id, 13) < 0.02 THEN encode(sha256(convert_to(s.code || ':p:' || y.household, 'UTF8')), 'hex')
            WHEN bench_u(x.id, 14) < 0.7 THEN encode(sha256(convert_to('crime:' || x.id, 'UTF8')), 'hex') END,
       CASE WHEN bench_u(x.id, 13) < 0.02 THEN bench_precision(s.cuts, y.key_u)
            WHEN bench_u(x.id, 13) < 0.9 THEN bench_precision(s.cuts, bench_u(x.id, 36)) ELSE 'none' END,
       CASE WHEN bench_u(x.id, 13) < 0.02 THEN bench_pick($8::text[], x.id, 35) ELSE bench_pick($7::text[], x.id, 35) END
FROM bench_stations s
CROSS JOIN LATERAL generate_series(0, s.crimes - 1) g
CROSS JOIN LATERAL (SELECT 1000000000000 + $1::bigint * 2 * $6 + s.first_dispute * 2 + g AS id) x
CROSS JOIN LATERAL (SELECT floor(s.pool * bench_u(x.id, 17) ^ $5)::bigint AS household,
                           1 + floor(bench_u(x.id, 9) * s.grids)::integer AS grid) h
CROSS JOIN LATERAL (SELECT h.*, bench_u(s.j::bigint * 100000000 + h.household, 34) AS key_u) y
"""

# One case per dispute of month $1; nothing after the cutoff $2 (the end of the ranked month) has happened.
CASES = """
INSERT INTO cases (case_id, source, incident_number, month, received_at, station_code, grid_code, officer_id,
                   channel, state, sequence, created_at, first_claimed_at, closed_at, agreement, referred,
                   confirmation_requested, confirmed, breaches, sla_breaches)
SELECT md5('case:' || source || '/' || incident_number)::uuid, source, incident_number, month, received_at,
       station_code, grid_code, officer_id, channel,
       CASE WHEN closed IS NOT NULL THEN 'closed' WHEN claimed IS NOT NULL THEN 'claimed' ELSE 'pending' END,
       1 + (claimed IS NOT NULL)::integer + 2 * (closed IS NOT NULL)::integer + (sla > 0)::integer,
       created, claimed, closed, closed IS NOT NULL AND agreement, closed IS NOT NULL AND referred,
       closed IS NOT NULL AND requested, closed IS NOT NULL AND requested AND bench_u(id, 28) < 0.85,
       (bench_u(id, 29) < 0.004)::integer, sla
FROM (
    SELECT i.*, x.id, x.channel, b.created,
           CASE WHEN b.claim_minutes IS NOT NULL AND b.created + b.claim_minutes * interval '1 minute' < $2
                THEN b.created + b.claim_minutes * interval '1 minute' END AS claimed,
           CASE WHEN b.created + greatest(b.close_hours * interval '1 hour',
                                          coalesce(b.claim_minutes, 0) * interval '1 minute') < $2
                THEN b.created + greatest(b.close_hours * interval '1 hour',
                                          coalesce(b.claim_minutes, 0) * interval '1 minute') END AS closed,
           bench_u(x.id, 24) < 0.80 AS agreement,
           bench_u(x.id, 24) >= 0.80 AND bench_u(x.id, 25) < 0.45 AS referred,
           bench_u(x.id, 24) < 0.80 AND bench_u(x.id, 27) < 0.06 AS requested,
           (coalesce(b.claim_minutes, 1e9) > 240 AND b.created + interval '4 hours' < $2)::integer
               + (bench_u(x.id, 26) < 0.01)::integer AS sla
    FROM incidents i
    CROSS JOIN LATERAL (SELECT substr(i.incident_number, 2)::bigint AS id) a
    CROSS JOIN LATERAL (SELECT a.id, bench_pick($3::text[], a.id, 19) AS channel) x
    CROSS JOIN LATERAL (
        SELECT i.received_at + (10 + 80 * bench_u(x.id, 20)) * interval '1 second' AS created,
               CASE WHEN bench_u(x.id, 21) < 0.97 THEN exp(ln(25) + bench_z(x.id, 22)) END AS claim_minutes,
               CASE WHEN bench_u(x.id, 23) < 0.93
                    THEN exp(ln(30) + 1.1 * bench_z(x.id, 30)) * CASE WHEN x.channel = 'court' THEN 3 ELSE 1 END
               END AS close_hours) b
    WHERE i.month = $1 AND i.kind = 'dispute'
) c
"""

CALLBACKS = """
INSERT INTO community_activities (activity_id, type, month, occurred_at, station_code, grid_code, officer_id, case_id,
                                  satisfaction, received_via)
SELECT md5('callback:' || case_id)::uuid, 'callback', $1::date, at, station_code, grid_code, officer_id, case_id,
       CASE WHEN u < 0.70 THEN 'satisfied' WHEN u < 0.85 THEN 'basically_satisfied' WHEN u < 0.90 THEN 'dissatisfied'
            ELSE 'unreached' END, 'api'
FROM (SELECT c.*, c.closed_at + (6 + 66 * bench_u(x.id, 31)) * interval '1 hour' AS at, bench_u(x.id, 32) AS u
      FROM cases c CROSS JOIN LATERAL (SELECT substr(c.incident_number, 2)::bigint AS id) x
      WHERE c.closed_at >= $2 AND c.closed_at < $3 AND bench_u(x.id, 33) < 0.35) c
WHERE at < $3
"""

# Visits, information items and patrols per station, spread over the month.
ACTIVITIES = """
INSERT INTO community_activities (activity_id, type, month, occurred_at, station_code, grid_code, officer_id,
                                  household_key, participants, received_via)
SELECT md5(t.type || ':' || s.code || ':' || g)::uuid, t.type, $1::date,
       $2::timestamptz + bench_u(s.j::bigint * 10000000 + g, t.stream) * ($3::timestamptz - $2::timestamptz),
       s.code, s.code || lpad(y.grid::text, 2, '0'), 'P' || s.code || lpad((2 * y.grid)::text, 2, '0'),
       CASE WHEN t.type = 'visit' THEN md5(s.code || ':h:' || floor(s.households * bench_u(s.j::bigint * 10000000 + g, 41))) END,
       CASE WHEN t.type = 'patrol' THEN 3 + floor(20 * bench_u(s.j::bigint * 10000000 + g, 42))::integer END,
       CASE WHEN bench_u(s.j::bigint * 10000000 + g, 43) < 0.7 THEN 'api' ELSE 'kafka' END
FROM bench_stations s
CROSS JOIN (VALUES ('visit', 0.3, 44), ('information', 0.05, 45), ('patrol', 0.02, 46)) t(type, per_dispute, stream)
CROSS JOIN LATERAL generate_series(1, round(s.disputes * t.per_dispute * (0.3 + 1.4 * bench_u(s.j, t.stream)))::integer) g
CROSS JOIN LATERAL (SELECT 1 + floor(bench_u(s.j::bigint * 10000000 + g, 47) * s.grids)::integer AS grid) y
"""


@dataclass(frozen=True)
class Shape:
    """How big the generated month is."""

    disputes: int
    stations: int
    counties: int
    history_months: int
    month: date
    time_zone: str

    @classmethod
    def of(cls, disputes: int, stations: int, counties: int | None, history_months: int, month: date,
           time_zone: str) -> "Shape":
        """The shape, with the national ratio of counties to stations unless counties are given."""
        counties = counties or max(1, round(stations * COUNTIES_PER_STATION))
        if not 1 <= counties <= min(stations, 8_900):
            raise ValueError(f"counties must be 1..min(stations, 8900), got {counties}")
        return cls(disputes, stations, counties, history_months, month, time_zone)


def month_bounds(month: date, time_zone: str) -> tuple[datetime, datetime]:
    """The first instant of the month and of the next one, in the stations' zone."""
    zone = ZoneInfo(time_zone)
    following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return datetime.combine(month, time(), zone), datetime.combine(following, time(), zone)


def months_back(month: date, back: int) -> date:
    """The first day of the month `back` months before."""
    index = month.year * 12 + month.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def _choices(weighted: tuple[tuple[str, int], ...]) -> list[str]:
    """A list in which each choice appears as often as its weight says (bench_pick draws from it)."""
    return [name for name, weight in weighted for _ in range(weight)]


async def _drop_indexes(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    """Drop the fact tables' indexes and primary keys; return (name, statement) to build each again as it was."""
    keys = await conn.fetch(
        "SELECT conname, conrelid::regclass::text AS tab, pg_get_constraintdef(oid) AS definition FROM pg_constraint"
        " WHERE contype = 'p' AND connamespace = 'public'::regnamespace AND conrelid::regclass::text = ANY($1)",
        list(TABLES))
    indexes = await conn.fetch(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' AND i.tablename = ANY($1)"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)", list(TABLES))
    rebuild = [(r["conname"], f'ALTER TABLE {r["tab"]} ADD CONSTRAINT "{r["conname"]}" {r["definition"]}') for r in keys]
    rebuild += [(r["indexname"], r["indexdef"]) for r in indexes]
    for r in indexes:
        await conn.execute(f'DROP INDEX "{r["indexname"]}"')
    for r in keys:
        await conn.execute(f'ALTER TABLE {r["tab"]} DROP CONSTRAINT "{r["conname"]}"')
    return rebuild


async def generate(conn: asyncpg.Connection, shape: Shape, step) -> dict[str, int]:
    """Fill the fact tables; `step(name, seconds, rows)` is told after each statement. Returns row counts.

    The indexes and primary keys are dropped for the load and built again afterwards from their own
    definitions, so the schema ends exactly as the migrations left it, only faster to fill (a random
    uuid key maintained row by row made the cases three times slower to write).
    """
    async def timed(name: str, sql: str, *args) -> None:
        started = perf_counter()
        status = await conn.execute(sql, *args)
        rows = int(status.rsplit(" ", 1)[-1]) if status.split(" ", 1)[0] in ("INSERT", "SELECT", "UPDATE") else 0
        step(name, perf_counter() - started, rows)

    await conn.execute("SET maintenance_work_mem = '1GB'")
    await conn.execute("SET work_mem = '256MB'")
    await conn.execute(FUNCTIONS)
    indexes = await _drop_indexes(conn)
    start, end = month_bounds(shape.month, shape.time_zone)
    await timed("stations", STATIONS, shape.disputes, shape.stations, shape.counties, CRIME_SHARE, POOL_FACTOR)
    await conn.execute(STATION_CUTS)
    await timed("units", UNITS)
    if await conn.fetchval(HAS_COUNTY_NAME):
        await conn.execute(COUNTY_NAMES)
    types, channels = _choices(DISPUTE_TYPES), _choices(CHANNELS)
    for back in range(shape.history_months, -1, -1):  # oldest first, as the feed would have come
        month = months_back(shape.month, back)
        first, following = month_bounds(month, shape.time_zone)
        tag = "ranked month" if back == 0 else f"month -{back}"
        await timed(f"disputes ({tag})", DISPUTES, shape.disputes, month, first, following, types, POOL_SKEW, back)
        await timed(f"crimes ({tag})", CRIMES, shape.disputes, month, first, following, POOL_SKEW, back,
                    _choices(CRIME_TYPES_ELSEWHERE), _choices(CRIME_TYPES_AT_HOUSEHOLD))
        await timed(f"cases ({tag})", CASES, month, end, channels)
    links = LinkRules.load()  # the rules the consumer links by, so the load links as it does
    precisions = list(links.linking_precisions)
    await timed("links: repeats within 30 / 90 days", REPEATS, precisions, REPEAT_SHORT_DAYS, REPEAT_LONG_DAYS)
    await timed("links: civil-to-criminal", CIVIL_TO_CRIMINAL, precisions, list(links.crime_types),
                links.look_back_days)
    await timed("callbacks", CALLBACKS, shape.month, start, end)
    await timed("visits, information, patrols", ACTIVITIES, shape.month, start, end)
    for name, definition in indexes:
        await timed(f"index {name}", definition)
    for table in TABLES:
        await timed(f"vacuum analyze {table}", f"VACUUM (ANALYZE) {table}")
    await conn.execute("DROP TABLE bench_stations")
    await conn.execute(DROP_FUNCTIONS)
    return {table: await conn.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES}
