"""Assessment's event handlers: incidents and case events become facts, each event once."""
from collections.abc import Sequence

import asyncpg

from services.assessment import repository
from services.assessment.settings import AssessmentSettings
from shared.events.envelope import Envelope
from shared.events.intake import IncidentData
from shared.events.mediation import CaseEventData

INCIDENT_TYPES = frozenset({"incident.accepted", "incident.updated"})
# Escalations that count as SLA breaches (an approaching deadline is a warning, not a breach).
BREACH_REASONS = frozenset({"unclaimed", "no_session"})


def _incident_row(d: IncidentData, zone: str) -> tuple:
    return (d.source, d.incident_number, d.revision, d.received_at, zone, d.station_code, d.grid_code,
            d.officer_id, d.kind, d.dispute_type, d.risk_flags, d.address_key, d.caller_phone_hmac)


def _case_row(event: Envelope, d: CaseEventData, zone: str) -> tuple:
    kind, at = event.type, event.occurred_at
    breach = kind == "case.escalated" and d.details.get("reason") in BREACH_REASONS
    return (d.case_id, d.source, d.incident_number, d.received_at, zone, d.station_code, d.grid_code,
            d.officer_id, d.channel, d.state, d.sequence,
            at if kind == "case.created" else None, at if kind == "case.claimed" else None,
            at if kind == "case.closed" else None, kind == "case.agreement_reached", kind == "case.referred",
            kind == "case.confirmation_requested", kind == "case.confirmation_confirmed",
            int(kind == "case.breach_reported"), int(breach))


def facts_handler(settings: AssessmentSettings):
    """The facts consumer's batch handler (inside the runner's exactly-once transaction)."""
    zone = settings.time_zone

    async def handle(conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        incidents, cases = [], []
        for event in events:
            if event.type in INCIDENT_TYPES:
                incidents.append(_incident_row(IncidentData.model_validate(event.data), zone))
            elif event.type.startswith("case."):
                cases.append(_case_row(event, CaseEventData.model_validate(event.data), zone))
        if incidents:
            await conn.executemany(repository.UPSERT_INCIDENT, incidents)
        if cases:
            await conn.executemany(repository.UPSERT_CASE, cases)

    return handle
