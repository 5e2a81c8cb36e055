"""Intake's commands: ingest a batch of raw records (from HTTP, Kafka, a file or a replay), replay kept
rejected input, relay the outbox.

A batch is one transaction: records, rejected input, import progress and the outgoing events
(in the outbox, shared/outbox.py) commit together and the events are published right after the
commit. Event ids derive from (type, source, incident, revision), so an event the relay
publishes again after a crash is a duplicate that every consumer skips.
"""
from collections.abc import Sequence
from datetime import UTC, timedelta

import structlog

from services.intake import repository
from services.intake.bootstrap import IntakeContext
from services.intake.domain.dedup import Outcome, conflict_error, content_hash, decide
from services.intake.domain.profiles import FeedProfile, FieldError, Mapped, map_record
from services.intake.domain.results import Channel, ImportProgress, RecordResult
from services.intake.domain.triage import Call, repeat_keys, seen_before, triage
from services.intake.events import incident_events, rejected_event
from services.intake.parsing import RawInput, parse_one, storable
from shared import outbox as outbox_table
from shared.kafka.dead_letter import describe
from shared.kafka.exactly_once import INFRASTRUCTURE_ERRORS
from shared.outbox import OutboxRow

log = structlog.get_logger(__name__)


async def ingest(ctx: IntakeContext, inputs: Sequence[RawInput], *, profile: FeedProfile,
                 channel: Channel, progress: ImportProgress | None = None) -> list[RecordResult]:
    """Validate, deduplicate, classify and route a batch; durable when this returns."""
    # Each input mapped once, and each record's repeat keys (address key, phone HMAC) computed once:
    # the phones are what earlier calls are looked up by, before any record is decided.
    mapped = [map_record(profile, i.value) if i.parse_error is None else Mapped(None, [i.parse_error])
              for i in inputs]
    keys = [repeat_keys(m.record, ctx.phone_secret) if m.record else None for m in mapped]
    incidents = sorted({(m.record.source, m.record.incident_number) for m in mapped if m.record})
    # Call times in UTC: comparing aware times of two offset objects costs a microsecond, of one object
    # (UTC's) a plain comparison, and a frequent caller's calls are compared pairwise.
    calls = [(i, Call((m.record.source, m.record.incident_number), m.record.received_at.astimezone(UTC)), k.phone_hmac)
             for i, (m, k) in enumerate(zip(mapped, keys, strict=True)) if m.record and k and k.phone_hmac]
    call_at = {i: call for i, call, _ in calls}
    window = timedelta(days=ctx.settings.repeat_caller_days)
    classifier = ctx.classifier_for(profile)
    results: list[RecordResult] = []
    rows: dict[repository.IncidentKey, repository.RecordRow] = {}
    superseded: dict[repository.IncidentKey, int] = {}
    rejected: list[tuple[str, str, list[FieldError]]] = []  # (position, raw text kept, reasons)
    outbox: list[OutboxRow] = []
    async with ctx.pool.acquire() as conn, conn.transaction():
        await repository.lock_incidents(conn, incidents)
        stored = await repository.stored_revisions(conn, incidents)
        # A caller called before when a stored call says so (asked once for the batch), or an earlier
        # accepted record of this batch (seen_before over the batch's calls by phone).
        stored_repeats = {calls[p][0] for p in await repository.called_before(
            conn, [(phone, call.incident, call.received_at) for _, call, phone in calls], window)}
        batch_calls: dict[str, list[Call]] = {}
        for position, (raw, m, k) in enumerate(zip(inputs, mapped, keys, strict=True)):
            if m.record is None or k is None:
                results.append(RecordResult(raw.position, "rejected", errors=m.errors))
                rejected.append((raw.position, storable(raw.raw_text), m.errors))
                continue
            record, key = m.record, (m.record.source, m.record.incident_number)
            before = stored.get(key)
            document = record.model_dump(mode="json")  # hashed now, stored if accepted
            digest = content_hash(document)
            outcome = decide(before.revision if before else None, record.revision,
                             before.content_hash if before else None, digest)
            if outcome is Outcome.CONFLICT:
                # The same revision saying something else: neither is silently dropped. The stored one
                # stands; this one is kept as rejected, with the reason, for an operator to resolve.
                errors = [conflict_error(record)]
                results.append(RecordResult(raw.position, "conflict", *key, record.revision, errors=errors))
                rejected.append((raw.position, storable(raw.raw_text), errors))
                continue
            if outcome in (Outcome.DUPLICATE, Outcome.SUPERSEDED):
                if outcome is Outcome.SUPERSEDED:
                    superseded[key] = superseded.get(key, 0) + 1
                results.append(RecordResult(raw.position, outcome.value, *key, record.revision))  # type: ignore[arg-type]
                continue
            repeat_caller = False
            if k.phone_hmac is not None:
                call = call_at[position]
                earlier = batch_calls.setdefault(k.phone_hmac, [])
                repeat_caller = position in stored_repeats or seen_before(earlier, call, window)
                earlier.append(call)
            facts = triage(record, m.code, classifier=classifier, jurisdictions=ctx.jurisdictions,
                           keys=k, repeat_caller=repeat_caller)
            stored[key] = repository.StoredRevision(record.revision, facts.classification.kind, digest)
            rows[key] = repository.record_row(record, document, facts, profile, digest)
            outbox += incident_events(record, facts, outcome, ctx.settings.topic_prefix,
                                      kind_before=before.kind if before else None)
            results.append(RecordResult(
                raw.position, "accepted", *key, record.revision, outcome.value,  # type: ignore[arg-type]
                facts.assignment.station_code, facts.classification.kind, facts.classification.dispute_type))
        await repository.upsert_records(conn, list(rows.values()))
        await repository.count_superseded(conn, superseded)
        # Each rejection's event names the row that keeps its raw input, so the rows go in first.
        references = await repository.insert_rejected(
            conn, [repository.RejectedRow(channel, profile.name, position, kept, [e.__dict__ for e in errors])
                   for position, kept, errors in rejected])
        outbox += [rejected_event(channel, profile.name, position, kept, errors, reference, ctx.settings.topic_prefix)
                   for (position, kept, errors), reference in zip(rejected, references, strict=True)]
        outbox_ids = await outbox_table.write(conn, outbox)
        if progress is not None:
            progress.count(results)
            await repository.save_import_progress(conn, progress.file_id, progress.next_record, progress.counts)
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
            progress.count(done)
        results += done
    return results


async def replay_rejected(ctx: IntakeContext, *, ids: list[int] | None = None,
                          profile_name: str | None = None, limit: int = 1000) -> list[RecordResult]:
    """Ingest kept rejected input again (after a profile or reference-data fix), oldest first;
    each row is marked replayed, and what fails again is rejected again with its new reasons."""
    async with ctx.pool.acquire() as conn:
        pending = await repository.pending_rejected(conn, ids, limit)
    results: list[RecordResult] = []
    by_profile: dict[str, list[repository.PendingRejected]] = {}
    for row in pending:
        by_profile.setdefault(profile_name or row.profile, []).append(row)
    for name, group in by_profile.items():
        inputs = [parse_one(r.raw.encode(), f"rejected #{r.id}") for r in group]
        results += await ingest_safely(ctx, inputs, profile=ctx.profile(name), channel="replay")
        async with ctx.pool.acquire() as conn:
            await repository.mark_replayed(conn, [r.id for r in group])
    return results


async def relay_outbox(ctx: IntakeContext) -> int:
    """Publish events a crash left in the outbox; returns how many."""
    return await outbox_table.relay(ctx.pool, ctx.producer)
