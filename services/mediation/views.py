"""What mediation's API answers: the response models (documented in the OpenAPI, with examples a client
developer can copy) and the rendering of case rows into them.

Times are given in the stations' time zone (`+08:00` for Asia/Shanghai), the zone mediators type them in.
Party data (the parties, the caller's free text) only for the roles that work or supervise cases.
"""
from datetime import date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from services.mediation.domain.endpoints import available
from services.mediation.domain.lifecycle import STATE_LABELS_ZH, State
from shared.errors import ErrorOut

CASE_ID = "6f1c2e0a-3b7d-5d2e-9a41-7f0c8e2b1d35"
_CASE_EXAMPLE: dict[str, Any] = {
    "id": CASE_ID, "incident_id": "0b8f7c52-1e34-5a0d-8c6b-2f4e9d7a1c03", "source": "BJ-CAD",
    "incident_number": "BJ20240501000123", "station_code": "990101001", "grid_code": "990101001003",
    "channel": "peoples_mediator", "state": "confirmation_requested", "state_label": "司法确认申请中",
    "dispute_type": "neighbour", "risk_flags": [], "high_risk": False, "needs_review": False,
    "received_at": "2024-05-01T09:12:00+08:00", "claim_due_at": "2024-05-02T09:12:05+08:00",
    "claimed_by": "m1", "claimed_at": "2024-05-01T09:30:00+08:00", "sessions": 1, "version": 6,
    "escalated": False, "escalations": [],
    "agreement": {"terms": "楼上住户负责维修并赔偿2000元", "effective_date": "2024-05-02",
                  "performance_date": "2024-05-20"},
    "confirmation_due": "2024-06-01", "court_case_number": None, "ruling_number": None,
    "handoff_pending": False,
    "last_handoff": {"id": "3d0f...", "purpose": "confirmation", "to_channel": "court", "state": "requested",
                     "by": "m1", "reason": None, "ruling_number": None},
    "parties": [{"position": 0, "role": "applicant", "name": "王小明", "phone": "13812345678", "id_number": None},
                {"position": 1, "role": "respondent", "name": "李四", "phone": "13900001111", "id_number": None}],
    "party": {"caller_name": "王小明", "caller_phone": "13812345678", "address_text": "湖光路12号3单元502",
              "description": "楼上漏水"},
    "allowed_actions": ["withdraw"],
}


class Party(BaseModel):
    """One party of a case; position 0 is the caller, as intake named them."""

    position: int
    role: str = Field(description="applicant, respondent or other")
    name: str | None = None
    phone: str | None = None
    id_number: str | None = None


class LastHandoff(BaseModel):
    """The case's latest handoff, as both sides see it: where it went and the answer."""

    id: str
    purpose: str = Field(description="transfer (to another channel) or confirmation (judicial confirmation)")
    to_channel: str
    state: str = Field(description="requested, accepted or rejected")
    by: str = Field(description="who sent it, or who answered it")
    reason: str | None = None
    ruling_number: str | None = None


class CaseOut(BaseModel):
    """A case as the caller may see it. `allowed_actions` names the endpoints the caller may call now
    (`POST /v1/cases/{id}/<name>`; `handoffs` for a handoff)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_CASE_EXAMPLE]})

    id: str
    incident_id: str | None = Field(description="the incident's stable id, as intake answered it")
    source: str
    incident_number: str
    station_code: str
    grid_code: str | None
    channel: str
    state: str
    state_label: str = Field(description="the state in Chinese")
    dispute_type: str | None
    risk_flags: list[str]
    high_risk: bool
    needs_review: bool = Field(default=False, description="intake decided this is a dispute on weak evidence: "
                                                          "check that it is one before working it")
    received_at: datetime
    claim_due_at: datetime
    claimed_by: str | None
    claimed_at: datetime | None
    sessions: int
    version: int = Field(description="also the ETag; send it as If-Match to write only over what you read")
    escalated: bool
    escalations: list[str] = Field(description="why: unclaimed, no_session, confirmation_due, fulfilment_check, breach")
    agreement: dict[str, Any] | None
    confirmation_due: date | None
    court_case_number: str | None
    ruling_number: str | None
    handoff_pending: bool
    last_handoff: LastHandoff | None
    parties: list[Party] | None = Field(description="null for auditors")
    party: dict[str, Any] | None = Field(description="the caller's record as intake gave it; null for auditors")
    allowed_actions: list[str]


class TimelineEntry(BaseModel):
    """One thing that happened to a case."""

    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    details: dict[str, Any]


class CaseWithTimeline(CaseOut):
    """A case and everything that happened to it, oldest first."""

    timeline: list[TimelineEntry]


class CasePage(BaseModel):
    """A page of cases; pass next_cursor as cursor for the next page (null: no more)."""

    items: list[CaseOut]
    next_cursor: str | None = None


class HandoffSent(BaseModel):
    """The case a handoff was made for, and the case after it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"handoff_id": "3d0f9a7e-...", "case": _CASE_EXAMPLE}]})

    handoff_id: str
    case: CaseOut


class HandoffOut(BaseModel):
    """A handoff: a transfer to accept or reject, or a confirmation request the court decides on
    (`POST /v1/cases/{case_id}/confirmation`)."""

    id: str
    case_id: str
    purpose: str
    from_channel: str
    to_channel: str
    to_organisation: str | None
    court_case_number: str | None
    state: str
    reason: str | None
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    station_code: str
    incident_number: str
    dispute_type: str | None
    case_state: str
    ruling_number: str | None


class HandoffLists(BaseModel):
    """`items`: waiting for my channels at my stations; `sent`: what I sent, newest first, with the answers."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [{
        "id": "3d0f9a7e-2b1c-4e5f-8a9b-0c1d2e3f4a5b", "case_id": CASE_ID, "purpose": "confirmation",
        "from_channel": "peoples_mediator", "to_channel": "court", "to_organisation": None,
        "court_case_number": None, "state": "requested", "reason": None, "requested_by": "m1",
        "requested_at": "2024-05-03T10:00:00+08:00", "decided_by": None, "decided_at": None,
        "station_code": "990101001", "incident_number": "BJ20240501000123", "dispute_type": "neighbour",
        "case_state": "confirmation_requested", "ruling_number": None}], "sent": []}]})

    items: list[HandoffOut]
    sent: list[HandoffOut]


ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": ErrorOut} for status in (401, 403, 404, 409, 412, 422)}


@cache
def zone(name: str) -> ZoneInfo:
    """The stations' time zone (settings.time_zone)."""
    return ZoneInfo(name)


def local(value: datetime | None, tz: ZoneInfo) -> str | None:
    """A stored (UTC) time as the stations read it, with its offset."""
    return value.astimezone(tz).isoformat() if value is not None else None


def case_json(case: dict[str, Any], tz: ZoneInfo, *, subject: str, roles: frozenset[str],
              parties: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A case row as CaseOut; `parties` None hides the parties (auditors, lists without party data)."""
    state = State(case["state"])
    return {
        "id": str(case["id"]), "incident_id": case["incident_id"] and str(case["incident_id"]),
        "source": case["source"], "incident_number": case["incident_number"],
        "station_code": case["station_code"], "grid_code": case["grid_code"], "channel": case["channel"],
        "state": state.value, "state_label": STATE_LABELS_ZH[state], "dispute_type": case["dispute_type"],
        "risk_flags": list(case["risk_flags"]), "high_risk": case["high_risk"], "needs_review": case["needs_review"],
        "received_at": local(case["received_at"], tz), "claim_due_at": local(case["claim_due_at"], tz),
        "claimed_by": case["claimed_by"], "claimed_at": local(case["claimed_at"], tz),
        "sessions": case["sessions"], "version": case["version"],
        "escalated": case["escalated"], "escalations": list(case["escalations"]),
        "agreement": case.get("agreement"), "court_case_number": case.get("court_case_number"),
        "ruling_number": case.get("ruling_number"), "handoff_pending": case["handoff_pending"],
        "last_handoff": case["last_handoff"],
        "confirmation_due": case["confirmation_due"] and case["confirmation_due"].isoformat(),
        "parties": parties, "party": case.get("party"),
        "allowed_actions": available(case, subject=subject, roles=roles)}


def handoff_json(row: Any, tz: ZoneInfo) -> dict[str, Any]:
    """A handoff row as HandoffOut."""
    out = {k: (str(v) if k in ("id", "case_id") else v) for k, v in dict(row).items()}
    out["requested_at"], out["decided_at"] = local(row["requested_at"], tz), local(row["decided_at"], tz)
    return out
