"""SQL of the mediation database: cases, their timeline and the audit log."""
from collections.abc import Sequence
from typing import Any

import asyncpg

CASE_COLUMNS = """id, source, incident_number, revision, station_code, grid_code, officer_id, channel, state,
    dispute_type, risk_flags, high_risk, address_key, phone_hmac, party, received_at, claim_due_at,
    claimed_by, claimed_at, sessions, had_agreement, handoff_pending, escalated, version, created_at, updated_at,
    agreement, confirmation_due, court_case_number, ruling_number, escalations"""

CASES_BY_INCIDENT = f"""
SELECT {CASE_COLUMNS} FROM cases
WHERE (source, incident_number) IN (SELECT * FROM unnest($1::text[], $2::text[]))
FOR UPDATE
"""

INSERT_CASE = f"""
INSERT INTO cases (id, source, incident_number, revision, station_code, grid_code, officer_id, channel, state,
                   dispute_type, risk_flags, high_risk, address_key, phone_hmac, party, received_at, claim_due_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10, $11, $12, $13, $14, $15, $16)
RETURNING {CASE_COLUMNS}
"""

# A newer revision of an open case: the facts change, its place in the lifecycle does not.
UPDATE_FACTS = f"""
UPDATE cases SET revision = $2, dispute_type = $3, risk_flags = $4, high_risk = $5, party = $6,
                 grid_code = $7, officer_id = $8, claim_due_at = $9, version = version + 1, updated_at = now()
WHERE id = $1
RETURNING {CASE_COLUMNS}
"""

NOTE_REVISION = "UPDATE cases SET revision = $2, version = version + 1, updated_at = now() WHERE id = $1"

CASE_BY_ID = f"SELECT {CASE_COLUMNS} FROM cases WHERE id = $1"
CASE_BY_ID_FOR_UPDATE = CASE_BY_ID + " FOR UPDATE"

PENDING_HANDOFFS = """
SELECT h.id, h.case_id, h.from_channel, h.to_channel, h.to_organisation, h.court_case_number, h.reason,
       h.requested_by, h.requested_at, c.station_code, c.incident_number, c.dispute_type, c.state
FROM handoffs h JOIN cases c ON c.id = h.case_id
WHERE h.state = 'requested' AND c.station_code = ANY($1::text[]) AND h.to_channel = ANY($2::text[])
ORDER BY h.requested_at
"""

CLAIM = f"""
UPDATE cases SET state = 'claimed', claimed_by = $2, claimed_at = now(), version = version + 1, updated_at = now()
WHERE id = $1 AND state = 'pending'
RETURNING {CASE_COLUMNS}
"""

# The best pending case for the caller: high risk first, then oldest. Each (station, channel) pair
# takes its own head from the queue index (one short index scan each, instead of sorting every
# pending case of the stations), and SKIP LOCKED lets many mediators take the next case at once
# without waiting on each other or taking the same one.
CLAIM_NEXT = f"""
WITH heads AS (
    SELECT head.id, head.high_risk, head.received_at
    FROM unnest($1::text[]) AS station (code)
    CROSS JOIN unnest($2::text[]) AS chan (name)
    CROSS JOIN LATERAL (
        SELECT id, high_risk, received_at FROM cases
        WHERE state = 'pending' AND station_code = station.code AND channel = chan.name
        ORDER BY high_risk DESC, received_at, id
        LIMIT 1 FOR UPDATE SKIP LOCKED) AS head)
UPDATE cases SET state = 'claimed', claimed_by = $3, claimed_at = now(), version = version + 1, updated_at = now()
WHERE id = (SELECT id FROM heads ORDER BY high_risk DESC, received_at, id LIMIT 1)
RETURNING {CASE_COLUMNS}
"""

RELEASE = f"""
UPDATE cases SET state = 'pending', claimed_by = NULL, claimed_at = NULL, version = version + 1, updated_at = now()
WHERE id = $1 AND state = 'claimed' AND claimed_by = $2
RETURNING {CASE_COLUMNS}
"""

QUEUE = f"""
SELECT {CASE_COLUMNS} FROM cases
WHERE state = 'pending' AND station_code = ANY($1::text[]) AND channel = ANY($2::text[])
  AND (NOT high_risk, received_at, id) > ($3::boolean, $4::timestamptz, $5::uuid)
ORDER BY NOT high_risk, received_at, id
LIMIT $6
"""

TIMELINE = "SELECT at, actor, action, from_state, to_state, details FROM case_timeline WHERE case_id = $1 ORDER BY id"

INSERT_TIMELINE = """
INSERT INTO case_timeline (case_id, actor, action, from_state, to_state, details) VALUES ($1, $2, $3, $4, $5, $6)
"""

INSERT_AUDIT = """
INSERT INTO audit_log (actor, roles, action, case_id, outcome, details) VALUES ($1, $2, $3, $4, $5, $6)
"""


async def cases_by_incident(conn: asyncpg.Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """The existing cases of these incidents, locked for this transaction."""
    rows = await conn.fetch(CASES_BY_INCIDENT, [k[0] for k in keys], [k[1] for k in keys])
    return {(r["source"], r["incident_number"]): r for r in rows}


async def add_timeline(conn: asyncpg.Connection, rows: Sequence[tuple]) -> None:
    """Append (case_id, actor, action, from_state, to_state, details) entries."""
    if rows:
        await conn.executemany(INSERT_TIMELINE, rows)
