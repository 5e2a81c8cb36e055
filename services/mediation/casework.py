"""Working a claimed case: sessions, outcomes, referral, judicial confirmation, closing, withdrawal,
a reported breach, and handoffs between channels.

Every command runs the lifecycle state machine under a row lock, checks who is asking and the
optional If-Match version, and writes the case, its timeline, the audit log and the outgoing
event in one transaction.
"""
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.mediation import repository
from services.mediation.domain.access import CLAIMING_ROLES, channels_for, may_see
from services.mediation.domain.lifecycle import (
    Action,
    HandoffAction,
    HandoffState,
    IllegalTransition,
    State,
    allowed_actions,
    may_work,
    next_handoff_state,
    next_state,
)
from services.mediation.handlers import CaseConflict, MediationContext, NotAllowed, _channels, _record, _visible_case
from shared.auth import Principal

# The application for judicial confirmation is due within 30 days of the agreement taking effect.
CONFIRMATION_WINDOW = timedelta(days=30)
HANDOFF_TARGETS = ("station_officer", "peoples_mediator", "lawyer", "court", "law_enforcement")

EVENT_OF = {
    Action.RECORD_SESSION: "case.session_recorded", Action.REACH_AGREEMENT: "case.agreement_reached",
    Action.FAIL: "case.failed", Action.REFER: "case.referred",
    Action.REQUEST_CONFIRMATION: "case.confirmation_requested", Action.CONFIRM: "case.confirmation_confirmed",
    Action.REJECT_CONFIRMATION: "case.confirmation_rejected", Action.CLOSE: "case.closed",
    Action.WITHDRAW: "case.withdrawn", Action.REPORT_BREACH: "case.breach_reported",
}
_HOLDER_ACTIONS = frozenset({Action.RECORD_SESSION, Action.REACH_AGREEMENT, Action.FAIL, Action.REFER,
                             Action.REQUEST_CONFIRMATION, Action.CLOSE})
_COURT_ACTIONS = frozenset({Action.CONFIRM, Action.REJECT_CONFIRMATION})

UPDATE_AFTER = f"""
UPDATE cases SET state = $2, sessions = sessions + $3, had_agreement = $4, agreement = coalesce($5, agreement),
    confirmation_due = coalesce($6, confirmation_due), ruling_number = coalesce($7, ruling_number),
    claimed_by = CASE WHEN $8 THEN NULL ELSE claimed_by END,
    claimed_at = CASE WHEN $8 THEN NULL ELSE claimed_at END, version = version + 1, updated_at = now()
WHERE id = $1
RETURNING {repository.CASE_COLUMNS}
"""


class VersionMismatch(Exception):
    """If-Match named another version than the case has (412)."""

    def __init__(self, current: int) -> None:
        super().__init__(f"the case is at version {current}")
        self.current = current


@dataclass
class Change:
    """What an action does to the case's columns besides its state."""

    sessions: int = 0
    agreement: dict | None = None
    confirmation_due: date | None = None
    ruling_number: str | None = None
    unclaim: bool = False
    details: dict[str, Any] = field(default_factory=dict)


def _authorise(principal: Principal, action: Action, case: Any) -> None:
    roles = principal.roles
    if action in _COURT_ACTIONS:
        if "court_liaison" not in roles:
            raise NotAllowed("only a court liaison confirms or rejects")
    elif action is Action.WITHDRAW:
        if case["claimed_by"] != principal.subject and "station_chief" not in roles:
            raise NotAllowed("the holder or the station chief withdraws a case")
    elif action is Action.REPORT_BREACH:
        if not roles & {"mediator", "lawyer", "court_liaison", "station_chief"}:
            raise NotAllowed("no role that reports a breach")
    elif action in _HOLDER_ACTIONS and case["claimed_by"] != principal.subject:
        raise NotAllowed("only the holder of the case works it")


def _conflict(case: Any, message: str) -> CaseConflict:
    return CaseConflict(message, state=case["state"], holder=case["claimed_by"],
                        allowed=allowed_actions(State(case["state"]), had_agreement=case["had_agreement"]))


def plan(action: Action, case: Any, payload: dict[str, Any], today: date) -> Change:
    """The column changes and event details of an action, from the request's payload."""
    if action is Action.RECORD_SESSION:
        return Change(sessions=1, details={k: payload.get(k) for k in ("at", "participants", "notes")})
    if action is Action.REACH_AGREEMENT:
        agreement = {k: payload.get(k) for k in ("terms", "effective_date", "performance_date")}
        return Change(agreement=agreement, details={"effective_date": agreement["effective_date"],
                                                    "performance_date": agreement["performance_date"]})
    if action is Action.REQUEST_CONFIRMATION:
        effective = date.fromisoformat((case["agreement"] or {}).get("effective_date") or today.isoformat())
        due = effective + CONFIRMATION_WINDOW
        return Change(confirmation_due=due, details={"due": due.isoformat(), "overdue": today > due})
    if action in _COURT_ACTIONS:
        return Change(ruling_number=payload.get("ruling_number"),
                      details={"ruling_number": payload.get("ruling_number"), "reason": payload.get("reason")})
    if action is Action.REPORT_BREACH:
        return Change(unclaim=True, details={"reason": payload.get("reason")})
    return Change(details={k: v for k, v in payload.items() if k in ("reason", "to")})


async def act(ctx: MediationContext, principal: Principal, ident: Any, action: Action,
              payload: dict[str, Any], *, if_match: int | None = None):
    """Apply one lifecycle action to a case; 403/404/409/412 as exceptions."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        case = await _visible_case(conn, principal, ident, for_update=True)
        _authorise(principal, action, case)
        if if_match is not None and if_match != case["version"]:
            raise VersionMismatch(case["version"])
        state = State(case["state"])
        if action is not Action.REPORT_BREACH and not may_work(state, case["handoff_pending"]):
            if case["handoff_pending"]:
                raise _conflict(case, "a handoff of this case waits for an answer")
        try:
            after = next_state(state, action, had_agreement=case["had_agreement"])
        except IllegalTransition as exc:
            raise _conflict(case, str(exc)) from exc
        change = plan(action, case, payload, datetime.now(UTC).date())
        # A reopened case starts a new round: its earlier agreement no longer closes it.
        had_agreement = (case["had_agreement"] or action is Action.REACH_AGREEMENT) and action is not Action.REPORT_BREACH
        updated = await conn.fetchrow(UPDATE_AFTER, ident, after.value, change.sessions, had_agreement,
                                      change.agreement, change.confirmation_due, change.ruling_number, change.unclaim)
        await _record(conn, ctx, principal, updated, action=action.value, event_type=EVENT_OF[action],
                      from_state=state.value, details=change.details)
        return updated


# --- handoffs --------------------------------------------------------------------------------

async def request_handoff(ctx: MediationContext, principal: Principal, ident: Any, *, to_channel: str,
                          to_organisation: str | None, court_case_number: str | None, reason: str | None):
    """The holder sends the case to another channel; it cannot work the case until answered."""
    if to_channel not in HANDOFF_TARGETS:
        raise ValueError(f"to_channel must be one of {', '.join(HANDOFF_TARGETS)}")
    async with ctx.pool.acquire() as conn, conn.transaction():
        case = await _visible_case(conn, principal, ident, for_update=True)
        if case["claimed_by"] != principal.subject:
            raise NotAllowed("only the holder hands a case over")
        if not may_work(State(case["state"]), case["handoff_pending"]):
            raise _conflict(case, "the case is closed or already waits for a handoff")
        handoff_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO handoffs (id, case_id, from_channel, to_channel, to_organisation, court_case_number, reason,"
            " requested_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", handoff_id, ident, case["channel"],
            to_channel, to_organisation, court_case_number, reason, principal.subject)
        updated = await conn.fetchrow(
            f"UPDATE cases SET handoff_pending = true, court_case_number = coalesce($2, court_case_number),"
            f" version = version + 1, updated_at = now() WHERE id = $1 RETURNING {repository.CASE_COLUMNS}",
            ident, court_case_number)
        await _record(conn, ctx, principal, updated, action="handoff_requested", event_type="case.handoff_requested",
                      from_state=case["state"], details={"handoff_id": str(handoff_id), "to_channel": to_channel,
                                                         "court_case_number": court_case_number})
        return handoff_id, updated


async def answer_handoff(ctx: MediationContext, principal: Principal, handoff_id: Any, decision: HandoffAction,
                         reason: str | None):
    """The receiving side accepts (and becomes the holder, in its channel) or rejects with a reason."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        handoff = await conn.fetchrow("SELECT * FROM handoffs WHERE id = $1 FOR UPDATE", handoff_id)
        if handoff is None:
            raise LookupError(str(handoff_id))
        case = await conn.fetchrow(f"SELECT {repository.CASE_COLUMNS} FROM cases WHERE id = $1 FOR UPDATE",
                                   handoff["case_id"])
        # Receiving means working the channel, not just reading it: chiefs and auditors read every
        # channel but receive only law-enforcement handoffs (chiefs).
        works = channels_for(principal.roles & CLAIMING_ROLES, principal.channels)
        receiving = handoff["to_channel"] in works or (
            handoff["to_channel"] == "law_enforcement" and "station_chief" in principal.roles)
        if case["station_code"] not in principal.stations:
            raise LookupError(str(handoff_id))  # another station's handoff: as if it did not exist
        if not receiving:
            if may_see(roles=principal.roles, stations=principal.stations, channels=_channels(principal),
                       case_station=case["station_code"], case_channel=case["channel"]):
                raise NotAllowed("only the receiving channel answers a handoff")
            raise LookupError(str(handoff_id))
        try:
            after = next_handoff_state(HandoffState(handoff["state"]), decision)
        except IllegalTransition as exc:
            raise _conflict(case, str(exc)) from exc
        await conn.execute("UPDATE handoffs SET state = $2, reason = coalesce($3, reason), decided_by = $4,"
                           " decided_at = now() WHERE id = $1", handoff_id, after.value, reason, principal.subject)
        accepted = after is HandoffState.ACCEPTED
        updated = await conn.fetchrow(
            f"UPDATE cases SET handoff_pending = false, channel = CASE WHEN $2 THEN $3 ELSE channel END,"
            f" claimed_by = CASE WHEN $2 THEN $4 ELSE claimed_by END, version = version + 1, updated_at = now()"
            f" WHERE id = $1 RETURNING {repository.CASE_COLUMNS}",
            case["id"], accepted, handoff["to_channel"], principal.subject)
        await _record(conn, ctx, principal, updated, action=f"handoff_{after.value}",
                      event_type=f"case.handoff_{after.value}", from_state=case["state"],
                      details={"handoff_id": str(handoff_id), "reason": reason, "to_channel": handoff["to_channel"]})
        return updated
