"""SQL of the mediation database: cases, their timeline and the audit log."""
from collections.abc import Sequence
from typing import Any

import asyncpg

CASE_COLUMNS = """id, source, incident_number, revision, station_code, grid_code, officer_id, channel, state,
    dispute_type, risk_flags, high_risk, address_key, phone_hmac, party, received_at, claim_due_at,
    claimed_by, claimed_at, sessions, had_agreement, handoff_pending, escalated, version, created_at, updated_at,
    agreement, confirmation_due, court_case_number, ruling_number, escalations, needs_review, worked_by,
    last_handoff, incident_id"""

CASES_BY_INCIDENT = f"""
SELECT {CASE_COLUMNS} FROM cases
WHERE (source, incident_number) IN (SELECT * FROM unnest($1::text[], $2::text[]))
FOR UPDATE
"""

# The rows of many cases come in as one array per column. Risk flags, an array each, come as JSON text
# (asyncpg would take a list of lists for a two-dimensional array).
_FLAGS = "ARRAY(SELECT jsonb_array_elements_text({}::jsonb))"

# New cases, one row per incident: an incident another transaction opened meanwhile is left alone (and
# missing from the answer), so the caller can apply its dispute to that case instead.
INSERT_CASES = f"""
INSERT INTO cases (id, source, incident_number, revision, station_code, grid_code, officer_id, channel, state,
                   dispute_type, risk_flags, high_risk, address_key, phone_hmac, party, received_at, claim_due_at,
                   needs_review, incident_id)
SELECT d.id, d.source, d.incident_number, d.revision, d.station_code, d.grid_code, d.officer_id, d.channel, 'pending',
       d.dispute_type, {_FLAGS.format("d.risk_flags")}, d.high_risk, d.address_key, d.phone_hmac, d.party,
       d.received_at, d.claim_due_at, d.needs_review, d.incident_id
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::text[], $10::text[], $11::boolean[], $12::text[], $13::text[], $14::jsonb[], $15::timestamptz[],
            $16::timestamptz[], $17::boolean[], $18::uuid[])
     AS d (id, source, incident_number, revision, station_code, grid_code, officer_id, channel, dispute_type,
           risk_flags, high_risk, address_key, phone_hmac, party, received_at, claim_due_at, needs_review, incident_id)
ON CONFLICT DO NOTHING
RETURNING {CASE_COLUMNS}
"""

_RETURNING_CASES = ", ".join(f"c.{column.strip()}" for column in CASE_COLUMNS.split(","))

# Newer revisions of open cases (each case once): the facts change, their place in the lifecycle does not.
UPDATE_FACTS = f"""
UPDATE cases AS c
SET revision = d.revision, dispute_type = d.dispute_type, risk_flags = {_FLAGS.format("d.risk_flags")},
    high_risk = d.high_risk, party = d.party, grid_code = d.grid_code, officer_id = d.officer_id,
    claim_due_at = d.claim_due_at, needs_review = d.needs_review, version = c.version + 1, updated_at = now()
FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::boolean[], $6::jsonb[], $7::text[], $8::text[],
            $9::timestamptz[], $10::boolean[])
     AS d (id, revision, dispute_type, risk_flags, high_risk, party, grid_code, officer_id, claim_due_at,
           needs_review)
WHERE c.id = d.id
RETURNING {_RETURNING_CASES}
"""

# Newer revisions of closed or withdrawn cases (each case once): noted, the case stays as it is.
NOTE_REVISIONS = """
UPDATE cases AS c SET revision = d.revision, version = c.version + 1, updated_at = now()
FROM unnest($1::uuid[], $2::bigint[]) AS d (id, revision)
WHERE c.id = d.id
"""

# The caller of each new case is its first party (position 0), as intake named them.
INSERT_CALLER_PARTIES = """
INSERT INTO case_parties (case_id, position, role, name, phone, phone_hmac, updated_by)
SELECT p.case_id, 0, 'applicant', p.name, p.phone, p.phone_hmac, 'system'
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS p (case_id, name, phone, phone_hmac)
ON CONFLICT DO NOTHING
"""

PARTIES = """
SELECT case_id, position, role, name, phone, id_number FROM case_parties WHERE case_id = ANY($1::uuid[])
ORDER BY case_id, position
"""

# A new party goes after the last one.
ADD_PARTY = """
INSERT INTO case_parties (case_id, position, role, name, phone, phone_hmac, id_number, updated_by)
SELECT $1, coalesce(max(position) + 1, 0), $2, $3, $4, $5, $6, $7 FROM case_parties WHERE case_id = $1
RETURNING position
"""

CORRECT_PARTY = """
UPDATE case_parties SET role = $3, name = $4, phone = $5, phone_hmac = $6, id_number = $7, updated_by = $8,
    updated_at = now()
WHERE case_id = $1 AND position = $2
RETURNING position
"""

BUMP_VERSION = f"UPDATE cases SET version = version + 1, updated_at = now() WHERE id = $1 RETURNING {CASE_COLUMNS}"

CASE_BY_ID = f"SELECT {CASE_COLUMNS} FROM cases WHERE id = $1"
CASE_BY_ID_FOR_UPDATE = CASE_BY_ID + " FOR UPDATE"

_HANDOFF_COLUMNS = """h.id, h.case_id, h.purpose, h.from_channel, h.to_channel, h.to_organisation, h.court_case_number,
       h.state, h.reason, h.requested_by, h.requested_at, h.decided_by, h.decided_at, c.station_code,
       c.incident_number, c.dispute_type, c.state AS case_state, c.ruling_number"""

# Waiting for the caller's channels at its stations: transfers to accept or reject, confirmation
# requests for the court to decide.
PENDING_HANDOFFS = f"""
SELECT {_HANDOFF_COLUMNS}
FROM handoffs h JOIN cases c ON c.id = h.case_id
WHERE h.state = 'requested' AND c.station_code = ANY($1::text[]) AND h.to_channel = ANY($2::text[])
ORDER BY h.requested_at
"""

# What the caller sent, newest first, answered or not: a rejection comes back to its sender with the reason.
SENT_HANDOFFS = f"""
SELECT {_HANDOFF_COLUMNS}
FROM handoffs h JOIN cases c ON c.id = h.case_id
WHERE h.requested_by = $1 AND c.station_code = ANY($2::text[])
ORDER BY h.requested_at DESC
LIMIT $3
"""

INSERT_HANDOFF = """
INSERT INTO handoffs (id, case_id, purpose, from_channel, to_channel, to_organisation, court_case_number, reason,
                      requested_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""

HANDOFF_FOR_UPDATE = "SELECT * FROM handoffs WHERE id = $1 FOR UPDATE"

# The confirmation request of a case that waits for the court, if any.
PENDING_CONFIRMATION = """
SELECT * FROM handoffs WHERE case_id = $1 AND state = 'requested' AND purpose = 'confirmation' FOR UPDATE
"""

DECIDE_HANDOFF = """
UPDATE handoffs SET state = $2, reason = coalesce($3, reason), decided_by = $4, decided_at = now() WHERE id = $1
"""

# A handoff is waiting (or answered): the case shows it to both sides. A transfer stops the sender's work
# until it is answered; a confirmation request does not (the court decides on the case itself).
SET_HANDOFF = f"""
UPDATE cases SET handoff_pending = $2, last_handoff = $3::jsonb, court_case_number = coalesce($4, court_case_number),
    version = version + 1, updated_at = now()
WHERE id = $1
RETURNING {CASE_COLUMNS}
"""

# The receiver's answer: on acceptance the case moves to its channel and the receiver holds it.
ANSWER_HANDOFF = f"""
UPDATE cases SET handoff_pending = false, last_handoff = $5::jsonb, channel = CASE WHEN $2 THEN $3 ELSE channel END,
    claimed_by = CASE WHEN $2 THEN $4 ELSE claimed_by END, version = version + 1, updated_at = now()
WHERE id = $1
RETURNING {CASE_COLUMNS}
"""

# Everyone who acted on a case keeps seeing it (docs/mediation.md, "Who sees a case").
ADD_WORKER = """
UPDATE cases SET worked_by = array_append(worked_by, $2::text) WHERE id = $1 AND NOT ($2::text = ANY(worked_by))
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

# Claimable cases of the caller's stations and channels after a cursor (NOT high_risk, received_at, id), in
# that order: high risk first, then oldest. One mixed-direction row comparison cannot use the queue index
# (high_risk DESC, received_at, id), so the cursor becomes a start in each risk class: after the cursor in its
# own class, and from the beginning in the normal class after the high-risk one. Each (station, channel, risk
# class) then reads at most a page from the index, already in order; the heads are merged, and only the
# page's rows are read from the table, each by its id (the LIMIT 1 keeps that a lookup per row even where the
# planner cannot know the page size, as in a generic plan of the prepared statement).
QUEUE = f"""
WITH start (high_risk, after_at, after_id) AS (
    SELECT NOT $3::boolean, $4::timestamptz, $5::uuid
    UNION ALL
    SELECT false, '-infinity'::timestamptz, '00000000-0000-0000-0000-000000000000'::uuid WHERE NOT $3::boolean
), page AS (
    SELECT head.id, head.high_risk, head.received_at
    FROM (SELECT DISTINCT unnest($1::text[])) AS station (code)
    CROSS JOIN (SELECT DISTINCT unnest($2::text[])) AS chan (name)
    CROSS JOIN start
    CROSS JOIN LATERAL (
        SELECT id, high_risk, received_at FROM cases
        WHERE state = 'pending' AND station_code = station.code AND channel = chan.name
          AND high_risk = start.high_risk AND (received_at, id) > (start.after_at, start.after_id)
        ORDER BY received_at, id
        LIMIT $6) AS head
    ORDER BY NOT head.high_risk, head.received_at, head.id
    LIMIT $6)
SELECT c.* FROM page
CROSS JOIN LATERAL (SELECT {CASE_COLUMNS} FROM cases WHERE cases.id = page.id LIMIT 1) AS c
ORDER BY NOT page.high_risk, page.received_at, page.id
"""

# Cases the caller may see ($1 stations; $2 channels; $3 subject: a case of its channels, one it worked, or one
# whose latest handoff is addressed to its channels), filtered, newest first, after a cursor
# (received_at, id). A filter left NULL (false for the booleans) does not narrow.
SEARCH = f"""
SELECT {CASE_COLUMNS} FROM cases c
WHERE c.station_code = ANY($1::text[])
  AND (c.channel = ANY($2::text[]) OR $3::text = ANY(c.worked_by) OR c.last_handoff->>'to_channel' = ANY($2::text[]))
  AND (NOT $4::boolean OR c.claimed_by = $3::text OR $3::text = ANY(c.worked_by))
  AND ($5::text[] IS NULL OR c.state = ANY($5::text[]))
  AND ($6::text IS NULL OR c.channel = $6::text)
  AND ($7::boolean IS NULL OR c.escalated = $7::boolean)
  AND (NOT $8::boolean
       OR (c.state = 'agreement' AND (c.agreement->>'effective_date')::date + 30 < $9::date)
       OR (c.state = 'confirmation_requested' AND c.confirmation_due < $9::date))
  AND ($10::text IS NULL OR c.incident_number = $10::text)
  AND ($11::text IS NULL OR c.source = $11::text)
  AND ($12::uuid IS NULL OR c.incident_id = $12::uuid)
  AND ($13::text IS NULL OR c.phone_hmac = $13::text
       OR EXISTS (SELECT 1 FROM case_parties p WHERE p.case_id = c.id AND p.phone_hmac = $13::text))
  AND ($14::timestamptz IS NULL OR c.received_at >= $14::timestamptz)
  AND ($15::timestamptz IS NULL OR c.received_at < $15::timestamptz)
  AND ($16::timestamptz IS NULL OR (c.received_at, c.id) < ($16::timestamptz, $17::uuid))
ORDER BY c.received_at DESC, c.id DESC
LIMIT $18
"""

TIMELINE = "SELECT at, actor, action, from_state, to_state, details FROM case_timeline WHERE case_id = $1 ORDER BY id"

# Entries in the order given (their ids order a case's timeline).
INSERT_TIMELINE = """
INSERT INTO case_timeline (case_id, actor, action, from_state, to_state, details)
SELECT t.case_id, t.actor, t.action, t.from_state, t.to_state, t.details
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[]) WITH ORDINALITY
     AS t (case_id, actor, action, from_state, to_state, details, position)
ORDER BY t.position
"""

# One row of the audit trail (audit.py); a refusal on a handoff is filed under the handoff's case ($9).
INSERT_AUDIT_ENTRY = """
INSERT INTO audit_log (actor, roles, action, case_id, outcome, details, purpose, stations)
VALUES ($1, $2, $3, coalesce($4::uuid, (SELECT case_id FROM handoffs WHERE id = $9::uuid)), $5, $6, $7, $8)
"""

# The rows an auditor of stations $1 may read: about a case of those stations, or by someone acting for
# them; by case, actor and time range [$4, $5), after the cursor (row id), oldest first.
AUDIT_TRAIL = """
SELECT a.id, a.at, a.actor, a.roles, a.action, a.case_id, a.outcome, a.purpose, a.details
FROM audit_log a LEFT JOIN cases c ON c.id = a.case_id
WHERE (c.station_code = ANY($1::text[]) OR a.stations && $1::text[])
  AND ($2::uuid IS NULL OR a.case_id = $2::uuid)
  AND ($3::text IS NULL OR a.actor = $3::text)
  AND ($4::timestamptz IS NULL OR a.at >= $4::timestamptz)
  AND ($5::timestamptz IS NULL OR a.at < $5::timestamptz)
  AND ($6::bigint IS NULL OR a.id > $6::bigint)
ORDER BY a.id
LIMIT $7
"""


async def cases_by_incident(conn: asyncpg.Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """The existing cases of these incidents, locked for this transaction."""
    rows = await conn.fetch(CASES_BY_INCIDENT, [k[0] for k in keys], [k[1] for k in keys])
    return {(r["source"], r["incident_number"]): r for r in rows}


async def add_timeline(conn: asyncpg.Connection, rows: Sequence[tuple]) -> None:
    """Append (case_id, actor, action, from_state, to_state, details) entries."""
    if rows:
        await conn.execute(INSERT_TIMELINE, *(list(column) for column in zip(*rows, strict=True)))

# Retention (services/mediation/retention.py): the party data of cases closed or withdrawn before $1. Names,
# phones, ID numbers and free text go (the caller in `party`, `case_parties`, the agreement's terms, session
# participants and notes, reasons of outcomes and handoffs); the HMACs, keys, states, dates, counts and
# channels stay, so search by phone HMAC and every figure built from the case events are unchanged.
CASES_PAST_RETENTION = """
SELECT id FROM cases
WHERE state IN ('closed', 'withdrawn') AND updated_at < $1
  AND (personal_data_erased_at IS NULL OR personal_data_erased_at < updated_at)
ORDER BY id
FOR UPDATE
"""

ERASE_PARTIES = """
UPDATE case_parties SET name = NULL, phone = NULL, id_number = NULL WHERE case_id = ANY($1::uuid[])
"""

ERASE_TIMELINE_TEXT = """
UPDATE case_timeline SET details = details - '{participants,notes,reason}'::text[]
WHERE case_id = ANY($1::uuid[]) AND details ?| '{participants,notes,reason}'::text[]
"""

ERASE_HANDOFF_REASONS = "UPDATE handoffs SET reason = NULL WHERE case_id = ANY($1::uuid[]) AND reason IS NOT NULL"

# updated_at stays: it says when the case last changed, and the next purge compares against it.
ERASE_CASE_PARTY = """
UPDATE cases SET party = '{}'::jsonb, agreement = agreement - 'terms', last_handoff = last_handoff - 'reason',
    personal_data_erased_at = now()
WHERE id = ANY($1::uuid[])
"""

# --- the audit trail's months (migration 0008) ---------------------------------------------------------

ADD_AUDIT_PARTITIONS = "SELECT audit_log_add_partitions($1, $2)"

# The months of audit_log whose every row is older than $1 (their range ends by then), oldest first.
AUDIT_PARTITIONS_BEFORE = """
SELECT name, upper_bound FROM audit_log_partitions() WHERE upper_bound <= $1 ORDER BY upper_bound
"""

AUDIT_ROWS_IN_DEFAULT = "SELECT count(*) FROM audit_log_default"
