"""Who may do what to a case, written once: role × action × the caller's relation to the case.

The API checks these cells (casework, parties, handlers, endpoints), docs/mediation.md shows the same
table rendered from here (tests/unit/mediation/test_permissions.py keeps the two equal), and the
authorization matrix (tests/integration/mediation/test_authorization.py) reads its expectations for
breach reports and party data from it.

Every relation is within the caller's stations: another station's case answers 404 whatever the
table says. A role with no cell for an action gets 403; a role with a cell but none of its relations
gets 403 when it sees the case and 404 when it does not.
"""
from collections.abc import Iterable, Mapping
from enum import StrEnum

from services.mediation.domain.access import AUDITOR, CHIEF, CLAIMERS, COURT, ROLES


class Relation(StrEnum):
    """How the caller stands to a case of one of its stations."""

    HOLDER = "holder"  # claims it now
    WORKER = "worker"  # acted on it before: claimed, held, handed on, answered, decided (worked_by)
    RECEIVER = "receiver"  # its latest handoff is addressed to one of the caller's channels
    CHANNEL = "channel"  # it is in one of the caller's channels
    STATION = "station"  # any case of the station (chiefs and auditors supervise every channel)
    PURPOSE = "purpose"  # opened with a stated purpose (`?purpose=`), which the audit trail keeps


_R = Relation
_SEES = frozenset({_R.CHANNEL, _R.WORKER, _R.RECEIVER})
_HOLDS = frozenset({_R.HOLDER})


def _claimers(relations: frozenset[Relation]) -> dict[str, frozenset[Relation]]:
    return dict.fromkeys(CLAIMERS, relations)


# action -> role -> the relations any one of which allows it. The actions are the API's names
# (`POST /v1/cases/{id}/<name>`), plus `read` (GET a case), `read_parties` (its parties and the
# caller's record in any answer), `answer` (a handoff) and `audit` (GET /v1/audit).
TABLE: dict[str, dict[str, frozenset[Relation]]] = {
    "read": _claimers(_SEES) | {CHIEF: frozenset({_R.STATION}), AUDITOR: frozenset({_R.STATION})},
    # Chiefs supervise, they do not work cases: party data only when they say why (audited).
    # Auditors see what happened, never who: no cell at all.
    "read_parties": _claimers(_SEES) | {CHIEF: frozenset({_R.PURPOSE})},
    "claim": _claimers(_SEES),
    "release": _claimers(_HOLDS),
    "sessions": _claimers(_HOLDS),
    "outcome": _claimers(_HOLDS),
    "parties": _claimers(_HOLDS),
    "confirmation-request": _claimers(_HOLDS),
    "refer": _claimers(_HOLDS),
    "close": _claimers(_HOLDS),
    "handoffs": _claimers(_HOLDS),
    "confirmation": {COURT: _SEES},
    "withdraw": _claimers(_HOLDS) | {CHIEF: frozenset({_R.STATION})},
    # A broken agreement is reported by those who stood behind it (its holder, whoever worked the
    # case: made the agreement, handed it on, decided it) and by the chief; not by any colleague.
    "breach": _claimers(frozenset({_R.HOLDER, _R.WORKER})) | {CHIEF: frozenset({_R.STATION})},
    # The receiving channel's people; law-enforcement handoffs go to the chief.
    "answer": _claimers(frozenset({_R.RECEIVER})) | {CHIEF: frozenset({_R.RECEIVER})},
    "audit": {AUDITOR: frozenset({_R.STATION})},
}


def roles_for(action: str) -> tuple[str, ...]:
    """The roles that have a cell for an action (the 403's allowed_roles), in ROLES order."""
    return tuple(role for role in ROLES if role in TABLE[action])


def allows(action: str, roles: Iterable[str], relations: Iterable[Relation]) -> bool:
    """Whether one of the caller's roles may take the action standing in one of these relations."""
    cells: Mapping[str, frozenset[Relation]] = TABLE[action]
    held = frozenset(relations)
    return any(cells.get(role, frozenset()) & held for role in roles)


def relations(*, subject: str, stations: Iterable[str], channels: Iterable[str], case_station: str,
              case_channel: str, holder: str | None, worked_by: Iterable[str] = (), handoff_to: str | None = None,
              purpose: str | None = None) -> frozenset[Relation]:
    """How a caller stands to a case; nothing at all for another station's case."""
    if case_station not in set(stations):
        return frozenset()
    mine = set(channels)
    found = {_R.STATION}
    if holder is not None and holder == subject:
        found.add(_R.HOLDER)
    if subject in set(worked_by):
        found.add(_R.WORKER)
    if handoff_to is not None and handoff_to in mine:
        found.add(_R.RECEIVER)
    if case_channel in mine:
        found.add(_R.CHANNEL)
    if purpose and purpose.strip():
        found.add(_R.PURPOSE)
    return frozenset(found)


def render_markdown() -> str:
    """The table as docs/mediation.md shows it: one row per action, one column per role."""
    lines = ["| action | " + " | ".join(ROLES) + " |", "| --- |" + " --- |" * len(ROLES)]
    for action, cells in TABLE.items():
        row = [" or ".join(r.value for r in Relation if r in cells[role]) if role in cells else "—" for role in ROLES]
        lines.append(f"| `{action}` | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"
