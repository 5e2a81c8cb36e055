"""Intake's commands: ingest a batch of raw records (from HTTP, Kafka or a file), relay the outbox.

A batch is one transaction: records, rejected input, import progress and the outgoing events
(in the outbox, shared/outbox.py) commit together and the events are published right after the
commit. Event ids derive from (type, source, incident, revision), so an event the relay
publishes again after a crash is a duplicate that every consumer skips.
"""
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import structlog

from services.intake import repository
from services.intake.bootstrap import IntakeContext
from services.intake.domain.dedup import Outcome, content_hash, decide
from services.intake.domain.profiles import FeedProfile, FieldError, Mapped, map_record
from services.intake.domain.record import DispatchRecord
from services.intake.domain.triage import repeat_keys, triage
from services.intake.outgoing import incident_events, rejected_event
from services.intake.parsing import RawInput, parse_one, storable
from shared import outbox as outbox_table
from shared.kafka.dead_letter import describe
from shared.kafka.exactly_once import INFRASTRUCTURE_ERRORS
from shared.outbox import OutboxRow

log = structlog.get_logger(__name__)

Channel = Literal["http", "kafka", "file", "replay"]
Status = Literal["accepted", "duplicate", "superseded", "conflict", "rejected"]


@dataclass(frozen=True)
class RecordResult:
    """The answer for one input record."""

    position: str
    status: Status
    source: str | None = None
    incident_number: str | None = None
    revision: int | None = None
    change: Literal["new", "update"] | None = None
    station_code: str | None = None
    kind: str | None = None
    dispute_type: str | None = None
    errors: list[FieldError] = field(default_factory=list)


@dataclass
class ImportProgress:
    """A file import's position, saved in the same transaction as each batch."""

    file_id: str
    next_record: int
    counts: dict[str, int]


async def ingest(ctx: IntakeContext, inputs: Sequence[RawInput], *, profile: FeedProfile,
                 channel: Channel, progress: ImportProgress | None = None) -> list[RecordResult]:
    """Validate, deduplicate, classify and route a batch; durable when this returns."""
    mapped = [map_record(profile, i.value) if i.parse_error is None else Mapped(None, [i.parse_error])
              for i in inputs]
    keys = sorted({(m.record.source, m.record.incident_number) for m in mapped if m.record})
    results: list[RecordResult] = []
    outbox: list[OutboxRow] = []
    async with ctx.pool.acquire() as conn, conn.transaction():
        await repository.lock_incidents(conn, keys)
        stored = await repository.stored_revisions(conn, keys)
        repeats = await _RepeatCallers.load(conn, ctx, [m.record for m in mapped if m.record])
        classifier = ctx.classifier_for(profile)
        rows: dict[tuple[str, str], tuple] = {}
        superseded: dict[tuple[str, str], int] = {}
        rejected: list[tuple[str, str, list[FieldError]]] = []  # (position, raw text kept, reasons)
        for raw, m in zip(inputs, mapped, strict=True):
            if m.record is None:
                results.append(RecordResult(raw.position, "rejected", errors=m.errors))
                rejected.append((raw.position, storable(raw.raw_text), m.errors))
                continue
            record, key = m.record, (m.record.source, m.record.incident_number)
            revision, kind_before, hash_before = stored.get(key, (None, None, None))
            digest = content_hash(record)
            outcome = decide(revision, record.revision, hash_before, digest)
            if outcome is Outcome.CONFLICT:
                # The same revision saying something else: neither is silently dropped. The stored one
                # stands; this one is kept as rejected, with the reason, for an operator to resolve.
                errors = [FieldError("revision", f"conflict: revision {record.revision} of incident "
                                                 f"{record.incident_number} from {record.source} was already "
                                                 "accepted with different content; send a higher revision "
                                                 "to change it")]
                results.append(RecordResult(raw.position, "conflict", *key, record.revision, errors=errors))
                rejected.append((raw.position, storable(raw.raw_text), errors))
                continue
            if outcome in (Outcome.DUPLICATE, Outcome.SUPERSEDED):
                if outcome is Outcome.SUPERSEDED:
                    superseded[key] = superseded.get(key, 0) + 1
                results.append(RecordResult(raw.position, outcome.value, *key, record.revision))  # type: ignore[arg-type]
                continue
            keys_of_record = repeats.keys_of(record)
            facts = triage(record, m.code, classifier=classifier, jurisdictions=ctx.jurisdictions,
                           keys=keys_of_record, repeat_caller=repeats.seen_before(record, keys_of_record[1]))
            stored[key] = (record.revision, facts.classification.kind, digest)
            rows[key] = _record_row(record, facts, profile, digest)
            outbox += incident_events(record, facts, outcome, ctx.settings.topic_prefix, kind_before=kind_before)
            results.append(RecordResult(
                raw.position, "accepted", *key, record.revision, outcome.value,  # type: ignore[arg-type]
                facts.assignment.station_code, facts.classification.kind, facts.classification.dispute_type))
        await repository.upsert_records(conn, list(rows.values()))
        await repository.count_superseded(conn, superseded)
        # Each rejection's event names the row that keeps its raw input, so the rows go in first.
        references = await repository.insert_rejected(
            conn, [(channel, profile.name, position, kept, [e.__dict__ for e in errors])
                   for position, kept, errors in rejected])
        outbox += [rejected_event(channel, profile.name, position, kept, errors, reference, ctx.settings.topic_prefix)
                   for (position, kept, errors), reference in zip(rejected, references, strict=True)]
        outbox_ids = await outbox_table.write(conn, outbox)
        if progress is not None:
            _count(progress, results)
            await conn.execute(repository.SAVE_IMPORT_PROGRESS, progress.file_id,
                               progress.next_record, progress.counts)
    await outbox_table.publish(ctx.pool, ctx.producer, outbox, outbox_ids)
    return results


async def ingest_safely(ctx: IntakeContext, inputs: Sequence[RawInput], *, profile: FeedProfile,
                        channel: Channel, progress: ImportProgress | None = None) -> list[RecordResult]:
    """ingest(); if a batch fails for a reason other than an outage, record by record, and a
    record that still fails is kept as rejected with its error: one bad record never fails the rest."""
    try:
        return await ingest(ctx, inputs, profile=profile, channel=channel, progress=progress)
    except INFRASTRUCTURE_ERRORS:
        raise
    except Exception as exc:  # an input no validation caught; find it
        log.warning("intake.batch_failed", size=len(inputs), error_type=type(exc).__name__, error=describe(exc))
    results: list[RecordResult] = []
    for index, raw in enumerate(inputs):
        last = index == len(inputs) - 1
        # Progress is saved with the last record only, so a crash mid-way replays the whole batch.
        try:
            done = await ingest(ctx, [raw], profile=profile, channel=channel, progress=progress if last else None)
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as exc:
            broken = RawInput(raw.position, raw.raw_text,
                              parse_error=FieldError("<record>", f"could not be processed: {type(exc).__name__}"))
            done = await ingest(ctx, [broken], profile=profile, channel=channel, progress=progress if last else None)
        if progress is not None and not last:
            _count(progress, done)
        results += done
    return results


def _count(progress: ImportProgress, results: list[RecordResult]) -> None:
    for result in results:
        progress.counts[result.status] = progress.counts.get(result.status, 0) + 1


def _record_row(record: DispatchRecord, facts, profile: FeedProfile, digest: str) -> tuple:
    c, a = facts.classification, facts.assignment
    return (record.source, record.incident_number, record.revision, record.received_at,
            a.station_code, a.grid_code, c.kind, c.dispute_type, c.crime_type, list(facts.risk_flags),
            facts.address_key, facts.address_precision, facts.phone_hmac, record.model_dump(mode="json"),
            profile.name, profile.version, digest, c.needs_review, record.received_at_derived_from)


async def replay_rejected(ctx: IntakeContext, *, ids: list[int] | None = None,
                          profile_name: str | None = None, limit: int = 1000) -> list[RecordResult]:
    """Ingest kept rejected input again (after a profile or reference-data fix), oldest first;
    each row is marked replayed, and what fails again is rejected again with its new reasons."""
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(repository.PENDING_REJECTED, ids, limit)
    results: list[RecordResult] = []
    by_profile: dict[str, list] = {}
    for row in rows:
        by_profile.setdefault(profile_name or row["profile"], []).append(row)
    for name, group in by_profile.items():
        inputs = [parse_one(r["raw"].encode(), f"rejected #{r['id']}") for r in group]
        results += await ingest_safely(ctx, inputs, profile=ctx.profile(name), channel="replay")
        async with ctx.pool.acquire() as conn:
            await conn.execute(repository.MARK_REPLAYED, [r["id"] for r in group])
    return results


async def relay_outbox(ctx: IntakeContext) -> int:
    """Publish events a crash left in the outbox; returns how many."""
    return await outbox_table.relay(ctx.pool, ctx.producer)


class _RepeatCallers:
    """Who called before: stored calls from the same phone within the window, plus this batch's."""

    def __init__(self, window: timedelta, calls: list[tuple[str, tuple[str, str], Any]],
                 keys: dict[int, tuple[str | None, str | None]]) -> None:
        self._window = window
        self._keys = keys
        self._by_phone: dict[str, list[tuple[tuple[str, str], Any]]] = {}
        for phone, key, at in calls:
            self._by_phone.setdefault(phone, []).append((key, at))

    @classmethod
    async def load(cls, conn, ctx: IntakeContext, records: list[DispatchRecord]) -> "_RepeatCallers":
        """Stored calls from the batch's phones that can make one of its records a repeat."""
        window = timedelta(days=ctx.settings.repeat_caller_days)
        # Keyed by object identity: the same record objects come back to keys_of().
        keys = {id(r): repeat_keys(r, ctx.phone_secret) for r in records}
        hmacs: set[str] = {k[1] for k in keys.values()} - {None}  # type: ignore[assignment]
        if not hmacs:
            return cls(window, [], keys)
        since = min(r.received_at for r in records) - window
        until = max(r.received_at for r in records)
        rows = await repository.earlier_calls(conn, sorted(hmacs), since, until)
        return cls(window, [(r["phone_hmac"], (r["source"], r["incident_number"]), r["received_at"])
                            for r in rows], keys)

    def keys_of(self, record: DispatchRecord) -> tuple[str | None, str | None]:
        """(address key, phone HMAC) of a record of the batch, computed once."""
        return self._keys[id(record)]

    def seen_before(self, record: DispatchRecord, phone: str | None) -> bool:
        """True when another incident came from this phone within the window before this call."""
        if phone is None:
            return False
        key = (record.source, record.incident_number)
        earliest = record.received_at - self._window
        calls = self._by_phone.setdefault(phone, [])
        found = any(k != key and earliest <= at < record.received_at for k, at in calls)
        calls.append((key, record.received_at))
        return found
