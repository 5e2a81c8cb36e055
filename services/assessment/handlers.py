"""Assessment's event handlers: incidents, case events and community activities become facts, each once."""
from collections.abc import Sequence
from datetime import date

import asyncpg

from services.assessment import activities, repository
from services.assessment.domain.links import REPEAT_LONG_DAYS, REPEAT_SHORT_DAYS, LinkRules
from services.assessment.months import reach
from services.assessment.settings import AssessmentSettings
from shared.events.community import ACTIVITY_TYPES, ActivityData
from shared.events.envelope import Envelope
from shared.events.intake import IncidentData
from shared.events.mediation import CaseEventData

INCIDENT_TYPES = frozenset({"incident.accepted", "incident.updated"})
# Escalations that count as SLA breaches (an approaching deadline is a warning, not a breach).
BREACH_REASONS = frozenset({"unclaimed", "no_session"})


def _incident_row(d: IncidentData, zone: str) -> tuple:
    return (d.source, d.incident_number, d.revision, d.received_at, zone, d.station_code, d.grid_code,
            d.officer_id, d.kind, d.dispute_type, d.risk_flags, d.address_key, d.caller_phone_hmac,
            d.address_precision, d.crime_type, d.reported_station_code)


def _case_row(event: Envelope, d: CaseEventData, zone: str) -> tuple:
    kind, at = event.type, event.occurred_at
    breach = kind == "case.escalated" and d.details.get("reason") in BREACH_REASONS
    return (d.case_id, d.source, d.incident_number, d.received_at, zone, d.station_code, d.grid_code,
            d.officer_id, d.channel, d.state, d.sequence,
            at if kind == "case.created" else None, at if kind == "case.claimed" else None,
            at if kind == "case.closed" else None, kind == "case.agreement_reached", kind == "case.referred",
            kind == "case.confirmation_requested", kind == "case.confirmation_confirmed",
            int(kind == "case.breach_reported"), int(breach), _performance_date(kind, d))


def _performance_date(kind: str, d: CaseEventData) -> date | None:
    """When an agreement is to be performed (breach_rate counts the agreements due in a month)."""
    value = d.details.get("performance_date") if kind == "case.agreement_reached" else None
    return date.fromisoformat(value) if isinstance(value, str) else None


async def _relink(conn: asyncpg.Connection, incidents: list[IncidentData], before: list, rules: LinkRules) -> None:
    """Link again what the batch's incidents can change: their own links and those of later incidents
    sharing a key, now and before the batch (a revision may change an incident's keys or time)."""
    keys = [(d.address_key, d.address_precision, d.caller_phone_hmac, d.received_at) for d in incidents]
    keys += [(r["address_key"], r["address_precision"], r["phone_hmac"], r["received_at"]) for r in before]
    # Only keys of a linking precision can link; the others are not worth a lookup.
    addresses = sorted({a for a, precision, _, _ in keys if a is not None and precision in rules.linking_precisions})
    phones = sorted({phone for _, _, phone, _ in keys if phone is not None})
    times = [at for _, _, _, at in keys]
    await conn.execute(repository.RELINK, addresses, phones, rules.reach_days, min(times), max(times),
                       [d.source for d in incidents], [d.incident_number for d in incidents],
                       list(rules.linking_precisions), list(rules.crime_types), rules.look_back_days,
                       REPEAT_SHORT_DAYS, REPEAT_LONG_DAYS)


def activity_of(event: Envelope) -> ActivityData:
    """The activity an event carries; its type must be the one the event type names."""
    activity = ActivityData.model_validate(event.data)
    if ACTIVITY_TYPES[event.type] != activity.type:
        raise ValueError(f"event type {event.type} carries an activity of type {activity.type}")
    return activity


def facts_handler(settings: AssessmentSettings, *, mark_revisions: bool = True, link_rules: LinkRules | None = None):
    """The facts consumer's batch handler (inside the runner's exactly-once transaction).

    Every event also marks the published rankings of the months it can change as revised; the
    rebuild turns that off, since it re-applies events the publications already included.
    """
    zone = settings.time_zone
    rules = link_rules or LinkRules.load(settings.link_rules)

    async def handle(conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        incidents, cases, community, months = [], [], [], set()
        for event in events:
            if event.type in INCIDENT_TYPES:
                data = IncidentData.model_validate(event.data)
                incidents.append(data)
                months.update(reach(data.received_at, zone, "incident", rules.reach_days))
            elif event.type.startswith("case."):
                case = CaseEventData.model_validate(event.data)
                cases.append(_case_row(event, case, zone))
                months.update(reach(case.received_at, zone, "case") + reach(event.occurred_at, zone, "case"))
            elif event.type in ACTIVITY_TYPES:
                activity = activity_of(event)
                community.append((activity.activity_id or event.event_id, activity))
            else:
                raise ValueError(f"assessment does not keep facts of event type {event.type!r}")
        if incidents:
            before = await conn.fetch(repository.KEYS_BEFORE, [d.source for d in incidents],
                                      [d.incident_number for d in incidents])
            await conn.executemany(repository.UPSERT_INCIDENT, [_incident_row(d, zone) for d in incidents])
            await _relink(conn, incidents, before, rules)
        if cases:
            await conn.executemany(repository.UPSERT_CASE, cases)
        if mark_revisions and months:
            await conn.execute(repository.MARK_REVISED, sorted(months))
        await activities.record(conn, community, time_zone=zone, via="kafka", mark_revisions=mark_revisions)

    return handle
