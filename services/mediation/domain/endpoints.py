"""What a caller may do to a case now, named as the API's endpoints (`POST /v1/cases/{id}/<name>`), and
who and which states would allow a refused action: the names a client can act on, not the lifecycle's.
"""
from collections.abc import Iterable
from typing import Any

from services.mediation.domain.access import CHIEF, CLAIMING_ROLES, COURT_ROLES
from services.mediation.domain.lifecycle import Action, State, allowed_actions, may_work
from services.mediation.domain.permissions import allows, relations, roles_for

ENDPOINT_OF: dict[Action, str] = {
    Action.CLAIM: "claim", Action.RELEASE: "release", Action.RECORD_SESSION: "sessions",
    Action.REACH_AGREEMENT: "outcome", Action.FAIL: "outcome", Action.REFER: "refer",
    Action.REQUEST_CONFIRMATION: "confirmation-request", Action.CONFIRM: "confirmation",
    Action.REJECT_CONFIRMATION: "confirmation", Action.CLOSE: "close", Action.WITHDRAW: "withdraw",
    Action.REPORT_BREACH: "breach",
}  # expire is the SLA worker's, no endpoint
HANDOFFS = "handoffs"
ENDPOINT_LABELS_ZH: dict[str, str] = {
    "claim": "认领", "release": "释放认领", "sessions": "记录调解", "outcome": "记录调解结果", "refer": "移送",
    "confirmation-request": "申请司法确认", "confirmation": "司法确认决定", "close": "结案", "withdraw": "撤回",
    "breach": "报告不履行协议", HANDOFFS: "移交",
}
BREACH_ROLES = frozenset(roles_for("breach"))
# Who may take each action besides its state: the roles, and whether only the case's holder may.
ROLES_FOR: dict[Action, frozenset[str]] = {
    Action.CLAIM: CLAIMING_ROLES, Action.CONFIRM: COURT_ROLES,
    Action.REJECT_CONFIRMATION: COURT_ROLES, Action.REPORT_BREACH: BREACH_ROLES,
    Action.WITHDRAW: CLAIMING_ROLES | {CHIEF},
}
HOLDER_ACTIONS = frozenset({Action.RELEASE, Action.RECORD_SESSION, Action.REACH_AGREEMENT, Action.FAIL,
                            Action.REFER, Action.REQUEST_CONFIRMATION, Action.CLOSE})


def _may(action: Action, case: Any, subject: str, roles: frozenset[str]) -> bool:
    holder = case["claimed_by"] is not None and case["claimed_by"] == subject
    if action in HOLDER_ACTIONS:
        return holder and bool(roles & CLAIMING_ROLES) and not case["handoff_pending"]
    # The case is visible here, so it is of the caller's station; channels do not matter to these two.
    station = case.get("station_code", "")
    held = relations(subject=subject, stations=(station,), channels=(), case_station=station,
                     case_channel=case.get("channel", ""), holder=case["claimed_by"],
                     worked_by=case.get("worked_by") or ())
    if action is Action.WITHDRAW:
        return allows("withdraw", roles, held) and not case["handoff_pending"]
    if action is Action.REPORT_BREACH:
        return allows("breach", roles, held)
    return bool(roles & ROLES_FOR.get(action, frozenset()))


def available(case: Any, *, subject: str, roles: Iterable[str]) -> list[str]:
    """The endpoints this caller may call on the case now, in the lifecycle's order, then handoffs."""
    roles = frozenset(roles)
    names: list[str] = []
    for action in allowed_actions(State(case["state"]), had_agreement=case["had_agreement"]):
        name = ENDPOINT_OF.get(action)
        if name and name not in names and _may(action, case, subject, roles):
            names.append(name)
    if case["claimed_by"] == subject and may_work(State(case["state"]), case["handoff_pending"]) and (
            State(case["state"]) is not State.PENDING):
        names.append(HANDOFFS)
    return names


def states_allowing(action: Action) -> list[str]:
    """The states in which the lifecycle allows an action (closed: after an agreement, for a breach)."""
    return [s.value for s in State if action in allowed_actions(s, had_agreement=True)]


def labels_zh(names: Iterable[str]) -> str:
    """Endpoint names as Chinese words, for messages."""
    return "、".join(ENDPOINT_LABELS_ZH[n] for n in names) or "无"
