"""How a caller stands to a case row: the channels it serves, whether it sees the case, and its
relations to it (domain/access.py and domain/permissions.py applied to a token's principal)."""
from collections.abc import Mapping
from typing import Any

from services.mediation.domain.access import channels_for, may_see
from services.mediation.domain.permissions import Relation, allows, relations
from shared.auth import Principal


def channels_of(principal: Principal) -> frozenset[str]:
    """The channels the caller serves (its roles', narrowed by the token's channels claim)."""
    return channels_for(principal.roles, principal.channels)


def sees(principal: Principal, case: Mapping[str, Any]) -> bool:
    """Whether the caller may see this case row (domain/access.py, may_see)."""
    handoff = case["last_handoff"] or {}
    return may_see(roles=principal.roles, stations=principal.stations, channels=channels_of(principal),
                   case_station=case["station_code"], case_channel=case["channel"], subject=principal.subject,
                   worked_by=case["worked_by"], handoff_to=handoff.get("to_channel"))


def relations_of(principal: Principal, case: Mapping[str, Any], purpose: str | None = None) -> frozenset[Relation]:
    """How the caller stands to this case row (domain/permissions.py, relations)."""
    handoff = case["last_handoff"] or {}
    return relations(subject=principal.subject, stations=principal.stations, channels=channels_of(principal),
                     case_station=case["station_code"], case_channel=case["channel"], holder=case["claimed_by"],
                     worked_by=case["worked_by"], handoff_to=handoff.get("to_channel"), purpose=purpose)


def may_read_parties(principal: Principal, case: Mapping[str, Any], purpose: str | None = None) -> bool:
    """Whether this caller gets this case's party data (domain/permissions.py, read_parties): chiefs only with
    a stated purpose, auditors never."""
    return allows("read_parties", principal.roles, relations_of(principal, case, purpose))
