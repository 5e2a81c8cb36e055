"""SQL of the assessment database: facts from incidents and cases, and the lookups the API makes."""

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

# The month's civil-to-criminal crimes of a unit, each with the dispute it followed (kept by the facts).
RED_LINE_CHAINS = """
SELECT source, incident_number, c2c_source, c2c_incident_number FROM incidents
WHERE month = $1 AND {unit} = $2 AND kind = 'crime' AND c2c_source IS NOT NULL
ORDER BY received_at, source, incident_number
"""
# Which of the codes named exist as registered units of each kind.
KNOWN_UNITS = "SELECT kind, code FROM units WHERE (kind, code) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
