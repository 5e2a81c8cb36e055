"""The events intake emits for a record revision or a rejected input, as outbox rows."""
import hashlib
import uuid
from datetime import UTC, datetime

from services.intake.domain.dedup import Outcome
from services.intake.domain.profiles import FieldError
from services.intake.domain.record import DispatchRecord
from services.intake.domain.triage import Triage
from services.intake.masking import masked_reason
from shared.events.envelope import Envelope, envelope_bytes
from shared.events.intake import DISPUTE_TOPIC, INCIDENT_TOPIC, REJECTED_TOPIC, FieldProblem, RejectedData
from shared.events.name_ids import name_ids
from shared.outbox import OutboxRow
from shared.tracing import current_traceparent

PRODUCER = "intake"
# Event ids derive from what they describe, so a re-sent event is recognisably the same event.
_NAMESPACE = uuid.UUID("6f1c1a2e-7a43-4f0c-9a57-0d6c2b1f1105")


_event_ids = name_ids(_NAMESPACE)


def event_id(event_type: str, record: DispatchRecord) -> uuid.UUID:
    """The id of an event about one revision of one incident."""
    return uuid.UUID(_event_id_text(event_type, record))


def _event_id_text(event_type: str, record: DispatchRecord) -> str:
    return _event_ids(f"{event_type}|{record.source}|{record.incident_number}|{record.revision}")


def _row(topic: str, envelope: Envelope) -> OutboxRow:
    return OutboxRow(topic, envelope.key.encode(), envelope.to_bytes())


def _fast_row(topic: str, event_type: str, record: DispatchRecord, key: str, data: dict,
              traceparent: str | None) -> OutboxRow:
    # The hot path of every accepted record: the envelope is serialised from plain values instead
    # of being validated again; tests check these bytes against Envelope and the data models.
    return OutboxRow(topic, key.encode(), envelope_bytes(
        event_id=_event_id_text(event_type, record), type=event_type, occurred_at=record.received_at,
        producer=PRODUCER, key=key, data=data), traceparent)


def incident_events(record: DispatchRecord, facts: Triage, outcome: Outcome, prefix: str = "",
                    kind_before: str | None = None) -> list[OutboxRow]:
    """incident.accepted/updated for every accepted revision; dispute.opened when an incident
    becomes a dispute (new, or reclassified), dispute.updated for later revisions of a dispute,
    including the one that reclassifies it as something else (its `kind` says so)."""
    c, a = facts.classification, facts.assignment
    incident = {
        "source": record.source, "incident_number": record.incident_number, "revision": record.revision,
        "received_at": record.received_at, "closed_at": record.closed_at, "station_code": a.station_code,
        "reported_station_code": a.reported_station_code, "grid_code": a.grid_code, "officer_id": a.officer_id,
        "jurisdiction_method": a.method, "kind": c.kind, "dispute_type": c.dispute_type, "crime_type": c.crime_type,
        "risk_flags": list(facts.risk_flags),
        "confidence": c.confidence, "rules_version": c.rules_version, "category_code": record.category_code,
        "disposition": record.disposition, "address_key": facts.address_key,
        "address_precision": facts.address_precision, "caller_phone_hmac": facts.phone_hmac,
        "needs_review": c.needs_review, "received_at_derived_from": record.received_at_derived_from}
    incident_type = "incident.accepted" if outcome is Outcome.NEW else "incident.updated"
    traceparent = current_traceparent()  # what OutboxRow would ask for each row
    rows = [_fast_row(prefix + INCIDENT_TOPIC, incident_type, record, a.station_code, incident, traceparent)]
    was_dispute = outcome is Outcome.UPDATE and kind_before == "dispute"
    if c.kind == "dispute" or was_dispute:
        dispute = incident | {"caller_name": record.caller_name, "caller_phone": record.caller_phone,
                              "address_text": record.address_text, "description": record.description}
        dispute_type = "dispute.updated" if was_dispute else "dispute.opened"
        rows.append(_fast_row(prefix + DISPUTE_TOPIC, dispute_type, record, a.station_code, dispute, traceparent))
    return rows


def rejected_event(channel: str, profile: str, position: str, raw_text: str, errors: list[FieldError],
                   reference: int, prefix: str = "") -> OutboxRow:
    """dispatch.rejected with the reasons and the reference of the kept raw input, keyed by profile. The raw
    input itself is not sent: it holds callers' names and phones, and stays in rejected_records."""
    data = RejectedData(channel=channel, profile=profile, position=position, reference=reference,
                        raw_chars=len(raw_text),
                        errors=[FieldProblem(field=e.field, message=masked_reason(e.field, e.message)) for e in errors],
                        received_at=datetime.now(UTC))
    digest = hashlib.sha256(f"{channel}|{profile}|{position}|{raw_text}".encode()).hexdigest()
    return _row(prefix + REJECTED_TOPIC, Envelope(
        event_id=uuid.uuid5(_NAMESPACE, digest), type="dispatch.rejected", producer=PRODUCER,
        key=profile, data=data.model_dump(mode="json")))
