"""SQL of the intake database: records, rejected input, file-import progress and retention.

Every statement intake runs on its own tables is here, behind a typed function; rows come back as
named tuples (the outbox and the idempotency ledger are shared/'s own).
"""
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import asyncpg

from services.intake.domain.profile_model import FeedProfile
from services.intake.domain.record import DispatchRecord
from services.intake.domain.triage import Triage

# Serialises concurrent writers of the same incident (several replicas, API and importer at once).
# Incidents hash into 1,024 buckets, so a batch of 10,000 takes at most 1,024 locks and concurrent
# batches cannot exhaust the server's lock table; taken in order, so two batches never deadlock.
LOCK_INCIDENTS = """
SELECT pg_advisory_xact_lock(k)
FROM (SELECT DISTINCT hashtextextended(s || '/' || n, 0) & 1023 AS k
      FROM unnest($1::text[], $2::text[]) AS t(s, n) ORDER BY 1) AS keys
"""

STORED_REVISIONS = """
SELECT source, incident_number, revision, kind, content_hash
FROM dispatch_records
WHERE (source, incident_number) IN (SELECT * FROM unnest($1::text[], $2::text[]))
"""

# Which of a batch's calls (phone, incident, time) a stored call of another incident from the same phone
# precedes within the window: one probe of dispatch_records_phone per call, so the cost follows the
# batch, not how often its phones called before.
CALLED_BEFORE = """
SELECT c.position FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) WITH ORDINALITY
                       AS c(phone_hmac, source, incident_number, received_at, position)
WHERE EXISTS (SELECT 1 FROM dispatch_records AS d
              WHERE d.phone_hmac = c.phone_hmac AND d.received_at >= c.received_at - $5::interval
                AND d.received_at < c.received_at
                AND (d.source, d.incident_number) <> (c.source, c.incident_number))
"""

# A batch's accepted revisions (one per incident) are copied into a temporary table of the session,
# emptied at each commit, and upserted from it in one statement: set-based, instead of a statement
# per record.
RECORD_BATCH = "dispatch_records_batch"
RECORD_COLUMNS = ("source", "incident_number", "revision", "received_at", "station_code", "grid_code",
                  "kind", "dispute_type", "crime_type", "risk_flags", "address_key", "address_precision",
                  "phone_hmac", "record", "profile", "profile_version", "content_hash", "needs_review",
                  "received_at_derived_from")
CREATE_RECORD_BATCH = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS {RECORD_BATCH} (LIKE dispatch_records INCLUDING DEFAULTS) ON COMMIT DELETE ROWS
"""

UPSERT_RECORD = f"""
INSERT INTO dispatch_records ({", ".join(RECORD_COLUMNS)})
SELECT {", ".join(RECORD_COLUMNS)} FROM {RECORD_BATCH}
ON CONFLICT (source, incident_number) DO UPDATE SET
    revision = EXCLUDED.revision, received_at = EXCLUDED.received_at,
    station_code = EXCLUDED.station_code, grid_code = EXCLUDED.grid_code, kind = EXCLUDED.kind,
    dispute_type = EXCLUDED.dispute_type, crime_type = EXCLUDED.crime_type, risk_flags = EXCLUDED.risk_flags,
    address_key = EXCLUDED.address_key, address_precision = EXCLUDED.address_precision,
    phone_hmac = EXCLUDED.phone_hmac, profile = EXCLUDED.profile, profile_version = EXCLUDED.profile_version,
    content_hash = EXCLUDED.content_hash, needs_review = EXCLUDED.needs_review,
    received_at_derived_from = EXCLUDED.received_at_derived_from,
    record = EXCLUDED.record, updated_at = now(), personal_data_erased_at = NULL
WHERE dispatch_records.revision < EXCLUDED.revision
"""

COUNT_SUPERSEDED = """
UPDATE dispatch_records AS d SET superseded_count = d.superseded_count + c.n
FROM unnest($1::text[], $2::text[], $3::int[]) AS c(source, incident_number, n)
WHERE d.source = c.source AND d.incident_number = c.incident_number
"""

# The row's id is the reference dispatch.rejected.v1 carries; a redelivered Kafka message gets the id of its
# first rejection (the no-op update makes RETURNING answer for the existing row).
INSERT_REJECTED = """
INSERT INTO rejected_records (channel, profile, position, raw, errors) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (channel, position) WHERE channel = 'kafka' DO UPDATE SET channel = EXCLUDED.channel
RETURNING id
"""

PENDING_REJECTED = """
SELECT id, profile, raw FROM rejected_records
WHERE replayed_at IS NULL AND raw_erased_at IS NULL AND ($1::bigint[] IS NULL OR id = ANY($1::bigint[]))
ORDER BY id LIMIT $2
"""

MARK_REPLAYED = "UPDATE rejected_records SET replayed_at = now() WHERE id = ANY($1::bigint[])"

IMPORT_RUN = "SELECT next_record, counts, finished_at FROM import_runs WHERE file_id = $1"

START_IMPORT = """
INSERT INTO import_runs (file_id, path, profile) VALUES ($1, $2, $3)
ON CONFLICT (file_id) DO NOTHING
"""

SAVE_IMPORT_PROGRESS = "UPDATE import_runs SET next_record = $2, counts = $3 WHERE file_id = $1"

FINISH_IMPORT = "UPDATE import_runs SET finished_at = now() WHERE file_id = $1"


IncidentKey = tuple[str, str]  # (source, incident_number)


class StoredRevision(NamedTuple):
    """What is stored of an incident: the revision, its kind and the digest of its content."""

    revision: int
    kind: str
    content_hash: str | None  # None for rows written before hashes were kept


class RecordRow(NamedTuple):
    """One accepted revision of an incident, as dispatch_records keeps it (UPSERT_RECORD's order)."""

    source: str
    incident_number: str
    revision: int
    received_at: datetime
    station_code: str
    grid_code: str | None
    kind: str
    dispute_type: str | None
    crime_type: str | None
    risk_flags: list[str]
    address_key: str | None
    address_precision: str
    phone_hmac: str | None
    record: dict[str, Any]  # the canonical record as JSON (jsonb)
    profile: str
    profile_version: int
    content_hash: str
    needs_review: bool
    received_at_derived_from: str | None


def record_row(record: DispatchRecord, document: dict[str, Any], facts: Triage, profile: FeedProfile,
               digest: str) -> RecordRow:
    """The row of an accepted revision: the record (`document` is its JSON dump), what triage derived and
    which profile mapped it."""
    c, a = facts.classification, facts.assignment
    return RecordRow(record.source, record.incident_number, record.revision, record.received_at,
                     a.station_code, a.grid_code, c.kind, c.dispute_type, c.crime_type, list(facts.risk_flags),
                     facts.address_key, facts.address_precision, facts.phone_hmac, document,
                     profile.name, profile.version, digest, c.needs_review, record.received_at_derived_from)


class RejectedRow(NamedTuple):
    """Input that was not accepted, kept with its reasons (INSERT_REJECTED's order)."""

    channel: str
    profile: str
    position: str
    raw: str
    errors: list[dict[str, str]]


class PendingRejected(NamedTuple):
    """Kept rejected input not yet replayed."""

    id: int
    profile: str
    raw: str


class ImportRun(NamedTuple):
    """How far a file import got."""

    next_record: int
    counts: dict[str, int]
    finished_at: datetime | None


class RejectedPast(NamedTuple):
    """Rejected input past its retention, with its reasons as stored."""

    id: int
    errors: list[dict[str, str]]


async def lock_incidents(conn: asyncpg.Connection, keys: Sequence[IncidentKey]) -> None:
    """Take the transaction-scoped lock of every incident in the batch, in a fixed order."""
    await conn.execute(LOCK_INCIDENTS, [k[0] for k in keys], [k[1] for k in keys])


async def stored_revisions(conn: asyncpg.Connection, keys: Sequence[IncidentKey]) -> dict[IncidentKey, StoredRevision]:
    """What is stored of each incident that exists."""
    rows = await conn.fetch(STORED_REVISIONS, [k[0] for k in keys], [k[1] for k in keys])
    return {(r["source"], r["incident_number"]): StoredRevision(r["revision"], r["kind"], r["content_hash"])
            for r in rows}


async def called_before(conn: asyncpg.Connection, calls: Sequence[tuple[str, IncidentKey, datetime]],
                        window: timedelta) -> set[int]:
    """The positions (from 0) of the (phone HMAC, incident, received at) calls that a stored call about
    another incident from the same phone preceded within `window`."""
    if not calls:
        return set()
    rows = await conn.fetch(CALLED_BEFORE, [c[0] for c in calls], [c[1][0] for c in calls],
                            [c[1][1] for c in calls], [c[2] for c in calls], window)
    return {r["position"] - 1 for r in rows}


async def upsert_records(conn: asyncpg.Connection, rows: Sequence[RecordRow]) -> None:
    """Insert new incidents and replace older revisions (at most one row per incident), inside the
    caller's transaction."""
    if not rows:
        return
    await conn.execute(CREATE_RECORD_BATCH)
    await conn.copy_records_to_table(RECORD_BATCH, records=rows, columns=RECORD_COLUMNS)
    await conn.execute(UPSERT_RECORD)


async def count_superseded(conn: asyncpg.Connection, counts: dict[IncidentKey, int]) -> None:
    """Add late lower revisions to each incident's superseded count."""
    if counts:
        keys = list(counts)
        await conn.execute(COUNT_SUPERSEDED, [k[0] for k in keys], [k[1] for k in keys], list(counts.values()))


async def insert_rejected(conn: asyncpg.Connection, rows: Sequence[RejectedRow]) -> list[int]:
    """Keep rejected input with its reasons; the ids of the rows, in order. One statement per row:
    rejections are the rare case, and each id must come back with its row."""
    return [await conn.fetchval(INSERT_REJECTED, *row) for row in rows]


async def pending_rejected(conn: asyncpg.Connection, ids: Sequence[int] | None, limit: int) -> list[PendingRejected]:
    """Rejected input not yet replayed (these ids, or any), oldest first."""
    return [PendingRejected(*r) for r in await conn.fetch(PENDING_REJECTED, ids, limit)]


async def mark_replayed(conn: asyncpg.Connection, ids: Sequence[int]) -> None:
    """Mark rejected input as replayed."""
    await conn.execute(MARK_REPLAYED, list(ids))


async def start_import(conn: asyncpg.Connection, file_id: str, path: str, profile: str) -> ImportRun:
    """The import of a file: a new one, or where an earlier run of it got to."""
    await conn.execute(START_IMPORT, file_id, path, profile)
    return ImportRun(*await conn.fetchrow(IMPORT_RUN, file_id))


async def save_import_progress(conn: asyncpg.Connection, file_id: str, next_record: int,
                               counts: dict[str, int]) -> None:
    """Save an import's position and counts (in the transaction of the batch that got it there)."""
    await conn.execute(SAVE_IMPORT_PROGRESS, file_id, next_record, counts)


async def finish_import(conn: asyncpg.Connection, file_id: str) -> None:
    """Mark an import done: a rerun of the same file reports it complete."""
    await conn.execute(FINISH_IMPORT, file_id)


# Retention (services/intake/retention.py). Caller details leave the record jsonb; the keys built from
# them (phone_hmac, address_key) and every other column stay, so the figures are unchanged.
CALLER_DETAIL_FIELDS = ["caller_name", "caller_phone", "address_text", "description", "longitude", "latitude"]

COUNT_CALLER_DETAILS_PAST = """
SELECT count(*) FROM dispatch_records WHERE personal_data_erased_at IS NULL AND received_at < $1
"""

ERASE_CALLER_DETAILS = """
UPDATE dispatch_records SET record = record - $2::text[], personal_data_erased_at = now()
WHERE personal_data_erased_at IS NULL AND received_at < $1
"""

REJECTED_PAST = """
SELECT id, errors FROM rejected_records WHERE raw_erased_at IS NULL AND received_at < $1 ORDER BY id
"""

# The reasons stay (masked: a reason can quote the value it refused), the raw input goes. Each row's
# reasons come as JSON text (asyncpg would take a list of lists for a two-dimensional array).
ERASE_REJECTED = """
UPDATE rejected_records AS r SET raw = '', errors = e.errors::jsonb, raw_erased_at = now()
FROM unnest($1::bigint[], $2::text[]) AS e (id, errors)
WHERE r.id = e.id
"""


async def rejected_past(conn: asyncpg.Connection, before: datetime) -> list[RejectedPast]:
    """Rejected input received before `before` whose raw text is still kept, oldest first."""
    return [RejectedPast(*r) for r in await conn.fetch(REJECTED_PAST, before)]


async def count_caller_details_past(conn: asyncpg.Connection, before: datetime) -> int:
    """How many records of calls received before `before` still hold caller details."""
    return await conn.fetchval(COUNT_CALLER_DETAILS_PAST, before)


async def erase_caller_details(conn: asyncpg.Connection, before: datetime) -> int:
    """Erase the caller details of calls received before `before`; how many records."""
    status = await conn.execute(ERASE_CALLER_DETAILS, before, CALLER_DETAIL_FIELDS)
    return int(status.rsplit(" ", 1)[-1])


async def erase_rejected(conn: asyncpg.Connection, ids: Sequence[int], errors_json: Sequence[str]) -> None:
    """Erase the raw text of rejected input, replacing each row's reasons by the (masked) JSON given."""
    await conn.execute(ERASE_REJECTED, list(ids), list(errors_json))
