"""Events mediation publishes on mediation.case.v1, keyed by station code.

They carry no personal data (assessment consumes them): parties stay in mediation's database.
"""
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.events.intake import DisputeType, RiskFlag

CASE_TOPIC = "mediation.case.v1"


class CaseEventData(BaseModel):
    """The case after the change the event names, plus what that change carried."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    case_id: str
    source: str
    incident_number: str
    station_code: str
    grid_code: str | None = None
    officer_id: str | None = None
    channel: str
    state: str
    dispute_type: DisputeType | None = None
    risk_flags: list[RiskFlag] = Field(default_factory=list)
    high_risk: bool = False
    address_key: str | None = None
    caller_phone_hmac: str | None = None
    received_at: datetime
    actor: str = Field(description="who made the change: a user's subject, or 'system'")
    sequence: int = Field(description="the case's version after the change: orders a case's events")
    details: dict[str, Any] = Field(default_factory=dict)
