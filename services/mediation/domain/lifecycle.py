"""The mediation case lifecycle and handoffs as pure state machines (docs/design.md, "Case lifecycle").

Case transitions (every other (state, action) pair is illegal):

    state                   action                -> state
    pending                 claim                 -> claimed
    claimed                 release | expire      -> pending
    claimed                 record_session        -> in_session
    in_session              record_session        -> in_session              (another session)
    in_session              reach_agreement       -> agreement
    in_session              fail                  -> failed
    agreement               request_confirmation  -> confirmation_requested
    agreement               close                 -> closed                  (no confirmation wanted)
    confirmation_requested  confirm               -> confirmed
    confirmation_requested  reject_confirmation   -> confirmation_rejected
    confirmed               close                 -> closed
    confirmation_rejected   close                 -> closed
    failed                  refer                 -> referred
    failed                  close                 -> closed                  (no referral)
    referred                close                 -> closed
    any non-terminal        withdraw              -> withdrawn
    closed                  report_breach         -> pending                 (only if had_agreement)

Terminal: closed and withdrawn. Withdrawn is absorbing; closed is left only by report_breach, and
only when had_agreement is true: the case's latest round of mediation ended in an agreement, so a
reported breach of it reopens the case. A close that came from a failure cannot be reopened.

allowed_actions lists actions in the declaration order of Action, so 409 bodies are stable.

Handoffs: requested -> accepted (accept) | rejected (reject); accepted and rejected are final.
While a handoff is pending the sender may not work the case (may_work).
"""
from collections.abc import Mapping
from enum import StrEnum
from functools import cache
from typing import Any


class State(StrEnum):
    """Where a case stands."""

    PENDING = "pending"
    CLAIMED = "claimed"
    IN_SESSION = "in_session"
    AGREEMENT = "agreement"
    CONFIRMATION_REQUESTED = "confirmation_requested"
    CONFIRMED = "confirmed"
    CONFIRMATION_REJECTED = "confirmation_rejected"
    FAILED = "failed"
    REFERRED = "referred"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class Action(StrEnum):
    """What someone does to a case; the declaration order is the order of allowed_actions."""

    CLAIM = "claim"
    RELEASE = "release"
    EXPIRE = "expire"
    RECORD_SESSION = "record_session"
    REACH_AGREEMENT = "reach_agreement"
    FAIL = "fail"
    REFER = "refer"
    REQUEST_CONFIRMATION = "request_confirmation"
    CONFIRM = "confirm"
    REJECT_CONFIRMATION = "reject_confirmation"
    CLOSE = "close"
    WITHDRAW = "withdraw"
    REPORT_BREACH = "report_breach"


class HandoffState(StrEnum):
    """Where a handoff to another channel or organisation stands."""

    REQUESTED = "requested"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class HandoffAction(StrEnum):
    """The receiver's answer to a handoff."""

    ACCEPT = "accept"
    REJECT = "reject"


_S, _A = State, Action  # short aliases keep the table readable; private so the API stays exact
TERMINAL: frozenset[State] = frozenset({_S.CLOSED, _S.WITHDRAWN})

_TABLE: dict[tuple[State, Action], State] = {
    (_S.PENDING, _A.CLAIM): _S.CLAIMED,
    (_S.CLAIMED, _A.RELEASE): _S.PENDING,
    (_S.CLAIMED, _A.EXPIRE): _S.PENDING,
    (_S.CLAIMED, _A.RECORD_SESSION): _S.IN_SESSION,
    (_S.IN_SESSION, _A.RECORD_SESSION): _S.IN_SESSION,
    (_S.IN_SESSION, _A.REACH_AGREEMENT): _S.AGREEMENT,
    (_S.IN_SESSION, _A.FAIL): _S.FAILED,
    (_S.AGREEMENT, _A.REQUEST_CONFIRMATION): _S.CONFIRMATION_REQUESTED,
    (_S.AGREEMENT, _A.CLOSE): _S.CLOSED,
    (_S.CONFIRMATION_REQUESTED, _A.CONFIRM): _S.CONFIRMED,
    (_S.CONFIRMATION_REQUESTED, _A.REJECT_CONFIRMATION): _S.CONFIRMATION_REJECTED,
    (_S.CONFIRMED, _A.CLOSE): _S.CLOSED,
    (_S.CONFIRMATION_REJECTED, _A.CLOSE): _S.CLOSED,
    (_S.FAILED, _A.REFER): _S.REFERRED,
    (_S.FAILED, _A.CLOSE): _S.CLOSED,
    (_S.REFERRED, _A.CLOSE): _S.CLOSED,
} | {(state, _A.WITHDRAW): _S.WITHDRAWN for state in _S if state not in TERMINAL}

_HANDOFF_TABLE: dict[tuple[HandoffState, HandoffAction], HandoffState] = {
    (HandoffState.REQUESTED, HandoffAction.ACCEPT): HandoffState.ACCEPTED,
    (HandoffState.REQUESTED, HandoffAction.REJECT): HandoffState.REJECTED,
}

STATE_LABELS_ZH: dict[State, str] = {
    _S.PENDING: "待认领", _S.CLAIMED: "已认领", _S.IN_SESSION: "调解中", _S.AGREEMENT: "达成协议",
    _S.CONFIRMATION_REQUESTED: "司法确认申请中", _S.CONFIRMED: "已司法确认",
    _S.CONFIRMATION_REJECTED: "司法确认被驳回", _S.FAILED: "调解失败", _S.REFERRED: "已移送",
    _S.CLOSED: "已结案", _S.WITHDRAWN: "已撤回",
}
# Private: the message needs them, but the public vocabulary stays the codes plus STATE_LABELS_ZH.
_ACTION_LABELS_ZH: dict[str, str] = {
    _A.CLAIM: "认领", _A.RELEASE: "释放认领", _A.EXPIRE: "认领超时退回", _A.RECORD_SESSION: "记录调解",
    _A.REACH_AGREEMENT: "达成协议", _A.FAIL: "调解失败", _A.REFER: "移送",
    _A.REQUEST_CONFIRMATION: "申请司法确认", _A.CONFIRM: "司法确认", _A.REJECT_CONFIRMATION: "驳回司法确认",
    _A.CLOSE: "结案", _A.WITHDRAW: "撤回", _A.REPORT_BREACH: "报告不履行协议",
    HandoffAction.ACCEPT: "接收", HandoffAction.REJECT: "拒绝",
}
_HANDOFF_LABELS_ZH: dict[HandoffState, str] = {
    HandoffState.REQUESTED: "待接收", HandoffState.ACCEPTED: "已接收", HandoffState.REJECTED: "已拒绝",
}


class IllegalTransition(Exception):
    """An action the case's state does not allow; the API answers 409 with `allowed`."""

    _noun, _noun_zh = "case", "案件"

    def __init__(self, state: StrEnum, action: StrEnum, allowed: tuple[StrEnum, ...]) -> None:
        # All three go to Exception so the exception pickles and reprs with its real arguments.
        super().__init__(state, action, allowed)
        self.state, self.action, self.allowed = state, action, tuple(allowed)

    def __str__(self) -> str:
        allowed = ", ".join(self.allowed) or "none"
        return f"cannot {self.action} a {self._noun} that is {self.state}; allowed: {allowed}"


class IllegalHandoff(IllegalTransition):
    """An answer the handoff's state does not allow; a subclass so one 409 handler covers both."""

    _noun, _noun_zh = "handoff", "移交"


@cache  # asked for every case an answer renders (endpoints.available), of a dozen states
def allowed_actions(state: State, *, had_agreement: bool = False) -> tuple[Action, ...]:
    """The actions a case in `state` allows, in Action declaration order; plain codes work too."""
    state = State(state)
    if state is _S.CLOSED:
        return (_A.REPORT_BREACH,) if had_agreement else ()
    return tuple(action for action in _A if (state, action) in _TABLE)


def next_state(state: State, action: Action, *, had_agreement: bool = False) -> State:
    """The state after `action`; raises IllegalTransition when the table has no such step."""
    state, action = State(state), Action(action)
    if state is _S.CLOSED and action is _A.REPORT_BREACH and had_agreement:
        return _S.PENDING
    try:
        return _TABLE[state, action]
    except KeyError:
        raise IllegalTransition(state, action, allowed_actions(state, had_agreement=had_agreement)) from None


def next_handoff_state(state: HandoffState, action: HandoffAction) -> HandoffState:
    """The handoff state after the receiver's answer; raises IllegalHandoff once it is settled."""
    state, action = HandoffState(state), HandoffAction(action)
    try:
        return _HANDOFF_TABLE[state, action]
    except KeyError:
        allowed = tuple(a for a in HandoffAction if (state, a) in _HANDOFF_TABLE)
        raise IllegalHandoff(state, action, allowed) from None


def may_work(state: State, handoff_pending: bool) -> bool:
    """Whether the holder may act on the case: not while a handoff waits, never once terminal."""
    return not handoff_pending and State(state) not in TERMINAL


def illegal_transition_message(exc: IllegalTransition, language: str = "zh") -> str:
    """People-facing text for a refused action: Simplified Chinese by default, "en" for English."""
    base = language.lower().replace("_", "-").split("-")[0]  # "zh-CN", "zh_Hans" and "en-GB" work too
    if base == "en":
        return str(exc)
    if base != "zh":
        raise ValueError(f"unsupported language: {language!r}")
    labels: Mapping[Any, str] = _HANDOFF_LABELS_ZH if isinstance(exc, IllegalHandoff) else STATE_LABELS_ZH
    allowed = "、".join(_ACTION_LABELS_ZH[a] for a in exc.allowed) or "无"
    return (f"不能对“{labels[exc.state]}”的{exc._noun_zh}执行“{_ACTION_LABELS_ZH[exc.action]}”；"
            f"当前可执行：{allowed}")
