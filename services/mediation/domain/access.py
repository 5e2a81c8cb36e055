"""Who may see and work which cases: by role, station and channel.

A mediator's token names the stations it acts for and, optionally, its channels; without that
claim the role decides. Station chiefs and auditors see every channel of their stations; only
auditors may not write.
"""
from collections.abc import Iterable

from services.mediation.domain.routing import CHANNELS

ROLE_CHANNELS: dict[str, frozenset[str]] = {
    "mediator": frozenset({"station_officer", "peoples_mediator"}),
    "lawyer": frozenset({"lawyer"}),
    "court_liaison": frozenset({"court"}),
    "station_chief": frozenset(CHANNELS),
    "auditor": frozenset(CHANNELS),
}
CLAIMING_ROLES = frozenset({"mediator", "lawyer", "court_liaison"})
READING_ROLES = frozenset(ROLE_CHANNELS)


def channels_for(roles: Iterable[str], claimed: Iterable[str] = ()) -> frozenset[str]:
    """The channels a caller serves: the token's own list, within what its roles allow."""
    allowed = frozenset().union(*(ROLE_CHANNELS.get(r, frozenset()) for r in roles))
    named = frozenset(claimed)
    return allowed & named if named else allowed


def may_see(*, roles: Iterable[str], stations: Iterable[str], channels: frozenset[str],
            case_station: str, case_channel: str) -> bool:
    """True when the case is in one of the caller's stations and channels."""
    return bool(set(roles) & READING_ROLES) and case_station in set(stations) and case_channel in channels


def may_claim(roles: Iterable[str]) -> bool:
    """Mediators, lawyers and court liaisons claim cases; chiefs and auditors do not."""
    return bool(set(roles) & CLAIMING_ROLES)
