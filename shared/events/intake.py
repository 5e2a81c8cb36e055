"""Events intake publishes: incidents, disputes and rejected input (topics in shared/events/topics.py).

Incident events carry no personal data: other services find repeats through `address_key` and
`caller_phone_hmac`. Dispute events carry the caller's name, phone and the description because
mediators must contact the parties; mediation keeps them behind its role checks.
"""
import uuid
from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from shared.events.name_ids import name_ids

INCIDENT_TOPIC = "intake.incident.v1"
DISPUTE_TOPIC = "intake.dispute.v1"
REJECTED_TOPIC = "dispatch.rejected.v1"
RAW_TOPIC = "dispatch.raw.v1"
# From finest to coarsest: a room or flat; a building or house number; a street; an area (district,
# town, village, estate); nothing usable.
AddressPrecision = Literal["room", "building", "street", "area", "none"]
# Offences intake can tell apart, by the centre's code or the call-taker's text ("other" last: nothing names it).
CrimeType = Literal["homicide", "injury", "arson", "poisoning", "robbery", "theft", "fraud", "sexual", "other"]
# What intake classifies a call as, the types of dispute and the risk flags: the vocabulary intake writes
# and mediation routes by, defined here once so that neither service needs the other's code.
Kind = Literal["dispute", "crime", "help", "traffic", "other"]
DisputeType = Literal["neighbour", "family", "labour", "property_management", "consumer", "land", "traffic_damage",
                      "debt", "other"]
RiskFlag = Literal["weapon", "threat", "self_harm", "domestic_violence", "repeat_caller"]  # repeat_caller last
# The same names as tuples, in the order above, for code that iterates or checks membership.
ADDRESS_PRECISIONS: tuple[str, ...] = get_args(AddressPrecision)
CRIME_TYPES: tuple[str, ...] = get_args(CrimeType)
KINDS: tuple[str, ...] = get_args(Kind)
DISPUTE_TYPES: tuple[str, ...] = get_args(DisputeType)
RISK_FLAGS: tuple[str, ...] = get_args(RiskFlag)

def incident_id(source: str, incident_number: str) -> uuid.UUID:
    """The stable id of an incident, the same for every revision: intake answers it, mediation finds its case by it."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"fengqiao:incident:{source}/{incident_number}")


_incident_ids = name_ids(uuid.NAMESPACE_URL)


def incident_id_text(source: str, incident_number: str) -> str:
    """str(incident_id(...)), for intake's answer to every record of a batch (see shared/events/name_ids.py)."""
    return _incident_ids(f"fengqiao:incident:{source}/{incident_number}")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IncidentData(_Frozen):
    """`incident.accepted` / `incident.updated` on intake.incident.v1, keyed by station code."""

    source: str
    incident_number: str
    revision: int
    received_at: datetime
    closed_at: datetime | None = None
    station_code: str = Field(description="'unassigned' when no rule placed it, or the record named a station "
                                          "intake does not know (then reported_station_code holds that code)")
    reported_station_code: str | None = Field(
        default=None, description="the station code the record named when it is not a known station; the record "
                                  "is then routed as jurisdiction unknown (jurisdiction_method unknown_station)")
    grid_code: str | None = None
    officer_id: str | None = None
    jurisdiction_method: Literal["record", "grid", "address", "unassigned", "unknown_station"]
    kind: Kind
    dispute_type: DisputeType | None = None
    crime_type: CrimeType | None = Field(
        default=None, description="the offence, when kind is crime and the code or text names one")
    risk_flags: list[RiskFlag] = Field(default_factory=list)
    confidence: float
    rules_version: str
    needs_review: bool = Field(default=False, description="the text decided this on weak evidence (one keyword, "
                                                          "or none, and no code): a person should check it")
    category_code: str | None = None
    disposition: str | None = None
    address_key: str | None = None
    address_precision: AddressPrecision | None = Field(
        default=None, description="how precise the address behind address_key is; repeats and civil-to-criminal "
                                  "links use only room- and building-level keys (None: not computed, never links)")
    caller_phone_hmac: str | None = None
    received_at_derived_from: str | None = Field(
        default=None, description="set when the feed had no call-received time and received_at was taken from "
                                  "this field instead (e.g. dispatched_at), as the feed profile's fallback says")


class DisputeData(IncidentData):
    """`dispute.opened` / `dispute.updated` on intake.dispute.v1: the incident plus what mediators need."""

    caller_name: str | None = None
    caller_phone: str | None = None
    address_text: str | None = None
    description: str | None = None


class FieldProblem(_Frozen):
    """One reason a record was rejected."""

    field: str
    message: str


class RejectedData(_Frozen):
    """`dispatch.rejected` on dispatch.rejected.v1: why an input was rejected, where it came from and where it
    is kept, without personal data. The raw input stays in intake's `rejected_records` under retention
    (`reference` is its row; `fengqiao-intake replay-rejected ID` ingests it again); reasons that quoted a
    caller's value carry it masked."""

    channel: Literal["http", "kafka", "file", "replay"]
    profile: str
    position: str = Field(description="where it came from: batch index, line number or topic/partition/offset")
    reference: int | None = Field(
        default=None, description="id of the rejected_records row in intake's database that keeps the raw input "
                                  "until its retention ends (None only in events written before it was carried)")
    raw_chars: int | None = Field(default=None, description="length of the raw input, in characters")
    raw: str | None = Field(
        default=None, description="no longer sent (it holds callers' names and phones): None. Events written before "
                                  "carried the record as received, at most 64 KiB")
    raw_truncated: bool = Field(default=False, description="only in events written before: raw was cut")
    errors: list[FieldProblem] = Field(description="the reasons, a caller's refused value and phone numbers masked")
    received_at: datetime
