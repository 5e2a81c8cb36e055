"""Assessment's handlers: incidents, case events and community activities become facts, each once; community
activities recorded through the API; a month's ranking published."""
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import asyncpg

from services.assessment import events, repository
from services.assessment.bootstrap import AssessmentContext, facts_consumer_name
from services.assessment.domain.months import reach
from services.assessment.ranking import MonthRanking, month_ranking
from services.assessment.repository import ActivityFact, CaseFact, IncidentFact, IncidentKeys
from shared import outbox
from shared.events.assessment import RankingPublished
from shared.events.community import ACTIVITY_TYPES, ActivityData
from shared.events.envelope import Envelope
from shared.events.intake import IncidentData
from shared.events.mediation import CaseEventData

INCIDENT_TYPES = frozenset({"incident.accepted", "incident.updated"})
# Escalations that count as SLA breaches (an approaching deadline is a warning, not a breach).
BREACH_REASONS = frozenset({"unclaimed", "no_session"})


def _incident_fact(d: IncidentData, zone: str) -> IncidentFact:
    return IncidentFact(d.source, d.incident_number, d.revision, d.received_at, zone, d.station_code, d.grid_code,
                        d.officer_id, d.kind, d.dispute_type, list(d.risk_flags), d.address_key, d.caller_phone_hmac,
                        d.address_precision, d.crime_type, d.reported_station_code)


def _case_fact(event: Envelope, d: CaseEventData, zone: str) -> CaseFact:
    kind, at = event.type, event.occurred_at
    breach = kind == "case.escalated" and d.details.get("reason") in BREACH_REASONS
    return CaseFact(d.case_id, d.source, d.incident_number, d.received_at, zone, d.station_code, d.grid_code,
                    d.officer_id, d.channel, d.state, d.sequence,
                    created_at=at if kind == "case.created" else None,
                    first_claimed_at=at if kind == "case.claimed" else None,
                    closed_at=at if kind == "case.closed" else None,
                    agreement=kind == "case.agreement_reached", referred=kind == "case.referred",
                    confirmation_requested=kind == "case.confirmation_requested",
                    confirmed=kind == "case.confirmation_confirmed", breaches=int(kind == "case.breach_reported"),
                    sla_breaches=int(breach), performance_date=_performance_date(kind, d))


def _performance_date(kind: str, d: CaseEventData) -> date | None:
    """When an agreement is to be performed (breach_rate counts the agreements due in a month)."""
    value = d.details.get("performance_date") if kind == "case.agreement_reached" else None
    return date.fromisoformat(value) if isinstance(value, str) else None


async def _relink(conn: asyncpg.Connection, ctx: AssessmentContext, incidents: list[IncidentData],
                  before: list[IncidentKeys]) -> None:
    """Link again what the batch's incidents can change: their own links and those of later incidents
    sharing a key, now and before the batch (a revision may change an incident's keys or time)."""
    rules = ctx.link_rules
    keys = [IncidentKeys(d.address_key, d.address_precision, d.caller_phone_hmac, d.received_at) for d in incidents]
    keys += before
    # Only keys of a linking precision can link; the others are not worth a lookup.
    addresses = sorted({k.address_key for k in keys
                        if k.address_key is not None and k.address_precision in rules.linking_precisions})
    phones = sorted({k.phone_hmac for k in keys if k.phone_hmac is not None})
    times = [k.received_at for k in keys]
    await repository.relink(conn, addresses=addresses, phones=phones, first=min(times), last=max(times),
                            sources=[d.source for d in incidents], numbers=[d.incident_number for d in incidents],
                            rules=rules)


def _activity_of(event: Envelope) -> ActivityData:
    """The activity an event carries; its type must be the one the event type names."""
    activity = ActivityData.model_validate(event.data)
    if ACTIVITY_TYPES[event.type] != activity.type:
        raise ValueError(f"event type {event.type} carries an activity of type {activity.type}")
    return activity


def facts_handler(ctx: AssessmentContext, *, mark_revisions: bool = True):
    """The facts consumer's batch handler (inside the runner's exactly-once transaction).

    Every event also marks the published rankings of the months it can change as revised; the
    rebuild turns that off, since it re-applies events the publications already included.
    """

    async def handle(conn: asyncpg.Connection, batch: Sequence[Envelope]) -> None:
        zone, reach_days = ctx.settings.time_zone, ctx.link_rules.reach_days
        incidents, cases, community, months = [], [], [], set()
        for event in batch:
            if event.type in INCIDENT_TYPES:
                data = IncidentData.model_validate(event.data)
                incidents.append(data)
                months.update(reach(data.received_at, zone, "incident", reach_days))
            elif event.type.startswith("case."):
                case = CaseEventData.model_validate(event.data)
                cases.append(_case_fact(event, case, zone))
                months.update(reach(case.received_at, zone, "case") + reach(event.occurred_at, zone, "case"))
            elif event.type in ACTIVITY_TYPES:
                activity = _activity_of(event)
                community.append((activity.activity_id or event.event_id, activity))
            else:
                raise ValueError(f"assessment does not keep facts of event type {event.type!r}")
        if incidents:
            before = await repository.keys_before(conn, [d.source for d in incidents],
                                                  [d.incident_number for d in incidents])
            await repository.upsert_incidents(conn, [_incident_fact(d, zone) for d in incidents])
            await _relink(conn, ctx, incidents, before)
        if cases:
            await repository.upsert_cases(conn, cases)
        if mark_revisions and months:
            await repository.mark_revised(conn, months)
        await record_activities(conn, community, time_zone=zone, via="kafka", mark_revisions=mark_revisions)

    return handle


async def record_activities(conn: asyncpg.Connection, activities: Sequence[tuple[uuid.UUID, ActivityData]], *,
                            time_zone: str, via: str, mark_revisions: bool = True) -> set[uuid.UUID]:
    """Insert (id, activity) pairs once each, from the API or community.activity.v1 alike (inside the caller's
    transaction); returns the new ids. The months a new activity changes have their published rankings
    marked revised."""
    if not activities:
        return set()
    new = await repository.insert_activities(conn, [
        ActivityFact(activity_id, a.type, a.occurred_at, a.station_code, a.grid_code, a.officer_id, a.case_id,
                     a.satisfaction, a.household_key, a.participants) for activity_id, a in activities],
        time_zone=time_zone, via=via)
    if mark_revisions and new:
        await repository.mark_revised(conn, {m for activity_id, a in activities if activity_id in new
                                             for m in reach(a.occurred_at, time_zone, a.type)})
    return new


@dataclass(frozen=True)
class Published:
    """A publication as stored, and whether its event reached Kafka at once (else the relay sends it)."""
    event: RankingPublished
    announced: bool


async def publish_ranking(ctx: AssessmentContext, month: date, kind: str, county: str | None, *,
                          by: str) -> Published:
    """Publish the month's ranking as it stands: stored with its rules version and the source offsets of the
    facts, its event written in the same transaction (outbox) and sent after the commit."""
    async with ctx.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        # One snapshot: the facts ranked and the offsets recorded are the same state.
        ranking = await month_ranking(conn, month, kind, ctx.rules, ctx.settings.time_zone, county)
        offsets = await repository.partition_offsets(conn, facts_consumer_name(ctx.settings))
        event, row_id, row = await _store(conn, ranking, offsets, by=by, prefix=ctx.settings.topic_prefix)
    return Published(event, await outbox.publish(ctx.pool, ctx.producer, [row], [row_id]))


async def _store(conn: asyncpg.Connection, ranking: MonthRanking, offsets: list[repository.PartitionOffset], *,
                 by: str, prefix: str) -> tuple[RankingPublished, int, outbox.OutboxRow]:
    event = events.ranking_published(ranking, offsets, by=by)
    now = datetime.now(UTC)
    await repository.insert_publication(
        conn, publication_id=uuid.UUID(event.publication_id), month=ranking.month, kind=ranking.kind,
        scope=ranking.scope, rules_version=ranking.rules_version, published_at=now, published_by=by,
        source_offsets=[o.model_dump() for o in event.source_offsets], items=[i.model_dump() for i in event.items])
    row = events.ranking_row(event, at=now, prefix=prefix)
    [row_id] = await outbox.write(conn, [row])
    return event, row_id, row
