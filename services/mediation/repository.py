"""SQL of the mediation database: cases, their parties, timeline and handoffs, the audit log, the SLA
escalations and the retention purge. Every statement the service runs is here, each behind a typed
function; rows come back as named records (`CaseRow`, `HandoffRow`, ...), read by column name.
"""
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple, TypeAlias

import asyncpg

# A pool or a connection: statements that need no transaction of their own run on either.
Executor: TypeAlias = asyncpg.Pool | asyncpg.Connection


class NamedRow(asyncpg.Record):
    """A row read by column name, as `row["state"]` or `row.state`; never by position."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class CaseRow(NamedRow):
    """A case: the columns of CASE_COLUMNS."""

    id: uuid.UUID
    source: str
    incident_number: str
    revision: int
    station_code: str
    channel: str
    state: str
    claimed_by: str | None
    version: int
    updated_at: datetime


class PartyRow(NamedRow):
    """A party of a case: case_id, position, role, name, phone, id_number."""


class HandoffRow(NamedRow):
    """A handoff with what its lists show of the case (_HANDOFF_COLUMNS), or a bare handoffs row."""


class TimelineRow(NamedRow):
    """One entry of a case's timeline: at, actor, action, from_state, to_state, details."""


class AuditRow(NamedRow):
    """One row of the audit trail as GET /v1/audit reads it."""


class ChangeRow(NamedRow):
    """A change of a case for the live queue: its timeline entry (event_id, event_action, event_actor) and
    the case as it is now (the columns of CaseRow but `party`, which never travels on the stream)."""


class AuditMonthRow(NamedRow):
    """A month of audit_log: its partition's name and the end of its range."""

    name: str
    upper_bound: datetime


class NotificationRow(NamedRow):
    """A notification that is due (DUE_NOTIFICATIONS) with what its message says of the case; no party data."""

    id: int
    kind: str
    case_id: uuid.UUID
    station_code: str
    audience_channel: str
    attempts: int
    delivered_to: list[str]


class NewCase(NamedTuple):
    """A case to open from a dispute (the columns of INSERT_CASES, in its order)."""

    id: uuid.UUID
    source: str
    incident_number: str
    revision: int
    station_code: str
    grid_code: str | None
    officer_id: str | None
    channel: str
    dispute_type: str | None
    risk_flags: str  # a JSON array: asyncpg would take a list of lists for a two-dimensional array
    high_risk: bool
    address_key: str | None
    phone_hmac: str | None
    party: dict[str, Any]
    received_at: datetime
    claim_due_at: datetime
    needs_review: bool
    incident_id: uuid.UUID


class FactsUpdate(NamedTuple):
    """Newer facts of an open case (the columns of UPDATE_FACTS, in its order)."""

    id: uuid.UUID
    revision: int
    dispute_type: str | None
    risk_flags: str  # a JSON array, as in NewCase
    high_risk: bool
    party: dict[str, Any]
    grid_code: str | None
    officer_id: str | None
    claim_due_at: datetime
    needs_review: bool


class CallerParty(NamedTuple):
    """The caller of a new case, its first party."""

    case_id: uuid.UUID
    name: str | None
    phone: str | None
    phone_hmac: str | None


class TimelineEntry(NamedTuple):
    """One entry to append to a case's timeline."""

    case_id: uuid.UUID
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    details: Mapping[str, Any]


class PartyValues(NamedTuple):
    """What the holder records of a party."""

    role: str
    name: str
    phone: str | None
    phone_hmac: str | None
    id_number: str | None
    updated_by: str


class NewHandoff(NamedTuple):
    """A handoff to insert (the columns of INSERT_HANDOFF, in its order)."""

    id: uuid.UUID
    case_id: uuid.UUID
    purpose: str
    from_channel: str
    to_channel: str
    to_organisation: str | None
    court_case_number: str | None
    reason: str | None
    requested_by: str


def _columns(rows: Sequence[tuple]) -> list[list[Any]]:
    """Rows as one list per column: the arrays a multi-row `unnest` statement takes."""
    return [list(column) for column in zip(*rows, strict=True)]

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

# Only names audit_log_partitions() gives are ever put into a statement, and only names of this shape.
_AUDIT_MONTH = re.compile(r"^audit_log_[a-z0-9_]+$")

# --- the live queue (live_queue.py) --------------------------------------------------------------------

# Party data never travels on the stream, so it is not read.
_CHANGE_COLUMNS = ", ".join(f"c.{name.strip()}" for name in CASE_COLUMNS.split(",") if name.strip() != "party")

# The changes in a range of timeline ids, as the trigger of migration 0010 announces them, each with its case
# as it is now.
CHANGES = f"""
SELECT t.id AS event_id, t.action AS event_action, t.actor AS event_actor, {_CHANGE_COLUMNS}
FROM case_timeline t JOIN cases c ON c.id = t.case_id
WHERE t.id BETWEEN $1 AND $2 ORDER BY t.id
"""

# The changes after a timeline id (a reconnecting stream's Last-Event-ID), at most $2.
CHANGES_AFTER = f"""
SELECT t.id AS event_id, t.action AS event_action, t.actor AS event_actor, {_CHANGE_COLUMNS}
FROM case_timeline t JOIN cases c ON c.id = t.case_id
WHERE t.id > $1 ORDER BY t.id LIMIT $2
"""

LAST_TIMELINE_ID = "SELECT coalesce(max(id), 0) FROM case_timeline"

# --- the notification outbox (notifications.py, migration 0010) ------------------------------------------

# Held while they are sent (SKIP LOCKED: several relays never take the same one).
DUE_NOTIFICATIONS = """
SELECT n.id, n.kind, n.case_id, n.station_code, n.audience_channel, n.details, n.attempts, n.delivered_to,
       n.created_at, c.incident_number, c.dispute_type, c.state, c.channel, c.high_risk, c.escalations
FROM notifications n JOIN cases c ON c.id = n.case_id
WHERE n.state = 'pending' AND n.next_attempt_at <= now()
ORDER BY n.next_attempt_at, n.id LIMIT $1
FOR UPDATE OF n SKIP LOCKED
"""

NOTIFICATION_DONE = """
UPDATE notifications SET state = $2, attempts = attempts + 1, delivered_to = $3, last_error = NULL,
    finished_at = now() WHERE id = $1
"""

# Failed at some webhook: tried again after $4, or given up after $5 attempts.
NOTIFICATION_FAILED = """
UPDATE notifications SET state = CASE WHEN attempts + 1 >= $5 THEN 'failed' ELSE 'pending' END,
    attempts = attempts + 1, delivered_to = $2, last_error = $3, next_attempt_at = now() + $4::interval,
    finished_at = CASE WHEN attempts + 1 >= $5 THEN now() END
WHERE id = $1
"""

# --- working a case (casework.py) ------------------------------------------------------------------

# After a lifecycle action: its state, and what it changes besides. $9: an escalation reason the action
# raises (a breach goes to the station chief), recorded once.
UPDATE_AFTER = f"""
UPDATE cases SET state = $2, sessions = sessions + $3, had_agreement = $4, agreement = coalesce($5, agreement),
    confirmation_due = coalesce($6, confirmation_due), ruling_number = coalesce($7, ruling_number),
    claimed_by = CASE WHEN $8 THEN NULL ELSE claimed_by END,
    claimed_at = CASE WHEN $8 THEN NULL ELSE claimed_at END,
    escalated = escalated OR $9::text IS NOT NULL,
    escalations = CASE WHEN $9::text IS NULL OR $9::text = ANY(escalations) THEN escalations
                       ELSE escalations || $9::text END,
    version = version + 1, updated_at = now()
WHERE id = $1
RETURNING {CASE_COLUMNS}
"""

# --- SLA escalations (sla.py) ------------------------------------------------------------------------

_ESCALATE = f"""
UPDATE cases SET escalations = escalations || $2::text, escalated = true, version = version + 1,
    updated_at = $3::timestamptz,
    state = CASE WHEN $4 THEN 'pending' ELSE state END,
    claimed_by = CASE WHEN $4 THEN NULL ELSE claimed_by END,
    claimed_at = CASE WHEN $4 THEN NULL ELSE claimed_at END
WHERE id IN (SELECT id FROM cases WHERE {{where}} AND NOT ($2::text = ANY(escalations))
             ORDER BY id LIMIT $5 FOR UPDATE SKIP LOCKED)
RETURNING {CASE_COLUMNS}
"""
# reason → the statement escalating the cases past that limit ($1), and whether their claim expires.
ESCALATIONS: dict[str, tuple[str, bool]] = {reason: (_ESCALATE.format(where=where), expires) for reason, (where, expires) in {
    "unclaimed": ("state = 'pending' AND claim_due_at < $3::timestamptz - $1::interval", False),
    "no_session": ("state = 'claimed' AND sessions = 0 AND claimed_at < $3::timestamptz - $1::interval", True),
    "confirmation_due": ("state = 'agreement' AND "
                         "(agreement->>'effective_date')::date <= ($3::timestamptz - $1::interval)::date", False),
    # The follow-up an agreement schedules: once its performance date has passed, someone checks
    # whether it was kept (a breach is then reported through the API and reopens the case).
    "fulfilment_check": ("had_agreement AND state <> 'withdrawn' AND "
                         "(agreement->>'performance_date')::date < ($3::timestamptz - $1::interval)::date", False),
}.items()}
# The SLA limits, in the order a sweep escalates for them.
ESCALATION_REASONS: tuple[str, ...] = tuple(ESCALATIONS)

# --- claim-next in one round trip ------------------------------------------------------------------------

def _utc_json(column: str) -> str:
    """A timestamptz as the JSON string orjson writes for it (events.case_event): UTC, `+00:00`, the
    microseconds only when there are any; whatever the session's TimeZone."""
    return (f"to_json(regexp_replace(to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), "
            f"'\\.000000$', '') || '+00:00')")


# The event of a case row `c` as events.case_event builds it (tests/integration/mediation/test_claims.py
# compares the two): the same keys in the same order, the same derived event id (uuid5 of the case id and
# "<type>/<version>", uuid-ossp, migration 0009). Parameters: the event type, the actor, the producer.
def _case_event_json(event_type: str, actor: str, producer: str) -> str:
    return f"""json_build_object(
        'event_id', uuid_generate_v5(c.id, {event_type} || '/' || c.version), 'type', {event_type},
        'schema_version', 1, 'occurred_at', {_utc_json("c.updated_at")}, 'producer', {producer},
        'key', c.station_code, 'data', json_build_object(
            'case_id', c.id, 'source', c.source, 'incident_number', c.incident_number,
            'station_code', c.station_code, 'grid_code', c.grid_code, 'officer_id', c.officer_id,
            'channel', c.channel, 'state', c.state, 'dispute_type', c.dispute_type,
            'risk_flags', to_json(c.risk_flags), 'high_risk', c.high_risk, 'address_key', c.address_key,
            'caller_phone_hmac', c.phone_hmac, 'received_at', {_utc_json("c.received_at")}, 'actor', {actor},
            'sequence', c.version, 'details', '{{}}'::json))"""


# The best pending case for the caller: high risk first, then oldest. Each (station, channel) pair
# takes its own head from the queue index (one short index scan each, instead of sorting every
# pending case of the stations), and SKIP LOCKED lets many mediators take the next case at once
# without waiting on each other or taking the same one.
#
# The claim and everything it writes, in one statement (autocommit: one round trip, its own
# transaction): the case (its holder joins worked_by), its timeline entry, the audit row and the
# case.claimed event in the outbox. $1 stations, $2 channels, $3 subject, $4 the caller's roles, $5 the
# topic, $6 the request's traceparent, $7 the producer.
CLAIM_NEXT_RECORDED = f"""
WITH heads AS (
    SELECT head.id, head.high_risk, head.received_at
    FROM unnest($1::text[]) AS station (code)
    CROSS JOIN unnest($2::text[]) AS chan (name)
    CROSS JOIN LATERAL (
        SELECT id, high_risk, received_at FROM cases
        WHERE state = 'pending' AND station_code = station.code AND channel = chan.name
        ORDER BY high_risk DESC, received_at, id
        LIMIT 1 FOR UPDATE SKIP LOCKED) AS head),
claimed AS (
    UPDATE cases SET state = 'claimed', claimed_by = $3, claimed_at = now(), version = version + 1,
        updated_at = now(),
        worked_by = CASE WHEN $3::text = ANY(worked_by) THEN worked_by ELSE array_append(worked_by, $3::text) END
    WHERE id = (SELECT id FROM heads ORDER BY high_risk DESC, received_at, id LIMIT 1)
    RETURNING {CASE_COLUMNS}),
timeline AS (
    INSERT INTO case_timeline (case_id, actor, action, from_state, to_state, details)
    SELECT id, $3, 'claim', 'pending', state, '{{"via": "claim-next"}}'::jsonb FROM claimed),
audit AS (
    INSERT INTO audit_log (actor, roles, action, case_id, outcome, details, purpose, stations)
    SELECT $3, $4::text[], 'claim', id, 'ok', '{{"via": "claim-next"}}'::jsonb, NULL, $1::text[] FROM claimed),
event AS (
    INSERT INTO outbox (topic, key, value, traceparent)
    SELECT $5, convert_to(c.station_code, 'UTF8'),
           convert_to({_case_event_json("'case.claimed'", "$3::text", "$7::text")}::text, 'UTF8'), $6
    FROM claimed c)
SELECT * FROM claimed
"""


# --- the functions ----------------------------------------------------------------------------------

async def cases_by_incident(conn: asyncpg.Connection,
                            keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], CaseRow]:
    """The existing cases of these incidents, locked for this transaction."""
    rows = await conn.fetch(CASES_BY_INCIDENT, [k[0] for k in keys], [k[1] for k in keys], record_class=CaseRow)
    return {(r["source"], r["incident_number"]): r for r in rows}


async def insert_cases(conn: asyncpg.Connection, cases: Sequence[NewCase]) -> list[CaseRow]:
    """Open these cases in one statement; the new rows (an incident opened meanwhile is missing)."""
    return await conn.fetch(INSERT_CASES, *_columns(cases), record_class=CaseRow)


async def update_facts(conn: asyncpg.Connection, updates: Sequence[FactsUpdate]) -> list[CaseRow]:
    """Newer facts of open cases (each case once) in one statement; the updated rows."""
    return await conn.fetch(UPDATE_FACTS, *_columns(updates), record_class=CaseRow)


async def note_revisions(conn: asyncpg.Connection, revisions: Sequence[tuple[uuid.UUID, int]]) -> None:
    """Note newer revisions of closed or withdrawn cases, (case id, revision) each once."""
    await conn.execute(NOTE_REVISIONS, *_columns(revisions))


async def add_caller_parties(conn: asyncpg.Connection, callers: Sequence[CallerParty]) -> None:
    """The callers of new cases as their first parties."""
    if callers:
        await conn.execute(INSERT_CALLER_PARTIES, *_columns(callers))


async def parties_of(conn: Executor, case_ids: Sequence[uuid.UUID]) -> list[PartyRow]:
    """The parties of these cases, by case and position."""
    return await conn.fetch(PARTIES, list(case_ids), record_class=PartyRow)


async def add_party(conn: asyncpg.Connection, case_id: uuid.UUID, party: PartyValues) -> int:
    """A new party after the case's last one; its position."""
    return await conn.fetchval(ADD_PARTY, case_id, *party)


async def correct_party(conn: asyncpg.Connection, case_id: uuid.UUID, position: int, party: PartyValues) -> int | None:
    """Correct the party at a position; None when there is none."""
    return await conn.fetchval(CORRECT_PARTY, case_id, position, *party)


async def bump_version(conn: asyncpg.Connection, case_id: uuid.UUID) -> CaseRow:
    """A new version of the case (its parties changed); the row."""
    return await conn.fetchrow(BUMP_VERSION, case_id, record_class=CaseRow)


async def case_by_id(conn: Executor, case_id: uuid.UUID, *, for_update: bool = False) -> CaseRow | None:
    """A case, locked for this transaction when `for_update`; None when there is none."""
    return await conn.fetchrow(CASE_BY_ID_FOR_UPDATE if for_update else CASE_BY_ID, case_id, record_class=CaseRow)


async def add_worker(conn: asyncpg.Connection, case_id: uuid.UUID, subject: str) -> None:
    """Note that someone acted on the case: they keep seeing it."""
    await conn.execute(ADD_WORKER, case_id, subject)


async def claim(conn: asyncpg.Connection, case_id: uuid.UUID, subject: str) -> CaseRow | None:
    """Claim a pending case; None when it is not pending (someone else won)."""
    return await conn.fetchrow(CLAIM, case_id, subject, record_class=CaseRow)


async def claim_next(conn: Executor, *, stations: Sequence[str], channels: Sequence[str], subject: str,
                     roles: Sequence[str], topic: str, traceparent: str | None, producer: str) -> CaseRow | None:
    """Claim the best pending case of these stations and channels with its timeline entry, audit row and
    case.claimed event, in one statement (CLAIM_NEXT_RECORDED); None when there is none."""
    return await conn.fetchrow(CLAIM_NEXT_RECORDED, list(stations), list(channels), subject, list(roles), topic,
                               traceparent, producer, record_class=CaseRow)


async def release(conn: asyncpg.Connection, case_id: uuid.UUID, subject: str) -> CaseRow | None:
    """Give a case its holder claimed back to the queue; None when it is not claimed by them."""
    return await conn.fetchrow(RELEASE, case_id, subject, record_class=CaseRow)


async def apply_action(conn: asyncpg.Connection, case_id: uuid.UUID, *, state: str, sessions: int,
                       had_agreement: bool, agreement: dict[str, Any] | None, confirmation_due: date | None,
                       ruling_number: str | None, unclaim: bool, escalate: str | None) -> CaseRow:
    """A lifecycle action's changes to a locked case (UPDATE_AFTER); the row after."""
    return await conn.fetchrow(UPDATE_AFTER, case_id, state, sessions, had_agreement, agreement, confirmation_due,
                               ruling_number, unclaim, escalate, record_class=CaseRow)


# The queue's first position: before every case, high risk first.
QUEUE_START = (False, datetime.min.replace(tzinfo=UTC) + timedelta(days=1), uuid.UUID(int=0))


async def queue_page(conn: Executor, *, stations: Sequence[str], channels: Sequence[str],
                     after: tuple[bool, datetime, Any] | None, limit: int) -> list[CaseRow]:
    """Claimable cases after a position (not high risk, received at, id), high risk first, then oldest."""
    return await conn.fetch(QUEUE, list(stations), list(channels), *(after or QUEUE_START), limit,
                            record_class=CaseRow)


async def search(conn: Executor, *, stations: Sequence[str], channels: Sequence[str], subject: str, mine: bool,
                 states: Sequence[str] | None, channel: str | None, escalated: bool | None,
                 overdue_confirmation: bool, today: date, incident_number: str | None, source: str | None,
                 incident_id: uuid.UUID | None, phone_hmac: str | None, received_from: datetime | None,
                 received_to: datetime | None, after: tuple[datetime, uuid.UUID] | None,
                 limit: int) -> list[CaseRow]:
    """The cases a caller may see that match (SEARCH), newest first, after a position (received at, id)."""
    at, ident = after or (None, None)
    return await conn.fetch(SEARCH, list(stations), list(channels), subject, mine,
                            list(states) if states else None, channel, escalated, overdue_confirmation, today,
                            incident_number, source, incident_id, phone_hmac, received_from, received_to, at,
                            ident, limit, record_class=CaseRow)


async def timeline(conn: Executor, case_id: uuid.UUID) -> list[TimelineRow]:
    """A case's timeline, oldest first."""
    return await conn.fetch(TIMELINE, case_id, record_class=TimelineRow)


async def add_timeline(conn: asyncpg.Connection, entries: Sequence[TimelineEntry]) -> None:
    """Append entries, in the order given."""
    if entries:
        await conn.execute(INSERT_TIMELINE, *_columns(entries))


async def pending_handoffs(conn: Executor, stations: Sequence[str], channels: Sequence[str]) -> list[HandoffRow]:
    """Handoffs waiting for these channels at these stations, oldest first."""
    return await conn.fetch(PENDING_HANDOFFS, list(stations), list(channels), record_class=HandoffRow)


async def sent_handoffs(conn: Executor, subject: str, stations: Sequence[str], limit: int) -> list[HandoffRow]:
    """Handoffs someone sent, newest first, answered or not."""
    return await conn.fetch(SENT_HANDOFFS, subject, list(stations), limit, record_class=HandoffRow)


async def insert_handoff(conn: asyncpg.Connection, handoff: NewHandoff) -> None:
    """Record a handoff request."""
    await conn.execute(INSERT_HANDOFF, *handoff)


async def handoff_for_update(conn: asyncpg.Connection, handoff_id: uuid.UUID) -> HandoffRow | None:
    """A handoff, locked for this transaction; None when there is none."""
    return await conn.fetchrow(HANDOFF_FOR_UPDATE, handoff_id, record_class=HandoffRow)


async def pending_confirmation(conn: asyncpg.Connection, case_id: uuid.UUID) -> HandoffRow | None:
    """The case's confirmation request that waits for the court, locked; None when there is none."""
    return await conn.fetchrow(PENDING_CONFIRMATION, case_id, record_class=HandoffRow)


async def decide_handoff(conn: asyncpg.Connection, handoff_id: uuid.UUID, state: str, reason: str | None,
                         decided_by: str) -> None:
    """Record the answer to a handoff."""
    await conn.execute(DECIDE_HANDOFF, handoff_id, state, reason, decided_by)


async def set_handoff(conn: asyncpg.Connection, case_id: uuid.UUID, *, pending: bool, summary: dict[str, Any],
                      court_case_number: str | None = None) -> CaseRow:
    """Show a handoff (waiting or answered) on the case; the row after."""
    return await conn.fetchrow(SET_HANDOFF, case_id, pending, summary, court_case_number, record_class=CaseRow)


async def answer_handoff(conn: asyncpg.Connection, case_id: uuid.UUID, *, accepted: bool, channel: str,
                         receiver: str, summary: dict[str, Any]) -> CaseRow:
    """The receiver's answer on the case: on acceptance it moves to the channel, held by the receiver."""
    return await conn.fetchrow(ANSWER_HANDOFF, case_id, accepted, channel, receiver, summary, record_class=CaseRow)


async def add_audit_entry(conn: Executor, *, actor: str, roles: Sequence[str], action: str, case_id: Any,
                          outcome: str, details: dict[str, Any], purpose: str | None, stations: Sequence[str],
                          handoff_id: Any = None) -> None:
    """One row of the audit trail; a refusal on a handoff is filed under the handoff's case."""
    await conn.execute(INSERT_AUDIT_ENTRY, actor, list(roles), action, case_id, outcome, details, purpose,
                       list(stations), handoff_id)


async def audit_trail(conn: Executor, *, stations: Sequence[str], case_id: uuid.UUID | None, actor: str | None,
                      since: datetime | None, until: datetime | None, after: int | None,
                      limit: int) -> list[AuditRow]:
    """The rows an auditor of these stations may read, oldest first, after a row id."""
    return await conn.fetch(AUDIT_TRAIL, list(stations), case_id, actor, since, until, after, limit,
                            record_class=AuditRow)


async def escalate(conn: asyncpg.Connection, reason: str, *, limit: timedelta, now: datetime,
                   batch: int) -> tuple[list[CaseRow], bool]:
    """Escalate up to `batch` cases past one SLA limit at `now`; the rows, and whether their claims expired."""
    statement, expires = ESCALATIONS[reason]
    return await conn.fetch(statement, limit, reason, now, expires, batch, record_class=CaseRow), expires


async def cases_past_retention(conn: asyncpg.Connection, before: datetime) -> list[uuid.UUID]:
    """The cases finished before `before` whose party data is still there, locked."""
    return [r["id"] for r in await conn.fetch(CASES_PAST_RETENTION, before)]


async def erase_party_data(conn: asyncpg.Connection, case_ids: Sequence[uuid.UUID]) -> None:
    """Erase the names, phones, ID numbers and free text of these cases."""
    ids = list(case_ids)
    for statement in (ERASE_PARTIES, ERASE_TIMELINE_TEXT, ERASE_HANDOFF_REASONS, ERASE_CASE_PARTY):
        await conn.execute(statement, ids)


async def audit_months_before(conn: asyncpg.Connection, before: datetime) -> list[AuditMonthRow]:
    """The months of audit_log whose every row is older than `before`, oldest first."""
    return await conn.fetch(AUDIT_PARTITIONS_BEFORE, before, record_class=AuditMonthRow)


def _audit_month(name: str) -> str:
    """The partition's name quoted for a statement; a ValueError for any name not of an audit month."""
    if not _AUDIT_MONTH.match(name):
        raise ValueError(f"unexpected audit_log partition {name!r}")
    return f'"{name}"'


async def audit_month_rows(conn: asyncpg.Connection, name: str) -> int:
    """How many rows a month of audit_log holds."""
    return await conn.fetchval(f"SELECT count(*) FROM {_audit_month(name)}")


async def drop_audit_month(conn: asyncpg.Connection, name: str) -> None:
    """Drop a month of audit_log as a whole (audit_retention.py: the one sanctioned removal)."""
    await conn.execute(f"DROP TABLE {_audit_month(name)}")


async def add_audit_months(conn: asyncpg.Connection, ahead: int, now: datetime) -> None:
    """Create the months of audit_log from `now`'s to `ahead` months later that are missing."""
    await conn.fetchval(ADD_AUDIT_PARTITIONS, ahead, now)


async def audit_rows_in_default(conn: asyncpg.Connection) -> int:
    """The rows of audit_log that found no month of their own (in audit_log_default)."""
    return await conn.fetchval(AUDIT_ROWS_IN_DEFAULT)


async def changes_between(conn: Executor, low: int, high: int) -> list[ChangeRow]:
    """The changes with timeline ids from `low` to `high`, oldest first, each with its case as it is now."""
    return await conn.fetch(CHANGES, low, high, record_class=ChangeRow)


async def changes_after(conn: Executor, after: int, limit: int) -> list[ChangeRow]:
    """At most `limit` changes after a timeline id, oldest first, each with its case as it is now."""
    return await conn.fetch(CHANGES_AFTER, after, limit, record_class=ChangeRow)


async def last_timeline_id(conn: Executor) -> int:
    """The highest timeline id so far; 0 before any."""
    return await conn.fetchval(LAST_TIMELINE_ID)


async def due_notifications(conn: asyncpg.Connection, batch: int) -> list[NotificationRow]:
    """Up to `batch` notifications that are due, oldest due first, locked for this transaction."""
    return await conn.fetch(DUE_NOTIFICATIONS, batch, record_class=NotificationRow)


async def notification_done(conn: asyncpg.Connection, notification_id: int, state: str,
                            delivered_to: Sequence[str]) -> None:
    """A notification finished: `sent` (every webhook took it) or `no_webhook` (none is configured for it)."""
    await conn.execute(NOTIFICATION_DONE, notification_id, state, list(delivered_to))


async def notification_failed(conn: asyncpg.Connection, notification_id: int, *, delivered_to: Sequence[str],
                              error: str, retry_in: timedelta, max_attempts: int) -> None:
    """A webhook did not take it: tried again after `retry_in`, or failed for good after `max_attempts`."""
    await conn.execute(NOTIFICATION_FAILED, notification_id, list(delivered_to), error, retry_in, max_attempts)
