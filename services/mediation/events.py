"""The events mediation emits on mediation.case.v1, as outbox rows."""
import uuid
from typing import Any

from shared.events.envelope import envelope_bytes
from shared.events.mediation import CASE_TOPIC
from shared.outbox import OutboxRow

PRODUCER = "mediation"


def case_id(source: str, incident_number: str) -> uuid.UUID:
    """The case of an incident: derived, so a redelivered dispute finds the same case."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"fengqiao:case:{source}/{incident_number}")


# What of an API change's details may leave mediation: dates, codes and ids. Free text (notes, reasons,
# referral targets) and session participants may name people, so they stay on the timeline and in
# the audit log; a session's participants travel as a count.
PUBLIC_DETAILS = frozenset({"at", "effective_date", "performance_date", "due", "overdue", "ruling_number",
                            "handoff_id", "to_channel"})


def public_details(details: dict) -> dict:
    """The details of a change as its event may carry them (mediation.case.v1 has no personal data)."""
    public = {k: v for k, v in details.items() if k in PUBLIC_DETAILS}
    if isinstance(details.get("participants"), list):
        public["participants"] = len(details["participants"])
    return public


def case_event(case: Any, event_type: str, *, actor: str, prefix: str = "", details: dict | None = None) -> OutboxRow:
    """An event about a case row as it is after the change (its version orders the events)."""
    data = {
        "case_id": str(case["id"]), "source": case["source"], "incident_number": case["incident_number"],
        "station_code": case["station_code"], "grid_code": case["grid_code"], "officer_id": case["officer_id"],
        "channel": case["channel"], "state": case["state"], "dispute_type": case["dispute_type"],
        "risk_flags": list(case["risk_flags"]), "high_risk": case["high_risk"],
        "address_key": case["address_key"], "caller_phone_hmac": case["phone_hmac"],
        "received_at": case["received_at"], "actor": actor, "sequence": case["version"],
        "details": details or {}}
    event_id = uuid.uuid5(case["id"], f"{event_type}/{case['version']}")
    return OutboxRow(prefix + CASE_TOPIC, case["station_code"].encode(), envelope_bytes(
        event_id=event_id, type=event_type, occurred_at=case["updated_at"], producer=PRODUCER,
        key=case["station_code"], data=data))
