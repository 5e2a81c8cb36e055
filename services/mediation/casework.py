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
from services.mediation.bootstrap import MediationContext
from services.mediation.callers import relations_of, sees
from services.mediation.changes import record, visible_case
from services.mediation.domain.access import CLAIMING_ROLES, COURT_ROLES, RECEIVERS, receiving_channels
from services.mediation.domain.endpoints import BREACH_ROLES, ROLES_FOR
from services.mediation.domain.errors import CaseConflict, HandoffNotFound, NotAllowed, VersionMismatch
from services.mediation.domain.lifecycle import (
    TERMINAL,
    Action,
    HandoffAction,
    HandoffState,
    IllegalTransition,
    State,
    may_work,
    next_handoff_state,
    next_state,
)
from services.mediation.domain.permissions import allows
from services.mediation.repository import CaseRow, NewHandoff
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

@dataclass
class Change:
    """What an action does to the case's columns besides its state."""

    sessions: int = 0
    agreement: dict | None = None
    confirmation_due: date | None = None
    ruling_number: str | None = None
    unclaim: bool = False
    escalate: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _authorise(principal: Principal, action: Action, case: Any) -> None:
    roles = principal.roles
    if action in _COURT_ACTIONS:
        if not roles & COURT_ROLES:
            raise NotAllowed("court_only", roles=ROLES_FOR[action])
    elif action is Action.WITHDRAW:
        if not allows("withdraw", roles, relations_of(principal, case)):
            raise NotAllowed("holder_or_chief", roles=ROLES_FOR[action], holder=case["claimed_by"])
    elif action is Action.REPORT_BREACH:
        if not allows("breach", roles, relations_of(principal, case)):
            raise NotAllowed("breach_roles", roles=sorted(BREACH_ROLES), holder=case["claimed_by"])
    elif action in _HOLDER_ACTIONS and case["claimed_by"] != principal.subject:
        raise NotAllowed("holder_only", roles=CLAIMING_ROLES, holder=case["claimed_by"])


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
        # Back to the queue, and up to the station chief: a broken agreement is the chief's to follow.
        return Change(unclaim=True, escalate="breach", details={"reason": payload.get("reason"), "escalated": True})
    return Change(details={k: v for k, v in payload.items() if k in ("reason", "to")})


async def act(ctx: MediationContext, principal: Principal, ident: uuid.UUID, action: Action,
              payload: dict[str, Any], *, if_match: int | None = None) -> CaseRow:
    """Apply one lifecycle action to a case; 403/404/409/412 as exceptions."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        case = await visible_case(conn, principal, ident, for_update=True)
        _authorise(principal, action, case)
        if if_match is not None and if_match != case["version"]:
            raise VersionMismatch(case["version"])
        state = State(case["state"])
        if action is not Action.REPORT_BREACH and case["handoff_pending"] and state not in TERMINAL:
            raise CaseConflict("handoff_waiting", case, action)
        try:
            after = next_state(state, action, had_agreement=case["had_agreement"])
        except IllegalTransition as exc:
            raise CaseConflict("illegal_transition", case, action) from exc
        change = plan(action, case, payload, datetime.now(UTC).date())
        # A reopened case starts a new round: its earlier agreement no longer closes it.
        had_agreement = (case["had_agreement"] or action is Action.REACH_AGREEMENT) and action is not Action.REPORT_BREACH
        updated = await repository.apply_action(
            conn, ident, state=after.value, sessions=change.sessions, had_agreement=had_agreement,
            agreement=change.agreement, confirmation_due=change.confirmation_due, ruling_number=change.ruling_number,
            unclaim=change.unclaim, escalate=change.escalate)
        if action is Action.REQUEST_CONFIRMATION:
            updated = await _send_to_court(conn, principal, updated, change)
        elif action in _COURT_ACTIONS:
            updated = await _settle_confirmation(conn, principal, updated, action, payload)
        await record(conn, ctx, principal, updated, action=action.value, event_type=EVENT_OF[action],
                     from_state=state.value, details=change.details)
        return updated


# --- judicial confirmation: a handoff to the court of the case's station -----------------------

def _handoff_summary(handoff_id: Any, purpose: str, to_channel: str, state: str, *, by: str,
                     reason: str | None = None, ruling_number: str | None = None) -> dict[str, Any]:
    """What the case shows of its latest handoff: both sides see where it went and the answer."""
    return {"id": str(handoff_id), "purpose": purpose, "to_channel": to_channel, "state": state, "by": by,
            "reason": reason, "ruling_number": ruling_number}


async def _send_to_court(conn, principal: Principal, case: CaseRow, change: Change) -> CaseRow:
    """The request is the handoff: it waits in the court liaisons' list of the case's station, and the court
    decides on the case itself (POST /confirmation). The holder keeps the case meanwhile."""
    handoff_id = uuid.uuid4()
    await repository.insert_handoff(conn, NewHandoff(handoff_id, case["id"], "confirmation", case["channel"], "court",
                                                     None, case["court_case_number"], None, principal.subject))
    change.details["handoff_id"] = str(handoff_id)
    summary = _handoff_summary(handoff_id, "confirmation", "court", "requested", by=principal.subject)
    return await repository.set_handoff(conn, case["id"], pending=False, summary=summary)


async def _settle_confirmation(conn, principal: Principal, case: CaseRow, action: Action,
                               payload: dict[str, Any]) -> CaseRow:
    """The court's decision answers the confirmation request; the mediator sees it on the case and in her list."""
    waiting = await repository.pending_confirmation(conn, case["id"])
    if waiting is None:  # requested before confirmation requests were handoffs: nothing to answer
        return case
    state = "accepted" if action is Action.CONFIRM else "rejected"
    await repository.decide_handoff(conn, waiting["id"], state, payload.get("reason"), principal.subject)
    summary = _handoff_summary(waiting["id"], "confirmation", "court", state, by=principal.subject,
                               reason=payload.get("reason"), ruling_number=payload.get("ruling_number"))
    return await repository.set_handoff(conn, case["id"], pending=False, summary=summary)


# --- handoffs --------------------------------------------------------------------------------

async def request_handoff(ctx: MediationContext, principal: Principal, ident: uuid.UUID, *, to_channel: str,
                          to_organisation: str | None, court_case_number: str | None,
                          reason: str | None) -> tuple[uuid.UUID, CaseRow]:
    """The holder sends the case to another channel; it cannot work the case until answered."""
    if to_channel not in HANDOFF_TARGETS:
        raise ValueError(f"to_channel must be one of {', '.join(HANDOFF_TARGETS)}")
    async with ctx.pool.acquire() as conn, conn.transaction():
        case = await visible_case(conn, principal, ident, for_update=True)
        if case["claimed_by"] != principal.subject:
            raise NotAllowed("holder_only", roles=CLAIMING_ROLES, holder=case["claimed_by"])
        if case["handoff_pending"]:
            raise CaseConflict("handoff_waiting", case)
        if not may_work(State(case["state"]), case["handoff_pending"]):
            raise CaseConflict("case_closed", case)
        handoff_id = uuid.uuid4()
        await repository.insert_handoff(conn, NewHandoff(handoff_id, ident, "transfer", case["channel"], to_channel,
                                                         to_organisation, court_case_number, reason,
                                                         principal.subject))
        summary = _handoff_summary(handoff_id, "transfer", to_channel, "requested", by=principal.subject,
                                   reason=reason)
        updated = await repository.set_handoff(conn, ident, pending=True, summary=summary,
                                               court_case_number=court_case_number)
        await record(conn, ctx, principal, updated, action="handoff_requested", event_type="case.handoff_requested",
                     from_state=case["state"], details={"handoff_id": str(handoff_id), "to_channel": to_channel,
                                                        "court_case_number": court_case_number})
        return handoff_id, updated


async def answer_handoff(ctx: MediationContext, principal: Principal, handoff_id: uuid.UUID, decision: HandoffAction,
                         reason: str | None) -> CaseRow:
    """The receiving side accepts (and becomes the holder, in its channel) or rejects with a reason."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        handoff = await repository.handoff_for_update(conn, handoff_id)
        if handoff is None:
            raise HandoffNotFound(str(handoff_id))
        case = await repository.case_by_id(conn, handoff["case_id"], for_update=True)
        assert case is not None  # a handoff's case is never deleted
        receiving = handoff["to_channel"] in receiving_channels(principal.roles, principal.channels)
        if case["station_code"] not in principal.stations:
            raise HandoffNotFound(str(handoff_id))  # another station's handoff: as if it did not exist
        if not receiving:
            if sees(principal, case):
                raise NotAllowed("receiver_only", roles=RECEIVERS.get(handoff["to_channel"], ()))
            raise HandoffNotFound(str(handoff_id))
        if handoff["purpose"] == "confirmation":
            raise CaseConflict("answer_by_confirmation", case)
        try:
            after = next_handoff_state(HandoffState(handoff["state"]), decision)
        except IllegalTransition as exc:
            raise CaseConflict("handoff_settled", case) from exc
        await repository.decide_handoff(conn, handoff_id, after.value, reason, principal.subject)
        accepted = after is HandoffState.ACCEPTED
        # A rejection goes back to the sender with its reason: the case shows it, and so does her list.
        summary = _handoff_summary(handoff_id, "transfer", handoff["to_channel"], after.value, by=principal.subject,
                                   reason=reason)
        updated = await repository.answer_handoff(conn, case["id"], accepted=accepted, channel=handoff["to_channel"],
                                                  receiver=principal.subject, summary=summary)
        await record(conn, ctx, principal, updated, action=f"handoff_{after.value}",
                     event_type=f"case.handoff_{after.value}", from_state=case["state"],
                     details={"handoff_id": str(handoff_id), "reason": reason, "to_channel": handoff["to_channel"]})
        return updated
