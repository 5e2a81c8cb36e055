"""Who may see and work which cases: by role, station and channel.

A mediator's token names the stations it acts for and, optionally, its channels; without that
claim the role decides. Station chiefs and auditors see every channel of their stations; only
auditors may not write.
"""
from collections.abc import Iterable

from services.mediation.domain.routing import CHANNELS

# The roles of mediation's callers, in the order messages and the permission table list them.
ROLES = ("mediator", "lawyer", "court_liaison", "station_chief", "auditor")
CLAIMERS = ("mediator", "lawyer", "court_liaison")
CHIEF = "station_chief"
COURT = "court_liaison"
AUDITOR = "auditor"

ROLE_CHANNELS: dict[str, frozenset[str]] = {
    "mediator": frozenset({"station_officer", "peoples_mediator"}),
    "lawyer": frozenset({"lawyer"}),
    "court_liaison": frozenset({"court"}),
    "station_chief": frozenset(CHANNELS),
    "auditor": frozenset(CHANNELS),
}
CLAIMING_ROLES = frozenset(CLAIMERS)
READING_ROLES = frozenset(ROLES)
# Party data is shown to the roles that work or supervise cases, not to auditors.
PARTY_ROLES = CLAIMING_ROLES | {CHIEF}
COURT_ROLES = frozenset({COURT})
# Who receives a handoff to each channel (the 403 that refuses anyone else names them): law-enforcement
# handoffs go to the station chief.
RECEIVERS: dict[str, tuple[str, ...]] = {"station_officer": ("mediator",), "peoples_mediator": ("mediator",),
                                         "lawyer": ("lawyer",), "court": (COURT,), "law_enforcement": (CHIEF,)}


def channels_for(roles: Iterable[str], claimed: Iterable[str] = ()) -> frozenset[str]:
    """The channels a caller serves: the token's own list, within what its roles allow."""
    allowed = frozenset().union(*(ROLE_CHANNELS.get(r, frozenset()) for r in roles))
    named = frozenset(claimed)
    return allowed & named if named else allowed


def may_see(*, roles: Iterable[str], stations: Iterable[str], channels: frozenset[str],
            case_station: str, case_channel: str, subject: str | None = None, worked_by: Iterable[str] = (),
            handoff_to: str | None = None) -> bool:
    """True when the case is in one of the caller's stations and, there, in one of its channels, or the
    caller worked it (whoever made an agreement follows it through the court and a breach), or its latest
    handoff is addressed to one of the caller's channels (the receiver reads what it is asked to take)."""
    if not set(roles) & READING_ROLES or case_station not in set(stations):
        return False
    return case_channel in channels or (subject is not None and subject in worked_by) or (
        handoff_to is not None and handoff_to in channels)


def receiving_channels(roles: Iterable[str], claimed: Iterable[str] = ()) -> frozenset[str]:
    """The channels whose handoffs a caller answers: receiving means working the channel, not just reading
    it, so chiefs and auditors (who read every channel) receive only law-enforcement handoffs (chiefs)."""
    roles = frozenset(roles)
    works = channels_for(roles & CLAIMING_ROLES, claimed)
    return works | {"law_enforcement"} if CHIEF in roles else works


def may_claim(roles: Iterable[str]) -> bool:
    """Mediators, lawyers and court liaisons claim cases; chiefs and auditors do not."""
    return bool(set(roles) & CLAIMING_ROLES)
