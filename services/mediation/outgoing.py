"""The events mediation emits on mediation.case.v1, as outbox rows."""
import uuid
from typing import Any

import orjson

from shared.events.mediation import CASE_TOPIC
from shared.outbox import OutboxRow

PRODUCER = "mediation"


def case_id(source: str, incident_number: str) -> uuid.UUID:
    """The case of an incident: derived, so a redelivered dispute finds the same case."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"fengqiao:case:{source}/{incident_number}")


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
    envelope = {"event_id": str(event_id), "type": event_type, "schema_version": 1,
                "occurred_at": case["updated_at"], "producer": PRODUCER, "key": case["station_code"], "data": data}
    return OutboxRow(prefix + CASE_TOPIC, case["station_code"].encode(), orjson.dumps(envelope))
